//! Convolution: the forward pass, the input gradient and the weight (and bias) gradient.
//! Shader: `shaders/conv.wgsl`; CPU twin: `cpu/conv.rs`.

use super::Access::{Read, ReadWrite};
use super::fused::{
    BOTH_GRADIENTS, FusedPool, GRADIENT_AND_UPDATE, PoolFold, fold_constants, two_jobs, update_constants,
    update_groups,
};
use super::{Activation, Blocking, Kernel, KernelSpec, Kernels, WORKGROUP, block, block_at_most, code};
use crate::Result;
use crate::model::optimizer::Optimizer;
use crate::model::shapes::ConvShape;

/// conv.wgsl (the forward pass and the input gradient) and conv_params.wgsl (the weight
/// gradient), after what a step fuses into them (fused.wgsl) and before the kernels it fuses
/// them into (conv_fused.wgsl).
pub const CONV: &str = concat!(
    include_str!("../../../shaders/fused.wgsl"),
    include_str!("../../../shaders/conv.wgsl"),
    include_str!("../../../shaders/conv_params.wgsl"),
    include_str!("../../../shaders/conv_fused.wgsl")
);

/// Columns each blocked conv forward or input-gradient invocation computes (COLS in conv.wgsl).
const CONV_COLS: usize = 4;

/// Threads of a fine weight-gradient workgroup, which sums one weight (THREADS in conv.wgsl; a
/// blocked one has 64).
const FINE_THREADS: usize = 256;

/// The shape as the override constants conv.wgsl declares.
fn conv_constants(s: &ConvShape) -> Vec<(&'static str, f64)> {
    vec![
        ("BATCH", s.batch as f64),
        ("C", s.in_channels as f64),
        ("H", s.in_h as f64),
        ("W", s.in_w as f64),
        ("OC", s.out_channels as f64),
        ("OH", s.out_h() as f64),
        ("OW", s.out_w() as f64),
        ("KH", s.kernel_h as f64),
        ("KW", s.kernel_w as f64),
        ("STRIDE", s.stride as f64),
        ("PAD", s.padding as f64),
    ]
}

impl Kernels<'_> {
    /// Buffers: input, params, output. Weight at `w_off`, bias at `b_off` in params.
    pub fn conv_forward(
        &self,
        s: &ConvShape,
        activation: Activation,
        w_off: usize,
        b_off: usize,
    ) -> Result<Kernel> {
        // Blocked: OCB channels x CONV_COLS columns per invocation; fine: one value each.
        let (entry, ocb, cols) = match self.blocking() {
            Blocking::Blocked => ("conv_forward", block_at_most(s.out_channels, 6), CONV_COLS),
            Blocking::Fine => ("conv_forward_fine", 1, 1),
        };
        let mut constants = conv_constants(s);
        constants.extend([
            ("ACTIVATION", code(activation)),
            ("W_OFF", w_off as f64),
            ("B_OFF", b_off as f64),
            ("OCB", ocb as f64),
        ]);
        self.build(KernelSpec {
            source: CONV,
            entry,
            constants,
            bindings: &[(0, Read), (1, Read), (2, ReadWrite)],
            uses_step: false,
            size: s.batch * (s.out_channels / ocb) * s.out_h() * s.out_w().div_ceil(cols),
            per_workgroup: false,
        })
    }

    /// Buffers: input (for its activation), params, d_output, d_input, then as `conv_backward`'s
    /// last three: with `fold` (the input gradient going on through its pool, fused.wgsl) the
    /// pool's argmax, its input and that input's gradient; without, two read-only buffers and a
    /// spare writable one, unused.
    pub fn conv_backward_input(
        &self,
        s: &ConvShape,
        input_activation: Activation,
        w_off: usize,
        fold: Option<&PoolFold>,
    ) -> Result<Kernel> {
        // Blocked: CB channels x CONV_COLS columns per invocation; fine: one value each.
        let (entry, cb, cols) = match self.blocking() {
            Blocking::Blocked => ("conv_backward_input", block(s.in_channels), CONV_COLS),
            Blocking::Fine => ("conv_backward_input_fine", 1, 1),
        };
        let mut constants = conv_constants(s);
        constants.extend(fold_constants(fold));
        constants.extend([
            ("INPUT_ACTIVATION", code(input_activation)),
            ("W_OFF", w_off as f64),
            ("CB", cb as f64),
        ]);
        self.build(KernelSpec {
            source: CONV,
            entry,
            constants,
            bindings: &[
                (0, Read),
                (1, Read),
                (3, Read),
                (4, ReadWrite),
                (6, Read),
                (7, Read),
                (8, ReadWrite),
            ],
            uses_step: false,
            size: s.batch * (s.in_channels / cb) * s.in_h * s.in_w.div_ceil(cols),
            per_workgroup: false,
        })
    }

    /// The weight gradient's split of its work (conv_params.wgsl): its override constants (with
    /// the weight at `w_off`, the bias at `b_off`), its workgroups and their threads. Blocked: a
    /// workgroup of 64 per block of OB channels x KWB columns; fine: a workgroup of FINE_THREADS
    /// per weight.
    fn weight_split(
        &self,
        s: &ConvShape,
        (w_off, b_off): (usize, usize),
    ) -> (Vec<(&'static str, f64)>, usize, usize) {
        let (kwb, ob, threads) = match self.blocking() {
            Blocking::Blocked => (block(s.kernel_w), block_at_most(s.out_channels, 4), WORKGROUP as usize),
            Blocking::Fine => (1, 1, FINE_THREADS),
        };
        let constants = vec![
            ("W_OFF", w_off as f64),
            ("B_OFF", b_off as f64),
            ("KWB", kwb as f64),
            ("OB", ob as f64),
            ("THREADS", threads as f64),
            ("FINE", self.fine()),
        ];
        // One workgroup per (output channel block, input channel, kernel row, column block).
        (constants, s.weight_len() / kwb / ob, threads)
    }

    /// Buffers: input, d_output, grads. Weight gradient at `w_off`, bias gradient at `b_off`.
    pub fn conv_backward_params(&self, s: &ConvShape, w_off: usize, b_off: usize) -> Result<Kernel> {
        let (split, groups, _) = self.weight_split(s, (w_off, b_off));
        let mut constants = conv_constants(s);
        constants.extend(split);
        self.build(KernelSpec {
            source: CONV,
            entry: "conv_backward_params",
            constants,
            bindings: &[(0, Read), (3, Read), (5, ReadWrite)],
            uses_step: false,
            size: groups,
            per_workgroup: true,
        })
    }

    /// The forward pass with `pool` after it, fused: buffers input, params, output (the
    /// convolution's, after `activation`), pooled (after `pool_activation`), pool argmax (max
    /// pools; bound for average ones too).
    pub fn conv_forward_pool(
        &self,
        s: &ConvShape,
        activation: Activation,
        pool: &FusedPool,
        pool_activation: Activation,
        (w_off, b_off): (usize, usize),
    ) -> Result<Kernel> {
        // One pooled value an invocation, whatever the blocking (the step fuses on a GPU only).
        let pooled = s.batch * s.out_channels * (s.out_h() / pool.window) * (s.out_w() / pool.window);
        let mut constants = conv_constants(s);
        constants.extend(pool.constants());
        constants.extend([
            ("ACTIVATION", code(activation)),
            ("POOL_ACTIVATION", code(pool_activation)),
            ("W_OFF", w_off as f64),
            ("B_OFF", b_off as f64),
        ]);
        self.build(KernelSpec {
            source: CONV,
            entry: "conv_forward_pool",
            constants,
            bindings: &[(0, Read), (1, Read), (2, ReadWrite), (12, ReadWrite), (13, ReadWrite)],
            uses_step: false,
            size: pooled,
            per_workgroup: false,
        })
    }

    /// Both backward passes in one dispatch (the weight gradient's workgroups, then the input
    /// gradient's), the input gradient taken on through `fold`'s pool if there is one. Buffers:
    /// input, params, d_output, d_input, grads, then the fold's pool argmax, pool input and its
    /// gradient (without a fold: two read-only buffers and a spare writable one, unused).
    pub fn conv_backward(
        &self,
        s: &ConvShape,
        input_activation: Activation,
        fold: Option<&PoolFold>,
        offsets: (usize, usize),
    ) -> Result<Kernel> {
        // The weight gradient's workgroups, then the input gradient's: THREADS a workgroup,
        // conv_backward_input's blocks (blocked) or one value each (fine).
        let (split, weight_groups, threads) = self.weight_split(s, offsets);
        let (cb, cols) = match self.blocking() {
            Blocking::Blocked => (block(s.in_channels), CONV_COLS),
            Blocking::Fine => (1, 1),
        };
        let mut constants = conv_constants(s);
        constants.extend(split);
        constants.extend(fold_constants(fold));
        constants.extend([("INPUT_ACTIVATION", code(input_activation)), ("CB", cb as f64)]);
        let input_threads = s.batch * (s.in_channels / cb) * s.in_h * s.in_w.div_ceil(cols);
        let input_groups = input_threads.div_ceil(threads);
        constants.extend(two_jobs(weight_groups, input_groups));
        self.build(KernelSpec {
            source: CONV,
            entry: "conv_backward",
            constants,
            bindings: BOTH_GRADIENTS,
            uses_step: false,
            size: weight_groups + input_groups,
            per_workgroup: true,
        })
    }

    /// The weight gradient of the network's first layer with parameters, and the optimizer's
    /// update of the whole flat buffer of `len` (its own parameters as their gradients are
    /// stored, every other one in workgroups of their own). Buffers: input, d_output, grads,
    /// params, first moment, second moment (bound for SGD too).
    pub fn conv_backward_params_update(
        &self,
        s: &ConvShape,
        optimizer: &Optimizer,
        len: usize,
        offsets: (usize, usize),
    ) -> Result<Kernel> {
        let (split, weight_groups, threads) = self.weight_split(s, offsets);
        let update_groups = update_groups(len, threads, self.blocking());
        let mut constants = conv_constants(s);
        constants.extend(split);
        constants.extend(update_constants(optimizer, len, threads, self.blocking()));
        constants.extend(two_jobs(weight_groups, update_groups));
        self.build(KernelSpec {
            source: CONV,
            entry: "conv_backward_params_update",
            constants,
            bindings: GRADIENT_AND_UPDATE,
            uses_step: true,
            size: weight_groups + update_groups,
            per_workgroup: true,
        })
    }
}
