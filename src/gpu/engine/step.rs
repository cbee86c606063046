//! A training step's dispatch list: every stage's forward dispatch, then the backward dispatches
//! in reverse (each op's forward and backward built side by side), bound once to the
//! batch-sized activation and gradient buffers. An engine opened for inference builds only the
//! forward half (and predict): no gradient buffer, no backward pipeline.

use super::GpuEngine;
use super::resident::{ResidentData, storage};
use super::stages::{FusedStage, Stage, fuse};
use crate::error::GpuError;
use crate::gpu::kernels::{Activation, Dispatch, Kernel, Kernels};
use crate::model::optimizer::Optimizer;
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

/// The gradients a stage's backward dispatches bind.
struct Grads<'b> {
    /// Its output's gradient (before its activation).
    dy: &'b wgpu::Buffer,
    /// Its input's gradient, if an earlier stage has parameters.
    dx: Option<&'b wgpu::Buffer>,
    /// The activation its input came out of, which `dx` is taken back through.
    input_activation: Activation,
    argmax: Option<&'b wgpu::Buffer>,
}

/// The backward half of a step: the logits' gradient, the loss kernel that writes it, the
/// backward dispatches in order, and the optimizer's.
pub(super) struct TrainingResources {
    pub(super) d_logits: wgpu::Buffer,
    pub(super) loss_kernel: Kernel,
    pub(super) backward: Vec<Dispatch>,
    pub(super) optimizer: Dispatch,
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

        let mut forward = Vec::new();
        let mut backward = Vec::new();
        let mut pools = 0;
        for (j, s) in stages.iter().enumerate() {
            let x = if j == 0 { &input } else { &outputs[j - 1] };
            let y = &outputs[j];
            let name = match s.stage {
                Stage::MaxPool { .. } | Stage::AvgPool { .. } => {
                    pools += 1;
                    format!("pool{pools}")
                }
                Stage::Activation { .. } => {
                    format!("{} after stage {j}", format!("{:?}", s.activation).to_lowercase())
                }
                _ => s.name.clone(),
            };
            // Max-pooling keeps its argmax for the backward pass.
            let argmax =
                matches!(s.stage, Stage::MaxPool { .. }).then(|| buffer("argmax", batch * s.output_len));
            forward.push(
                self.forward_dispatch(&k, s, x, y, argmax.as_ref())?
                    .labelled(format!("{name} forward"), s.flops()),
            );
            // The output's gradient, when training (an inference engine builds no backward).
            if let Some(dy) = d_outputs.get(j) {
                // The input gradient is needed only if some earlier stage has parameters; it is
                // taken back through the activation the input came out of.
                let dx = stages[..j].iter().any(|e| e.has_params).then(|| &d_outputs[j - 1]);
                let input_activation = if j > 0 { stages[j - 1].activation } else { Activation::Identity };
                let grads = Grads { dy, dx, input_activation, argmax: argmax.as_ref() };
                backward.push(self.backward_dispatches(&k, s, x, grads, &name)?);
            }
        }
        let classes = self.plan.classes();
        let last = stages.len() - 1;
        let training = match d_outputs.get(last) {
            None => None,
            Some(d_logits) => {
                let n = self.plan.parameter_count;
                let step = k.optimizer_step(&self.optimizer, n)?;
                let optimizer = match self.optimizer {
                    Optimizer::Sgd { .. } => step.bind(gpu, &[&self.params, &self.grads, &self.first]),
                    Optimizer::Adam { .. } => {
                        step.bind(gpu, &[&self.params, &self.grads, &self.first, &self.second])
                    }
                };
                Some(TrainingResources {
                    d_logits: d_logits.clone(),
                    // A network may end in an activation: the loss takes the logits' gradient
                    // back through it.
                    loss_kernel: k.softmax_cross_entropy(batch, classes, stages[last].activation)?,
                    backward: backward.into_iter().rev().flatten().collect(),
                    optimizer,
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

    /// A stage's backward dispatches: its parameters' gradients, then its input's.
    fn backward_dispatches(
        &self,
        k: &Kernels,
        s: &FusedStage,
        x: &wgpu::Buffer,
        g: Grads,
        name: &str,
    ) -> Result<Vec<Dispatch>> {
        let gpu = &self.gpu;
        let (dy, act, flops) = (g.dy, g.input_activation, s.flops());
        let mut back = Vec::new();
        match &s.stage {
            Stage::Conv { shape, w_off, b_off } => {
                back.push(
                    k.conv_backward_params(shape, *w_off, *b_off)?
                        .bind(gpu, &[x, dy, &self.grads])
                        .labelled(format!("{name} backward params"), flops),
                );
                if let Some(dx) = g.dx {
                    back.push(
                        k.conv_backward_input(shape, act, *w_off)?
                            .bind(gpu, &[x, &self.params, dy, dx])
                            .labelled(format!("{name} backward input"), flops),
                    );
                }
            }
            Stage::Dense { shape, w_off, b_off } => {
                back.push(
                    k.dense_backward_params(shape, *w_off, *b_off)?
                        .bind(gpu, &[x, dy, &self.grads])
                        .labelled(format!("{name} backward params"), flops),
                );
                if let Some(dx) = g.dx {
                    back.push(
                        k.dense_backward_input(shape, act, *w_off)?
                            .bind(gpu, &[x, &self.params, dy, dx])
                            .labelled(format!("{name} backward input"), flops),
                    );
                }
            }
            Stage::MaxPool { shape } => {
                if let Some(dx) = g.dx {
                    let argmax = g.argmax.expect("a max-pool's argmax");
                    back.push(
                        k.maxpool_backward(shape, act)?
                            .bind(gpu, &[x, dy, argmax, dx])
                            .labelled(format!("{name} backward"), 0.0),
                    );
                }
            }
            Stage::AvgPool { shape } => {
                if let Some(dx) = g.dx {
                    back.push(
                        k.avgpool_backward(shape, act)?
                            .bind(gpu, &[x, dy, dx])
                            .labelled(format!("{name} backward"), 0.0),
                    );
                }
            }
            Stage::Activation { len } => {
                if let Some(dx) = g.dx {
                    back.push(
                        k.activation_backward(act, *len)?
                            .bind(gpu, &[x, dy, dx])
                            .labelled(format!("{name} backward"), 0.0),
                    );
                }
            }
        }
        Ok(back)
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
