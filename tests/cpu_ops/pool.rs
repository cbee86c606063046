//! Max and average pooling: the lesson's example, overlapping windows and strides by hand, and
//! both backward passes against finite differences.

use super::random;
use crate::common::gradcheck::{check_gradient, dot};
use lenet_gpu::cpu::pool::{PoolShape, avgpool_backward, avgpool_forward, maxpool_backward, maxpool_forward};
use lenet_gpu::rng::Rng;

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
fn fused_relu_maxpool_equals_relu_then_maxpool_bit_for_bit() {
    use lenet_gpu::cpu::activation::{relu_backward, relu_forward};
    use lenet_gpu::cpu::pool::serial;
    let mut rng = Rng::new(5);
    for s in [shape(3, 2, 6, 6, 2, 2), shape(2, 1, 7, 5, 3, 2), shape(1, 1, 4, 4, 2, 1)] {
        // Negative windows, ties (values rounded to a coarse grid) and zeros.
        let x: Vec<f32> =
            random(s.batch * s.input_len(), &mut rng).iter().map(|v| (v * 3.0).round() - 0.5).collect();
        let dy = random(s.batch * s.output_len(), &mut rng);
        let mut relu = vec![0.0; x.len()];
        relu_forward(&x, &mut relu);
        let (mut y, mut arg) = (vec![0.0; dy.len()], vec![0; dy.len()]);
        maxpool_forward(&s, &relu, &mut y, &mut arg);
        let mut d_relu = vec![0.0; x.len()];
        maxpool_backward(&s, &dy, &arg, &mut d_relu);
        let mut dx = vec![0.0; x.len()];
        relu_backward(&relu, &d_relu, &mut dx);

        let (mut yf, mut argf) = (vec![0.0; dy.len()], vec![0; dy.len()]);
        serial::relu_maxpool_forward(&s, &x, &mut yf, &mut argf);
        let mut dxf = vec![f32::NAN; x.len()];
        serial::relu_maxpool_backward(&s, &yf, &dy, &argf, &mut dxf);
        let bits = |v: &[f32]| v.iter().map(|x| (x + 0.0).to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&yf), bits(&y), "{s:?}: output");
        assert_eq!(bits(&dxf), bits(&dx), "{s:?}: input gradient");
    }
}

#[test]
fn serial_pools_equal_the_parallel_ones() {
    use lenet_gpu::cpu::pool::serial;
    let mut rng = Rng::new(6);
    let s = shape(5, 3, 8, 6, 2, 2);
    let x = random(s.batch * s.input_len(), &mut rng);
    let dy = random(s.batch * s.output_len(), &mut rng);
    let (mut y, mut arg, mut dx) = (vec![0.0; dy.len()], vec![0; dy.len()], vec![0.0; x.len()]);
    let (mut ys, mut args, mut dxs) = (vec![1.0; dy.len()], vec![1; dy.len()], vec![1.0; x.len()]);
    maxpool_forward(&s, &x, &mut y, &mut arg);
    serial::maxpool_forward(&s, &x, &mut ys, &mut args);
    maxpool_backward(&s, &dy, &arg, &mut dx);
    serial::maxpool_backward(&s, &dy, &args, &mut dxs);
    assert_eq!((&ys, &args, &dxs), (&y, &arg, &dx));
    avgpool_forward(&s, &x, &mut y);
    serial::avgpool_forward(&s, &x, &mut ys);
    avgpool_backward(&s, &dy, &mut dx);
    serial::avgpool_backward(&s, &dy, &mut dxs);
    assert_eq!((&ys, &dxs), (&y, &dx));
}

fn shape(batch: usize, channels: usize, in_h: usize, in_w: usize, window: usize, stride: usize) -> PoolShape {
    PoolShape { batch, channels, in_h, in_w, window, stride }
}

#[test]
fn max_pooling_2x2_stride_2_equals_a_brute_force_search_with_ties_and_odd_sizes() {
    // LeNet's windows have a loop of their own: against the definition (the first maximum in
    // row-major order wins), on planes with a leftover row and column, ties and all-negative
    // windows.
    let mut rng = Rng::new(8);
    for s in [shape(2, 3, 7, 5, 2, 2), shape(1, 2, 28, 28, 2, 2), shape(3, 1, 2, 9, 2, 2)] {
        let x: Vec<f32> =
            random(s.batch * s.input_len(), &mut rng).iter().map(|v| (v * 2.0).round() - 0.5).collect();
        let (mut y, mut arg) = (vec![0.0; s.batch * s.output_len()], vec![0; s.batch * s.output_len()]);
        maxpool_forward(&s, &x, &mut y, &mut arg);
        let (ow, oh, plane) = (s.out_w(), s.out_h(), s.in_h * s.in_w);
        for (p, (ys, args)) in y.chunks(oh * ow).zip(arg.chunks(oh * ow)).enumerate() {
            let input = &x[p * plane..(p + 1) * plane];
            for (o, (&v, &a)) in ys.iter().zip(args).enumerate() {
                let (oy, ox) = (o / ow, o % ow);
                let window =
                    [(0, 0), (0, 1), (1, 0), (1, 1)].map(|(dy, dx)| (2 * oy + dy) * s.in_w + 2 * ox + dx);
                let best =
                    window.iter().copied().fold(window[0], |b, i| if input[i] > input[b] { i } else { b });
                assert_eq!((v, a), (input[best], best as u32), "{s:?}: plane {p}, output {o}");
            }
        }
    }
}

#[test]
fn global_average_pooling_by_hand_and_by_finite_differences() {
    use lenet_gpu::cpu::pool::{global_avgpool_backward, global_avgpool_forward};
    // Two images of two 2x2 planes.
    let x = [1.0, 2.0, 3.0, 6.0, -1.0, 0.0, 0.0, 5.0, 4.0, 4.0, 4.0, 4.0, 0.0, 0.0, 0.0, 2.0];
    let mut y = [0.0; 4];
    global_avgpool_forward(2, 2, 4, &x, &mut y);
    assert_eq!(y, [3.0, 1.0, 4.0, 0.5]);
    let mut dx = [0.0; 16];
    global_avgpool_backward(2, 2, 4, &[4.0, 8.0, 0.0, -2.0], &mut dx);
    assert_eq!(&dx[..8], &[1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0]);
    assert_eq!(&dx[12..], &[-0.5; 4]);
    let mut rng = lenet_gpu::rng::Rng::new(12);
    let (x, g) = (super::random(3 * 4 * 9, &mut rng), super::random(12, &mut rng));
    let pool = |x: &[f32]| {
        let mut y = vec![0.0; 12];
        global_avgpool_forward(3, 4, 9, x, &mut y);
        y
    };
    let mut dx = vec![0.0; x.len()];
    global_avgpool_backward(3, 4, 9, &g, &mut dx);
    crate::common::gradcheck::check_gradient("global pool d_input", &x, &dx, |x| {
        crate::common::gradcheck::dot(&g, &pool(x))
    });
}
