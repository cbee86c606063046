//! Max and average pooling, each forward and backward.
//! Shader: `shaders/pool.wgsl`; CPU twin: `cpu/pool.rs`.

use super::Access::{Read, ReadWrite};
use super::{Activation, Kernel, KernelSpec, Kernels, code};
use crate::Result;
use crate::model::shapes::PoolShape;

pub const POOL: &str = include_str!("../../../shaders/pool.wgsl");

/// The shape as the override constants pool.wgsl declares.
fn pool_constants(s: &PoolShape) -> Vec<(&'static str, f64)> {
    vec![
        ("BATCH", s.batch as f64),
        ("C", s.channels as f64),
        ("H", s.in_h as f64),
        ("W", s.in_w as f64),
        ("OH", s.out_h() as f64),
        ("OW", s.out_w() as f64),
        ("WINDOW", s.window as f64),
        ("STRIDE", s.stride as f64),
    ]
}

impl Kernels<'_> {
    /// Buffers: input, output, argmax.
    pub fn maxpool_forward(&self, s: &PoolShape, activation: Activation) -> Result<Kernel> {
        let mut constants = pool_constants(s);
        constants.push(("ACTIVATION", code(activation)));
        self.build(KernelSpec {
            source: POOL,
            entry: "maxpool_forward",
            constants,
            bindings: &[(0, Read), (1, ReadWrite), (2, ReadWrite)],
            uses_step: false,
            size: s.batch * s.output_len(),
            per_workgroup: false,
        })
    }

    /// Buffers: input (for its activation), d_output, argmax, d_input.
    pub fn maxpool_backward(&self, s: &PoolShape, input_activation: Activation) -> Result<Kernel> {
        let mut constants = pool_constants(s);
        constants.push(("INPUT_ACTIVATION", code(input_activation)));
        self.build(KernelSpec {
            source: POOL,
            entry: "maxpool_backward",
            constants,
            bindings: &[(0, Read), (3, Read), (4, Read), (5, ReadWrite)],
            uses_step: false,
            size: s.batch * s.input_len(),
            per_workgroup: false,
        })
    }

    /// Buffers: input, output.
    pub fn avgpool_forward(&self, s: &PoolShape, activation: Activation) -> Result<Kernel> {
        let mut constants = pool_constants(s);
        constants.push(("ACTIVATION", code(activation)));
        self.build(KernelSpec {
            source: POOL,
            entry: "avgpool_forward",
            constants,
            bindings: &[(0, Read), (1, ReadWrite)],
            uses_step: false,
            size: s.batch * s.output_len(),
            per_workgroup: false,
        })
    }

    /// Buffers: input (for its activation), d_output, d_input.
    pub fn avgpool_backward(&self, s: &PoolShape, input_activation: Activation) -> Result<Kernel> {
        let mut constants = pool_constants(s);
        constants.push(("INPUT_ACTIVATION", code(input_activation)));
        self.build(KernelSpec {
            source: POOL,
            entry: "avgpool_backward",
            constants,
            bindings: &[(0, Read), (3, Read), (5, ReadWrite)],
            uses_step: false,
            size: s.batch * s.input_len(),
            per_workgroup: false,
        })
    }
}
