//! Downloading MNIST, Fashion-MNIST or CIFAR-10: what to fetch (names and published MD5s) and from where
//! (the mirrors) is here, always built; the fetching itself is in `http`, built with the
//! `download` feature only (ureq needs sockets and a file system, so a wasm32 build leaves it out).

use std::time::Duration;

use md5::{Digest, Md5};

#[cfg(feature = "download")]
mod http;
#[cfg(feature = "download")]
pub(crate) use http::fetch;
#[cfg(feature = "download")]
pub use http::{download, download_with};

/// A file to fetch: its name on the mirror (also its local name) and its expected MD5 (hex).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteFile {
    pub name: &'static str,
    pub md5: &'static str,
}

/// The four MNIST files with the MD5s published with the original distribution.
pub const MNIST_FILES: [RemoteFile; 4] = [
    RemoteFile { name: "train-images-idx3-ubyte.gz", md5: "f68b3c2dcbeaaa9fbdd348bbdeb94873" },
    RemoteFile { name: "train-labels-idx1-ubyte.gz", md5: "d53e105ee54ea40749a09fcbcd1e9432" },
    RemoteFile { name: "t10k-images-idx3-ubyte.gz", md5: "9fb629c4189551a2d022fa330f9573f3" },
    RemoteFile { name: "t10k-labels-idx1-ubyte.gz", md5: "ec29112dd5afa0611ce80d1b7f02629c" },
];

/// Mirrors of MNIST tried in order (the original site now refuses scripted downloads).
pub const DEFAULT_MIRRORS: &[&str] = &[
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
];

/// Environment variable with comma-separated MNIST mirror base URLs, replacing the defaults.
pub const MIRROR_ENV: &str = "LENET_MNIST_MIRROR";

/// The four Fashion-MNIST files (same names and format as MNIST's), with the MD5s published in
/// zalandoresearch/fashion-mnist's README.
pub const FASHION_MNIST_FILES: [RemoteFile; 4] = [
    RemoteFile { name: "train-images-idx3-ubyte.gz", md5: "8d4fb7e6c68d591d4c3dfef9ec88bf0d" },
    RemoteFile { name: "train-labels-idx1-ubyte.gz", md5: "25c81989df183df01b3e8a0aad5dffbe" },
    RemoteFile { name: "t10k-images-idx3-ubyte.gz", md5: "bef4ecab320f06d8554ea6380940ec79" },
    RemoteFile { name: "t10k-labels-idx1-ubyte.gz", md5: "bb300cfdad3c16e7a12a480ee83cd310" },
];

/// Mirrors of Fashion-MNIST tried in order: its own site, then the copy in its GitHub repository.
pub const FASHION_MNIST_MIRRORS: &[&str] = &[
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
];

/// As `MIRROR_ENV`, for Fashion-MNIST.
pub const FASHION_MNIST_MIRROR_ENV: &str = "LENET_FASHION_MNIST_MIRROR";

/// CIFAR-10's binary version, one archive, with the MD5 its page publishes.
pub const CIFAR10_FILES: [RemoteFile; 1] =
    [RemoteFile { name: "cifar-10-binary.tar.gz", md5: "c32a1d4ab5d03f1284bb1c3e0e67d4b8" }];

/// CIFAR-10's home, its one source.
pub const CIFAR10_MIRRORS: &[&str] = &["https://www.cs.toronto.edu/~kriz/"];

/// As `MIRROR_ENV`, for CIFAR-10.
pub const CIFAR10_MIRROR_ENV: &str = "LENET_CIFAR10_MIRROR";

/// How long a download waits on a server before giving up on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// To resolve the host and connect: an offline machine or a dead host is found out in seconds.
    pub connect: Duration,
    /// For the server to start answering once the request is sent.
    pub response: Duration,
    /// The longest silence tolerated mid-body: a stalled server must not hang us forever, while
    /// a slow but moving transfer is never cut off.
    pub stall: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(3),
            response: Duration::from_secs(15),
            stall: Duration::from_secs(20),
        }
    }
}

/// MNIST's mirrors: from `LENET_MNIST_MIRROR` when it is set and non-empty, else the defaults.
pub fn mirrors_from_env() -> Vec<String> {
    mirrors_from(MIRROR_ENV, DEFAULT_MIRRORS)
}

/// The mirrors the environment variable `var` lists when it is set and non-empty, else `defaults`.
pub fn mirrors_from(var: &str, defaults: &[&str]) -> Vec<String> {
    let from_env = std::env::var(var).map(|v| parse_mirrors(&v)).unwrap_or_default();
    if from_env.is_empty() { defaults.iter().map(|m| m.to_string()).collect() } else { from_env }
}

fn parse_mirrors(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|m| !m.is_empty()).map(String::from).collect()
}

/// The MD5 of `bytes` in lowercase hex, as checksums are published.
pub fn md5_hex(bytes: &[u8]) -> String {
    hex(&Md5::digest(bytes))
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_list_parsing() {
        assert_eq!(parse_mirrors(" http://a/x/ , ,http://b"), ["http://a/x/", "http://b"]);
        assert!(parse_mirrors(" , ").is_empty());
    }
}
