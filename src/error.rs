//! The library's error type. The binary wraps it in `anyhow` for context; the library never panics
//! on bad input, it returns one of these with a message a person can act on.

use crate::collection::Collection;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A data file exists but is not what it should be (bad magic, wrong length, ...), with
    /// what to do about it when there is something.
    #[error("{}: {problem}{}", path.display(), remedy.map_or(String::new(), |r| r.to_string()))]
    BadData { path: PathBuf, problem: String, remedy: Option<Remedy> },

    /// A data set is not (or not wholly) in its directory and could not be downloaded
    /// (`reason`); `missing` names the files not there.
    #[error("{}", missing_data(dir, *collection, missing, reason, &|r| r.to_string()))]
    DataMissing { dir: PathBuf, collection: Collection, missing: Vec<String>, reason: String },

    /// Reading or writing a file failed. The I/O error is part of the message (and so not
    /// also returned as `source()`, which would make error chains print it twice).
    #[error("{}: {cause}", path.display())]
    Io { path: PathBuf, cause: std::io::Error },

    /// A network whose layers do not chain, or an unsupported layer configuration.
    #[error("invalid network: {0}")]
    Network(String),

    /// Fetching data from the network failed (no connection, bad status, checksum mismatch).
    #[error("download failed: {0}")]
    Download(String),

    /// The GPU could not be used: no adapter, a device error, a validation error.
    #[error("GPU: {0}")]
    Gpu(GpuError),

    /// Training produced a non-finite loss, or parameters that cannot be saved.
    #[error("training diverged: {0}")]
    Diverged(Divergence),

    /// Training a network at a batch size needs more memory than the machine has available.
    #[error(
        "invalid argument: training this network at batch {batch} needs about {:.1} GB of memory ({parameters} parameters, with their gradients and optimizer state, and every layer's activations), but this machine has {:.1} GB available",
        gigabytes(*needed_bytes),
        gigabytes(*available_bytes)
    )]
    NotEnoughMemory { batch: usize, parameters: usize, needed_bytes: u64, available_bytes: u64 },

    /// Something failed while doing `what` (e.g. "benchmarking CPU at batch 64").
    #[error("{what}: {cause}")]
    During { what: String, cause: Box<Error> },

    /// Training stopped early because an `Interrupt` was requested; the parameters hold the
    /// epoch's first `steps_done` steps.
    #[error("training was interrupted after {steps_done} steps of the epoch")]
    Interrupted { steps_done: usize },

    /// Inference (an evaluation, predictions) stopped early because an `Interrupt` was
    /// requested, after `images_done` images.
    #[error("stopped on request after {images_done} images")]
    InferenceInterrupted { images_done: usize },

    /// An epoch was trained but saving it failed.
    #[error("saving the model after epoch {epoch}: {cause}")]
    SaveFailed { epoch: usize, cause: Box<Error> },

    /// A new run would save over a file it did not write (another run's model, or a file that
    /// is no model): `held` says what the file holds.
    #[error(
        "{}: holds {held}; this run would replace it: save elsewhere, or allow replacing it",
        path.display()
    )]
    WouldOverwrite { path: PathBuf, held: String },

    /// A checkpoint records another network than the one asked for (each as `--arch` writes it).
    #[error("the network {given} does not match the architecture recorded in {}: {recorded}", path.display())]
    ArchitectureMismatch { path: PathBuf, given: String, recorded: String },

    /// A run cannot be resumed from a checkpoint (see `session::RunRecord::check_resume`).
    #[error("cannot resume from {}: {}", path.display(), after_path(path, &problem.to_string()))]
    CannotResume { path: PathBuf, problem: ResumeProblem },

    /// An argument out of its valid range (batch size 0, NaN learning rate, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// A figure could not be drawn (see `viz`).
    #[error("drawing the figure failed: {0}")]
    Drawing(String),
}

/// `Error::DataMissing`'s message, with the remedy worded by `words`.
pub fn missing_data(
    dir: &std::path::Path,
    collection: Collection,
    missing: &[String],
    reason: &str,
    words: &dyn Fn(Remedy) -> String,
) -> String {
    let which = match missing.len() {
        0 => String::new(),
        n if n == collection.file_total() => format!(" (none of its {} is there)", collection.files_words()),
        _ => format!(" ({} missing)", missing.join(", ")),
    };
    format!(
        "{}: {} not found here{which} and it could not be downloaded ({reason}). {}",
        dir.display(),
        collection.name(),
        words(Remedy::GetCollection(collection))
    )
}

/// What a user can do about bad or missing data. Each displays as the tail of its message in
/// plain words; the command line words it with its flags and commands instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remedy {
    /// A file cut short or corrupted: fetch it again.
    Redownload,
    /// The data directory names a file: point it at the directory of this collection's files.
    PointAtDirectory(Collection),
    /// The directory holds another collection's files: use one of this collection's.
    OtherCollection(Collection),
    /// This collection is missing: put its files there, use another directory, or download it.
    GetCollection(Collection),
    /// Not a checkpoint: give one a training run saved.
    TrainingCheckpoint,
    /// A training checkpoint's optimizer file is missing.
    OptimizerFile,
    /// Not a metrics file: the header one starts with.
    MetricsFile(&'static str),
}

impl std::fmt::Display for Remedy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Remedy::Redownload => write!(f, ": an interrupted download? delete it and get it again"),
            Remedy::PointAtDirectory(c) => write!(
                f,
                ": point the data directory (or {}) at the directory holding the {}",
                c.dir_env(),
                c.files_words()
            ),
            Remedy::OtherCollection(c) => {
                write!(f, " (use a directory of {}, e.g. through {})", c.name(), c.dir_env())
            }
            Remedy::GetCollection(c) => write!(
                f,
                "To use {}, put its {} files there, use a directory holding them (or set {}), or download it.",
                c.name(),
                c.file_count(),
                c.dir_env()
            ),
            Remedy::TrainingCheckpoint => write!(f, ": give a checkpoint a training run saved"),
            Remedy::OptimizerFile => {
                write!(f, ": resuming needs the optimizer state a training run saves beside the model")
            }
            Remedy::MetricsFile(header) => write!(f, " written by a training run (its header is {header})"),
        }
    }
}

/// Why the GPU could not be used.
#[derive(Debug, Clone, PartialEq)]
pub enum GpuError {
    /// What wgpu reported (a validation error, a failed readback, ...), in its words.
    Other(String),
    /// No adapter of the kind asked for.
    NoAdapter,
    /// An adapter index past the last adapter.
    NoSuchAdapter { index: usize, found: usize },
    /// The device went away (a driver reset, an unplugged GPU, a destroyed device).
    DeviceLost { device: String, why: String },
    /// One layer's activations for the whole batch exceed what the device can bind.
    BatchTooLarge { batch: usize, largest: usize, needed_mib: u64, device: String, binding_mib: u64 },
    /// A data set too large for one binding.
    DataTooLarge { images: usize, bytes: u64, device: String, binding_bytes: u64 },
    /// An image (of `lenet convolve`) too large for one binding.
    ImageTooLarge { bytes: usize, limit: usize },
    /// A layer the GPU's kernels do not run yet (`Layer::is_layer_by_layer_only`), described.
    LayerNotOnGpu { layer: String },
}

impl std::fmt::Display for GpuError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GpuError::Other(why) => write!(f, "{why}"),
            GpuError::NoAdapter => write!(f, "no GPU adapter found"),
            GpuError::NoSuchAdapter { index, found } => {
                write!(f, "there is no adapter {index}: wgpu found {found}")
            }
            GpuError::DeviceLost { device, why } => {
                write!(f, "the device {device} was lost ({why}): its driver reset or it went away")
            }
            GpuError::BatchTooLarge { batch, largest, needed_mib, device, binding_mib } => write!(
                f,
                "batch {batch} needs {needed_mib} MiB for one layer's activations, but {device} binds at most {binding_mib} MiB: the largest batch it can take is {largest}"
            ),
            GpuError::DataTooLarge { images, bytes, device, binding_bytes } => {
                write!(
                    f,
                    "the data set's {images} images take {}, but {device} binds at most {} (in two bindings of {})",
                    size(*bytes),
                    size(2 * binding_bytes),
                    size(*binding_bytes)
                )
            }
            GpuError::ImageTooLarge { bytes, limit } => {
                write!(f, "the image needs a {bytes}-byte buffer, over the adapter's limit of {limit}")
            }
            GpuError::LayerNotOnGpu { layer } => write!(
                f,
                "the GPU path does not run {layer} layers yet: batch norm, dropout, global pooling, GELU and residual blocks run on the CPU path only"
            ),
        }
    }
}

/// Why training diverged.
#[derive(Debug, Clone, PartialEq)]
pub enum Divergence {
    /// The loss became NaN or infinite at `step` of `epoch` (counted from 1; no step when only
    /// the epoch's total was found non-finite).
    Loss {
        loss: f64,
        epoch: usize,
        step: Option<usize>,
        learning_rate: f32,
        /// A rate to try instead: the optimizer's default when the diverging rate is above it
        /// (a tenth of a far too high rate may diverge too), else a tenth of it.
        rate_to_try: f32,
        /// Where the last good model is, and after which epoch it was saved.
        last_saved: Option<(PathBuf, usize)>,
        /// Whether the parameters and optimizer state were put back as they were before the
        /// epoch (a session does), so the model is usable and training can go on at another rate.
        restored: bool,
    },
    /// A parameter tensor holds NaN or infinity, so the model was not saved over `path`.
    Parameters { tensor: String, value: f32, path: PathBuf },
}

impl Divergence {
    /// What happened to the loss and what to try, with the rate to try worded by `rate` (its
    /// value here; a command line names the flag that sets it). Empty for `Parameters`.
    pub fn describe_loss(&self, rate: &dyn Fn(f32) -> String) -> String {
        let Divergence::Loss { loss, epoch, step, learning_rate, rate_to_try, last_saved, restored } = self
        else {
            return String::new();
        };
        let at = match step {
            Some(step) => format!("at step {step} of epoch {epoch}"),
            None => format!("in epoch {epoch}"),
        };
        let mut text = format!(
            "the loss became {loss} {at} (learning rate {learning_rate}), so training stopped: try a lower learning rate, e.g. {}",
            rate(*rate_to_try)
        );
        if *restored {
            text += &format!("; the model is back as it was before epoch {epoch}");
        }
        if let Some((path, epoch)) = last_saved {
            text += &format!("; {} still holds the model after epoch {epoch}", path.display());
        }
        text
    }
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Divergence::Loss { .. } => f.write_str(&self.describe_loss(&|rate| rate.to_string())),
            Divergence::Parameters { tensor, value, path } => write!(
                f,
                "{tensor} holds {value}, so the model was not saved ({} keeps its last good state): try a lower learning rate",
                path.display()
            ),
        }
    }
}

/// What a checkpoint's run record says against resuming it.
#[derive(Debug)]
pub enum ResumeProblem {
    /// The checkpoint or its optimizer file cannot be read.
    File(Box<Error>),
    /// It records no value for this setting (not written by a training run?).
    Unrecorded { setting: RunSetting },
    /// It was trained with another value of a setting than this run asks for.
    Mismatch { setting: RunSetting, saved: String, wanted: String },
    /// Its epoch is already the last one this run asks for.
    AlreadyDone { epoch: usize },
    /// Its learning-rate schedule (named) was drawn over `saved` epochs, and this run asks for
    /// `wanted`: a schedule shaped by the run's length cannot continue over another length.
    ScheduleLength { schedule: String, saved: usize, wanted: usize },
    /// The recorded epoch cannot be read.
    UnreadableEpoch,
    /// The model file and its optimizer file were saved by different runs (two runs saving to
    /// the same path): `model_run` and `optimizer_run` say which, e.g. "epoch 2 of run 5f3a...".
    OtherRuns { optimizer: PathBuf, model_run: String, optimizer_run: String },
}

/// The settings a resumed run must share with the saved one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunSetting {
    Architecture,
    Seed,
    BatchSize,
    Optimizer,
    Dataset,
    TrainExamples,
    Schedule,
    Warmup,
    WeightDecay,
    /// `--augment`'s.
    Augment,
    /// The validation split's size.
    Validation,
    /// The run's length in epochs: compared only when the schedule is shaped by it.
    Epochs,
}

impl RunSetting {
    /// Its key in checkpoint metadata.
    pub fn key(self) -> &'static str {
        match self {
            RunSetting::Architecture => "architecture",
            RunSetting::Seed => "seed",
            RunSetting::BatchSize => "batch_size",
            RunSetting::Optimizer => "optimizer",
            RunSetting::Dataset => "dataset",
            RunSetting::TrainExamples => "train_examples",
            RunSetting::Schedule => "schedule",
            RunSetting::Warmup => "warmup",
            RunSetting::WeightDecay => "weight_decay",
            RunSetting::Augment => "augment",
            RunSetting::Validation => "validation",
            RunSetting::Epochs => "epochs",
        }
    }

    /// Whether it describes the training data (rather than a setting of the run).
    pub fn is_data(self) -> bool {
        matches!(self, RunSetting::Dataset | RunSetting::TrainExamples)
    }
}

impl std::fmt::Display for ResumeProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResumeProblem::Unrecorded { setting } => {
                write!(f, "it records no \"{}\" (not saved by a training run?)", setting.key())
            }
            ResumeProblem::Mismatch { setting, saved, wanted } => {
                let asks = if setting.is_data() { "has" } else { "asks for" };
                write!(f, "it was trained with {} {saved}, but this run {asks} {wanted}", setting.key())
            }
            ResumeProblem::AlreadyDone { epoch } => {
                write!(f, "it has already trained {epoch} epochs; ask for more epochs in all to train more")
            }
            ResumeProblem::ScheduleLength { schedule, saved, wanted } => write!(
                f,
                "its {schedule} learning-rate schedule is drawn over {saved} epochs, but this run asks for {wanted}: a schedule shaped by the run's length continues only over the same length"
            ),
            ResumeProblem::UnreadableEpoch => write!(f, "unreadable epoch"),
            ResumeProblem::OtherRuns { optimizer, model_run, optimizer_run } => write!(
                f,
                "it and its optimizer state {} were saved by different runs (the model after {model_run}, the optimizer state after {optimizer_run}): two runs saved to the same file",
                optimizer.display()
            ),
            ResumeProblem::File(e) => write!(f, "{e}"),
        }
    }
}

fn gigabytes(bytes: u64) -> f64 {
    bytes as f64 / 1e9
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        // The system's words ("Is a directory (os error 21)") leave the user guessing which
        // argument was wrong: say it plainly.
        let cause = if source.kind() == std::io::ErrorKind::IsADirectory {
            std::io::Error::new(source.kind(), "is a directory, where a file was expected")
        } else {
            source
        };
        Error::Io { path: path.into(), cause }
    }

    /// A GPU error in wgpu's (or our) words.
    pub fn gpu(why: impl Into<String>) -> Self {
        Error::Gpu(GpuError::Other(why.into()))
    }

    pub fn bad_data(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Error::BadData { path: path.into(), problem: problem.into(), remedy: None }
    }

    /// A bad data file and what to do about it.
    pub fn bad_data_remedy(path: impl Into<PathBuf>, problem: impl Into<String>, remedy: Remedy) -> Self {
        Error::BadData { path: path.into(), problem: problem.into(), remedy: Some(remedy) }
    }
}

/// `text` without a leading "PATH: ", for a message that names `path` just before it: "cannot
/// resume from x: No such file…", not "cannot resume from x: x: No such file…".
pub fn after_path(path: &Path, text: &str) -> String {
    let prefix = format!("{}: ", path.display());
    text.strip_prefix(&prefix).unwrap_or(text).to_string()
}

/// Bytes in MiB, or in KiB below one MiB (a device with capped limits, in tests).
fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 { format!("{} MiB", bytes >> 20) } else { format!("{} KiB", bytes >> 10) }
}
