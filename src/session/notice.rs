//! What a session tells its user that is not an error (`Notice`), and where it sends it.

use crate::Error;
use std::path::PathBuf;

/// Something a user should know that is not an error: the device actually used, a recovered
/// save. The command line prints these; a page or notebook shows them its own way.
#[derive(Debug)]
pub enum Notice {
    /// `auto` found no hardware GPU, so the CPU path runs (a software adapter is used only when
    /// asked for by name or as `gpu`).
    NoHardwareGpu,
    /// `auto` found a GPU but could not use it: the CPU path runs instead.
    GpuUnavailable(Error),
    /// Under `auto`, the GPU failed mid-run: the CPU path carries on from the last good state
    /// (the start of the training call that failed: an epoch, or a page's few steps).
    GpuFailed(crate::error::GpuError),
    /// The GPU asked for is a software adapter (lavapipe, llvmpipe, SwiftShader): it runs the
    /// kernels on the CPU, where the CPU path is faster.
    SoftwareAdapter {
        /// The adapter's name.
        name: String,
    },
    /// Resuming `model`: its last save was interrupted, so the run continues from the newer
    /// state in the optimizer file `from`.
    RecoveredSave {
        /// The model file resumed from.
        model: PathBuf,
        /// The optimizer file beside it, saved after the model file.
        from: PathBuf,
    },
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Notice::NoHardwareGpu => write!(f, "no hardware GPU found: running on the CPU path"),
            Notice::GpuUnavailable(e) => write!(f, "{e}: running on the CPU path"),
            Notice::GpuFailed(why) => {
                write!(f, "the GPU failed ({why}); continuing on the CPU path from the last good state")
            }
            Notice::SoftwareAdapter { name } => write!(
                f,
                "{name} is a software adapter: it runs the GPU kernels on this machine's CPU, where the CPU path is faster"
            ),
            Notice::RecoveredSave { model, from } => write!(
                f,
                "{}: its last save was interrupted; resuming from the newer state in {}",
                model.display(),
                from.display()
            ),
        }
    }
}

/// Where a session sends its notices.
pub type Notices = Box<dyn FnMut(Notice)>;
