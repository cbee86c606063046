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

/// GELU as PyTorch's `nn.GELU()` computes it (the exact form, not the tanh approximation):
/// x · Φ(x) = ½ x (1 + erf(x / √2)).
pub fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// The error function, by Abramowitz and Stegun's 7.1.26 (within 1.5e-7 of the exact value,
/// absolutely): a polynomial in t = 1/(1 + p|x|) times e^−x², odd in x. Rust's std has no f32
/// erf; this one needs only +, ·, / and exp, which a shader has too.
pub fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [0.254_829_6, -0.284_496_74, 1.421_413_8, -1.453_152_1, 1.061_405_4];
    let a = x.abs();
    let t = 1.0 / (1.0 + P * a);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    (1.0 - poly * (-a * a).exp()).copysign(x)
}

/// output = GELU(input).
pub fn gelu_forward(input: &[f32], output: &mut [f32]) {
    assert_eq!(input.len(), output.len(), "gelu size");
    output.par_chunks_mut(TASK).zip(input.par_chunks(TASK)).for_each(|(o, i)| {
        for (y, &x) in o.iter_mut().zip(i) {
            *y = gelu(x);
        }
    });
}

/// d_input = d_output · (Φ(x) + x φ(x)): GELU's derivative needs its input, not its output.
pub fn gelu_backward(input: &[f32], d_output: &[f32], d_input: &mut [f32]) {
    assert!(input.len() == d_output.len() && input.len() == d_input.len(), "gelu size");
    // 1/√(2π), φ's constant.
    const INV_SQRT_TAU: f32 = 0.398_942_3;
    d_input.par_chunks_mut(TASK).zip(input.par_chunks(TASK)).zip(d_output.par_chunks(TASK)).for_each(
        |((dx, x), dy)| {
            for ((dx, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
                let cdf = 0.5 * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2));
                let pdf = INV_SQRT_TAU * (-0.5 * x * x).exp();
                *dx = dy * (cdf + x * pdf);
            }
        },
    );
}
