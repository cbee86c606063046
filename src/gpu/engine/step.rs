//! A training step's dispatch list: every stage's forward dispatch, then the backward dispatches
//! in reverse (each op's forward and backward built side by side), bound once to the
//! batch-sized activation and gradient buffers.

use super::GpuEngine;
use super::resident::{ResidentData, storage};
use super::stages::{Stage, fuse};
use crate::error::GpuError;
use crate::gpu::kernels::{Activation, Dispatch, Kernel};
use crate::model::optimizer::Optimizer;
use crate::{Error, Result};

/// Everything sized by the batch: activations, gradients, and the dispatches of a step.
pub(super) struct StepResources {
    pub(super) batch: usize,
    pub(super) input: wgpu::Buffer,
    pub(super) labels: wgpu::Buffer,
    pub(super) logits: wgpu::Buffer,
    pub(super) d_logits: wgpu::Buffer,
    /// Each stage's output (the plan's layer index, floats per example, the buffer).
    pub(super) activations: Vec<(usize, usize, wgpu::Buffer)>,
    pub(super) forward: Vec<Dispatch>,
    pub(super) backward: Vec<Dispatch>,
    pub(super) optimizer: Dispatch,
    pub(super) loss_kernel: Kernel,
    pub(super) predict_kernel: Kernel,
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
