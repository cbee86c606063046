//! Activations: tanh by hand, and the tanh and ReLU backward passes against finite differences.

use super::{assert_close, random};
use crate::common::gradcheck::{check_gradient, dot};
use lenet_gpu::cpu::activation::{relu_backward, relu_forward, tanh_backward, tanh_forward};
use lenet_gpu::rng::Rng;

#[test]
fn tanh_by_hand() {
    // tanh(ln 2) = (4 − 1)/(4 + 1) = 0.6, and its derivative there is 1 − 0.6² = 0.64.
    let x = [0.0, 2f32.ln(), -(2f32.ln()), 20.0, -20.0];
    let mut y = [0.0; 5];
    tanh_forward(&x, &mut y);
    assert_close(&y, &[0.0, 0.6, -0.6, 1.0, -1.0], 1e-6, "tanh");
    let mut dx = [0.0; 5];
    tanh_backward(&y, &[1.0, 1.0, 2.0, 1.0, 1.0], &mut dx);
    assert_close(&dx, &[1.0, 0.64, 1.28, 0.0, 0.0], 1e-6, "tanh backward");
}

#[test]
fn tanh_backward_matches_finite_differences() {
    let mut rng = Rng::new(42);
    // Spread over [-3, 3]: the steep middle and the flat tails.
    let x: Vec<f32> = random(200, &mut rng).iter().map(|v| v * 3.0).collect();
    let g = random(200, &mut rng);
    let tanh = |x: &[f32]| {
        let mut y = vec![0.0; x.len()];
        tanh_forward(x, &mut y);
        y
    };
    let mut dx = vec![0.0; 200];
    tanh_backward(&tanh(&x), &g, &mut dx);
    check_gradient("tanh d_input", &x, &dx, |x| dot(&g, &tanh(x)));
}

#[test]
fn relu_backward_matches_finite_differences() {
    let mut rng = Rng::new(41);
    // Keep inputs away from the kink at 0 by more than the probe step.
    let x: Vec<f32> =
        random(200, &mut rng).into_iter().map(|v| if v.abs() < 0.05 { v + 0.1 } else { v }).collect();
    let g = random(200, &mut rng);
    let relu = |x: &[f32]| {
        let mut y = vec![0.0; x.len()];
        relu_forward(x, &mut y);
        y
    };
    let mut dx = vec![0.0; 200];
    relu_backward(&relu(&x), &g, &mut dx);
    check_gradient("relu d_input", &x, &dx, |x| dot(&g, &relu(x)));
}

#[test]
fn erf_and_gelu_by_known_values() {
    use lenet_gpu::cpu::activation::{erf, gelu};
    for (x, e) in [
        (0.0, 0.0),
        (0.5, 0.520_499_9),
        (1.0, 0.842_700_8),
        (2.0, 0.995_322_3),
        (-1.0, -0.842_700_8),
        (4.0, 1.0),
    ] {
        assert!((erf(x) - e).abs() <= 3e-7, "erf({x}) = {}, expected {e}", erf(x));
    }
    // PyTorch's exact GELU: x Φ(x).
    assert!((gelu(1.0) - 0.841_344_7).abs() < 3e-7, "gelu(1) = {}", gelu(1.0));
    assert!((gelu(-1.0) + 0.158_655_25).abs() < 3e-7, "gelu(-1) = {}", gelu(-1.0));
}

#[test]
fn gelu_backward_matches_finite_differences() {
    use lenet_gpu::cpu::activation::{gelu_backward, gelu_forward};
    let mut rng = Rng::new(43);
    let x: Vec<f32> = random(200, &mut rng).iter().map(|v| v * 4.0).collect();
    let g = random(200, &mut rng);
    let gelu = |x: &[f32]| {
        let mut y = vec![0.0; x.len()];
        gelu_forward(x, &mut y);
        y
    };
    let mut dx = vec![0.0; 200];
    gelu_backward(&x, &g, &mut dx);
    check_gradient("gelu d_input", &x, &dx, |x| dot(&g, &gelu(x)));
}
