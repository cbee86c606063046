//! The CPU operations, a module per op: the lesson's worked examples exactly, small
//! stride/padding cases checked by hand, a direct-loop convolution as a second opinion, and every
//! backward pass against central finite differences on random inputs (`common::gradcheck`).
//!
//! One test binary with a module per op rather than a binary per op: each binary links the whole
//! library, and the ops share the helpers below.

#[path = "../common/mod.rs"]
mod common;

mod activation;
mod batchnorm;
mod chunked;
mod conv;
mod dense;
mod dropout;
mod loss;
mod network;
mod optimizer;
mod pool;

use lenet_gpu::cpu::conv::{ConvShape, conv2d_forward};
use lenet_gpu::rng::Rng;

pub fn random(n: usize, rng: &mut Rng) -> Vec<f32> {
    (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect()
}

pub fn conv_out(s: &ConvShape, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
    let mut y = vec![0.0; s.batch * s.output_len()];
    conv2d_forward(s, x, w, b, &mut y);
    y
}

pub fn assert_close(actual: &[f32], expected: &[f32], tol: f32, what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let err = (a - e).abs() / e.abs().max(1.0);
        assert!(err <= tol, "{what}[{i}]: got {a}, expected {e} (error {err:.2e} > {tol:.0e})");
    }
}
