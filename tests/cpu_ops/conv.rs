//! Convolution: the lesson's example, stride, padding and channels by hand, im2col + GEMM against
//! direct loops, and the backward pass against finite differences.

use super::{assert_close, conv_out, random};
use crate::common::gradcheck::{check_gradient, dot};
use lenet_gpu::cpu::conv::{ConvShape, conv2d_backward};
use lenet_gpu::rng::Rng;

#[test]
fn lesson_convolution_3x3_with_2x2_kernel() {
    let input: Vec<f32> = (0..9).map(|v| v as f32).collect();
    let s = ConvShape::square(1, 1, 3, 3, 1, 2, 1, 0);
    assert_eq!(conv_out(&s, &input, &[0., 1., 2., 3.], &[0.]), vec![19., 25., 37., 43.]);
}

#[test]
fn convolution_with_stride_2_padding_1_on_a_non_square_input() {
    // [[1,2,3,4],[5,6,7,8],[9,10,11,12]] with a 3x3 kernel of ones, stride 2, padding 1.
    let input: Vec<f32> = (1..=12).map(|v| v as f32).collect();
    let s = ConvShape::square(1, 1, 3, 4, 1, 3, 2, 1);
    assert_eq!((s.out_h(), s.out_w()), (2, 2));
    assert_eq!(conv_out(&s, &input, &[1.0; 9], &[0.]), vec![14., 30., 30., 54.]);
}

#[test]
fn convolution_sums_input_channels_and_adds_each_output_bias() {
    // Channel 0 all ones, channel 1 all twos; 1x1 kernels: out0 = c0 + c1 + 0.5, out1 = c0 − c1 − 1.
    let input = [1., 1., 1., 1., 2., 2., 2., 2.];
    let s = ConvShape::square(1, 2, 2, 2, 2, 1, 1, 0);
    assert_eq!(
        conv_out(&s, &input, &[1., 1., 1., -1.], &[0.5, -1.]),
        vec![3.5, 3.5, 3.5, 3.5, -2., -2., -2., -2.]
    );
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

#[test]
fn im2col_convolution_matches_direct_loops_on_random_shapes() {
    let mut rng = Rng::new(11);
    let shapes = [
        ConvShape::square(3, 2, 7, 5, 3, 3, 1, 0),
        ConvShape::square(2, 3, 9, 9, 4, 3, 2, 1),
        ConvShape::square(1, 1, 6, 11, 2, 5, 1, 2),
        ConvShape::square(17, 4, 8, 8, 5, 2, 2, 0),
        ConvShape { kernel_h: 3, kernel_w: 2, ..ConvShape::square(2, 2, 7, 6, 3, 1, 3, 2) },
        // LeNet's conv1, a non-square kernel with padding, more than 8 output channels.
        ConvShape::square(2, 1, 28, 28, 6, 5, 1, 2),
        ConvShape { kernel_h: 2, kernel_w: 5, ..ConvShape::square(3, 2, 8, 19, 8, 1, 1, 2) },
        ConvShape::square(2, 3, 8, 9, 10, 3, 1, 1),
        // Padding wider than the image, a kernel as wide as the padded input.
        ConvShape::square(1, 1, 1, 2, 2, 3, 1, 3),
        ConvShape { kernel_h: 1, kernel_w: 8, ..ConvShape::square(1, 2, 3, 2, 2, 1, 1, 3) },
        // The direct kernels (stride 1): narrow ones for 1 to 6 output channels, wide ones for
        // 8, 16, 24 and 32 (LeNet's conv2, then with padding and odd sizes).
        ConvShape::square(2, 6, 14, 14, 16, 5, 1, 0),
        ConvShape::square(3, 2, 9, 11, 8, 3, 1, 1),
        ConvShape { kernel_h: 2, kernel_w: 4, ..ConvShape::square(2, 3, 7, 5, 24, 1, 1, 2) },
        ConvShape::square(1, 5, 6, 6, 32, 3, 1, 0),
        ConvShape::square(2, 3, 33, 20, 1, 3, 1, 1),
        ConvShape::square(2, 2, 17, 5, 4, 3, 1, 2),
        ConvShape::square(1, 1, 4, 40, 5, 4, 1, 0),
        // Wide layers, on the blocked GEMM where the CPU has AVX2: 40 channels (past the direct
        // kernels' 32), 70 with a stride (more rows than one tile block, a ragged edge).
        ConvShape::square(2, 5, 9, 8, 40, 3, 1, 1),
        ConvShape::square(1, 3, 12, 12, 70, 3, 2, 1),
    ];
    for s in &shapes {
        let x = random(s.batch * s.input_len(), &mut rng);
        let w = random(s.weight_len(), &mut rng);
        let b = random(s.out_channels, &mut rng);
        assert_close(&conv_out(s, &x, &w, &b), &direct_conv(s, &x, &w, &b), 1e-5, &format!("{s:?}"));
    }
}

#[test]
fn conv_backward_matches_finite_differences() {
    let mut rng = Rng::new(21);
    // The weight gradient runs directly for stride 1 with at most 6 output channels or a
    // multiple of 8 up to 32 (8, 16, 32), else through im2col (stride 2; 9 channels).
    for s in [
        ConvShape::square(2, 2, 6, 5, 3, 3, 1, 1),
        ConvShape::square(3, 3, 7, 7, 2, 3, 2, 1),
        ConvShape::square(1, 2, 6, 6, 9, 3, 1, 1),
        ConvShape::square(1, 1, 5, 17, 2, 2, 1, 0),
        ConvShape::square(1, 2, 6, 7, 8, 3, 1, 1),
        ConvShape::square(2, 3, 6, 6, 16, 3, 1, 0),
        ConvShape { kernel_h: 1, kernel_w: 3, ..ConvShape::square(1, 1, 4, 5, 32, 1, 1, 1) },
        // The input gradient runs directly for every stride-1 shape: a non-square kernel with
        // padding 2, 7 taps (a group of 6 and a tail of 1), LeNet's conv2 at batch 1.
        ConvShape { kernel_h: 2, kernel_w: 3, ..ConvShape::square(2, 3, 5, 7, 4, 1, 1, 2) },
        ConvShape { kernel_h: 7, kernel_w: 1, ..ConvShape::square(1, 1, 9, 4, 3, 1, 1, 0) },
        ConvShape::square(1, 6, 14, 14, 16, 5, 1, 0),
        // 40 channels: the forward pass and the weight gradient on the blocked GEMM (AVX2).
        ConvShape::square(1, 2, 5, 5, 40, 3, 1, 1),
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
    for s in [ConvShape::square(19, 2, 5, 5, 2, 3, 1, 0), ConvShape::square(19, 2, 5, 5, 16, 3, 1, 0)] {
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
