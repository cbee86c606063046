//! One chunk of images through every layer of a plan, forward then backward, on this thread
//! alone: the chunk's activations stay in this core's cache from one layer to the next, and no
//! layer waits for the other threads. The same arithmetic as `network.rs`'s layer-by-layer
//! passes, per image; only the sums of weight gradients over images are grouped differently.

use super::super::activation::tanh;
use super::super::conv::{ConvScratch, conv2d_backward_serial, conv2d_forward_serial};
use super::super::dense::{dense_backward_add, dense_forward};
use super::super::network::{conv_shape, dense_shape, layer_buffers, pool_shape};
use super::super::pool::serial as pool;
use crate::model::{Layer, Plan, PlannedLayer};

/// A chunk's activations, their gradients and the max-pool winners, for up to `images` images.
pub struct ChunkBuffers {
    images: usize,
    outputs: Vec<Vec<f32>>,
    d_outputs: Vec<Vec<f32>>,
    argmax: Vec<Vec<u32>>,
    conv: ConvScratch,
}

impl ChunkBuffers {
    pub fn new(plan: &Plan, images: usize) -> Self {
        let (outputs, d_outputs, argmax) = layer_buffers(plan, images);
        ChunkBuffers { images, outputs, d_outputs, argmax, conv: ConvScratch::default() }
    }

    /// The last layer's output for the chunk's `n` images, and its gradient to fill.
    pub fn logits(&mut self, n: usize) -> (&[f32], &mut [f32]) {
        let last = self.outputs.len() - 1;
        let len = self.outputs[last].len() / self.images * n;
        (&self.outputs[last][..len], &mut self.d_outputs[last][..len])
    }
}

/// Whether layer `i` is a ReLU that the max-pool after it absorbs (`pool::relu_maxpool_*`): its
/// own output and gradient are then never written.
fn relu_into_pool(plan: &Plan, i: usize) -> bool {
    matches!(plan.layers[i].layer, Layer::Relu)
        && matches!(plan.layers.get(i + 1).map(|l| &l.layer), Some(Layer::MaxPool { .. }))
}

/// The (weight, bias) ranges of layer `l` in the flat buffers.
fn ranges(l: &PlannedLayer) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
    let ((w, wl), (b, bl)) = (l.weight.expect("layer has a weight"), l.bias.expect("layer has a bias"));
    (w..w + wl, b..b + bl)
}

/// Runs the chunk's `n` images (`input` [n, C, H, W]) forward; `taps` holds each conv weight
/// tap-major at the weight's offset. Returns the logits [n, classes].
pub fn forward<'b>(
    plan: &Plan,
    params: &[f32],
    taps: &[f32],
    input: &[f32],
    n: usize,
    b: &'b mut ChunkBuffers,
) -> &'b [f32] {
    assert!(n <= b.images, "chunk of {n} images in buffers for {}", b.images);
    for (i, l) in plan.layers.iter().enumerate() {
        if relu_into_pool(plan, i) {
            continue;
        }
        let (before, rest) = b.outputs.split_at_mut(i);
        let y = &mut rest[0][..n * l.output.len()];
        if i > 0 && relu_into_pool(plan, i - 1) {
            let x = if i == 1 { input } else { &before[i - 2][..n * l.input.len()] };
            pool::relu_maxpool_forward(&pool_shape(l, n), x, y, &mut b.argmax[i][..n * l.output.len()]);
            continue;
        }
        let x = if i == 0 { input } else { &before[i - 1][..n * l.input.len()] };
        match l.layer {
            Layer::Conv2d { .. } => {
                let (w, bias) = ranges(l);
                let s = conv_shape(l, n);
                conv2d_forward_serial(&s, x, &params[w.clone()], &taps[w], &params[bias], y, &mut b.conv);
            }
            Layer::MaxPool { .. } => {
                pool::maxpool_forward(&pool_shape(l, n), x, y, &mut b.argmax[i][..n * l.output.len()])
            }
            Layer::AvgPool { .. } => pool::avgpool_forward(&pool_shape(l, n), x, y),
            Layer::Relu => y.iter_mut().zip(x).for_each(|(y, &x)| *y = x.max(0.0)),
            Layer::Tanh => y.iter_mut().zip(x).for_each(|(y, &x)| *y = tanh(x)),
            Layer::Dense { .. } => {
                let (w, bias) = ranges(l);
                dense_forward(&dense_shape(l, n), x, &params[w], &params[bias], y);
            }
            _ => unreachable!("the chunked path runs LeNet's layers only, not {:?}", l.layer),
        }
    }
    let last = plan.layers.len() - 1;
    &b.outputs[last][..n * plan.classes()]
}

/// Back-propagates the chunk from the logits' gradient (already in the buffers) and adds every
/// parameter's gradient to `grads` (conv weights tap-major where `conv::gradient_is_tap_major`).
pub fn backward(
    plan: &Plan,
    params: &[f32],
    taps: &[f32],
    input: &[f32],
    n: usize,
    b: &mut ChunkBuffers,
    grads: &mut [f32],
) {
    for (i, l) in plan.layers.iter().enumerate().rev() {
        if relu_into_pool(plan, i) {
            continue;
        }
        let x = if i == 0 { input } else { &b.outputs[i - 1][..n * l.input.len()] };
        let y = &b.outputs[i][..n * l.output.len()];
        let (d_before, d_rest) = b.d_outputs.split_at_mut(i);
        let dy = &d_rest[0][..n * l.output.len()];
        if i > 0 && relu_into_pool(plan, i - 1) {
            // The gradient skips the ReLU's buffer, straight to the ReLU's input (unless that is
            // the network's input).
            if i > 1 {
                let (s, arg) = (pool_shape(l, n), &b.argmax[i][..n * l.output.len()]);
                pool::relu_maxpool_backward(&s, y, dy, arg, &mut d_before[i - 2][..n * l.input.len()]);
            }
            continue;
        }
        let dx = if i == 0 { None } else { Some(&mut d_before[i - 1][..n * l.input.len()]) };
        match l.layer {
            Layer::Conv2d { .. } | Layer::Dense { .. } => {
                let (w, bias) = ranges(l);
                let (dw, db) = grads[w.start..bias.end].split_at_mut(w.len());
                if let Layer::Conv2d { .. } = l.layer {
                    let s = conv_shape(l, n);
                    conv2d_backward_serial(&s, x, &params[w.clone()], &taps[w], dy, dx, dw, db, &mut b.conv);
                } else {
                    dense_backward_add(&dense_shape(l, n), x, &params[w], dy, dx, dw, db);
                }
            }
            // As in `network::backward`: a first layer without parameters has nothing to do.
            Layer::MaxPool { .. } => {
                if let Some(dx) = dx {
                    pool::maxpool_backward(&pool_shape(l, n), dy, &b.argmax[i][..n * l.output.len()], dx);
                }
            }
            Layer::AvgPool { .. } => {
                if let Some(dx) = dx {
                    pool::avgpool_backward(&pool_shape(l, n), dy, dx);
                }
            }
            Layer::Relu => {
                if let Some(dx) = dx {
                    dx.iter_mut()
                        .zip(y)
                        .zip(dy)
                        .for_each(|((dx, &y), &dy)| *dx = if y > 0.0 { dy } else { 0.0 });
                }
            }
            Layer::Tanh => {
                if let Some(dx) = dx {
                    dx.iter_mut().zip(y).zip(dy).for_each(|((dx, &y), &dy)| *dx = dy * (1.0 - y * y));
                }
            }
            _ => unreachable!("the chunked path runs LeNet's layers only, not {:?}", l.layer),
        }
    }
}
