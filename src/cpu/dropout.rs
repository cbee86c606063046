//! Inverted dropout with a hashed mask: whether a value survives is a hash of the step's key and
//! the value's index, so the backward pass (and one day a GPU kernel) recomputes the mask instead
//! of storing it, and a seed fixes every mask of a run. Only wrapping u32 operations and one f32
//! multiply, which WGSL repeats exactly. No GPU twin yet.

use crate::data::augment::lowbias32;
use rayon::prelude::*;

/// Elements per parallel task.
const TASK: usize = 16 * 1024;

/// Whether element `index` of a step's output survives at `rate`: kept when the hash of the key
/// and the index is at least rate · 2^32.
pub fn keeps(key: u32, index: u32, rate: f32) -> bool {
    let threshold = (rate as f64 * 4_294_967_296.0) as u64;
    lowbias32(key ^ lowbias32(index)) as u64 >= threshold
}

/// A dropout layer's key for one step: a hash of the epoch's key, the step's first position in
/// the epoch and the layer's number, so masks differ between steps and layers.
pub fn step_key(epoch_key: u32, first_position: u32, layer: u32) -> u32 {
    lowbias32(lowbias32(epoch_key ^ lowbias32(first_position)) ^ layer.wrapping_mul(0x9e37_79b9))
}

/// y = x / (1 − rate) where kept, else 0 (index: the element's place in the slice).
pub fn dropout_forward(key: u32, rate: f32, x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "dropout size");
    masked(key, rate, x, y);
}

/// dx = dy / (1 − rate) where the forward pass kept the value, else 0: the same mask.
pub fn dropout_backward(key: u32, rate: f32, dy: &[f32], dx: &mut [f32]) {
    assert_eq!(dy.len(), dx.len(), "dropout size");
    masked(key, rate, dy, dx);
}

fn masked(key: u32, rate: f32, from: &[f32], to: &mut [f32]) {
    let scale = 1.0 / (1.0 - rate);
    to.par_chunks_mut(TASK).zip(from.par_chunks(TASK)).enumerate().for_each(|(t, (to, from))| {
        for (i, (to, &from)) in to.iter_mut().zip(from).enumerate() {
            let index = (t * TASK + i) as u32;
            *to = if keeps(key, index, rate) { from * scale } else { 0.0 };
        }
    });
}
