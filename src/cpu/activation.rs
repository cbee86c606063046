//! ReLU and tanh. GPU twin: `shaders/activation.wgsl` (the GPU path mostly fuses them into the
//! kernels of the layers around them, through the functions of `shaders/common.wgsl`).
//!
//! Both backward passes read the forward pass's output, not its input: each derivative is a
//! function of the output (ReLU's: output > 0; tanh's: 1 − output²), so the input need not be kept.

use rayon::prelude::*;

/// Elements per parallel task: ReLU is memory-bound, so small tasks only add overhead.
const TASK: usize = 16 * 1024;

/// output = max(input, 0).
pub fn relu_forward(input: &[f32], output: &mut [f32]) {
    assert_eq!(input.len(), output.len(), "relu size");
    output.par_chunks_mut(TASK).zip(input.par_chunks(TASK)).for_each(|(o, i)| {
        for (y, &x) in o.iter_mut().zip(i) {
            *y = x.max(0.0);
        }
    });
}

/// d_input = d_output where the forward output was positive, else 0.
pub fn relu_backward(output: &[f32], d_output: &[f32], d_input: &mut [f32]) {
    assert!(output.len() == d_output.len() && output.len() == d_input.len(), "relu size");
    d_input.par_chunks_mut(TASK).zip(output.par_chunks(TASK)).zip(d_output.par_chunks(TASK)).for_each(
        |((dx, y), dy)| {
            for ((dx, &y), &dy) in dx.iter_mut().zip(y).zip(dy) {
                *dx = if y > 0.0 { dy } else { 0.0 };
            }
        },
    );
}

/// output = tanh(input).
pub fn tanh_forward(input: &[f32], output: &mut [f32]) {
    assert_eq!(input.len(), output.len(), "tanh size");
    output.par_chunks_mut(TASK).zip(input.par_chunks(TASK)).for_each(|(o, i)| {
        for (y, &x) in o.iter_mut().zip(i) {
            *y = tanh(x);
        }
    });
}

/// tanh(x) within 2.3e-7 of the exact value, relatively (libm's `f32::tanh` is within 1.6e-7 but
/// three times slower, and it would take 40% of a training step of LeNet-5 of 1998). The GPU
/// computes the same formula (`tanh_of` in shaders/common.wgsl): (1 − e)/(1 + e) with e = e^−2|x|,
/// which never overflows; below |x| = 1/8, where 1 − e would lose digits, the Taylor series to x⁷.
pub fn tanh(x: f32) -> f32 {
    let a = x.abs();
    if a < 0.125 {
        let x2 = x * x;
        return x * (1.0 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0))));
    }
    let e = (-2.0 * a).exp();
    ((1.0 - e) / (1.0 + e)).copysign(x)
}

/// d_input = d_output · (1 − output²), tanh's derivative written with its output.
pub fn tanh_backward(output: &[f32], d_output: &[f32], d_input: &mut [f32]) {
    assert!(output.len() == d_output.len() && output.len() == d_input.len(), "tanh size");
    d_input.par_chunks_mut(TASK).zip(output.par_chunks(TASK)).zip(d_output.par_chunks(TASK)).for_each(
        |((dx, y), dy)| {
            for ((dx, &y), &dy) in dx.iter_mut().zip(y).zip(dy) {
                *dx = dy * (1.0 - y * y);
            }
        },
    );
}
