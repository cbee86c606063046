//! The plan as the GPU runs it: stages, each one layer with the activations folded into it (the
//! rule is `model::fusion`'s), with the shapes and parameter offsets its kernels are built from.

use crate::Result;
use crate::gpu::kernels::{Activation, FusedPool};
use crate::model::fusion;
use crate::model::shapes::{ConvShape, DenseShape, PoolShape, conv_shape, dense_shape, pool_shape};
use crate::model::{Layer, Plan, PlannedLayer};

/// One layer as the GPU runs it: activations folded into the layer before them.
#[derive(Clone, Debug)]
pub(super) enum Stage {
    Conv {
        shape: ConvShape,
        w_off: usize,
        b_off: usize,
    },
    MaxPool {
        shape: PoolShape,
    },
    AvgPool {
        shape: PoolShape,
    },
    Dense {
        shape: DenseShape,
        w_off: usize,
        b_off: usize,
    },
    /// An activation no layer before it can absorb: one on the network's input, or a second,
    /// different one in a row. The stage's `activation` is the one it applies.
    Activation {
        len: usize,
    },
}

/// A stage, with what building the step's dispatches needs to know of it.
#[derive(Clone, Debug)]
pub(super) struct FusedStage {
    pub(super) stage: Stage,
    /// The layer's name in the plan ("conv1", "fc2"), for benchmark labels.
    pub(super) name: String,
    /// The activation the stage's output goes through.
    pub(super) activation: Activation,
    /// Floats in one example's output.
    pub(super) output_len: usize,
    pub(super) has_params: bool,
    /// The plan's index of the layer whose output this stage's is (its last folded ReLU's).
    pub(super) output_layer: usize,
}

impl FusedStage {
    /// Floating-point operations of its forward pass (and of each backward one) at its batch:
    /// 0 where memory traffic is the work (pools, activations). For benchmarks.
    pub(super) fn flops(&self) -> f64 {
        match &self.stage {
            Stage::Conv { shape, .. } => 2.0 * (shape.batch * shape.output_len() * shape.patch_len()) as f64,
            Stage::Dense { shape, .. } => 2.0 * (shape.batch * shape.in_features * shape.out_features) as f64,
            _ => 0.0,
        }
    }

    /// The stage as a pool fused kernels can take (windows tiling its input), if it is one.
    pub(super) fn fused_pool(&self) -> Option<FusedPool> {
        match &self.stage {
            Stage::MaxPool { shape } => FusedPool::of(shape, true),
            Stage::AvgPool { shape } => FusedPool::of(shape, false),
            _ => None,
        }
    }
}

fn stage_of(l: &PlannedLayer, batch: usize) -> Stage {
    let offsets = || (l.weight.expect("weight").0, l.bias.expect("bias").0);
    match l.layer {
        Layer::Conv2d { .. } => {
            let (w_off, b_off) = offsets();
            Stage::Conv { shape: conv_shape(l, batch), w_off, b_off }
        }
        Layer::MaxPool { .. } => Stage::MaxPool { shape: pool_shape(l, batch) },
        Layer::AvgPool { .. } => Stage::AvgPool { shape: pool_shape(l, batch) },
        Layer::Dense { .. } => {
            let (w_off, b_off) = offsets();
            Stage::Dense { shape: dense_shape(l, batch), w_off, b_off }
        }
        Layer::Relu | Layer::Tanh => Stage::Activation { len: batch * l.input.len() },
        _ => unreachable!("`fuse` refuses {:?}", l.layer),
    }
}

/// The plan's layers as GPU stages, each activation folded into the stage before it by the
/// rule `model::fusion::fuse` gives.
pub(super) fn fuse(plan: &Plan, batch: usize) -> Result<Vec<FusedStage>> {
    if let Some(refusal) = plan.not_on_gpu() {
        return Err(crate::Error::Gpu(refusal));
    }
    Ok(fusion::fuse(plan)
        .into_iter()
        .map(|f| {
            let l = &plan.layers[f.layer];
            FusedStage {
                stage: stage_of(l, batch),
                name: l.name.clone(),
                activation: f.activation,
                output_len: l.output.len(),
                has_params: l.weight.is_some(),
                output_layer: f.output_layer,
            }
        })
        .collect())
}
