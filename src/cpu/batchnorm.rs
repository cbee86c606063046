//! Batch normalization over channels, PyTorch's `BatchNorm2d` (and `BatchNorm1d` after a dense
//! layer, whose features are channels of one value). No GPU twin yet.
//!
//! Training normalizes each channel by the batch's mean and biased variance and keeps them for
//! the backward pass and the running statistics; evaluation uses the running statistics. Every
//! per-channel sum runs in one fixed order (each image's plane, then the images in order), one
//! channel per task, so no number depends on the thread count.

use rayon::prelude::*;

/// `batch` images of `channels` planes of `plane` values (H·W; 1 after a dense layer), laid out
/// [batch, channels, plane].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchNormShape {
    pub batch: usize,
    pub channels: usize,
    pub plane: usize,
}

impl BatchNormShape {
    fn len(&self) -> usize {
        self.batch * self.channels * self.plane
    }

    /// The values each channel's statistics are over.
    fn count(&self) -> usize {
        self.batch * self.plane
    }

    /// Channel `c`'s plane in image `i`.
    fn plane_of<'a>(&self, x: &'a [f32], i: usize, c: usize) -> &'a [f32] {
        let at = (i * self.channels + c) * self.plane;
        &x[at..at + self.plane]
    }
}

/// PyTorch's default: added to the variance before the square root.
pub const EPS: f32 = 1e-5;
/// PyTorch's default: how far one batch moves the running statistics.
pub const MOMENTUM: f32 = 0.1;

/// Σ f(image's plane) over the images in order, for channel `c`.
fn channel_sum(s: &BatchNormShape, x: &[f32], c: usize, f: impl Fn(&[f32]) -> f32) -> f32 {
    (0..s.batch).map(|i| f(s.plane_of(x, i, c))).fold(0.0, |sum, v| sum + v)
}

/// Train mode: y = γ (x − mean) / √(var + ε) + β with each channel's batch mean and biased
/// variance (the mean of squared deviations, a second pass), which go to `mean` and `var`.
pub fn batchnorm_forward_train(
    s: &BatchNormShape,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    y: &mut [f32],
    mean: &mut [f32],
    var: &mut [f32],
) {
    assert!(x.len() == s.len() && y.len() == s.len(), "batch norm size");
    let count = s.count() as f32;
    mean.par_iter_mut().zip(var.par_iter_mut()).enumerate().for_each(|(c, (m, v))| {
        *m = channel_sum(s, x, c, |p| p.iter().sum()) / count;
        let mu = *m;
        *v = channel_sum(s, x, c, |p| p.iter().map(|&x| (x - mu) * (x - mu)).sum()) / count;
    });
    normalize(s, x, gamma, beta, mean, var, y);
}

/// Eval mode: the same normalization with the running statistics.
pub fn batchnorm_forward_eval(
    s: &BatchNormShape,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    running_mean: &[f32],
    running_var: &[f32],
    y: &mut [f32],
) {
    assert!(x.len() == s.len() && y.len() == s.len(), "batch norm size");
    normalize(s, x, gamma, beta, running_mean, running_var, y);
}

/// y = (x − mean) · (γ / √(var + ε)) + β, plane by plane.
fn normalize(
    s: &BatchNormShape,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
    y: &mut [f32],
) {
    y.par_chunks_mut(s.plane).zip(x.par_chunks(s.plane)).enumerate().for_each(|(k, (y, x))| {
        let c = k % s.channels;
        let scale = gamma[c] / (var[c] + EPS).sqrt();
        for (y, &x) in y.iter_mut().zip(x) {
            *y = (x - mean[c]) * scale + beta[c];
        }
    });
}

/// Train mode's backward, the batch statistics depending on x: with x̂ = (x − mean)/√(var + ε)
/// and m values per channel, dβ = Σ dy, dγ = Σ dy·x̂, and
/// dx = γ/√(var + ε) · (dy − dβ/m − x̂·dγ/m). Overwrites `dgamma`, `dbeta` and `dx` if given.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_backward(
    s: &BatchNormShape,
    x: &[f32],
    gamma: &[f32],
    mean: &[f32],
    var: &[f32],
    dy: &[f32],
    dx: Option<&mut [f32]>,
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) {
    assert!(x.len() == s.len() && dy.len() == s.len(), "batch norm size");
    let inv_std = |c: usize| 1.0 / (var[c] + EPS).sqrt();
    dgamma.par_iter_mut().zip(dbeta.par_iter_mut()).enumerate().for_each(|(c, (dg, db))| {
        let (mu, r) = (mean[c], inv_std(c));
        *db = channel_sum(s, dy, c, |p| p.iter().sum());
        *dg = (0..s.batch)
            .map(|i| {
                let (x, dy) = (s.plane_of(x, i, c), s.plane_of(dy, i, c));
                x.iter().zip(dy).map(|(&x, &dy)| dy * (x - mu) * r).sum::<f32>()
            })
            .fold(0.0, |sum, v| sum + v);
    });
    let Some(dx) = dx else { return };
    assert_eq!(dx.len(), s.len(), "batch norm gradient size");
    let m = s.count() as f32;
    let (dgamma, dbeta) = (&*dgamma, &*dbeta);
    dx.par_chunks_mut(s.plane).zip(x.par_chunks(s.plane)).zip(dy.par_chunks(s.plane)).enumerate().for_each(
        |(k, ((dx, x), dy))| {
            let c = k % s.channels;
            let (mu, r) = (mean[c], inv_std(c));
            let (mean_dy, mean_dy_xhat) = (dbeta[c] / m, dgamma[c] / m);
            for ((dx, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
                let xhat = (x - mu) * r;
                *dx = gamma[c] * r * (dy - mean_dy - xhat * mean_dy_xhat);
            }
        },
    );
}

/// After a training step, as PyTorch's: running = (1 − momentum)·running + momentum·batch, the
/// variance made unbiased (× m/(m − 1), m values per channel; as it is when m = 1), and the
/// batch count up by one.
pub fn update_running_statistics(
    s: &BatchNormShape,
    mean: &[f32],
    var: &[f32],
    running_mean: &mut [f32],
    running_var: &mut [f32],
    num_batches_tracked: &mut f32,
) {
    let m = s.count();
    let unbiased = if m > 1 { m as f32 / (m - 1) as f32 } else { 1.0 };
    for c in 0..s.channels {
        running_mean[c] = (1.0 - MOMENTUM) * running_mean[c] + MOMENTUM * mean[c];
        running_var[c] = (1.0 - MOMENTUM) * running_var[c] + MOMENTUM * var[c] * unbiased;
    }
    *num_batches_tracked += 1.0;
}
