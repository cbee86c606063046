//! The input-gradient kernel (any channel count): a product weightᵀ · d_output fused with
//! col2im, in register blocks of 6 taps x 16 output positions, each added straight onto the 16
//! input pixels under that tap.

use super::{COLUMNS, ConvShape, LANES, Scratch};
use std::arch::x86_64::*;

// SAFETY (every `unsafe` call of a `#[target_feature]` function below): `input_gradient`
// hands this kernel out only when the CPU has AVX2 and FMA.

/// Taps per input-gradient register block (6 taps x 2 vectors = 12 accumulators).
const TAPS: usize = 6;

pub fn input_gradient(
    s: &ConvShape,
    taps: &[f32],
    d_out: &[f32],
    d_input: &mut [f32],
    scratch: &mut Scratch,
) {
    let (oc, oh, ow) = (s.out_channels, s.out_h(), s.out_w());
    assert_eq!(taps.len(), s.patch_len() * oc, "tap-major weight size");
    assert_eq!(d_out.len(), s.output_len(), "conv d_output size");
    assert_eq!(d_input.len(), s.input_len(), "conv d_input size");
    // Output positions q = oy·pw + ox on the padded input's row width pw (ox ≥ OW are zero
    // gradients), so the 16 positions of a block land on 16 consecutive padded input pixels
    // under every tap: pixel q + (ky·pw + kx) of the padded plane.
    let pw = s.in_w + 2 * s.padding;
    let positions = (oh * pw).div_ceil(COLUMNS) * COLUMNS;
    let g = &mut scratch.grad;
    g.clear();
    g.resize(oc * positions, 0.0);
    for (o, plane) in d_out.chunks_exact(oh * ow).enumerate() {
        for (oy, row) in plane.chunks_exact(ow).enumerate() {
            g[o * positions + oy * pw..][..ow].copy_from_slice(row);
        }
    }
    // The padded input gradient, one plane per channel, long enough for the last block at
    // the last tap.
    let plane = positions + (s.kernel_h - 1) * pw + s.kernel_w - 1;
    let d_padded = &mut scratch.padded;
    d_padded.clear();
    d_padded.resize(s.in_channels * plane, 0.0);
    // Taps channel-fastest, so the 6 of a register block add onto different planes: taps of
    // one plane overlap (one pixel apart), and overlapping read-modify-writes in a row would
    // stall on store forwarding.
    let order = &mut scratch.order;
    order.clear();
    for ky in 0..s.kernel_h {
        for kx in 0..s.kernel_w {
            for c in 0..s.in_channels {
                let row = (c * s.kernel_h + ky) * s.kernel_w + kx;
                order.push((row, c * plane + ky * pw + kx));
            }
        }
    }
    unsafe { input_gradient_avx2(&scratch.grad, positions, oc, taps, &scratch.order, &mut scratch.padded) };
    for (c, d_plane) in d_input.chunks_exact_mut(s.in_h * s.in_w).enumerate() {
        for (y, row) in d_plane.chunks_exact_mut(s.in_w).enumerate() {
            row.copy_from_slice(&scratch.padded[c * plane + (y + s.padding) * pw + s.padding..][..s.in_w]);
        }
    }
}

/// d_padded[at + q] += Σ_o taps[row, o] · g[o, q] for each (row, at) of `order`, TAPS taps
/// x 16 positions at a time (the last group repeats its final tap and adds only the real
/// ones).
#[target_feature(enable = "avx2,fma")]
fn input_gradient_avx2(
    g: &[f32],
    positions: usize,
    oc: usize,
    taps: &[f32],
    order: &[(usize, usize)],
    d_padded: &mut [f32],
) {
    let k = order.len();
    assert!(g.len() >= oc * positions && taps.len() >= k * oc, "sizes");
    assert!(order.iter().all(|&(row, at)| row < k && at + positions <= d_padded.len()), "taps");
    for first in (0..k).step_by(TAPS) {
        let group: [(usize, usize); TAPS] = std::array::from_fn(|t| order[(first + t).min(k - 1)]);
        for q in (0..positions).step_by(COLUMNS) {
            let mut acc = [[_mm256_setzero_ps(); 2]; TAPS];
            for o in 0..oc {
                // SAFETY: q + 16 <= positions, o < oc and every row < k (asserted above).
                unsafe {
                    let row = g.as_ptr().add(o * positions + q);
                    let (lo, hi) = (_mm256_loadu_ps(row), _mm256_loadu_ps(row.add(LANES)));
                    for (a, &(tap, _)) in acc.iter_mut().zip(&group) {
                        let w = _mm256_broadcast_ss(taps.get_unchecked(tap * oc + o));
                        a[0] = _mm256_fmadd_ps(w, lo, a[0]);
                        a[1] = _mm256_fmadd_ps(w, hi, a[1]);
                    }
                }
            }
            for (a, &(_, at)) in acc.iter().zip(&group).take(k - first) {
                let d = &mut d_padded[at + q..][..COLUMNS];
                // SAFETY: `d` holds 16 floats.
                unsafe {
                    let p = d.as_mut_ptr();
                    _mm256_storeu_ps(p, _mm256_add_ps(_mm256_loadu_ps(p), a[0]));
                    _mm256_storeu_ps(p.add(LANES), _mm256_add_ps(_mm256_loadu_ps(p.add(LANES)), a[1]));
                }
            }
        }
    }
}
