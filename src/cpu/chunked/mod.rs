//! The CPU path's training step and inference, a chunk of images at a time through the whole
//! network (`layers.rs`) instead of the whole batch a layer at a time (`network.rs`): a batch is
//! cut into groups, one task per group; a task runs its group's chunks of `CHUNK` images in
//! order through every layer, forward and backward, adding the weight gradients into its
//! group's partial sum; the partial sums are then added in group order. The groups depend only
//! on the batch size, so the numbers do not depend on the thread count. Everything is allocated
//! when the batch first grows, nothing per step.

mod layers;

use super::conv::{gradient_is_tap_major, tap_major_gradient_to_weight_order, tap_major_into};
use super::loss::{LossStats, softmax_cross_entropy_of_batch};
use super::network::conv_shape;
use crate::model::{Layer, Plan};
use layers::ChunkBuffers;
use rayon::prelude::*;

/// Images per pass through the network: LeNet-5's activations and gradients for 16 images
/// (≈ 1 MB of what a pass touches, ReLUs fused into the pools) stay about within a core's L2,
/// and its dense layers multiply 16 rows at a time (8 cost ~8% more time on one thread, 32 the
/// same as 16, measured on Zen 5).
pub const CHUNK: usize = 16;
/// Groups a batch is cut into, at most: enough tasks to balance 16 threads, few enough partial
/// gradients that adding them stays cheap.
const GROUPS: usize = 16;
/// Images per group, at least: each group zeroes and adds a whole gradient (62k floats for
/// LeNet-5), which for groups of 8 cost about 5% of a step.
const MIN_GROUP: usize = 32;
/// Parameters per task when adding the partial gradients.
const TASK: usize = 16 * 1024;

/// Images per group for a batch of `batch`: whole chunks, at least `MIN_GROUP`, at most
/// `GROUPS` groups.
pub fn group_images(batch: usize) -> usize {
    batch.div_ceil(GROUPS).next_multiple_of(CHUNK).max(MIN_GROUP)
}

/// One task's buffers: a chunk's activations, and its group's gradient and loss.
struct Worker {
    buffers: ChunkBuffers,
    grads: Vec<f32>,
    stats: LossStats,
}

/// The buffers a chunked step or inference needs, and the conv weights tap-major.
pub struct ChunkedNetwork {
    plan: Plan,
    /// Each conv layer's weight tap-major at the weight's offset (the rest unused).
    taps: Vec<f32>,
    /// Room to turn a tap-major weight gradient back.
    scratch: Vec<f32>,
    workers: Vec<Worker>,
}

impl ChunkedNetwork {
    pub fn new(plan: Plan) -> Self {
        let n = plan.parameter_count;
        ChunkedNetwork { taps: vec![0.0; n], scratch: vec![0.0; n], workers: Vec::new(), plan }
    }

    /// Makes sure there are workers for a batch of `batch` (allocates only when it grows).
    pub fn reserve(&mut self, batch: usize) {
        let groups = batch.div_ceil(group_images(batch));
        while self.workers.len() < groups {
            self.workers.push(Worker {
                buffers: ChunkBuffers::new(&self.plan, CHUNK),
                grads: vec![0.0; self.plan.parameter_count],
                stats: LossStats::default(),
            });
        }
    }

    /// The conv weights tap-major into `taps`, for this step's parameters.
    fn prepare(&mut self, params: &[f32]) {
        for l in &self.plan.layers {
            if let (Layer::Conv2d { .. }, Some((w, len))) = (&l.layer, l.weight) {
                tap_major_into(&conv_shape(l, 1), &params[w..w + len], &mut self.taps[w..w + len]);
            }
        }
    }

    /// One step's forward pass, loss and backward pass over the batch (`input` [n, C, H, W],
    /// `labels` `[n]`): fills `grads` with the gradient of the mean loss, returns the loss.
    pub fn forward_backward(
        &mut self,
        params: &[f32],
        input: &[f32],
        labels: &[u32],
        grads: &mut [f32],
    ) -> LossStats {
        let n = labels.len();
        let (pixels, classes) = (self.plan.input().len(), self.plan.classes());
        assert_eq!(input.len(), n * pixels, "network input size");
        self.reserve(n);
        self.prepare(params);
        let group = group_images(n);
        let groups = n.div_ceil(group);
        let (plan, taps) = (&self.plan, &self.taps);
        let work = input.par_chunks(group * pixels).zip(labels.par_chunks(group));
        self.workers[..groups].par_iter_mut().zip(work).for_each(|(w, (images, labels))| {
            w.grads.fill(0.0);
            w.stats = LossStats::default();
            for (x, labels) in images.chunks(CHUNK * pixels).zip(labels.chunks(CHUNK)) {
                let m = labels.len();
                layers::forward(plan, params, taps, x, m, &mut w.buffers);
                let (logits, d_logits) = w.buffers.logits(m);
                let s = softmax_cross_entropy_of_batch(logits, labels, classes, n, d_logits);
                w.stats.loss_sum += s.loss_sum;
                w.stats.correct += s.correct;
                layers::backward(plan, params, taps, x, m, &mut w.buffers, &mut w.grads);
            }
        });
        // The groups' partial gradients, added in group order.
        let workers = &self.workers[..groups];
        grads.par_chunks_mut(TASK).enumerate().for_each(|(t, out)| {
            let at = t * TASK;
            out.copy_from_slice(&workers[0].grads[at..at + out.len()]);
            for w in &workers[1..] {
                out.iter_mut().zip(&w.grads[at..]).for_each(|(g, p)| *g += p);
            }
        });
        for l in &self.plan.layers {
            if let (Layer::Conv2d { .. }, Some((w, len))) = (&l.layer, l.weight) {
                let s = conv_shape(l, 1);
                if gradient_is_tap_major(&s) {
                    let taps = &mut self.scratch[..len];
                    taps.copy_from_slice(&grads[w..w + len]);
                    tap_major_gradient_to_weight_order(&s, taps, &mut grads[w..w + len]);
                }
            }
        }
        let mut stats = LossStats::default();
        for w in workers {
            stats.loss_sum += w.stats.loss_sum;
            stats.correct += w.stats.correct;
        }
        stats
    }

    /// The logits [n, classes] of `n` images (`input` [n, C, H, W]) into `logits`.
    pub fn forward(&mut self, params: &[f32], input: &[f32], n: usize, logits: &mut [f32]) {
        let (pixels, classes) = (self.plan.input().len(), self.plan.classes());
        assert_eq!(input.len(), n * pixels, "network input size");
        assert_eq!(logits.len(), n * classes, "logits size");
        self.reserve(n);
        self.prepare(params);
        let group = group_images(n);
        let groups = n.div_ceil(group);
        let (plan, taps) = (&self.plan, &self.taps);
        let work = input.par_chunks(group * pixels).zip(logits.par_chunks_mut(group * classes));
        self.workers[..groups].par_iter_mut().zip(work).for_each(|(w, (images, out))| {
            for (x, out) in images.chunks(CHUNK * pixels).zip(out.chunks_mut(CHUNK * classes)) {
                let m = out.len() / classes;
                out.copy_from_slice(layers::forward(plan, params, taps, x, m, &mut w.buffers));
            }
        });
    }
}
