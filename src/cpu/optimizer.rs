//! Optimizer updates over the whole flat parameter buffer, with PyTorch's semantics.
//! GPU twin: `shaders/optimizer.wgsl`.

pub use crate::model::optimizer::{Optimizer, OptimizerState};
use rayon::prelude::*;

const TASK: usize = 16 * 1024;

/// Applies one update to `params` from `grads`.
pub fn optimizer_step(opt: &Optimizer, state: &mut OptimizerState, params: &mut [f32], grads: &[f32]) {
    assert_eq!(params.len(), grads.len(), "optimizer sizes");
    assert_eq!(params.len(), state.first.len(), "optimizer state size");
    state.step += 1;
    match *opt {
        Optimizer::Sgd { lr, momentum } => {
            params
                .par_chunks_mut(TASK)
                .zip(grads.par_chunks(TASK))
                .zip(state.first.par_chunks_mut(TASK))
                .for_each(|((p, g), v)| {
                    for ((p, &g), v) in p.iter_mut().zip(g).zip(v) {
                        *v = momentum * *v + g;
                        *p -= lr * *v;
                    }
                });
        }
        Optimizer::Adam { lr, beta1, beta2, eps } => {
            let (c1, c2) = opt.bias_corrections(state.step);
            let OptimizerState { first, second, .. } = state;
            params
                .par_chunks_mut(TASK)
                .zip(grads.par_chunks(TASK))
                .zip(first.par_chunks_mut(TASK))
                .zip(second.par_chunks_mut(TASK))
                .for_each(|(((p, g), m), v)| {
                    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
                        *m = beta1 * *m + (1.0 - beta1) * g;
                        *v = beta2 * *v + (1.0 - beta2) * g * g;
                        *p -= lr * (*m / c1) / ((*v / c2).sqrt() + eps);
                    }
                });
        }
    }
}
