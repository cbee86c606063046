//! The GPU path: wgpu compute shaders from `shaders/`, with everything a training step needs
//! resident on the GPU.

pub mod context;
pub mod engine;
#[cfg(not(target_arch = "wasm32"))]
pub use engine::KernelTiming;
pub mod kernels;
pub mod ops;
pub mod parity;
pub mod readback;

#[cfg(not(target_arch = "wasm32"))]
pub use context::list_adapters;
pub use context::{AdapterSummary, DeviceChoice, Gpu, list_adapters_async};
pub use kernels::Activation;

/// For a caller who knows the adapter better than wgpu tells (in a browser wgpu leaves its name
/// empty, and a page asks the browser): given its `name`, the devices opened from now on choose
/// the kernels that suit it (a software adapter's, `kernels::Blocking`). Whether it names a
/// software adapter.
pub fn adapter_name_hint(name: &str) -> bool {
    let software = context::is_software_name(name);
    if software {
        kernels::Blocking::prefer(Some(kernels::Blocking::Blocked));
    }
    software
}
