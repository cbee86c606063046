//! A session to files and bytes: the run record its model files carry, the model alone
//! (`save_async`, `to_bytes_async`) and the model with its optimizer state (`save_training_async`).

use super::{RunRecord, Session, TrainConfig, record};
use crate::{Result, checkpoint};
use std::path::Path;

impl Session {
    /// What a checkpoint of the run records now (None for an inference session).
    pub fn record(&self) -> Option<RunRecord> {
        let run = self.run.as_ref()?;
        // A run trained step by step may go past the epochs it was opened for (a page's).
        let epochs = run.config.epochs.max(run.epochs.done());
        let config = TrainConfig { epochs, ..run.config.clone() };
        let record = RunRecord::new(&self.network, &config, &run.data, run.epochs.done());
        Some(RunRecord { run_id: run.run_id.clone(), position: run.epochs.position(), ..record })
    }

    /// The metadata a model file of this session holds: the run record, or the metadata the
    /// model came with.
    fn model_metadata(&self) -> std::collections::HashMap<String, String> {
        let mut metadata = self.record().map_or_else(|| self.metadata.clone(), |r| r.to_metadata());
        if let Some((accuracy, examples)) = self.run.as_ref().and_then(|r| r.last_test) {
            metadata.insert(record::TEST_ACCURACY.into(), accuracy.to_string());
            metadata.insert(record::TEST_EXAMPLES.into(), examples.to_string());
        }
        metadata
    }

    /// The metadata of a model file without its optimizer file: no place within an epoch, which
    /// only a run's pair of files continues from.
    fn model_alone_metadata(&self) -> std::collections::HashMap<String, String> {
        let mut metadata = self.model_metadata();
        metadata.remove(record::POSITION);
        metadata
    }

    /// Saves the model (safetensors, PyTorch's state_dict names) to `path`, atomically.
    pub async fn save_async(&self, path: &Path) -> Result<()> {
        checkpoint::save(path, &self.parameters_async().await?, self.model_alone_metadata())
    }

    /// The model as the bytes `save_async` would write.
    pub async fn to_bytes_async(&self) -> Result<Vec<u8>> {
        checkpoint::to_bytes(&self.parameters_async().await?, self.model_alone_metadata())
    }

    /// Saves the model and, beside it, the optimizer state a resumed run needs.
    pub async fn save_training_async(&self, path: &Path) -> Result<()> {
        self.run()?;
        let params = self.engine.parameters_async().await?;
        let state = self.engine.optimizer_state_async().await?;
        checkpoint::save_training(path, &params, &state, self.model_metadata())
    }
}
