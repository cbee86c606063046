//! `train --target-accuracy P`: stop after the first epoch whose test accuracy (validation
//! accuracy, with a validation split) reaches P, and say how long it took.

use lenet_gpu::session::EpochReport;
use std::time::Instant;

/// `--target-accuracy`: the time from the start of training to the first epoch reaching it.
pub struct Target {
    percent: f64,
    start: Instant,
    /// Seconds spent training (evaluation excluded) so far, and the best epoch's accuracy.
    training: f64,
    best: Option<(usize, f64)>,
    /// Which accuracy it watches: "test", or "validation" with a validation split.
    set: &'static str,
    /// Whether an epoch has reached it.
    hit: bool,
}

impl Target {
    pub fn new(percent: f64) -> Target {
        Target { percent, start: Instant::now(), training: 0.0, best: None, set: "test", hit: false }
    }

    /// Whether `report`'s epoch reaches the target (saying so, with the time it took).
    pub fn reached(&mut self, report: &EpochReport) -> bool {
        self.training += report.seconds;
        // With a validation split the run is tuned, and so stopped, on it, not on the test set.
        let (accuracy, set) = match report.validation {
            Some(held) => (held.accuracy, "validation"),
            None => (report.test_accuracy, "test"),
        };
        self.set = set;
        if self.best.is_none_or(|(_, best)| accuracy > best) {
            self.best = Some((report.epoch, accuracy));
        }
        // As a fraction, as the accuracy is: 9900 right of 10000 reaches 99 exactly. (NaN, an
        // empty test set, never does.)
        if accuracy.is_nan() || accuracy < self.percent / 100.0 {
            return false;
        }
        eprintln!(
            "reached {}% {set} accuracy after epoch {} ({:.2}%): {:.1} s after training started, {:.1} s of it training",
            self.percent,
            report.epoch,
            accuracy * 100.0,
            self.start.elapsed().as_secs_f64(),
            self.training
        );
        self.hit = true;
        true
    }

    /// What to say when the run ended without reaching it (nothing when it did).
    pub fn missed(self) -> Option<String> {
        if self.hit {
            return None;
        }
        let (epoch, best) = self.best?;
        Some(format!(
            "did not reach {}% {} accuracy: the best was {:.2}% after epoch {epoch}",
            self.percent,
            self.set,
            best * 100.0
        ))
    }
}
