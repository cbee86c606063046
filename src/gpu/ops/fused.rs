//! The kernels a training step fuses (`kernels::fused`), each as a one-shot function over CPU
//! slices, for the parity suite.

use super::{empty, flat, run, run_kernel, upload};
use crate::Result;
use crate::gpu::context::Gpu;
use crate::gpu::kernels::{Activation, FusedPool, Kernels, PoolFold, StepUniform};
use crate::model::optimizer::{Optimizer, OptimizerState};
use crate::model::schedule::UpdateRates;
use crate::model::shapes::{ConvShape, DenseShape};

/// A pool folded into an input gradient, with what it reads: its argmax (max pools) and its
/// input (the output of `fold.input_activation`).
pub struct FoldInputs<'a> {
    pub fold: PoolFold,
    pub argmax: &'a [u32],
    pub pool_input: &'a [f32],
}

/// (convolution output after `activation`, pooled after `pool_activation`, argmax: max pools
/// only) of the convolution fused with the pool after it.
#[allow(clippy::too_many_arguments)]
pub async fn conv2d_forward_pool(
    gpu: &Gpu,
    s: &ConvShape,
    activation: Activation,
    pool: &FusedPool,
    pool_activation: Activation,
    input: &[f32],
    weight: &[f32],
    bias: &[f32],
) -> Result<(Vec<f32>, Vec<f32>, Vec<u32>)> {
    let k = Kernels::new(gpu);
    let n = s.batch * s.output_len();
    let pooled = n / (pool.window * pool.window);
    let (x, p) = (upload(gpu, input), upload(gpu, &flat(weight, bias)));
    let (y, z, a) = (empty(gpu, n), empty(gpu, pooled), empty(gpu, pooled));
    let kernel = k.conv_forward_pool(s, activation, pool, pool_activation, (0, weight.len()));
    run_kernel(gpu, &k, kernel, &[&x, &p, &y, &z, &a])?;
    Ok((
        gpu.read_f32_async(&y, 0, n).await?,
        gpu.read_f32_async(&z, 0, pooled).await?,
        if pool.max { gpu.read_u32_async(&a, 0, pooled).await? } else { Vec::new() },
    ))
}

/// Which layer a merged backward kernel is for.
pub enum Layer<'s> {
    Conv(&'s ConvShape),
    Dense(&'s DenseShape),
}

impl Layer<'_> {
    fn input_len(&self) -> usize {
        match self {
            Layer::Conv(s) => s.batch * s.input_len(),
            Layer::Dense(s) => s.batch * s.in_features,
        }
    }
    fn biases(&self) -> usize {
        match self {
            Layer::Conv(s) => s.out_channels,
            Layer::Dense(s) => s.out_features,
        }
    }
}

/// (d_weight, d_bias, input gradient) of a layer's backward passes in one dispatch: the input
/// gradient taken back through `input_activation`, and with `fold` on through its pool (then it
/// is the pool input's gradient).
pub async fn backward(
    gpu: &Gpu,
    layer: Layer<'_>,
    input_activation: Activation,
    fold: Option<&FoldInputs<'_>>,
    input: &[f32],
    weight: &[f32],
    d_output: &[f32],
) -> Result<(Vec<f32>, Vec<f32>, Vec<f32>)> {
    let k = Kernels::new(gpu);
    let (wl, bl) = (weight.len(), layer.biases());
    let offsets = (0, wl);
    let kernel = match layer {
        Layer::Conv(s) => k.conv_backward(s, input_activation, fold.map(|f| &f.fold), offsets),
        Layer::Dense(s) => k.dense_backward(s, input_activation, fold.map(|f| &f.fold), offsets),
    };
    let (x, p, dy) = (upload(gpu, input), upload(gpu, &flat(weight, &vec![0.0; bl])), upload(gpu, d_output));
    let (dx, g) = (empty(gpu, layer.input_len()), empty(gpu, wl + bl));
    let dx_len = fold.map_or(layer.input_len(), |f| f.pool_input.len());
    let (argmax, pre, d_pre) = match fold {
        Some(f) => {
            // An average pool has no argmax: a placeholder binds in its place.
            let argmax = if f.argmax.is_empty() { &[0][..] } else { f.argmax };
            (upload(gpu, argmax), upload(gpu, f.pool_input), empty(gpu, dx_len))
        }
        None => (upload(gpu, &[0u32]), upload(gpu, &[0.0f32]), empty(gpu, 1)),
    };
    run_kernel(gpu, &k, kernel, &[&x, &p, &dy, &dx, &g, &argmax, &pre, &d_pre])?;
    let all = gpu.read_f32_async(&g, 0, wl + bl).await?;
    let d_in = match fold {
        Some(_) => gpu.read_f32_async(&d_pre, 0, dx_len).await?,
        None => gpu.read_f32_async(&dx, 0, dx_len).await?,
    };
    Ok((all[..wl].to_vec(), all[wl..].to_vec(), d_in))
}

/// A convolution's input gradient alone, taken on through `f`'s pool: what a software adapter's
/// step runs beside `conv_backward_params` (weight at offset 0 of `weight`).
pub async fn conv_backward_input_fold(
    gpu: &Gpu,
    s: &ConvShape,
    input_activation: Activation,
    f: &FoldInputs<'_>,
    input: &[f32],
    weight: &[f32],
    d_output: &[f32],
) -> Result<Vec<f32>> {
    let k = Kernels::new(gpu);
    let kernel = k.conv_backward_input(s, input_activation, 0, Some(&f.fold));
    let (x, p, dy) = (upload(gpu, input), upload(gpu, weight), upload(gpu, d_output));
    let dx = empty(gpu, s.batch * s.input_len());
    // An average pool has no argmax: a placeholder binds in its place.
    let argmax = if f.argmax.is_empty() { &[0][..] } else { f.argmax };
    let (argmax, pre, d_pre) =
        (upload(gpu, argmax), upload(gpu, f.pool_input), empty(gpu, f.pool_input.len()));
    run_kernel(gpu, &k, kernel, &[&x, &p, &dy, &dx, &argmax, &pre, &d_pre])?;
    gpu.read_f32_async(&d_pre, 0, f.pool_input.len()).await
}

/// The first layer's weight gradient fused with the optimizer's update of the whole flat buffer:
/// the layer's weight at `w_off` and bias after it in `params`, `grads` holding every other
/// layer's gradients. Updates `params`, `grads` (the layer's part) and `state` as one update.
#[allow(clippy::too_many_arguments)]
pub async fn backward_params_update(
    gpu: &Gpu,
    layer: Layer<'_>,
    optimizer: &Optimizer,
    rates: UpdateRates,
    w_off: usize,
    input: &[f32],
    d_output: &[f32],
    params: &mut [f32],
    grads: &mut [f32],
    state: &mut OptimizerState,
) -> Result<()> {
    let k = Kernels::new(gpu);
    let n = params.len();
    let offsets = (
        w_off,
        w_off
            + match &layer {
                Layer::Conv(s) => s.weight_len(),
                Layer::Dense(s) => s.in_features * s.out_features,
            },
    );
    let kernel = match layer {
        Layer::Conv(s) => k.conv_backward_params_update(s, optimizer, n, offsets)?,
        Layer::Dense(s) => k.dense_backward_params_update(s, optimizer, n, offsets)?,
    };
    state.step += 1;
    let (x, dy, g) = (upload(gpu, input), upload(gpu, d_output), upload(gpu, grads));
    let (p, m, v) = (upload(gpu, params), upload(gpu, &state.first), upload(gpu, &state.second));
    let dispatch = kernel.bind(gpu, &[&x, &dy, &g, &p, &m, &v]);
    run(gpu, &k, &dispatch, StepUniform::new(0, 0, 0, optimizer, state.step, rates))?;
    params.copy_from_slice(&gpu.read_f32_async(&p, 0, n).await?);
    grads.copy_from_slice(&gpu.read_f32_async(&g, 0, n).await?);
    state.first = gpu.read_f32_async(&m, 0, n).await?;
    state.second = gpu.read_f32_async(&v, 0, n).await?;
    Ok(())
}
