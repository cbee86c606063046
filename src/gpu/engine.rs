//! The GPU path as an `Engine`: the scheduler. Data sets, parameters, gradients, optimizer state
//! and activations are allocated on the GPU once; pipelines and bind groups are built once; a
//! training step is a fixed list of dispatches, recorded many steps to a submission, each step
//! finding its batch through a dynamic offset into a buffer of per-step uniforms. Loss and
//! correct counts stay on the GPU (one slot per step) and are read back a few times per epoch,
//! without stalling the queue, to drive the progress display.
//!
//! Activations (ReLU, tanh) are fused: a conv, dense or pool kernel applies one to its own output,
//! and the backward kernel of the layer that consumes that output takes the gradient it writes
//! back through it. So each stage's gradient buffer holds the gradient before its activation.

use super::context::Gpu;
use super::kernels::{Activation, Dispatch, Kernel, Kernels, STEP_SIZE, StepUniform, pack_bytes, step_group};
use crate::bench::KernelTiming;
use crate::data::Dataset;
use crate::model::fusion;
use crate::model::optimizer::{Optimizer, OptimizerState};
use crate::model::shapes::{ConvShape, DenseShape, PoolShape, conv_shape, dense_shape, pool_shape};
use crate::model::{Layer, Parameters, Plan, PlannedLayer};
use crate::train::{Engine, LayerOutput, Progress};
use crate::{Error, Result};
use std::sync::mpsc;

/// Submissions per training epoch (fewer for short epochs): each is followed by a non-blocking
/// readback of its steps' loss, which is all the progress display needs.
const SUBMISSIONS_PER_EPOCH: usize = 8;

/// Test hook: a number N in this environment variable makes every GPU engine lose its device
/// once N training steps have been submitted (see `GpuEngine::lose_device_after`), so the
/// command line's handling of a lost device can be tested end to end.
pub const LOSE_DEVICE_ENV: &str = "LENET_TEST_LOSE_DEVICE_AFTER";

/// One layer as the GPU runs it: activations folded into the layer before them.
#[derive(Clone, Debug)]
enum Stage {
    Conv {
        shape: ConvShape,
        w_off: usize,
        b_off: usize,
    },
    MaxPool {
        shape: PoolShape,
    },
    AvgPool {
        shape: PoolShape,
    },
    Dense {
        shape: DenseShape,
        w_off: usize,
        b_off: usize,
    },
    /// An activation no layer before it can absorb: one on the network's input, or a second,
    /// different one in a row. The stage's `activation` is the one it applies.
    Activation {
        len: usize,
    },
}

#[derive(Clone, Debug)]
struct FusedStage {
    stage: Stage,
    /// The layer's name in the plan ("conv1", "fc2"), for benchmark labels.
    name: String,
    /// The activation the stage's output goes through.
    activation: Activation,
    /// Floats in one example's output.
    output_len: usize,
    has_params: bool,
    /// The plan's index of the layer whose output this stage's is (its last folded ReLU's).
    output_layer: usize,
}

fn stage_of(l: &PlannedLayer, batch: usize) -> Stage {
    let offsets = || (l.weight.expect("weight").0, l.bias.expect("bias").0);
    match l.layer {
        Layer::Conv2d { .. } => {
            let (w_off, b_off) = offsets();
            Stage::Conv { shape: conv_shape(l, batch), w_off, b_off }
        }
        Layer::MaxPool { .. } => Stage::MaxPool { shape: pool_shape(l, batch) },
        Layer::AvgPool { .. } => Stage::AvgPool { shape: pool_shape(l, batch) },
        Layer::Dense { .. } => {
            let (w_off, b_off) = offsets();
            Stage::Dense { shape: dense_shape(l, batch), w_off, b_off }
        }
        Layer::Relu | Layer::Tanh => Stage::Activation { len: batch * l.input.len() },
    }
}

/// The plan's layers as GPU stages, each activation folded into the stage before it by the
/// rule `model::fusion::fuse` gives.
fn fuse(plan: &Plan, batch: usize) -> Result<Vec<FusedStage>> {
    Ok(fusion::fuse(plan)
        .into_iter()
        .map(|f| {
            let l = &plan.layers[f.layer];
            FusedStage {
                stage: stage_of(l, batch),
                name: l.name.clone(),
                activation: f.activation,
                output_len: l.output.len(),
                has_params: l.weight.is_some(),
                output_layer: f.output_layer,
            }
        })
        .collect())
}

fn storage() -> wgpu::BufferUsages {
    wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST
}

/// A data set resident on the GPU (bytes packed four to a u32), with its gather kernel bound to
/// the batch buffers.
struct ResidentData {
    /// A hash of the `Dataset` this was uploaded from: its contents, not its address, so a new
    /// data set that happens to reuse freed memory is never mistaken for the old one.
    key: u64,
    /// How many indices the order buffer holds.
    order_capacity: usize,
    order: wgpu::Buffer,
    gather: Dispatch,
}

fn data_key(data: &Dataset) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (data.rows, data.cols, &data.images, &data.labels).hash(&mut h);
    h.finish()
}

/// Everything sized by the batch: activations, gradients, and the dispatches of a step.
struct StepResources {
    batch: usize,
    input: wgpu::Buffer,
    labels: wgpu::Buffer,
    logits: wgpu::Buffer,
    d_logits: wgpu::Buffer,
    /// Each stage's output (the plan's layer index, floats per example, the buffer).
    activations: Vec<(usize, usize, wgpu::Buffer)>,
    forward: Vec<Dispatch>,
    backward: Vec<Dispatch>,
    optimizer: Dispatch,
    loss_kernel: Kernel,
    predict_kernel: Kernel,
}

/// Per-step uniforms, one per aligned slot, and the bind group that selects one by offset.
struct StepUniforms {
    capacity: usize,
    buffer: wgpu::Buffer,
    group: wgpu::BindGroup,
}

/// Per-epoch loss statistics (two floats per step), the staging buffers they are read back
/// through (one per submission), and the loss kernel bound to them.
struct EpochStats {
    capacity: usize,
    stats: wgpu::Buffer,
    staging: Vec<wgpu::Buffer>,
    loss: Dispatch,
}

/// Predicted classes of an evaluated set, and the predict kernel bound to them.
struct Predictions {
    capacity: usize,
    buffer: wgpu::Buffer,
    predict: Dispatch,
}

pub struct GpuEngine {
    gpu: Gpu,
    step_layout: wgpu::BindGroupLayout,
    plan: Plan,
    optimizer: Optimizer,
    params: wgpu::Buffer,
    grads: wgpu::Buffer,
    first: wgpu::Buffer,
    second: wgpu::Buffer,
    /// Optimizer updates applied so far (Adam's bias correction).
    updates: u64,
    /// Bytes between consecutive step uniforms (the device's uniform offset alignment).
    step_stride: u64,
    // Built on first use and kept; rebuilt only when a batch size or data set changes.
    network: Option<StepResources>,
    train_data: Option<ResidentData>,
    eval_data: Option<ResidentData>,
    steps: Option<StepUniforms>,
    epoch_stats: Option<EpochStats>,
    predictions: Option<Predictions>,
    /// Test hook: lose the device once this many training steps have been submitted.
    lose_device_after: Option<u64>,
}

impl GpuEngine {
    pub fn new(gpu: Gpu, plan: Plan, params: &Parameters, optimizer: Optimizer) -> Result<Self> {
        fuse(&plan, 1)?; // reject what the GPU path cannot run before allocating anything
        if params.values.len() != plan.parameter_count {
            return Err(Error::InvalidArgument("parameters do not match the network".into()));
        }
        let zeros = vec![0.0f32; plan.parameter_count];
        let init = |label: &str, values: &[f32]| {
            gpu.create_buffer_init(label, bytemuck::cast_slice(values), storage())
        };
        let (p, grads) = (init("params", &params.values), init("grads", &zeros));
        let (first, second) =
            (init("optimizer first moment", &zeros), init("optimizer second moment", &zeros));
        let step_stride = (gpu.device.limits().min_uniform_buffer_offset_alignment as u64).max(STEP_SIZE);
        let step_layout = super::kernels::step_layout(&gpu);
        gpu.check_errors()?;
        Ok(GpuEngine {
            gpu,
            step_layout,
            plan,
            optimizer,
            params: p,
            grads,
            first,
            second,
            updates: 0,
            step_stride,
            network: None,
            train_data: None,
            eval_data: None,
            steps: None,
            epoch_stats: None,
            predictions: None,
            lose_device_after: std::env::var(LOSE_DEVICE_ENV).ok().and_then(|v| v.parse().ok()),
        })
    }

    /// Test hook: destroys the device (see `Gpu::simulate_device_loss`) once `steps` training
    /// steps have been submitted, to test how a device lost mid-run is reported.
    #[doc(hidden)]
    pub fn lose_device_after(&mut self, steps: u64) {
        self.lose_device_after = Some(steps);
    }

    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    /// Dispatches recorded per training step (once a step has been built).
    pub fn dispatches_per_step(&self) -> Option<usize> {
        self.network.as_ref().map(|n| 1 + n.forward.len() + 1 + n.backward.len() + 1)
    }

    fn kernels(&self) -> Kernels<'_> {
        Kernels { gpu: &self.gpu, step_layout: self.step_layout.clone() }
    }

    /// Builds the batch-sized buffers and dispatches, unless they exist for this batch size.
    fn ensure_network(&mut self, batch: usize) -> Result<()> {
        if self.network.as_ref().is_some_and(|n| n.batch == batch) {
            return Ok(());
        }
        // Everything bound to the old batch buffers must be bound again.
        self.train_data = None;
        self.eval_data = None;
        self.epoch_stats = None;
        self.predictions = None;
        self.network = Some(self.build_network(batch)?);
        self.gpu.check_errors()
    }

    /// The largest buffer one kernel may bind on this device, in bytes.
    fn binding_limit(&self) -> u64 {
        let limits = self.gpu.device.limits();
        limits.max_storage_buffer_binding_size.min(limits.max_buffer_size)
    }

    /// Floats in one example's largest activation (the network's input included).
    fn widest_activation(&self) -> usize {
        let stages = fuse(&self.plan, 1).unwrap_or_default();
        stages.iter().map(|s| s.output_len).chain([self.plan.input().len()]).max().unwrap_or(1)
    }

    /// The largest batch this device can train the network at: each layer's activations for the
    /// whole batch must fit one storage binding (dispatches are folded into two dimensions, so
    /// their limits are far beyond this).
    pub fn max_batch_size(&self) -> usize {
        (self.binding_limit() / (self.widest_activation() as u64 * 4)).try_into().unwrap_or(usize::MAX)
    }

    fn build_network(&self, batch: usize) -> Result<StepResources> {
        let gpu = &self.gpu;
        let k = self.kernels();
        let stages = fuse(&self.plan, batch)?;
        let largest = self.max_batch_size();
        if batch > largest {
            let widest = self.widest_activation();
            return Err(Error::Gpu(format!(
                "batch {batch} needs {} MiB for one layer's activations, but {} binds at most {} MiB: the largest batch it can take is {largest} (--batch-size {largest})",
                (batch as u64).saturating_mul(widest as u64 * 4) >> 20,
                gpu.name(),
                self.binding_limit() >> 20,
            )));
        }
        let buffer = |label: &str, floats: usize| gpu.create_buffer(label, (floats * 4) as u64, storage());
        let input = buffer("batch input", batch * self.plan.input().len());
        let labels = buffer("batch labels", batch);
        let outputs: Vec<wgpu::Buffer> =
            stages.iter().map(|s| buffer("activation", batch * s.output_len)).collect();
        let d_outputs: Vec<wgpu::Buffer> =
            stages.iter().map(|s| buffer("gradient", batch * s.output_len)).collect();

        let mut forward = Vec::new();
        let mut backward = Vec::new();
        let mut pools = 0;
        for (j, s) in stages.iter().enumerate() {
            let x = if j == 0 { &input } else { &outputs[j - 1] };
            let (y, dy) = (&outputs[j], &d_outputs[j]);
            // The input gradient is needed only if some earlier stage has parameters; it is taken
            // back through the activation the input came out of.
            let dx = stages[..j].iter().any(|e| e.has_params).then(|| &d_outputs[j - 1]);
            let input_activation = if j > 0 { stages[j - 1].activation } else { Activation::Identity };
            let mut back = Vec::new();
            match &s.stage {
                Stage::Conv { shape, w_off, b_off } => {
                    let (name, flops) =
                        (&s.name, 2.0 * (shape.batch * shape.output_len() * shape.patch_len()) as f64);
                    forward.push(
                        k.conv_forward(shape, s.activation, *w_off, *b_off)?
                            .bind(gpu, &[x, &self.params, y])
                            .labelled(format!("{name} forward"), flops),
                    );
                    back.push(
                        k.conv_backward_params(shape, *w_off, *b_off)?
                            .bind(gpu, &[x, dy, &self.grads])
                            .labelled(format!("{name} backward params"), flops),
                    );
                    if let Some(dx) = dx {
                        back.push(
                            k.conv_backward_input(shape, input_activation, *w_off)?
                                .bind(gpu, &[x, &self.params, dy, dx])
                                .labelled(format!("{name} backward input"), flops),
                        );
                    }
                }
                Stage::Dense { shape, w_off, b_off } => {
                    let (name, flops) =
                        (&s.name, 2.0 * (shape.batch * shape.in_features * shape.out_features) as f64);
                    forward.push(
                        k.dense_forward(shape, s.activation, *w_off, *b_off)?
                            .bind(gpu, &[x, &self.params, y])
                            .labelled(format!("{name} forward"), flops),
                    );
                    back.push(
                        k.dense_backward_params(shape, *w_off, *b_off)?
                            .bind(gpu, &[x, dy, &self.grads])
                            .labelled(format!("{name} backward params"), flops),
                    );
                    if let Some(dx) = dx {
                        back.push(
                            k.dense_backward_input(shape, input_activation, *w_off)?
                                .bind(gpu, &[x, &self.params, dy, dx])
                                .labelled(format!("{name} backward input"), flops),
                        );
                    }
                }
                Stage::MaxPool { shape } => {
                    pools += 1;
                    let argmax = buffer("argmax", batch * s.output_len);
                    forward.push(
                        k.maxpool_forward(shape, s.activation)?
                            .bind(gpu, &[x, y, &argmax])
                            .labelled(format!("pool{pools} forward"), 0.0),
                    );
                    if let Some(dx) = dx {
                        back.push(
                            k.maxpool_backward(shape, input_activation)?
                                .bind(gpu, &[x, dy, &argmax, dx])
                                .labelled(format!("pool{pools} backward"), 0.0),
                        );
                    }
                }
                Stage::AvgPool { shape } => {
                    pools += 1;
                    forward.push(
                        k.avgpool_forward(shape, s.activation)?
                            .bind(gpu, &[x, y])
                            .labelled(format!("pool{pools} forward"), 0.0),
                    );
                    if let Some(dx) = dx {
                        back.push(
                            k.avgpool_backward(shape, input_activation)?
                                .bind(gpu, &[x, dy, dx])
                                .labelled(format!("pool{pools} backward"), 0.0),
                        );
                    }
                }
                Stage::Activation { len } => {
                    let what = format!("{:?}", s.activation).to_lowercase();
                    forward.push(
                        k.activation_forward(s.activation, *len)?
                            .bind(gpu, &[x, y])
                            .labelled(format!("{what} after stage {j}"), 0.0),
                    );
                    if let Some(dx) = dx {
                        back.push(
                            k.activation_backward(input_activation, *len)?
                                .bind(gpu, &[x, dy, dx])
                                .labelled(format!("{what} after stage {j} backward"), 0.0),
                        );
                    }
                }
            }
            backward.push(back);
        }
        let n = self.plan.parameter_count;
        let optimizer = match self.optimizer {
            Optimizer::Sgd { .. } => {
                k.optimizer_step(&self.optimizer, n)?.bind(gpu, &[&self.params, &self.grads, &self.first])
            }
            Optimizer::Adam { .. } => k
                .optimizer_step(&self.optimizer, n)?
                .bind(gpu, &[&self.params, &self.grads, &self.first, &self.second]),
        };
        let classes = self.plan.classes();
        let last = stages.len() - 1;
        Ok(StepResources {
            batch,
            // A network may end in an activation: the loss takes the logits' gradient back through it.
            loss_kernel: k.softmax_cross_entropy(batch, classes, stages[last].activation)?,
            predict_kernel: k.predict(batch, classes)?,
            logits: outputs[last].clone(),
            d_logits: d_outputs[last].clone(),
            activations: stages
                .iter()
                .zip(&outputs)
                .map(|(s, b)| (s.output_layer, s.output_len, b.clone()))
                .collect(),
            input,
            labels,
            forward,
            backward: backward.into_iter().rev().flatten().collect(),
            optimizer,
        })
    }

    /// Uploads `data` (unless it is already resident in `slot`) and binds its gather kernel.
    /// `order_len` is the longest order it will be read through (an epoch may visit examples
    /// more than once).
    fn ensure_data(&mut self, data: &Dataset, order_len: usize, for_training: bool) -> Result<()> {
        let key = data_key(data);
        let slot = if for_training { &self.train_data } else { &self.eval_data };
        if slot.as_ref().is_some_and(|d| d.key == key && d.order_capacity >= order_len) {
            return Ok(());
        }
        let net = self.network.as_ref().expect("network built before data");
        let gpu = &self.gpu;
        let bytes = data.images.len() as u64;
        if bytes > self.binding_limit() {
            return Err(Error::Gpu(format!(
                "the data set's {} images take {} MiB, but {} binds at most {} MiB: use fewer (--limit-train, --limit-test) or --device cpu",
                data.len(),
                bytes >> 20,
                gpu.name(),
                self.binding_limit() >> 20
            )));
        }
        let images =
            gpu.create_buffer_init("images", bytemuck::cast_slice(&pack_bytes(&data.images)), storage());
        let labels =
            gpu.create_buffer_init("labels", bytemuck::cast_slice(&pack_bytes(&data.labels)), storage());
        let order_capacity = order_len.max(data.len());
        let order = gpu.create_buffer("order", (order_capacity * 4) as u64, storage());
        let gather = self
            .kernels()
            .gather(data.pixels_per_image(), net.batch)?
            .bind(gpu, &[&images, &labels, &order, &net.input, &net.labels]);
        let resident = ResidentData { key, order_capacity, order, gather };
        if for_training {
            self.train_data = Some(resident);
        } else {
            self.eval_data = Some(resident);
        }
        self.gpu.check_errors()
    }

    /// Makes room for `steps` per-step uniforms.
    fn ensure_steps(&mut self, steps: usize) {
        if self.steps.as_ref().is_some_and(|s| s.capacity >= steps) {
            return;
        }
        let buffer = self.gpu.create_buffer(
            "step uniforms",
            steps as u64 * self.step_stride,
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        );
        let group = step_group(&self.gpu, &self.step_layout, &buffer);
        self.steps = Some(StepUniforms { capacity: steps, buffer, group });
    }

    /// Makes room for the loss statistics of `steps` steps, and binds the loss kernel to them.
    fn ensure_epoch_stats(&mut self, steps: usize) {
        if self.epoch_stats.as_ref().is_some_and(|s| s.capacity >= steps) {
            return;
        }
        let gpu = &self.gpu;
        let net = self.network.as_ref().expect("network built before stats");
        let bytes = (steps * 2 * 4) as u64;
        let stats = gpu.create_buffer("loss statistics", bytes, storage());
        let staging = (0..SUBMISSIONS_PER_EPOCH)
            .map(|_| {
                gpu.create_buffer(
                    "loss readback",
                    bytes,
                    wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                )
            })
            .collect();
        let loss = net.loss_kernel.bind(gpu, &[&net.logits, &net.labels, &net.d_logits, &stats]);
        self.epoch_stats = Some(EpochStats { capacity: steps, stats, staging, loss });
    }

    /// Makes room for `len` predictions, and binds the predict kernel to them.
    fn ensure_predictions(&mut self, len: usize) {
        if self.predictions.as_ref().is_some_and(|p| p.capacity >= len) {
            return;
        }
        let net = self.network.as_ref().expect("network built before predictions");
        let buffer = self.gpu.create_buffer("predictions", (len * 4) as u64, storage());
        let predict = net.predict_kernel.bind(&self.gpu, &[&net.logits, &buffer]);
        self.predictions = Some(Predictions { capacity: len, buffer, predict });
    }

    /// Writes the uniforms of the steps that cover `examples` examples in batches of `batch`.
    fn write_steps(&self, examples: usize, batch: usize, first_update: u64) {
        let steps = self.steps.as_ref().expect("step uniforms allocated");
        let mut bytes = vec![0u8; examples.div_ceil(batch) * self.step_stride as usize];
        for (i, start) in (0..examples).step_by(batch).enumerate() {
            let count = batch.min(examples - start);
            let uniform = StepUniform::new(start, count, i, &self.optimizer, first_update + i as u64 + 1);
            let at = i * self.step_stride as usize;
            bytes[at..at + STEP_SIZE as usize].copy_from_slice(bytemuck::bytes_of(&uniform));
        }
        self.gpu.queue.write_buffer(&steps.buffer, 0, &bytes);
    }
}

impl GpuEngine {
    /// Makes `data` resident for inference, in its own order, with the step uniforms written
    /// for the current batch size. Returns the batch size and the number of steps.
    fn prepare_inference(&mut self, data: &Dataset) -> Result<(usize, usize)> {
        let batch = self.network.as_ref().map_or(256, |n| n.batch);
        let steps = data.len().div_ceil(batch);
        self.ensure_network(batch)?;
        self.ensure_data(data, data.len(), false)?;
        self.ensure_steps(steps);
        let resident = self.eval_data.as_ref().expect("evaluation data resident");
        let identity: Vec<u32> = (0..data.len() as u32).collect();
        self.gpu.queue.write_buffer(&resident.order, 0, bytemuck::cast_slice(&identity));
        self.write_steps(data.len(), batch, self.updates);
        Ok((batch, steps))
    }

    /// Records the gather and forward dispatches of the step whose uniform sits at `offset`.
    fn record_forward(
        &self,
        pass: &mut wgpu::ComputePass,
        data: &ResidentData,
        offset: Option<(&wgpu::BindGroup, u32)>,
    ) {
        data.gather.record(pass, offset);
        for d in &self.network.as_ref().expect("network built").forward {
            d.record(pass, offset);
        }
    }

    /// Every dispatch of a training step, in order, for benchmarks.
    fn step_dispatches(&self) -> Vec<&Dispatch> {
        let net = self.network.as_ref().expect("network built");
        let stats = self.epoch_stats.as_ref().expect("stats allocated");
        let data = self.train_data.as_ref().expect("training data resident");
        let mut all = vec![&data.gather];
        all.extend(&net.forward);
        all.push(&stats.loss);
        all.extend(&net.backward);
        all.push(&net.optimizer);
        all
    }

    /// Seconds per dispatch of a training step at `batch`, each dispatch timed alone: `repeats`
    /// copies in one compute pass, timed by GPU timestamps at the pass's start and end where the
    /// adapter has them, else by the wall time around a submission (which then includes one
    /// submission's overhead divided by `repeats`). For benchmarks: it trains on `data` and so
    /// changes the parameters. Returns the timings, and whether they come from GPU timestamps.
    pub fn profile_step(
        &mut self,
        data: &Dataset,
        batch: usize,
        repeats: usize,
    ) -> Result<(Vec<KernelTiming>, bool)> {
        let order: Vec<u32> = (0..batch.min(data.len()) as u32).collect();
        self.train_epoch(data, &order, batch, &mut |_| {})?; // builds everything
        let gpu = &self.gpu;
        let step_group = &self.steps.as_ref().expect("steps allocated").group;
        let timestamps = gpu.has_timestamps().then(|| {
            let set = gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("kernel timing"),
                ty: wgpu::QueryType::Timestamp,
                count: 2,
            });
            let resolved = gpu.create_buffer(
                "timestamps",
                16,
                wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            );
            (set, resolved)
        });
        let mut timings = Vec::new();
        for d in self.step_dispatches() {
            let mut best = f64::MAX;
            for _ in 0..3 {
                let mut encoder = gpu.device.create_command_encoder(&Default::default());
                {
                    let timestamp_writes =
                        timestamps.as_ref().map(|(set, _)| wgpu::ComputePassTimestampWrites {
                            query_set: set,
                            beginning_of_pass_write_index: Some(0),
                            end_of_pass_write_index: Some(1),
                        });
                    let mut pass = encoder
                        .begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes });
                    for _ in 0..repeats {
                        d.record(&mut pass, Some((step_group, 0)));
                    }
                }
                if let Some((set, resolved)) = &timestamps {
                    encoder.resolve_query_set(set, 0..2, resolved, 0);
                }
                let start = std::time::Instant::now();
                gpu.submit(encoder.finish());
                gpu.wait()?;
                let wall = start.elapsed().as_secs_f64();
                let seconds = match &timestamps {
                    Some((_, resolved)) => {
                        let ticks = gpu.read_buffer(resolved, 0, 16)?;
                        let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&ticks);
                        ticks[1].saturating_sub(ticks[0]) as f64
                            * gpu.queue.get_timestamp_period() as f64
                            * 1e-9
                    }
                    None => wall,
                };
                best = best.min(seconds / repeats as f64);
            }
            timings.push(KernelTiming { kernel: d.label.clone(), seconds: best, flops: d.flops });
        }
        Ok((timings, timestamps.is_some()))
    }

    /// The CPU time to record `steps` training steps into a command buffer (no submission):
    /// what limits a fast GPU, whose kernels take microseconds. Needs a trained epoch before it.
    pub fn recording_seconds_per_step(&self, steps: usize) -> f64 {
        let uniforms = self.steps.as_ref().expect("steps allocated");
        let dispatches = self.step_dispatches();
        let start = std::time::Instant::now();
        let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            for step in 0..steps {
                let slot = (step % uniforms.capacity) as u64;
                let offset = Some((&uniforms.group, (slot * self.step_stride) as u32));
                for d in &dispatches {
                    d.record(&mut pass, offset);
                }
            }
        }
        let commands = encoder.finish();
        let seconds = start.elapsed().as_secs_f64() / steps as f64;
        drop(commands);
        seconds
    }

    /// The gradients of the last training step (read back from the GPU).
    pub fn gradients(&self) -> Result<Vec<f32>> {
        self.gpu.read_f32(&self.grads, 0, self.plan.parameter_count)
    }
}

impl Engine for GpuEngine {
    fn device_name(&self) -> String {
        format!("GPU: {}", self.gpu.name())
    }

    fn train_epoch(
        &mut self,
        data: &Dataset,
        order: &[u32],
        batch_size: usize,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Progress> {
        crate::train::check_epoch(data, order, batch_size)?;
        self.gpu.check_errors()?; // a device lost earlier fails here, before anything is recorded
        if order.is_empty() {
            return Ok(Progress::default());
        }
        // No bigger than the epoch: buffers for examples that never come would only waste memory.
        let batch_size = batch_size.min(order.len());
        let steps = order.len().div_ceil(batch_size);
        self.ensure_network(batch_size)?;
        self.ensure_data(data, order.len(), true)?;
        self.ensure_steps(steps);
        self.ensure_epoch_stats(steps);
        let resident = self.train_data.as_ref().expect("training data resident");
        // The epoch's only uploads: its order and its step uniforms.
        self.gpu.queue.write_buffer(&resident.order, 0, bytemuck::cast_slice(order));
        self.write_steps(order.len(), batch_size, self.updates);

        let net = self.network.as_ref().expect("network built");
        let stats = self.epoch_stats.as_ref().expect("stats allocated");
        let step_group = &self.steps.as_ref().expect("steps allocated").group;
        let per_submission = steps.div_ceil(SUBMISSIONS_PER_EPOCH);
        let chunks: Vec<(usize, usize)> =
            (0..steps).step_by(per_submission).map(|s| (s, (s + per_submission).min(steps))).collect();
        let start = std::time::Instant::now();
        let mut reported_seconds = 0.0;
        // Reports the steps of the finished submissions `ready`, one by one and in order, with
        // the time since the last report spread evenly over them: the GPU only shows when a
        // whole submission is done.
        let mut report = |ready: &mut Vec<usize>, totals: &mut Progress| -> Result<()> {
            ready.sort_unstable(); // one queue finishes in order; sorting makes sure of it
            let now = start.elapsed().as_secs_f64();
            let steps: usize = ready.iter().map(|&c| chunks[c].1 - chunks[c].0).sum();
            let mut done = 0;
            for &chunk in ready.iter() {
                let (first, end) = chunks[chunk];
                let staging = &stats.staging[chunk];
                let values: Vec<f32> = {
                    let view = staging
                        .get_mapped_range(..(end * 8) as u64)
                        .map_err(|e| self.gpu.failure("reading the loss back", e))?;
                    bytemuck::pod_collect_to_vec(&view[first * 8..end * 8])
                };
                staging.unmap();
                for (step, pair) in (first..end).zip(values.chunks_exact(2)) {
                    done += 1;
                    totals.images_done += batch_size.min(order.len() - step * batch_size);
                    totals.loss_sum += pair[0] as f64;
                    totals.correct += pair[1] as u64;
                    totals.steps_done += 1;
                    if !pair[0].is_finite() && totals.diverged_at_step.is_none() {
                        totals.diverged_at_step = Some(step + 1);
                    }
                    totals.seconds = reported_seconds + (now - reported_seconds) * done as f64 / steps as f64;
                    progress(*totals);
                }
            }
            reported_seconds = now;
            ready.clear();
            Ok(())
        };
        let (done_tx, done_rx) = mpsc::channel();
        let mut totals = Progress::default();
        let (mut submitted, mut received) = (0, 0);
        let mut ready = Vec::new();
        for (chunk, &(first, end)) in chunks.iter().enumerate() {
            if !totals.loss_sum.is_finite() {
                break; // diverged: the caller reports it; later steps would only compute NaNs
            }
            if self.lose_device_after.is_some_and(|n| self.updates >= n) {
                self.gpu.simulate_device_loss();
            }
            let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
            {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                for step in first..end {
                    let offset = Some((step_group, (step as u64 * self.step_stride) as u32));
                    self.record_forward(&mut pass, resident, offset);
                    stats.loss.record(&mut pass, offset);
                    for d in &net.backward {
                        d.record(&mut pass, offset);
                    }
                    net.optimizer.record(&mut pass, offset);
                }
            }
            let (from, bytes) = ((first * 8) as u64, ((end - first) * 8) as u64);
            encoder.copy_buffer_to_buffer(&stats.stats, from, &stats.staging[chunk], from, bytes);
            self.gpu.submit(encoder.finish());
            self.gpu.count_readback();
            submitted += 1;
            self.updates += (end - first) as u64;
            let tx = done_tx.clone();
            stats.staging[chunk].map_async(wgpu::MapMode::Read, .., move |r| {
                let _ = tx.send((chunk, r));
            });
            // Take in whatever has finished, without waiting.
            let _ = self.gpu.device.poll(wgpu::PollType::Poll);
            while let Ok((done, result)) = done_rx.try_recv() {
                result.map_err(|e| self.gpu.failure("reading the loss back", e))?;
                ready.push(done);
                received += 1;
            }
            if !ready.is_empty() {
                report(&mut ready, &mut totals)?;
            }
        }
        drop(done_tx); // so a callback that never comes ends the wait below instead of hanging it
        self.gpu.wait()?;
        while received < submitted {
            let (done, result) =
                done_rx.recv().map_err(|_| self.gpu.failure("reading the loss back", "it never arrived"))?;
            result.map_err(|e| self.gpu.failure("reading the loss back", e))?;
            ready.push(done);
            received += 1;
        }
        if !ready.is_empty() {
            report(&mut ready, &mut totals)?;
        }
        Ok(totals)
    }

    fn predict(&mut self, data: &Dataset) -> Result<Vec<u8>> {
        self.gpu.check_errors()?;
        if data.is_empty() {
            return Ok(Vec::new());
        }
        let (_, steps) = self.prepare_inference(data)?;
        self.ensure_predictions(data.len());
        let resident = self.eval_data.as_ref().expect("evaluation data resident");
        let predictions = self.predictions.as_ref().expect("predictions allocated");
        let step_group = &self.steps.as_ref().expect("steps allocated").group;
        let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            for step in 0..steps {
                let offset = Some((step_group, (step as u64 * self.step_stride) as u32));
                self.record_forward(&mut pass, resident, offset);
                predictions.predict.record(&mut pass, offset);
            }
        }
        self.gpu.submit(encoder.finish());
        let classes = self.gpu.read_u32(&predictions.buffer, 0, data.len())?;
        Ok(classes.into_iter().map(|c| c as u8).collect())
    }

    /// One submission and one readback of the logits buffer per batch (it holds one batch): for
    /// a handful of images, not for evaluating a test set (`predict` reads back only classes).
    fn logits(&mut self, data: &Dataset) -> Result<Vec<f32>> {
        self.gpu.check_errors()?;
        if data.is_empty() {
            return Ok(Vec::new());
        }
        let (batch, steps) = self.prepare_inference(data)?;
        let resident = self.eval_data.as_ref().expect("evaluation data resident");
        let net = self.network.as_ref().expect("network built");
        let step_group = &self.steps.as_ref().expect("steps allocated").group;
        let classes = self.plan.classes();
        let mut logits = Vec::with_capacity(data.len() * classes);
        for step in 0..steps {
            let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
            {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                let offset = Some((step_group, (step as u64 * self.step_stride) as u32));
                self.record_forward(&mut pass, resident, offset);
            }
            self.gpu.submit(encoder.finish());
            let count = batch.min(data.len() - step * batch);
            logits.extend(self.gpu.read_f32(&net.logits, 0, count * classes)?);
        }
        Ok(logits)
    }

    /// One submission and one readback (of every stage's output) per batch.
    fn activations(&mut self, data: &Dataset) -> Result<Vec<LayerOutput>> {
        let (batch, steps) = if data.is_empty() { (1, 0) } else { self.prepare_inference(data)? };
        let mut out: Vec<LayerOutput> = crate::train::feature_layers(&self.plan)
            .into_iter()
            .map(|layer| LayerOutput { layer, values: Vec::new() })
            .collect();
        if steps == 0 {
            return Ok(out);
        }
        let resident = self.eval_data.as_ref().expect("evaluation data resident");
        let net = self.network.as_ref().expect("network built");
        let step_group = &self.steps.as_ref().expect("steps allocated").group;
        for step in 0..steps {
            let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
            {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                let offset = Some((step_group, (step as u64 * self.step_stride) as u32));
                self.record_forward(&mut pass, resident, offset);
            }
            let count = batch.min(data.len() - step * batch) as u64;
            let ranges: Vec<_> =
                net.activations.iter().map(|(_, len, b)| (b, 0, count * *len as u64 * 4)).collect();
            let parts = self.gpu.read_buffers(encoder, &ranges)?;
            for ((layer, _, _), bytes) in net.activations.iter().zip(parts) {
                let a = out.iter_mut().find(|a| a.layer == *layer).ok_or_else(|| {
                    Error::Gpu(format!(
                        "the GPU path keeps layer {layer}'s output, which feature_layers omits"
                    ))
                })?;
                a.values.extend(bytemuck::pod_collect_to_vec::<u8, f32>(&bytes));
            }
        }
        Ok(out)
    }

    fn plan(&self) -> &Plan {
        &self.plan
    }

    fn parameters(&self) -> Result<Parameters> {
        self.gpu.check_errors()?;
        let mut params = Parameters::zeros(&self.plan);
        params.values = self.gpu.read_f32(&self.params, 0, self.plan.parameter_count)?;
        Ok(params)
    }

    fn optimizer_state(&self) -> Result<OptimizerState> {
        self.gpu.check_errors()?;
        let n = self.plan.parameter_count;
        Ok(OptimizerState {
            first: self.gpu.read_f32(&self.first, 0, n)?,
            second: self.gpu.read_f32(&self.second, 0, n)?,
            step: self.updates,
        })
    }

    fn set_optimizer_state(&mut self, state: &OptimizerState) -> Result<()> {
        crate::train::check_optimizer_state(&self.plan, state)?;
        self.gpu.queue.write_buffer(&self.first, 0, bytemuck::cast_slice(&state.first));
        self.gpu.queue.write_buffer(&self.second, 0, bytemuck::cast_slice(&state.second));
        self.updates = state.step;
        self.gpu.check_errors()
    }
}
