//! What a training run is asked to do beyond the engine: epochs, batches, the optimizer, the
//! learning-rate schedule and weight decay, the seed, augmentation and the validation split.

use crate::data::augment::Augmentation;
use crate::model::optimizer::{DEFAULT_MOMENTUM, Optimizer, OptimizerKind};
use crate::model::schedule::{Schedule, UpdateRule};
use crate::{Error, Result};

/// What `fit` needs to know beyond the engine.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub optimizer: Optimizer,
    pub seed: u64,
    /// How the learning rate moves over the run (`model::schedule`); constant by default.
    pub schedule: Schedule,
    /// Weight decay: decoupled for Adam (AdamW), L2 for SGD (see `UpdateRates`); 0 by default.
    pub weight_decay: f32,
    /// How training images are varied as batches are assembled (`data::augment`); none by
    /// default.
    pub augmentation: Augmentation,
    /// Training images held out as a validation set (`train::validation`), chosen from the seed,
    /// never trained on and evaluated after every epoch; 0 by default.
    pub validation: usize,
}

/// One epoch of batches of 64, SGD with momentum 0.9 at 0.01, seed 1, a constant rate, no
/// weight decay, no augmentation and no validation split: every face's defaults, written here
/// alone.
impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 1,
            batch_size: 64,
            optimizer: OptimizerKind::Sgd.with(None, DEFAULT_MOMENTUM),
            seed: 1,
            schedule: Schedule::default(),
            weight_decay: 0.0,
            augmentation: Augmentation::default(),
            validation: 0,
        }
    }
}

impl TrainConfig {
    /// Rejects values no training run can use, with the valid range.
    pub fn validate(&self) -> Result<()> {
        let bad = |setting: &str, why: String| Err(Error::InvalidArgument(format!("{setting} {why}")));
        if self.epochs == 0 {
            return bad("epochs", "must be at least 1".into());
        }
        if self.batch_size == 0 {
            return bad("batch size", "must be at least 1".into());
        }
        if let Err(why) = check::learning_rate(self.optimizer.lr()) {
            return bad("learning rate", why);
        }
        if let Optimizer::Sgd { momentum, .. } = self.optimizer
            && let Err(why) = check::momentum(momentum)
        {
            return bad("momentum", why);
        }
        if let Err(why) = check::weight_decay(self.weight_decay) {
            return bad("weight decay", why);
        }
        Ok(())
    }

    /// Training steps in one epoch over a training set of `train_examples` examples (those of
    /// the validation split are not trained on).
    pub fn steps_per_epoch(&self, train_examples: usize) -> usize {
        self.trained_examples(train_examples).div_ceil(self.batch_size.max(1))
    }

    /// The examples an epoch trains on, of a training set of `train_examples`: all but the
    /// validation split.
    pub fn trained_examples(&self, train_examples: usize) -> usize {
        train_examples.saturating_sub(self.validation)
    }

    /// How the engine sets each update's rates in this run over `train_examples` examples.
    pub fn update_rule(&self, train_examples: usize) -> UpdateRule {
        UpdateRule {
            schedule: self.schedule,
            total_updates: (self.steps_per_epoch(train_examples) * self.epochs) as u64,
            weight_decay: self.weight_decay,
        }
    }
}

/// The range of each setting with one, written once: `TrainConfig::validate` checks a whole run
/// by them, and the faces check a value as it is given (`lenet train --lr`, `fit(lr=)`), each
/// naming the setting its own way before the reason.
pub mod check {
    /// A learning rate: positive and finite.
    pub fn learning_rate(lr: f32) -> Result<f32, String> {
        match lr {
            lr if !lr.is_finite() => Err(format!("must be finite, got {lr}")),
            lr if lr <= 0.0 => Err(format!("must be a positive number, got {lr}")),
            lr => Ok(lr),
        }
    }

    /// SGD's momentum: in [0, 1).
    pub fn momentum(momentum: f32) -> Result<f32, String> {
        match (0.0..1.0).contains(&momentum) {
            true => Ok(momentum),
            false => Err(format!("must be in [0, 1), got {momentum}")),
        }
    }

    /// Weight decay: finite and at least 0.
    pub fn weight_decay(decay: f32) -> Result<f32, String> {
        match decay.is_finite() && decay >= 0.0 {
            true => Ok(decay),
            false => Err(format!("must be a finite number of at least 0, got {decay}")),
        }
    }
}
