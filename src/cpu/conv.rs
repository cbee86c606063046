//! 2-D convolution (cross-correlation, as in PyTorch) with bias, any kernel size, stride and zero
//! padding. GPU twin: `shaders/conv.wgsl`.
//!
//! Each image is lowered to a patch matrix (im2col) so the work becomes one matrix product:
//! output[OC, P] = weight[OC, K] · cols[K, P] + bias, with K = C·KH·KW and P = OH·OW.
//! The weight gradient, d_weight[OC, K] = Σ d_out[OC, P] · cols[K, P]ᵀ, makes a poor matrix
//! product when OC is small (LeNet's conv1: 6); with stride 1 and at most 8 output channels it
//! runs directly instead (`direct_weight_gradient`), 8 channels x 8 columns held in registers.

use super::GRAD_CHUNK;
use super::gemm::gemm;
use rayon::prelude::*;

/// The geometry of a batched convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    pub batch: usize,
    pub in_channels: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub out_channels: usize,
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub stride: usize,
    pub padding: usize,
}

impl ConvShape {
    pub fn out_h(&self) -> usize {
        (self.in_h + 2 * self.padding - self.kernel_h) / self.stride + 1
    }
    pub fn out_w(&self) -> usize {
        (self.in_w + 2 * self.padding - self.kernel_w) / self.stride + 1
    }
    /// Floats in one input image.
    pub fn input_len(&self) -> usize {
        self.in_channels * self.in_h * self.in_w
    }
    /// Floats in one output image.
    pub fn output_len(&self) -> usize {
        self.out_channels * self.out_h() * self.out_w()
    }
    /// K: the length of one patch (a row of the weight matrix).
    pub fn patch_len(&self) -> usize {
        self.in_channels * self.kernel_h * self.kernel_w
    }
    pub fn weight_len(&self) -> usize {
        self.out_channels * self.patch_len()
    }
    fn positions(&self) -> usize {
        self.out_h() * self.out_w()
    }
}

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

/// Lanes of one register block in the direct method (one AVX2 vector of f32).
const LANES: usize = 8;
/// Output channels the direct method computes at once (more would not fit in registers).
const DIRECT_CHANNELS: usize = 8;

/// Whether the direct weight gradient beats im2col + GEMM for this shape (measured on LeNet's
/// conv1: about 3x; a direct forward pass measured 2x slower than im2col + GEMM, so there is none).
fn direct(s: &ConvShape) -> bool {
    s.stride == 1 && s.out_channels <= DIRECT_CHANNELS
}

/// Row width of the direct method's padded planes: every block of LANES columns, at every kernel
/// column, reads inside the row.
fn padded_width(s: &ConvShape) -> usize {
    s.out_w().div_ceil(LANES) * LANES + s.kernel_w - 1
}

/// The image [C, H, W] with zeros around it: [C, H + 2P, padded_width], the data at (P, P).
fn pad(s: &ConvShape, image: &[f32], padded: &mut [f32]) {
    let (ph, pw) = (s.in_h + 2 * s.padding, padded_width(s));
    padded.fill(0.0);
    for (src, dst) in image.chunks_exact(s.in_h * s.in_w).zip(padded.chunks_exact_mut(ph * pw)) {
        for (y, row) in src.chunks_exact(s.in_w).enumerate() {
            let at = (y + s.padding) * pw + s.padding;
            dst[at..at + s.in_w].copy_from_slice(row);
        }
    }
}

/// LANES values of `row` from `at`.
fn load(row: &[f32], at: usize) -> [f32; LANES] {
    row[at..at + LANES].try_into().expect("LANES values")
}

/// Adds one padded image's weight and bias gradients to `dw` ([C, KH, KW, 8], tap-major) and
/// `db`: for each tap, 8 channels x 8 columns of products stay in registers over the image.
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn direct_weight_gradient(
    s: &ConvShape,
    padded: &[f32],
    d_out: &[f32],
    dw: &mut [[f32; DIRECT_CHANNELS]],
    db: &mut [f32],
) {
    let (oh, ow, pw) = (s.out_h(), s.out_w(), padded_width(s));
    let plane = (s.in_h + 2 * s.padding) * pw;
    // The output gradient with rows padded to whole blocks (zeros past OW), 8 channels.
    let gw = ow.div_ceil(LANES) * LANES;
    let mut g = vec![0.0f32; DIRECT_CHANNELS * oh * gw];
    for (o, g_plane) in d_out.chunks_exact(oh * ow).enumerate() {
        db[o] += g_plane.iter().sum::<f32>();
        for (y, row) in g_plane.chunks_exact(ow).enumerate() {
            g[(o * oh + y) * gw..][..ow].copy_from_slice(row);
        }
    }
    let mut tap = 0;
    for c in 0..s.in_channels {
        for ky in 0..s.kernel_h {
            for kx in 0..s.kernel_w {
                let mut acc = [[0.0f32; LANES]; DIRECT_CHANNELS];
                for oy in 0..oh {
                    let row = &padded[c * plane + (oy + ky) * pw..][..pw];
                    for ox in (0..gw).step_by(LANES) {
                        let x = load(row, ox + kx);
                        for (o, a) in acc.iter_mut().enumerate() {
                            let gv = load(&g, (o * oh + oy) * gw + ox);
                            for ((a, &gv), &x) in a.iter_mut().zip(&gv).zip(&x) {
                                *a += gv * x;
                            }
                        }
                    }
                }
                for (d, a) in dw[tap].iter_mut().zip(&acc) {
                    *d += a.iter().sum::<f32>();
                }
                tap += 1;
            }
        }
    }
}

/// Scratch for one image in the weight gradient: the padded image (direct method) or its patch
/// matrix (im2col).
fn scratch_len(s: &ConvShape) -> usize {
    if direct(s) {
        s.in_channels * (s.in_h + 2 * s.padding) * padded_width(s)
    } else {
        s.patch_len() * s.positions()
    }
}

/// output [N, OC, OH, OW] = conv(input [N, C, H, W], weight [OC, C, KH, KW]) + bias [OC].
pub fn conv2d_forward(s: &ConvShape, input: &[f32], weight: &[f32], bias: &[f32], output: &mut [f32]) {
    let (k, p) = (s.patch_len(), s.positions());
    assert_eq!(input.len(), s.batch * s.input_len(), "conv input size");
    assert_eq!(weight.len(), s.weight_len(), "conv weight size");
    assert_eq!(bias.len(), s.out_channels, "conv bias size");
    assert_eq!(output.len(), s.batch * s.output_len(), "conv output size");
    output.par_chunks_mut(s.output_len()).zip(input.par_chunks(s.input_len())).for_each_init(
        || vec![0.0f32; k * p],
        |cols, (out, image)| {
            im2col(s, image, cols);
            for (row, &b) in out.chunks_exact_mut(p).zip(bias) {
                row.fill(b);
            }
            gemm(s.out_channels, p, k, weight, false, cols, false, 1.0, out);
        },
    );
}

/// Gradients of a convolution, given d_output [N, OC, OH, OW]:
/// d_weight [OC, C, KH, KW] = Σ_n d_out[OC, P] · cols[K, P]ᵀ, d_bias [OC] = Σ_n,p d_out,
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
            let mut scratch = vec![0.0f32; scratch_len(s)];
            let mut dw = vec![0.0f32; s.weight_len()];
            let mut db = vec![0.0f32; s.out_channels];
            if direct(s) {
                let mut dw_taps = vec![[0.0f32; DIRECT_CHANNELS]; k];
                for (image, d_out) in
                    images.chunks_exact(s.input_len()).zip(d_outs.chunks_exact(s.output_len()))
                {
                    pad(s, image, &mut scratch);
                    direct_weight_gradient(s, &scratch, d_out, &mut dw_taps, &mut db);
                }
                // Back from tap-major [K, 8] to PyTorch's [OC, K].
                for (tap, per_channel) in dw_taps.iter().enumerate() {
                    for o in 0..s.out_channels {
                        dw[o * k + tap] = per_channel[o];
                    }
                }
                return (dw, db);
            }
            for (image, d_out) in images.chunks_exact(s.input_len()).zip(d_outs.chunks_exact(s.output_len()))
            {
                im2col(s, image, &mut scratch);
                gemm(s.out_channels, k, p, d_out, false, &scratch, true, 1.0, &mut dw);
                for (b, row) in db.iter_mut().zip(d_out.chunks_exact(p)) {
                    *b += row.iter().sum::<f32>();
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
        d_input.par_chunks_mut(s.input_len()).zip(d_output.par_chunks(s.output_len())).for_each_init(
            || vec![0.0f32; k * p],
            |d_cols, (d_image, d_out)| {
                gemm(k, p, s.out_channels, weight, true, d_out, false, 0.0, d_cols);
                col2im(s, d_cols, d_image);
            },
        );
    }
}
