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
