//! The CPU path as an `Engine`: parameters, gradients, optimizer state and activations held in
//! memory allocated once, and the ops of this module run step by step.

use super::chunked::ChunkedNetwork;
use super::network::{Mode, Workspace, forward, forward_backward_in, update_statistics};
use super::optimizer::{Optimizer, OptimizerState, optimizer_step_over};
use crate::data::Dataset;
use crate::data::augment::EpochShift;
use crate::model::schedule::UpdateRule;
use crate::model::{Parameters, Plan};
use crate::train::{Engine, EngineFuture, Interrupt, LayerOutput, Progress, feature_layers};
use crate::{Error, Result};
use std::ops::Range;

/// Examples per forward pass when predicting: large enough to keep both cores busy.
const PREDICT_BATCH: usize = 500;

pub struct CpuEngine {
    plan: Plan,
    params: Parameters,
    grads: Vec<f32>,
    optimizer: Optimizer,
    /// Each update's learning rate and weight decay (`Engine::set_update_rule`).
    rule: UpdateRule,
    /// The current epoch's shifts (`Engine::set_augmentation`).
    augmentation: Option<EpochShift>,
    /// The current epoch's dropout key (`Engine::set_dropout_key`).
    dropout_key: u32,
    /// What the optimizer updates: everything but batch norms' running statistics.
    trained: Vec<Range<usize>>,
    state: OptimizerState,
    /// Training and inference a chunk of images at a time through the whole network.
    chunked: ChunkedNetwork,
    /// Layer-by-layer activations over a whole batch: `activations`, and the reference steps.
    workspace: Workspace,
    /// Steps run layer by layer over the whole batch (`network::forward_backward`), the way
    /// every step ran before the chunked path: kept as the reference it is tested against, and
    /// the only way for networks with layers past LeNet's (`Layer::is_layer_by_layer_only`),
    /// which inference then runs layer by layer too.
    layer_by_layer: bool,
    batch_input: Vec<f32>,
    batch_labels: Vec<u32>,
    interrupt: Interrupt,
}

impl CpuEngine {
    pub fn new(plan: Plan, params: Parameters, optimizer: Optimizer) -> Self {
        let n = plan.parameter_count;
        CpuEngine {
            interrupt: Interrupt::default(),
            workspace: Workspace::new(&plan, 0),
            chunked: ChunkedNetwork::new(plan.clone()),
            layer_by_layer: plan.first_layer_by_layer_only().is_some(),
            trained: plan.trained_ranges(),
            dropout_key: 0,
            grads: vec![0.0; n],
            state: OptimizerState::new(n),
            params,
            plan,
            optimizer,
            rule: UpdateRule::default(),
            augmentation: None,
            batch_input: Vec::new(),
            batch_labels: Vec::new(),
        }
    }

    /// The same engine with its training steps run layer by layer over the whole batch, as they
    /// were before the chunked path (a reference for tests and benchmarks).
    pub fn layer_by_layer(mut self) -> Self {
        self.layer_by_layer = true;
        self
    }

    /// Makes sure the buffers hold batches of `batch` examples (allocates only when it grows).
    fn reserve(&mut self, batch: usize) {
        if self.batch_labels.len() < batch {
            self.batch_input = vec![0.0; batch * self.plan.input().len()];
            self.batch_labels = vec![0; batch];
        }
        if self.layer_by_layer {
            self.reserve_workspace(batch);
        } else {
            self.chunked.reserve(batch);
        }
    }

    /// The layer-by-layer workspace for batches of `batch` (allocates only when it grows).
    fn reserve_workspace(&mut self, batch: usize) {
        if self.workspace.capacity() < batch {
            self.workspace = Workspace::new(&self.plan, batch);
        }
    }

    /// Gathers a batch into the engine's input buffers and returns its size; with `shifted`
    /// (the epoch's shifts and the batch's first position in the epoch), moved by them.
    fn load_batch(&mut self, data: &Dataset, indices: &[u32], shifted: Option<(EpochShift, usize)>) -> usize {
        let n = indices.len();
        let pixels = self.plan.input().len();
        let (images, labels) = (&mut self.batch_input[..n * pixels], &mut self.batch_labels[..n]);
        match shifted {
            Some((shift, first)) => data.gather_shifted(indices, first, &shift, images, labels),
            None => data.gather_normalized(indices, images, labels),
        }
        n
    }

    /// One SGD/Adam step on the examples at `indices` (never shifted).
    pub fn train_step(&mut self, data: &Dataset, indices: &[u32]) -> super::loss::LossStats {
        self.train_step_at(data, indices, 0, None)
    }

    /// One step on the images at `indices`, the first at position `first` of the epoch (which
    /// keys its dropout masks, and with the epoch's `shift`, its images' shifts).
    fn train_step_at(
        &mut self,
        data: &Dataset,
        indices: &[u32],
        first: usize,
        shift: Option<EpochShift>,
    ) -> super::loss::LossStats {
        self.reserve(indices.len());
        let n = self.load_batch(data, indices, shift.map(|s| (s, first)));
        let pixels = self.plan.input().len();
        let (input, labels) = (&self.batch_input[..n * pixels], &self.batch_labels[..n]);
        let stats = if self.layer_by_layer {
            let mode = Mode::Train { epoch_key: self.dropout_key, first_position: first as u32 };
            let (plan, params) = (&self.plan, &self.params.values);
            forward_backward_in(plan, params, input, labels, &mut self.workspace, &mut self.grads, mode)
        } else {
            self.chunked.forward_backward(&self.params.values, input, labels, &mut self.grads)
        };
        let rates = self.rule.rates(&self.optimizer, self.state.step);
        let (params, grads) = (&mut self.params.values, &self.grads);
        optimizer_step_over(&self.optimizer, rates, &mut self.state, params, grads, &self.trained);
        if self.layer_by_layer {
            update_statistics(&self.plan, &self.workspace, n, &mut self.params.values);
        }
        stats
    }

    /// The logits of the `n` images loaded into `logits`, in evaluation mode.
    fn forward_into(&mut self, n: usize, logits: &mut [f32]) {
        let input = &self.batch_input[..n * self.plan.input().len()];
        if self.layer_by_layer {
            logits.copy_from_slice(forward(&self.plan, &self.params.values, input, n, &mut self.workspace));
        } else {
            self.chunked.forward(&self.params.values, input, n, logits);
        }
    }

    /// The gradients of the last step.
    pub fn gradients(&self) -> &[f32] {
        &self.grads
    }

    fn train_steps_now(
        &mut self,
        data: &Dataset,
        order: &[u32],
        examples: Range<usize>,
        batch_size: usize,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Progress> {
        crate::train::check_epoch(data, order, &examples, batch_size)?;
        let start = web_time::Instant::now();
        let mut totals = Progress::default();
        let (first, count) = (examples.start, examples.len());
        for (step, indices) in order[examples].chunks(batch_size).enumerate() {
            let stats = self.train_step_at(data, indices, first + step * batch_size, self.augmentation);
            totals.images_done += indices.len();
            totals.loss_sum += stats.loss_sum as f64;
            totals.correct += stats.correct as u64;
            totals.steps_done += 1;
            totals.seconds = start.elapsed().as_secs_f64();
            if !stats.loss_sum.is_finite() {
                totals.diverged_at_step = Some(totals.steps_done);
            }
            progress(totals);
            if totals.diverged_at_step.is_some() {
                break; // the caller reports it
            }
            if self.interrupt.requested() && totals.images_done < count {
                return Err(Error::Interrupted { steps_done: totals.steps_done });
            }
        }
        Ok(totals)
    }

    fn predict_now(&mut self, data: &Dataset) -> Result<Vec<u8>> {
        let batch = PREDICT_BATCH.min(data.len().max(1));
        self.reserve(batch);
        let all: Vec<u32> = (0..data.len() as u32).collect();
        let classes = self.plan.classes();
        let mut predictions = Vec::with_capacity(data.len());
        let mut logits = vec![0.0; batch * classes];
        for indices in all.chunks(batch) {
            let n = self.load_batch(data, indices, None);
            let logits = &mut logits[..n * classes];
            self.forward_into(n, logits);
            predictions.extend(logits.chunks_exact(classes).map(|row| crate::model::argmax(row) as u8));
        }
        Ok(predictions)
    }

    fn logits_now(&mut self, data: &Dataset) -> Result<Vec<f32>> {
        let batch = PREDICT_BATCH.min(data.len().max(1));
        self.reserve(batch);
        let all: Vec<u32> = (0..data.len() as u32).collect();
        let classes = self.plan.classes();
        let mut out = vec![0.0; data.len() * classes];
        for (indices, logits) in all.chunks(batch).zip(out.chunks_mut(batch * classes)) {
            let n = self.load_batch(data, indices, None);
            self.forward_into(n, logits);
        }
        Ok(out)
    }

    fn activations_now(&mut self, data: &Dataset) -> Result<Vec<LayerOutput>> {
        let batch = PREDICT_BATCH.min(data.len().max(1));
        self.reserve(batch);
        self.reserve_workspace(batch);
        let all: Vec<u32> = (0..data.len() as u32).collect();
        let pixels = self.plan.input().len();
        let mut out: Vec<LayerOutput> = feature_layers(&self.plan)
            .into_iter()
            .map(|layer| LayerOutput { layer, values: Vec::new() })
            .collect();
        for indices in all.chunks(batch) {
            let n = self.load_batch(data, indices, None);
            forward(&self.plan, &self.params.values, &self.batch_input[..n * pixels], n, &mut self.workspace);
            for a in &mut out {
                a.values.extend_from_slice(self.workspace.output(&self.plan, a.layer, n));
            }
        }
        Ok(out)
    }
}

/// The CPU path computes inside its futures: each is ready when first polled, and never waits.
impl Engine for CpuEngine {
    fn device_name(&self) -> String {
        format!("CPU ({} threads)", rayon::current_num_threads())
    }

    fn train_steps_async<'a>(
        &'a mut self,
        data: &'a Dataset,
        order: &'a [u32],
        examples: Range<usize>,
        batch_size: usize,
        progress: &'a mut dyn FnMut(Progress),
    ) -> EngineFuture<'a, Progress> {
        Box::pin(async move { self.train_steps_now(data, order, examples, batch_size, progress) })
    }

    fn prepare_training(&mut self, batch_size: usize) -> Result<()> {
        self.reserve(batch_size);
        Ok(())
    }

    fn predict_async<'a>(&'a mut self, data: &'a Dataset) -> EngineFuture<'a, Vec<u8>> {
        Box::pin(async move { self.predict_now(data) })
    }

    fn logits_async<'a>(&'a mut self, data: &'a Dataset) -> EngineFuture<'a, Vec<f32>> {
        Box::pin(async move { self.logits_now(data) })
    }

    fn activations_async<'a>(&'a mut self, data: &'a Dataset) -> EngineFuture<'a, Vec<LayerOutput>> {
        Box::pin(async move { self.activations_now(data) })
    }

    fn plan(&self) -> &Plan {
        &self.plan
    }

    fn parameters_async(&self) -> EngineFuture<'_, Parameters> {
        Box::pin(std::future::ready(Ok(self.params.clone())))
    }

    fn optimizer_state_async(&self) -> EngineFuture<'_, OptimizerState> {
        Box::pin(std::future::ready(Ok(self.state.clone())))
    }

    fn set_optimizer_state(&mut self, state: &OptimizerState) -> Result<()> {
        crate::train::check_optimizer_state(&self.plan, state)?;
        self.state = state.clone();
        Ok(())
    }

    fn set_parameters(&mut self, params: &Parameters) -> Result<()> {
        crate::train::check_parameters(&self.plan, params)?;
        self.params.values.copy_from_slice(&params.values);
        Ok(())
    }

    fn set_optimizer(&mut self, optimizer: Optimizer) -> Result<()> {
        self.optimizer = optimizer;
        Ok(())
    }

    fn set_update_rule(&mut self, rule: UpdateRule) {
        self.rule = rule;
    }

    fn set_augmentation(&mut self, shift: Option<EpochShift>) {
        self.augmentation = shift;
    }

    fn set_dropout_key(&mut self, key: u32) {
        self.dropout_key = key;
    }

    fn set_interrupt(&mut self, interrupt: Interrupt) {
        self.interrupt = interrupt;
    }

    fn interrupt(&self) -> Interrupt {
        self.interrupt.clone()
    }
}
