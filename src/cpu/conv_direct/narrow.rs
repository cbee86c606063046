//! The narrow kernels (at most 6 output channels, LeNet's conv1), vectorized over output
//! columns: a register block is 6 channels x 16 columns of one output row; per kernel tap it
//! loads 16 input pixels once and broadcasts one weight per channel. Forward pass and weight
//! gradient.

use super::{COLUMNS, ConvShape, LANES, Scratch, pad, sum, tap_offsets};
use std::arch::x86_64::*;

// SAFETY (every `unsafe` call of a `#[target_feature]` function below): `forward` and
// `weight_gradient` hand these kernels out only when the CPU has AVX2 and FMA.

/// Row width of a narrow kernel's padded planes: every block of COLUMNS output columns, at every
/// kernel column, reads inside the row.
fn narrow_width(s: &ConvShape) -> usize {
    s.out_w().div_ceil(COLUMNS) * COLUMNS + s.kernel_w - 1
}

pub fn narrow_forward<const G: usize>(
    s: &ConvShape,
    image: &[f32],
    taps: &[f32],
    bias: &[f32],
    out: &mut [f32],
    scratch: &mut Scratch,
) {
    assert_eq!(taps.len(), s.patch_len() * G, "tap-major weight size");
    assert_eq!(bias.len(), G, "bias size");
    assert_eq!(out.len(), G * s.out_h() * s.out_w(), "conv output size");
    pad(s, narrow_width(s), image, &mut scratch.padded);
    unsafe { narrow_forward_avx2::<G>(s, &scratch.padded, taps, bias, out) }
}

#[target_feature(enable = "avx2,fma")]
fn narrow_forward_avx2<const G: usize>(
    s: &ConvShape,
    padded: &[f32],
    taps: &[f32],
    bias: &[f32],
    out: &mut [f32],
) {
    let (oh, ow, pw, kh, kw) = (s.out_h(), s.out_w(), narrow_width(s), s.kernel_h, s.kernel_w);
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
                let dst = &mut out[(o * oh + oy) * ow + x0..][..width];
                // A whole block is stored straight; a partial one through masked stores (a
                // copy of a variable length would be a call to memcpy per block).
                // SAFETY: `dst` holds `width` floats; a masked store writes only the lanes
                // below `width`.
                unsafe {
                    if width == COLUMNS {
                        _mm256_storeu_ps(dst.as_mut_ptr(), a[0]);
                        _mm256_storeu_ps(dst.as_mut_ptr().add(LANES), a[1]);
                    } else {
                        _mm256_maskstore_ps(dst.as_mut_ptr(), lanes_below(width), a[0]);
                        let rest = width.saturating_sub(LANES);
                        if rest > 0 {
                            _mm256_maskstore_ps(dst.as_mut_ptr().add(LANES), lanes_below(rest), a[1]);
                        }
                    }
                }
            }
        }
    }
}

/// A mask of the lanes below `n` (at most 8), for `_mm256_maskstore_ps`.
#[target_feature(enable = "avx2")]
fn lanes_below(n: usize) -> __m256i {
    let index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    _mm256_cmpgt_epi32(_mm256_set1_epi32(n.min(LANES) as i32), index)
}

pub fn narrow_weight_gradient<const G: usize>(
    s: &ConvShape,
    image: &[f32],
    d_out: &[f32],
    d_taps: &mut [f32],
    d_bias: &mut [f32],
    scratch: &mut Scratch,
) {
    assert_eq!(d_out.len(), G * s.out_h() * s.out_w(), "conv d_output size");
    assert_eq!(d_taps.len(), s.patch_len() * G, "tap-major d_weight size");
    assert_eq!(d_bias.len(), G, "d_bias size");
    pad(s, narrow_width(s), image, &mut scratch.padded);
    // The output gradient with rows padded to whole blocks of COLUMNS (zeros past OW).
    let (oh, ow) = (s.out_h(), s.out_w());
    let gw = ow.div_ceil(COLUMNS) * COLUMNS;
    let g = &mut scratch.grad;
    g.clear();
    g.resize(G * oh * gw, 0.0);
    for (o, g_plane) in d_out.chunks_exact(oh * ow).enumerate() {
        d_bias[o] += sum(g_plane);
        for (y, row) in g_plane.chunks_exact(ow).enumerate() {
            g[(o * oh + y) * gw..][..ow].copy_from_slice(row);
        }
    }
    tap_offsets(s, narrow_width(s), &mut scratch.taps_at);
    unsafe { narrow_weight_gradient_avx2::<G>(s, &scratch.padded, &scratch.grad, &scratch.taps_at, d_taps) }
}

#[target_feature(enable = "avx2,fma")]
fn narrow_weight_gradient_avx2<const G: usize>(
    s: &ConvShape,
    padded: &[f32],
    g: &[f32],
    taps_at: &[usize],
    d_taps: &mut [f32],
) {
    let (oh, pw) = (s.out_h(), narrow_width(s));
    let gw = s.out_w().div_ceil(COLUMNS) * COLUMNS;
    for (tap, &offset) in taps_at.iter().enumerate() {
        // Two accumulators per channel (even and odd vectors of a block): enough
        // independent FMA chains to hide their latency.
        let mut acc = [[_mm256_setzero_ps(); 2]; G];
        for oy in 0..oh {
            let row = &padded[offset + oy * pw..][..gw];
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
            *d += horizontal_sum(_mm256_add_ps(a[0], a[1]));
        }
    }
}

#[target_feature(enable = "avx2")]
fn horizontal_sum(v: __m256) -> f32 {
    let mut lanes = [0.0f32; LANES];
    // SAFETY: `lanes` holds 8 floats.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), v) };
    lanes.iter().sum()
}
