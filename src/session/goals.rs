//! What a run aims at beyond its epochs: stopping after the first epoch whose accuracy reaches a
//! target, and keeping the best epoch's model. An epoch is judged by its validation accuracy when
//! it has one (the test set is not for choosing), else by its test accuracy. The command line
//! keeps the best model in a file (`train --save-best`), the Python module in memory
//! (`fit(keep_best=True)`); both stop with `--target-accuracy` / `target_accuracy=`.

use super::Session;
use crate::Result;
use crate::model::Parameters;
use crate::train::EpochReport;

/// Which accuracy an epoch is judged by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Judged {
    /// The test set's (no validation split).
    Test,
    /// The validation set's.
    Validation,
}

impl Judged {
    /// "test" or "validation".
    pub fn name(self) -> &'static str {
        match self {
            Judged::Test => "test",
            Judged::Validation => "validation",
        }
    }
}

/// The accuracy `report`'s epoch is judged by: its validation accuracy when the run holds a
/// validation split out, else its test accuracy.
pub fn judged(report: &EpochReport) -> (f64, Judged) {
    match report.validation {
        Some(held) => (held.accuracy, Judged::Validation),
        None => (report.test_accuracy, Judged::Test),
    }
}

/// An epoch and the accuracy it was judged by.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Judgement {
    /// The epoch, counted from 1 over the whole run.
    pub epoch: usize,
    /// Its accuracy, a fraction.
    pub accuracy: f64,
    /// Which accuracy it is.
    pub judged: Judged,
}

/// What `Goals::consider_async` made of an epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// It is the best epoch so far (kept, when the goals keep the best in memory).
    pub best: bool,
    /// It reached the target accuracy.
    pub reached: bool,
}

/// A target accuracy, and the best epoch so far (its parameters too, when kept in memory).
#[derive(Clone, Debug, Default)]
pub struct Goals {
    target: Option<f64>,
    keep_in_memory: bool,
    best: Option<Judgement>,
    kept: Option<Parameters>,
    reached: Option<Judgement>,
}

impl Goals {
    /// Goals that stop at `target` (an accuracy as a fraction; None: never) and, with
    /// `keep_in_memory`, keep the best epoch's parameters.
    pub fn new(target: Option<f64>, keep_in_memory: bool) -> Goals {
        Goals { target, keep_in_memory, ..Goals::default() }
    }

    /// The same goals, the best so far being `best` (a resumed run's, read from its file).
    pub fn with_best(self, best: Judgement) -> Goals {
        Goals { best: Some(best), ..self }
    }

    /// After an epoch judged at `judgement`: whether it is the best so far (then remembered,
    /// with `session`'s parameters when keeping them) and whether it reaches the target (as a
    /// fraction: 9,900 right of 10,000 reaches 0.99 exactly; NaN, an empty set, never does).
    pub async fn consider_async(&mut self, session: &Session, judgement: Judgement) -> Result<Verdict> {
        let accuracy = judgement.accuracy;
        let best = accuracy.is_finite() && self.best.is_none_or(|b| accuracy > b.accuracy);
        if best {
            if self.keep_in_memory {
                self.kept = Some(session.parameters_async().await?);
            }
            self.best = Some(judgement);
        }
        let reached = self.target.is_some_and(|t| accuracy >= t);
        if reached && self.reached.is_none() {
            self.reached = Some(judgement);
        }
        Ok(Verdict { best, reached })
    }

    /// `consider_async`, waiting for it (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn consider(&mut self, session: &Session, judgement: Judgement) -> Result<Verdict> {
        pollster::block_on(self.consider_async(session, judgement))
    }

    /// The best epoch so far.
    pub fn best(&self) -> Option<Judgement> {
        self.best
    }

    /// The first epoch that reached the target, if one did.
    pub fn reached(&self) -> Option<Judgement> {
        self.reached
    }

    /// The target, as a fraction.
    pub fn target(&self) -> Option<f64> {
        self.target
    }

    /// The best epoch's parameters, when kept in memory.
    pub fn best_parameters(&self) -> Option<&Parameters> {
        self.kept.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::DeviceChoice;
    use crate::model::{Network, arch};
    use crate::session::SavedModel;

    fn session(seed: u64) -> Session {
        let network = Network::lenet5();
        let params = Parameters::init(&arch::plan_for_mnist(&network).unwrap(), seed);
        let model = SavedModel { network, params, metadata: Default::default() };
        Session::inference(DeviceChoice::Cpu, model, Box::new(|_| {})).unwrap()
    }

    fn at(epoch: usize, accuracy: f64) -> Judgement {
        Judgement { epoch, accuracy, judged: Judged::Validation }
    }

    #[test]
    fn the_best_epoch_is_kept_and_the_first_reaching_the_target_stops() {
        let mut goals = Goals::new(Some(0.9), true);
        let (a, b) = (session(1), session(2));
        let verdict = |goals: &mut Goals, s: &Session, j| goals.consider(s, j).unwrap();
        assert_eq!(verdict(&mut goals, &a, at(1, 0.5)), Verdict { best: true, reached: false });
        assert_eq!(verdict(&mut goals, &b, at(2, 0.95)), Verdict { best: true, reached: true });
        // Lower, or NaN (an empty set): neither best nor reaching; a tie is not better.
        assert_eq!(verdict(&mut goals, &a, at(3, 0.92)), Verdict { best: false, reached: true });
        assert_eq!(verdict(&mut goals, &a, at(4, f64::NAN)), Verdict::default());
        assert!(!verdict(&mut goals, &a, at(5, 0.95)).best);
        assert_eq!((goals.best(), goals.reached()), (Some(at(2, 0.95)), Some(at(2, 0.95))));
        let kept = goals.best_parameters().unwrap();
        assert_eq!(kept.values, b.parameters().unwrap().values, "epoch 2's session's parameters");
    }

    #[test]
    fn a_resumed_runs_best_must_be_beaten_and_no_target_never_stops() {
        let s = session(1);
        let mut goals = Goals::new(None, false).with_best(at(3, 0.8));
        assert_eq!(goals.consider(&s, at(4, 0.7)).unwrap(), Verdict::default());
        assert_eq!(goals.consider(&s, at(5, 0.99)).unwrap(), Verdict { best: true, reached: false });
        assert!(goals.best_parameters().is_none(), "not kept in memory");
        assert_eq!(goals.best(), Some(at(5, 0.99)));
    }
}
