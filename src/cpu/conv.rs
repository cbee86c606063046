//! 2-D convolution (cross-correlation, as in PyTorch) with bias, any kernel size, stride and zero
//! padding. GPU twin: `shaders/conv.wgsl`.
//!
//! Each image is lowered to a patch matrix (im2col) so the work becomes one matrix product:
//! output[OC, P] = weight[OC, K] · cols[K, P] + bias, with K = C·KH·KW and P = OH·OW.
//! Both products are small and poorly shaped for LeNet's layers (6 or 16 output channels): with
//! stride 1 and at most 6, or a multiple of 8 up to 32, output channels, the forward pass and the
//! weight gradient run directly instead (`conv_direct/`).

use super::GRAD_CHUNK;
use super::blocked_gemm::{self as blocked, GemmScratch, Kernel, Strided};
use super::conv_direct as direct;
use super::gemm::gemm;
pub use crate::model::shapes::ConvShape;
use rayon::prelude::*;

/// Lowers one image [C, H, W] to cols [K, P]: row (c, ky, kx), column (oy, ox) holds the input
/// pixel under kernel tap (ky, kx) when the kernel sits at output position (oy, ox), or 0 in the
/// padding.
fn im2col(s: &ConvShape, image: &[f32], cols: &mut [f32]) {
    let (oh, ow) = (s.out_h(), s.out_w());
    let mut rows = cols.chunks_exact_mut(oh * ow);
    for c in 0..s.in_channels {
        let plane = &image[c * s.in_h * s.in_w..(c + 1) * s.in_h * s.in_w];
        for ky in 0..s.kernel_h {
            for kx in 0..s.kernel_w {
                let row = rows.next().expect("cols has K rows");
                for oy in 0..oh {
                    let iy = (oy * s.stride + ky) as isize - s.padding as isize;
                    let out_row = &mut row[oy * ow..(oy + 1) * ow];
                    if iy < 0 || iy >= s.in_h as isize {
                        out_row.fill(0.0);
                        continue;
                    }
                    let in_row = &plane[iy as usize * s.in_w..(iy as usize + 1) * s.in_w];
                    if s.stride == 1 {
                        // The columns inside the image form one run: copy it, zero the margins.
                        let first = s.padding.saturating_sub(kx).min(ow);
                        let end = (s.in_w + s.padding).saturating_sub(kx).clamp(first, ow);
                        out_row[..first].fill(0.0);
                        if end > first {
                            let start = first + kx - s.padding; // the input column at `first`
                            out_row[first..end].copy_from_slice(&in_row[start..start + end - first]);
                        }
                        out_row[end..].fill(0.0);
                        continue;
                    }
                    for (ox, v) in out_row.iter_mut().enumerate() {
                        let ix = (ox * s.stride + kx) as isize - s.padding as isize;
                        *v = if ix < 0 || ix >= s.in_w as isize { 0.0 } else { in_row[ix as usize] };
                    }
                }
            }
        }
    }
}

/// The adjoint of im2col: adds each entry of cols [K, P] back onto the pixel it was copied from.
fn col2im(s: &ConvShape, cols: &[f32], image: &mut [f32]) {
    image.fill(0.0);
    let (oh, ow) = (s.out_h(), s.out_w());
    let mut rows = cols.chunks_exact(oh * ow);
    for c in 0..s.in_channels {
        let plane = &mut image[c * s.in_h * s.in_w..(c + 1) * s.in_h * s.in_w];
        for ky in 0..s.kernel_h {
            for kx in 0..s.kernel_w {
                let row = rows.next().expect("cols has K rows");
                for oy in 0..oh {
                    let iy = (oy * s.stride + ky) as isize - s.padding as isize;
                    if iy < 0 || iy >= s.in_h as isize {
                        continue;
                    }
                    let in_row = &mut plane[iy as usize * s.in_w..(iy as usize + 1) * s.in_w];
                    let out_row = &row[oy * ow..(oy + 1) * ow];
                    if s.stride == 1 {
                        // The columns inside the image form one run (as in im2col).
                        let first = s.padding.saturating_sub(kx).min(ow);
                        let end = (s.in_w + s.padding).saturating_sub(kx).clamp(first, ow);
                        if end > first {
                            let start = first + kx - s.padding;
                            let dst = &mut in_row[start..start + end - first];
                            dst.iter_mut().zip(&out_row[first..end]).for_each(|(d, v)| *d += v);
                        }
                        continue;
                    }
                    for (ox, &v) in out_row.iter().enumerate() {
                        let ix = (ox * s.stride + kx) as isize - s.padding as isize;
                        if ix >= 0 && ix < s.in_w as isize {
                            in_row[ix as usize] += v;
                        }
                    }
                }
            }
        }
    }
}

/// The three products of the im2col path, one image each: the blocked GEMM where this CPU has
/// a kernel for it (the same sums on every such CPU), the `matrixmultiply` crate elsewhere.
///
/// out [OC, P] (holding the bias) += weight [OC, K] · cols [K, P].
fn forward_product(s: &ConvShape, weight: &[f32], cols: &[f32], out: &mut [f32], scratch: &mut GemmScratch) {
    let (oc, k, p) = (s.out_channels, s.patch_len(), s.positions());
    match Kernel::best() {
        Some(kernel) => blocked::gemm(
            kernel,
            oc,
            p,
            k,
            Strided::rows(weight, k),
            Strided::rows(cols, p),
            true,
            out,
            p,
            scratch,
        ),
        None => gemm(oc, p, k, weight, false, cols, false, 1.0, out),
    }
}

/// d_weight [OC, K] += d_out [OC, P] · cols [K, P]ᵀ: `matrixmultiply` on every CPU, whose
/// sums are the same on AVX2 and AVX-512 (it has no AVX-512 kernel). The blocked GEMM, which
/// must transpose both operands while packing here, took 0.82-0.88x its speed on AVX2 (the
/// `wide_conv` bench).
fn weight_gradient_product(s: &ConvShape, d_out: &[f32], cols: &[f32], d_weight: &mut [f32]) {
    let (oc, k, p) = (s.out_channels, s.patch_len(), s.positions());
    gemm(oc, k, p, d_out, false, cols, true, 1.0, d_weight);
}

/// d_cols [K, P] = weight [OC, K]ᵀ · d_out [OC, P].
fn input_gradient_product(
    s: &ConvShape,
    weight: &[f32],
    d_out: &[f32],
    d_cols: &mut [f32],
    scratch: &mut GemmScratch,
) {
    let (oc, k, p) = (s.out_channels, s.patch_len(), s.positions());
    match Kernel::best() {
        Some(kernel) => {
            let (a, b) = (Strided::transposed(weight, k), Strided::rows(d_out, p));
            blocked::gemm(kernel, k, p, oc, a, b, false, d_cols, p, scratch)
        }
        None => gemm(k, p, oc, weight, true, d_out, false, 0.0, d_cols),
    }
}

/// `output [N, OC, OH, OW] = conv(input [N, C, H, W], weight [OC, C, KH, KW]) + bias [OC]`.
pub fn conv2d_forward(s: &ConvShape, input: &[f32], weight: &[f32], bias: &[f32], output: &mut [f32]) {
    let (k, p) = (s.patch_len(), s.positions());
    assert_eq!(input.len(), s.batch * s.input_len(), "conv input size");
    assert_eq!(weight.len(), s.weight_len(), "conv weight size");
    assert_eq!(bias.len(), s.out_channels, "conv bias size");
    assert_eq!(output.len(), s.batch * s.output_len(), "conv output size");
    if let Some(forward) = direct::forward(s) {
        let taps = direct::tap_major(s, weight);
        output
            .par_chunks_mut(s.output_len())
            .zip(input.par_chunks(s.input_len()))
            .for_each_init(direct::Scratch::default, |scratch, (out, image)| {
                forward(s, image, &taps, bias, out, scratch)
            });
        return;
    }
    output.par_chunks_mut(s.output_len()).zip(input.par_chunks(s.input_len())).for_each_init(
        || (vec![0.0f32; k * p], GemmScratch::default()),
        |(cols, scratch), (out, image)| {
            im2col(s, image, cols);
            for (row, &b) in out.chunks_exact_mut(p).zip(bias) {
                row.fill(b);
            }
            forward_product(s, weight, cols, out, scratch);
        },
    );
}

/// Gradients of a convolution, given d_output [N, OC, OH, OW]:
/// `d_weight [OC, C, KH, KW] = Σ_n d_out[OC, P] · cols[K, P]ᵀ`, `d_bias [OC] = Σ_n,p d_out`,
/// and, when asked for, d_input [N, C, H, W] = col2im(weightᵀ · d_out).
pub fn conv2d_backward(
    s: &ConvShape,
    input: &[f32],
    weight: &[f32],
    d_output: &[f32],
    d_input: Option<&mut [f32]>,
    d_weight: &mut [f32],
    d_bias: &mut [f32],
) {
    let (k, p) = (s.patch_len(), s.positions());
    assert_eq!(input.len(), s.batch * s.input_len(), "conv input size");
    assert_eq!(d_output.len(), s.batch * s.output_len(), "conv d_output size");
    assert_eq!(d_weight.len(), s.weight_len(), "conv d_weight size");
    assert_eq!(d_bias.len(), s.out_channels, "conv d_bias size");

    // Weight and bias gradients: a partial sum per chunk of images, then the chunks in order.
    let partials: Vec<(Vec<f32>, Vec<f32>)> = input
        .par_chunks(GRAD_CHUNK * s.input_len())
        .zip(d_output.par_chunks(GRAD_CHUNK * s.output_len()))
        .map(|(images, d_outs)| {
            let mut dw = vec![0.0f32; s.weight_len()];
            let mut db = vec![0.0f32; s.out_channels];
            let pairs = images.chunks_exact(s.input_len()).zip(d_outs.chunks_exact(s.output_len()));
            if let Some(weight_gradient) = direct::weight_gradient(s) {
                let mut scratch = direct::Scratch::default();
                let mut d_taps = vec![0.0f32; s.weight_len()];
                for (image, d_out) in pairs {
                    weight_gradient(s, image, d_out, &mut d_taps, &mut db, &mut scratch);
                }
                direct::channel_major(s, &d_taps, &mut dw);
                return (dw, db);
            }
            let mut cols = vec![0.0f32; k * p];
            for (image, d_out) in pairs {
                im2col(s, image, &mut cols);
                weight_gradient_product(s, d_out, &cols, &mut dw);
                for (b, row) in db.iter_mut().zip(d_out.chunks_exact(p)) {
                    *b += direct::sum(row);
                }
            }
            (dw, db)
        })
        .collect();
    d_weight.fill(0.0);
    d_bias.fill(0.0);
    for (dw, db) in &partials {
        d_weight.iter_mut().zip(dw).for_each(|(a, b)| *a += b);
        d_bias.iter_mut().zip(db).for_each(|(a, b)| *a += b);
    }

    // Input gradient, image by image.
    if let Some(d_input) = d_input {
        assert_eq!(d_input.len(), s.batch * s.input_len(), "conv d_input size");
        if let Some(input_gradient) = direct::input_gradient(s) {
            let taps = direct::tap_major(s, weight);
            d_input
                .par_chunks_mut(s.input_len())
                .zip(d_output.par_chunks(s.output_len()))
                .for_each_init(direct::Scratch::default, |scratch, (d_image, d_out)| {
                    input_gradient(s, &taps, d_out, d_image, scratch)
                });
            return;
        }
        d_input.par_chunks_mut(s.input_len()).zip(d_output.par_chunks(s.output_len())).for_each_init(
            || (vec![0.0f32; k * p], GemmScratch::default()),
            |(d_cols, scratch), (d_image, d_out)| {
                input_gradient_product(s, weight, d_out, d_cols, scratch);
                col2im(s, d_cols, d_image);
            },
        );
    }
}

/// Buffers one worker reuses across calls of the serial functions below (grown, never shrunk).
#[derive(Default)]
pub struct ConvScratch {
    direct: direct::Scratch,
    cols: Vec<f32>,
    gemm: GemmScratch,
}

/// Whether `conv2d_backward_serial` adds this shape's weight gradient tap-major ([K, OC], the
/// direct kernels' layout; `tap_major_gradient_to_weight_order` turns it back) rather than in
/// the weight's own order.
pub fn gradient_is_tap_major(s: &ConvShape) -> bool {
    direct::weight_gradient(s).is_some()
}

/// weight [OC, K] rearranged tap-major [K, OC] into `taps`: what the direct kernels read.
pub fn tap_major_into(s: &ConvShape, weight: &[f32], taps: &mut [f32]) {
    let k = s.patch_len();
    for (o, row) in weight.chunks_exact(k).enumerate() {
        for (tap, &w) in row.iter().enumerate() {
            taps[tap * s.out_channels + o] = w;
        }
    }
}

/// A tap-major weight gradient [K, OC] back into the weight's order [OC, K].
pub fn tap_major_gradient_to_weight_order(s: &ConvShape, taps: &[f32], weight: &mut [f32]) {
    direct::channel_major(s, taps, weight);
}

/// `conv2d_forward` on this thread alone, for the `s.batch` images of a chunk; `taps` is
/// `weight` tap-major (`tap_major_into`).
#[allow(clippy::too_many_arguments)]
pub fn conv2d_forward_serial(
    s: &ConvShape,
    input: &[f32],
    weight: &[f32],
    taps: &[f32],
    bias: &[f32],
    output: &mut [f32],
    scratch: &mut ConvScratch,
) {
    let (k, p) = (s.patch_len(), s.positions());
    let images = output.chunks_exact_mut(s.output_len()).zip(input.chunks_exact(s.input_len()));
    if let Some(forward) = direct::forward(s) {
        images.for_each(|(out, image)| forward(s, image, taps, bias, out, &mut scratch.direct));
        return;
    }
    scratch.cols.resize(k * p, 0.0);
    for (out, image) in images {
        im2col(s, image, &mut scratch.cols);
        for (row, &b) in out.chunks_exact_mut(p).zip(bias) {
            row.fill(b);
        }
        forward_product(s, weight, &scratch.cols, out, &mut scratch.gemm);
    }
}

/// `conv2d_backward` on this thread alone, for the `s.batch` images of a chunk, image by image
/// in order: the weight and bias gradients are added to `d_weight` (tap-major when
/// `gradient_is_tap_major`) and `d_bias`; `d_input`, when asked for, is overwritten.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward_serial(
    s: &ConvShape,
    input: &[f32],
    weight: &[f32],
    taps: &[f32],
    d_output: &[f32],
    d_input: Option<&mut [f32]>,
    d_weight: &mut [f32],
    d_bias: &mut [f32],
    scratch: &mut ConvScratch,
) {
    let (k, p) = (s.patch_len(), s.positions());
    let pairs = input.chunks_exact(s.input_len()).zip(d_output.chunks_exact(s.output_len()));
    if let Some(weight_gradient) = direct::weight_gradient(s) {
        pairs.for_each(|(image, d_out)| {
            weight_gradient(s, image, d_out, d_weight, d_bias, &mut scratch.direct)
        });
    } else {
        scratch.cols.resize(k * p, 0.0);
        for (image, d_out) in pairs {
            im2col(s, image, &mut scratch.cols);
            weight_gradient_product(s, d_out, &scratch.cols, d_weight);
            for (b, row) in d_bias.iter_mut().zip(d_out.chunks_exact(p)) {
                *b += direct::sum(row);
            }
        }
    }
    let Some(d_input) = d_input else { return };
    let images = d_input.chunks_exact_mut(s.input_len()).zip(d_output.chunks_exact(s.output_len()));
    if let Some(input_gradient) = direct::input_gradient(s) {
        images.for_each(|(d_image, d_out)| input_gradient(s, taps, d_out, d_image, &mut scratch.direct));
        return;
    }
    scratch.cols.resize(k * p, 0.0);
    for (d_image, d_out) in images {
        input_gradient_product(s, weight, d_out, &mut scratch.cols, &mut scratch.gemm);
        col2im(s, &scratch.cols, d_image);
    }
}
