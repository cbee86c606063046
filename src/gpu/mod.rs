//! The GPU path: wgpu compute shaders from `shaders/`, with everything a training step needs
//! resident on the GPU.

pub mod context;
pub mod engine;
pub mod kernels;
pub mod ops;
pub mod parity;
pub mod readback;

#[cfg(not(target_arch = "wasm32"))]
pub use context::list_adapters;
pub use context::{AdapterSummary, DeviceChoice, Gpu, list_adapters_async};
pub use kernels::Activation;
