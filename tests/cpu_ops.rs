//! The CPU operations: the lesson's worked examples exactly, small stride/padding cases checked by
//! hand, a direct-loop convolution as a second opinion, and every backward pass against central
//! finite differences on random inputs.

mod common;

use common::conv_shape as conv;
use lenet_gpu::cpu::activation::{relu_backward, relu_forward, tanh_backward, tanh_forward};
use lenet_gpu::cpu::conv::{ConvShape, conv2d_backward, conv2d_forward};
use lenet_gpu::cpu::dense::{DenseShape, dense_backward, dense_forward};
use lenet_gpu::cpu::loss::softmax_cross_entropy;
use lenet_gpu::cpu::network::{Workspace, forward_backward};
use lenet_gpu::cpu::optimizer::{Optimizer, OptimizerState, optimizer_step};
use lenet_gpu::cpu::pool::{PoolShape, avgpool_backward, avgpool_forward, maxpool_backward, maxpool_forward};
use lenet_gpu::model::{Layer, Network, Parameters, Plan, Shape};
use lenet_gpu::rng::Rng;

fn random(n: usize, rng: &mut Rng) -> Vec<f32> {
    (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect()
}

fn conv_out(s: &ConvShape, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
    let mut y = vec![0.0; s.batch * s.output_len()];
    conv2d_forward(s, x, w, b, &mut y);
    y
}

// ---- The lesson's worked examples, exactly ----

#[test]
fn lesson_convolution_3x3_with_2x2_kernel() {
    let input: Vec<f32> = (0..9).map(|v| v as f32).collect();
    let s = conv(1, 1, 3, 3, 1, 2, 1, 0);
    assert_eq!(conv_out(&s, &input, &[0., 1., 2., 3.], &[0.]), vec![19., 25., 37., 43.]);
}

#[test]
fn lesson_max_pooling_2x2_stride_1() {
    let input: Vec<f32> = (0..9).map(|v| v as f32).collect();
    let s = PoolShape { batch: 1, channels: 1, in_h: 3, in_w: 3, window: 2, stride: 1 };
    let (mut out, mut arg) = (vec![0.0; 4], vec![0; 4]);
    maxpool_forward(&s, &input, &mut out, &mut arg);
    assert_eq!(out, vec![4., 5., 7., 8.]);
    assert_eq!(arg, vec![4, 5, 7, 8]);
}

#[test]
fn average_pooling_2x2_by_hand() {
    // The lesson's 3x3 input 0..8 with stride 1: (0+1+3+4)/4 = 2, (1+2+4+5)/4 = 3, ...
    let input: Vec<f32> = (0..9).map(|v| v as f32).collect();
    let s = PoolShape { batch: 1, channels: 1, in_h: 3, in_w: 3, window: 2, stride: 1 };
    let mut out = vec![0.0; 4];
    avgpool_forward(&s, &input, &mut out);
    assert_eq!(out, vec![2., 3., 5., 6.]);

    // 0..15 in 4x4 with stride 2, as LeNet subsamples: (0+1+4+5)/4 = 2.5, (2+3+6+7)/4 = 4.5, ...
    let input: Vec<f32> = (0..16).map(|v| v as f32).collect();
    let s = PoolShape { batch: 1, channels: 1, in_h: 4, in_w: 4, window: 2, stride: 2 };
    let mut out = vec![0.0; 4];
    avgpool_forward(&s, &input, &mut out);
    assert_eq!(out, vec![2.5, 4.5, 10.5, 12.5]);
    // Each output's gradient is shared equally by the four pixels of its window.
    let mut d_input = vec![0.0; 16];
    avgpool_backward(&s, &[4., 8., -4., 2.], &mut d_input);
    #[rustfmt::skip]
    let expected = vec![
        1., 1., 2., 2.,
        1., 1., 2., 2.,
        -1., -1., 0.5, 0.5,
        -1., -1., 0.5, 0.5,
    ];
    assert_eq!(d_input, expected);
}

#[test]
fn average_pooling_with_overlapping_windows_shares_out_every_gradient() {
    // 3x3 windows with stride 2 on a 5x5 input: the centre pixel (12) is in all four windows and
    // gets a ninth of each gradient; a corner only of its own window's.
    let s = PoolShape { batch: 1, channels: 1, in_h: 5, in_w: 5, window: 3, stride: 2 };
    let mut d_input = vec![0.0; 25];
    avgpool_backward(&s, &[9., 18., 27., 36.], &mut d_input);
    assert_eq!(d_input[12], 10.0);
    assert_eq!((d_input[0], d_input[4], d_input[20], d_input[24]), (1.0, 2.0, 3.0, 4.0));
    assert_eq!(d_input[2], 3.0, "between the top two windows");
    assert_eq!(d_input.iter().sum::<f32>(), 90.0, "every gradient is passed on whole");
}

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
fn lenet5_shapes_and_parameter_count() {
    let plan = Network::lenet5().plan().unwrap();
    let shapes: Vec<String> = plan.layers.iter().map(|l| l.output.to_string()).collect();
    assert_eq!(
        shapes,
        ["6@28x28", "6@28x28", "6@14x14", "16@10x10", "16@10x10", "16@5x5", "120", "120", "84", "84", "10"]
    );
    assert_eq!(plan.parameter_count, 61_706);
    let params = Parameters::zeros(&plan);
    let named: Vec<(String, Vec<usize>)> =
        params.views.iter().map(|v| (v.name.clone(), v.shape.clone())).collect();
    let expected: Vec<(&str, Vec<usize>)> = vec![
        ("conv1.weight", vec![6, 1, 5, 5]),
        ("conv1.bias", vec![6]),
        ("conv2.weight", vec![16, 6, 5, 5]),
        ("conv2.bias", vec![16]),
        ("fc1.weight", vec![120, 400]),
        ("fc1.bias", vec![120]),
        ("fc2.weight", vec![84, 120]),
        ("fc2.bias", vec![84]),
        ("fc3.weight", vec![10, 84]),
        ("fc3.bias", vec![10]),
    ];
    assert_eq!(named, expected.into_iter().map(|(n, s)| (n.to_string(), s)).collect::<Vec<_>>());
    // The views tile the buffer with no gap or overlap.
    let mut offset = 0;
    for v in &params.views {
        assert_eq!(v.offset, offset, "{}", v.name);
        offset += v.len;
    }
    assert_eq!(offset, 61_706);
}

#[test]
fn initialization_follows_pytorch_bounds_and_the_seed() {
    let plan = Network::lenet5().plan().unwrap();
    let a = Parameters::init(&plan, 1);
    assert_eq!(a, Parameters::init(&plan, 1));
    assert_ne!(a.values, Parameters::init(&plan, 2).values);
    // Each bias shares its layer's weight bound: 1/√fan_in of that weight.
    for pair in a.views.chunks(2) {
        let (weight, bias) = (&pair[0], &pair[1]);
        let fan_in: usize = weight.shape[1..].iter().product();
        let bound = 1.0 / (fan_in as f32).sqrt();
        for v in [weight, bias] {
            let max = a.values[v.offset..v.offset + v.len].iter().fold(0.0f32, |m, x| m.max(x.abs()));
            // Weights are many draws: their largest comes close to the bound.
            let floor = if v.len > 100 { 0.8 * bound } else { 0.0 };
            assert!(max <= bound && max > floor, "{}: max {max}, bound {bound}", v.name);
        }
    }
}

// ---- Stride, padding, channels, non-square inputs: checked by hand ----

#[test]
fn convolution_with_stride_2_padding_1_on_a_non_square_input() {
    // [[1,2,3,4],[5,6,7,8],[9,10,11,12]] with a 3x3 kernel of ones, stride 2, padding 1.
    let input: Vec<f32> = (1..=12).map(|v| v as f32).collect();
    let s = conv(1, 1, 3, 4, 1, 3, 2, 1);
    assert_eq!((s.out_h(), s.out_w()), (2, 2));
    assert_eq!(conv_out(&s, &input, &[1.0; 9], &[0.]), vec![14., 30., 30., 54.]);
}

#[test]
fn convolution_sums_input_channels_and_adds_each_output_bias() {
    // Channel 0 all ones, channel 1 all twos; 1x1 kernels: out0 = c0 + c1 + 0.5, out1 = c0 − c1 − 1.
    let input = [1., 1., 1., 1., 2., 2., 2., 2.];
    let s = conv(1, 2, 2, 2, 2, 1, 1, 0);
    assert_eq!(
        conv_out(&s, &input, &[1., 1., 1., -1.], &[0.5, -1.]),
        vec![3.5, 3.5, 3.5, 3.5, -2., -2., -2., -2.]
    );
}

#[test]
fn max_pooling_with_stride_2_and_overlapping_windows() {
    let s = PoolShape { batch: 1, channels: 1, in_h: 2, in_w: 4, window: 2, stride: 2 };
    let (mut out, mut arg) = (vec![0.0; 2], vec![0; 2]);
    maxpool_forward(&s, &[1., 5., 2., 0., 3., 4., 8., 7.], &mut out, &mut arg);
    assert_eq!((out, arg), (vec![5., 8.], vec![1, 6]));

    // 3x3 windows with stride 2 overlap on a 5x5 input; the centre pixel (12) wins all four.
    let mut input = vec![0.0; 25];
    input[12] = 9.0;
    let s = PoolShape { batch: 1, channels: 1, in_h: 5, in_w: 5, window: 3, stride: 2 };
    let (mut out, mut arg) = (vec![0.0; 4], vec![0; 4]);
    maxpool_forward(&s, &input, &mut out, &mut arg);
    assert_eq!((out, arg.clone()), (vec![9.0; 4], vec![12; 4]));
    let mut d_input = vec![0.0; 25];
    maxpool_backward(&s, &[1., 2., 3., 4.], &arg, &mut d_input);
    assert_eq!(d_input[12], 10.0);
    assert_eq!(d_input.iter().sum::<f32>(), 10.0);
}

#[test]
fn dense_layer_by_hand() {
    // x = [1, 2], W = [[1, 0], [0, 1], [1, 1]], b = [0, 1, -1] → [1, 3, 2].
    let s = DenseShape { batch: 1, in_features: 2, out_features: 3 };
    let mut y = vec![0.0; 3];
    dense_forward(&s, &[1., 2.], &[1., 0., 0., 1., 1., 1.], &[0., 1., -1.], &mut y);
    assert_eq!(y, vec![1., 3., 2.]);
}

/// The definition of convolution, as plain loops: a second opinion on im2col + GEMM.
fn direct_conv(s: &ConvShape, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
    let (oh, ow) = (s.out_h(), s.out_w());
    let mut y = vec![0.0; s.batch * s.output_len()];
    for n in 0..s.batch {
        for o in 0..s.out_channels {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = b[o] as f64;
                    for c in 0..s.in_channels {
                        for ky in 0..s.kernel_h {
                            for kx in 0..s.kernel_w {
                                let iy = (oy * s.stride + ky) as isize - s.padding as isize;
                                let ix = (ox * s.stride + kx) as isize - s.padding as isize;
                                if iy >= 0 && ix >= 0 && (iy as usize) < s.in_h && (ix as usize) < s.in_w {
                                    let xi = ((n * s.in_channels + c) * s.in_h + iy as usize) * s.in_w
                                        + ix as usize;
                                    let wi = ((o * s.in_channels + c) * s.kernel_h + ky) * s.kernel_w + kx;
                                    acc += x[xi] as f64 * w[wi] as f64;
                                }
                            }
                        }
                    }
                    y[((n * s.out_channels + o) * oh + oy) * ow + ox] = acc as f32;
                }
            }
        }
    }
    y
}

fn assert_close(actual: &[f32], expected: &[f32], tol: f32, what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let err = (a - e).abs() / e.abs().max(1.0);
        assert!(err <= tol, "{what}[{i}]: got {a}, expected {e} (error {err:.2e} > {tol:.0e})");
    }
}

#[test]
fn im2col_convolution_matches_direct_loops_on_random_shapes() {
    let mut rng = Rng::new(11);
    let shapes = [
        conv(3, 2, 7, 5, 3, 3, 1, 0),
        conv(2, 3, 9, 9, 4, 3, 2, 1),
        conv(1, 1, 6, 11, 2, 5, 1, 2),
        conv(17, 4, 8, 8, 5, 2, 2, 0),
        ConvShape { kernel_h: 3, kernel_w: 2, ..conv(2, 2, 7, 6, 3, 1, 3, 2) },
        // LeNet's conv1, a non-square kernel with padding, more than 8 output channels.
        conv(2, 1, 28, 28, 6, 5, 1, 2),
        ConvShape { kernel_h: 2, kernel_w: 5, ..conv(3, 2, 8, 19, 8, 1, 1, 2) },
        conv(2, 3, 8, 9, 10, 3, 1, 1),
        // Padding wider than the image, a kernel as wide as the padded input.
        conv(1, 1, 1, 2, 2, 3, 1, 3),
        ConvShape { kernel_h: 1, kernel_w: 8, ..conv(1, 2, 3, 2, 2, 1, 1, 3) },
        // The direct kernels (stride 1): narrow ones for 1 to 6 output channels, wide ones for
        // 8, 16, 24 and 32 (LeNet's conv2, then with padding and odd sizes).
        conv(2, 6, 14, 14, 16, 5, 1, 0),
        conv(3, 2, 9, 11, 8, 3, 1, 1),
        ConvShape { kernel_h: 2, kernel_w: 4, ..conv(2, 3, 7, 5, 24, 1, 1, 2) },
        conv(1, 5, 6, 6, 32, 3, 1, 0),
        conv(2, 3, 33, 20, 1, 3, 1, 1),
        conv(2, 2, 17, 5, 4, 3, 1, 2),
        conv(1, 1, 4, 40, 5, 4, 1, 0),
    ];
    for s in &shapes {
        let x = random(s.batch * s.input_len(), &mut rng);
        let w = random(s.weight_len(), &mut rng);
        let b = random(s.out_channels, &mut rng);
        assert_close(&conv_out(s, &x, &w, &b), &direct_conv(s, &x, &w, &b), 1e-5, &format!("{s:?}"));
    }
}

// ---- Backward passes against central finite differences ----

/// Checks `analytic` (the gradient of `loss` at `x`) against central differences, coordinate by
/// coordinate: |numeric − analytic| ≤ 1% of their size + 1e-4 (the noise of f32 arithmetic
/// divided by the probe step).
fn check_gradient(what: &str, x: &[f32], analytic: &[f32], loss: impl Fn(&[f32]) -> f64) {
    let checked = check_gradient_away_from_kinks(what, x, analytic, |x| (loss(x), Vec::new()));
    assert_eq!(checked, x.len(), "{what}: every coordinate is smooth here");
}

/// As `check_gradient`, for a loss that also returns its activation pattern (which ReLUs are on,
/// which pixels win each max-pool). A probe whose pattern differs from the pattern at `x` crossed
/// a kink, where the finite difference means nothing: that coordinate is skipped. Returns how
/// many coordinates were checked.
fn check_gradient_away_from_kinks(
    what: &str,
    x: &[f32],
    analytic: &[f32],
    loss: impl Fn(&[f32]) -> (f64, Vec<u32>),
) -> usize {
    const EPS: f32 = 1e-2;
    assert_eq!(x.len(), analytic.len(), "{what}: gradient length");
    assert!(analytic.iter().any(|&g| g.abs() > 1e-3), "{what}: gradient is ~zero, check is vacuous");
    let pattern = loss(x).1;
    let mut probe = x.to_vec();
    let mut checked = 0;
    for i in 0..x.len() {
        probe[i] = x[i] + EPS;
        let (up, up_pattern) = loss(&probe);
        probe[i] = x[i] - EPS;
        let (down, down_pattern) = loss(&probe);
        probe[i] = x[i];
        if up_pattern != pattern || down_pattern != pattern {
            continue;
        }
        let numeric = (up - down) / (2.0 * EPS as f64);
        let analytic_i = analytic[i] as f64;
        let allowed = 1e-2 * numeric.abs().max(analytic_i.abs()) + 1e-4;
        assert!(
            (numeric - analytic_i).abs() <= allowed,
            "{what}[{i}]: analytic {analytic_i:.6} vs numeric {numeric:.6} (allowed difference {allowed:.1e})"
        );
        checked += 1;
    }
    checked
}

/// Σ upstream · output, in f64: a scalar loss whose gradient w.r.t. the output is `upstream`.
fn dot(upstream: &[f32], output: &[f32]) -> f64 {
    upstream.iter().zip(output).map(|(&g, &y)| g as f64 * y as f64).sum()
}

#[test]
fn conv_backward_matches_finite_differences() {
    let mut rng = Rng::new(21);
    // The weight gradient runs directly for stride 1 with at most 6 output channels or a
    // multiple of 8 up to 32 (8, 16, 32), else through im2col (stride 2; 9 channels).
    for s in [
        conv(2, 2, 6, 5, 3, 3, 1, 1),
        conv(3, 3, 7, 7, 2, 3, 2, 1),
        conv(1, 2, 6, 6, 9, 3, 1, 1),
        conv(1, 1, 5, 17, 2, 2, 1, 0),
        conv(1, 2, 6, 7, 8, 3, 1, 1),
        conv(2, 3, 6, 6, 16, 3, 1, 0),
        ConvShape { kernel_h: 1, kernel_w: 3, ..conv(1, 1, 4, 5, 32, 1, 1, 1) },
        // The input gradient runs directly for every stride-1 shape: a non-square kernel with
        // padding 2, 7 taps (a group of 6 and a tail of 1), LeNet's conv2 at batch 1.
        ConvShape { kernel_h: 2, kernel_w: 3, ..conv(2, 3, 5, 7, 4, 1, 1, 2) },
        ConvShape { kernel_h: 7, kernel_w: 1, ..conv(1, 1, 9, 4, 3, 1, 1, 0) },
        conv(1, 6, 14, 14, 16, 5, 1, 0),
    ] {
        let x = random(s.batch * s.input_len(), &mut rng);
        let w = random(s.weight_len(), &mut rng);
        let b = random(s.out_channels, &mut rng);
        let g = random(s.batch * s.output_len(), &mut rng);
        let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; b.len()]);
        conv2d_backward(&s, &x, &w, &g, Some(&mut dx), &mut dw, &mut db);
        check_gradient("conv d_input", &x, &dx, |x| dot(&g, &conv_out(&s, x, &w, &b)));
        check_gradient("conv d_weight", &w, &dw, |w| dot(&g, &conv_out(&s, &x, w, &b)));
        check_gradient("conv d_bias", &b, &db, |b| dot(&g, &conv_out(&s, &x, &w, b)));
    }
}

#[test]
fn conv_weight_gradient_sums_over_more_images_than_one_chunk() {
    // 19 images span three of the engine's gradient chunks: the chunked sum must equal the
    // plain sum over images.
    let mut rng = Rng::new(22);
    for s in [conv(19, 2, 5, 5, 2, 3, 1, 0), conv(19, 2, 5, 5, 16, 3, 1, 0)] {
        weight_gradient_sums_over_images(&s, &mut rng);
    }
}

fn weight_gradient_sums_over_images(s: &ConvShape, rng: &mut Rng) {
    let s = *s;
    let oc = s.out_channels;
    let x = random(s.batch * s.input_len(), rng);
    let w = random(s.weight_len(), rng);
    let g = random(s.batch * s.output_len(), rng);
    let (mut dw, mut db) = (vec![0.0; w.len()], vec![0.0; oc]);
    conv2d_backward(&s, &x, &w, &g, None, &mut dw, &mut db);
    let (mut sum_w, mut sum_b) = (vec![0.0; w.len()], vec![0.0; oc]);
    let one = ConvShape { batch: 1, ..s };
    for n in 0..s.batch {
        let (mut dw1, mut db1) = (vec![0.0; w.len()], vec![0.0; oc]);
        let xi = &x[n * s.input_len()..(n + 1) * s.input_len()];
        let gi = &g[n * s.output_len()..(n + 1) * s.output_len()];
        conv2d_backward(&one, xi, &w, gi, None, &mut dw1, &mut db1);
        sum_w.iter_mut().zip(&dw1).for_each(|(a, b)| *a += b);
        sum_b.iter_mut().zip(&db1).for_each(|(a, b)| *a += b);
    }
    assert_close(&dw, &sum_w, 1e-5, "d_weight");
    assert_close(&db, &sum_b, 1e-5, "d_bias");
}

#[test]
fn maxpool_backward_matches_finite_differences() {
    let mut rng = Rng::new(31);
    for s in [
        PoolShape { batch: 2, channels: 3, in_h: 6, in_w: 4, window: 2, stride: 2 },
        PoolShape { batch: 1, channels: 2, in_h: 7, in_w: 7, window: 3, stride: 2 },
    ] {
        // Distinct values spaced well apart, so a probe of ±eps never changes a window's winner.
        let n = s.batch * s.input_len();
        let mut x: Vec<f32> = (0..n).map(|i| i as f32 * 0.1).collect();
        rng.shuffle(&mut x);
        let g = random(s.batch * s.output_len(), &mut rng);
        let pool = |x: &[f32]| {
            let (mut y, mut a) = (vec![0.0; g.len()], vec![0; g.len()]);
            maxpool_forward(&s, x, &mut y, &mut a);
            (y, a)
        };
        let (_, argmax) = pool(&x);
        let mut dx = vec![0.0; n];
        maxpool_backward(&s, &g, &argmax, &mut dx);
        check_gradient("maxpool d_input", &x, &dx, |x| dot(&g, &pool(x).0));
    }
}

#[test]
fn avgpool_backward_matches_finite_differences() {
    let mut rng = Rng::new(32);
    for s in [
        PoolShape { batch: 2, channels: 3, in_h: 6, in_w: 4, window: 2, stride: 2 },
        PoolShape { batch: 1, channels: 2, in_h: 7, in_w: 7, window: 3, stride: 2 },
        PoolShape { batch: 1, channels: 1, in_h: 5, in_w: 6, window: 2, stride: 1 },
        PoolShape { batch: 1, channels: 2, in_h: 7, in_w: 5, window: 2, stride: 3 }, // pixels in no window
    ] {
        let x = random(s.batch * s.input_len(), &mut rng);
        let g = random(s.batch * s.output_len(), &mut rng);
        let pool = |x: &[f32]| {
            let mut y = vec![0.0; g.len()];
            avgpool_forward(&s, x, &mut y);
            y
        };
        let mut dx = vec![0.0; x.len()];
        avgpool_backward(&s, &g, &mut dx);
        check_gradient("avgpool d_input", &x, &dx, |x| dot(&g, &pool(x)));
    }
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

#[test]
fn whole_network_gradient_matches_finite_differences() {
    // A small network with every layer kind, stride and padding: the gradient of the mean loss
    // w.r.t. every parameter, through forward_backward.
    let network = Network {
        input: Shape::new(2, 7, 6),
        layers: vec![
            Layer::conv(3, 3, 2, 1),
            Layer::Relu,
            Layer::MaxPool { window: 2, stride: 1 },
            Layer::conv(4, 2, 1, 0),
            Layer::Relu,
            Layer::Dense { out_features: 5 },
            Layer::Relu,
            Layer::Dense { out_features: 3 },
        ],
    };
    let checked = check_network_gradient(&network);
    let total = network.plan().unwrap().parameter_count;
    assert!(checked * 10 >= total * 7, "only {checked} of {total} coordinates away from kinks");
}

#[test]
fn smooth_network_gradient_matches_finite_differences_everywhere() {
    // The 1998 LeNet's kind of network, tanh and average pooling only (overlapping windows, and
    // a tanh on the logits): no kinks, so every coordinate is checked.
    let network = Network {
        input: Shape::new(1, 9, 8),
        layers: vec![
            Layer::conv(3, 3, 1, 1),
            Layer::Tanh,
            Layer::AvgPool { window: 3, stride: 2 },
            Layer::Dense { out_features: 5 },
            Layer::Tanh,
            Layer::Dense { out_features: 3 },
            Layer::Tanh,
        ],
    };
    assert_eq!(check_network_gradient(&network), network.plan().unwrap().parameter_count);
}

/// Checks the gradient of the mean loss w.r.t. every parameter of `network`, through
/// forward_backward, on 4 random examples; returns how many coordinates were away from kinks.
fn check_network_gradient(network: &Network) -> usize {
    let plan = network.plan().unwrap();
    let params = Parameters::init(&plan, 5);
    let mut rng = Rng::new(71);
    let n = 4;
    let input = random(n * plan.input().len(), &mut rng);
    let labels: Vec<u32> = (0..n).map(|_| rng.below(3) as u32).collect();
    let mut ws = Workspace::new(&plan, n);
    let mut grads = vec![0.0; plan.parameter_count];
    forward_backward(&plan, &params.values, &input, &labels, &mut ws, &mut grads);
    let loss = |p: &[f32]| {
        let mut ws = Workspace::new(&plan, n);
        let mut g = vec![0.0; p.len()];
        let loss = forward_backward(&plan, p, &input, &labels, &mut ws, &mut g).loss_sum as f64 / n as f64;
        (loss, activation_pattern(&plan, &ws, n))
    };
    check_gradient_away_from_kinks(&network.layers_string(), &params.values, &grads, loss)
}

/// Which ReLUs are on and which pixels win each max-pool: the loss is smooth in the
/// parameters wherever this stays the same, so finite differences are meaningful there.
fn activation_pattern(plan: &Plan, ws: &Workspace, n: usize) -> Vec<u32> {
    let mut pattern = Vec::new();
    for (i, layer) in plan.layers.iter().enumerate() {
        match layer.layer {
            Layer::Relu => pattern.extend(ws.output(plan, i, n).iter().map(|&v| (v > 0.0) as u32)),
            Layer::MaxPool { .. } => pattern.extend_from_slice(ws.pool_argmax(plan, i, n)),
            _ => {}
        }
    }
    pattern
}

// ---- Optimizers ----

#[test]
fn sgd_momentum_and_adam_follow_pytorch_formulas() {
    let mut params = vec![1.0f32, -2.0];
    let mut state = OptimizerState::new(2);
    let sgd = Optimizer::Sgd { lr: 0.1, momentum: 0.9 };
    optimizer_step(&sgd, &mut state, &mut params, &[0.5, 1.0]);
    assert_eq!(params, vec![0.95, -2.1]);
    optimizer_step(&sgd, &mut state, &mut params, &[0.5, 1.0]); // v = 0.95, 1.9
    assert_close(&params, &[0.855, -2.29], 1e-6, "sgd step 2");

    // Adam's first step moves every parameter by lr in the direction against its gradient.
    let mut params = vec![1.0f32, -2.0, 0.5];
    let mut state = OptimizerState::new(3);
    optimizer_step(&Optimizer::adam(0.01), &mut state, &mut params, &[3.0, -0.001, 1e3]);
    assert_close(&params, &[0.99, -1.99, 0.49], 1e-5, "adam step 1");
}
