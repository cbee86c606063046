//! `Blocking`: how the conv and dense kernels split their work, chosen per device.

use crate::{Error, Result};

/// How much of a result one invocation of the conv and dense kernels computes.
///
/// `Blocked`: a block of channels and columns, or a tile (register blocking: each value loaded
/// serves several multiply-adds), in few long invocations: what a CPU-like software adapter
/// (lavapipe, llvmpipe, SwiftShader) runs fastest, one invocation per SIMD lane. `Fine`: one value
/// per invocation, in many short ones, and 256 threads per weight-gradient sum: a GPU hides memory
/// latency by switching between thousands of invocations. On an H200 the blocked kernels left it
/// idle (conv1's weight gradient was 10 workgroups of 64 threads for 132 compute units) and took
/// 6 ms a step. Both give the same sums in the same order except the weight-gradient reductions'
/// tree, so within the parity tolerance of each other and of the CPU path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocking {
    Blocked,
    Fine,
}

impl Blocking {
    /// The variable that overrides the choice by adapter, for benchmarks and tests:
    /// `blocked` or `fine`.
    pub const VARIABLE: &'static str = "LENET_GPU_BLOCKING";

    /// Makes the devices opened from now on use `blocking` (None: choose by adapter again), for a
    /// caller who knows the adapter better than wgpu tells: in a browser wgpu leaves the
    /// adapter's name empty, and the page asks the browser for it.
    pub fn prefer(blocking: Option<Blocking>) {
        let code = match blocking {
            None => 0,
            Some(Blocking::Blocked) => 1,
            Some(Blocking::Fine) => 2,
        };
        PREFERRED.store(code, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether a training step runs a convolution and the pool after it as one kernel, and a
    /// convolution's weight and input gradients as one: on a GPU. On a software adapter both ran
    /// slower fused than as two dispatches each (ARCHITECTURE.md, "On a software adapter").
    pub(crate) fn fuses_convolutions(self) -> bool {
        self == Blocking::Fine
    }

    /// `LENET_GPU_BLOCKING` if set, else what `prefer` said, else `Blocked` on a software
    /// adapter and `Fine` on a GPU.
    pub(crate) fn for_adapter(software: bool) -> Result<Blocking> {
        let preferred = match PREFERRED.load(std::sync::atomic::Ordering::Relaxed) {
            1 => Some(Blocking::Blocked),
            2 => Some(Blocking::Fine),
            _ => None,
        };
        match std::env::var(Blocking::VARIABLE).ok().as_deref() {
            None | Some("") => {
                Ok(preferred.unwrap_or(if software { Blocking::Blocked } else { Blocking::Fine }))
            }
            Some("blocked") => Ok(Blocking::Blocked),
            Some("fine") => Ok(Blocking::Fine),
            Some(other) => Err(Error::gpu(format!(
                "{}={other}: give `blocked` or `fine`, or leave it unset to choose by adapter",
                Blocking::VARIABLE
            ))),
        }
    }
}

/// `Blocking::prefer`'s choice: 0 none, 1 blocked, 2 fine.
static PREFERRED: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);
