//! The library's front door: a `Session` opens an engine on a device (with `auto`'s CPU
//! fallback) for a network and its parameters, trains it step by step or epoch by epoch (saving after each,
//! resuming a saved run exactly, stopping on divergence), evaluates it, predicts with
//! probabilities, shows what it sees, and saves it to a file or to bytes. The command line, a web
//! page and a Python module are thin layers over it: it prints nothing and names no flag; what a
//! user should know comes back as typed errors and `Notice`s.

#![warn(missing_docs)]

mod advice;
#[cfg(not(target_arch = "wasm32"))]
mod blocking;
mod continue_from;
mod data;
mod device;
mod goals;
mod model_file;
mod notice;
mod recipe;
pub mod record;
mod resume;
mod saving;

pub use crate::model::optimizer::{OptimizerKind, rate_to_try};
pub use crate::train::evaluation::{softmax, top_k};
pub use advice::{CHANCE_STEPS, ChanceLevel, chance_level};
pub use continue_from::RunState;
pub use data::{DataRequest, load_data};
pub use device::set_cpu_threads;
pub use goals::{Goals, Judged, Judgement, Verdict, judged};
pub use model_file::SavedModel;
pub use notice::{Notice, Notices};
pub use recipe::Recipe;
pub use record::{DataIdentity, GivenSettings, RunRecord, RunSettings};
use resume::load_resume;
pub use resume::resume_metadata;
// What the faces use beside a session, so that they import this module alone (and the tools
// they show: `viz`, `convolve`, `bench`, `comparison`, `peak`).
#[cfg(not(target_arch = "wasm32"))]
pub use crate::gpu::list_adapters;
pub use crate::gpu::{DeviceChoice, Gpu, adapter_name_hint, list_adapters_async, parity};
pub use crate::model::optimizer::Optimizer;
pub use crate::train::config::check;
pub use crate::train::{
    EpochReport, Evaluation, Held, Interrupt, Observer, Progress, Quiet, TrainConfig, items_for,
};

use crate::data::{Dataset, Split};
use crate::error::Divergence;
use crate::model::optimizer::OptimizerState;
use crate::model::{Network, Parameters, Plan, arch};
use crate::train::{self, Engine, Epochs, LayerOutput};
use crate::{Error, Result};
use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

/// What a training session needs to know before it starts.
#[derive(Clone, Debug)]
pub struct TrainSpec {
    /// Where to run (`auto`: a hardware GPU if there is one, else the CPU path).
    pub device: DeviceChoice,
    /// The network to train.
    pub network: Network,
    /// Its `epochs` is the run's total: a resumed run trains the epochs after the saved one.
    pub config: TrainConfig,
    /// The training data the run will see (recorded in checkpoints, checked on resume).
    pub data: DataIdentity,
    /// Save here (and the optimizer state beside it) after every epoch.
    pub save_to: Option<PathBuf>,
    /// Continue the run saved in this checkpoint, which must have the same settings.
    pub resume_from: Option<PathBuf>,
    /// Let `save_to` replace a file this run did not write (another run's model). Without it
    /// that is refused before training (`Error::WouldOverwrite`).
    pub overwrite: bool,
}

/// A run in progress.
struct Run {
    config: TrainConfig,
    data: DataIdentity,
    /// Where the run stands in its epochs.
    epochs: Epochs,
    save_to: Option<PathBuf>,
    last_saved: Option<usize>,
    /// Recorded in both files of every save (see `RunRecord::run_id`).
    run_id: Option<String>,
    /// The last epoch's test accuracy and test-set size, recorded with the model (so that a
    /// run about to replace it can say what it holds, and a resumed run evaluates on as many).
    last_test: Option<(f64, usize)>,
}

/// An engine with its network, and for training, the run it is part of.
pub struct Session {
    engine: Box<dyn Engine>,
    network: Network,
    run: Option<Run>,
    /// The checkpoint metadata parameters came with (inference sessions opened from a model).
    metadata: std::collections::HashMap<String, String>,
    /// Stops training early when requested (`interrupt`).
    interrupt: Interrupt,
    /// Where it was asked to run, and who hears its notices: what a new engine for it needs.
    device: DeviceChoice,
    notices: Rc<RefCell<Notices>>,
    /// For a session opened to run a model saved from a run (`continuing_async`): that run,
    /// which training this session continues (`train_with_async`).
    carried: Option<RunState>,
}

impl Session {
    /// Opens a session that trains `spec.network`: from a seeded initialization, or from the
    /// saved run `spec.resume_from` after checking it has the same settings.
    pub async fn train_async(spec: TrainSpec, notices: Notices) -> Result<Session> {
        Session::open_training(spec, None, notices).await
    }

    /// Opens a session that trains `spec.network` from `params` (a saved model's, to fine-tune
    /// it with new settings) with a fresh optimizer, counting epochs from 1: unlike a resumed run
    /// it continues no run. `spec.resume_from` must be None.
    pub async fn train_from_async(spec: TrainSpec, params: Parameters, notices: Notices) -> Result<Session> {
        if spec.resume_from.is_some() {
            return Err(Error::InvalidArgument(
                "start from given parameters or resume a run, not both".into(),
            ));
        }
        Session::open_training(spec, Some(params), notices).await
    }

    async fn open_training(spec: TrainSpec, start: Option<Parameters>, notices: Notices) -> Result<Session> {
        let notices = Rc::new(RefCell::new(notices));
        let TrainSpec { device, network, config, data, save_to, resume_from, overwrite } = spec;
        config.validate()?;
        let plan = arch::plan_for_mnist(&network)?;
        // Where the CPU path may run, before any parameter or activation is allocated (no step
        // is bigger than the data). A GPU holds its activations in its own memory.
        if matches!(device, DeviceChoice::Cpu | DeviceChoice::Auto) {
            crate::memory::check_training(&plan, largest_step(&config, &data), &config.optimizer)?;
        }
        let record = RunRecord::new(&network, &config, &data, 0);
        // A resumed run keeps the id of the run it continues; any other run gets a new one.
        let (params, resumed, run_id) = match &resume_from {
            Some(from) => {
                let saved = load_resume(from, &record, &plan, config.epochs, &notices)?;
                (saved.params, Some((saved.optimizer, saved.epoch, saved.position)), saved.run_id)
            }
            None => match start {
                Some(params) if params.values.len() == plan.parameter_count => {
                    (params, None, Some(record::new_run_id()))
                }
                Some(_) => {
                    return Err(Error::InvalidArgument("the parameters do not match the network".into()));
                }
                None => (Parameters::init(&plan, config.seed), None, Some(record::new_run_id())),
            },
        };
        // Saving back to the file resumed from continues the run it holds (one saved before runs
        // had ids included); any other file must be empty or this run's.
        if let (Some(path), false) = (&save_to, overwrite)
            && resume_from.as_ref() != Some(path)
        {
            record::refuse_overwrite(path, run_id.as_deref())?;
        }
        let mut engine = device::open_engine(device, plan, params, config.optimizer, &notices).await?;
        let mut epochs = Epochs::after(0, true);
        if let Some((state, epoch, position)) = resumed {
            engine.set_optimizer_state(&state)?;
            epochs.resume_at(epoch, position);
        }
        let run = Run { config, data, epochs, save_to, last_saved: None, run_id, last_test: None };
        Ok(Session::new(engine, network, Some(run), Default::default(), device, notices))
    }

    /// Opens a session that only runs `model` (evaluate, predict, activations).
    pub async fn inference_async(
        device: DeviceChoice,
        model: SavedModel,
        notices: Notices,
    ) -> Result<Session> {
        let notices = Rc::new(RefCell::new(notices));
        let plan = arch::plan_for_mnist(&model.network)?;
        let engine = device::open_inference_engine(device, plan, model.params, &notices).await?;
        Ok(Session::new(engine, model.network, None, model.metadata, device, notices))
    }

    /// The network the session runs.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// The network planned: each layer's shapes and where its parameters sit.
    pub fn plan(&self) -> &Plan {
        self.engine.plan()
    }

    /// What runs the arithmetic, e.g. "CPU (2 threads)" or "GPU: llvmpipe (...)".
    pub fn device_name(&self) -> String {
        self.engine.device_name()
    }

    fn new(
        mut engine: Box<dyn Engine>,
        network: Network,
        run: Option<Run>,
        metadata: std::collections::HashMap<String, String>,
        device: DeviceChoice,
        notices: Rc<RefCell<Notices>>,
    ) -> Session {
        let interrupt = Interrupt::new();
        engine.set_interrupt(interrupt.clone());
        Session { engine, network, run, metadata, interrupt, device, notices, carried: None }
    }

    /// A handle that stops training early from anywhere (a signal handler, another thread, a
    /// page's stop button): the epoch under way ends with `Error::Interrupted`, the parameters
    /// holding every step completed, and the epoch is not counted. Clear it before training again.
    pub fn interrupt(&self) -> Interrupt {
        self.interrupt.clone()
    }

    /// Makes the session stop when `interrupt` is requested: the handle a page's stop button or
    /// a signal handler already holds, for a session that replaces another.
    pub fn set_interrupt(&mut self, interrupt: Interrupt) {
        self.engine.set_interrupt(interrupt.clone());
        self.interrupt = interrupt;
    }

    /// The test set's accuracy with every image shifted by (dx, dy) for each dx and dy in
    /// `-max..=max` (`invariance`); `progress(done, total)` after each shift.
    pub async fn evaluate_shifts_async(
        &mut self,
        data: &Dataset,
        max: usize,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<crate::invariance::ShiftGrid> {
        crate::invariance::evaluate_shifts_async(self.engine.as_mut(), data, max, progress).await
    }

    /// The engine itself, for what the session does not wrap (benchmarks, shifted evaluations).
    pub fn engine(&mut self) -> &mut dyn Engine {
        self.engine.as_mut()
    }

    /// The checkpoint metadata the session's model came with (empty for a training session).
    pub fn metadata(&self) -> &std::collections::HashMap<String, String> {
        &self.metadata
    }

    fn run(&self) -> Result<&Run> {
        self.run.as_ref().ok_or_else(inference_only)
    }

    /// Epochs trained so far in the run (the saved ones of a resumed run included).
    pub fn epochs_done(&self) -> usize {
        self.run.as_ref().map_or(0, |r| r.epochs.done())
    }

    /// The last epoch saved to the run's save path in this session, if any.
    pub fn last_saved(&self) -> Option<usize> {
        self.run.as_ref().and_then(|r| r.last_saved)
    }

    /// Whether the run has epochs left to train.
    pub fn epochs_left(&self) -> bool {
        self.run.as_ref().is_some_and(|r| r.epochs.done() < r.config.epochs)
    }

    /// The run's settings.
    pub fn config(&self) -> Option<&TrainConfig> {
        self.run.as_ref().map(|r| &r.config)
    }

    /// Trains the rest of the epoch under way (all of the next one between epochs), evaluates
    /// it on the validation split and `split.test`, and saves the run if asked to. A diverging
    /// epoch is rolled back to its start, and the error says where the last good model is. On
    /// the GPU path a page awaiting this yields to the browser at every submission's readback.
    pub async fn train_epoch_async(
        &mut self,
        split: &Split,
        observer: &mut dyn Observer,
    ) -> Result<EpochReport> {
        self.run()?;
        let run = self.run.as_mut().expect("a training run");
        let trained = run.epochs.train_epoch_async(self.engine.as_mut(), split, &run.config, observer).await;
        let report = trained.map_err(|e| with_last_saved(e, run))?;
        let epoch = report.epoch;
        run.last_test = Some((report.test_accuracy, split.test.len()));
        if let Some(path) = run.save_to.clone() {
            self.save_training_async(&path)
                .await
                .map_err(|e| Error::SaveFailed { epoch, cause: Box::new(e) })?;
            self.run.as_mut().expect("a training run").last_saved = Some(epoch);
        }
        Ok(report)
    }

    /// Trains `steps` steps from where the run stands, continuing the seeded epochs exactly:
    /// N steps and then M train as N + M at once, bit for bit, running on into the next epochs
    /// (each epoch's last batch may be smaller). An epoch whose last step is among them counts
    /// as done, neither evaluated nor saved (`train_epoch_async` does both). Interrupted, the
    /// steps trained count and the next call goes on after them; diverging, the epoch under way
    /// is rolled back to its start. Resolves to this call's totals.
    pub async fn train_steps_async(
        &mut self,
        split: &Split,
        steps: usize,
        observer: &mut dyn Observer,
    ) -> Result<Progress> {
        self.run()?;
        let run = self.run.as_mut().expect("a training run");
        let trained =
            run.epochs.train_steps_async(self.engine.as_mut(), split, &run.config, steps, observer).await;
        trained.map_err(|e| with_last_saved(e, run))
    }

    /// Makes what the run's next steps need (on a GPU its training pipelines and buffers for
    /// the run's batch size) now, so the first training call does not wait for it.
    pub fn prepare_training(&mut self) -> Result<()> {
        let run = self.run()?;
        self.engine.prepare_training(largest_step(&run.config, &run.data))
    }

    /// Changes the run's settings from its next step on, the parameters and the place in the
    /// epochs kept: a new learning rate, momentum or batch size takes effect at once (on a GPU
    /// the rate without rebuilding anything); another optimizer kind starts with a fresh state
    /// (SGD's velocity goes on under another rate or momentum, Adam's moments under another
    /// rate); another data set, seed or validation split starts the next epoch afresh on it.
    /// `config.epochs` is the run's total, which the schedules are drawn over.
    pub fn set_settings(&mut self, config: TrainConfig, data: DataIdentity) -> Result<()> {
        config.validate()?;
        let run = self.run.as_mut().ok_or_else(inference_only)?;
        if matches!(self.device, DeviceChoice::Cpu | DeviceChoice::Auto)
            && config.batch_size > run.config.batch_size
        {
            crate::memory::check_training(
                self.engine.plan(),
                largest_step(&config, &data),
                &config.optimizer,
            )?;
        }
        if config.optimizer != run.config.optimizer {
            self.engine.set_optimizer(config.optimizer)?;
            if config.optimizer.kind() != run.config.optimizer.kind() {
                let fresh = OptimizerState::new(self.engine.plan().parameter_count);
                self.engine.set_optimizer_state(&fresh)?;
            }
        }
        if data != run.data {
            run.epochs.leave_epoch();
        }
        (run.config, run.data) = (config, data);
        Ok(())
    }

    /// Leaves the epoch under way, if any: the next step starts the epoch after the last one
    /// done afresh (for data replaced in place).
    pub fn leave_epoch(&mut self) {
        if let Some(run) = &mut self.run {
            run.epochs.leave_epoch();
        }
    }

    /// `set_settings` with another learning rate alone.
    pub fn set_learning_rate(&mut self, lr: f32) -> Result<()> {
        let run = self.run()?;
        let config = TrainConfig { optimizer: run.config.optimizer.at_rate(lr), ..run.config.clone() };
        let data = run.data.clone();
        self.set_settings(config, data)
    }

    /// Examples of the next epoch trained so far (0 between epochs).
    pub fn epoch_position(&self) -> usize {
        self.run.as_ref().map_or(0, |r| r.epochs.position())
    }

    /// Trains every epoch left (see `train_epoch_async`).
    pub async fn train_all_async(
        &mut self,
        split: &Split,
        observer: &mut dyn Observer,
    ) -> Result<Vec<EpochReport>> {
        let mut reports = Vec::new();
        while self.epochs_left() {
            reports.push(self.train_epoch_async(split, observer).await?);
        }
        Ok(reports)
    }

    /// Accuracy and confusion matrix on a labelled set. Like every method here that runs a set
    /// of images, it runs it in pieces (`evaluation`), and the session's interrupt stops it
    /// between two (`Error::InferenceInterrupted`).
    pub async fn evaluate_async(&mut self, data: &Dataset) -> Result<Evaluation> {
        train::evaluate_async(self.engine.as_mut(), data).await
    }

    /// The evaluation of a labelled set with its mean cross-entropy and the logits it scored
    /// ([images, classes]).
    pub async fn evaluate_with_logits_async(
        &mut self,
        data: &Dataset,
    ) -> Result<(Evaluation, f64, Vec<f32>)> {
        crate::train::evaluation::evaluate_with_logits_async(self.engine.as_mut(), data).await
    }

    /// The network's raw outputs for every image in `data`: [images, classes], row-major.
    pub async fn logits_async(&mut self, data: &Dataset) -> Result<Vec<f32>> {
        crate::train::evaluation::logits_async(self.engine.as_mut(), data).await
    }

    /// The `k` most probable classes of every image in `data`, with their softmax probabilities,
    /// most probable first.
    pub async fn predict_top_async(&mut self, data: &Dataset, k: usize) -> Result<Vec<Vec<(usize, f64)>>> {
        let classes = self.plan().classes();
        let logits = self.logits_async(data).await?;
        Ok(logits.chunks_exact(classes).map(|row| top_k(&softmax(row), k)).collect())
    }

    /// The output of every layer `train::feature_layers` names for each image of `data`.
    pub async fn activations_async(&mut self, data: &Dataset) -> Result<Vec<LayerOutput>> {
        self.engine.activations_async(data).await
    }

    /// Replaces the parameters, the optimizer state kept: e.g. with the best epoch's, which
    /// `Goals` kept in memory.
    pub fn set_parameters(&mut self, params: &Parameters) -> Result<()> {
        self.engine.set_parameters(params)
    }

    /// A copy of the current parameters.
    pub async fn parameters_async(&self) -> Result<Parameters> {
        self.engine.parameters_async().await
    }
}

/// The most images a step of a run takes: its batch, or the whole training set when smaller.
fn largest_step(config: &TrainConfig, data: &DataIdentity) -> usize {
    config.batch_size.min(data.train_examples.max(1))
}

/// What a session opened to run a model answers when asked to train.
fn inference_only() -> Error {
    Error::InvalidArgument("this session was opened only to run a model".into())
}

/// A diverged run's error with where its last good model is saved.
fn with_last_saved(e: Error, run: &Run) -> Error {
    match e {
        Error::Diverged(Divergence::Loss {
            loss, epoch, step, learning_rate, rate_to_try, restored, ..
        }) => {
            let last_saved = run.save_to.clone().zip(run.last_saved);
            Error::Diverged(Divergence::Loss {
                loss,
                epoch,
                step,
                learning_rate,
                rate_to_try,
                last_saved,
                restored,
            })
        }
        other => other,
    }
}
