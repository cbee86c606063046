//! Optimizer updates over the whole flat parameter buffer, with PyTorch's semantics.
//! GPU twin: `shaders/optimizer.wgsl`.

use rayon::prelude::*;

const TASK: usize = 16 * 1024;

/// The optimizer and its hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    /// SGD with momentum (PyTorch's form: v = μ·v + g; p −= lr·v).
    Sgd { lr: f32, momentum: f32 },
    /// Adam, with bias correction.
    Adam { lr: f32, beta1: f32, beta2: f32, eps: f32 },
}

impl Optimizer {
    pub fn adam(lr: f32) -> Self {
        Optimizer::Adam { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8 }
    }

    /// Adam's bias corrections (1 − β1ᵗ, 1 − β2ᵗ) for update number `t` (counted from 1);
    /// (1, 1) for SGD. Computed here, in f32, for both paths.
    pub fn bias_corrections(&self, t: u64) -> (f32, f32) {
        match *self {
            Optimizer::Adam { beta1, beta2, .. } => {
                let t = t.min(i32::MAX as u64) as i32;
                (1.0 - beta1.powi(t), 1.0 - beta2.powi(t))
            }
            Optimizer::Sgd { .. } => (1.0, 1.0),
        }
    }

    pub fn lr(&self) -> f32 {
        match *self {
            Optimizer::Sgd { lr, .. } | Optimizer::Adam { lr, .. } => lr,
        }
    }
}

/// Per-parameter state: SGD's velocity in `first`; Adam's first and second moments.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerState {
    pub first: Vec<f32>,
    pub second: Vec<f32>,
    /// Updates applied so far (Adam's bias correction needs it).
    pub step: u64,
}

impl OptimizerState {
    pub fn new(parameter_count: usize) -> Self {
        OptimizerState { first: vec![0.0; parameter_count], second: vec![0.0; parameter_count], step: 0 }
    }
}

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
