//! Dense (fully connected) layers: output = input · weightᵀ + bias, with weight stored [out, in]
//! as PyTorch's Linear stores it. GPU twin: `shaders/dense.wgsl`.

use super::gemm::gemm;
pub use crate::model::shapes::DenseShape;

/// `output [N, OUT] = input [N, IN] · weight [OUT, IN]ᵀ + bias [OUT]`.
pub fn dense_forward(s: &DenseShape, input: &[f32], weight: &[f32], bias: &[f32], output: &mut [f32]) {
    assert_eq!(input.len(), s.batch * s.in_features, "dense input size");
    assert_eq!(weight.len(), s.out_features * s.in_features, "dense weight size");
    assert_eq!(bias.len(), s.out_features, "dense bias size");
    assert_eq!(output.len(), s.batch * s.out_features, "dense output size");
    for row in output.chunks_exact_mut(s.out_features) {
        row.copy_from_slice(bias);
    }
    gemm(s.batch, s.out_features, s.in_features, input, false, weight, true, 1.0, output);
}

/// `d_weight [OUT, IN] = d_outputᵀ · input`, `d_bias [OUT] = Σ_n d_output`, and, when asked for,
/// d_input [N, IN] = d_output · weight.
pub fn dense_backward(
    s: &DenseShape,
    input: &[f32],
    weight: &[f32],
    d_output: &[f32],
    d_input: Option<&mut [f32]>,
    d_weight: &mut [f32],
    d_bias: &mut [f32],
) {
    d_bias.fill(0.0);
    backward(s, input, weight, d_output, d_input, d_weight, d_bias, 0.0);
}

/// `dense_backward` adding its weight and bias gradients to `d_weight` and `d_bias` instead of
/// overwriting them (a chunk's share of a batch's gradient); `d_input` is overwritten.
pub fn dense_backward_add(
    s: &DenseShape,
    input: &[f32],
    weight: &[f32],
    d_output: &[f32],
    d_input: Option<&mut [f32]>,
    d_weight: &mut [f32],
    d_bias: &mut [f32],
) {
    backward(s, input, weight, d_output, d_input, d_weight, d_bias, 1.0);
}

/// Both: the weight gradient is `beta` times what `d_weight` held plus this batch's, the bias
/// gradient this batch's added to `d_bias`.
#[allow(clippy::too_many_arguments)]
fn backward(
    s: &DenseShape,
    input: &[f32],
    weight: &[f32],
    d_output: &[f32],
    d_input: Option<&mut [f32]>,
    d_weight: &mut [f32],
    d_bias: &mut [f32],
    beta: f32,
) {
    assert_eq!(d_output.len(), s.batch * s.out_features, "dense d_output size");
    assert_eq!(d_weight.len(), s.out_features * s.in_features, "dense d_weight size");
    assert_eq!(d_bias.len(), s.out_features, "dense d_bias size");
    gemm(s.out_features, s.in_features, s.batch, d_output, true, input, false, beta, d_weight);
    for row in d_output.chunks_exact(s.out_features) {
        d_bias.iter_mut().zip(row).for_each(|(b, g)| *b += g);
    }
    if let Some(d_input) = d_input {
        assert_eq!(d_input.len(), s.batch * s.in_features, "dense d_input size");
        gemm(s.batch, s.in_features, s.out_features, d_output, false, weight, false, 0.0, d_input);
    }
}
