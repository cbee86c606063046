//! What downloading and reading a published data set needs (`Collection`, named in the leaf
//! module `crate::collection`): its files and their MD5s, mirrors, images' shape and class names.

use super::download::{self, RemoteFile};
pub use crate::collection::*;

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
    /// The files to download with their published MD5s: four IDX files, or CIFAR-10's archive.
    pub fn files(self) -> &'static [RemoteFile] {
        match self {
            Collection::Mnist => &download::MNIST_FILES,
            Collection::FashionMnist => &download::FASHION_MNIST_FILES,
            Collection::Cifar10 => &download::CIFAR10_FILES,
        }
    }

    /// The input shape of its images.
    pub fn input(self) -> crate::model::Shape {
        match self {
            Collection::Cifar10 => crate::model::Shape::new(3, 32, 32),
            _ => crate::model::Shape::new(1, 28, 28),
        }
    }

    /// The environment variable that replaces its mirrors.
    pub fn mirror_env(self) -> &'static str {
        match self {
            Collection::Mnist => download::MIRROR_ENV,
            Collection::FashionMnist => download::FASHION_MNIST_MIRROR_ENV,
            Collection::Cifar10 => download::CIFAR10_MIRROR_ENV,
        }
    }

    /// Its mirrors: the environment variable's list if set, else the defaults.
    pub fn mirrors(self) -> Vec<String> {
        let defaults = match self {
            Collection::Mnist => download::DEFAULT_MIRRORS,
            Collection::FashionMnist => download::FASHION_MNIST_MIRRORS,
            Collection::Cifar10 => download::CIFAR10_MIRRORS,
        };
        download::mirrors_from(self.mirror_env(), defaults)
    }

    /// The names of its classes, by label; None for digits, whose label is their name.
    pub fn classes(self) -> Option<&'static [&'static str; 10]> {
        match self {
            Collection::Mnist => None,
            Collection::FashionMnist => Some(&FASHION_CLASSES),
            Collection::Cifar10 => Some(&super::cifar::CLASSES),
        }
    }

    /// The name of class `label`: "7" for MNIST, "Sneaker" for Fashion-MNIST, "cat" for CIFAR-10.
    pub fn class_name(self, label: usize) -> String {
        self.classes().and_then(|c| c.get(label)).map_or_else(|| label.to_string(), |n| n.to_string())
    }
}
