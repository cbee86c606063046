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
//!
//! By job: `stages` (the plan as fused stages), `step` (a step's dispatch list), `resident`
//! (what stays on the GPU and when it is rebuilt), `epoch` (the epoch loop and its readbacks),
//! `profile` (per-dispatch timings for benchmarks).

mod backward;
mod epoch;
#[cfg(not(target_arch = "wasm32"))]
mod profile;
#[cfg(not(target_arch = "wasm32"))]
pub use profile::KernelTiming;
mod resident;
mod stages;
mod step;

use super::context::Gpu;
use super::kernels::{Kernels, STEP_SIZE};
use crate::data::Dataset;
use crate::data::augment::EpochShift;
use crate::model::optimizer::{Optimizer, OptimizerState};
use crate::model::schedule::UpdateRule;
use crate::model::{Parameters, Plan};
use crate::train::{Engine, EngineFuture, Interrupt, LayerOutput, Progress};
use crate::{Error, Result};
use resident::{EpochStats, Predictions, ResidentData, StepUniforms, storage};
use stages::fuse;
use step::StepResources;

/// Test hook: a number N in this environment variable makes every GPU engine lose its device
/// once N training steps have been submitted (see `GpuEngine::lose_device_after`), so the
/// command line's handling of a lost device can be tested end to end.
pub const LOSE_DEVICE_ENV: &str = "LENET_TEST_LOSE_DEVICE_AFTER";

pub struct GpuEngine {
    gpu: Gpu,
    step_layout: wgpu::BindGroupLayout,
    plan: Plan,
    optimizer: Optimizer,
    /// Each update's learning rate and weight decay, written into its step uniform.
    rule: UpdateRule,
    /// The current epoch's shifts of training images, written into its step uniforms.
    augmentation: Option<EpochShift>,
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
    /// The gather kernels built, by their constants (`resident::GatherKey`): a new data set of a
    /// shape seen before binds its buffers to one, where building costs a pipeline compile (most
    /// of a second on a software adapter) and inference runs a set in pieces, each a data set.
    gathers: Vec<(resident::GatherKey, crate::gpu::kernels::Kernel)>,
    steps: Option<StepUniforms>,
    epoch_stats: Option<EpochStats>,
    predictions: Option<Predictions>,
    /// False for an engine opened only for inference: no gradients, no backward pipelines.
    trains: bool,
    /// Steps the next training submission holds (`epoch::next_submission_steps`).
    submission_steps: usize,
    /// The steps of each submission of the last training epoch, in order.
    last_submissions: Vec<usize>,
    /// Test hook: lose the device once this many training steps have been submitted.
    lose_device_after: Option<u64>,
    /// Checked before each training submission is queued.
    interrupt: Interrupt,
}

impl GpuEngine {
    /// An engine that trains `plan` from `params` with `optimizer` (and runs it).
    pub fn new(gpu: Gpu, plan: Plan, params: &Parameters, optimizer: Optimizer) -> Result<Self> {
        GpuEngine::open(gpu, plan, params, optimizer, true)
    }

    /// An engine that only runs `plan` with `params` (predict, logits, activations): it builds
    /// the forward pipelines and predict, no gradient buffer or backward pipeline, and refuses
    /// to train.
    pub fn for_inference(gpu: Gpu, plan: Plan, params: &Parameters) -> Result<Self> {
        let unused = Optimizer::Sgd { lr: 0.0, momentum: 0.0 };
        GpuEngine::open(gpu, plan, params, unused, false)
    }

    fn open(gpu: Gpu, plan: Plan, params: &Parameters, optimizer: Optimizer, trains: bool) -> Result<Self> {
        fuse(&plan, 1)?; // reject what the GPU path cannot run before allocating anything
        if params.values.len() != plan.parameter_count {
            return Err(Error::InvalidArgument("parameters do not match the network".into()));
        }
        // Gradients and optimizer state only when training (an empty buffer binds nowhere).
        let zeros = vec![0.0f32; if trains { plan.parameter_count } else { 0 }];
        let init = |label: &str, values: &[f32]| {
            gpu.create_buffer_init(label, bytemuck::cast_slice(values), storage())
        };
        let (p, grads) = (init("params", &params.values), init("grads", &zeros));
        let (first, second) =
            (init("optimizer first moment", &zeros), init("optimizer second moment", &zeros));
        // Dynamic offsets must be multiples of the alignment: the uniform's size rounded up to one.
        let step_stride =
            STEP_SIZE.next_multiple_of(gpu.device.limits().min_uniform_buffer_offset_alignment as u64);
        let step_layout = super::kernels::step_layout(&gpu);
        gpu.check_errors()?;
        Ok(GpuEngine {
            gpu,
            step_layout,
            plan,
            optimizer,
            rule: UpdateRule::default(),
            augmentation: None,
            params: p,
            grads,
            first,
            second,
            updates: 0,
            step_stride,
            network: None,
            train_data: None,
            eval_data: None,
            gathers: Vec::new(),
            steps: None,
            epoch_stats: None,
            predictions: None,
            trains,
            submission_steps: epoch::FIRST_STEPS,
            last_submissions: Vec::new(),
            lose_device_after: std::env::var(LOSE_DEVICE_ENV).ok().and_then(|v| v.parse().ok()),
            interrupt: Interrupt::default(),
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

    /// The steps of each submission of the last training epoch, in order (they adapt to the
    /// device's speed: see `epoch.rs`).
    pub fn last_epoch_submissions(&self) -> &[usize] {
        &self.last_submissions
    }

    /// Dispatches recorded per training step (once a step has been built; None for an engine
    /// opened for inference).
    pub fn dispatches_per_step(&self) -> Option<usize> {
        let net = self.network.as_ref()?;
        net.training.as_ref().map(|t| 1 + net.forward.len() + 1 + t.backward.len())
    }

    /// Whether this engine can train (it was not opened only for inference).
    pub fn trains(&self) -> bool {
        self.trains
    }

    /// Fails for an engine opened only for inference: it has no gradients or optimizer state.
    fn check_trains(&self) -> Result<()> {
        match self.trains {
            true => Ok(()),
            false => Err(Error::InvalidArgument(
                "this GPU engine was opened only for inference: it cannot train".into(),
            )),
        }
    }

    fn kernels(&self) -> Kernels<'_> {
        Kernels { gpu: &self.gpu, step_layout: self.step_layout.clone() }
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

    /// The gradients of the last training step (read back from the GPU).
    pub async fn gradients_async(&self) -> Result<Vec<f32>> {
        self.check_trains()?;
        self.gpu.read_f32_async(&self.grads, 0, self.plan.parameter_count).await
    }

    /// `gradients_async`, waiting for it (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn gradients(&self) -> Result<Vec<f32>> {
        pollster::block_on(self.gradients_async())
    }

    async fn predict_gpu(&mut self, data: &Dataset) -> Result<Vec<u8>> {
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
        let classes = self.gpu.read_u32_async(&predictions.buffer, 0, data.len()).await?;
        Ok(classes.into_iter().map(|c| c as u8).collect())
    }

    /// Every batch's forward pass, each followed by a copy of its logits (the logits buffer holds
    /// one batch) into one buffer for the whole set, in one submission with one readback: as
    /// cheap as `predict` in round trips, so a test set's loss costs no more waiting than its
    /// accuracy.
    async fn logits_gpu(&mut self, data: &Dataset) -> Result<Vec<f32>> {
        self.gpu.check_errors()?;
        if data.is_empty() {
            return Ok(Vec::new());
        }
        let (batch, steps) = self.prepare_inference(data)?;
        let resident = self.eval_data.as_ref().expect("evaluation data resident");
        let net = self.network.as_ref().expect("network built");
        let step_group = &self.steps.as_ref().expect("steps allocated").group;
        let classes = self.plan.classes();
        let row = (classes * 4) as u64;
        let all = self.gpu.create_buffer("logits of a set", data.len() as u64 * row, storage());
        let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
        for step in 0..steps {
            {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                let offset = Some((step_group, (step as u64 * self.step_stride) as u32));
                self.record_forward(&mut pass, resident, offset);
            }
            let count = batch.min(data.len() - step * batch) as u64;
            encoder.copy_buffer_to_buffer(&net.logits, 0, &all, (step * batch) as u64 * row, count * row);
        }
        self.gpu.submit(encoder.finish());
        self.gpu.read_f32_async(&all, 0, data.len() * classes).await
    }

    /// One submission and one readback (of every stage's output) per batch.
    async fn activations_gpu(&mut self, data: &Dataset) -> Result<Vec<LayerOutput>> {
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
            let parts = self.gpu.read_buffers_async(encoder, &ranges).await?;
            for ((layer, _, _), bytes) in net.activations.iter().zip(parts) {
                let a = out.iter_mut().find(|a| a.layer == *layer).ok_or_else(|| {
                    Error::gpu(format!(
                        "the GPU path keeps layer {layer}'s output, which feature_layers omits"
                    ))
                })?;
                a.values.extend(bytemuck::pod_collect_to_vec::<u8, f32>(&bytes));
            }
        }
        Ok(out)
    }

    async fn parameters_gpu(&self) -> Result<Parameters> {
        self.gpu.check_errors()?;
        let mut params = Parameters::zeros(&self.plan);
        params.values = self.gpu.read_f32_async(&self.params, 0, self.plan.parameter_count).await?;
        Ok(params)
    }

    async fn optimizer_state_gpu(&self) -> Result<OptimizerState> {
        self.check_trains()?;
        self.gpu.check_errors()?;
        let n = self.plan.parameter_count;
        Ok(OptimizerState {
            first: self.gpu.read_f32_async(&self.first, 0, n).await?,
            second: self.gpu.read_f32_async(&self.second, 0, n).await?,
            step: self.updates,
        })
    }
}

/// Every method that reads back is async (see `Gpu::read_buffers_async`); the training epoch is
/// `epoch.rs`.
impl Engine for GpuEngine {
    fn device_name(&self) -> String {
        format!("GPU: {}", self.gpu.name())
    }

    fn train_steps_async<'a>(
        &'a mut self,
        data: &'a Dataset,
        order: &'a [u32],
        examples: std::ops::Range<usize>,
        batch_size: usize,
        progress: &'a mut dyn FnMut(Progress),
    ) -> EngineFuture<'a, Progress> {
        Box::pin(self.run_steps(data, order, examples, batch_size, progress))
    }

    fn prepare_training(&mut self, batch_size: usize) -> Result<()> {
        self.check_trains()?;
        self.ensure_network(batch_size)
    }

    fn predict_async<'a>(&'a mut self, data: &'a Dataset) -> EngineFuture<'a, Vec<u8>> {
        Box::pin(self.predict_gpu(data))
    }

    fn logits_async<'a>(&'a mut self, data: &'a Dataset) -> EngineFuture<'a, Vec<f32>> {
        Box::pin(self.logits_gpu(data))
    }

    fn activations_async<'a>(&'a mut self, data: &'a Dataset) -> EngineFuture<'a, Vec<LayerOutput>> {
        Box::pin(self.activations_gpu(data))
    }

    fn plan(&self) -> &Plan {
        &self.plan
    }

    fn parameters_async(&self) -> EngineFuture<'_, Parameters> {
        Box::pin(self.parameters_gpu())
    }

    fn optimizer_state_async(&self) -> EngineFuture<'_, OptimizerState> {
        Box::pin(self.optimizer_state_gpu())
    }

    fn set_optimizer_state(&mut self, state: &OptimizerState) -> Result<()> {
        self.check_trains()?;
        crate::train::check_optimizer_state(&self.plan, state)?;
        self.gpu.queue.write_buffer(&self.first, 0, bytemuck::cast_slice(&state.first));
        self.gpu.queue.write_buffer(&self.second, 0, bytemuck::cast_slice(&state.second));
        self.updates = state.step;
        self.gpu.check_errors()
    }

    fn set_parameters(&mut self, params: &Parameters) -> Result<()> {
        crate::train::check_parameters(&self.plan, params)?;
        self.gpu.queue.write_buffer(&self.params, 0, bytemuck::cast_slice(&params.values));
        self.gpu.check_errors()
    }

    fn set_optimizer(&mut self, optimizer: Optimizer) -> Result<()> {
        self.check_trains()?;
        // The rate is each step's uniform; the rest are constants of the update's pipeline.
        if self.optimizer.at_rate(optimizer.lr()) != optimizer {
            self.network = None;
        }
        self.optimizer = optimizer;
        Ok(())
    }

    fn set_update_rule(&mut self, rule: UpdateRule) {
        self.rule = rule;
    }

    fn set_augmentation(&mut self, shift: Option<EpochShift>) {
        self.augmentation = shift;
    }

    fn set_interrupt(&mut self, interrupt: Interrupt) {
        self.interrupt = interrupt;
    }

    fn interrupt(&self) -> Interrupt {
        self.interrupt.clone()
    }
}
