//! Optimizer updates over the whole flat parameter buffer, with PyTorch's semantics.
//! GPU twin: `shaders/optimizer.wgsl`.

pub use crate::model::optimizer::{Optimizer, OptimizerState};
pub use crate::model::schedule::UpdateRates;
use rayon::prelude::*;
use std::ops::Range;

const TASK: usize = 16 * 1024;

/// Applies one update to `params` from `grads`, at `rates` (the learning rate and weight decay
/// of this update: `UpdateRates::constant(opt)` for the optimizer's own rate, no decay).
pub fn optimizer_step(
    opt: &Optimizer,
    rates: UpdateRates,
    state: &mut OptimizerState,
    params: &mut [f32],
    grads: &[f32],
) {
    let all = 0..params.len();
    optimizer_step_over(opt, rates, state, params, grads, &[all]);
}

/// `optimizer_step` on the values in `ranges` alone (`Plan::trained_ranges`: a batch norm's
/// running statistics are not trained), one update counted.
pub fn optimizer_step_over(
    opt: &Optimizer,
    rates: UpdateRates,
    state: &mut OptimizerState,
    params: &mut [f32],
    grads: &[f32],
    ranges: &[Range<usize>],
) {
    assert_eq!(params.len(), grads.len(), "optimizer sizes");
    assert_eq!(params.len(), state.first.len(), "optimizer state size");
    state.step += 1;
    for r in ranges {
        let (p, g) = (&mut params[r.clone()], &grads[r.clone()]);
        let (m, v) = (&mut state.first[r.clone()], &mut state.second[r.clone()]);
        update(opt, rates, state.step, p, g, m, v);
    }
}

/// One update of `params`, with the optimizer's moments `first` and `second` (SGD's velocity
/// is `first`), at update number `step`.
fn update(
    opt: &Optimizer,
    rates: UpdateRates,
    step: u64,
    params: &mut [f32],
    grads: &[f32],
    first: &mut [f32],
    second: &mut [f32],
) {
    let UpdateRates { lr, weight_decay: wd } = rates;
    match *opt {
        Optimizer::Sgd { momentum, .. } => {
            params.par_chunks_mut(TASK).zip(grads.par_chunks(TASK)).zip(first.par_chunks_mut(TASK)).for_each(
                |((p, g), v)| {
                    for ((p, &g), v) in p.iter_mut().zip(g).zip(v) {
                        // L2, as PyTorch's SGD: the decay joins the gradient (and the momentum).
                        let g = if wd != 0.0 { g + wd * *p } else { g };
                        *v = momentum * *v + g;
                        *p -= lr * *v;
                    }
                },
            );
        }
        Optimizer::Adam { beta1, beta2, eps, .. } => {
            let (c1, c2) = opt.bias_corrections(step);
            // Decoupled, as PyTorch's AdamW: the parameters shrink before the update.
            let decay = 1.0 - lr * wd;
            params
                .par_chunks_mut(TASK)
                .zip(grads.par_chunks(TASK))
                .zip(first.par_chunks_mut(TASK))
                .zip(second.par_chunks_mut(TASK))
                .for_each(|(((p, g), m), v)| {
                    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
                        if wd != 0.0 {
                            *p *= decay;
                        }
                        *m = beta1 * *m + (1.0 - beta1) * g;
                        *v = beta2 * *v + (1.0 - beta2) * g * g;
                        *p -= lr * (*m / c1) / ((*v / c2).sqrt() + eps);
                    }
                });
        }
    }
}
