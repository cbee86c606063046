//! Softmax cross-entropy, fused with its gradient, as PyTorch's `F.cross_entropy` with mean
//! reduction. GPU twin: `shaders/loss.wgsl`.

pub use crate::model::LossStats;

/// Given logits `[N, C]` and labels `[N]`, returns the summed loss and the correct count, and writes
/// d_logits [N, C] = (softmax(logits) − onehot(label)) / N, the gradient of the mean loss.
/// Numerically stable: the row maximum is subtracted before exponentiating.
pub fn softmax_cross_entropy(
    logits: &[f32],
    labels: &[u32],
    classes: usize,
    d_logits: &mut [f32],
) -> LossStats {
    softmax_cross_entropy_of_batch(logits, labels, classes, labels.len(), d_logits)
}

/// `softmax_cross_entropy` for some rows of a batch of `batch` examples: the gradient is that of
/// the mean loss over the whole batch.
pub fn softmax_cross_entropy_of_batch(
    logits: &[f32],
    labels: &[u32],
    classes: usize,
    batch: usize,
    d_logits: &mut [f32],
) -> LossStats {
    let n = labels.len();
    assert_eq!(logits.len(), n * classes, "loss logits size");
    assert_eq!(d_logits.len(), n * classes, "loss d_logits size");
    let mut stats = LossStats::default();
    for ((row, d_row), &label) in
        logits.chunks_exact(classes).zip(d_logits.chunks_exact_mut(classes)).zip(labels)
    {
        let label = label as usize;
        assert!(label < classes, "label {label} out of range for {classes} classes");
        let predicted = crate::model::argmax(row);
        let max = row[predicted];
        let sum_exp: f32 = row.iter().map(|&z| (z - max).exp()).sum();
        let log_sum_exp = sum_exp.ln();
        stats.loss_sum += log_sum_exp - (row[label] - max);
        stats.correct += (predicted == label) as u32;
        for (j, (d, &z)) in d_row.iter_mut().zip(row).enumerate() {
            let p = (z - max).exp() / sum_exp;
            *d = (p - (j == label) as u32 as f32) / batch as f32;
        }
    }
    stats
}
