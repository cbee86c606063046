//! The blocking twins of `Session`'s async methods, for native callers (the command line,
//! tests): each waits for its async twin. Native only: a page awaits the async ones.

use super::{Notices, SavedModel, Session, TrainSpec};
use crate::Result;
use crate::data::{Dataset, Split};
use crate::gpu::DeviceChoice;
use crate::model::Parameters;
use crate::train::{EpochReport, Evaluation, LayerOutput, Observer};
use std::path::Path;

/// The blocking twins of the async methods, for native callers (the command line, tests): each
/// waits for its async twin. A page awaits those instead.
impl Session {
    /// `train_async`, waiting for it.
    pub fn train(spec: TrainSpec, notices: Notices) -> Result<Session> {
        pollster::block_on(Session::train_async(spec, notices))
    }

    /// `train_from_async`, waiting for it.
    pub fn train_from(spec: TrainSpec, params: Parameters, notices: Notices) -> Result<Session> {
        pollster::block_on(Session::train_from_async(spec, params, notices))
    }

    /// `train_from_state_async`, waiting for it.
    pub fn train_from_state(spec: TrainSpec, state: super::RunState, notices: Notices) -> Result<Session> {
        pollster::block_on(Session::train_from_state_async(spec, state, notices))
    }

    /// `continuing_async`, waiting for it.
    pub fn continuing(device: DeviceChoice, state: super::RunState, notices: Notices) -> Result<Session> {
        pollster::block_on(Session::continuing_async(device, state, notices))
    }

    /// `train_with_async`, waiting for it.
    pub fn train_with(&mut self, config: crate::train::TrainConfig, data: super::DataIdentity) -> Result<()> {
        pollster::block_on(self.train_with_async(config, data))
    }

    /// `inference_async`, waiting for it.
    pub fn inference(device: DeviceChoice, model: SavedModel, notices: Notices) -> Result<Session> {
        pollster::block_on(Session::inference_async(device, model, notices))
    }

    /// `train_epoch_async`, waiting for it.
    pub fn train_epoch(&mut self, split: &Split, observer: &mut dyn Observer) -> Result<EpochReport> {
        pollster::block_on(self.train_epoch_async(split, observer))
    }

    /// `train_steps_async`, waiting for it.
    pub fn train_steps(
        &mut self,
        split: &Split,
        steps: usize,
        observer: &mut dyn Observer,
    ) -> Result<crate::train::Progress> {
        pollster::block_on(self.train_steps_async(split, steps, observer))
    }

    /// `train_all_async`, waiting for it.
    pub fn train_all(&mut self, split: &Split, observer: &mut dyn Observer) -> Result<Vec<EpochReport>> {
        pollster::block_on(self.train_all_async(split, observer))
    }

    /// `evaluate_async`, waiting for it.
    pub fn evaluate(&mut self, data: &Dataset) -> Result<Evaluation> {
        pollster::block_on(self.evaluate_async(data))
    }

    /// `evaluate_shifts_async`, waiting for it.
    pub fn evaluate_shifts(
        &mut self,
        data: &Dataset,
        max: usize,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<crate::invariance::ShiftGrid> {
        pollster::block_on(self.evaluate_shifts_async(data, max, progress))
    }

    /// `evaluate_with_logits_async`, waiting for it.
    pub fn evaluate_with_logits(&mut self, data: &Dataset) -> Result<(Evaluation, f64, Vec<f32>)> {
        pollster::block_on(self.evaluate_with_logits_async(data))
    }

    /// `logits_async`, waiting for it.
    pub fn logits(&mut self, data: &Dataset) -> Result<Vec<f32>> {
        pollster::block_on(self.logits_async(data))
    }

    /// `predict_top_async`, waiting for it.
    pub fn predict_top(&mut self, data: &Dataset, k: usize) -> Result<Vec<Vec<(usize, f64)>>> {
        pollster::block_on(self.predict_top_async(data, k))
    }

    /// `activations_async`, waiting for it.
    pub fn activations(&mut self, data: &Dataset) -> Result<Vec<LayerOutput>> {
        pollster::block_on(self.activations_async(data))
    }

    /// `parameters_async`, waiting for it.
    pub fn parameters(&self) -> Result<Parameters> {
        pollster::block_on(self.parameters_async())
    }

    /// `save_async`, waiting for it.
    pub fn save(&self, path: &Path) -> Result<()> {
        pollster::block_on(self.save_async(path))
    }

    /// `to_bytes_async`, waiting for it.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        pollster::block_on(self.to_bytes_async())
    }

    /// `save_training_async`, waiting for it.
    pub fn save_training(&self, path: &Path) -> Result<()> {
        pollster::block_on(self.save_training_async(path))
    }

    /// `run_state_async`, waiting for it.
    pub fn run_state(&self) -> Result<super::RunState> {
        pollster::block_on(self.run_state_async())
    }
}
