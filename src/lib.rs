//! lenet-gpu: a training engine for convolutional networks, with a CPU path (the reference and the
//! fallback) and a GPU path through wgpu compute shaders.

/// The README's library example, compiled and run as a doctest so that it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeExample;

#[cfg(not(target_arch = "wasm32"))]
pub mod bench;
pub mod checkpoint;
pub mod collection;
#[cfg(not(target_arch = "wasm32"))]
pub mod comparison;
pub mod convolve;
pub mod cpu;
pub mod data;
pub mod error;
pub use train::evaluation;
pub mod fallback;
pub mod gpu;
pub mod interrupt;
pub mod invariance;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod output;
#[cfg(not(target_arch = "wasm32"))]
pub mod peak;
pub mod rng;
pub mod session;
pub mod train;
#[cfg(feature = "pictures")]
pub mod viz;

pub use error::{Error, Result};

// plotters leaves its bitmap text (the built-in font through ab_glyph) out of wasm32 builds, where
// it hands text to the browser's canvas instead, so the figures do not build there.
#[cfg(all(feature = "pictures", target_arch = "wasm32"))]
compile_error!(
    "the `pictures` feature does not build for wasm32 (plotters draws text only through the browser's canvas there): leave it out of a wasm32 build"
);

// ureq opens sockets and writes files, neither of which a browser page has: fetch there instead.
#[cfg(all(feature = "download", target_arch = "wasm32"))]
compile_error!(
    "the `download` feature does not work on wasm32 (no sockets or file system there): leave it out of a wasm32 build"
);
