//! The network as data: layer specs, the shapes they produce, and the flat parameter buffer with
//! PyTorch-named views; and what both paths share about running it: each op's geometry
//! (`shapes`), the optimizer's configuration and state, the learning-rate schedules and weight
//! decay (`schedule`), the loss statistics, and which layers fold into one stage (`fusion`).

pub mod arch;
pub mod fusion;
pub mod optimizer;
mod params;
mod plan;
pub mod schedule;
pub mod shapes;
mod spec;

pub use arch::parse_network;
pub(crate) use params::views;
pub use params::{ParamView, Parameters};
pub use plan::{Plan, PlannedLayer};
pub use spec::{DropoutRate, Layer, Network, Shape, shortcut_stride};

/// What one batch's loss computation reports, on either path (`cpu::loss`, `shaders/loss.wgsl`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LossStats {
    /// Sum over the batch of each example's loss (divide by the batch size for the mean).
    pub loss_sum: f32,
    /// How many examples had their label as the highest logit.
    pub correct: u32,
}

/// Index of the largest value; ties go to the lowest index.
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}
