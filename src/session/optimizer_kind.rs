//! The optimizers a run can use, and the learning rates they get when none is given.

use crate::cpu::optimizer::Optimizer;

/// The optimizers a run can use, with the learning-rate defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptimizerKind {
    /// SGD with momentum.
    Sgd,
    /// Adam (β1 0.9, β2 0.999, ε 1e-8).
    Adam,
}

impl OptimizerKind {
    /// The learning rate used when none is given: 0.01 for SGD, 0.001 for Adam.
    pub fn default_learning_rate(self) -> f32 {
        match self {
            OptimizerKind::Sgd => 0.01,
            OptimizerKind::Adam => 0.001,
        }
    }

    /// This optimizer at `lr` (or its default); `momentum` is SGD's.
    pub fn with(self, lr: Option<f32>, momentum: f32) -> Optimizer {
        let lr = lr.unwrap_or(self.default_learning_rate());
        match self {
            OptimizerKind::Sgd => Optimizer::Sgd { lr, momentum },
            OptimizerKind::Adam => Optimizer::adam(lr),
        }
    }
}

/// A learning rate to try after `optimizer` diverged: its default when the diverging rate is
/// above it (a tenth of a far too high rate may diverge too), else a tenth of it.
pub fn rate_to_try(optimizer: &Optimizer) -> f32 {
    let kind = match optimizer {
        Optimizer::Sgd { .. } => OptimizerKind::Sgd,
        Optimizer::Adam { .. } => OptimizerKind::Adam,
    };
    let (lr, default) = (optimizer.lr(), kind.default_learning_rate());
    // A tenth of the rate as written (0.01 -> 0.001, not f32's 0.0009999999).
    let tenth = || (lr.to_string().parse::<f64>().unwrap_or(lr as f64) / 10.0) as f32;
    if lr > default { default } else { tenth() }
}
