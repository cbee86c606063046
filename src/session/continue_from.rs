//! Continuing a run in a new session without writing a file. A `RunState` is where a run stands:
//! its record (settings, data, epochs done, run id), parameters and optimizer state.
//! `Session::run_state` takes it from a training session; `Session::train_from_state` continues
//! it, with settings of its own when they change (another batch size, rate or optimizer): what
//! `train --resume` does from the two files `train --save` writes, which a `RunState` also reads,
//! writes and turns into bytes (a notebook pickles a model through them).

use super::{Notice, Notices, SavedModel, Session, TrainSpec, record};
use crate::checkpoint;
use crate::cpu::optimizer::OptimizerState;
use crate::error::{ResumeProblem, RunSetting};
use crate::gpu::DeviceChoice;
use crate::model::{Network, Parameters, arch};
use crate::session::{DataIdentity, GivenSettings, RunRecord};
use crate::train::TrainConfig;
use crate::{Error, Result};
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

/// Where a run stands: what a session continuing it needs.
#[derive(Clone, Debug)]
pub struct RunState {
    /// Its settings, data, epochs trained (`record.epoch`) and run id.
    pub record: RunRecord,
    /// The network's parameters.
    pub params: Parameters,
    /// Momentum or Adam's moments, and the update count, for `record.optimizer`.
    pub optimizer: OptimizerState,
}

impl RunState {
    /// A run that has trained `epochs_done` epochs with `config`'s settings on `data` and is now at
    /// `params`, with a fresh optimizer state (a model whose parameters were replaced, or a model
    /// file without an optimizer file): it continues from there with the next epoch's shuffle.
    pub fn fresh(
        network: &Network,
        config: &TrainConfig,
        data: &DataIdentity,
        epochs_done: usize,
        params: Parameters,
    ) -> RunState {
        let optimizer = OptimizerState::new(params.values.len());
        RunState { record: RunRecord::new(network, config, data, epochs_done), params, optimizer }
    }

    /// The model file's and the optimizer file's bytes, as `checkpoint::save_training` writes
    /// them.
    pub fn to_bytes(&self) -> Result<(Vec<u8>, Vec<u8>)> {
        let metadata = self.record.to_metadata();
        let optimizer = checkpoint::optimizer_to_bytes(&self.params, &self.optimizer, metadata.clone())?;
        Ok((checkpoint::to_bytes(&self.params, metadata)?, optimizer))
    }

    /// Writes the model to `path` and the optimizer state beside it
    /// (`checkpoint::optimizer_path`), as a training run saves after each epoch.
    pub fn save(&self, path: &Path) -> Result<()> {
        checkpoint::save_training(path, &self.params, &self.optimizer, self.record.to_metadata())
    }

    /// The run in a model file's and an optimizer file's bytes (`to_bytes`); `name` names the
    /// model file in messages. Both must be of the same run and epoch, and the model file must
    /// record its settings.
    pub fn from_bytes(model: &[u8], optimizer: &[u8], name: &Path) -> Result<RunState> {
        let saved = SavedModel::from_bytes(model, name, None)?;
        let optim_path = checkpoint::optimizer_path(name);
        let optim_metadata = checkpoint::metadata_of(&optim_path, optimizer)?;
        checkpoint::check_same_run(name, &saved.metadata, &optim_path, &optim_metadata)?;
        let count = saved.params.values.len();
        let (state, _) = checkpoint::parse_optimizer(optimizer, &optim_path, &saved.metadata, count)?;
        let record = recorded_run(saved.network, &saved.metadata, name)?;
        Ok(RunState { record, params: saved.params, optimizer: state })
    }

    /// The run saved at `path` and beside it, as `train --resume` reads it: when the last save
    /// was interrupted between the two files, from the newer optimizer file (told to `notice`).
    pub fn read(path: &Path, notice: &mut dyn FnMut(Notice)) -> Result<RunState> {
        let metadata = checkpoint::read_metadata(path)?;
        let network = checkpoint::network_in(&metadata, path)?.unwrap_or_else(Network::lenet5);
        let plan = arch::plan_for_mnist(&network)?;
        let saved = checkpoint::load_training(path, &plan)?;
        if saved.recovered {
            let from = checkpoint::optimizer_path(path);
            notice(Notice::RecoveredSave { model: path.to_path_buf(), from });
        }
        let record = recorded_run(network, &saved.metadata, path)?;
        Ok(RunState { record, params: saved.params, optimizer: saved.optimizer })
    }

    /// The model alone, to open for running (`Session::inference`).
    pub fn model(&self) -> SavedModel {
        let network = self.record.network.clone();
        SavedModel { network, params: self.params.clone(), metadata: self.record.to_metadata() }
    }
}

/// The run a training checkpoint's `metadata` records (of `network`; `path` names it): its
/// optimizer and epoch must be there; the other settings default as a resumed run's do.
fn recorded_run(network: Network, metadata: &HashMap<String, String>, path: &Path) -> Result<RunRecord> {
    let unrecorded = |setting| Error::CannotResume {
        path: path.to_path_buf(),
        problem: ResumeProblem::Unrecorded { setting },
    };
    metadata
        .get(RunSetting::Optimizer.key())
        .and_then(|text| checkpoint::parse_optimizer_description(text))
        .ok_or_else(|| unrecorded(RunSetting::Optimizer))?;
    let epoch = record::recorded_epoch(metadata).ok_or_else(|| Error::CannotResume {
        path: path.to_path_buf(),
        problem: ResumeProblem::UnreadableEpoch,
    })?;
    let settings =
        GivenSettings { network: Some(network), ..GivenSettings::default() }.complete(Some((metadata, path)));
    let data = DataIdentity::recorded(metadata).unwrap_or_else(|| DataIdentity::of(None, 0));
    let record = RunRecord::new(&settings.network, &settings.config(), &data, epoch);
    let position = record::recorded_position(metadata);
    Ok(RunRecord { position, run_id: metadata.get(record::RUN_ID).cloned(), ..record })
}

impl Session {
    /// Where the session's run stands now: its record, parameters and optimizer state (for a
    /// session opened by `continuing_async`, the run it continues). An error for a session
    /// opened only to run a model.
    pub async fn run_state_async(&self) -> Result<RunState> {
        if let (None, Some(carried)) = (&self.run, &self.carried) {
            return Ok(carried.clone());
        }
        self.run()?;
        let record = self.record().expect("a training session records its run");
        let params = self.engine.parameters_async().await?;
        let optimizer = self.engine.optimizer_state_async().await?;
        Ok(RunState { record, params, optimizer })
    }

    /// Opens a session that runs the model of `state` (`inference_async`) and, asked to train
    /// (`train_with_async`), continues the run: a model saved with its optimizer state, or a
    /// pickled one, goes on exactly where it stopped.
    pub async fn continuing_async(
        device: DeviceChoice,
        state: RunState,
        notices: Notices,
    ) -> Result<Session> {
        let mut session = Session::inference_async(device, state.model(), notices).await?;
        session.carried = Some(state);
        Ok(session)
    }

    /// Whether the session trains, or continues a run when it does (`continuing_async`).
    pub fn has_run(&self) -> bool {
        self.run.is_some() || self.carried.is_some()
    }

    /// Makes the session train with `config` on `data` from where it stands. A training session
    /// changes its settings (`set_settings`). A session opened to run a model becomes a
    /// training one on the same device, with the same interrupt: it continues the run it was
    /// opened with (`continuing_async`) as `train_from_state_async` does, else it starts a run
    /// from the model's parameters with a fresh optimizer, counting on from the epochs its
    /// file records.
    pub async fn train_with_async(&mut self, config: TrainConfig, data: DataIdentity) -> Result<()> {
        if self.run.is_some() {
            return self.set_settings(config, data);
        }
        let state = match &self.carried {
            Some(state) => state.clone(),
            None => {
                let epochs_done = record::recorded_epoch(&self.metadata).unwrap_or(0);
                let params = self.parameters_async().await?;
                RunState::fresh(&self.network, &config, &data, epochs_done, params)
            }
        };
        let spec = TrainSpec {
            device: self.device,
            network: self.network.clone(),
            config,
            data,
            save_to: None,
            resume_from: None,
            overwrite: false,
        };
        let notices = Rc::clone(&self.notices);
        let forward: Notices = Box::new(move |notice| (notices.borrow_mut())(notice));
        let mut trained = Session::train_from_state_async(spec, state, forward).await?;
        trained.set_interrupt(self.interrupt.clone());
        *self = trained;
        Ok(())
    }

    /// Opens a session that continues the run `state` with `spec`'s settings. The parameters
    /// carry over, and so does the optimizer state when `spec`'s optimizer is of the kind the
    /// run used (SGD's velocity, Adam's moments and update count; another kind starts afresh);
    /// epochs are numbered on from the run's, each drawing the shuffle the run would have drawn,
    /// and the run keeps its id (a run without one gets one). With the run's own settings the
    /// session trains bit for bit as the run would have gone on, as `train --resume` does from
    /// files. `spec.network` must be the run's, `spec.resume_from` None, and `spec.config.epochs`
    /// is the run's total, as for a resumed run.
    pub async fn train_from_state_async(
        spec: TrainSpec,
        state: RunState,
        notices: Notices,
    ) -> Result<Session> {
        if spec.network != state.record.network {
            return Err(Error::InvalidArgument(format!(
                "the run to continue trained {}, not {}",
                state.record.network.layers_string(),
                spec.network.layers_string()
            )));
        }
        // SGD's velocity goes on under another rate or momentum, Adam's moments under another rate.
        let carry = state.record.optimizer.kind() == spec.config.optimizer.kind();
        let RunState { record, params, optimizer } = state;
        let mut session = Session::train_from_async(spec, params, notices).await?;
        if carry {
            session.engine.set_optimizer_state(&optimizer)?;
        }
        let run = session.run.as_mut().expect("a training session");
        // Within an epoch, its order goes on only for the data and seed it was drawn for.
        let same_order = record.data == run.data
            && record.seed == run.config.seed
            && record.validation == run.config.validation;
        run.epochs.resume_at(record.epoch, if same_order { record.position } else { 0 });
        if record.run_id.is_some() {
            run.run_id = record.run_id;
        }
        Ok(session)
    }
}
