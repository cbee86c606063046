//! Dense layers: the forward pass, the input gradient and the weight (and bias) gradient.
//! Shader: `shaders/dense.wgsl`; CPU twin: `cpu/dense.rs`.

use super::Access::{Read, ReadWrite};
use super::fused::{
    BOTH_GRADIENTS, GRADIENT_AND_UPDATE, PoolFold, fold_constants, two_jobs, update_constants, update_groups,
};
use super::{Activation, Blocking, Kernel, KernelSpec, Kernels, WORKGROUP, code};
use crate::Result;
use crate::model::optimizer::Optimizer;
use crate::model::shapes::DenseShape;

/// dense.wgsl, after what the step fuses into it (fused.wgsl).
pub const DENSE: &str =
    concat!(include_str!("../../../shaders/fused.wgsl"), include_str!("../../../shaders/dense.wgsl"));

/// The side of the block each blocked dense-kernel invocation computes (TILE in dense.wgsl); the
/// fine kernels compute one value each.
const DENSE_TILE: usize = 4;

/// Outputs per workgroup of the fine forward kernel (SPLIT in dense.wgsl).
const SPLIT: usize = 8;

/// The shape as the override constants dense.wgsl declares.
fn dense_constants(s: &DenseShape) -> Vec<(&'static str, f64)> {
    vec![("BATCH", s.batch as f64), ("IN", s.in_features as f64), ("OUT", s.out_features as f64)]
}

impl Kernels<'_> {
    /// `blocked`, or with `Blocking::Fine` the entry point `fine` (one value per invocation).
    fn fine_or(&self, blocked: &'static str, fine: &'static str) -> &'static str {
        match self.blocking() {
            Blocking::Blocked => blocked,
            Blocking::Fine => fine,
        }
    }

    fn dense_tile(&self) -> usize {
        match self.blocking() {
            Blocking::Blocked => DENSE_TILE,
            Blocking::Fine => 1,
        }
    }

    /// Buffers: input, params, output.
    pub fn dense_forward(
        &self,
        s: &DenseShape,
        activation: Activation,
        w_off: usize,
        b_off: usize,
    ) -> Result<Kernel> {
        let mut constants = dense_constants(s);
        constants.extend([
            ("ACTIVATION", code(activation)),
            ("W_OFF", w_off as f64),
            ("B_OFF", b_off as f64),
        ]);
        let (entry, size, per_workgroup) = match self.blocking() {
            Blocking::Blocked => {
                ("dense_forward", s.batch.div_ceil(DENSE_TILE) * s.out_features.div_ceil(DENSE_TILE), false)
            }
            // A workgroup per example and SPLIT outputs (dense_forward_split).
            Blocking::Fine => ("dense_forward_split", s.batch * s.out_features.div_ceil(SPLIT), true),
        };
        self.build(KernelSpec {
            source: DENSE,
            entry,
            constants,
            bindings: &[(0, Read), (1, Read), (2, ReadWrite)],
            uses_step: false,
            size,
            per_workgroup,
        })
    }

    /// Buffers: input (for its activation), params, d_output, d_input.
    pub fn dense_backward_input(
        &self,
        s: &DenseShape,
        input_activation: Activation,
        w_off: usize,
    ) -> Result<Kernel> {
        let tile = self.dense_tile();
        let mut constants = dense_constants(s);
        constants.extend([("INPUT_ACTIVATION", code(input_activation)), ("W_OFF", w_off as f64)]);
        self.build(KernelSpec {
            source: DENSE,
            entry: self.fine_or("dense_backward_input", "dense_backward_input_fine"),
            constants,
            bindings: &[(0, Read), (1, Read), (3, Read), (4, ReadWrite)],
            uses_step: false,
            size: s.batch.div_ceil(tile) * s.in_features.div_ceil(tile),
            per_workgroup: false,
        })
    }

    /// Buffers: input, d_output, grads.
    pub fn dense_backward_params(&self, s: &DenseShape, w_off: usize, b_off: usize) -> Result<Kernel> {
        let tile = self.dense_tile();
        let mut constants = dense_constants(s);
        constants.extend([("W_OFF", w_off as f64), ("B_OFF", b_off as f64)]);
        self.build(KernelSpec {
            source: DENSE,
            entry: self.fine_or("dense_backward_params", "dense_backward_params_fine"),
            constants,
            bindings: &[(0, Read), (3, Read), (5, ReadWrite)],
            uses_step: false,
            size: s.out_features.div_ceil(tile) * s.in_features.div_ceil(tile),
            per_workgroup: false,
        })
    }

    /// Both backward passes in one dispatch (the weight gradient's invocations, then the input
    /// gradient's), the input gradient taken on through `fold`'s pool if there is one. Buffers
    /// as `conv_backward`'s.
    pub fn dense_backward(
        &self,
        s: &DenseShape,
        input_activation: Activation,
        fold: Option<&PoolFold>,
        (w_off, b_off): (usize, usize),
    ) -> Result<Kernel> {
        let mut constants = dense_constants(s);
        constants.extend(fold_constants(fold));
        constants.extend([
            ("INPUT_ACTIVATION", code(input_activation)),
            ("W_OFF", w_off as f64),
            ("B_OFF", b_off as f64),
            ("FINE", self.fine()),
        ]);
        let tile = self.dense_tile();
        let tiles = |n: usize| n.div_ceil(tile);
        let groups = |invocations: usize| invocations.div_ceil(WORKGROUP as usize);
        let weight_groups = groups(tiles(s.out_features) * tiles(s.in_features));
        let input_groups = groups(tiles(s.batch) * tiles(s.in_features));
        constants.extend(two_jobs(weight_groups, input_groups));
        self.build(KernelSpec {
            source: DENSE,
            entry: "dense_backward",
            constants,
            bindings: BOTH_GRADIENTS,
            uses_step: false,
            size: weight_groups + input_groups,
            per_workgroup: true,
        })
    }

    /// The weight gradient of the network's first layer with parameters and the optimizer's
    /// update of the whole flat buffer of `len`. Buffers as `conv_backward_params_update`'s.
    pub fn dense_backward_params_update(
        &self,
        s: &DenseShape,
        optimizer: &Optimizer,
        len: usize,
        (w_off, b_off): (usize, usize),
    ) -> Result<Kernel> {
        let mut constants = dense_constants(s);
        constants.extend(update_constants(optimizer, len, WORKGROUP as usize, self.blocking()));
        constants.extend([("W_OFF", w_off as f64), ("B_OFF", b_off as f64), ("FINE", self.fine())]);
        let tile = self.dense_tile();
        let weight_groups =
            (s.out_features.div_ceil(tile) * s.in_features.div_ceil(tile)).div_ceil(WORKGROUP as usize);
        let update_groups = update_groups(len, WORKGROUP as usize, self.blocking());
        constants.extend(two_jobs(weight_groups, update_groups));
        self.build(KernelSpec {
            source: DENSE,
            entry: "dense_backward_params_update",
            constants,
            bindings: GRADIENT_AND_UPDATE,
            uses_step: true,
            size: weight_groups + update_groups,
            per_workgroup: true,
        })
    }
}
