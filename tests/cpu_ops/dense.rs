//! The dense (fully connected) layer: by hand, and its backward pass against finite differences.

use super::random;
use crate::common::gradcheck::{check_gradient, dot};
use lenet_gpu::cpu::dense::{DenseShape, dense_backward, dense_forward};
use lenet_gpu::rng::Rng;

#[test]
fn dense_layer_by_hand() {
    // x = [1, 2], W = [[1, 0], [0, 1], [1, 1]], b = [0, 1, -1] → [1, 3, 2].
    let s = DenseShape { batch: 1, in_features: 2, out_features: 3 };
    let mut y = vec![0.0; 3];
    dense_forward(&s, &[1., 2.], &[1., 0., 0., 1., 1., 1.], &[0., 1., -1.], &mut y);
    assert_eq!(y, vec![1., 3., 2.]);
}

#[test]
fn dense_backward_matches_finite_differences() {
    let mut rng = Rng::new(51);
    let s = DenseShape { batch: 5, in_features: 7, out_features: 4 };
    let x = random(35, &mut rng);
    let w = random(28, &mut rng);
    let b = random(4, &mut rng);
    let g = random(20, &mut rng);
    let dense = |x: &[f32], w: &[f32], b: &[f32]| {
        let mut y = vec![0.0; 20];
        dense_forward(&s, x, w, b, &mut y);
        y
    };
    let (mut dx, mut dw, mut db) = (vec![0.0; 35], vec![0.0; 28], vec![0.0; 4]);
    dense_backward(&s, &x, &w, &g, Some(&mut dx), &mut dw, &mut db);
    check_gradient("dense d_input", &x, &dx, |x| dot(&g, &dense(x, &w, &b)));
    check_gradient("dense d_weight", &w, &dw, |w| dot(&g, &dense(&x, w, &b)));
    check_gradient("dense d_bias", &b, &db, |b| dot(&g, &dense(&x, &w, b)));
}
