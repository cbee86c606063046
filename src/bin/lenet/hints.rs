//! The library's errors and notices as the command line words them: the same facts, plus the
//! flag or command that changes them (the library names none).

use lenet_gpu::Error;
use lenet_gpu::data::mnist::{Collection, DataNotice};
use lenet_gpu::error::{Divergence, GpuError, Remedy, ResumeProblem, RunSetting};
use lenet_gpu::session::Notice;

/// An error and its context, outermost first, joined by ": " (as anyhow's `{:#}` would), with
/// the library's errors worded by `error`.
pub fn explain(e: &anyhow::Error) -> String {
    let parts: Vec<String> = e
        .chain()
        .map(|cause| match cause.downcast_ref::<Error>() {
            Some(e) => error(e),
            None => cause.to_string(),
        })
        .collect();
    parts.join(": ")
}

/// One library error, with the flags that change what went wrong.
pub fn error(e: &Error) -> String {
    match e {
        Error::Diverged(d @ Divergence::Loss { .. }) => {
            // The process ends here: what the session put back in memory is no use to say.
            let mut d = d.clone();
            if let Divergence::Loss { restored, .. } = &mut d {
                *restored = false;
            }
            format!("training diverged: {}", d.describe_loss(&|rate| format!("--lr {rate}")))
        }
        Error::Diverged(Divergence::Parameters { tensor, value, path }) => format!(
            "training diverged: {tensor} holds {value}, so the model was not saved ({} keeps its last good state): try a lower learning rate (--lr)",
            path.display()
        ),
        Error::During { what, cause } => format!("{what}: {}", error(cause)),
        Error::SaveFailed { epoch, cause } => {
            format!("saving the model after epoch {epoch}: {}", error(cause))
        }
        Error::NotEnoughMemory { .. } => format!("{e}: use a smaller --arch or --batch-size"),
        Error::ArchitectureMismatch { path, given, recorded } => format!(
            "--arch {given} does not match the architecture recorded in {}: {recorded} (leave out --arch to use the checkpoint's)",
            path.display()
        ),
        Error::CannotResume { path, problem } => {
            let why = match problem {
                ResumeProblem::Unrecorded { setting } => {
                    format!("it records no \"{}\" (not saved by `lenet train --save`?)", setting.key())
                }
                ResumeProblem::Mismatch { setting, .. } => {
                    format!("{problem} (resuming needs the same {} as the saved run)", resume_flags(*setting))
                }
                ResumeProblem::ScheduleLength { saved, .. } => format!(
                    "{problem}: pass --epochs {saved} to finish it (or leave --epochs out), or start a new run"
                ),
                ResumeProblem::AlreadyDone { epoch } => format!(
                    "it has already trained {epoch} epochs; pass --epochs with a larger total to train more"
                ),
                ResumeProblem::File(e) => lenet_gpu::error::after_path(path, &error(e)),
                ResumeProblem::UnreadableEpoch => problem.to_string(),
                ResumeProblem::OtherRuns { .. } => format!(
                    "{problem}; --init {} starts from its model's parameters with a fresh optimizer",
                    path.display()
                ),
            };
            format!("cannot resume from {}: {why}", path.display())
        }
        Error::WouldOverwrite { path, held } => format!(
            "{}: holds {held}; --overwrite replaces it, --resume {} continues that run, or --save another file",
            path.display(),
            path.display()
        ),
        Error::Gpu(e) => format!("GPU: {}", gpu(e)),
        Error::BadData { path, problem, remedy: Some(remedy) } => {
            format!("{}: {problem}{}", path.display(), remedy_words(*remedy))
        }
        Error::DataMissing { dir, collection, missing, reason } => {
            lenet_gpu::error::missing_data(dir, *collection, missing, reason, &remedy_words)
        }
        other => other.to_string(),
    }
}

/// What to do about bad or missing data, with the flags and commands that do it.
fn remedy_words(remedy: Remedy) -> String {
    match remedy {
        Remedy::Redownload => {
            ": an interrupted download? delete it and get it again (`lenet download`)".into()
        }
        Remedy::PointAtDirectory(c) => format!(
            ": point --data-dir (or {}) at the directory holding the {}",
            c.dir_env(),
            c.files_words()
        ),
        Remedy::OtherCollection(c) => {
            format!(" (point --data-dir or {} at a directory of {})", c.dir_env(), c.name())
        }
        Remedy::GetCollection(c) => {
            let download = match c {
                Collection::Mnist => "`lenet download`".to_string(),
                _ => format!("`lenet download --dataset {}`", c.key()),
            };
            format!(
                "To use {}, put its {} files there, point --data-dir or {} at a directory holding them, or run {download}.",
                c.name(),
                c.file_count(),
                c.dir_env()
            )
        }
        Remedy::TrainingCheckpoint => ": give a file written by `lenet train --save`".into(),
        Remedy::OptimizerFile => {
            ": resuming needs the optimizer state that `lenet train --save` writes beside the model".into()
        }
        Remedy::MetricsFile(header) => format!(" of `lenet train --metrics` (its header is {header})"),
    }
}

/// A data notice, with the flags and commands that get the data asked for.
pub fn data_notice(notice: &DataNotice) -> String {
    notice.describe(&remedy_words)
}

/// A GPU error, with what to do about it.
fn gpu(e: &GpuError) -> String {
    match e {
        GpuError::NoAdapter => {
            format!(
                "{e} (see `lenet devices`): use --device cpu, or --device auto to fall back to the CPU path"
            )
        }
        GpuError::NoSuchAdapter { .. } => format!("{e} (see `lenet devices`)"),
        GpuError::DeviceLost { .. } => format!("{e}; run again, or use --device cpu"),
        GpuError::BatchTooLarge { largest, .. } => format!("{e} (--batch-size {largest})"),
        GpuError::DataTooLarge { .. } => {
            format!("{e}: use fewer (--limit-train, --limit-test) or --device cpu")
        }
        GpuError::ImageTooLarge { .. } => format!("{e} (use --device cpu)"),
        GpuError::LayerNotOnGpu { .. } => format!("{e} (use --device cpu or auto)"),
        GpuError::Other(_) => e.to_string(),
    }
}

/// The flags that set what a resumed run must share with the saved one.
fn resume_flags(setting: RunSetting) -> &'static str {
    match setting {
        RunSetting::Architecture => "--arch",
        RunSetting::Seed => "--seed",
        RunSetting::BatchSize => "--batch-size",
        RunSetting::Optimizer => "--optimizer/--lr/--momentum",
        RunSetting::Dataset | RunSetting::TrainExamples => "--dataset and --limit-train",
        RunSetting::Schedule => "--schedule",
        RunSetting::Warmup => "--warmup",
        RunSetting::WeightDecay => "--weight-decay",
        RunSetting::Augment => "--augment",
        RunSetting::Validation => "--validation",
        RunSetting::Epochs => "--epochs",
    }
}

/// Prints a notice of the library on standard error.
pub fn notice(notice: Notice) {
    let line = match notice {
        Notice::NoHardwareGpu => {
            format!("{notice} (--device gpu accepts a software adapter such as lavapipe)")
        }
        // The remedy is what happens: no hint.
        Notice::GpuUnavailable(Error::Gpu(e @ GpuError::LayerNotOnGpu { .. })) => {
            format!("{e}: running on the CPU path")
        }
        Notice::GpuUnavailable(e) => format!("{}: running on the CPU path", error(&e)),
        Notice::GpuFailed(e) => {
            format!("the GPU failed ({}); continuing on the CPU path from the last good state", gpu(&e))
        }
        Notice::SoftwareAdapter { .. } => format!("note: {notice} (--device cpu)"),
        other => other.to_string(),
    };
    eprintln!("{line}");
}

/// `--device`: the library's parse, and on a value it does not take (`cuda`, `metal`, …) what it
/// takes and how to pick a GPU API.
pub fn parse_device(text: &str) -> Result<lenet_gpu::session::DeviceChoice, String> {
    text.parse().map_err(|_: String| {
        "not a device: --device takes auto, cpu, gpu or an adapter index from `lenet devices`; wgpu picks the GPU API itself (Vulkan, Metal, DX12, GL; on an NVIDIA card Vulkan, as it has no CUDA backend), and WGPU_BACKEND=vulkan|metal|dx12|gl narrows it".to_string()
    })
}
