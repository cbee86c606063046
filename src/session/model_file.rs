//! A saved model opened for running: its network (the one its metadata records, else the one
//! asked for, else LeNet-5), its parameters, and the metadata of the run that wrote it.

use crate::checkpoint;
use crate::data::mnist::{Collection, DatasetChoice};
use crate::model::{Network, Parameters, arch};
use crate::{Error, Result};
use std::collections::HashMap;
use std::path::Path;

/// A model as a file holds it: the network (the one it records, else the one asked for), its
/// parameters and the file's metadata.
#[derive(Clone, Debug)]
pub struct SavedModel {
    /// The network the parameters are for.
    pub network: Network,
    /// Its parameters.
    pub params: Parameters,
    /// The file's metadata (a training run's record: `RunRecord::to_metadata`).
    pub metadata: HashMap<String, String>,
}

impl SavedModel {
    /// Reads the checkpoint at `path`. `network`, when given, must be the one it records (a
    /// file without a record, e.g. one written by PyTorch, is taken to hold it).
    pub fn read(path: &Path, network: Option<Network>) -> Result<SavedModel> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        SavedModel::from_bytes(&bytes, path, network)
    }

    /// `read` on a checkpoint's bytes; `name` names it in messages.
    pub fn from_bytes(bytes: &[u8], name: &Path, network: Option<Network>) -> Result<SavedModel> {
        let metadata = checkpoint::metadata_of(name, bytes)?;
        let network = match (checkpoint::network_in(&metadata, name)?, network) {
            (Some(recorded), Some(given)) if recorded != given => {
                let (given, recorded) = (given.to_string(), recorded.to_string());
                return Err(Error::ArchitectureMismatch { path: name.to_path_buf(), given, recorded });
            }
            (Some(network), _) | (None, Some(network)) => network,
            (None, None) => Network::lenet5(),
        };
        let plan = arch::plan_for_mnist(&network)?;
        let (params, metadata) = checkpoint::parse(bytes, name, &plan)?;
        Ok(SavedModel { network, params, metadata })
    }

    /// The data set the model was trained on, when its metadata says.
    pub fn trained_on(&self) -> Option<Collection> {
        self.metadata.get("dataset").and_then(|key| Collection::from_key(key))
    }

    /// The data set to evaluate it on when none is named: the one it records (synthetic digits
    /// included), else CIFAR-10 for a colour model; None when the file does not say (one written
    /// by PyTorch, or by the Python module from arrays).
    pub fn recorded_data(&self) -> Option<DatasetChoice> {
        match self.metadata.get("dataset").map(String::as_str) {
            Some("synthetic") => Some(DatasetChoice::Synthetic),
            _ => match self.trained_on() {
                Some(Collection::Mnist) => Some(DatasetChoice::Mnist),
                Some(Collection::FashionMnist) => Some(DatasetChoice::FashionMnist),
                Some(Collection::Cifar10) => Some(DatasetChoice::Cifar10),
                None => (self.network.input == arch::CIFAR10_INPUT).then_some(DatasetChoice::Cifar10),
            },
        }
    }

    /// How to name its classes: Fashion-MNIST's and CIFAR-10's by name, else digits; a colour
    /// model whose metadata names no data set is CIFAR-10's.
    pub fn classes(&self) -> Collection {
        let by_input =
            if self.network.input == arch::CIFAR10_INPUT { Collection::Cifar10 } else { Collection::Mnist };
        self.trained_on().unwrap_or(by_input)
    }
}
