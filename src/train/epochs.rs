//! The one epoch loop: where a run stands in its seeded epochs (`Epochs`), and training from
//! there a number of steps (`train_steps_async`) or to the end of the epoch with its evaluation
//! (`train_epoch_async`). Every face trains through it (the command line and the Python module an
//! epoch a call, a page a few steps a call, `train::fit` for tests and benchmarks), so N steps
//! then M train exactly as N + M at once: the same batches, shifts and updates, bit for bit.

use super::validation::{self, Holdout};
use super::{Engine, EpochReport, Held, Observer, Progress, TrainConfig, evaluate_with_loss_async};
use crate::data::Split;
use crate::error::Divergence;
use crate::model::Parameters;
use crate::model::optimizer::OptimizerState;
use crate::train::evaluation::check_fits;
use crate::{Error, Result};

/// Where a run stands in its epochs: how many are trained, and how far into the next.
#[derive(Default)]
pub struct Epochs {
    done: usize,
    under_way: Option<UnderWay>,
    /// Examples of the next epoch already trained when the run was restored (`resume_at`), for
    /// the first epoch started after it.
    restored_position: usize,
    /// Copy the parameters and optimizer state when an epoch starts, and put them back when it
    /// diverges (a readback an epoch on a GPU).
    rollback: bool,
}

/// The epoch being trained.
struct UnderWay {
    epoch: usize,
    /// What its order was drawn for: a call with another data set size, seed or validation split
    /// leaves this epoch and starts the next afresh.
    drawn_for: (usize, u64, usize),
    /// The examples it trains on (the training set less the validation split) in its order.
    order: Vec<u32>,
    holdout: Holdout,
    /// Positions in `order` trained so far.
    next: usize,
    /// The epoch's totals so far, over every call.
    totals: Progress,
    /// What a divergence rolls back to, with `rollback`.
    start: Option<(Parameters, OptimizerState)>,
}

impl Epochs {
    /// A run that has trained `done` whole epochs; with `rollback`, a diverging epoch is undone.
    pub fn after(done: usize, rollback: bool) -> Epochs {
        Epochs { done, rollback, ..Epochs::default() }
    }

    /// Epochs whose every step is trained.
    pub fn done(&self) -> usize {
        self.done
    }

    /// Examples of the next epoch trained so far (0 between epochs).
    pub fn position(&self) -> usize {
        self.under_way.as_ref().map_or(self.restored_position, |w| w.next)
    }

    /// Continues from `done` whole epochs and `position` examples into the next (a saved run).
    pub fn resume_at(&mut self, done: usize, position: usize) {
        (self.done, self.under_way, self.restored_position) = (done, None, position);
    }

    /// Leaves the epoch under way, if any: the next call starts the epoch after the last one
    /// done afresh (on another data set).
    pub fn leave_epoch(&mut self) {
        (self.under_way, self.restored_position) = (None, 0);
    }

    /// Trains `steps` steps from where the run stands, running on into the next epochs (each
    /// epoch's last batch may be smaller). An epoch whose every step is trained counts as done,
    /// unevaluated (`train_epoch_async` evaluates). Resolves to this call's totals.
    pub async fn train_steps_async(
        &mut self,
        engine: &mut dyn Engine,
        split: &Split,
        config: &TrainConfig,
        steps: usize,
        observer: &mut dyn Observer,
    ) -> Result<Progress> {
        let mut call = Progress::default();
        while call.steps_done < steps {
            let (done, _) =
                self.train_in_epoch(engine, split, config, steps - call.steps_done, observer).await?;
            add(&mut call, &done);
            if done.steps_done == 0 {
                break; // an epoch with nothing to train (never: the split checks refuse one)
            }
        }
        Ok(call)
    }

    /// Trains the rest of the epoch under way (all of the next one between epochs), then
    /// evaluates on the validation split, if any, and on the test set.
    pub async fn train_epoch_async(
        &mut self,
        engine: &mut dyn Engine,
        split: &Split,
        config: &TrainConfig,
        observer: &mut dyn Observer,
    ) -> Result<EpochReport> {
        let (_, finished) = self.train_in_epoch(engine, split, config, usize::MAX, observer).await?;
        let (epoch, totals, holdout) = finished.expect("an epoch trained to its end");
        // Stopped while evaluating: the epoch's steps are all done, its report is not.
        let stopped = |e: Error| match e {
            Error::InferenceInterrupted { .. } => Error::Interrupted { steps_done: 0 },
            other => other,
        };
        let validation = match holdout.held_out.is_empty() {
            true => None,
            false => {
                let held = validation::subset(&split.train, &holdout.held_out);
                let (evaluation, loss) = evaluate_with_loss_async(engine, &held).await.map_err(stopped)?;
                Some(Held { accuracy: evaluation.accuracy(), loss })
            }
        };
        let (test_accuracy, test_loss) = match split.test.is_empty() {
            true => (f64::NAN, f64::NAN),
            false => {
                let (evaluation, loss) =
                    evaluate_with_loss_async(engine, &split.test).await.map_err(stopped)?;
                (evaluation.accuracy(), loss)
            }
        };
        let images = totals.images_done as f64;
        let report = EpochReport {
            epoch,
            train_loss: totals.loss_sum / images,
            train_accuracy: totals.correct as f64 / images,
            test_accuracy,
            test_loss,
            validation,
            seconds: totals.seconds,
            images_per_second: images / totals.seconds,
        };
        observer.epoch_finished(&report);
        Ok(report)
    }

    /// Trains at most `steps` steps of the epoch under way (starting the next one between
    /// epochs). Resolves to this call's totals and, when the epoch's last step was among them,
    /// the epoch's number, totals and split.
    async fn train_in_epoch(
        &mut self,
        engine: &mut dyn Engine,
        split: &Split,
        config: &TrainConfig,
        steps: usize,
        observer: &mut dyn Observer,
    ) -> Result<(Progress, Option<(usize, Progress, Holdout)>)> {
        config.validate()?;
        self.start_epoch(engine, split, config, observer).await?;
        let w = self.under_way.as_mut().expect("an epoch under way");
        // Set every call: a live session may have changed its settings since the last.
        engine.set_update_rule(config.update_rule(split.train.len()));
        engine.set_augmentation(config.augmentation.for_epoch(config.seed, w.epoch));
        engine.set_dropout_key(dropout_key(config.seed, w.epoch));
        let batch = config.batch_size;
        let end = w.next.saturating_add(steps.saturating_mul(batch)).min(w.order.len());
        let base = w.totals;
        let mut seen = Progress::default();
        let trained = engine
            .train_steps_async(&split.train, &w.order, w.next..end, batch, &mut |p| {
                seen = p;
                observer.progress(sum(&base, &p));
            })
            .await;
        let done = match trained {
            Ok(done) => done,
            Err(Error::Interrupted { steps_done }) => {
                // The steps trained count: the next call goes on after them.
                add(&mut w.totals, &seen);
                w.next += seen.images_done;
                return Err(Error::Interrupted { steps_done });
            }
            Err(e) => return Err(e),
        };
        if let Some(step) = done.diverged_at_step.or((!done.loss_sum.is_finite()).then_some(0)) {
            let w = self.under_way.take().expect("an epoch under way");
            let restored = match w.start {
                Some((params, state)) => {
                    engine.set_parameters(&params)?;
                    engine.set_optimizer_state(&state)?;
                    true
                }
                None => false,
            };
            return Err(Error::Diverged(Divergence::Loss {
                loss: done.loss_sum,
                epoch: w.epoch,
                step: (step > 0).then_some(w.totals.steps_done + step),
                learning_rate: config.optimizer.lr(),
                rate_to_try: crate::model::optimizer::rate_to_try(&config.optimizer),
                last_saved: None,
                restored,
            }));
        }
        add(&mut w.totals, &done);
        w.next = end;
        if w.next < w.order.len() {
            return Ok((done, None));
        }
        let w = self.under_way.take().expect("an epoch under way");
        self.done = w.epoch;
        Ok((done, Some((w.epoch, w.totals, w.holdout))))
    }

    /// Starts the next epoch unless one is under way for this data and these settings.
    async fn start_epoch(
        &mut self,
        engine: &mut dyn Engine,
        split: &Split,
        config: &TrainConfig,
        observer: &mut dyn Observer,
    ) -> Result<()> {
        let drawn_for = (split.train.len(), config.seed, config.validation);
        if self.under_way.as_ref().is_some_and(|w| w.drawn_for == drawn_for) {
            return Ok(());
        }
        check_fits(engine.plan(), &split.train)?;
        check_fits(engine.plan(), &split.test)?;
        if split.train.is_empty() {
            return Err(Error::InvalidArgument("the training set is empty".into()));
        }
        config.augmentation.check_fits(split.train.rows, split.train.cols)?;
        let holdout = validation::holdout(split.train.len(), config.validation, config.seed)?;
        let epoch = self.done + 1;
        let order = validation::epoch_order_of(&holdout.trained, config.seed, epoch);
        let next = std::mem::take(&mut self.restored_position).min(order.len());
        let start = match self.rollback {
            true => Some((engine.parameters_async().await?, engine.optimizer_state_async().await?)),
            false => None,
        };
        observer.epoch_started(epoch, order.len());
        let totals = Progress::default();
        self.under_way = Some(UnderWay { epoch, drawn_for, order, holdout, next, totals, start });
        Ok(())
    }
}

/// `a` and then `b`: the totals of both, `b`'s divergence counted after `a`'s steps.
fn sum(a: &Progress, b: &Progress) -> Progress {
    Progress {
        images_done: a.images_done + b.images_done,
        loss_sum: a.loss_sum + b.loss_sum,
        correct: a.correct + b.correct,
        steps_done: a.steps_done + b.steps_done,
        seconds: a.seconds + b.seconds,
        diverged_at_step: a.diverged_at_step.or(b.diverged_at_step.map(|s| a.steps_done + s)),
    }
}

fn add(total: &mut Progress, more: &Progress) {
    *total = sum(total, more);
}

/// Trains epoch `epoch` (counted from 1) of `config` on an engine alone (see `Epochs`).
pub async fn train_epoch_async(
    engine: &mut dyn Engine,
    split: &Split,
    config: &TrainConfig,
    epoch: usize,
    observer: &mut dyn Observer,
) -> Result<EpochReport> {
    Epochs::after(epoch - 1, false).train_epoch_async(engine, split, config, observer).await
}

/// Trains for `config.epochs` epochs, evaluating on the test set after each.
pub async fn fit_async(
    engine: &mut dyn Engine,
    split: &Split,
    config: &TrainConfig,
    observer: &mut dyn Observer,
) -> Result<Vec<EpochReport>> {
    config.validate()?;
    let mut epochs = Epochs::after(0, false);
    let mut reports = Vec::with_capacity(config.epochs);
    while epochs.done() < config.epochs {
        reports.push(epochs.train_epoch_async(engine, split, config, observer).await?);
    }
    Ok(reports)
}

/// The key of epoch `epoch`'s (counted from 1) dropout masks in a run seeded `seed`: a stream of
/// its own, so adding dropout to a network moves neither its initialization nor its shuffling.
pub fn dropout_key(seed: u64, epoch: usize) -> u32 {
    crate::rng::Rng::derive(seed, &format!("dropout/epoch-{epoch}")).next_u64() as u32
}
