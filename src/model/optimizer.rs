//! The optimizer's configuration and per-parameter state, shared by both paths (the CPU update
//! is `cpu::optimizer`, the GPU's `shaders/optimizer.wgsl`) and by checkpoints.

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
