//! What a training step fuses into the conv and dense kernels (`shaders/fused.wgsl`, prepended to
//! both): a pool's backward folded into the input gradient they write, the optimizer's update
//! into the first layer's weight gradient, and the geometry that decides whether a pool can be.

use super::{Activation, code};
use crate::model::optimizer::Optimizer;
use crate::model::shapes::PoolShape;

/// Columns a conv forward invocation computes (COLS in conv.wgsl): a fused pool's window divides it.
const COLS: usize = 4;

/// Workgroups a training kernel aims for at its batch: an H100's or H200's 132 compute units,
/// each given at least one.
pub const TARGET_GROUPS: usize = 132;

/// A pool, max or average, whose windows tile its input exactly (stride = window, no remainder;
/// a window of 2 or 4, dividing the columns conv.wgsl's invocations compute in at most two
/// windows; a window of 1 is no pooling worth fusing), so that it can be fused: its forward into the convolution before it, its backward into the
/// input gradient of the layer after it.
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
        (s.stride == w
            && w > 1
            && COLS.is_multiple_of(w)
            && s.in_h.is_multiple_of(w)
            && s.in_w.is_multiple_of(w))
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
) -> Vec<(&'static str, f64)> {
    let mut c = match *optimizer {
        Optimizer::Sgd { momentum, .. } => vec![("OPTIMIZER", 1.0), ("MOMENTUM", momentum as f64)],
        Optimizer::Adam { beta1, beta2, eps, .. } => {
            vec![("OPTIMIZER", 2.0), ("BETA1", beta1 as f64), ("BETA2", beta2 as f64), ("EPS", eps as f64)]
        }
    };
    c.push(("PARAMS_LEN", len as f64));
    c.push(("UPDATE_THREADS", (update_groups(len, threads) * threads) as f64));
    c
}

/// Workgroups of `threads` in the update's own range: one thread per parameter up to
/// `TARGET_GROUPS` workgroups, then several parameters a thread.
pub(super) fn update_groups(len: usize, threads: usize) -> usize {
    len.div_ceil(threads).min(TARGET_GROUPS)
}
