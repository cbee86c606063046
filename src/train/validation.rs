//! `train --validation N`: N images of the training set held out, chosen from the seed (the
//! same in every epoch and on resume), never trained on, and evaluated after every epoch, so a
//! recipe can be tuned without looking at the test set.

use crate::data::Dataset;
use crate::rng::Rng;
use crate::{Error, Result};

/// A training set divided: the examples trained on and those held out, each in ascending order
/// of their index in the training set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holdout {
    pub trained: Vec<u32>,
    pub held_out: Vec<u32>,
}

/// The first `validation` of a permutation of the `examples` drawn from the seed (its own
/// stream, `validation`) are held out. With none held out every example is trained on.
pub fn holdout(examples: usize, validation: usize, seed: u64) -> Result<Holdout> {
    if validation == 0 {
        return Ok(Holdout { trained: (0..examples as u32).collect(), held_out: Vec::new() });
    }
    if validation >= examples {
        return Err(Error::InvalidArgument(format!(
            "a validation split of {validation} images: the training set has {examples}, and at least one must be left to train on"
        )));
    }
    let mut all: Vec<u32> = (0..examples as u32).collect();
    Rng::derive(seed, "validation").shuffle(&mut all);
    let (mut held_out, mut trained) = (all[..validation].to_vec(), all[validation..].to_vec());
    held_out.sort_unstable();
    trained.sort_unstable();
    Ok(Holdout { trained, held_out })
}

/// The order in which epoch `epoch` (counted from 1) visits `trained`: the same permutation
/// stream as `train::epoch_order`, so with nothing held out the order is exactly its.
pub fn epoch_order_of(trained: &[u32], seed: u64, epoch: usize) -> Vec<u32> {
    let mut order = trained.to_vec();
    Rng::derive(seed, &format!("shuffle/epoch-{epoch}")).shuffle(&mut order);
    order
}

/// The examples of `data` at `indices`, as a data set of their own.
pub fn subset(data: &Dataset, indices: &[u32]) -> Dataset {
    let images = indices.iter().flat_map(|&i| data.image(i as usize).iter().copied()).collect();
    let labels = indices.iter().map(|&i| data.labels[i as usize]).collect();
    Dataset { images, labels, ..data.take(0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_held_out_keeps_the_epoch_order() {
        let h = holdout(50, 0, 3).unwrap();
        assert_eq!(epoch_order_of(&h.trained, 3, 2), crate::train::epoch_order(50, 3, 2));
    }

    #[test]
    fn the_split_is_disjoint_complete_and_seeded() {
        let h = holdout(100, 20, 9).unwrap();
        assert_eq!(h.held_out.len(), 20);
        let mut all: Vec<u32> = h.trained.iter().chain(&h.held_out).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<u32>>());
        assert_eq!(h, holdout(100, 20, 9).unwrap());
        assert_ne!(h, holdout(100, 20, 10).unwrap());
        assert!(holdout(10, 10, 1).is_err());
    }
}
