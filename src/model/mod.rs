//! The network as data: layer specs, the shapes they produce, and the flat parameter buffer with
//! PyTorch-named views.

pub mod arch;
mod params;
mod spec;

pub use arch::parse_network;
pub(crate) use params::views;
pub use params::{ParamView, Parameters};
pub use spec::{Layer, Network, Plan, PlannedLayer, Shape};
