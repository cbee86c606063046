//! `train --augment shift:N`: every training image of every step moved by a whole number of
//! pixels, (dx, dy) each uniform in [-N, N], zero-filled on the bytes before normalization (as
//! `shift_image` does). It happens where a batch is assembled: in the CPU path's
//! gather (`Dataset::gather_shifted`) and in the GPU's gather kernel, from the resident bytes.
//!
//! The offsets are drawn from the seed without uploading anything per step: each epoch has a
//! 32-bit key drawn from the run's seed and the epoch's number (`Augmentation::for_epoch`), and
//! the image at position p of the epoch's order gets the shift `EpochShift::offset(p)`, a hash of
//! the key and p in u32 arithmetic that `shift_of` in `shaders/gather.wgsl` repeats operation for
//! operation, so both paths move every image alike. A resumed run trains the same epochs with
//! the same keys, so it moves the same images the same way.

use super::Dataset;
use crate::rng::Rng;
use crate::{Error, Result};

/// The largest shift `--augment shift:N` accepts: beyond it a 28x28 digit is mostly gone.
pub const MAX_SHIFT: u32 = 8;

/// How training images are varied as batches are assembled. `Default` is none: the batches, and
/// so every number, are what they are without augmentation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Augmentation {
    /// The largest translation, in pixels, along each axis (0: none).
    pub max_shift: u32,
}

/// One epoch's shifts: the largest and the key they are hashed from. What the engines receive
/// (`Engine::set_augmentation`), and what the GPU's step uniforms carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpochShift {
    pub max_shift: u32,
    pub key: u32,
}

impl Augmentation {
    /// Moves images by up to `max_shift` pixels along each axis.
    pub fn shift(max_shift: u32) -> Augmentation {
        Augmentation { max_shift }
    }

    pub fn is_none(&self) -> bool {
        self.max_shift == 0
    }

    /// The shifts of epoch `epoch` (counted from 1) of a run seeded `seed`; None without
    /// augmentation.
    pub fn for_epoch(&self, seed: u64, epoch: usize) -> Option<EpochShift> {
        if self.is_none() {
            return None;
        }
        let key = Rng::derive(seed, &format!("augment/epoch-{epoch}")).next_u64() as u32;
        Some(EpochShift { max_shift: self.max_shift, key })
    }

    /// Refuses a shift that would move every pixel of an image of `rows` x `cols` out of it.
    pub fn check_fits(&self, rows: usize, cols: usize) -> Result<()> {
        let n = self.max_shift as usize;
        if n > 0 && (n >= rows || n >= cols) {
            return Err(Error::InvalidArgument(format!(
                "augmentation {self}: a shift must be smaller than the images ({rows}x{cols})"
            )));
        }
        Ok(())
    }
}

/// "none" or "shift:N": what `--augment` takes and a checkpoint records.
impl std::fmt::Display for Augmentation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.max_shift {
            0 => write!(f, "none"),
            n => write!(f, "shift:{n}"),
        }
    }
}

impl std::str::FromStr for Augmentation {
    type Err = Error;

    fn from_str(text: &str) -> Result<Augmentation> {
        let bad = |why: String| Error::InvalidArgument(format!("augmentation {text:?}: {why}"));
        if text == "none" {
            return Ok(Augmentation::default());
        }
        let Some(n) = text.strip_prefix("shift:") else {
            return Err(bad("expected shift:N (N pixels, 1 to 8) or none".into()));
        };
        match n.parse::<u32>() {
            Ok(n) if (1..=MAX_SHIFT).contains(&n) => Ok(Augmentation::shift(n)),
            _ => Err(bad(format!("the shift must be a whole number of pixels from 1 to {MAX_SHIFT}"))),
        }
    }
}

/// `image` (`rows` x `cols` bytes, row-major) moved `dx` pixels right and `dy` pixels down
/// (negative: left and up), zero-filled.
pub fn shift_image(image: &[u8], rows: usize, cols: usize, dx: i32, dy: i32) -> Vec<u8> {
    let mut out = vec![0u8; rows * cols];
    for y in 0..rows as i32 {
        let from_y = y - dy;
        if !(0..rows as i32).contains(&from_y) {
            continue;
        }
        for x in 0..cols as i32 {
            let from_x = x - dx;
            if (0..cols as i32).contains(&from_x) {
                out[(y * cols as i32 + x) as usize] = image[(from_y * cols as i32 + from_x) as usize];
            }
        }
    }
    out
}

/// A bijective 32-bit integer hash (Chris Wellons' lowbias32): every input bit moves about half
/// the output bits. Only wrapping u32 operations, which WGSL has too.
pub fn lowbias32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

impl EpochShift {
    /// The shift (dx right, dy down) of the image at `position` in the epoch's order: 16 bits
    /// of the hash for each, scaled to [0, 2N] by a multiply and a shift (no division, no
    /// float), then centred. The same operations as `shift_of` in shaders/gather.wgsl.
    pub fn offset(&self, position: u32) -> (i32, i32) {
        let h = lowbias32(position ^ self.key);
        let span = 2 * self.max_shift + 1;
        let dx = ((h & 0xffff) * span) >> 16;
        let dy = ((h >> 16) * span) >> 16;
        (dx as i32 - self.max_shift as i32, dy as i32 - self.max_shift as i32)
    }
}

impl Dataset {
    /// `gather_normalized` of the examples at `indices`, the k-th (at position
    /// `first_position + k` of the epoch's order) moved by `shift.offset` of that position, each
    /// channel plane alike. The CPU twin of the GPU gather with a shift.
    pub fn gather_shifted(
        &self,
        indices: &[u32],
        first_position: usize,
        shift: &EpochShift,
        images: &mut [f32],
        labels: &mut [u32],
    ) {
        let plane = self.rows * self.cols;
        let mut moved = Vec::with_capacity(indices.len() * self.pixels_per_image());
        for (k, &i) in indices.iter().enumerate() {
            let (dx, dy) = shift.offset((first_position + k) as u32);
            for channel in self.image(i as usize).chunks(plane) {
                moved.extend(shift_image(channel, self.rows, self.cols, dx, dy));
            }
        }
        // The moved bytes as a batch of their own, normalized by the one gather.
        let batch_labels = indices.iter().map(|&i| self.labels[i as usize]).collect();
        let batch = Dataset { images: moved, labels: batch_labels, ..self.take(0) };
        let identity: Vec<u32> = (0..indices.len() as u32).collect();
        batch.gather_normalized(&identity, images, labels);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_bad_text_is_refused() {
        for text in ["none", "shift:1", "shift:8"] {
            assert_eq!(text.parse::<Augmentation>().unwrap().to_string(), text);
        }
        for bad in ["", "shift", "shift:0", "shift:9", "shift:-1", "shift:2.5", "rotate:10", "shift:x"] {
            assert!(bad.parse::<Augmentation>().is_err(), "{bad}");
        }
    }

    #[test]
    fn offsets_stay_within_the_bound_and_cover_it() {
        let shift = Augmentation::shift(2).for_epoch(7, 1).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for p in 0..2000 {
            let (dx, dy) = shift.offset(p);
            assert!(dx.abs() <= 2 && dy.abs() <= 2, "{dx},{dy}");
            seen.insert((dx, dy));
        }
        assert_eq!(seen.len(), 25, "every shift of the 5x5 square drawn");
    }

    #[test]
    fn epochs_and_seeds_draw_other_keys() {
        let a = Augmentation::shift(3);
        assert_eq!(a.for_epoch(1, 1), a.for_epoch(1, 1));
        assert_ne!(a.for_epoch(1, 1), a.for_epoch(1, 2));
        assert_ne!(a.for_epoch(1, 1), a.for_epoch(2, 1));
        assert_eq!(Augmentation::default().for_epoch(1, 1), None);
    }
}
