//! Each GPU kernel as a one-shot function over CPU slices: upload, dispatch once, read back.
//! Slow by design (buffers are made per call); they exist so every kernel can be compared with
//! its CPU twin (`parity`, natively and in a browser), and for one-off uses such as convolving a
//! single picture. Async, as every readback is: natively, `pollster::block_on` waits for one.

mod fused;

pub use fused::{
    FoldInputs, Layer, backward, backward_params_update, conv_backward_input_fold, conv2d_forward_pool,
};

use super::context::Gpu;
use super::kernels::gather::{gather_levels, pack_images};
use super::kernels::{Activation, Dispatch, Kernel, Kernels, StepUniform, pack_bytes, step_group};
use crate::data::Dataset;
use crate::data::augment::EpochShift;
use crate::model::LossStats;
use crate::model::optimizer::{Optimizer, OptimizerState};
use crate::model::schedule::UpdateRates;
use crate::model::shapes::{ConvShape, DenseShape, PoolShape};
use crate::{Error, Result};

fn usage() -> wgpu::BufferUsages {
    wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST
}

fn upload<T: bytemuck::Pod>(gpu: &Gpu, data: &[T]) -> wgpu::Buffer {
    gpu.create_buffer_init("op input", bytemuck::cast_slice(data), usage())
}

fn empty(gpu: &Gpu, floats: usize) -> wgpu::Buffer {
    gpu.create_buffer("op output", floats as u64 * 4, usage())
}

/// Records one dispatch (with `step` as its uniform, if it reads one) and submits it: the
/// readbacks after it wait for it.
fn run(gpu: &Gpu, kernels: &Kernels, dispatch: &Dispatch, step: StepUniform) -> Result<()> {
    let uniform = gpu.create_buffer_init(
        "step",
        bytemuck::bytes_of(&step),
        wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
    );
    let step_group = step_group(gpu, &kernels.step_layout, &uniform);
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        dispatch.record(&mut pass, Some((&step_group, 0)));
    }
    gpu.submit(encoder.finish());
    gpu.check_errors()
}

fn run_kernel(gpu: &Gpu, kernels: &Kernels, kernel: Result<Kernel>, buffers: &[&wgpu::Buffer]) -> Result<()> {
    run(gpu, kernels, &kernel?.bind(gpu, buffers), StepUniform::default())
}

/// Weight and bias as one "flat parameter buffer" (weight at 0, bias after it).
fn flat(weight: &[f32], bias: &[f32]) -> Vec<f32> {
    [weight, bias].concat()
}

/// output = activation(conv(input) + bias).
pub async fn conv2d_forward(
    gpu: &Gpu,
    s: &ConvShape,
    activation: Activation,
    input: &[f32],
    weight: &[f32],
    bias: &[f32],
) -> Result<Vec<f32>> {
    let k = Kernels::new(gpu);
    let (x, p, y) =
        (upload(gpu, input), upload(gpu, &flat(weight, bias)), empty(gpu, s.batch * s.output_len()));
    run_kernel(gpu, &k, k.conv_forward(s, activation, 0, weight.len()), &[&x, &p, &y])?;
    gpu.read_f32_async(&y, 0, s.batch * s.output_len()).await
}

/// d_input = the convolution's input gradient, taken back through `input_activation` (the one
/// `input` came out of).
pub async fn conv2d_backward_input(
    gpu: &Gpu,
    s: &ConvShape,
    input_activation: Activation,
    input: &[f32],
    weight: &[f32],
    d_output: &[f32],
) -> Result<Vec<f32>> {
    let k = Kernels::new(gpu);
    let (x, p, dy, dx) =
        (upload(gpu, input), upload(gpu, weight), upload(gpu, d_output), empty(gpu, s.batch * s.input_len()));
    let spare = empty(gpu, 1);
    let kernel = k.conv_backward_input(s, input_activation, 0, None);
    run_kernel(gpu, &k, kernel, &[&x, &p, &dy, &dx, &x, &x, &spare])?;
    gpu.read_f32_async(&dx, 0, s.batch * s.input_len()).await
}

/// (d_weight, d_bias) of a convolution.
pub async fn conv2d_backward_params(
    gpu: &Gpu,
    s: &ConvShape,
    input: &[f32],
    d_output: &[f32],
) -> Result<(Vec<f32>, Vec<f32>)> {
    let k = Kernels::new(gpu);
    let (x, dy, g) = (upload(gpu, input), upload(gpu, d_output), empty(gpu, s.weight_len() + s.out_channels));
    run_kernel(gpu, &k, k.conv_backward_params(s, 0, s.weight_len()), &[&x, &dy, &g])?;
    let all = gpu.read_f32_async(&g, 0, s.weight_len() + s.out_channels).await?;
    let (w, b) = all.split_at(s.weight_len());
    Ok((w.to_vec(), b.to_vec()))
}

/// (output, argmax) of max pooling, with `activation` after it.
pub async fn maxpool_forward(
    gpu: &Gpu,
    s: &PoolShape,
    activation: Activation,
    input: &[f32],
) -> Result<(Vec<f32>, Vec<u32>)> {
    let k = Kernels::new(gpu);
    let n = s.batch * s.output_len();
    let (x, y, a) = (upload(gpu, input), empty(gpu, n), empty(gpu, n));
    run_kernel(gpu, &k, k.maxpool_forward(s, activation), &[&x, &y, &a])?;
    Ok((gpu.read_f32_async(&y, 0, n).await?, gpu.read_u32_async(&a, 0, n).await?))
}

/// d_input of max pooling, taken back through `input_activation`.
pub async fn maxpool_backward(
    gpu: &Gpu,
    s: &PoolShape,
    input_activation: Activation,
    input: &[f32],
    d_output: &[f32],
    argmax: &[u32],
) -> Result<Vec<f32>> {
    let k = Kernels::new(gpu);
    let (x, dy, a, dx) =
        (upload(gpu, input), upload(gpu, d_output), upload(gpu, argmax), empty(gpu, s.batch * s.input_len()));
    run_kernel(gpu, &k, k.maxpool_backward(s, input_activation), &[&x, &dy, &a, &dx])?;
    gpu.read_f32_async(&dx, 0, s.batch * s.input_len()).await
}

/// Average pooling, with `activation` after it.
pub async fn avgpool_forward(
    gpu: &Gpu,
    s: &PoolShape,
    activation: Activation,
    input: &[f32],
) -> Result<Vec<f32>> {
    let k = Kernels::new(gpu);
    let n = s.batch * s.output_len();
    let (x, y) = (upload(gpu, input), empty(gpu, n));
    run_kernel(gpu, &k, k.avgpool_forward(s, activation), &[&x, &y])?;
    gpu.read_f32_async(&y, 0, n).await
}

/// d_input of average pooling, taken back through `input_activation`.
pub async fn avgpool_backward(
    gpu: &Gpu,
    s: &PoolShape,
    input_activation: Activation,
    input: &[f32],
    d_output: &[f32],
) -> Result<Vec<f32>> {
    let k = Kernels::new(gpu);
    let (x, dy, dx) = (upload(gpu, input), upload(gpu, d_output), empty(gpu, s.batch * s.input_len()));
    run_kernel(gpu, &k, k.avgpool_backward(s, input_activation), &[&x, &dy, &dx])?;
    gpu.read_f32_async(&dx, 0, s.batch * s.input_len()).await
}

/// output = activation(input), element by element.
pub async fn activation_forward(gpu: &Gpu, activation: Activation, input: &[f32]) -> Result<Vec<f32>> {
    let k = Kernels::new(gpu);
    let (x, y) = (upload(gpu, input), empty(gpu, input.len()));
    run_kernel(gpu, &k, k.activation_forward(activation, input.len()), &[&x, &y])?;
    gpu.read_f32_async(&y, 0, input.len()).await
}

/// d_input = d_output taken back through `input_activation`, the one `input` came out of.
pub async fn activation_backward(
    gpu: &Gpu,
    input_activation: Activation,
    input: &[f32],
    d_output: &[f32],
) -> Result<Vec<f32>> {
    let k = Kernels::new(gpu);
    let (x, dy, dx) = (upload(gpu, input), upload(gpu, d_output), empty(gpu, input.len()));
    run_kernel(gpu, &k, k.activation_backward(input_activation, input.len()), &[&x, &dy, &dx])?;
    gpu.read_f32_async(&dx, 0, input.len()).await
}

/// output = activation(input · weightᵀ + bias).
pub async fn dense_forward(
    gpu: &Gpu,
    s: &DenseShape,
    activation: Activation,
    input: &[f32],
    weight: &[f32],
    bias: &[f32],
) -> Result<Vec<f32>> {
    let k = Kernels::new(gpu);
    let (x, p, y) =
        (upload(gpu, input), upload(gpu, &flat(weight, bias)), empty(gpu, s.batch * s.out_features));
    run_kernel(gpu, &k, k.dense_forward(s, activation, 0, weight.len()), &[&x, &p, &y])?;
    gpu.read_f32_async(&y, 0, s.batch * s.out_features).await
}

/// d_input of a dense layer, taken back through `input_activation`.
pub async fn dense_backward_input(
    gpu: &Gpu,
    s: &DenseShape,
    input_activation: Activation,
    input: &[f32],
    weight: &[f32],
    d_output: &[f32],
) -> Result<Vec<f32>> {
    let k = Kernels::new(gpu);
    let n = s.batch * s.in_features;
    let (x, p, dy, dx) = (upload(gpu, input), upload(gpu, weight), upload(gpu, d_output), empty(gpu, n));
    run_kernel(gpu, &k, k.dense_backward_input(s, input_activation, 0), &[&x, &p, &dy, &dx])?;
    gpu.read_f32_async(&dx, 0, n).await
}

pub async fn dense_backward_params(
    gpu: &Gpu,
    s: &DenseShape,
    input: &[f32],
    d_output: &[f32],
) -> Result<(Vec<f32>, Vec<f32>)> {
    let k = Kernels::new(gpu);
    let weights = s.out_features * s.in_features;
    let (x, dy, g) = (upload(gpu, input), upload(gpu, d_output), empty(gpu, weights + s.out_features));
    run_kernel(gpu, &k, k.dense_backward_params(s, 0, weights), &[&x, &dy, &g])?;
    let all = gpu.read_f32_async(&g, 0, weights + s.out_features).await?;
    let (w, b) = all.split_at(weights);
    Ok((w.to_vec(), b.to_vec()))
}

/// (loss statistics, d_logits) for the first `count` rows of a batch of `labels.len()`; the
/// rows past `count` are padding and get a zero gradient.
pub async fn softmax_cross_entropy(
    gpu: &Gpu,
    logits: &[f32],
    labels: &[u32],
    classes: usize,
    count: usize,
) -> Result<(LossStats, Vec<f32>)> {
    let k = Kernels::new(gpu);
    let batch = labels.len();
    let (z, l, dz, stats) =
        (upload(gpu, logits), upload(gpu, labels), empty(gpu, batch * classes), empty(gpu, 2));
    let step = StepUniform { count: count as u32, ..Default::default() };
    run(
        gpu,
        &k,
        &k.softmax_cross_entropy(batch, classes, Activation::Identity)?.bind(gpu, &[&z, &l, &dz, &stats]),
        step,
    )?;
    let s = gpu.read_f32_async(&stats, 0, 2).await?;
    Ok((
        LossStats { loss_sum: s[0], correct: s[1] as u32 },
        gpu.read_f32_async(&dz, 0, batch * classes).await?,
    ))
}

/// The predicted class of each row of `logits`.
pub async fn predict(gpu: &Gpu, logits: &[f32], classes: usize) -> Result<Vec<u32>> {
    let k = Kernels::new(gpu);
    let batch = logits.len() / classes;
    let (z, p) = (upload(gpu, logits), empty(gpu, batch));
    let step = StepUniform { count: batch as u32, ..Default::default() };
    run(gpu, &k, &k.predict(batch, classes)?.bind(gpu, &[&z, &p]), step)?;
    gpu.read_u32_async(&p, 0, batch).await
}

/// One optimizer update at `rates` (learning rate, weight decay), which the step uniform carries;
/// `state.step` counts it, as on the CPU.
pub async fn optimizer_step(
    gpu: &Gpu,
    optimizer: &Optimizer,
    rates: UpdateRates,
    state: &mut OptimizerState,
    params: &mut [f32],
    grads: &[f32],
) -> Result<()> {
    let k = Kernels::new(gpu);
    state.step += 1;
    let (p, g, m, v) =
        (upload(gpu, params), upload(gpu, grads), upload(gpu, &state.first), upload(gpu, &state.second));
    let kernel = k.optimizer_step(optimizer, params.len())?;
    let dispatch = match optimizer {
        Optimizer::Sgd { .. } => kernel.bind(gpu, &[&p, &g, &m]),
        Optimizer::Adam { .. } => kernel.bind(gpu, &[&p, &g, &m, &v]),
    };
    run(gpu, &k, &dispatch, StepUniform::new(0, 0, 0, optimizer, state.step, rates))?;
    params.copy_from_slice(&gpu.read_f32_async(&p, 0, params.len()).await?);
    state.first = gpu.read_f32_async(&m, 0, params.len()).await?;
    state.second = gpu.read_f32_async(&v, 0, params.len()).await?;
    Ok(())
}

/// (batch input, batch labels) for the examples at `indices`, padded with zero rows to `batch`.
pub async fn gather(
    gpu: &Gpu,
    data: &Dataset,
    indices: &[u32],
    batch: usize,
) -> Result<(Vec<f32>, Vec<u32>)> {
    gather_shifted(gpu, data, indices, None, batch).await
}

/// `gather`, with `shifted` (the epoch's shifts and the position of `indices[0]` in its order)
/// each image moved as training moves it.
pub async fn gather_shifted(
    gpu: &Gpu,
    data: &Dataset,
    indices: &[u32],
    shifted: Option<(EpochShift, usize)>,
    batch: usize,
) -> Result<(Vec<f32>, Vec<u32>)> {
    let limit = gpu.device.limits().max_storage_buffer_binding_size;
    gather_within(gpu, data, indices, shifted, batch, limit).await
}

/// `gather_shifted` with the images split across the kernel's two image bindings as a device
/// binding at most `binding_limit` bytes would need them.
pub async fn gather_within(
    gpu: &Gpu,
    data: &Dataset,
    indices: &[u32],
    shifted: Option<(EpochShift, usize)>,
    batch: usize,
    binding_limit: u64,
) -> Result<(Vec<f32>, Vec<u32>)> {
    let k = Kernels::new(gpu);
    let pixels = data.pixels_per_image();
    let packed = pack_images(data, binding_limit)
        .ok_or_else(|| Error::InvalidArgument("the data set is over two bindings' size".into()))?;
    let (low, high) = (upload(gpu, &packed.low), upload(gpu, &packed.high));
    let labels = upload(gpu, &pack_bytes(&data.labels));
    let levels = upload(gpu, &gather_levels(data));
    // The kernel hashes an image's position in the order: put the batch at its place in it.
    let first = shifted.map_or(0, |(_, first)| first);
    let order: Vec<u32> = std::iter::repeat_n(0, first).chain(indices.iter().copied()).collect();
    let (order, x, y) = (upload(gpu, &order), empty(gpu, batch * pixels), empty(gpu, batch));
    let step = StepUniform { batch_start: first as u32, count: indices.len() as u32, ..Default::default() }
        .shifted(shifted.map(|(shift, _)| shift));
    let kernel = k.gather(data, packed.split, batch)?;
    run(gpu, &k, &kernel.bind(gpu, &[&low, &labels, &order, &x, &y, &high, &levels]), step)?;
    Ok((gpu.read_f32_async(&x, 0, batch * pixels).await?, gpu.read_u32_async(&y, 0, batch).await?))
}
