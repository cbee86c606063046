//! A training step's backward dispatches, from the loss back to the first layer with parameters.
//!
//! What is fused, where it applies (else the unfused kernels run):
//! - a convolution's or dense layer's weight and input gradients in one dispatch
//!   (`conv_backward`, `dense_backward`: the first workgroups one job, the rest the other);
//! - a pool whose windows tile its input folded into the input gradient of the layer after it,
//!   written straight through the pool and the activation before it (no pool backward dispatch);
//! - the optimizer's update in the last dispatch, the first layer's weight gradient
//!   (`*_backward_params_update`): no kernel after it reads a parameter.

use super::GpuEngine;
use super::stages::{FusedStage, Stage};
use crate::Result;
use crate::gpu::kernels::{Activation, Dispatch, Kernels, PoolFold};

/// The step's batch-sized buffers the backward dispatches bind.
pub(super) struct StepBuffers<'b> {
    pub(super) input: &'b wgpu::Buffer,
    /// Each stage's output, and its gradient.
    pub(super) outputs: &'b [wgpu::Buffer],
    pub(super) d_outputs: &'b [wgpu::Buffer],
    /// Each pool's argmax.
    pub(super) argmax: &'b [Option<wgpu::Buffer>],
    /// A writable buffer for a binding a kernel declares but does not use here.
    pub(super) spare: &'b wgpu::Buffer,
}

impl StepBuffers<'_> {
    /// Stage j's input.
    fn x(&self, j: usize) -> &wgpu::Buffer {
        if j == 0 { self.input } else { &self.outputs[j - 1] }
    }
}

/// Whether stage j's input gradient is needed: some earlier stage has parameters.
fn has_dx(stages: &[FusedStage], j: usize) -> bool {
    stages[..j].iter().any(|e| e.has_params)
}

/// Stage j as a pool whose backward the layer after it folds into its input gradient.
fn folded(stages: &[FusedStage], j: usize) -> Option<PoolFold> {
    let next_takes_it = matches!(stages.get(j + 1)?.stage, Stage::Conv { .. } | Stage::Dense { .. });
    let pool = stages[j].fused_pool()?;
    // A pool with an input gradient is not the first stage.
    (next_takes_it && has_dx(stages, j))
        .then(|| PoolFold { pool, input_activation: stages[j - 1].activation })
}

impl GpuEngine {
    /// The backward dispatches, in the order they run.
    pub(super) fn backward_dispatches(
        &self,
        k: &Kernels,
        stages: &[FusedStage],
        names: &[String],
        b: &StepBuffers,
    ) -> Result<Vec<Dispatch>> {
        let mut all = Vec::new();
        for j in (0..stages.len()).rev() {
            let s = &stages[j];
            let name = &names[j];
            let dy = &b.d_outputs[j];
            // The activation the stage's input came out of, which its input gradient is taken
            // back through.
            let act = if j > 0 { stages[j - 1].activation } else { Activation::Identity };
            let fold = j.checked_sub(1).and_then(|p| folded(stages, p));
            let params = match &s.stage {
                Stage::Conv { w_off, b_off, .. } | Stage::Dense { w_off, b_off, .. } => {
                    Some((*w_off, *b_off))
                }
                _ => None,
            };
            if let Some(offsets) = params {
                match has_dx(stages, j) {
                    true => {
                        let folded = match fold {
                            Some(_) => format!(" (+{})", names[j - 1]),
                            None => String::new(),
                        };
                        all.extend(self.both_gradients(k, s, j, act, fold.as_ref(), offsets, b, &folded)?)
                    }
                    false => all.push(
                        self.gradient_and_update(k, s, j, offsets, b)?
                            .labelled(format!("{name} backward params + optimizer"), s.flops()),
                    ),
                }
                continue;
            }
            // Pools and activations: only an input gradient, unless the layer after folds it in.
            if !has_dx(stages, j) || folded(stages, j).is_some() {
                continue;
            }
            let (x, dx) = (b.x(j), &b.d_outputs[j - 1]);
            let dispatch = match &s.stage {
                Stage::MaxPool { shape } => {
                    let argmax = b.argmax[j].as_ref().expect("a pool's argmax");
                    k.maxpool_backward(shape, act)?.bind(&self.gpu, &[x, dy, argmax, dx])
                }
                Stage::AvgPool { shape } => k.avgpool_backward(shape, act)?.bind(&self.gpu, &[x, dy, dx]),
                Stage::Activation { len } => k.activation_backward(act, *len)?.bind(&self.gpu, &[x, dy, dx]),
                Stage::Conv { .. } | Stage::Dense { .. } => unreachable!("handled above"),
            };
            all.push(dispatch.labelled(format!("{name} backward"), 0.0));
        }
        Ok(all)
    }

    /// Stage j's weight and input gradients, the input gradient taken on through the pool
    /// before it if `fold` (`folded` says so in the labels): one dispatch, except for a
    /// convolution where the split does not fuse them (`Blocking::fuses_convolutions`: on a
    /// software adapter the weight gradient's barrier slowed the input gradient beside it).
    #[allow(clippy::too_many_arguments)]
    fn both_gradients(
        &self,
        k: &Kernels,
        s: &FusedStage,
        j: usize,
        act: Activation,
        fold: Option<&PoolFold>,
        offsets: (usize, usize),
        b: &StepBuffers,
        folded: &str,
    ) -> Result<Vec<Dispatch>> {
        let (x, dy, dx) = (b.x(j), &b.d_outputs[j], &b.d_outputs[j - 1]);
        // With a fold, the pool's own gradient buffer (dx) takes the unused d_input binding.
        let (argmax, pre, d_pre) = match fold {
            Some(_) => (b.argmax[j - 1].as_ref().expect("a pool's argmax"), b.x(j - 1), &b.d_outputs[j - 2]),
            None => (x, x, b.spare),
        };
        let (name, flops) = (&s.name, s.flops());
        let kernel = match &s.stage {
            Stage::Conv { shape, w_off, .. } if !self.gpu.blocking().fuses_convolutions() => {
                let params = k
                    .conv_backward_params(shape, offsets.0, offsets.1)?
                    .bind(&self.gpu, &[x, dy, &self.grads]);
                let input = k.conv_backward_input(shape, act, *w_off, fold)?;
                let input = input.bind(&self.gpu, &[x, &self.params, dy, dx, argmax, pre, d_pre]);
                return Ok(vec![
                    params.labelled(format!("{name} backward params"), flops),
                    input.labelled(format!("{name} backward input{folded}"), flops),
                ]);
            }
            Stage::Conv { shape, .. } => k.conv_backward(shape, act, fold, offsets)?,
            Stage::Dense { shape, .. } => k.dense_backward(shape, act, fold, offsets)?,
            _ => unreachable!("only layers with parameters"),
        };
        let both = kernel.bind(&self.gpu, &[x, &self.params, dy, dx, &self.grads, argmax, pre, d_pre]);
        Ok(vec![both.labelled(format!("{name} backward{folded}"), 2.0 * flops)])
    }

    /// The first layer with parameters: its weight gradient and the optimizer's update.
    fn gradient_and_update(
        &self,
        k: &Kernels,
        s: &FusedStage,
        j: usize,
        offsets: (usize, usize),
        b: &StepBuffers,
    ) -> Result<Dispatch> {
        let n = self.plan.parameter_count;
        let kernel = match &s.stage {
            Stage::Conv { shape, .. } => k.conv_backward_params_update(shape, &self.optimizer, n, offsets)?,
            Stage::Dense { shape, .. } => {
                k.dense_backward_params_update(shape, &self.optimizer, n, offsets)?
            }
            _ => unreachable!("only layers with parameters"),
        };
        let buffers = [b.x(j), &b.d_outputs[j], &self.grads, &self.params, &self.first, &self.second];
        Ok(kernel.bind(&self.gpu, &buffers))
    }
}
