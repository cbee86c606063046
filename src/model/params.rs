//! The flat parameter buffer: every weight and bias of a network in one `Vec<f32>`, in the order
//! and layout of PyTorch's state_dict, with named views into it. Gradients and optimizer state
//! use the same layout, so one loop (or one GPU dispatch) updates everything.

use super::{Layer, Plan};
use crate::rng::Rng;

/// A named tensor inside the flat buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamView {
    /// PyTorch's state_dict name, e.g. "conv1.weight".
    pub name: String,
    /// PyTorch's shape: conv weights `[out, in, kh, kw]`, dense weights `[out, in]`, biases `[out]`.
    pub shape: Vec<usize>,
    pub offset: usize,
    pub len: usize,
}

/// The parameters of a planned network.
#[derive(Clone, Debug, PartialEq)]
pub struct Parameters {
    pub values: Vec<f32>,
    pub views: Vec<ParamView>,
}

impl Parameters {
    /// The views of `plan`, with every value zero.
    pub fn zeros(plan: &Plan) -> Parameters {
        Parameters { values: vec![0.0; plan.parameter_count], views: views(plan) }
    }

    /// PyTorch's default initialization for Conv2d and Linear: weights Kaiming-uniform with
    /// a = √5, which is uniform in ±1/√fan_in, and biases uniform in ±1/√fan_in too.
    pub fn init(plan: &Plan, seed: u64) -> Parameters {
        let mut params = Parameters::zeros(plan);
        let mut rng = Rng::derive(seed, "init");
        for layer in &plan.layers {
            let (Some((w_off, w_len)), Some((b_off, b_len))) = (layer.weight, layer.bias) else {
                continue;
            };
            let fan_in = w_len / layer.output.channels;
            let bound = 1.0 / (fan_in as f32).sqrt();
            for v in &mut params.values[w_off..w_off + w_len] {
                *v = rng.uniform(-bound, bound);
            }
            for v in &mut params.values[b_off..b_off + b_len] {
                *v = rng.uniform(-bound, bound);
            }
        }
        params
    }

    pub fn view(&self, name: &str) -> Option<&[f32]> {
        let v = self.views.iter().find(|v| v.name == name)?;
        Some(&self.values[v.offset..v.offset + v.len])
    }
}

/// The named views of a plan, weight then bias for each layer with parameters.
pub fn views(plan: &Plan) -> Vec<ParamView> {
    let mut out = Vec::new();
    for layer in &plan.layers {
        let (Some((w_off, w_len)), Some((b_off, b_len))) = (layer.weight, layer.bias) else {
            continue;
        };
        let weight_shape = match layer.layer {
            Layer::Conv2d { out_channels, kernel_h, kernel_w, .. } => {
                vec![out_channels, layer.input.channels, kernel_h, kernel_w]
            }
            _ => vec![layer.output.channels, layer.input.len()],
        };
        out.push(ParamView {
            name: format!("{}.weight", layer.name),
            shape: weight_shape,
            offset: w_off,
            len: w_len,
        });
        out.push(ParamView {
            name: format!("{}.bias", layer.name),
            shape: vec![b_len],
            offset: b_off,
            len: b_len,
        });
    }
    out
}
