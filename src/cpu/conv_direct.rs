//! Direct convolution kernels (no im2col) for stride 1, written with AVX2 + FMA intrinsics, for
//! the shapes where im2col + GEMM wastes most of its time copying patches into small products:
//!
//! - **narrow** (at most 6 output channels, LeNet's conv1): vectorized over output columns. A
//!   register block is 6 channels x 16 columns of one output row; per kernel tap it loads 16
//!   input pixels once and broadcasts one weight per channel.
//! - **wide** (8, 16, 24 or 32 output channels, LeNet's conv2): vectorized over output channels.
//!   A register block is R output pixels x all channels (12 accumulators); per kernel tap it
//!   loads the tap's weights for every channel once and broadcasts one input pixel per output
//!   pixel.
//!
//! Both compute the forward pass and the weight gradient, one image at a time, from a copy of
//! the image zero-padded so that no load needs a bounds test. The input gradient (any channel
//! count) is a product weightᵀ · d_output fused with col2im: register blocks of 6 taps x 16
//! output positions, each added straight onto the 16 input pixels under that tap.
//! `forward`, `weight_gradient` and `input_gradient` offer a kernel only for shapes and CPUs
//! that suit it; `conv.rs` takes the im2col + GEMM path otherwise, and the tests check both
//! against the definition of convolution and against finite differences.

// The AVX2 kernels and their tables exist only on x86-64.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

use super::conv::ConvShape;

/// Reusable buffers for one worker: the padded image, a rearranged output gradient, and the
/// offset tables of taps and windows (refilled per image, never reallocated once grown).
#[derive(Default)]
pub struct Scratch {
    padded: Vec<f32>,
    grad: Vec<f32>,
    taps_at: Vec<usize>,
    pixels: Vec<usize>,
    order: Vec<(usize, usize)>,
}

/// forward(shape, image [C, H, W], tap-major weight [K, OC], bias [OC], output [OC, OH, OW]).
pub type Forward = fn(&ConvShape, &[f32], &[f32], &[f32], &mut [f32], &mut Scratch);
/// weight_gradient(shape, image [C, H, W], d_output [OC, OH, OW], tap-major d_weight [K, OC]
/// (added to), d_bias [OC] (added to)).
pub type WeightGradient = fn(&ConvShape, &[f32], &[f32], &mut [f32], &mut [f32], &mut Scratch);

/// input_gradient(shape, tap-major weight [K, OC], d_output [OC, OH, OW], d_input [C, H, W]
/// (overwritten)).
pub type InputGradient = fn(&ConvShape, &[f32], &[f32], &mut [f32], &mut Scratch);

/// Output columns per narrow register block (two AVX2 vectors of f32).
const COLUMNS: usize = 16;
/// The most output channels a narrow register block holds.
const NARROW_CHANNELS: usize = 6;
/// Lanes of one AVX2 vector of f32.
const LANES: usize = 8;

fn avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

fn narrow(s: &ConvShape) -> bool {
    s.stride == 1 && s.out_channels <= NARROW_CHANNELS && avx2_fma()
}

fn wide(s: &ConvShape) -> bool {
    s.stride == 1 && s.out_channels.is_multiple_of(LANES) && s.out_channels <= 4 * LANES && avx2_fma()
}

/// The direct forward and weight-gradient kernels for this shape, if they suit it and this CPU:
/// each monomorphized for its channel count.
fn forward_and_weight_gradient(s: &ConvShape) -> Option<(Forward, WeightGradient)> {
    #[cfg(target_arch = "x86_64")]
    {
        use avx2::*;
        fn narrow_pair<const G: usize>() -> (Forward, WeightGradient) {
            (narrow_forward::<G>, narrow_weight_gradient::<G>)
        }
        fn wide_pair<const V: usize, const R: usize>() -> (Forward, WeightGradient) {
            (wide_forward::<V, R>, wide_weight_gradient::<V, R>)
        }
        if narrow(s) {
            return Some(match s.out_channels {
                1 => narrow_pair::<1>(),
                2 => narrow_pair::<2>(),
                3 => narrow_pair::<3>(),
                4 => narrow_pair::<4>(),
                5 => narrow_pair::<5>(),
                _ => narrow_pair::<6>(),
            });
        }
        // R pixels (forward) or taps (weight gradient) per block: V·R = 12 accumulators.
        if wide(s) {
            return Some(match s.out_channels / LANES {
                1 => wide_pair::<1, 12>(),
                2 => wide_pair::<2, 6>(),
                3 => wide_pair::<3, 4>(),
                _ => wide_pair::<4, 3>(),
            });
        }
    }
    let _ = s;
    None
}

/// The direct forward kernel for this shape, if one suits it and this CPU.
pub fn forward(s: &ConvShape) -> Option<Forward> {
    forward_and_weight_gradient(s).map(|(forward, _)| forward)
}

/// The direct weight-gradient kernel for this shape, if one suits it and this CPU.
pub fn weight_gradient(s: &ConvShape) -> Option<WeightGradient> {
    forward_and_weight_gradient(s).map(|(_, weight_gradient)| weight_gradient)
}

/// The direct input-gradient kernel for this shape, if one suits it and this CPU.
pub fn input_gradient(s: &ConvShape) -> Option<InputGradient> {
    #[cfg(target_arch = "x86_64")]
    if s.stride == 1 && avx2_fma() {
        return Some(avx2::input_gradient);
    }
    let _ = s;
    None
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

/// The sum of `values` in 8 interleaved partial sums: a single running sum is one long chain of
/// dependent additions (4 cycles each), which cost as much as the gradient kernels themselves.
pub fn sum(values: &[f32]) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().sum();
    for chunk in chunks {
        lanes.iter_mut().zip(chunk).for_each(|(l, v)| *l += v);
    }
    lanes.iter().sum::<f32>() + tail
}

/// Row width of a narrow kernel's padded planes: every block of COLUMNS output columns, at every
/// kernel column, reads inside the row.
fn narrow_width(s: &ConvShape) -> usize {
    s.out_w().div_ceil(COLUMNS) * COLUMNS + s.kernel_w - 1
}

/// The image [C, H, W] with zeros around it into `padded`: [C, H + 2P, width], the data at
/// (P, P), zeros to the right up to `width`.
fn pad(s: &ConvShape, width: usize, image: &[f32], padded: &mut Vec<f32>) {
    let plane = (s.in_h + 2 * s.padding) * width;
    padded.clear();
    padded.resize(s.in_channels * plane, 0.0);
    for (src, dst) in image.chunks_exact(s.in_h * s.in_w).zip(padded.chunks_exact_mut(plane)) {
        for (y, row) in src.chunks_exact(s.in_w).enumerate() {
            let at = (y + s.padding) * width + s.padding;
            dst[at..at + s.in_w].copy_from_slice(row);
        }
    }
}

/// Offsets, in a padded image of row width `width`, of each kernel tap (c, ky, kx) relative to
/// the tap (0, 0, 0), in weight order, into `offsets`.
fn tap_offsets(s: &ConvShape, width: usize, offsets: &mut Vec<usize>) {
    let plane = (s.in_h + 2 * s.padding) * width;
    offsets.clear();
    for c in 0..s.in_channels {
        for ky in 0..s.kernel_h {
            for kx in 0..s.kernel_w {
                offsets.push(c * plane + ky * width + kx);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{COLUMNS, ConvShape, LANES, Scratch, narrow_width, pad, sum, tap_offsets};
    use std::arch::x86_64::*;

    // SAFETY (every `unsafe` call of a `#[target_feature]` function below): `forward` and
    // `weight_gradient` hand these kernels out only when the CPU has AVX2 and FMA.

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
        unsafe {
            narrow_weight_gradient_avx2::<G>(s, &scratch.padded, &scratch.grad, &scratch.taps_at, d_taps)
        }
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
                    let gv: [__m256; V] =
                        std::array::from_fn(|v| _mm256_loadu_ps(grad.as_ptr().add(v * LANES)));
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
                    unsafe {
                        _mm256_storeu_ps(d.as_mut_ptr(), _mm256_add_ps(_mm256_loadu_ps(d.as_ptr()), *a))
                    };
                }
            }
        }
    }

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
        unsafe {
            input_gradient_avx2(&scratch.grad, positions, oc, taps, &scratch.order, &mut scratch.padded)
        };
        for (c, d_plane) in d_input.chunks_exact_mut(s.in_h * s.in_w).enumerate() {
            for (y, row) in d_plane.chunks_exact_mut(s.in_w).enumerate() {
                row.copy_from_slice(
                    &scratch.padded[c * plane + (y + s.padding) * pw + s.padding..][..s.in_w],
                );
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
}
