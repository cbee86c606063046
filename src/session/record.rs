//! What a training checkpoint records of the run that wrote it (`RunRecord`), as safetensors
//! metadata: enough to rebuild the network, to evaluate it on the data it was trained on, and to
//! resume the run exactly, which needs the same settings (`check_resume`).

use crate::checkpoint;
use crate::data::Normalization;
use crate::data::augment::Augmentation;
use crate::error::{ResumeProblem, RunSetting};
use crate::model::Network;
use crate::model::optimizer::{DEFAULT_MOMENTUM, Optimizer};
use crate::model::schedule::{Schedule, ScheduleKind};
use crate::session::OptimizerKind;
use crate::train::TrainConfig;
use crate::{Error, Result};
use std::collections::HashMap;
use std::path::Path;

/// The training data a run saw: its collection's key ("mnist", "fashion-mnist", or "synthetic")
/// and how many training examples it had (each epoch's shuffle depends on both).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataIdentity {
    /// The collection's key ("mnist", "synthetic", "numpy" for arrays from Python, …).
    pub dataset: String,
    /// Its training examples (the validation split included).
    pub train_examples: usize,
}

impl DataIdentity {
    /// Data from `collection` (None: synthetic digits) with `train_examples` training examples.
    pub fn of(collection: Option<crate::data::mnist::Collection>, train_examples: usize) -> DataIdentity {
        let dataset = collection.map_or("synthetic", |c| c.key()).to_string();
        DataIdentity { dataset, train_examples }
    }
}

impl DataIdentity {
    /// The training data `metadata` records, when it records it.
    pub fn recorded(metadata: &HashMap<String, String>) -> Option<DataIdentity> {
        let dataset = metadata.get(RunSetting::Dataset.key())?.clone();
        let train_examples = metadata.get(RunSetting::TrainExamples.key())?.parse().ok()?;
        Some(DataIdentity { dataset, train_examples })
    }
}

/// The settings of a run a user may leave out, each None when not given.
#[derive(Clone, Debug, Default)]
pub struct GivenSettings {
    /// The network.
    pub network: Option<Network>,
    /// The seed of initialization, shuffling, augmentation and synthetic data.
    pub seed: Option<u64>,
    /// Images per step.
    pub batch_size: Option<usize>,
    /// The optimizer's kind.
    pub optimizer: Option<OptimizerKind>,
    /// The learning rate (its kind's default when none is given or recorded).
    pub lr: Option<f32>,
    /// SGD's.
    pub momentum: Option<f32>,
    /// The run's total: with a resumed run, its recorded total when not given.
    pub epochs: Option<usize>,
    /// The learning rate's schedule.
    pub schedule: Option<ScheduleKind>,
    /// Warmup updates.
    pub warmup: Option<u64>,
    /// Weight decay.
    pub weight_decay: Option<f32>,
    /// How training images are varied.
    pub augmentation: Option<Augmentation>,
    /// Training images held out for validation.
    pub validation: Option<usize>,
}

/// A run's settings, every one decided.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSettings {
    /// The network.
    pub network: Network,
    /// The seed of initialization, shuffling, augmentation and synthetic data.
    pub seed: u64,
    /// Images per step.
    pub batch_size: usize,
    /// The optimizer with its rate (and SGD's momentum).
    pub optimizer: Optimizer,
    /// The run's epochs in all.
    pub epochs: usize,
    /// The learning rate's schedule and warmup.
    pub schedule: Schedule,
    /// Weight decay.
    pub weight_decay: f32,
    /// How training images are varied.
    pub augmentation: Augmentation,
    /// Training images held out for validation.
    pub validation: usize,
}

impl RunSettings {
    /// What the training loop needs of them (all but the network).
    pub fn config(&self) -> TrainConfig {
        TrainConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            optimizer: self.optimizer,
            seed: self.seed,
            schedule: self.schedule,
            weight_decay: self.weight_decay,
            augmentation: self.augmentation,
            validation: self.validation,
        }
    }
}

impl GivenSettings {
    /// These settings, with `fallback`'s wherever these have none (a recipe's, the last run's).
    /// A learning rate belongs to its optimizer: `fallback`'s is taken only with its optimizer.
    pub fn or(self, fallback: GivenSettings) -> GivenSettings {
        let same_optimizer = self.optimizer.is_none_or(|o| Some(o) == fallback.optimizer);
        GivenSettings {
            network: self.network.or(fallback.network),
            seed: self.seed.or(fallback.seed),
            batch_size: self.batch_size.or(fallback.batch_size),
            lr: self.lr.or(if same_optimizer { fallback.lr } else { None }),
            optimizer: self.optimizer.or(fallback.optimizer),
            momentum: self.momentum.or(fallback.momentum),
            epochs: self.epochs.or(fallback.epochs),
            schedule: self.schedule.or(fallback.schedule),
            warmup: self.warmup.or(fallback.warmup),
            weight_decay: self.weight_decay.or(fallback.weight_decay),
            augmentation: self.augmentation.or(fallback.augmentation),
            validation: self.validation.or(fallback.validation),
        }
    }

    /// The settings of a run: those given; for the others, those the run being resumed records
    /// in `recorded` (its checkpoint's metadata; `path` names it), so that a resumed run continues
    /// with its own settings unless told otherwise (its total of epochs too); else the defaults
    /// (LeNet-5, seed 1, batch 64, SGD with momentum 0.9 at its default rate, 1 epoch, a constant
    /// rate without warmup, no weight decay, no augmentation, no validation split). A learning rate or momentum is taken from the
    /// record only for the optimizer it records. Given settings that contradict the record are
    /// left for the resume to refuse (`RunRecord::check_resume`).
    pub fn complete(self, recorded: Option<(&HashMap<String, String>, &Path)>) -> RunSettings {
        let metadata = recorded.map(|(m, _)| m);
        let get = |setting: RunSetting| metadata.and_then(|m| m.get(setting.key()));
        let saved_optimizer =
            get(RunSetting::Optimizer).and_then(|text| checkpoint::parse_optimizer_description(text));
        let kind_of = Optimizer::kind;
        let defaults = TrainConfig::default();
        let kind =
            self.optimizer.or(saved_optimizer.as_ref().map(kind_of)).unwrap_or(defaults.optimizer.kind());
        let same = saved_optimizer.filter(|o| kind_of(o) == kind);
        let lr = self.lr.or(same.map(|o| o.lr()));
        let saved_momentum = match same {
            Some(Optimizer::Sgd { momentum, .. }) => Some(momentum),
            _ => None,
        };
        let momentum = self.momentum.or(saved_momentum).unwrap_or(DEFAULT_MOMENTUM);
        let saved_network = recorded.and_then(|(m, path)| checkpoint::network_in(m, path).ok().flatten());
        fn parsed<T: std::str::FromStr>(
            metadata: Option<&HashMap<String, String>>,
            setting: RunSetting,
        ) -> Option<T> {
            metadata.and_then(|m| m.get(setting.key())).and_then(|s| s.parse().ok())
        }
        let schedule = Schedule {
            kind: self.schedule.or(parsed(metadata, RunSetting::Schedule)).unwrap_or_default(),
            warmup: self.warmup.or(parsed(metadata, RunSetting::Warmup)).unwrap_or(0),
        };
        RunSettings {
            network: self.network.or(saved_network).unwrap_or_else(Network::lenet5),
            seed: self.seed.or(get(RunSetting::Seed).and_then(|s| s.parse().ok())).unwrap_or(defaults.seed),
            batch_size: self
                .batch_size
                .or(get(RunSetting::BatchSize).and_then(|s| s.parse().ok()))
                .unwrap_or(defaults.batch_size),
            optimizer: kind.with(lr, momentum),
            epochs: self.epochs.or(parsed(metadata, RunSetting::Epochs)).unwrap_or(defaults.epochs),
            schedule,
            weight_decay: self
                .weight_decay
                .or(parsed(metadata, RunSetting::WeightDecay))
                .unwrap_or(defaults.weight_decay),
            augmentation: self.augmentation.or(parsed(metadata, RunSetting::Augment)).unwrap_or_default(),
            validation: self
                .validation
                .or(parsed(metadata, RunSetting::Validation))
                .unwrap_or(defaults.validation),
        }
    }
}

/// One training run as a checkpoint records it.
#[derive(Clone, Debug)]
pub struct RunRecord {
    /// The network trained.
    pub network: Network,
    /// The data it trained on.
    pub data: DataIdentity,
    /// The last epoch trained (counted from 1).
    pub epoch: usize,
    /// Examples of the epoch after it trained so far (0 between epochs): a run saved between two
    /// steps (a page's, an interrupted notebook's) goes on after them.
    pub position: usize,
    /// The run's seed.
    pub seed: u64,
    /// Images per step.
    pub batch_size: usize,
    /// The optimizer with its rate (and SGD's momentum).
    pub optimizer: Optimizer,
    /// The epochs the run was asked for in all.
    pub epochs: usize,
    /// The learning rate's schedule and warmup.
    pub schedule: Schedule,
    /// Weight decay.
    pub weight_decay: f32,
    /// How training images are varied.
    pub augmentation: Augmentation,
    /// Training images held out for validation.
    pub validation: usize,
    /// What tells this run's files from another's saved to the same path (`new_run_id`); None
    /// for runs saved before runs had one, and runs continuing them.
    pub run_id: Option<String>,
}

impl RunRecord {
    /// A record of `config`'s run of `network` on `data` after `epoch` epochs.
    pub fn new(network: &Network, config: &TrainConfig, data: &DataIdentity, epoch: usize) -> RunRecord {
        RunRecord {
            network: network.clone(),
            data: data.clone(),
            epoch,
            position: 0,
            seed: config.seed,
            batch_size: config.batch_size,
            optimizer: config.optimizer,
            epochs: config.epochs,
            schedule: config.schedule,
            weight_decay: config.weight_decay,
            augmentation: config.augmentation,
            validation: config.validation,
            run_id: None,
        }
    }

    /// The checkpoint metadata: the keys `lenet train --save` has always written, the run's
    /// length, schedule and weight decay, and the run id (`RUN_ID`) when there is one.
    pub fn to_metadata(&self) -> HashMap<String, String> {
        let mut metadata = HashMap::from([
            ("dataset".to_string(), self.data.dataset.clone()),
            ("train_examples".to_string(), self.data.train_examples.to_string()),
            ("format".to_string(), "pt".to_string()),
            ("architecture".to_string(), self.network.layers_string()),
            ("input".to_string(), self.network.input.to_string()),
            (
                "normalization".to_string(),
                Normalization::for_channels(self.network.input.channels).describe(),
            ),
            ("epoch".to_string(), self.epoch.to_string()),
            ("seed".to_string(), self.seed.to_string()),
            ("batch_size".to_string(), self.batch_size.to_string()),
            ("optimizer".to_string(), checkpoint::describe_optimizer(&self.optimizer)),
            (RunSetting::Epochs.key().to_string(), self.epochs.to_string()),
        ]);
        for (setting, value) in self.schedule_settings() {
            metadata.insert(setting.key().to_string(), value);
        }
        if let Some(id) = &self.run_id {
            metadata.insert(RUN_ID.to_string(), id.clone());
        }
        if self.position > 0 {
            metadata.insert(POSITION.to_string(), self.position.to_string());
        }
        metadata
    }

    /// The settings compared on resume, as the metadata writes them, each with the value this
    /// record has. Settings first (so a run of another network is named as such rather than as
    /// tensors of the wrong size), then the data.
    fn settings(&self) -> [(RunSetting, String); 6] {
        [
            (RunSetting::Architecture, self.network.layers_string()),
            (RunSetting::Seed, self.seed.to_string()),
            (RunSetting::BatchSize, self.batch_size.to_string()),
            (RunSetting::Optimizer, checkpoint::describe_optimizer(&self.optimizer)),
            (RunSetting::Dataset, self.data.dataset.clone()),
            (RunSetting::TrainExamples, self.data.train_examples.to_string()),
        ]
    }

    /// The settings checkpoints did not always record: the schedule's, the weight decay, the
    /// augmentation and the validation split, as the metadata writes them.
    fn schedule_settings(&self) -> [(RunSetting, String); 5] {
        [
            (RunSetting::Schedule, self.schedule.kind.name().to_string()),
            (RunSetting::Warmup, self.schedule.warmup.to_string()),
            (RunSetting::WeightDecay, self.weight_decay.to_string()),
            (RunSetting::Augment, self.augmentation.to_string()),
            (RunSetting::Validation, self.validation.to_string()),
        ]
    }

    /// Whether the run saved with `metadata` (at `path`, for messages) can be continued by this
    /// one: the same network, seed, batch size, optimizer, schedule, weight decay, augmentation,
    /// validation split and training data, and, for a schedule shaped by the run's length, the
    /// same number of epochs. Checkpoints from before the data was recorded are taken on trust
    /// for it; those from before schedules (or augmentation, or validation splits), as runs at a
    /// constant rate without weight decay (augmentation, a validation split).
    pub fn check_resume(&self, metadata: &HashMap<String, String>, path: &Path) -> Result<()> {
        // A checkpoint from before schedules trained at a constant rate without weight decay.
        let unscheduled = RunRecord {
            schedule: Schedule::default(),
            weight_decay: 0.0,
            augmentation: Augmentation::default(),
            validation: 0,
            ..self.clone()
        }
        .schedule_settings();
        let before_schedules =
            |setting: RunSetting| unscheduled.iter().find(|(s, _)| *s == setting).map(|(_, v)| v.clone());
        for (setting, wanted) in self.settings().into_iter().chain(self.schedule_settings()) {
            let saved = match metadata.get(setting.key()).cloned().or_else(|| before_schedules(setting)) {
                Some(saved) => saved,
                None if setting.is_data() => continue,
                None => return Err(cannot_resume(path, ResumeProblem::Unrecorded { setting })),
            };
            if saved != wanted {
                let problem = ResumeProblem::Mismatch { setting, saved, wanted };
                return Err(cannot_resume(path, problem));
            }
        }
        if self.schedule.shaped_by_length() {
            let setting = RunSetting::Epochs;
            let saved: usize = metadata
                .get(setting.key())
                .and_then(|e| e.parse().ok())
                .ok_or_else(|| cannot_resume(path, ResumeProblem::Unrecorded { setting }))?;
            if saved != self.epochs {
                let schedule = self.schedule.kind.name().to_string();
                let problem = ResumeProblem::ScheduleLength { schedule, saved, wanted: self.epochs };
                return Err(cannot_resume(path, problem));
            }
        }
        Ok(())
    }
}

pub use crate::checkpoint::RUN_ID;

/// A fresh run id: 16 hex digits from the time, the process and a per-process count, hashed with
/// std's randomly keyed hasher. Two runs writing the same file get different ones.
pub fn new_run_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let now = web_time::SystemTime::now().duration_since(web_time::UNIX_EPOCH).unwrap_or_default();
    hasher.write_u128(now.as_nanos());
    #[cfg(not(target_arch = "wasm32"))]
    hasher.write_u32(std::process::id());
    hasher.write_u64(COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    format!("{:016x}", hasher.finish())
}

/// The last epoch a saved run (its `metadata`, from `path`) trained, when a run of `epochs` in
/// all can continue it: an error when it has already trained them all.
pub fn resumable_epoch(metadata: &HashMap<String, String>, path: &Path, epochs: usize) -> Result<usize> {
    let epoch =
        recorded_epoch(metadata).ok_or_else(|| cannot_resume(path, ResumeProblem::UnreadableEpoch))?;
    if epoch >= epochs {
        return Err(cannot_resume(path, ResumeProblem::AlreadyDone { epoch }));
    }
    Ok(epoch)
}

fn cannot_resume(path: &Path, problem: ResumeProblem) -> Error {
    Error::CannotResume { path: path.to_path_buf(), problem }
}

/// The metadata key of the last epoch's test accuracy (a fraction).
pub const TEST_ACCURACY: &str = "test_accuracy";
/// The metadata key of the last epoch's test-set size.
pub const TEST_EXAMPLES: &str = "test_examples";

/// Refuses to let the run `run_id` save to `path` when `path` is a file it did not write: another
/// run's model (named by its epoch and test accuracy) or a file that is no model. An empty file,
/// a device (`/dev/null`), a missing file and this run's own model are fine.
pub fn refuse_overwrite(path: &Path, run_id: Option<&str>) -> Result<()> {
    let Ok(meta) = std::fs::metadata(path) else { return Ok(()) };
    if !meta.is_file() || meta.len() == 0 {
        return Ok(());
    }
    let held = match checkpoint::read_metadata(path) {
        Ok(m) if run_id.is_some() && m.get(RUN_ID).map(String::as_str) == run_id => return Ok(()),
        Ok(m) => {
            let epoch = recorded_epoch(&m).map_or(String::new(), |e| format!(", saved after epoch {e}"));
            let accuracy = m
                .get(TEST_ACCURACY)
                .and_then(|a| a.parse::<f64>().ok())
                .map_or(String::new(), |a| format!(" with {:.2}% test accuracy", a * 100.0));
            format!("the model of another run{epoch}{accuracy}")
        }
        Err(_) => "a file that is not a model of this run".to_string(),
    };
    Err(Error::WouldOverwrite { path: path.to_path_buf(), held })
}

/// The metadata key of `RunRecord::position`, written only when it is not 0.
pub const POSITION: &str = "epoch_position";

/// Examples of the epoch after the last one trained that a checkpoint's metadata records (0 when
/// it records none: saved between epochs).
pub fn recorded_position(metadata: &HashMap<String, String>) -> usize {
    metadata.get(POSITION).and_then(|p| p.parse().ok()).unwrap_or(0)
}

/// The epoch a checkpoint's metadata records, if readable.
pub fn recorded_epoch(metadata: &HashMap<String, String>) -> Option<usize> {
    metadata.get("epoch").and_then(|e| e.parse().ok())
}
