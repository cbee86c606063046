//! The batch gather: each step copies its examples, chosen through the epoch's order, out of the
//! resident data set (bytes packed in u32) into the batch buffers, normalized per channel.
//! Shader: `shaders/gather.wgsl`; CPU twin: `Dataset::gather_normalized` in `data/mod.rs`.

use super::Access::{Read, ReadWrite};
use super::{Kernel, KernelSpec, Kernels, pack_bytes};
use crate::Result;
use crate::data::Dataset;

pub const GATHER: &str = include_str!("../../../shaders/gather.wgsl");

/// A data set's images packed for the gather's two image bindings: `low` holds examples
/// `..split`, `high` the rest (one zero word when nothing is left, as a binding cannot be empty).
pub struct PackedImages {
    pub low: Vec<u32>,
    pub high: Vec<u32>,
    pub split: usize,
}

/// Packs `data`'s images so that neither part binds more than `limit` bytes; None when even two
/// bindings cannot hold them. Each part starts at word 0, so any image size splits.
pub fn pack_images(data: &Dataset, limit: u64) -> Option<PackedImages> {
    let per_image = data.pixels_per_image().max(1) as u64;
    // Whole words: k images take ceil(k * per_image / 4) words.
    let fit = ((limit / 4 * 4) / per_image).min(data.len() as u64) as usize;
    let rest = &data.images[fit * data.pixels_per_image()..];
    if rest.len().div_ceil(4) as u64 * 4 > limit {
        return None;
    }
    let high = if rest.is_empty() { vec![0] } else { pack_bytes(rest) };
    Some(PackedImages { low: pack_bytes(&data.images[..fit * data.pixels_per_image()]), high, split: fit })
}

impl Kernels<'_> {
    /// Buffers: images below the split (bytes packed in u32), labels (likewise), order, batch
    /// input, batch labels, images from example `split` on, and the normalized value of every
    /// byte per channel (`gather_levels`). A shift moves each image's channel
    /// planes (`data.rows` x `data.cols`) alike.
    pub fn gather(&self, data: &Dataset, split: usize, batch: usize) -> Result<Kernel> {
        let constants = vec![
            ("PIXELS", data.pixels_per_image() as f64),
            ("PLANE", (data.rows * data.cols) as f64),
            ("ROWS", data.rows as f64),
            ("COLS", data.cols as f64),
            ("BATCH", batch as f64),
            ("SPLIT", split.min(u32::MAX as usize) as f64),
        ];
        self.build(KernelSpec {
            source: GATHER,
            entry: "gather",
            constants,
            bindings: &[
                (0, Read),
                (1, Read),
                (2, Read),
                (3, ReadWrite),
                (4, ReadWrite),
                (5, Read),
                (6, Read),
            ],
            uses_step: true,
            size: batch * data.pixels_per_image(),
            per_workgroup: false,
        })
    }
}

/// The gather's `levels` binding for `data`: each byte's normalized value per channel.
pub fn gather_levels(data: &Dataset) -> Vec<f32> {
    data.normalization().levels(data.channels)
}
