//! The one rule for folding activations into the layer before them. The GPU path runs a plan as
//! such stages (`gpu::engine`), so a layer whose activation is folded into it never has its own
//! output there; `train::feature_layers` uses the same rule to say which outputs exist.

use super::{Layer, Plan};

/// An activation fused into a kernel: the one it applies to its output (forward kernels), or the
/// one its input came out of, which it takes its input gradient back through (backward kernels).
/// The GPU's codes for them are those of `shaders/common.wgsl`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Activation {
    #[default]
    Identity,
    Relu,
    Tanh,
}

impl Activation {
    /// The activation `layer` is, if it is one.
    pub fn of(layer: &Layer) -> Option<Activation> {
        match layer {
            Layer::Relu => Some(Activation::Relu),
            Layer::Tanh => Some(Activation::Tanh),
            _ => None,
        }
    }
}

/// One stage: a layer of the plan with the activations folded into it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FusedLayers {
    /// The plan's index of the layer that makes the stage.
    pub layer: usize,
    /// The activation the stage's output goes through (for a stage that is itself an activation,
    /// that activation).
    pub activation: Activation,
    /// The plan's index of the layer whose output this stage's is (its last folded activation's).
    pub output_layer: usize,
}

/// The plan's layers as stages, each activation folded into the stage before it where that stage
/// has none yet (a ReLU after a ReLU changes nothing, so it folds too). An activation no stage
/// can absorb (one on the network's input, or a second, different one in a row) is a stage.
pub fn fuse(plan: &Plan) -> Vec<FusedLayers> {
    let mut stages: Vec<FusedLayers> = Vec::new();
    for (i, l) in plan.layers.iter().enumerate() {
        let activation = Activation::of(&l.layer);
        match (activation, stages.last_mut()) {
            (Some(a), Some(last)) if last.activation == Activation::Identity => {
                (last.activation, last.output_layer) = (a, i)
            }
            (Some(Activation::Relu), Some(last)) if last.activation == Activation::Relu => {
                last.output_layer = i
            }
            _ => stages.push(FusedLayers {
                layer: i,
                activation: activation.unwrap_or_default(),
                output_layer: i,
            }),
        }
    }
    stages
}

/// A layer's display name (the figures' labels, the Python module's activation names): its plan
/// name with pools numbered ("pool1") and the activations folded into it shown after a "+", e.g.
/// "conv1+relu", "pool2", "conv1+tanh", "fc3".
pub fn layer_label(plan: &Plan, index: usize) -> String {
    let activation = |i: usize| match Activation::of(&plan.layers[i].layer)? {
        Activation::Relu => Some("relu"),
        Activation::Tanh => Some("tanh"),
        Activation::Identity => None,
    };
    let base = (0..=index).rev().find(|&i| activation(i).is_none());
    let name = |i: usize| {
        let n = &plan.layers[i].name;
        if n.chars().any(|c| c.is_ascii_digit()) {
            return n.clone();
        }
        let count = plan.layers[..=i].iter().filter(|l| l.name == *n).count();
        format!("{}{count}", if n == "maxpool" { "pool" } else { n })
    };
    let mut parts: Vec<String> = base.map(name).into_iter().collect();
    for a in (base.map_or(0, |b| b + 1)..=index).filter_map(activation) {
        // A ReLU after a ReLU changes nothing: name it once.
        if !(a == "relu" && parts.last().is_some_and(|p| p == "relu")) {
            parts.push(a.to_string());
        }
    }
    parts.join("+")
}
