//! Which published data set: MNIST, Fashion-MNIST or CIFAR-10, with their names, keys and
//! directories. A leaf (it imports nothing of the crate), so that `error` can name a data set
//! without importing `data`; what downloading and reading one needs (its files and mirrors, its
//! images' shape, its class names) is added in `data::collection`.

use std::path::{Path, PathBuf};

/// Environment variable naming the MNIST directory when `--data-dir` is not given.
pub const DATA_DIR_ENV: &str = "LENET_DATA_DIR";
/// Where MNIST is looked for (and downloaded to) by default.
pub const DEFAULT_DATA_DIR: &str = "./data/mnist";
/// As `DATA_DIR_ENV`, for Fashion-MNIST: a directory of its own, since its files have MNIST's names.
pub const FASHION_DATA_DIR_ENV: &str = "LENET_FASHION_MNIST_DIR";
/// Where Fashion-MNIST is looked for (and downloaded to) by default.
pub const FASHION_DEFAULT_DATA_DIR: &str = "./data/fashion-mnist";

/// As `DATA_DIR_ENV`, for CIFAR-10.
pub const CIFAR10_DATA_DIR_ENV: &str = "LENET_CIFAR10_DIR";
/// Where CIFAR-10 is looked for (and downloaded to) by default.
pub const CIFAR10_DEFAULT_DATA_DIR: &str = "./data/cifar10";

/// A published data set that can be downloaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Collection {
    /// LeCun, Cortes and Burges' handwritten digits.
    Mnist,
    /// Zalando's article images, a drop-in replacement for MNIST (Xiao, Rasul and Vollgraf, 2017).
    FashionMnist,
    /// Krizhevsky's 32x32 colour photos of ten classes (the binary version).
    Cifar10,
}

impl Collection {
    pub const ALL: [Collection; 3] = [Collection::Mnist, Collection::FashionMnist, Collection::Cifar10];

    /// Its name in messages: "MNIST", "Fashion-MNIST".
    pub fn name(self) -> &'static str {
        match self {
            Collection::Mnist => "MNIST",
            Collection::FashionMnist => "Fashion-MNIST",
            Collection::Cifar10 => "CIFAR-10",
        }
    }

    /// Its name on the command line and in checkpoints' "dataset" metadata: "mnist",
    /// "fashion-mnist", "cifar10".
    pub fn key(self) -> &'static str {
        match self {
            Collection::Mnist => "mnist",
            Collection::FashionMnist => "fashion-mnist",
            Collection::Cifar10 => "cifar10",
        }
    }

    /// The collection a `key` names.
    pub fn from_key(key: &str) -> Option<Collection> {
        Collection::ALL.into_iter().find(|c| c.key() == key)
    }

    /// How many files it is, in words: "four" (IDX), "six" (CIFAR-10's batches).
    pub fn file_count(self) -> &'static str {
        if self.file_total() == 6 { "six" } else { "four" }
    }

    /// How many files its data set is on disk (CIFAR-10's six come out of one archive).
    pub fn file_total(self) -> usize {
        if self == Collection::Cifar10 { 6 } else { 4 }
    }

    /// Its files in messages: "four MNIST files", "six CIFAR-10 files".
    pub fn files_words(self) -> String {
        format!("{} {} files", self.file_count(), self.name())
    }

    /// The environment variable naming its directory.
    pub fn dir_env(self) -> &'static str {
        match self {
            Collection::Mnist => DATA_DIR_ENV,
            Collection::FashionMnist => FASHION_DATA_DIR_ENV,
            Collection::Cifar10 => CIFAR10_DATA_DIR_ENV,
        }
    }

    /// Its directory: `flag` (--data-dir) if given, else the environment variable's if set and
    /// non-empty, else ./data/mnist or ./data/fashion-mnist.
    pub fn data_dir(self, flag: Option<&Path>) -> PathBuf {
        self.named_data_dir(flag).unwrap_or_else(|| self.default_data_dir())
    }

    /// Where its files are looked for when no directory is named: ./data/mnist, ...
    pub fn default_data_dir(self) -> PathBuf {
        PathBuf::from(match self {
            Collection::Mnist => DEFAULT_DATA_DIR,
            Collection::FashionMnist => FASHION_DEFAULT_DATA_DIR,
            Collection::Cifar10 => CIFAR10_DEFAULT_DATA_DIR,
        })
    }

    /// The directory the user named: `flag` (--data-dir), else the environment variable's if set
    /// and non-empty; None when neither names one (the default directory is then looked in).
    pub fn named_data_dir(self, flag: Option<&Path>) -> Option<PathBuf> {
        if let Some(dir) = flag {
            return Some(dir.to_path_buf());
        }
        std::env::var_os(self.dir_env()).filter(|dir| !dir.is_empty()).map(PathBuf::from)
    }
}
