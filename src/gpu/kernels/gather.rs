//! The batch gather: each step copies its examples, chosen through the epoch's order, out of the
//! resident data set (bytes packed in u32) into the batch buffers, normalized.
//! Shader: `shaders/gather.wgsl`; CPU twin: `Dataset::gather_normalized` in `data/mod.rs`.

use super::Access::{Read, ReadWrite};
use super::{Kernel, KernelSpec, Kernels};
use crate::Result;

pub const GATHER: &str = include_str!("../../../shaders/gather.wgsl");

impl Kernels<'_> {
    /// Buffers: images (bytes packed in u32), labels (likewise), order, batch input, batch labels.
    /// Images of `pixels` bytes, planes of `rows` x `cols` (what a shift moves).
    pub fn gather(&self, (rows, cols): (usize, usize), pixels: usize, batch: usize) -> Result<Kernel> {
        self.build(KernelSpec {
            source: GATHER,
            entry: "gather",
            constants: vec![
                ("PIXELS", pixels as f64),
                ("ROWS", rows as f64),
                ("COLS", cols as f64),
                ("BATCH", batch as f64),
                ("MEAN", crate::data::MEAN as f64),
                ("STD", crate::data::STD as f64),
            ],
            bindings: &[(0, Read), (1, Read), (2, Read), (3, ReadWrite), (4, ReadWrite)],
            uses_step: true,
            size: batch * pixels,
            per_workgroup: false,
        })
    }
}
