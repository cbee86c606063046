//! Softmax cross-entropy: its gradient against finite differences, and its stability.

use super::random;
use crate::common::gradcheck::check_gradient;
use lenet_gpu::cpu::loss::softmax_cross_entropy;
use lenet_gpu::rng::Rng;

#[test]
fn softmax_cross_entropy_gradient_matches_finite_differences() {
    let mut rng = Rng::new(61);
    let (n, classes) = (6, 10);
    let logits: Vec<f32> = random(n * classes, &mut rng).iter().map(|v| v * 4.0).collect();
    let labels: Vec<u32> = (0..n).map(|_| rng.below(classes) as u32).collect();
    let mean_loss = |z: &[f32]| {
        let mut d = vec![0.0; z.len()];
        softmax_cross_entropy(z, &labels, classes, &mut d).loss_sum as f64 / n as f64
    };
    let mut d = vec![0.0; n * classes];
    softmax_cross_entropy(&logits, &labels, classes, &mut d);
    check_gradient("softmax-CE d_logits", &logits, &d, mean_loss);
}

#[test]
fn softmax_cross_entropy_is_stable_and_counts_correct_predictions() {
    // Huge logits must not overflow: loss of the right class ≈ 0, of a wrong one ≈ the gap.
    let logits = [1000.0, 0.0, -1000.0, 0.0, 500.0, 0.0];
    let mut d = [0.0; 6];
    let stats = softmax_cross_entropy(&logits, &[0, 2], 3, &mut d);
    assert!((stats.loss_sum - 500.0).abs() < 1e-3, "loss {}", stats.loss_sum);
    assert_eq!(stats.correct, 1);
    assert!(d.iter().all(|v| v.is_finite()));
}
