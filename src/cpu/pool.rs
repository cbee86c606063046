//! Max and average pooling over square windows with a stride (no padding). GPU twin:
//! `shaders/pool.wgsl`.
//!
//! Max pooling's forward pass records, for every output, which input pixel won (its index within
//! the channel's plane), so the backward pass routes each gradient to exactly that pixel. Average
//! pooling needs nothing recorded: every pixel of a window gets an equal share of its gradient.

pub use crate::model::shapes::PoolShape;
use rayon::prelude::*;

/// output [N, C, OH, OW] = max over each window of input [N, C, H, W]; `argmax` (same size as
/// output) gets the winning pixel's index within its plane. Ties go to the first pixel in
/// row-major order.
pub fn maxpool_forward(s: &PoolShape, input: &[f32], output: &mut [f32], argmax: &mut [u32]) {
    let (in_plane, out_plane) = (s.in_h * s.in_w, s.out_h() * s.out_w());
    assert_eq!(input.len(), s.batch * s.input_len(), "pool input size");
    assert_eq!(output.len(), s.batch * s.output_len(), "pool output size");
    assert_eq!(argmax.len(), output.len(), "pool argmax size");
    output
        .par_chunks_mut(out_plane)
        .zip(argmax.par_chunks_mut(out_plane))
        .zip(input.par_chunks(in_plane))
        .for_each(|((out, arg), plane)| max_plane_any(s, plane, out, arg));
}

/// One plane of `maxpool_forward`.
fn max_plane_any(s: &PoolShape, plane: &[f32], out: &mut [f32], arg: &mut [u32]) {
    // LeNet's windows (2x2, stride 2) get a loop of their own; other 2x2 windows a copy of the
    // general loop compiled for that size.
    match (s.window, s.stride) {
        (2, 2) => max_plane_2x2(s, plane, out, arg),
        (2, _) => max_plane(s, 2, plane, out, arg),
        _ => max_plane(s, s.window, plane, out, arg),
    }
}

/// `max_plane` for 2x2 windows at stride 2: the same comparisons in the same order (so the same
/// winner on ties), without its index arithmetic and bounds checks.
fn max_plane_2x2(s: &PoolShape, plane: &[f32], out: &mut [f32], arg: &mut [u32]) {
    let (ow, w) = (s.out_w(), s.in_w);
    for (oy, (out_row, arg_row)) in out.chunks_exact_mut(ow).zip(arg.chunks_exact_mut(ow)).enumerate() {
        let top = 2 * oy * w;
        let (r0, r1) = (&plane[top..top + 2 * ow], &plane[top + w..top + w + 2 * ow]);
        let windows = r0.chunks_exact(2).zip(r1.chunks_exact(2));
        for (ox, ((o, a), (p0, p1))) in out_row.iter_mut().zip(arg_row.iter_mut()).zip(windows).enumerate() {
            let x = 2 * ox;
            let mut best = (f32::NEG_INFINITY, x);
            for (v, i) in [(p0[0], x), (p0[1], x + 1), (p1[0], w + x), (p1[1], w + x + 1)] {
                if v > best.0 {
                    best = (v, i);
                }
            }
            (*o, *a) = (best.0, (top + best.1) as u32);
        }
    }
}

/// One plane of `maxpool_forward`, `window` passed in so a constant one unrolls.
#[inline(always)]
fn max_plane(s: &PoolShape, window: usize, plane: &[f32], out: &mut [f32], arg: &mut [u32]) {
    let (ow, stride, w) = (s.out_w(), s.stride, s.in_w);
    for (oy, (out_row, arg_row)) in out.chunks_exact_mut(ow).zip(arg.chunks_exact_mut(ow)).enumerate() {
        let top = oy * stride * w;
        let rows = &plane[top..top + (window - 1) * w + (ow - 1) * stride + window];
        for (ox, (o, a)) in out_row.iter_mut().zip(arg_row.iter_mut()).enumerate() {
            let mut best = (f32::NEG_INFINITY, ox * stride);
            for ky in 0..window {
                for kx in 0..window {
                    let i = ky * w + ox * stride + kx;
                    if rows[i] > best.0 {
                        best = (rows[i], i);
                    }
                }
            }
            (*o, *a) = (best.0, (top + best.1) as u32);
        }
    }
}

/// d_input [N, C, H, W]: each output's gradient added to the pixel that won its window (pixels
/// that won no window get 0; with overlapping windows one pixel can collect several).
pub fn maxpool_backward(s: &PoolShape, d_output: &[f32], argmax: &[u32], d_input: &mut [f32]) {
    let (in_plane, out_plane) = (s.in_h * s.in_w, s.out_h() * s.out_w());
    assert_eq!(d_output.len(), s.batch * s.output_len(), "pool d_output size");
    assert_eq!(argmax.len(), d_output.len(), "pool argmax size");
    assert_eq!(d_input.len(), s.batch * s.input_len(), "pool d_input size");
    d_input
        .par_chunks_mut(in_plane)
        .zip(d_output.par_chunks(out_plane))
        .zip(argmax.par_chunks(out_plane))
        .for_each(|((d_plane, d_out), arg)| max_backward_plane(d_out, arg, d_plane));
}

/// One plane of `maxpool_backward`.
fn max_backward_plane(d_out: &[f32], arg: &[u32], d_plane: &mut [f32]) {
    d_plane.fill(0.0);
    for (&g, &i) in d_out.iter().zip(arg) {
        d_plane[i as usize] += g;
    }
}

/// output [N, C, OH, OW] = the mean of each window of input [N, C, H, W].
pub fn avgpool_forward(s: &PoolShape, input: &[f32], output: &mut [f32]) {
    let (in_plane, out_plane) = (s.in_h * s.in_w, s.out_h() * s.out_w());
    assert_eq!(input.len(), s.batch * s.input_len(), "pool input size");
    assert_eq!(output.len(), s.batch * s.output_len(), "pool output size");
    let scale = 1.0 / (s.window * s.window) as f32;
    output
        .par_chunks_mut(out_plane)
        .zip(input.par_chunks(in_plane))
        .for_each(|(out, plane)| avg_plane(s, scale, plane, out));
}

/// One plane of `avgpool_forward`.
fn avg_plane(s: &PoolShape, scale: f32, plane: &[f32], out: &mut [f32]) {
    for oy in 0..s.out_h() {
        for ox in 0..s.out_w() {
            let mut sum = 0.0;
            for ky in 0..s.window {
                let row = (oy * s.stride + ky) * s.in_w + ox * s.stride;
                sum += plane[row..row + s.window].iter().sum::<f32>();
            }
            out[oy * s.out_w() + ox] = sum * scale;
        }
    }
}

/// d_input [N, C, H, W]: each output's gradient, divided by the window's area, added to every
/// pixel of its window (pixels in no window get 0; with overlapping windows, shares add up).
pub fn avgpool_backward(s: &PoolShape, d_output: &[f32], d_input: &mut [f32]) {
    let (in_plane, out_plane) = (s.in_h * s.in_w, s.out_h() * s.out_w());
    assert_eq!(d_output.len(), s.batch * s.output_len(), "pool d_output size");
    assert_eq!(d_input.len(), s.batch * s.input_len(), "pool d_input size");
    let scale = 1.0 / (s.window * s.window) as f32;
    d_input
        .par_chunks_mut(in_plane)
        .zip(d_output.par_chunks(out_plane))
        .for_each(|(d_plane, d_out)| avg_backward_plane(s, scale, d_out, d_plane));
}

/// One plane of `avgpool_backward`.
fn avg_backward_plane(s: &PoolShape, scale: f32, d_out: &[f32], d_plane: &mut [f32]) {
    d_plane.fill(0.0);
    for oy in 0..s.out_h() {
        for ox in 0..s.out_w() {
            let share = d_out[oy * s.out_w() + ox] * scale;
            for ky in 0..s.window {
                let row = (oy * s.stride + ky) * s.in_w + ox * s.stride;
                d_plane[row..row + s.window].iter_mut().for_each(|d| *d += share);
            }
        }
    }
}

/// The four passes above on this thread alone, for the `s.batch` images of a chunk: the same
/// per-plane arithmetic, so the same numbers.
pub mod serial {
    use super::*;

    fn planes(s: &PoolShape) -> (usize, usize) {
        (s.in_h * s.in_w, s.out_h() * s.out_w())
    }

    pub fn maxpool_forward(s: &PoolShape, input: &[f32], output: &mut [f32], argmax: &mut [u32]) {
        let (i, o) = planes(s);
        for ((out, arg), plane) in
            output.chunks_exact_mut(o).zip(argmax.chunks_exact_mut(o)).zip(input.chunks_exact(i))
        {
            max_plane_any(s, plane, out, arg);
        }
    }

    pub fn maxpool_backward(s: &PoolShape, d_output: &[f32], argmax: &[u32], d_input: &mut [f32]) {
        let (i, o) = planes(s);
        for ((d_plane, d_out), arg) in
            d_input.chunks_exact_mut(i).zip(d_output.chunks_exact(o)).zip(argmax.chunks_exact(o))
        {
            max_backward_plane(d_out, arg, d_plane);
        }
    }

    /// ReLU then max-pool in one pass: max-pool the raw input and clamp each maximum at 0. The
    /// same numbers as the two passes: ReLU is monotone, so a window's first maximum is the
    /// same pixel before and after it whenever that maximum is positive; when it is not, the
    /// output is 0 and `relu_maxpool_backward` sends nothing back, as ReLU's backward would.
    pub fn relu_maxpool_forward(s: &PoolShape, input: &[f32], output: &mut [f32], argmax: &mut [u32]) {
        maxpool_forward(s, input, output, argmax);
        output.iter_mut().for_each(|y| *y = y.max(0.0));
    }

    /// The backward pass of `relu_maxpool_forward`, given its output: each gradient to the
    /// pixel that won its window where the output was positive.
    pub fn relu_maxpool_backward(
        s: &PoolShape,
        output: &[f32],
        d_output: &[f32],
        argmax: &[u32],
        d_input: &mut [f32],
    ) {
        let (i, o) = planes(s);
        let planes = d_input.chunks_exact_mut(i).zip(d_output.chunks_exact(o)).zip(argmax.chunks_exact(o));
        for (((d_plane, d_out), arg), out) in planes.zip(output.chunks_exact(o)) {
            d_plane.fill(0.0);
            for ((&g, &i), &y) in d_out.iter().zip(arg).zip(out) {
                d_plane[i as usize] += if y > 0.0 { g } else { 0.0 };
            }
        }
    }

    pub fn avgpool_forward(s: &PoolShape, input: &[f32], output: &mut [f32]) {
        let (i, o) = planes(s);
        let scale = 1.0 / (s.window * s.window) as f32;
        for (out, plane) in output.chunks_exact_mut(o).zip(input.chunks_exact(i)) {
            avg_plane(s, scale, plane, out);
        }
    }

    pub fn avgpool_backward(s: &PoolShape, d_output: &[f32], d_input: &mut [f32]) {
        let (i, o) = planes(s);
        let scale = 1.0 / (s.window * s.window) as f32;
        for (d_plane, d_out) in d_input.chunks_exact_mut(i).zip(d_output.chunks_exact(o)) {
            avg_backward_plane(s, scale, d_out, d_plane);
        }
    }
}

/// Global average pooling: output [N, C] = the mean of each plane of input [N, C, plane] (plane
/// = H·W), summed in order then divided, as PyTorch's `AdaptiveAvgPool2d(1)`.
pub fn global_avgpool_forward(
    batch: usize,
    channels: usize,
    plane: usize,
    input: &[f32],
    output: &mut [f32],
) {
    assert_eq!(input.len(), batch * channels * plane, "global pool input size");
    assert_eq!(output.len(), batch * channels, "global pool output size");
    output
        .par_iter_mut()
        .zip(input.par_chunks(plane))
        .for_each(|(y, p)| *y = p.iter().sum::<f32>() / plane as f32);
}

/// d_input = d_output / plane, over each plane.
pub fn global_avgpool_backward(
    batch: usize,
    channels: usize,
    plane: usize,
    d_output: &[f32],
    d_input: &mut [f32],
) {
    assert_eq!(d_input.len(), batch * channels * plane, "global pool input size");
    assert_eq!(d_output.len(), batch * channels, "global pool output size");
    d_input.par_chunks_mut(plane).zip(d_output.par_iter()).for_each(|(dx, &dy)| dx.fill(dy / plane as f32));
}
