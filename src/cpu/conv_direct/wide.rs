//! The wide kernels (8, 16, 24 or 32 output channels, LeNet's conv2), vectorized over output
//! channels: a register block is R output pixels x all channels (12 accumulators); per kernel
//! tap it loads the tap's weights for every channel once and broadcasts one input pixel per
//! output pixel. Forward pass and weight gradient.

use super::{ConvShape, LANES, Scratch, pad, sum, tap_offsets};
use std::arch::x86_64::*;

// SAFETY (every `unsafe` call of a `#[target_feature]` function below): `forward` and
// `weight_gradient` hand these kernels out only when the CPU has AVX2 and FMA.

/// Offsets, in a padded image of row width `pw`, of each output pixel's window (its tap
/// (0, 0, 0)), in output order, into `pixels`; and the taps' offsets into `taps_at`.
/// Returns the largest offset a kernel reaches (the last pixel at the last tap).
fn window_offsets(s: &ConvShape, pw: usize, pixels: &mut Vec<usize>, taps_at: &mut Vec<usize>) -> usize {
    pixels.clear();
    pixels.extend((0..s.out_h()).flat_map(|oy| (0..s.out_w()).map(move |ox| oy * pw + ox)));
    tap_offsets(s, pw, taps_at);
    pixels.last().copied().unwrap_or(0) + taps_at.last().copied().unwrap_or(0)
}

pub fn wide_forward<const V: usize, const R: usize>(
    s: &ConvShape,
    image: &[f32],
    taps: &[f32],
    bias: &[f32],
    out: &mut [f32],
    scratch: &mut Scratch,
) {
    assert_eq!(s.out_channels, V * LANES, "channels per kernel");
    assert_eq!(taps.len(), s.patch_len() * s.out_channels, "tap-major weight size");
    assert_eq!(bias.len(), s.out_channels, "bias size");
    assert_eq!(out.len(), s.output_len(), "conv output size");
    let pw = s.in_w + 2 * s.padding;
    pad(s, pw, image, &mut scratch.padded);
    // Every window and every tap lies inside the padded image.
    let last = window_offsets(s, pw, &mut scratch.pixels, &mut scratch.taps_at);
    assert!(last < scratch.padded.len(), "padded image too small");
    let Scratch { padded, pixels, taps_at, .. } = scratch;
    unsafe { wide_forward_avx2::<V, R>(padded, pixels, taps_at, taps, bias, out) }
}

/// out [V·8, P] for the windows at `pixels`, R at a time (the last block repeats its final
/// pixel and stores only the real ones).
#[target_feature(enable = "avx2,fma")]
fn wide_forward_avx2<const V: usize, const R: usize>(
    padded: &[f32],
    pixels: &[usize],
    taps_at: &[usize],
    taps: &[f32],
    bias: &[f32],
    out: &mut [f32],
) {
    let p = pixels.len();
    let mut b = [_mm256_setzero_ps(); V];
    for (v, b) in b.iter_mut().enumerate() {
        // SAFETY: bias holds V·8 floats.
        *b = unsafe { _mm256_loadu_ps(bias.as_ptr().add(v * LANES)) };
    }
    for first in (0..p).step_by(R) {
        let at: [usize; R] = std::array::from_fn(|r| pixels[(first + r).min(p - 1)]);
        let mut acc = [b; R];
        for (&offset, w) in taps_at.iter().zip(taps.chunks_exact(V * LANES)) {
            // SAFETY: w holds V·8 floats; at[r] + offset is inside `padded` (checked by
            // the caller for the last pixel and tap, the largest offsets).
            unsafe {
                let w: [__m256; V] = std::array::from_fn(|v| _mm256_loadu_ps(w.as_ptr().add(v * LANES)));
                for (a, &at) in acc.iter_mut().zip(&at) {
                    let x = _mm256_broadcast_ss(padded.get_unchecked(at + offset));
                    for (a, &w) in a.iter_mut().zip(&w) {
                        *a = _mm256_fmadd_ps(w, x, *a);
                    }
                }
            }
        }
        for (r, a) in acc.iter().enumerate().take(p - first) {
            let mut channels = [[0.0f32; LANES]; V];
            for (c, a) in channels.iter_mut().zip(a) {
                // SAFETY: each row of `channels` holds 8 floats.
                unsafe { _mm256_storeu_ps(c.as_mut_ptr(), *a) };
            }
            for (o, &y) in channels.as_flattened().iter().enumerate() {
                out[o * p + first + r] = y;
            }
        }
    }
}

pub fn wide_weight_gradient<const V: usize, const T: usize>(
    s: &ConvShape,
    image: &[f32],
    d_out: &[f32],
    d_taps: &mut [f32],
    d_bias: &mut [f32],
    scratch: &mut Scratch,
) {
    let (oc, p) = (s.out_channels, s.out_h() * s.out_w());
    assert_eq!(oc, V * LANES, "channels per kernel");
    assert_eq!(d_out.len(), s.output_len(), "conv d_output size");
    assert_eq!(d_taps.len(), s.patch_len() * oc, "tap-major d_weight size");
    assert_eq!(d_bias.len(), oc, "d_bias size");
    let pw = s.in_w + 2 * s.padding;
    pad(s, pw, image, &mut scratch.padded);
    // The output gradient pixel-major, [P, OC], so one pixel's channels load as vectors.
    let g = &mut scratch.grad;
    g.clear();
    g.resize(p * oc, 0.0);
    for (o, plane) in d_out.chunks_exact(p).enumerate() {
        d_bias[o] += sum(plane);
        for (q, &v) in plane.iter().enumerate() {
            g[q * oc + o] = v;
        }
    }
    let last = window_offsets(s, pw, &mut scratch.pixels, &mut scratch.taps_at);
    assert!(last < scratch.padded.len(), "padded image too small");
    let Scratch { padded, grad, pixels, taps_at, .. } = scratch;
    unsafe { wide_weight_gradient_avx2::<V, T>(padded, grad, pixels, taps_at, d_taps) }
}

/// d_taps [K, V·8] += Σ over pixels of g [P, V·8] x the input under each tap, T taps at a
/// time (the last group repeats its final tap and stores only the real ones).
#[target_feature(enable = "avx2,fma")]
fn wide_weight_gradient_avx2<const V: usize, const T: usize>(
    padded: &[f32],
    g: &[f32],
    pixels: &[usize],
    taps_at: &[usize],
    d_taps: &mut [f32],
) {
    let k = taps_at.len();
    for first in (0..k).step_by(T) {
        let at: [usize; T] = std::array::from_fn(|t| taps_at[(first + t).min(k - 1)]);
        let mut acc = [[_mm256_setzero_ps(); V]; T];
        for (&pixel, grad) in pixels.iter().zip(g.chunks_exact(V * LANES)) {
            // SAFETY: grad holds V·8 floats; pixel + at[t] is inside `padded` (checked by
            // the caller for the last pixel and tap, the largest offsets).
            unsafe {
                let gv: [__m256; V] = std::array::from_fn(|v| _mm256_loadu_ps(grad.as_ptr().add(v * LANES)));
                for (a, &at) in acc.iter_mut().zip(&at) {
                    let x = _mm256_broadcast_ss(padded.get_unchecked(pixel + at));
                    for (a, &gv) in a.iter_mut().zip(&gv) {
                        *a = _mm256_fmadd_ps(gv, x, *a);
                    }
                }
            }
        }
        for (t, a) in acc.iter().enumerate().take(k - first) {
            for (v, a) in a.iter().enumerate() {
                let d = &mut d_taps[(first + t) * V * LANES + v * LANES..][..LANES];
                // SAFETY: `d` holds 8 floats.
                unsafe { _mm256_storeu_ps(d.as_mut_ptr(), _mm256_add_ps(_mm256_loadu_ps(d.as_ptr()), *a)) };
            }
        }
    }
}
