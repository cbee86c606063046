//! What a training step fuses into the conv and dense kernels (`shaders/fused.wgsl`, prepended to
//! both): a pool's backward folded into the input gradient they write, the optimizer's update
//! into the first layer's weight gradient, and the geometry that decides whether a pool can be.

use super::Access::{self, Read, ReadWrite};
use super::{Activation, Blocking, code};
use crate::model::optimizer::Optimizer;
use crate::model::shapes::PoolShape;

/// The bindings of a kernel computing a layer's weight and input gradients (`conv_backward`,
/// `dense_backward`): input, params, d_output, d_input, grads, then a folded pool's argmax, its
/// input and that input's gradient.
pub(super) const BOTH_GRADIENTS: &[(u32, Access)] =
    &[(0, Read), (1, Read), (3, Read), (4, ReadWrite), (5, ReadWrite), (6, Read), (7, Read), (8, ReadWrite)];

/// The bindings of a first layer's weight gradient with the optimizer's update
/// (`*_backward_params_update`): input, d_output, grads, params, first and second moments.
pub(super) const GRADIENT_AND_UPDATE: &[(u32, Access)] =
    &[(0, Read), (3, Read), (5, ReadWrite), (9, ReadWrite), (10, ReadWrite), (11, ReadWrite)];

/// Workgroups a training kernel aims for at its batch: an H100's or H200's 132 compute units,
/// each given at least one.
const TARGET_GROUPS: usize = 132;

/// A pool, max or average, whose windows tile its input exactly (stride = window, no remainder;
/// a window of 1 is no pooling worth fusing), so that it can be fused: its forward into the
/// convolution before it (on a GPU), its backward into the input gradient of the layer after it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FusedPool {
    pub max: bool,
    pub window: usize,
    /// Its input plane.
    pub in_h: usize,
    pub in_w: usize,
}

impl FusedPool {
    /// The pool as fused kernels take it, or None where its windows overlap, skip or leave a
    /// remainder (the unfused kernels run it).
    pub fn of(s: &PoolShape, max: bool) -> Option<Self> {
        let w = s.window;
        (s.stride == w && w > 1 && s.in_h.is_multiple_of(w) && s.in_w.is_multiple_of(w))
            .then_some(FusedPool { max, window: w, in_h: s.in_h, in_w: s.in_w })
    }

    /// The override constants fused.wgsl declares for it (POOL: 1 max, 2 average).
    pub(super) fn constants(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("POOL", if self.max { 1.0 } else { 2.0 }),
            ("POOL_WINDOW", self.window as f64),
            ("PRE_H", self.in_h as f64),
            ("PRE_W", self.in_w as f64),
        ]
    }
}

/// A pool folded into an input gradient: the pool, and the activation its input came out of.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PoolFold {
    pub pool: FusedPool,
    pub input_activation: Activation,
}

/// fused.wgsl's constants for `fold` (none: POOL 0, the input gradient stored as it is).
pub(super) fn fold_constants(fold: Option<&PoolFold>) -> Vec<(&'static str, f64)> {
    match fold {
        None => vec![("POOL", 0.0)],
        Some(f) => {
            let mut c = f.pool.constants();
            c.push(("PRE_ACTIVATION", code(f.input_activation)));
            c
        }
    }
}

/// fused.wgsl's constants for the optimizer's update of a flat buffer of `len` parameters, by
/// workgroups of `threads`.
pub(super) fn update_constants(
    optimizer: &Optimizer,
    len: usize,
    threads: usize,
    blocking: Blocking,
) -> Vec<(&'static str, f64)> {
    let mut c = match *optimizer {
        Optimizer::Sgd { momentum, .. } => vec![("OPTIMIZER", 1.0), ("MOMENTUM", momentum as f64)],
        Optimizer::Adam { beta1, beta2, eps, .. } => {
            vec![("OPTIMIZER", 2.0), ("BETA1", beta1 as f64), ("BETA2", beta2 as f64), ("EPS", eps as f64)]
        }
    };
    c.push(("PARAMS_LEN", len as f64));
    c.push(("UPDATE_THREADS", (update_groups(len, threads, blocking) * threads) as f64));
    c
}

/// Workgroups of `threads` in the update's own range: one thread per parameter, up to
/// `TARGET_GROUPS` workgroups on a GPU, 16 on a software adapter (a few CPU cores, and in a
/// kernel with a barrier each workgroup costs lavapipe a setup: 132 made conv1's weight gradient
/// with the update 20% slower there), then several parameters a thread.
pub(super) fn update_groups(len: usize, threads: usize, blocking: Blocking) -> usize {
    let most = match blocking {
        Blocking::Fine => TARGET_GROUPS,
        Blocking::Blocked => 16,
    };
    len.div_ceil(threads).min(most)
}

/// The override constants of a dispatch doing two jobs, `first` workgroups of one and `second`
/// of the other (`job_of` in fused.wgsl): its workgroups, and whether the first job's can be
/// spread among the others without overflowing u32 arithmetic.
pub(super) fn two_jobs(first: usize, second: usize) -> [(&'static str, f64); 2] {
    let total = first + second;
    let spread = (total as u64).saturating_mul(first as u64) < u64::from(u32::MAX);
    [("TOTAL_GROUPS", total as f64), ("SPREAD", if spread { 1.0 } else { 0.0 })]
}
