//! Every GPU kernel against its CPU twin, on fresh random inputs and several shapes each (odd
//! sizes, stride 2, padding, several channels, batch 1 and 64): relative error ≤ 1e-4, measured
//! as the largest difference over the largest CPU value.

mod common;

use common::conv_shape as conv;

use lenet_gpu::cpu::activation::{relu_backward, relu_forward, tanh_backward, tanh_forward};
use lenet_gpu::cpu::conv::{ConvShape, conv2d_backward, conv2d_forward};
use lenet_gpu::cpu::dense::{DenseShape, dense_backward, dense_forward};
use lenet_gpu::cpu::loss::{argmax, softmax_cross_entropy};
use lenet_gpu::cpu::optimizer::{Optimizer, OptimizerState, optimizer_step};
use lenet_gpu::cpu::pool::{PoolShape, avgpool_backward, avgpool_forward, maxpool_backward, maxpool_forward};
use lenet_gpu::data::synthetic;
use lenet_gpu::gpu::{Activation, ops};
use lenet_gpu::rng::Rng;

const TOLERANCE: f32 = 1e-4;

/// A seed that differs from run to run, printed so a failure can be replayed.
fn fresh_rng(test: &str) -> Rng {
    let seed = std::env::var("LENET_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    eprintln!("{test}: seed {seed} (replay with LENET_TEST_SEED={seed})");
    Rng::new(seed)
}

fn random(n: usize, rng: &mut Rng) -> Vec<f32> {
    (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect()
}

fn assert_close(gpu: &[f32], cpu: &[f32], what: &str) {
    assert_eq!(gpu.len(), cpu.len(), "{what}: length");
    let scale = cpu.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(f32::MIN_POSITIVE);
    let (worst, at) = gpu
        .iter()
        .zip(cpu)
        .enumerate()
        .map(|(i, (g, c))| ((g - c).abs(), i))
        .fold((0.0f32, 0), |best, x| if x.0 > best.0 { x } else { best });
    let rel = worst / scale;
    assert!(
        rel <= TOLERANCE,
        "{what}: relative error {rel:.2e} at [{at}] (gpu {}, cpu {}, scale {scale})",
        gpu[at],
        cpu[at]
    );
}

fn relu(v: &[f32]) -> Vec<f32> {
    activate(Activation::Relu, v)
}

/// Every activation a kernel can fuse.
const ACTIVATIONS: [Activation; 3] = [Activation::Identity, Activation::Relu, Activation::Tanh];

/// `activation` applied to `v` by the CPU twin.
fn activate(activation: Activation, v: &[f32]) -> Vec<f32> {
    let mut out = v.to_vec();
    match activation {
        Activation::Identity => {}
        Activation::Relu => relu_forward(v, &mut out),
        Activation::Tanh => tanh_forward(v, &mut out),
    }
    out
}

/// The gradient `g` after `activation`, whose output was `y`, taken back through it by the CPU twin.
fn back_through(activation: Activation, y: &[f32], g: &[f32]) -> Vec<f32> {
    let mut out = g.to_vec();
    match activation {
        Activation::Identity => {}
        Activation::Relu => relu_backward(y, g, &mut out),
        Activation::Tanh => tanh_backward(y, g, &mut out),
    }
    out
}

fn conv_shapes() -> Vec<ConvShape> {
    vec![
        conv(64, 1, 28, 28, 6, 5, 1, 2),  // LeNet conv1
        conv(64, 6, 14, 14, 16, 5, 1, 0), // LeNet conv2
        conv(1, 3, 9, 7, 4, 3, 2, 1),     // odd, stride 2, padding
        conv(3, 2, 11, 6, 5, 4, 3, 2),    // non-square, even kernel
        ConvShape { kernel_h: 3, kernel_w: 2, ..conv(2, 2, 7, 6, 3, 1, 2, 1) },
        conv(2, 12, 12, 13, 9, 10, 1, 4), // channel and column blocks smaller than the dimension
    ]
}

#[test]
fn conv_forward_matches_cpu() {
    let Some(gpu) = common::gpu() else { return };
    let mut rng = fresh_rng("conv_forward");
    for s in conv_shapes() {
        let x = random(s.batch * s.input_len(), &mut rng);
        let w = random(s.weight_len(), &mut rng);
        let b = random(s.out_channels, &mut rng);
        let mut y = vec![0.0; s.batch * s.output_len()];
        conv2d_forward(&s, &x, &w, &b, &mut y);
        for a in ACTIVATIONS {
            assert_close(
                &ops::conv2d_forward(&gpu, &s, a, &x, &w, &b).unwrap(),
                &activate(a, &y),
                &format!("{a:?} {s:?}"),
            );
        }
    }
}

#[test]
fn conv_backward_matches_cpu() {
    let Some(gpu) = common::gpu() else { return };
    let mut rng = fresh_rng("conv_backward");
    for s in conv_shapes() {
        let x = random(s.batch * s.input_len(), &mut rng);
        let w = random(s.weight_len(), &mut rng);
        let dy = random(s.batch * s.output_len(), &mut rng);
        let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; s.out_channels]);
        conv2d_backward(&s, &x, &w, &dy, Some(&mut dx), &mut dw, &mut db);
        let (gpu_dw, gpu_db) = ops::conv2d_backward_params(&gpu, &s, &x, &dy).unwrap();
        assert_close(&gpu_dw, &dw, &format!("d_weight {s:?}"));
        assert_close(&gpu_db, &db, &format!("d_bias {s:?}"));
        // With the input taken as an activation's output, the gradient is taken back through it
        // (the convolution's own input gradient does not depend on the input).
        for a in ACTIVATIONS {
            let xa = activate(a, &x);
            let gpu_dx = ops::conv2d_backward_input(&gpu, &s, a, &xa, &w, &dy).unwrap();
            assert_close(&gpu_dx, &back_through(a, &xa, &dx), &format!("{a:?} d_input {s:?}"));
        }
    }
}

fn pool_shapes() -> Vec<PoolShape> {
    vec![
        PoolShape { batch: 64, channels: 6, in_h: 28, in_w: 28, window: 2, stride: 2 },
        PoolShape { batch: 64, channels: 16, in_h: 10, in_w: 10, window: 2, stride: 2 },
        PoolShape { batch: 1, channels: 3, in_h: 7, in_w: 9, window: 3, stride: 2 }, // overlapping
        PoolShape { batch: 3, channels: 2, in_h: 5, in_w: 6, window: 2, stride: 1 },
        PoolShape { batch: 2, channels: 1, in_h: 9, in_w: 5, window: 3, stride: 3 },
    ]
}

#[test]
fn maxpool_forward_and_backward_match_cpu() {
    let Some(gpu) = common::gpu() else { return };
    let mut rng = fresh_rng("maxpool");
    for s in pool_shapes() {
        let x = random(s.batch * s.input_len(), &mut rng);
        let n = s.batch * s.output_len();
        let (mut y, mut arg) = (vec![0.0; n], vec![0u32; n]);
        maxpool_forward(&s, &x, &mut y, &mut arg);
        let (gpu_y, gpu_arg) = ops::maxpool_forward(&gpu, &s, Activation::Identity, &x).unwrap();
        assert_eq!(gpu_y, y, "{s:?}: a maximum is exact");
        assert_eq!(gpu_arg, arg, "{s:?}: argmax");
        let (gpu_yr, _) = ops::maxpool_forward(&gpu, &s, Activation::Relu, &x).unwrap();
        assert_eq!(gpu_yr, relu(&y), "{s:?}: with relu");
        let (gpu_yt, _) = ops::maxpool_forward(&gpu, &s, Activation::Tanh, &x).unwrap();
        assert_close(&gpu_yt, &activate(Activation::Tanh, &y), &format!("{s:?}: with tanh"));
        // A ReLU's output has many exact zeros: ties, where the first pixel must win.
        let xr = relu(&x);
        let (mut yr, mut argr) = (vec![0.0; n], vec![0u32; n]);
        maxpool_forward(&s, &xr, &mut yr, &mut argr);
        assert_eq!(
            ops::maxpool_forward(&gpu, &s, Activation::Identity, &xr).unwrap(),
            (yr, argr),
            "{s:?}: ties"
        );

        let dy = random(n, &mut rng);
        let mut dx = vec![0.0; x.len()];
        maxpool_backward(&s, &dy, &arg, &mut dx);
        // With the input taken as an activation's output (the winners are given by `arg`), the
        // gradient is taken back through it.
        for a in ACTIVATIONS {
            let xa = activate(a, &x);
            let gpu_dx = ops::maxpool_backward(&gpu, &s, a, &xa, &dy, &arg).unwrap();
            assert_close(&gpu_dx, &back_through(a, &xa, &dx), &format!("{a:?} {s:?}"));
        }
    }
}

#[test]
fn avgpool_forward_and_backward_match_cpu() {
    let Some(gpu) = common::gpu() else { return };
    let mut rng = fresh_rng("avgpool");
    for s in pool_shapes() {
        let x = random(s.batch * s.input_len(), &mut rng);
        let n = s.batch * s.output_len();
        let mut y = vec![0.0; n];
        avgpool_forward(&s, &x, &mut y);
        for a in ACTIVATIONS {
            let gpu_y = ops::avgpool_forward(&gpu, &s, a, &x).unwrap();
            assert_close(&gpu_y, &activate(a, &y), &format!("{a:?} {s:?}"));
        }
        let dy = random(n, &mut rng);
        let mut dx = vec![0.0; x.len()];
        avgpool_backward(&s, &dy, &mut dx);
        for a in ACTIVATIONS {
            let xa = activate(a, &x);
            let gpu_dx = ops::avgpool_backward(&gpu, &s, a, &xa, &dy).unwrap();
            assert_close(&gpu_dx, &back_through(a, &xa, &dx), &format!("{a:?} d_input {s:?}"));
        }
    }
}

#[test]
fn activations_on_their_own_match_cpu() {
    let Some(gpu) = common::gpu() else { return };
    let mut rng = fresh_rng("activation");
    // The last size needs more than 65,535 workgroups: a 2-D dispatch.
    for n in [1, 63, 1000, 65_535 * 64 + 65] {
        // Spread wide, so tanh's saturation (and the far tails) are exercised too.
        let x: Vec<f32> = random(n, &mut rng).iter().map(|v| v * 30.0).collect();
        assert_eq!(ops::activation_forward(&gpu, Activation::Relu, &x).unwrap(), relu(&x));
        let gpu_t = ops::activation_forward(&gpu, Activation::Tanh, &x).unwrap();
        assert_close(&gpu_t, &activate(Activation::Tanh, &x), &format!("tanh of {n}"));
        let small = random(n, &mut rng);
        let gpu_t = ops::activation_forward(&gpu, Activation::Tanh, &small).unwrap();
        assert_close(&gpu_t, &activate(Activation::Tanh, &small), &format!("tanh of {n} in [-1, 1]"));
        let dy = random(n, &mut rng);
        for a in ACTIVATIONS {
            let xa = activate(a, &small);
            let gpu_dx = ops::activation_backward(&gpu, a, &xa, &dy).unwrap();
            assert_close(&gpu_dx, &back_through(a, &xa, &dy), &format!("{a:?} backward of {n}"));
        }
    }
}

#[test]
fn dense_forward_and_backward_match_cpu() {
    let Some(gpu) = common::gpu() else { return };
    let mut rng = fresh_rng("dense");
    for s in [
        DenseShape { batch: 64, in_features: 400, out_features: 120 },
        DenseShape { batch: 64, in_features: 84, out_features: 10 },
        DenseShape { batch: 1, in_features: 7, out_features: 3 },
        DenseShape { batch: 5, in_features: 33, out_features: 17 },
    ] {
        let x = random(s.batch * s.in_features, &mut rng);
        let w = random(s.out_features * s.in_features, &mut rng);
        let b = random(s.out_features, &mut rng);
        let mut y = vec![0.0; s.batch * s.out_features];
        dense_forward(&s, &x, &w, &b, &mut y);
        for a in ACTIVATIONS {
            assert_close(
                &ops::dense_forward(&gpu, &s, a, &x, &w, &b).unwrap(),
                &activate(a, &y),
                &format!("{a:?} {s:?}"),
            );
        }

        let dy = random(y.len(), &mut rng);
        let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; b.len()]);
        dense_backward(&s, &x, &w, &dy, Some(&mut dx), &mut dw, &mut db);
        let (gpu_dw, gpu_db) = ops::dense_backward_params(&gpu, &s, &x, &dy).unwrap();
        assert_close(&gpu_dw, &dw, &format!("d_weight {s:?}"));
        assert_close(&gpu_db, &db, &format!("d_bias {s:?}"));
        for a in ACTIVATIONS {
            let xa = activate(a, &x);
            let gpu_dx = ops::dense_backward_input(&gpu, &s, a, &xa, &w, &dy).unwrap();
            assert_close(&gpu_dx, &back_through(a, &xa, &dx), &format!("{a:?} d_input {s:?}"));
        }
    }
}

#[test]
fn softmax_cross_entropy_and_predict_match_cpu() {
    let Some(gpu) = common::gpu() else { return };
    let mut rng = fresh_rng("loss");
    for (batch, count, classes) in [(64, 64, 10), (64, 32, 10), (1, 1, 10), (300, 257, 7)] {
        let logits: Vec<f32> = random(batch * classes, &mut rng).iter().map(|v| v * 8.0).collect();
        let labels: Vec<u32> = (0..batch).map(|_| rng.below(classes) as u32).collect();
        let mut d = vec![0.0; batch * classes];
        let stats = softmax_cross_entropy(
            &logits[..count * classes],
            &labels[..count],
            classes,
            &mut d[..count * classes],
        );
        let (gpu_stats, gpu_d) = ops::softmax_cross_entropy(&gpu, &logits, &labels, classes, count).unwrap();
        assert_close(&gpu_d, &d, &format!("d_logits batch {batch} count {count}"));
        assert_close(&[gpu_stats.loss_sum], &[stats.loss_sum], "loss");
        assert_eq!(gpu_stats.correct, stats.correct);
        let expected: Vec<u32> = logits.chunks(classes).map(|r| argmax(r) as u32).collect();
        assert_eq!(ops::predict(&gpu, &logits, classes).unwrap(), expected);
    }
}

#[test]
fn optimizers_match_cpu() {
    let Some(gpu) = common::gpu() else { return };
    let mut rng = fresh_rng("optimizer");
    for optimizer in [Optimizer::Sgd { lr: 0.05, momentum: 0.9 }, Optimizer::adam(0.01)] {
        let n = 61_706;
        let (mut cpu_p, mut cpu_s) = (random(n, &mut rng), OptimizerState::new(n));
        let (mut gpu_p, mut gpu_s) = (cpu_p.clone(), OptimizerState::new(n));
        for _ in 0..3 {
            let g = random(n, &mut rng);
            optimizer_step(&optimizer, &mut cpu_s, &mut cpu_p, &g);
            ops::optimizer_step(&gpu, &optimizer, &mut gpu_s, &mut gpu_p, &g).unwrap();
        }
        assert_close(&gpu_p, &cpu_p, &format!("{optimizer:?} params"));
        assert_close(&gpu_s.first, &cpu_s.first, &format!("{optimizer:?} first moment"));
        assert_close(&gpu_s.second, &cpu_s.second, &format!("{optimizer:?} second moment"));
    }
}

#[test]
fn gather_matches_cpu() {
    let Some(gpu) = common::gpu() else { return };
    let mut rng = fresh_rng("gather");
    let data = synthetic::generate(101, 0, rng.next_u64()).train;
    for (count, batch) in [(64, 64), (37, 64), (1, 1)] {
        let indices: Vec<u32> = (0..count).map(|_| rng.below(data.len()) as u32).collect();
        let mut x = vec![0.0; batch * 784];
        let mut y = vec![0u32; batch];
        data.gather_normalized(&indices, &mut x[..count * 784], &mut y[..count]);
        let (gpu_x, gpu_y) = ops::gather(&gpu, &data, &indices, batch).unwrap();
        assert_close(&gpu_x, &x, "batch input");
        assert_eq!(gpu_y, y, "batch labels");
    }
}
