//! A whole network's forward and backward pass on the CPU, layer by layer from a `Plan`, with
//! activations kept in a workspace allocated once for the largest batch.

use super::activation::{relu_backward, relu_forward, tanh_backward, tanh_forward};
use super::conv::{conv2d_backward, conv2d_forward};
use super::dense::{dense_backward, dense_forward};
use super::loss::{LossStats, softmax_cross_entropy};
use super::pool::{avgpool_backward, avgpool_forward, maxpool_backward, maxpool_forward};
/// Each layer's geometry for a batch (`model::shapes`, which the GPU path uses too).
pub(crate) use crate::model::shapes::{conv_shape, dense_shape, pool_shape};
use crate::model::{Layer, Plan, PlannedLayer};

/// Zeroed buffers for `examples` examples: each layer's output, its gradient, and for max-pool
/// layers the winning pixels (empty for the others).
pub(crate) type LayerBuffers = (Vec<Vec<f32>>, Vec<Vec<f32>>, Vec<Vec<u32>>);

pub(crate) fn layer_buffers(plan: &Plan, examples: usize) -> LayerBuffers {
    let sizes: Vec<usize> = plan.layers.iter().map(|l| examples * l.output.len()).collect();
    let is_max = |l: &PlannedLayer| matches!(l.layer, Layer::MaxPool { .. });
    (
        sizes.iter().map(|&n| vec![0.0; n]).collect(),
        sizes.iter().map(|&n| vec![0.0; n]).collect(),
        plan.layers
            .iter()
            .zip(&sizes)
            .map(|(l, &n)| if is_max(l) { vec![0; n] } else { Vec::new() })
            .collect(),
    )
}

/// Every buffer a forward and backward pass needs, for batches of up to `capacity` examples.
pub struct Workspace {
    capacity: usize,
    /// outputs[i]: layer i's output for the whole batch.
    outputs: Vec<Vec<f32>>,
    /// d_outputs[i]: the loss gradient with respect to outputs[i].
    d_outputs: Vec<Vec<f32>>,
    /// argmax[i]: the winning pixels of max-pool layer i (empty for other layers).
    argmax: Vec<Vec<u32>>,
}

impl Workspace {
    pub fn new(plan: &Plan, capacity: usize) -> Self {
        let (outputs, d_outputs, argmax) = layer_buffers(plan, capacity);
        Workspace { capacity, outputs, d_outputs, argmax }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Max-pool layer i's winning pixels from the last forward pass, for a batch of `n`.
    pub fn pool_argmax(&self, plan: &Plan, i: usize, n: usize) -> &[u32] {
        &self.argmax[i][..n * plan.layers[i].output.len()]
    }

    /// Layer i's output from the last forward pass, for a batch of `n`.
    pub fn output(&self, plan: &Plan, i: usize, n: usize) -> &[f32] {
        &self.outputs[i][..n * plan.layers[i].output.len()]
    }
}

/// The weight and bias slices of layer `l` inside the flat buffer.
fn weight_and_bias<'a>(l: &PlannedLayer, params: &'a [f32]) -> (&'a [f32], &'a [f32]) {
    let ((w, wl), (b, bl)) = (l.weight.expect("layer has a weight"), l.bias.expect("layer has a bias"));
    (&params[w..w + wl], &params[b..b + bl])
}

/// Runs the network on `n` examples (`input` is [n, C, H, W]) and returns the logits [n, classes].
pub fn forward<'w>(plan: &Plan, params: &[f32], input: &[f32], n: usize, ws: &'w mut Workspace) -> &'w [f32] {
    assert!(n <= ws.capacity, "batch {n} exceeds workspace capacity {}", ws.capacity);
    assert_eq!(input.len(), n * plan.input().len(), "network input size");
    for (i, l) in plan.layers.iter().enumerate() {
        let (before, rest) = ws.outputs.split_at_mut(i);
        let x = if i == 0 { input } else { &before[i - 1][..n * l.input.len()] };
        let y = &mut rest[0][..n * l.output.len()];
        match l.layer {
            Layer::Conv2d { .. } => {
                let (w, b) = weight_and_bias(l, params);
                conv2d_forward(&conv_shape(l, n), x, w, b, y);
            }
            Layer::MaxPool { .. } => {
                maxpool_forward(&pool_shape(l, n), x, y, &mut ws.argmax[i][..n * l.output.len()]);
            }
            Layer::AvgPool { .. } => avgpool_forward(&pool_shape(l, n), x, y),
            Layer::Relu => relu_forward(x, y),
            Layer::Tanh => tanh_forward(x, y),
            Layer::Dense { .. } => {
                let (w, b) = weight_and_bias(l, params);
                dense_forward(&dense_shape(l, n), x, w, b, y);
            }
        }
    }
    ws.output(plan, plan.layers.len() - 1, n)
}

/// Back-propagates from the gradient of the last layer's output (already in the workspace) and
/// writes every parameter's gradient into `grads` (same layout as the parameters).
fn backward(plan: &Plan, params: &[f32], input: &[f32], n: usize, ws: &mut Workspace, grads: &mut [f32]) {
    for (i, l) in plan.layers.iter().enumerate().rev() {
        let x = if i == 0 { input } else { &ws.outputs[i - 1][..n * l.input.len()] };
        let y = &ws.outputs[i][..n * l.output.len()];
        let (d_before, d_rest) = ws.d_outputs.split_at_mut(i);
        let dy = &d_rest[0][..n * l.output.len()];
        let dx = if i == 0 { None } else { Some(&mut d_before[i - 1][..n * l.input.len()]) };
        match l.layer {
            Layer::Conv2d { .. } | Layer::Dense { .. } => {
                let ((w_off, w_len), (b_off, b_len)) = (l.weight.unwrap(), l.bias.unwrap());
                let weight = &params[w_off..w_off + w_len];
                let (dw, db) = grads[w_off..b_off + b_len].split_at_mut(w_len);
                if let Layer::Conv2d { .. } = l.layer {
                    conv2d_backward(&conv_shape(l, n), x, weight, dy, dx, dw, db);
                } else {
                    dense_backward(&dense_shape(l, n), x, weight, dy, dx, dw, db);
                }
            }
            // The first layer's input gradient is never needed; pooling and activations have no
            // parameters, so as a first layer they have nothing to do.
            Layer::MaxPool { .. } => {
                if let Some(dx) = dx {
                    maxpool_backward(&pool_shape(l, n), dy, &ws.argmax[i][..n * l.output.len()], dx);
                }
            }
            Layer::AvgPool { .. } => {
                if let Some(dx) = dx {
                    avgpool_backward(&pool_shape(l, n), dy, dx);
                }
            }
            Layer::Relu => {
                if let Some(dx) = dx {
                    relu_backward(y, dy, dx);
                }
            }
            Layer::Tanh => {
                if let Some(dx) = dx {
                    tanh_backward(y, dy, dx);
                }
            }
        }
    }
}

/// One step's forward pass, loss and backward pass: fills `grads` with the gradient of the mean
/// loss over the batch and returns the loss statistics.
pub fn forward_backward(
    plan: &Plan,
    params: &[f32],
    input: &[f32],
    labels: &[u32],
    ws: &mut Workspace,
    grads: &mut [f32],
) -> LossStats {
    let n = labels.len();
    let classes = plan.classes();
    forward(plan, params, input, n, ws);
    let last = plan.layers.len() - 1;
    let stats = softmax_cross_entropy(
        &ws.outputs[last][..n * classes],
        labels,
        classes,
        &mut ws.d_outputs[last][..n * classes],
    );
    backward(plan, params, input, n, ws, grads);
    stats
}
