//! `train --target-accuracy P`: what the run says when an epoch reaches P (the library's `Goals`
//! stop it there: test accuracy, or validation accuracy with a validation split) or when none
//! did, with how long it took.

use lenet_gpu::session::{EpochReport, Goals, Judgement};
use std::time::Instant;

/// `--target-accuracy`: the time from the start of training to the first epoch reaching it.
pub struct Target {
    percent: f64,
    start: Instant,
    /// Seconds spent training (evaluation excluded) so far.
    training: f64,
}

impl Target {
    pub fn new(percent: f64) -> Target {
        Target { percent, start: Instant::now(), training: 0.0 }
    }

    /// The target as the library's goals take it, a fraction.
    pub fn fraction(&self) -> f64 {
        self.percent / 100.0
    }

    /// Counts `report`'s epoch's training time.
    pub fn epoch_trained(&mut self, report: &EpochReport) {
        self.training += report.seconds;
    }

    /// What to say when `reached` reached it.
    pub fn reached(&self, reached: Judgement) -> String {
        format!(
            "reached {}% {} accuracy after epoch {} ({:.2}%): {:.1} s after training started, {:.1} s of it training",
            self.percent,
            reached.judged.name(),
            reached.epoch,
            reached.accuracy * 100.0,
            self.start.elapsed().as_secs_f64(),
            self.training
        )
    }

    /// What to say when the run ended without reaching it (nothing when it did).
    pub fn missed(&self, goals: &Goals) -> Option<String> {
        if goals.reached().is_some() {
            return None;
        }
        let best = goals.best()?;
        Some(format!(
            "did not reach {}% {} accuracy: the best was {:.2}% after epoch {}",
            self.percent,
            best.judged.name(),
            best.accuracy * 100.0,
            best.epoch
        ))
    }
}
