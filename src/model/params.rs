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
    /// A count PyTorch keeps as an int64 (a batch norm's `num_batches_tracked`): files hold it
    /// so, the buffer as an f32 (exact up to 2^24).
    pub count: bool,
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
    /// a = √5, which is uniform in ±1/√fan_in, and biases uniform in ±1/√fan_in too. A batch
    /// norm starts as PyTorch's does: weight 1, bias 0, running mean 0, running variance 1, no
    /// batches counted (and draws nothing, so the other layers' values do not move).
    pub fn init(plan: &Plan, seed: u64) -> Parameters {
        let mut params = Parameters::zeros(plan);
        let mut rng = Rng::derive(seed, "init");
        for layer in plan.all_layers() {
            let (Some((w_off, w_len)), Some((b_off, b_len))) = (layer.weight, layer.bias) else {
                continue;
            };
            if let Some((s_off, _)) = layer.statistics {
                // The bias, the running mean and the count stay 0.
                params.values[w_off..w_off + w_len].fill(1.0);
                params.values[s_off + w_len..s_off + 2 * w_len].fill(1.0);
                continue;
            }
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

/// The named views of a plan, weight then bias for each layer with parameters (a batch norm's
/// `running_mean`, `running_var` and `num_batches_tracked`, a scalar, after them).
pub fn views(plan: &Plan) -> Vec<ParamView> {
    let mut out = Vec::new();
    for layer in plan.all_layers() {
        let (Some((w_off, w_len)), Some((b_off, b_len))) = (layer.weight, layer.bias) else {
            continue;
        };
        let weight_shape = match layer.layer {
            Layer::Conv2d { out_channels, kernel_h, kernel_w, .. } => {
                vec![out_channels, layer.input.channels, kernel_h, kernel_w]
            }
            Layer::BatchNorm => vec![w_len],
            _ => vec![layer.output.channels, layer.input.len()],
        };
        out.push(ParamView {
            name: format!("{}.weight", layer.name),
            shape: weight_shape,
            offset: w_off,
            len: w_len,
            count: false,
        });
        out.push(ParamView {
            name: format!("{}.bias", layer.name),
            shape: vec![b_len],
            offset: b_off,
            len: b_len,
            count: false,
        });
        if let Some((s_off, _)) = layer.statistics {
            for (i, what) in ["running_mean", "running_var"].into_iter().enumerate() {
                let (offset, len) = (s_off + i * b_len, b_len);
                out.push(ParamView {
                    name: format!("{}.{what}", layer.name),
                    shape: vec![len],
                    offset,
                    len,
                    count: false,
                });
            }
            let offset = s_off + 2 * b_len;
            out.push(ParamView {
                name: format!("{}.num_batches_tracked", layer.name),
                shape: vec![],
                offset,
                len: 1,
                count: true,
            });
        }
    }
    out
}
