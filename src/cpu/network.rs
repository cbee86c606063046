//! A whole network's forward and backward pass on the CPU, layer by layer from a `Plan`, with
//! activations kept in a workspace allocated once for the largest batch. Every layer runs here,
//! those past LeNet's too (batch norm, dropout, global pooling, GELU, residual blocks): a batch
//! norm needs the whole batch's statistics before any image can go on, which a layer at a time
//! over the whole batch gives.

use super::activation::{
    gelu_backward, gelu_forward, relu_backward, relu_forward, tanh_backward, tanh_forward,
};
use super::batchnorm::{
    BatchNormShape, batchnorm_backward, batchnorm_forward_eval, batchnorm_forward_train,
    update_running_statistics,
};
use super::conv::{conv2d_backward, conv2d_forward};
use super::dense::{dense_backward, dense_forward};
use super::dropout::{dropout_backward, dropout_forward, step_key};
use super::loss::{LossStats, softmax_cross_entropy};
use super::pool::{
    avgpool_backward, avgpool_forward, global_avgpool_backward, global_avgpool_forward, maxpool_backward,
    maxpool_forward,
};
/// Each layer's geometry for a batch (`model::shapes`, which the GPU path uses too).
pub(crate) use crate::model::shapes::{conv_shape, dense_shape, pool_shape};
use crate::model::{Layer, Plan, PlannedLayer};

/// Zeroed buffers for `examples` examples: each layer's output, its gradient, and for max-pool
/// layers the winning pixels (empty for the others). The chunked path's (LeNet's layers only).
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

/// What a forward pass is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Training: a batch norm normalizes by the batch's statistics; dropout drops values by a
    /// mask hashed from the epoch's key (`dropout::epoch_key`), the step's first position in
    /// the epoch and the layer.
    Train { epoch_key: u32, first_position: u32 },
    /// Evaluation: a batch norm normalizes by its running statistics; dropout does nothing.
    Eval,
}

/// One layer's buffers for a whole batch.
struct Slot {
    output: Vec<f32>,
    /// The loss gradient with respect to `output`.
    d_output: Vec<f32>,
    /// A max-pool's winning pixels.
    argmax: Vec<u32>,
    /// A batch norm's batch mean and (biased) variance per channel, from the last training pass.
    mean: Vec<f32>,
    var: Vec<f32>,
    /// The layer's number, depth first through the blocks: what a dropout's mask is keyed by.
    number: u32,
    /// A dropout's key in the last forward pass (None: evaluation, nothing dropped).
    dropout_key: Option<u32>,
    /// A residual block's body.
    body: Vec<Slot>,
    /// A residual block's shortcut output, and its input gradient before it joins the body's.
    shortcut_output: Vec<f32>,
    shortcut_d_input: Vec<f32>,
}

fn slots(layers: &[PlannedLayer], examples: usize, number: &mut u32) -> Vec<Slot> {
    layers
        .iter()
        .map(|l| {
            let out = examples * l.output.len();
            *number += 1;
            let this = *number;
            let norm = if let Layer::BatchNorm = l.layer { l.input.channels } else { 0 };
            let shortcut = if l.shortcut.is_some() { (out, examples * l.input.len()) } else { (0, 0) };
            Slot {
                output: vec![0.0; out],
                d_output: vec![0.0; out],
                argmax: if let Layer::MaxPool { .. } = l.layer { vec![0; out] } else { Vec::new() },
                mean: vec![0.0; norm],
                var: vec![0.0; norm],
                number: this,
                dropout_key: None,
                body: slots(&l.body, examples, number),
                shortcut_output: vec![0.0; shortcut.0],
                shortcut_d_input: vec![0.0; shortcut.1],
            }
        })
        .collect()
}

/// Every buffer a forward and backward pass needs, for batches of up to `capacity` examples.
pub struct Workspace {
    capacity: usize,
    slots: Vec<Slot>,
}

impl Workspace {
    pub fn new(plan: &Plan, capacity: usize) -> Self {
        Workspace { capacity, slots: slots(&plan.layers, capacity, &mut 0) }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Max-pool layer i's winning pixels from the last forward pass, for a batch of `n`.
    pub fn pool_argmax(&self, plan: &Plan, i: usize, n: usize) -> &[u32] {
        &self.slots[i].argmax[..n * plan.layers[i].output.len()]
    }

    /// Layer i's output from the last forward pass, for a batch of `n`.
    pub fn output(&self, plan: &Plan, i: usize, n: usize) -> &[f32] {
        &self.slots[i].output[..n * plan.layers[i].output.len()]
    }
}

/// The weight and bias slices of layer `l` inside the flat buffer.
fn weight_and_bias<'a>(l: &PlannedLayer, params: &'a [f32]) -> (&'a [f32], &'a [f32]) {
    let ((w, wl), (b, bl)) = (l.weight.expect("layer has a weight"), l.bias.expect("layer has a bias"));
    (&params[w..w + wl], &params[b..b + bl])
}

/// The gradients of layer `l`'s weight and bias inside the flat gradient buffer.
fn weight_and_bias_mut<'a>(l: &PlannedLayer, grads: &'a mut [f32]) -> (&'a mut [f32], &'a mut [f32]) {
    let ((w_off, w_len), (b_off, b_len)) = (l.weight.unwrap(), l.bias.unwrap());
    grads[w_off..b_off + b_len].split_at_mut(w_len)
}

fn norm_shape(l: &PlannedLayer, n: usize) -> BatchNormShape {
    BatchNormShape { batch: n, channels: l.input.channels, plane: l.input.height * l.input.width }
}

/// Runs the network on `n` examples (`input` is [n, C, H, W]) in evaluation mode and returns
/// the logits [n, classes].
pub fn forward<'w>(plan: &Plan, params: &[f32], input: &[f32], n: usize, ws: &'w mut Workspace) -> &'w [f32] {
    forward_in(plan, params, input, n, ws, Mode::Eval)
}

/// `forward` in `mode`.
pub fn forward_in<'w>(
    plan: &Plan,
    params: &[f32],
    input: &[f32],
    n: usize,
    ws: &'w mut Workspace,
    mode: Mode,
) -> &'w [f32] {
    assert!(n <= ws.capacity, "batch {n} exceeds workspace capacity {}", ws.capacity);
    assert_eq!(input.len(), n * plan.input().len(), "network input size");
    forward_layers(&plan.layers, &mut ws.slots, params, input, n, mode);
    ws.output(plan, plan.layers.len() - 1, n)
}

/// `layers` forward from `input`, each output into its slot.
fn forward_layers(
    layers: &[PlannedLayer],
    slots: &mut [Slot],
    params: &[f32],
    input: &[f32],
    n: usize,
    mode: Mode,
) {
    for (i, l) in layers.iter().enumerate() {
        let (before, rest) = slots.split_at_mut(i);
        let x = if i == 0 { input } else { &before[i - 1].output[..n * l.input.len()] };
        forward_layer(l, &mut rest[0], params, x, n, mode);
    }
}

fn forward_layer(l: &PlannedLayer, slot: &mut Slot, params: &[f32], x: &[f32], n: usize, mode: Mode) {
    let y = &mut slot.output[..n * l.output.len()];
    match l.layer {
        Layer::Conv2d { .. } => {
            let (w, b) = weight_and_bias(l, params);
            conv2d_forward(&conv_shape(l, n), x, w, b, y);
        }
        Layer::MaxPool { .. } => maxpool_forward(&pool_shape(l, n), x, y, &mut slot.argmax[..y.len()]),
        Layer::AvgPool { .. } => avgpool_forward(&pool_shape(l, n), x, y),
        Layer::Relu => relu_forward(x, y),
        Layer::Tanh => tanh_forward(x, y),
        Layer::Gelu => gelu_forward(x, y),
        Layer::Dense { .. } => {
            let (w, b) = weight_and_bias(l, params);
            dense_forward(&dense_shape(l, n), x, w, b, y);
        }
        Layer::BatchNorm => {
            let (gamma, beta) = weight_and_bias(l, params);
            let s = norm_shape(l, n);
            match mode {
                Mode::Train { .. } => {
                    batchnorm_forward_train(&s, x, gamma, beta, y, &mut slot.mean, &mut slot.var)
                }
                Mode::Eval => {
                    let (at, c) = (l.statistics.expect("running statistics").0, s.channels);
                    let (mean, var) = (&params[at..at + c], &params[at + c..at + 2 * c]);
                    batchnorm_forward_eval(&s, x, gamma, beta, mean, var, y);
                }
            }
        }
        Layer::Dropout { rate } => {
            slot.dropout_key = match mode {
                Mode::Train { epoch_key, first_position } => {
                    Some(step_key(epoch_key, first_position, slot.number))
                }
                Mode::Eval => None,
            };
            match slot.dropout_key {
                Some(key) => dropout_forward(key, rate.as_f32(), x, y),
                None => y.copy_from_slice(x),
            }
        }
        Layer::GlobalAvgPool => {
            let plane = l.input.height * l.input.width;
            global_avgpool_forward(n, l.input.channels, plane, x, y);
        }
        Layer::Residual { .. } => {
            forward_layers(&l.body, &mut slot.body, params, x, n, mode);
            let body = &slot.body.last().expect("a block's body has a layer").output[..y.len()];
            y.copy_from_slice(body);
            let shortcut = match &l.shortcut {
                Some(conv) => {
                    let (w, b) = weight_and_bias(conv, params);
                    let out = &mut slot.shortcut_output[..y.len()];
                    conv2d_forward(&conv_shape(conv, n), x, w, b, out);
                    &*out
                }
                None => x,
            };
            y.iter_mut().zip(shortcut).for_each(|(y, s)| *y += s);
        }
    }
}

/// Back-propagates from the gradient of the last layer's output (already in the workspace) and
/// writes every parameter's gradient into `grads` (same layout as the parameters).
fn backward(plan: &Plan, params: &[f32], input: &[f32], n: usize, ws: &mut Workspace, grads: &mut [f32]) {
    backward_layers(&plan.layers, &mut ws.slots, params, input, n, grads, None);
}

/// `layers` backward, the gradient of the last one's output in its slot; the gradient of
/// `input` into `d_input` when one is asked for.
fn backward_layers(
    layers: &[PlannedLayer],
    slots: &mut [Slot],
    params: &[f32],
    input: &[f32],
    n: usize,
    grads: &mut [f32],
    mut d_input: Option<&mut [f32]>,
) {
    for (i, l) in layers.iter().enumerate().rev() {
        let (before, rest) = slots.split_at_mut(i);
        let (x, dx) = match before.last_mut() {
            Some(prev) => (&prev.output[..n * l.input.len()], Some(&mut prev.d_output[..n * l.input.len()])),
            None => (input, d_input.take()),
        };
        backward_layer(l, &mut rest[0], params, x, n, grads, dx);
    }
}

fn backward_layer(
    l: &PlannedLayer,
    slot: &mut Slot,
    params: &[f32],
    x: &[f32],
    n: usize,
    grads: &mut [f32],
    dx: Option<&mut [f32]>,
) {
    let y = &slot.output[..n * l.output.len()];
    let dy = &slot.d_output[..n * l.output.len()];
    // The first layer's input gradient is never needed (`dx` is None): a layer without
    // parameters then has nothing to do.
    match l.layer {
        Layer::Conv2d { .. } | Layer::Dense { .. } => {
            let (weight, _) = weight_and_bias(l, params);
            let (dw, db) = weight_and_bias_mut(l, grads);
            if let Layer::Conv2d { .. } = l.layer {
                conv2d_backward(&conv_shape(l, n), x, weight, dy, dx, dw, db);
            } else {
                dense_backward(&dense_shape(l, n), x, weight, dy, dx, dw, db);
            }
        }
        Layer::BatchNorm => {
            let (gamma, _) = weight_and_bias(l, params);
            let (dgamma, dbeta) = weight_and_bias_mut(l, grads);
            batchnorm_backward(&norm_shape(l, n), x, gamma, &slot.mean, &slot.var, dy, dx, dgamma, dbeta);
        }
        Layer::Residual { .. } => residual_backward(l, slot, params, x, n, grads, dx),
        _ => {
            let Some(dx) = dx else { return };
            match l.layer {
                Layer::MaxPool { .. } => maxpool_backward(&pool_shape(l, n), dy, &slot.argmax[..y.len()], dx),
                Layer::AvgPool { .. } => avgpool_backward(&pool_shape(l, n), dy, dx),
                Layer::Relu => relu_backward(y, dy, dx),
                Layer::Tanh => tanh_backward(y, dy, dx),
                Layer::Gelu => gelu_backward(x, dy, dx),
                Layer::Dropout { rate } => match slot.dropout_key {
                    Some(key) => dropout_backward(key, rate.as_f32(), dy, dx),
                    None => dx.copy_from_slice(dy),
                },
                Layer::GlobalAvgPool => {
                    let plane = l.input.height * l.input.width;
                    global_avgpool_backward(n, l.input.channels, plane, dy, dx);
                }
                _ => unreachable!("layers with parameters are matched above"),
            }
        }
    }
}

/// y = body(x) + shortcut(x): the output's gradient flows into both, and their input
/// gradients add up.
fn residual_backward(
    l: &PlannedLayer,
    slot: &mut Slot,
    params: &[f32],
    x: &[f32],
    n: usize,
    grads: &mut [f32],
    mut dx: Option<&mut [f32]>,
) {
    let len = n * l.output.len();
    let Slot { d_output, body, shortcut_d_input, .. } = slot;
    let dy = &d_output[..len];
    body.last_mut().expect("a block's body has a layer").d_output[..len].copy_from_slice(dy);
    backward_layers(&l.body, body, params, x, n, grads, dx.as_deref_mut());
    match (&l.shortcut, dx) {
        (Some(conv), dx) => {
            let (weight, _) = weight_and_bias(conv, params);
            let (dw, db) = weight_and_bias_mut(conv, grads);
            let d_shortcut = dx.is_some().then(|| &mut shortcut_d_input[..x.len()]);
            conv2d_backward(&conv_shape(conv, n), x, weight, dy, d_shortcut, dw, db);
            if let Some(dx) = dx {
                dx.iter_mut().zip(&shortcut_d_input[..x.len()]).for_each(|(d, s)| *d += s);
            }
        }
        (None, Some(dx)) => dx.iter_mut().zip(dy).for_each(|(d, s)| *d += s),
        (None, None) => {}
    }
}

/// After a training step: every batch norm's running statistics moved toward the batch's
/// (PyTorch's momentum 0.1, the variance unbiased) and its batch count up by one, in `params`.
/// Called after the optimizer's update, which never touches them.
pub fn update_statistics(plan: &Plan, ws: &Workspace, n: usize, params: &mut [f32]) {
    update_layers(&plan.layers, &ws.slots, n, params);
}

fn update_layers(layers: &[PlannedLayer], slots: &[Slot], n: usize, params: &mut [f32]) {
    for (l, slot) in layers.iter().zip(slots) {
        if let Some((at, len)) = l.statistics {
            let c = l.input.channels;
            let (mean, rest) = params[at..at + len].split_at_mut(c);
            let (var, count) = rest.split_at_mut(c);
            update_running_statistics(&norm_shape(l, n), &slot.mean, &slot.var, mean, var, &mut count[0]);
        }
        update_layers(&l.body, &slot.body, n, params);
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
    let mode = Mode::Train { epoch_key: 0, first_position: 0 };
    forward_backward_in(plan, params, input, labels, ws, grads, mode)
}

/// `forward_backward` in training `mode`, with that step's dropout masks.
pub fn forward_backward_in(
    plan: &Plan,
    params: &[f32],
    input: &[f32],
    labels: &[u32],
    ws: &mut Workspace,
    grads: &mut [f32],
    mode: Mode,
) -> LossStats {
    let n = labels.len();
    let classes = plan.classes();
    forward_in(plan, params, input, n, ws, mode);
    let last = ws.slots.last_mut().expect("a plan has a layer");
    let stats = softmax_cross_entropy(
        &last.output[..n * classes],
        labels,
        classes,
        &mut last.d_output[..n * classes],
    );
    backward(plan, params, input, n, ws, grads);
    stats
}
