//! The optimizer's update of every parameter (SGD with momentum, or Adam).
//! Shader: `shaders/optimizer.wgsl`; CPU twin: `cpu/optimizer.rs`.

use super::Access::{self, Read, ReadWrite};
use super::{Kernel, KernelSpec, Kernels};
use crate::Result;
use crate::model::optimizer::Optimizer;

pub const OPTIMIZER: &str = include_str!("../../../shaders/optimizer.wgsl");

impl Kernels<'_> {
    /// Buffers: params, grads, first moment (SGD velocity), second moment (Adam only). The
    /// learning rate and weight decay come from the step uniform, not from `optimizer`.
    pub fn optimizer_step(&self, optimizer: &Optimizer, len: usize) -> Result<Kernel> {
        let (entry, mut constants, bindings): (_, _, &[(u32, Access)]) = match *optimizer {
            Optimizer::Sgd { momentum, .. } => (
                "sgd_step",
                vec![("MOMENTUM", momentum as f64)],
                &[(0, ReadWrite), (1, Read), (2, ReadWrite)],
            ),
            Optimizer::Adam { beta1, beta2, eps, .. } => (
                "adam_step",
                vec![("BETA1", beta1 as f64), ("BETA2", beta2 as f64), ("EPS", eps as f64)],
                &[(0, ReadWrite), (1, Read), (2, ReadWrite), (3, ReadWrite)],
            ),
        };
        constants.push(("LEN", len as f64));
        self.build(KernelSpec {
            source: OPTIMIZER,
            entry,
            constants,
            bindings,
            // The step's learning rate and weight decay (and Adam's bias corrections).
            uses_step: true,
            size: len,
            per_workgroup: false,
        })
    }
}
