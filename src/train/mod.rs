//! The training loop both paths share: epochs, shuffling, evaluation, and progress reporting.
//! An `Engine` does the arithmetic (the CPU path here, the GPU path in `gpu`); this module
//! decides what to run and measures it.

pub mod config;
mod epochs;
pub mod evaluation;
pub mod validation;

pub use self::evaluation::{Evaluation, evaluate_async, evaluate_with_loss_async};
#[cfg(not(target_arch = "wasm32"))]
pub use self::evaluation::{evaluate, evaluate_with_loss};
use crate::data::Dataset;
#[cfg(not(target_arch = "wasm32"))]
use crate::data::Split;
use crate::data::augment::EpochShift;
pub use crate::interrupt::Interrupt;
use crate::model::optimizer::{Optimizer, OptimizerState};
pub use crate::model::schedule::UpdateRule;
use crate::model::{Parameters, Plan};
use crate::rng::Rng;
use crate::{Error, Result};
pub use config::TrainConfig;
pub use epochs::{Epochs, fit_async, train_epoch_async};
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;

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
    /// The first step (counted from 1 in the engine's call) whose loss was NaN or infinite, if any: the
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

    /// Trains on the examples at positions `examples` of the epoch that visits `data` in the
    /// order given, in batches of `batch_size` from `examples.start` (the last may be smaller),
    /// each image shifted as its position in the whole epoch says (`set_augmentation`). So
    /// positions `0..n` then `n..m` (n a multiple of the batch) train exactly as `0..m` at once.
    /// Calls `progress` after each step with this call's totals so far (the GPU path in bursts,
    /// as each submission's figures come back) and resolves to the final ones.
    fn train_steps_async<'a>(
        &'a mut self,
        data: &'a Dataset,
        order: &'a [u32],
        examples: Range<usize>,
        batch_size: usize,
        progress: &'a mut dyn FnMut(Progress),
    ) -> EngineFuture<'a, Progress>;

    /// Trains on every example of the epoch that visits `data` in the order given (see
    /// `train_steps_async`).
    fn train_epoch_async<'a>(
        &'a mut self,
        data: &'a Dataset,
        order: &'a [u32],
        batch_size: usize,
        progress: &'a mut dyn FnMut(Progress),
    ) -> EngineFuture<'a, Progress> {
        self.train_steps_async(data, order, 0..order.len(), batch_size, progress)
    }

    /// Makes what training at `batch_size` needs (the GPU path's pipelines and batch buffers,
    /// the CPU path's workspace) now rather than in the first step, e.g. while a page loads.
    /// Changes no parameter; training builds anything still missing itself.
    fn prepare_training(&mut self, _batch_size: usize) -> Result<()> {
        Ok(())
    }

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

    /// Replaces the optimizer's settings for the updates to come, keeping its state (moments
    /// and update count; the caller resets them for another kind). A new learning rate costs
    /// nothing (each step's rate is data); on the GPU path other settings rebuild the training
    /// pipelines, which hold them as constants. Never waits.
    fn set_optimizer(&mut self, optimizer: Optimizer) -> Result<()>;

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

    /// Sets the key of the epochs to come's dropout masks (`dropout_key`): a dropout layer's
    /// mask in a step is a hash of it, the step's first position in the epoch and the layer.
    /// Engines whose networks have no dropout ignore it.
    fn set_dropout_key(&mut self, _key: u32) {}

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

    /// `train_steps_async`, waiting for it (native only).
    #[cfg(not(target_arch = "wasm32"))]
    fn train_steps(
        &mut self,
        data: &Dataset,
        order: &[u32],
        examples: Range<usize>,
        batch_size: usize,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Progress> {
        pollster::block_on(self.train_steps_async(data, order, examples, batch_size, progress))
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

/// The steps an epoch of `examples` takes in batches of `batch_size` (the last may be smaller).
pub fn steps_in(examples: usize, batch_size: usize) -> usize {
    examples.div_ceil(batch_size.max(1))
}

/// The checks every `Engine::train_steps` makes before it trains: a batch of at least one, an
/// order that names only examples the data set has, and positions within it.
pub fn check_epoch(data: &Dataset, order: &[u32], examples: &Range<usize>, batch_size: usize) -> Result<()> {
    if batch_size == 0 {
        return Err(Error::InvalidArgument("batch size must be at least 1".into()));
    }
    if order.iter().any(|&i| i as usize >= data.len()) {
        return Err(Error::InvalidArgument("the epoch's order names an example the data set lacks".into()));
    }
    if examples.start > examples.end || examples.end > order.len() {
        return Err(Error::InvalidArgument(format!(
            "positions {}..{} asked of an epoch of {} examples",
            examples.start,
            examples.end,
            order.len()
        )));
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

// Sizing a piece of work to a time budget from how long the last piece took: the GPU path's
// submissions (about 0.1 s of GPU work each), inference's pieces and a web page's slices of CPU
// work (a fraction of a frame) follow the same rule.

/// How much a piece may grow over the one it is sized from (a shrink is taken at once).
pub const MAX_GROWTH: usize = 4;

/// Items (steps, images) for the next piece to take about `target_seconds`, given that the last
/// `done` items took `seconds`; at most `MAX_GROWTH` times `grow_from`, and at least 1. A time too
/// short to measure grows by the most allowed.
pub fn items_for(target_seconds: f64, done: usize, seconds: f64, grow_from: usize) -> usize {
    let most = grow_from.saturating_mul(MAX_GROWTH).max(1);
    if !(seconds.is_finite() && seconds > 0.0) {
        return most;
    }
    let per_item = seconds / done.max(1) as f64;
    ((target_seconds / per_item).round() as usize).clamp(1, most)
}
