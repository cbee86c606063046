//! Softmax cross-entropy fused with its gradient, and the predicted class of each example.
//! Shader: `shaders/loss.wgsl`; CPU twin: `cpu/loss.rs`.

use super::Access::{Read, ReadWrite};
use super::{Activation, Kernel, KernelSpec, Kernels, code};
use crate::Result;

pub const LOSS: &str = include_str!("../../../shaders/loss.wgsl");

impl Kernels<'_> {
    /// Buffers: logits, labels, d_logits, stats. One workgroup. `logits_activation`: the
    /// activation the logits came out of (a network may end in one), which the gradient it
    /// writes is taken back through.
    pub fn softmax_cross_entropy(
        &self,
        batch: usize,
        classes: usize,
        logits_activation: Activation,
    ) -> Result<Kernel> {
        self.build(KernelSpec {
            source: LOSS,
            entry: "softmax_cross_entropy",
            constants: vec![
                ("BATCH", batch as f64),
                ("CLASSES", classes as f64),
                ("LOGITS_ACTIVATION", code(logits_activation)),
            ],
            bindings: &[(0, Read), (1, Read), (2, ReadWrite), (3, ReadWrite)],
            uses_step: true,
            size: 1,
            per_workgroup: true,
        })
    }

    /// Buffers: logits, predictions.
    pub fn predict(&self, batch: usize, classes: usize) -> Result<Kernel> {
        self.build(KernelSpec {
            source: LOSS,
            entry: "predict",
            constants: vec![("BATCH", batch as f64), ("CLASSES", classes as f64)],
            bindings: &[(0, Read), (4, ReadWrite)],
            uses_step: true,
            size: batch,
            per_workgroup: false,
        })
    }
}
