//! Convolution: the forward pass, the input gradient and the weight (and bias) gradient.
//! Shader: `shaders/conv.wgsl`; CPU twin: `cpu/conv.rs`.

use super::Access::{Read, ReadWrite};
use super::{Activation, Blocking, Kernel, KernelSpec, Kernels, block, block_at_most, code};
use crate::Result;
use crate::model::shapes::ConvShape;

pub const CONV: &str = include_str!("../../../shaders/conv.wgsl");

/// Columns each blocked conv forward or input-gradient invocation computes (COLS in conv.wgsl).
const CONV_COLS: usize = 4;

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
            Blocking::Blocked => ("conv_forward", block(s.out_channels), CONV_COLS),
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

    /// Buffers: input (for its activation), params, d_output, d_input.
    pub fn conv_backward_input(
        &self,
        s: &ConvShape,
        input_activation: Activation,
        w_off: usize,
    ) -> Result<Kernel> {
        // Blocked: CB channels x CONV_COLS columns per invocation; fine: one value each.
        let (entry, cb, cols) = match self.blocking() {
            Blocking::Blocked => ("conv_backward_input", block(s.in_channels), CONV_COLS),
            Blocking::Fine => ("conv_backward_input_fine", 1, 1),
        };
        let mut constants = conv_constants(s);
        constants.extend([
            ("INPUT_ACTIVATION", code(input_activation)),
            ("W_OFF", w_off as f64),
            ("CB", cb as f64),
        ]);
        self.build(KernelSpec {
            source: CONV,
            entry,
            constants,
            bindings: &[(0, Read), (1, Read), (3, Read), (4, ReadWrite)],
            uses_step: false,
            size: s.batch * (s.in_channels / cb) * s.in_h * s.in_w.div_ceil(cols),
            per_workgroup: false,
        })
    }

    /// Buffers: input, d_output, grads. Weight gradient at `w_off`, bias gradient at `b_off`.
    pub fn conv_backward_params(&self, s: &ConvShape, w_off: usize, b_off: usize) -> Result<Kernel> {
        // Blocked: a workgroup of 64 per block of OB channels x KWB columns; fine: a workgroup
        // of 256 per weight.
        let (entry, kwb, ob, threads) = match self.blocking() {
            Blocking::Blocked => {
                ("conv_backward_params", block(s.kernel_w), block_at_most(s.out_channels, 4), 64)
            }
            Blocking::Fine => ("conv_backward_params_fine", 1, 1, 256),
        };
        let mut constants = conv_constants(s);
        constants.extend([
            ("W_OFF", w_off as f64),
            ("B_OFF", b_off as f64),
            ("KWB", kwb as f64),
            ("OB", ob as f64),
            ("THREADS", threads as f64),
        ]);
        self.build(KernelSpec {
            source: CONV,
            entry,
            constants,
            bindings: &[(0, Read), (3, Read), (5, ReadWrite)],
            uses_step: false,
            // One workgroup per (output channel block, input channel, kernel row, column block).
            size: s.weight_len() / kwb / ob,
            per_workgroup: true,
        })
    }
}
