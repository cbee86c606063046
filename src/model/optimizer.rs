//! The optimizer's configuration (its kinds and their default rates) and per-parameter state, shared by both paths (the CPU update
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

    /// The same optimizer at learning rate `lr`.
    pub fn at_rate(self, lr: f32) -> Optimizer {
        match self {
            Optimizer::Sgd { momentum, .. } => Optimizer::Sgd { lr, momentum },
            Optimizer::Adam { beta1, beta2, eps, .. } => Optimizer::Adam { lr, beta1, beta2, eps },
        }
    }

    pub fn kind(&self) -> OptimizerKind {
        match self {
            Optimizer::Sgd { .. } => OptimizerKind::Sgd,
            Optimizer::Adam { .. } => OptimizerKind::Adam,
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

/// SGD's momentum when none is given (PyTorch's examples', the anchors').
pub const DEFAULT_MOMENTUM: f32 = 0.9;

/// The optimizers a run can use, with the learning-rate defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptimizerKind {
    /// SGD with momentum.
    Sgd,
    /// Adam (β1 0.9, β2 0.999, ε 1e-8).
    Adam,
}

impl OptimizerKind {
    pub const ALL: [OptimizerKind; 2] = [OptimizerKind::Sgd, OptimizerKind::Adam];

    /// Its name, as a flag, a Python argument or a page control gives it.
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Adam => "adam",
        }
    }

    /// What it is, in a few words.
    pub fn help(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "SGD with momentum",
            OptimizerKind::Adam => "Adam (β1 0.9, β2 0.999, ε 1e-8)",
        }
    }

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

impl std::fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for OptimizerKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        OptimizerKind::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            let names: Vec<&str> = OptimizerKind::ALL.iter().map(|k| k.name()).collect();
            format!("unknown optimizer {s:?} (one of {})", names.join(", "))
        })
    }
}

/// A learning rate to try after `optimizer` diverged: its default when the diverging rate is
/// above it (a tenth of a far too high rate may diverge too), else a tenth of it.
pub fn rate_to_try(optimizer: &Optimizer) -> f32 {
    let (lr, default) = (optimizer.lr(), optimizer.kind().default_learning_rate());
    // A tenth of the rate as written (0.01 -> 0.001, not f32's 0.0009999999).
    let tenth = || (lr.to_string().parse::<f64>().unwrap_or(lr as f64) / 10.0) as f32;
    if lr > default { default } else { tenth() }
}
