//! What an epoch's figures say about the run: a loss stuck at chance level means the network
//! learns nothing at this learning rate (too high: its ReLUs died or it bounced out; too low: it
//! never moved), and which rate to try instead.

use super::{OptimizerKind, rate_to_try};
use crate::cpu::optimizer::Optimizer;
use crate::train::{EpochReport, TrainConfig};

/// Epochs shorter than this many steps are not judged: a short one may still be at chance
/// level at a good rate.
pub const CHANCE_STEPS: usize = 100;

/// An epoch whose loss stayed at chance level: its mean training loss and its test loss at the
/// end at least 97% of ln(classes), what guessing uniformly scores.
#[derive(Clone, Debug, PartialEq)]
pub struct ChanceLevel {
    /// The epoch (counted from 1).
    pub epoch: usize,
    /// Its mean cross-entropy on the test set.
    pub test_loss: f64,
    /// The classes guessed among: chance level is ln(classes).
    pub classes: usize,
    /// The learning rate the epoch trained at.
    pub learning_rate: f32,
    /// The optimizer's default when the rate is below it, else `rate_to_try`'s.
    pub rate_to_try: f32,
}

/// Whether the epoch `report` describes, of a run with `config` over `train_examples` images of
/// `classes` classes, stayed at chance level (see `ChanceLevel`).
pub fn chance_level(
    report: &EpochReport,
    classes: usize,
    config: &TrainConfig,
    train_examples: usize,
) -> Option<ChanceLevel> {
    let chance = (classes as f64).ln();
    let steps = config.steps_per_epoch(train_examples);
    // NaN figures (a diverged epoch, no test set) are not judged: `>=` is false for them.
    let stuck = report.train_loss >= 0.97 * chance && report.test_loss >= 0.97 * chance;
    if steps < CHANCE_STEPS || !stuck {
        return None;
    }
    let kind = match config.optimizer {
        Optimizer::Sgd { .. } => OptimizerKind::Sgd,
        Optimizer::Adam { .. } => OptimizerKind::Adam,
    };
    let (learning_rate, default) = (config.optimizer.lr(), kind.default_learning_rate());
    let rate_to_try = if learning_rate < default { default } else { rate_to_try(&config.optimizer) };
    Some(ChanceLevel {
        epoch: report.epoch,
        test_loss: report.test_loss,
        classes,
        learning_rate,
        rate_to_try,
    })
}

impl ChanceLevel {
    /// What happened and what to try, with the rate to try worded by `rate` (its value here; a
    /// command line names the flag that sets it).
    pub fn describe(&self, rate: &dyn Fn(f32) -> String) -> String {
        let direction = if self.rate_to_try > self.learning_rate { "higher" } else { "lower" };
        format!(
            "the loss stayed at chance level through epoch {} (test loss {:.4}; guessing among {} classes scores ln {} = {:.4}): nothing is being learned at learning rate {}; try a {direction} one, e.g. {}",
            self.epoch,
            self.test_loss,
            self.classes,
            self.classes,
            (self.classes as f64).ln(),
            self.learning_rate,
            rate(self.rate_to_try)
        )
    }
}
