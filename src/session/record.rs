//! What a training checkpoint records of the run that wrote it (`RunRecord`), as safetensors
//! metadata: enough to rebuild the network, to evaluate it on the data it was trained on, and to
//! resume the run exactly, which needs the same settings (`check_resume`).

use crate::checkpoint;
use crate::cpu::optimizer::Optimizer;
use crate::data::{MEAN, STD};
use crate::error::{ResumeProblem, RunSetting};
use crate::model::Network;
use crate::train::TrainConfig;
use crate::{Error, Result};
use std::collections::HashMap;
use std::path::Path;

/// The training data a run saw: its collection's key ("mnist", "fashion-mnist", or "synthetic")
/// and how many training examples it had (each epoch's shuffle depends on both).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataIdentity {
    pub dataset: String,
    pub train_examples: usize,
}

impl DataIdentity {
    /// Data from `collection` (None: synthetic digits) with `train_examples` training examples.
    pub fn of(collection: Option<crate::data::mnist::Collection>, train_examples: usize) -> DataIdentity {
        let dataset = collection.map_or("synthetic", |c| c.key()).to_string();
        DataIdentity { dataset, train_examples }
    }
}

/// One training run as a checkpoint records it.
#[derive(Clone, Debug)]
pub struct RunRecord {
    pub network: Network,
    pub data: DataIdentity,
    /// The last epoch trained (counted from 1).
    pub epoch: usize,
    pub seed: u64,
    pub batch_size: usize,
    pub optimizer: Optimizer,
}

impl RunRecord {
    /// A record of `config`'s run of `network` on `data` after `epoch` epochs.
    pub fn new(network: &Network, config: &TrainConfig, data: &DataIdentity, epoch: usize) -> RunRecord {
        RunRecord {
            network: network.clone(),
            data: data.clone(),
            epoch,
            seed: config.seed,
            batch_size: config.batch_size,
            optimizer: config.optimizer,
        }
    }

    /// The checkpoint metadata: the keys `lenet train --save` has always written.
    pub fn to_metadata(&self) -> HashMap<String, String> {
        HashMap::from([
            ("dataset".to_string(), self.data.dataset.clone()),
            ("train_examples".to_string(), self.data.train_examples.to_string()),
            ("format".to_string(), "pt".to_string()),
            ("architecture".to_string(), self.network.layers_string()),
            ("input".to_string(), self.network.input.to_string()),
            ("normalization".to_string(), format!("mean={MEAN},std={STD}")),
            ("epoch".to_string(), self.epoch.to_string()),
            ("seed".to_string(), self.seed.to_string()),
            ("batch_size".to_string(), self.batch_size.to_string()),
            ("optimizer".to_string(), checkpoint::describe_optimizer(&self.optimizer)),
        ])
    }

    /// The settings compared on resume, as the metadata writes them, each with the value this
    /// record has. Settings first (so a run of another network is named as such rather than as
    /// tensors of the wrong size), then the data.
    fn settings(&self) -> [(RunSetting, String); 6] {
        [
            (RunSetting::Architecture, self.network.layers_string()),
            (RunSetting::Seed, self.seed.to_string()),
            (RunSetting::BatchSize, self.batch_size.to_string()),
            (RunSetting::Optimizer, checkpoint::describe_optimizer(&self.optimizer)),
            (RunSetting::Dataset, self.data.dataset.clone()),
            (RunSetting::TrainExamples, self.data.train_examples.to_string()),
        ]
    }

    /// Whether the run saved with `metadata` (at `path`, for messages) can be continued by this
    /// one: the same network, seed, batch size, optimizer and training data. Checkpoints from
    /// before the data was recorded are taken on trust for it.
    pub fn check_resume(&self, metadata: &HashMap<String, String>, path: &Path) -> Result<()> {
        for (setting, wanted) in self.settings() {
            let saved = match metadata.get(setting.key()) {
                Some(saved) => saved,
                None if setting.is_data() => continue,
                None => return Err(cannot_resume(path, ResumeProblem::Unrecorded { setting })),
            };
            if *saved != wanted {
                let problem = ResumeProblem::Mismatch { setting, saved: saved.clone(), wanted };
                return Err(cannot_resume(path, problem));
            }
        }
        Ok(())
    }
}

/// The last epoch a saved run (its `metadata`, from `path`) trained, when a run of `epochs` in
/// all can continue it: an error when it has already trained them all.
pub fn resumable_epoch(metadata: &HashMap<String, String>, path: &Path, epochs: usize) -> Result<usize> {
    let epoch =
        recorded_epoch(metadata).ok_or_else(|| cannot_resume(path, ResumeProblem::UnreadableEpoch))?;
    if epoch >= epochs {
        return Err(cannot_resume(path, ResumeProblem::AlreadyDone { epoch }));
    }
    Ok(epoch)
}

fn cannot_resume(path: &Path, problem: ResumeProblem) -> Error {
    Error::CannotResume { path: path.to_path_buf(), problem }
}

/// The epoch a checkpoint's metadata records, if readable.
pub fn recorded_epoch(metadata: &HashMap<String, String>) -> Option<usize> {
    metadata.get("epoch").and_then(|e| e.parse().ok())
}
