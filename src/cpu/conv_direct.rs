//! Direct convolution kernels (no im2col) for stride 1 and at most 6 output channels: LeNet's
//! conv1, where im2col + GEMM spends most of its time copying patches for a 6-row product.
//! Written with AVX2 + FMA intrinsics; `kernels` offers them only for shapes and CPUs they suit,
//! and `conv.rs` takes the im2col + GEMM path otherwise (the tests check both against the
//! definition of convolution).
//!
//! Both kernels work on one image at a time, zero-padded once into [C, H + 2P, padded_width]
//! so that no load needs a bounds test:
//! - forward: a register block is 6 channels x 16 columns of one output row (12 accumulators);
//!   per kernel tap it loads 16 input pixels once and broadcasts one weight per channel.
//! - weight gradient: per kernel tap, 6 channels x 16 columns of products accumulate over the
//!   whole image before one horizontal sum.

use super::conv::ConvShape;

/// Output columns per forward register block (two AVX2 vectors of f32).
const COLUMNS: usize = 16;
/// The most output channels one register block holds.
const MAX_CHANNELS: usize = 6;

/// forward(shape, padded image, tap-major weight [K, OC], bias [OC], output [OC, OH, OW]).
pub type Forward = fn(&ConvShape, &[f32], &[f32], &[f32], &mut [f32]);
/// weight_gradient(shape, padded image, d_output [OC, OH, OW], scratch, tap-major d_weight
/// [K, OC] (added to), d_bias [OC] (added to)).
pub type WeightGradient = fn(&ConvShape, &[f32], &[f32], &mut Vec<f32>, &mut [f32], &mut [f32]);

/// The direct kernels for this shape, if it and this CPU suit them.
pub fn kernels(s: &ConvShape) -> Option<(Forward, WeightGradient)> {
    if s.stride != 1 || s.out_channels > MAX_CHANNELS {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        use avx2::{forward, weight_gradient};
        return Some(match s.out_channels {
            1 => (forward::<1>, weight_gradient::<1>),
            2 => (forward::<2>, weight_gradient::<2>),
            3 => (forward::<3>, weight_gradient::<3>),
            4 => (forward::<4>, weight_gradient::<4>),
            5 => (forward::<5>, weight_gradient::<5>),
            _ => (forward::<6>, weight_gradient::<6>),
        });
    }
    None
}

/// Row width of the padded planes: every block of COLUMNS output columns, at every kernel
/// column, reads inside the row.
fn padded_width(s: &ConvShape) -> usize {
    s.out_w().div_ceil(COLUMNS) * COLUMNS + s.kernel_w - 1
}

/// Floats in one padded image.
pub fn padded_len(s: &ConvShape) -> usize {
    s.in_channels * (s.in_h + 2 * s.padding) * padded_width(s)
}

/// The image [C, H, W] with zeros around it: [C, H + 2P, padded_width], the data at (P, P).
pub fn pad(s: &ConvShape, image: &[f32], padded: &mut [f32]) {
    let (ph, pw) = (s.in_h + 2 * s.padding, padded_width(s));
    padded.fill(0.0);
    for (src, dst) in image.chunks_exact(s.in_h * s.in_w).zip(padded.chunks_exact_mut(ph * pw)) {
        for (y, row) in src.chunks_exact(s.in_w).enumerate() {
            let at = (y + s.padding) * pw + s.padding;
            dst[at..at + s.in_w].copy_from_slice(row);
        }
    }
}

/// weight [OC, K] (PyTorch's [OC, C, KH, KW]) rearranged tap-major, [K, OC], so one tap's
/// weights for every channel sit together.
pub fn tap_major(s: &ConvShape, weight: &[f32]) -> Vec<f32> {
    let k = s.patch_len();
    let mut taps = vec![0.0; weight.len()];
    for (o, row) in weight.chunks_exact(k).enumerate() {
        for (tap, &w) in row.iter().enumerate() {
            taps[tap * s.out_channels + o] = w;
        }
    }
    taps
}

/// The inverse of `tap_major`: [K, OC] back to [OC, K].
pub fn channel_major(s: &ConvShape, taps: &[f32], weight: &mut [f32]) {
    let k = s.patch_len();
    for (tap, per_channel) in taps.chunks_exact(s.out_channels).enumerate() {
        for (o, &w) in per_channel.iter().enumerate() {
            weight[o * k + tap] = w;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{COLUMNS, ConvShape, padded_width};
    use std::arch::x86_64::*;

    /// Lanes of one AVX2 vector of f32.
    const LANES: usize = 8;

    pub fn forward<const G: usize>(
        s: &ConvShape,
        padded: &[f32],
        taps: &[f32],
        bias: &[f32],
        out: &mut [f32],
    ) {
        assert_eq!(padded.len(), super::padded_len(s), "padded image size");
        assert_eq!(taps.len(), s.patch_len() * G, "tap-major weight size");
        assert_eq!(bias.len(), G, "bias size");
        assert_eq!(out.len(), G * s.out_h() * s.out_w(), "conv output size");
        // SAFETY: `kernels` hands this function out only when the CPU has AVX2 and FMA.
        unsafe { forward_avx2::<G>(s, padded, taps, bias, out) }
    }

    #[target_feature(enable = "avx2,fma")]
    fn forward_avx2<const G: usize>(
        s: &ConvShape,
        padded: &[f32],
        taps: &[f32],
        bias: &[f32],
        out: &mut [f32],
    ) {
        let (oh, ow, pw, kh, kw) = (s.out_h(), s.out_w(), padded_width(s), s.kernel_h, s.kernel_w);
        let plane = (s.in_h + 2 * s.padding) * pw;
        for oy in 0..oh {
            for x0 in (0..ow).step_by(COLUMNS) {
                let mut acc: [[__m256; 2]; G] = std::array::from_fn(|o| [_mm256_set1_ps(bias[o]); 2]);
                for c in 0..s.in_channels {
                    for ky in 0..kh {
                        let row = &padded[c * plane + (oy + ky) * pw + x0..][..COLUMNS + kw - 1];
                        let tap_row = &taps[(c * kh + ky) * kw * G..][..kw * G];
                        for (kx, w) in tap_row.chunks_exact(G).enumerate() {
                            // SAFETY: `row` holds COLUMNS + KW - 1 floats and kx < KW, so both
                            // 8-float loads stay inside it.
                            let (lo, hi) = unsafe {
                                (
                                    _mm256_loadu_ps(row.as_ptr().add(kx)),
                                    _mm256_loadu_ps(row.as_ptr().add(kx + LANES)),
                                )
                            };
                            for (a, &w) in acc.iter_mut().zip(w) {
                                let w = _mm256_set1_ps(w);
                                a[0] = _mm256_fmadd_ps(w, lo, a[0]);
                                a[1] = _mm256_fmadd_ps(w, hi, a[1]);
                            }
                        }
                    }
                }
                let width = COLUMNS.min(ow - x0);
                for (o, a) in acc.iter().enumerate() {
                    let mut block = [0.0f32; COLUMNS];
                    // SAFETY: `block` holds 16 floats: two 8-float stores.
                    unsafe {
                        _mm256_storeu_ps(block.as_mut_ptr(), a[0]);
                        _mm256_storeu_ps(block.as_mut_ptr().add(LANES), a[1]);
                    }
                    out[(o * oh + oy) * ow + x0..][..width].copy_from_slice(&block[..width]);
                }
            }
        }
    }

    pub fn weight_gradient<const G: usize>(
        s: &ConvShape,
        padded: &[f32],
        d_out: &[f32],
        scratch: &mut Vec<f32>,
        d_taps: &mut [f32],
        d_bias: &mut [f32],
    ) {
        assert_eq!(padded.len(), super::padded_len(s), "padded image size");
        assert_eq!(d_out.len(), G * s.out_h() * s.out_w(), "conv d_output size");
        assert_eq!(d_taps.len(), s.patch_len() * G, "tap-major d_weight size");
        assert_eq!(d_bias.len(), G, "d_bias size");
        // The output gradient with rows padded to whole blocks of COLUMNS (zeros past OW).
        let (oh, ow) = (s.out_h(), s.out_w());
        let gw = ow.div_ceil(COLUMNS) * COLUMNS;
        scratch.clear();
        scratch.resize(G * oh * gw, 0.0);
        for (o, g_plane) in d_out.chunks_exact(oh * ow).enumerate() {
            d_bias[o] += g_plane.iter().sum::<f32>();
            for (y, row) in g_plane.chunks_exact(ow).enumerate() {
                scratch[(o * oh + y) * gw..][..ow].copy_from_slice(row);
            }
        }
        // SAFETY: `kernels` hands this function out only when the CPU has AVX2 and FMA.
        unsafe { weight_gradient_avx2::<G>(s, padded, scratch, d_taps) }
    }

    #[target_feature(enable = "avx2,fma")]
    fn weight_gradient_avx2<const G: usize>(s: &ConvShape, padded: &[f32], g: &[f32], d_taps: &mut [f32]) {
        let (oh, pw) = (s.out_h(), padded_width(s));
        let gw = s.out_w().div_ceil(COLUMNS) * COLUMNS;
        let plane = (s.in_h + 2 * s.padding) * pw;
        let mut tap = 0;
        for c in 0..s.in_channels {
            for ky in 0..s.kernel_h {
                for kx in 0..s.kernel_w {
                    // Two accumulators per channel (even and odd vectors of a block): enough
                    // independent FMA chains to hide their latency.
                    let mut acc = [[_mm256_setzero_ps(); 2]; G];
                    for oy in 0..oh {
                        let row = &padded[c * plane + (oy + ky) * pw + kx..][..gw];
                        for x0 in (0..gw).step_by(COLUMNS) {
                            // SAFETY: x0 + 16 <= gw = row.len(), and each g row holds gw floats.
                            unsafe {
                                let lo = _mm256_loadu_ps(row.as_ptr().add(x0));
                                let hi = _mm256_loadu_ps(row.as_ptr().add(x0 + LANES));
                                for (o, a) in acc.iter_mut().enumerate() {
                                    let grad = g.as_ptr().add((o * oh + oy) * gw + x0);
                                    a[0] = _mm256_fmadd_ps(_mm256_loadu_ps(grad), lo, a[0]);
                                    a[1] = _mm256_fmadd_ps(_mm256_loadu_ps(grad.add(LANES)), hi, a[1]);
                                }
                            }
                        }
                    }
                    for (d, a) in d_taps[tap * G..][..G].iter_mut().zip(&acc) {
                        let mut lanes = [0.0f32; LANES];
                        // SAFETY: `lanes` holds 8 floats.
                        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), _mm256_add_ps(a[0], a[1])) };
                        *d += lanes.iter().sum::<f32>();
                    }
                    tap += 1;
                }
            }
        }
    }
}
