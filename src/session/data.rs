//! The data a session trains and evaluates on: found, downloaded or generated as
//! `data::mnist::obtain` does, checked against the network's input, and cut to the limits asked
//! for.

use crate::Result;
use crate::data::mnist::{self, DataOptions, DatasetChoice, Loaded};
use crate::model::Shape;
use std::path::PathBuf;

/// Which data, from where.
#[derive(Clone, Debug)]
pub struct DataRequest {
    /// Which data set (`auto`: MNIST, or synthetic digits with a notice when none is found).
    pub choice: DatasetChoice,
    /// The directory of the data set's files (default: the collection's own, see
    /// `Collection::data_dir`).
    pub data_dir: Option<PathBuf>,
    /// Seed of synthetic digits.
    pub seed: u64,
    /// Whether a download may be tried when the files are missing.
    pub download: bool,
    /// Use only the first N training images.
    pub limit_train: Option<usize>,
    /// Use only the first N test images.
    pub limit_test: Option<usize>,
    /// Show a download's progress bars on the terminal (the command line does; a page or a
    /// notebook shows nothing there).
    pub download_progress: bool,
    /// Read only the test set (the training set is left empty): all evaluation needs.
    pub test_only: bool,
}

/// The data `request` asks for, for a network taking `input` (images of another size are
/// refused, naming the file). `Loaded::description` says what it is; `notice`, why it is not
/// what was asked for, if so.
pub fn load_data(request: &DataRequest, input: Shape) -> Result<Loaded> {
    let collection = request.choice.collection().unwrap_or(mnist::Collection::Mnist);
    let named = collection.named_data_dir(request.data_dir.as_deref());
    let opts = DataOptions {
        dir_named: named.is_some(),
        data_dir: named.unwrap_or_else(|| collection.default_data_dir()),
        choice: request.choice,
        seed: request.seed,
        download: request.download,
        progress: request.download_progress,
        test_only: request.test_only,
    };
    let mut loaded = mnist::obtain(&opts)?;
    loaded.check_input(input)?;
    if let Some(n) = request.limit_train {
        loaded.split.train = loaded.split.train.take(n);
    }
    if let Some(n) = request.limit_test {
        loaded.split.test = loaded.split.test.take(n);
    }
    Ok(loaded)
}
