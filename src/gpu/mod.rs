//! The GPU path: wgpu compute shaders from `shaders/`, with everything a training step needs
//! resident on the GPU.

pub mod context;
pub mod engine;
pub mod kernels;
pub mod ops;

pub use context::{AdapterSummary, DeviceChoice, Gpu, list_adapters, list_adapters_async};
pub use kernels::Activation;
