//! `--device auto`'s safety net: an engine that runs on the GPU and, should the GPU fail (device
//! lost, out of memory, a batch too large for it), carries on on the CPU path from the last
//! state it knows to be good, saying so once.
//!
//! That state is a copy of the parameters and optimizer state taken when training starts and
//! after every epoch, so a failing epoch is trained again from its start on the CPU: the run's
//! numbers are then exactly those of a run on the CPU path from that epoch on.

use crate::cpu::engine::CpuEngine;
use crate::cpu::optimizer::{Optimizer, OptimizerState};
use crate::data::Dataset;
use crate::data::augment::EpochShift;
use crate::error::GpuError;
use crate::model::schedule::UpdateRule;
use crate::model::{Parameters, Plan};
use crate::train::{Engine, EngineFuture, Interrupt, LayerOutput, Progress};
use crate::{Error, Result};

pub struct Fallback {
    engine: Box<dyn Engine>,
    on_gpu: bool,
    optimizer: Optimizer,
    /// Handed on to the CPU engine that takes over, as the interrupt is.
    rule: UpdateRule,
    /// Handed on likewise: the epoch's shifts.
    augmentation: Option<EpochShift>,
    /// Parameters and optimizer state at the start of the current epoch.
    good: (Parameters, OptimizerState),
    /// Told, once, why the GPU was given up (the CPU path then carries on from the last good
    /// state).
    notice: Box<dyn FnMut(&GpuError)>,
    /// Handed on to the CPU engine that takes over.
    interrupt: Interrupt,
}

impl Fallback {
    /// Wraps `gpu`, a GPU engine just made from `params` with `optimizer`.
    pub fn new(
        gpu: Box<dyn Engine>,
        params: Parameters,
        optimizer: Optimizer,
        notice: Box<dyn FnMut(&GpuError)>,
    ) -> Fallback {
        let state = OptimizerState::new(params.values.len());
        let interrupt = Interrupt::default();
        let rule = UpdateRule::default();
        let augmentation = None;
        Fallback {
            engine: gpu,
            on_gpu: true,
            optimizer,
            rule,
            augmentation,
            good: (params, state),
            notice,
            interrupt,
        }
    }

    /// Whether the GPU is still in use.
    pub fn on_gpu(&self) -> bool {
        self.on_gpu
    }

    /// After a GPU error `why`: switches to the CPU path from the last good state, saying so.
    fn fall_back(&mut self, why: GpuError) -> Result<()> {
        let (params, state) = self.good.clone();
        let mut cpu = CpuEngine::new(self.engine.plan().clone(), params, self.optimizer);
        cpu.set_optimizer_state(&state)?;
        cpu.set_interrupt(self.interrupt.clone());
        cpu.set_update_rule(self.rule);
        cpu.set_augmentation(self.augmentation);
        (self.notice)(&why);
        self.engine = Box::new(cpu);
        self.on_gpu = false;
        Ok(())
    }
}

/// Awaits `$op` on the current engine (`$engine`); if it fails on the GPU with a GPU error,
/// switches to the CPU path (from the last good state) and awaits it again there.
macro_rules! with_retry {
    ($self:ident, |$engine:ident| $op:expr) => {{
        let first = {
            let $engine = $self.engine.as_mut();
            $op.await
        };
        match first {
            Err(Error::Gpu(why)) if $self.on_gpu => {
                $self.fall_back(why)?;
                let $engine = $self.engine.as_mut();
                $op.await
            }
            other => other,
        }
    }};
}

impl Engine for Fallback {
    fn device_name(&self) -> String {
        self.engine.device_name()
    }

    fn train_steps_async<'a>(
        &'a mut self,
        data: &'a Dataset,
        order: &'a [u32],
        examples: std::ops::Range<usize>,
        batch_size: usize,
        progress: &'a mut dyn FnMut(Progress),
    ) -> EngineFuture<'a, Progress> {
        Box::pin(async move {
            let totals = with_retry!(self, |engine| engine.train_steps_async(
                data,
                order,
                examples.clone(),
                batch_size,
                &mut *progress
            ))?;
            // The new good state, read back while the engine is sure to work (a copy per call).
            let params = with_retry!(self, |engine| engine.parameters_async())?;
            let state = with_retry!(self, |engine| engine.optimizer_state_async())?;
            self.good = (params, state);
            Ok(totals)
        })
    }

    fn predict_async<'a>(&'a mut self, data: &'a Dataset) -> EngineFuture<'a, Vec<u8>> {
        Box::pin(async move { with_retry!(self, |engine| engine.predict_async(data)) })
    }

    fn logits_async<'a>(&'a mut self, data: &'a Dataset) -> EngineFuture<'a, Vec<f32>> {
        Box::pin(async move { with_retry!(self, |engine| engine.logits_async(data)) })
    }

    fn activations_async<'a>(&'a mut self, data: &'a Dataset) -> EngineFuture<'a, Vec<LayerOutput>> {
        Box::pin(async move { with_retry!(self, |engine| engine.activations_async(data)) })
    }

    fn plan(&self) -> &Plan {
        self.engine.plan()
    }

    /// Falls back to the last good copy if the GPU cannot be read (it equals the GPU's
    /// parameters: they change only in `train_steps_async`, which refreshes the copy).
    fn parameters_async(&self) -> EngineFuture<'_, Parameters> {
        Box::pin(async move {
            match self.engine.parameters_async().await {
                Err(Error::Gpu(_)) if self.on_gpu => Ok(self.good.0.clone()),
                other => other,
            }
        })
    }

    fn optimizer_state_async(&self) -> EngineFuture<'_, OptimizerState> {
        Box::pin(async move {
            match self.engine.optimizer_state_async().await {
                Err(Error::Gpu(_)) if self.on_gpu => Ok(self.good.1.clone()),
                other => other,
            }
        })
    }

    fn set_optimizer_state(&mut self, state: &OptimizerState) -> Result<()> {
        match self.engine.set_optimizer_state(state) {
            Err(Error::Gpu(why)) if self.on_gpu => {
                self.fall_back(why)?;
                self.engine.set_optimizer_state(state)?;
            }
            other => other?,
        }
        self.good.1 = state.clone();
        Ok(())
    }

    fn set_parameters(&mut self, params: &Parameters) -> Result<()> {
        match self.engine.set_parameters(params) {
            Err(Error::Gpu(why)) if self.on_gpu => {
                self.fall_back(why)?;
                self.engine.set_parameters(params)?;
            }
            other => other?,
        }
        self.good.0 = params.clone();
        Ok(())
    }

    fn set_optimizer(&mut self, optimizer: Optimizer) -> Result<()> {
        match self.engine.set_optimizer(optimizer) {
            Err(Error::Gpu(why)) if self.on_gpu => {
                self.fall_back(why)?;
                self.engine.set_optimizer(optimizer)?;
            }
            other => other?,
        }
        self.optimizer = optimizer;
        Ok(())
    }

    fn set_update_rule(&mut self, rule: UpdateRule) {
        self.engine.set_update_rule(rule);
        self.rule = rule;
    }

    fn set_augmentation(&mut self, shift: Option<EpochShift>) {
        self.engine.set_augmentation(shift);
        self.augmentation = shift;
    }

    fn set_dropout_key(&mut self, key: u32) {
        self.engine.set_dropout_key(key);
    }

    fn set_interrupt(&mut self, interrupt: Interrupt) {
        self.engine.set_interrupt(interrupt.clone());
        self.interrupt = interrupt;
    }

    fn interrupt(&self) -> Interrupt {
        self.interrupt.clone()
    }
}
