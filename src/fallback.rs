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
use crate::error::GpuError;
use crate::model::{Parameters, Plan};
use crate::train::{Engine, LayerOutput, Progress};
use crate::{Error, Result};

pub struct Fallback {
    engine: Box<dyn Engine>,
    on_gpu: bool,
    optimizer: Optimizer,
    /// Parameters and optimizer state at the start of the current epoch.
    good: (Parameters, OptimizerState),
    /// Told, once, why the GPU was given up (the CPU path then carries on from the last good
    /// state).
    notice: Box<dyn FnMut(&GpuError)>,
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
        Fallback { engine: gpu, on_gpu: true, optimizer, good: (params, state), notice }
    }

    /// Whether the GPU is still in use.
    pub fn on_gpu(&self) -> bool {
        self.on_gpu
    }

    /// Runs `op` on the current engine; if it fails on the GPU with a GPU error, switches to
    /// the CPU path (from the last good state) and runs it again there.
    fn run<T>(&mut self, mut op: impl FnMut(&mut dyn Engine) -> Result<T>) -> Result<T> {
        match op(self.engine.as_mut()) {
            Err(Error::Gpu(why)) if self.on_gpu => {
                let (params, state) = self.good.clone();
                let mut cpu = CpuEngine::new(self.engine.plan().clone(), params, self.optimizer);
                cpu.set_optimizer_state(&state)?;
                (self.notice)(&why);
                self.engine = Box::new(cpu);
                self.on_gpu = false;
                op(self.engine.as_mut())
            }
            other => other,
        }
    }
}

impl Engine for Fallback {
    fn device_name(&self) -> String {
        self.engine.device_name()
    }

    fn train_epoch(
        &mut self,
        data: &Dataset,
        order: &[u32],
        batch_size: usize,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Progress> {
        let totals = self.run(|engine| engine.train_epoch(data, order, batch_size, progress))?;
        // The new good state, read back while the engine is sure to work (a copy per epoch).
        let params = self.run(|engine| engine.parameters())?;
        let state = self.run(|engine| engine.optimizer_state())?;
        self.good = (params, state);
        Ok(totals)
    }

    fn predict(&mut self, data: &Dataset) -> Result<Vec<u8>> {
        self.run(|engine| engine.predict(data))
    }

    fn logits(&mut self, data: &Dataset) -> Result<Vec<f32>> {
        self.run(|engine| engine.logits(data))
    }

    fn activations(&mut self, data: &Dataset) -> Result<Vec<LayerOutput>> {
        self.run(|engine| engine.activations(data))
    }

    fn plan(&self) -> &Plan {
        self.engine.plan()
    }

    /// Falls back to the last good copy if the GPU cannot be read (it equals the GPU's
    /// parameters: they change only in `train_epoch`, which refreshes the copy).
    fn parameters(&self) -> Result<Parameters> {
        match self.engine.parameters() {
            Err(Error::Gpu(_)) if self.on_gpu => Ok(self.good.0.clone()),
            other => other,
        }
    }

    fn optimizer_state(&self) -> Result<OptimizerState> {
        match self.engine.optimizer_state() {
            Err(Error::Gpu(_)) if self.on_gpu => Ok(self.good.1.clone()),
            other => other,
        }
    }

    fn set_optimizer_state(&mut self, state: &OptimizerState) -> Result<()> {
        self.run(|engine| engine.set_optimizer_state(state))?;
        self.good.1 = state.clone();
        Ok(())
    }
}
