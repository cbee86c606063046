//! A stand-alone activation, forward and backward: only where no layer before it can absorb it
//! (see `model::fusion`).
//! Shader: `shaders/activation.wgsl`; CPU twin: `cpu/activation.rs`.

use super::Access::{Read, ReadWrite};
use super::{Activation, Kernel, KernelSpec, Kernels, code};
use crate::Result;

pub const ACTIVATION: &str = include_str!("../../../shaders/activation.wgsl");

impl Kernels<'_> {
    /// Buffers: input, output.
    pub fn activation_forward(&self, activation: Activation, len: usize) -> Result<Kernel> {
        self.build(KernelSpec {
            source: ACTIVATION,
            entry: "activation_forward",
            constants: vec![("LEN", len as f64), ("ACTIVATION", code(activation))],
            bindings: &[(0, Read), (1, ReadWrite)],
            uses_step: false,
            size: len,
            per_workgroup: false,
        })
    }

    /// Buffers: input (for its activation), d_output, d_input.
    pub fn activation_backward(&self, input_activation: Activation, len: usize) -> Result<Kernel> {
        self.build(KernelSpec {
            source: ACTIVATION,
            entry: "activation_backward",
            constants: vec![("LEN", len as f64), ("INPUT_ACTIVATION", code(input_activation))],
            bindings: &[(0, Read), (2, Read), (3, ReadWrite)],
            uses_step: false,
            size: len,
            per_workgroup: false,
        })
    }
}
