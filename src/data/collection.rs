//! The published data sets of four IDX files this engine knows (MNIST, Fashion-MNIST): their
//! names, keys, files and MD5s, mirrors, directories and class names.

use super::download::{self, RemoteFile};
use std::path::{Path, PathBuf};

/// Environment variable naming the MNIST directory when `--data-dir` is not given.
pub const DATA_DIR_ENV: &str = "LENET_DATA_DIR";
/// Where MNIST is looked for (and downloaded to) by default.
pub const DEFAULT_DATA_DIR: &str = "./data/mnist";
/// As `DATA_DIR_ENV`, for Fashion-MNIST: a directory of its own, since its files have MNIST's names.
pub const FASHION_DATA_DIR_ENV: &str = "LENET_FASHION_MNIST_DIR";
/// Where Fashion-MNIST is looked for (and downloaded to) by default.
pub const FASHION_DEFAULT_DATA_DIR: &str = "./data/fashion-mnist";

/// A published set of four IDX files that can be downloaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Collection {
    /// LeCun, Cortes and Burges' handwritten digits.
    Mnist,
    /// Zalando's article images, a drop-in replacement for MNIST (Xiao, Rasul and Vollgraf, 2017).
    FashionMnist,
}

/// Fashion-MNIST's classes, by label.
pub const FASHION_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

impl Collection {
    pub const ALL: [Collection; 2] = [Collection::Mnist, Collection::FashionMnist];

    /// Its name in messages: "MNIST", "Fashion-MNIST".
    pub fn name(self) -> &'static str {
        match self {
            Collection::Mnist => "MNIST",
            Collection::FashionMnist => "Fashion-MNIST",
        }
    }

    /// Its name on the command line and in checkpoints' "dataset" metadata: "mnist", "fashion-mnist".
    pub fn key(self) -> &'static str {
        match self {
            Collection::Mnist => "mnist",
            Collection::FashionMnist => "fashion-mnist",
        }
    }

    /// The collection a `key` names.
    pub fn from_key(key: &str) -> Option<Collection> {
        Collection::ALL.into_iter().find(|c| c.key() == key)
    }

    /// The four files with their published MD5s.
    pub fn files(self) -> &'static [RemoteFile; 4] {
        match self {
            Collection::Mnist => &download::MNIST_FILES,
            Collection::FashionMnist => &download::FASHION_MNIST_FILES,
        }
    }

    /// The environment variable naming its directory.
    pub fn dir_env(self) -> &'static str {
        match self {
            Collection::Mnist => DATA_DIR_ENV,
            Collection::FashionMnist => FASHION_DATA_DIR_ENV,
        }
    }

    /// Its directory: `flag` (--data-dir) if given, else the environment variable's if set and
    /// non-empty, else ./data/mnist or ./data/fashion-mnist.
    pub fn data_dir(self, flag: Option<&Path>) -> PathBuf {
        if let Some(dir) = flag {
            return dir.to_path_buf();
        }
        match std::env::var_os(self.dir_env()) {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => PathBuf::from(match self {
                Collection::Mnist => DEFAULT_DATA_DIR,
                Collection::FashionMnist => FASHION_DEFAULT_DATA_DIR,
            }),
        }
    }

    /// The environment variable that replaces its mirrors.
    pub fn mirror_env(self) -> &'static str {
        match self {
            Collection::Mnist => download::MIRROR_ENV,
            Collection::FashionMnist => download::FASHION_MNIST_MIRROR_ENV,
        }
    }

    /// Its mirrors: the environment variable's list if set, else the defaults.
    pub fn mirrors(self) -> Vec<String> {
        let defaults = match self {
            Collection::Mnist => download::DEFAULT_MIRRORS,
            Collection::FashionMnist => download::FASHION_MNIST_MIRRORS,
        };
        download::mirrors_from(self.mirror_env(), defaults)
    }

    /// The name of class `label`: "7" for MNIST, "Sneaker" for Fashion-MNIST.
    pub fn class_name(self, label: usize) -> String {
        match self {
            Collection::Mnist => label.to_string(),
            Collection::FashionMnist => {
                FASHION_CLASSES.get(label).map_or_else(|| label.to_string(), |n| n.to_string())
            }
        }
    }
}
