//! A training step's dispatch list: every stage's forward dispatch (a convolution and the pool
//! after it in one where the pool's windows tile its input), then the backward dispatches in
//! reverse (`backward.rs`), bound once to the batch-sized activation and gradient buffers. An
//! engine opened for inference builds only the forward half (and predict): no gradient buffer, no
//! backward pipeline.

use super::GpuEngine;
use super::backward::StepBuffers;
use super::resident::{ResidentData, storage};
use super::stages::{FusedStage, Stage, fuse};
use crate::error::GpuError;
use crate::gpu::kernels::{Dispatch, Kernel, Kernels};
use crate::{Error, Result};

/// Everything sized by the batch: activations, gradients, and the dispatches of a step.
pub(super) struct StepResources {
    pub(super) batch: usize,
    pub(super) input: wgpu::Buffer,
    pub(super) labels: wgpu::Buffer,
    pub(super) logits: wgpu::Buffer,
    /// Each stage's output (the plan's layer index, floats per example, the buffer).
    pub(super) activations: Vec<(usize, usize, wgpu::Buffer)>,
    pub(super) forward: Vec<Dispatch>,
    pub(super) predict_kernel: Kernel,
    /// What only training needs (None in an engine opened for inference).
    pub(super) training: Option<TrainingResources>,
}

/// The backward half of a step: the logits' gradient, the loss kernel that writes it, and the
/// backward dispatches in order (the last one also runs the optimizer's update).
pub(super) struct TrainingResources {
    pub(super) d_logits: wgpu::Buffer,
    pub(super) loss_kernel: Kernel,
    pub(super) backward: Vec<Dispatch>,
}

impl GpuEngine {
    /// Builds a step's buffers and dispatches at `batch`, or says why this device cannot take it.
    pub(super) fn build_network(&self, batch: usize) -> Result<StepResources> {
        let gpu = &self.gpu;
        let k = self.kernels();
        let stages = fuse(&self.plan, batch)?;
        let largest = self.max_batch_size();
        if batch > largest {
            let widest = self.widest_activation();
            return Err(Error::Gpu(GpuError::BatchTooLarge {
                batch,
                largest,
                needed_mib: (batch as u64).saturating_mul(widest as u64 * 4) >> 20,
                device: gpu.name(),
                binding_mib: self.binding_limit() >> 20,
            }));
        }
        let buffer = |label: &str, floats: usize| gpu.create_buffer(label, (floats * 4) as u64, storage());
        let input = buffer("batch input", batch * self.plan.input().len());
        let labels = buffer("batch labels", batch);
        let outputs: Vec<wgpu::Buffer> =
            stages.iter().map(|s| buffer("activation", batch * s.output_len)).collect();
        let d_outputs: Vec<wgpu::Buffer> = match self.trains {
            true => stages.iter().map(|s| buffer("gradient", batch * s.output_len)).collect(),
            false => Vec::new(),
        };

        // Every pool keeps an argmax buffer: a max-pool's winners, bound but unused for an
        // average pool whose forward is fused into a convolution's.
        let argmax: Vec<Option<wgpu::Buffer>> = stages
            .iter()
            .map(|s| {
                matches!(s.stage, Stage::MaxPool { .. } | Stage::AvgPool { .. })
                    .then(|| buffer("argmax", batch * s.output_len))
            })
            .collect();
        let names = stage_names(&stages);
        let fuse_pools = gpu.blocking().fuses_convolutions();
        let mut forward = Vec::new();
        let mut j = 0;
        while j < stages.len() {
            let x = if j == 0 { &input } else { &outputs[j - 1] };
            let s = &stages[j];
            // A convolution and the pool after it, in one dispatch where the pool tiles its input
            // and the split fuses convolutions.
            if let (Stage::Conv { shape, w_off, b_off }, Some(pool)) = (&s.stage, stages.get(j + 1))
                && fuse_pools
                && let Some(fused) = pool.fused_pool()
            {
                let kernel =
                    k.conv_forward_pool(shape, s.activation, &fused, pool.activation, (*w_off, *b_off))?;
                let argmax = argmax[j + 1].as_ref().expect("a pool's argmax");
                forward.push(
                    kernel
                        .bind(gpu, &[x, &self.params, &outputs[j], &outputs[j + 1], argmax])
                        .labelled(format!("{}+{} forward", names[j], names[j + 1]), s.flops()),
                );
                j += 2;
                continue;
            }
            forward.push(
                self.forward_dispatch(&k, s, x, &outputs[j], argmax[j].as_ref())?
                    .labelled(format!("{} forward", names[j]), s.flops()),
            );
            j += 1;
        }
        let classes = self.plan.classes();
        let last = stages.len() - 1;
        let training = match d_outputs.get(last) {
            None => None,
            Some(d_logits) => {
                let buffers = StepBuffers {
                    input: &input,
                    outputs: &outputs,
                    d_outputs: &d_outputs,
                    argmax: &argmax,
                    spare: &buffer("spare", 1),
                };
                Some(TrainingResources {
                    d_logits: d_logits.clone(),
                    // A network may end in an activation: the loss takes the logits' gradient
                    // back through it.
                    loss_kernel: k.softmax_cross_entropy(batch, classes, stages[last].activation)?,
                    backward: self.backward_dispatches(&k, &stages, &names, &buffers)?,
                })
            }
        };
        Ok(StepResources {
            batch,
            predict_kernel: k.predict(batch, classes)?,
            logits: outputs[last].clone(),
            activations: stages
                .iter()
                .zip(&outputs)
                .map(|(s, b)| (s.output_layer, s.output_len, b.clone()))
                .collect(),
            input,
            labels,
            forward,
            training,
        })
    }

    /// A stage's forward dispatch, from `x` to `y` (and for a max-pool, its argmax).
    fn forward_dispatch(
        &self,
        k: &Kernels,
        s: &FusedStage,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        argmax: Option<&wgpu::Buffer>,
    ) -> Result<Dispatch> {
        let gpu = &self.gpu;
        Ok(match &s.stage {
            Stage::Conv { shape, w_off, b_off } => {
                k.conv_forward(shape, s.activation, *w_off, *b_off)?.bind(gpu, &[x, &self.params, y])
            }
            Stage::Dense { shape, w_off, b_off } => {
                k.dense_forward(shape, s.activation, *w_off, *b_off)?.bind(gpu, &[x, &self.params, y])
            }
            Stage::MaxPool { shape } => {
                let argmax = argmax.expect("a max-pool's argmax");
                k.maxpool_forward(shape, s.activation)?.bind(gpu, &[x, y, argmax])
            }
            Stage::AvgPool { shape } => k.avgpool_forward(shape, s.activation)?.bind(gpu, &[x, y]),
            Stage::Activation { len } => k.activation_forward(s.activation, *len)?.bind(gpu, &[x, y]),
        })
    }

    /// Records the gather and forward dispatches of the step whose uniform sits at `offset`.
    pub(super) fn record_forward(
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
}

/// Each stage's name in benchmarks: the plan's layer name ("conv1"), pools numbered ("pool1"),
/// an activation stage by what it follows.
fn stage_names(stages: &[FusedStage]) -> Vec<String> {
    let mut pools = 0;
    stages
        .iter()
        .enumerate()
        .map(|(j, s)| match s.stage {
            Stage::MaxPool { .. } | Stage::AvgPool { .. } => {
                pools += 1;
                format!("pool{pools}")
            }
            Stage::Activation { .. } => {
                format!("{} after stage {j}", format!("{:?}", s.activation).to_lowercase())
            }
            _ => s.name.clone(),
        })
        .collect()
}
