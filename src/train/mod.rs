//! The training loop both paths share: epochs, shuffling, evaluation, and progress reporting.
//! An `Engine` does the arithmetic (the CPU path here, the GPU path in `gpu`); this module
//! decides what to run and measures it.

mod config;
pub mod validation;

use crate::data::augment::EpochShift;
use crate::data::{Dataset, Split};
use crate::evaluation::check_fits;
pub use crate::evaluation::{Evaluation, evaluate_async, evaluate_with_loss_async};
#[cfg(not(target_arch = "wasm32"))]
pub use crate::evaluation::{evaluate, evaluate_with_loss};
pub use crate::interrupt::Interrupt;
use crate::model::optimizer::OptimizerState;
pub use crate::model::schedule::UpdateRule;
use crate::model::{Parameters, Plan};
use crate::rng::Rng;
pub use crate::session::rate_to_try;
use crate::{Error, Result};
pub use config::TrainConfig;
use std::future::Future;
use std::pin::Pin;
use web_time::Instant;

/// What an engine's async methods return: a future borrowing the engine and its arguments. Not
/// `Send`: a page or a native caller awaits it on the thread that owns the engine.
pub type EngineFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + 'a>>;

/// Running totals an engine reports while it trains an epoch. Engines report after every step,
/// in order (the GPU path in bursts, as each submission's loss statistics are read back), so an
/// observer can tell each step's figures from the difference between consecutive reports.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Progress {
    pub images_done: usize,
    pub loss_sum: f64,
    pub correct: u64,
    /// Training steps in these totals.
    pub steps_done: usize,
    /// Seconds from the start of the epoch's training to the end of its last step. The GPU path
    /// sees a submission's steps finish together, so it spreads the time between two readbacks
    /// evenly over the steps they brought.
    pub seconds: f64,
    /// The first step (counted from 1 in the epoch) whose loss was NaN or infinite, if any: the
    /// engine stops training there (the GPU path at the end of the submission holding it).
    pub diverged_at_step: Option<usize>,
}

/// One layer's output for a set of images: [images, C, H, W] (or [images, features]), row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerOutput {
    /// The layer's index in the plan.
    pub layer: usize,
    pub values: Vec<f32>,
}

/// The layers whose outputs `Engine::activations` returns: the outputs the GPU path keeps. It
/// folds an activation (ReLU, tanh) into the layer before it when that layer has none yet, and a
/// ReLU into a ReLU (`model::fusion::fuse`, the rule both use), so such a layer's own output
/// never exists there and is shown by the activation's output instead.
pub fn feature_layers(plan: &Plan) -> Vec<usize> {
    crate::model::fusion::fuse(plan).into_iter().map(|s| s.output_layer).collect()
}

/// Something that can train and run a network: the CPU path or the GPU path.
///
/// What may wait for a device is async, so a web page (which cannot block its thread) awaits it
/// and the browser draws meanwhile; the CPU path computes inside its futures, which are ready when
/// first polled. Natively each has a blocking twin (`train_epoch`, `predict`, …) that waits for
/// it: for the command line, tests and benchmarks. Those do not exist on wasm32.
pub trait Engine {
    /// What runs the arithmetic, e.g. "CPU (2 threads)".
    fn device_name(&self) -> String;

    /// Trains on `data` in the order given, in batches of `batch_size` (the last batch may be
    /// smaller), calling `progress` after each step with the totals so far (the GPU path in
    /// bursts, as each submission's figures come back). Resolves to the final totals.
    fn train_epoch_async<'a>(
        &'a mut self,
        data: &'a Dataset,
        order: &'a [u32],
        batch_size: usize,
        progress: &'a mut dyn FnMut(Progress),
    ) -> EngineFuture<'a, Progress>;

    /// The predicted class of every image in `data`.
    fn predict_async<'a>(&'a mut self, data: &'a Dataset) -> EngineFuture<'a, Vec<u8>>;

    /// The network's raw outputs for every image in `data`: [images, classes], row-major.
    fn logits_async<'a>(&'a mut self, data: &'a Dataset) -> EngineFuture<'a, Vec<f32>>;

    /// The output of every layer of `feature_layers` for every image in `data`, in layer order:
    /// what the network sees, for a handful of images (the GPU path reads everything back).
    fn activations_async<'a>(&'a mut self, data: &'a Dataset) -> EngineFuture<'a, Vec<LayerOutput>>;

    /// The network being trained.
    fn plan(&self) -> &Plan;

    /// A copy of the current parameters (read back from the device, for the GPU path).
    fn parameters_async(&self) -> EngineFuture<'_, Parameters>;

    /// A copy of the optimizer state: moments (SGD's velocity in `first`) and the update count.
    fn optimizer_state_async(&self) -> EngineFuture<'_, OptimizerState>;

    /// Replaces the optimizer state, e.g. with one saved by `checkpoint::save_training`, so
    /// training continues exactly where it stopped. (Never waits: the GPU path queues a write.)
    fn set_optimizer_state(&mut self, state: &OptimizerState) -> Result<()>;

    /// Replaces every parameter, e.g. with a copy taken before an epoch that diverged (the
    /// session's rollback). (Never waits: the GPU path queues a write.)
    fn set_parameters(&mut self, params: &Parameters) -> Result<()>;

    /// Sets how each training update's learning rate and weight decay are chosen (a schedule
    /// over the run: `model::schedule`), from the update's number in the optimizer state. Until
    /// it is set every update has the optimizer's own rate and no decay; the training loop
    /// (`train_epoch_async`) sets its run's before every epoch.
    fn set_update_rule(&mut self, rule: UpdateRule);

    /// Sets how the training images of the epochs to come are shifted (`data::augment`): the
    /// image at position p of the order `train_epoch` is given moves by `shift.offset(p)`. None
    /// (until it is set) moves nothing; the training loop sets each epoch's before it. Never
    /// applies to evaluation or prediction.
    fn set_augmentation(&mut self, shift: Option<EpochShift>);

    /// Makes training check `interrupt` and stop early when it is requested (see `Interrupt`).
    fn set_interrupt(&mut self, interrupt: Interrupt);

    /// The interrupt `set_interrupt` gave, which inference (`evaluation`) checks between pieces.
    fn interrupt(&self) -> Interrupt;

    /// `train_epoch_async`, waiting for it (native only).
    #[cfg(not(target_arch = "wasm32"))]
    fn train_epoch(
        &mut self,
        data: &Dataset,
        order: &[u32],
        batch_size: usize,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Progress> {
        pollster::block_on(self.train_epoch_async(data, order, batch_size, progress))
    }

    /// `predict_async`, waiting for it (native only).
    #[cfg(not(target_arch = "wasm32"))]
    fn predict(&mut self, data: &Dataset) -> Result<Vec<u8>> {
        pollster::block_on(self.predict_async(data))
    }

    /// `logits_async`, waiting for it (native only).
    #[cfg(not(target_arch = "wasm32"))]
    fn logits(&mut self, data: &Dataset) -> Result<Vec<f32>> {
        pollster::block_on(self.logits_async(data))
    }

    /// `activations_async`, waiting for it (native only).
    #[cfg(not(target_arch = "wasm32"))]
    fn activations(&mut self, data: &Dataset) -> Result<Vec<LayerOutput>> {
        pollster::block_on(self.activations_async(data))
    }

    /// `parameters_async`, waiting for it (native only).
    #[cfg(not(target_arch = "wasm32"))]
    fn parameters(&self) -> Result<Parameters> {
        pollster::block_on(self.parameters_async())
    }

    /// `optimizer_state_async`, waiting for it (native only).
    #[cfg(not(target_arch = "wasm32"))]
    fn optimizer_state(&self) -> Result<OptimizerState> {
        pollster::block_on(self.optimizer_state_async())
    }
}

/// Rejects parameters of the wrong size for `plan`.
pub fn check_parameters(plan: &Plan, params: &Parameters) -> Result<()> {
    match params.values.len() == plan.parameter_count {
        true => Ok(()),
        false => Err(Error::InvalidArgument(format!(
            "{} parameters given for a network of {}",
            params.values.len(),
            plan.parameter_count
        ))),
    }
}

/// Rejects an optimizer state of the wrong size for `plan`.
pub fn check_optimizer_state(plan: &Plan, state: &OptimizerState) -> Result<()> {
    let n = plan.parameter_count;
    if state.first.len() != n || state.second.len() != n {
        return Err(Error::InvalidArgument(format!(
            "the optimizer state holds {} and {} values, but the network has {n} parameters",
            state.first.len(),
            state.second.len()
        )));
    }
    Ok(())
}

/// The checks every `Engine::train_epoch` makes before it trains: a batch of at least one, and
/// an order that names only examples the data set has.
pub fn check_epoch(data: &Dataset, order: &[u32], batch_size: usize) -> Result<()> {
    if batch_size == 0 {
        return Err(Error::InvalidArgument("batch size must be at least 1".into()));
    }
    if order.iter().any(|&i| i as usize >= data.len()) {
        return Err(Error::InvalidArgument("the epoch's order names an example the data set lacks".into()));
    }
    Ok(())
}

/// One epoch's figures, as printed after it.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochReport {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub test_accuracy: f64,
    /// The mean cross-entropy on the test set (NaN without one).
    pub test_loss: f64,
    /// The held-out validation set's figures (`TrainConfig::validation`), when there is one.
    pub validation: Option<Held>,
    /// Training time only (evaluation excluded).
    pub seconds: f64,
    pub images_per_second: f64,
}

/// Accuracy and mean cross-entropy on the validation split.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Held {
    pub accuracy: f64,
    pub loss: f64,
}

/// Receives what happens during `fit`, to show it (the console display, `metrics::MetricsLog`).
pub trait Observer {
    fn epoch_started(&mut self, _epoch: usize, _images: usize) {}
    /// The epoch's totals after each step, in order (see `Progress`).
    fn progress(&mut self, _progress: Progress) {}
    fn epoch_finished(&mut self, _report: &EpochReport) {}
}

/// An observer that shows nothing.
pub struct Quiet;
impl Observer for Quiet {}

/// The order in which epoch `epoch` (counted from 1) visits `n` examples: a permutation drawn
/// from the seed, so the same seed gives the same batches on every device and after a resume.
pub fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<u32> {
    let mut order: Vec<u32> = (0..n as u32).collect();
    Rng::derive(seed, &format!("shuffle/epoch-{epoch}")).shuffle(&mut order);
    order
}

/// Trains for `config.epochs` epochs, evaluating on the test set after each.
pub async fn fit_async(
    engine: &mut dyn Engine,
    split: &Split,
    config: &TrainConfig,
    observer: &mut dyn Observer,
) -> Result<Vec<EpochReport>> {
    config.validate()?;
    let mut reports = Vec::with_capacity(config.epochs);
    for epoch in 1..=config.epochs {
        reports.push(train_epoch_async(engine, split, config, epoch, observer).await?);
    }
    Ok(reports)
}

/// `fit_async`, waiting for it (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn fit(
    engine: &mut dyn Engine,
    split: &Split,
    config: &TrainConfig,
    observer: &mut dyn Observer,
) -> Result<Vec<EpochReport>> {
    pollster::block_on(fit_async(engine, split, config, observer))
}

/// `train_epoch_async`, waiting for it (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn train_epoch(
    engine: &mut dyn Engine,
    split: &Split,
    config: &TrainConfig,
    epoch: usize,
    observer: &mut dyn Observer,
) -> Result<EpochReport> {
    pollster::block_on(train_epoch_async(engine, split, config, epoch, observer))
}

/// Trains epoch `epoch` (counted from 1) of `config` (on the training set less its validation
/// split, each image shifted as `config.augmentation` says), then evaluates on the validation
/// split, if any, and on the test set.
pub async fn train_epoch_async(
    engine: &mut dyn Engine,
    split: &Split,
    config: &TrainConfig,
    epoch: usize,
    observer: &mut dyn Observer,
) -> Result<EpochReport> {
    config.validate()?;
    check_fits(engine.plan(), &split.train)?;
    check_fits(engine.plan(), &split.test)?;
    if split.train.is_empty() {
        return Err(Error::InvalidArgument("the training set is empty".into()));
    }
    config.augmentation.check_fits(split.train.rows, split.train.cols)?;
    let holdout = validation::holdout(split.train.len(), config.validation, config.seed)?;
    engine.set_update_rule(config.update_rule(split.train.len()));
    engine.set_augmentation(config.augmentation.for_epoch(config.seed, epoch));
    let order = validation::epoch_order_of(&holdout.trained, config.seed, epoch);
    observer.epoch_started(epoch, order.len());
    let start = Instant::now();
    let totals = engine
        .train_epoch_async(&split.train, &order, config.batch_size, &mut |p| observer.progress(p))
        .await?;
    let seconds = start.elapsed().as_secs_f64();
    if let Some(step) = totals.diverged_at_step.or((!totals.loss_sum.is_finite()).then_some(0)) {
        return Err(Error::Diverged(crate::error::Divergence::Loss {
            loss: totals.loss_sum,
            epoch,
            step: (step > 0).then_some(step),
            learning_rate: config.optimizer.lr(),
            rate_to_try: rate_to_try(&config.optimizer),
            last_saved: None,
            restored: false,
        }));
    }
    // Stopped while evaluating: the epoch's steps are all done, but it is not.
    let stopped = |e: Error| match e {
        Error::InferenceInterrupted { .. } => Error::Interrupted { steps_done: totals.steps_done },
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
            let (evaluation, loss) = evaluate_with_loss_async(engine, &split.test).await.map_err(stopped)?;
            (evaluation.accuracy(), loss)
        }
    };
    let report = EpochReport {
        epoch,
        train_loss: totals.loss_sum / totals.images_done as f64,
        train_accuracy: totals.correct as f64 / totals.images_done as f64,
        test_accuracy,
        test_loss,
        validation,
        seconds,
        images_per_second: totals.images_done as f64 / seconds,
    };
    observer.epoch_finished(&report);
    Ok(report)
}
