//! lenet-gpu: a training engine for convolutional networks, with a CPU path (the reference and the
//! fallback) and a GPU path through wgpu compute shaders.

pub mod bench;
pub mod checkpoint;
pub mod convolve;
pub mod cpu;
pub mod data;
pub mod error;
pub mod fallback;
pub mod gpu;
pub mod invariance;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod rng;
pub mod train;
#[cfg(feature = "pictures")]
pub mod viz;

pub use error::{Error, Result};
