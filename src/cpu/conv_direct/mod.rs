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
//!
//! This module owns what the kernels share (`Scratch`, the weight layouts, padding and tap
//! offsets) and the dispatch; the kernels live in `narrow.rs`, `wide.rs` and
//! `input_gradient.rs`.

// The AVX2 kernels and their tables exist only on x86-64.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

use super::conv::ConvShape;

#[cfg(target_arch = "x86_64")]
mod input_gradient;
#[cfg(target_arch = "x86_64")]
mod narrow;
#[cfg(target_arch = "x86_64")]
mod wide;

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
    super::isa::avx2_fma()
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
        use narrow::{narrow_forward, narrow_weight_gradient};
        use wide::{wide_forward, wide_weight_gradient};
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
        return Some(input_gradient::input_gradient);
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
