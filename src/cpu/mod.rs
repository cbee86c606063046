//! The CPU path: every operation of a training step, forward and backward side by side, one file
//! per op family. Each file's GPU twin is `shaders/<same name>.wgsl`. These functions are the
//! reference the GPU kernels are tested against, and the fallback when no GPU exists.
//!
//! Conventions: tensors are row-major `f32` slices in NCHW order; a `*Shape` struct carries the
//! batch size and geometry; backward functions overwrite (never accumulate into) their gradient
//! outputs; work is parallel over the batch, and every reduction over the batch runs in a fixed
//! order so results do not depend on the number of threads.

pub mod activation;
pub mod batchnorm;
pub mod blocked_gemm;
pub mod chunked;
pub mod conv;
mod conv_direct;
pub mod dense;
pub mod dropout;
pub mod engine;
pub mod gemm;
pub mod isa;
pub mod loss;
pub mod network;
pub mod optimizer;
pub mod pool;

/// Images per chunk when summing weight gradients over a batch: partial sums per chunk, then the
/// chunks in order. Fixed, so the sum's rounding does not depend on the thread count.
pub(crate) const GRAD_CHUNK: usize = 8;
