//! Finding, loading and (when allowed) downloading MNIST, and the policy for falling back to
//! synthetic digits when it cannot be had.

use std::path::{Path, PathBuf};

use super::{Dataset, Split, download, idx, synthetic};
use crate::error::{Error, Result};

/// Base names of the four files; on disk each is `NAME.gz` (as distributed) or the raw `NAME`.
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";
pub const FILES: [&str; 4] = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS];

/// Environment variable naming the MNIST directory when `--data-dir` is not given.
pub const DATA_DIR_ENV: &str = "LENET_DATA_DIR";
/// Where MNIST is looked for (and downloaded to) by default.
pub const DEFAULT_DATA_DIR: &str = "./data/mnist";

/// What to train on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatasetChoice {
    /// MNIST if it is there or can be downloaded, else synthetic digits (with a notice).
    Auto,
    /// MNIST or an error.
    Mnist,
    /// Synthetic digits only.
    Synthetic,
}

/// How `obtain` finds its data.
#[derive(Clone, Debug)]
pub struct DataOptions {
    pub data_dir: PathBuf,
    pub choice: DatasetChoice,
    /// Seed of the synthetic digits.
    pub seed: u64,
    /// Whether a download may be tried when the files are missing.
    pub download: bool,
    /// Whether to show download progress bars.
    pub progress: bool,
}

/// The data obtained, what it is, and possibly one line the user should see.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub split: Split,
    /// E.g. "MNIST from ./data/mnist (60000 train, 10000 test)".
    pub description: String,
    /// E.g. why MNIST was not used.
    pub notice: Option<String>,
    /// The training images' file, when the data came from files (for messages).
    pub images_file: Option<PathBuf>,
}

impl Loaded {
    /// Checks that the images are the size a network taking `input` needs: an error naming
    /// the file when they are not (an MNIST-format file of another data set, say).
    pub fn check_input(&self, input: crate::model::Shape) -> Result<()> {
        let train = &self.split.train;
        if input.channels == 1 && (train.rows, train.cols) == (input.height, input.width) {
            return Ok(());
        }
        let problem = format!(
            "holds {}x{} images, but the network takes {input} inputs: give it MNIST-format files of {}x{} images",
            train.rows, train.cols, input.height, input.width
        );
        match &self.images_file {
            Some(path) => Err(Error::bad_data(path, problem)),
            None => Err(Error::InvalidArgument(format!("the data {problem}"))),
        }
    }
}

/// The path a file is read from: `NAME.gz` if it exists, else the raw `NAME`. Anything by
/// that name counts, so that a directory in a file's place is reported when it is read rather
/// than taken for a missing file.
fn locate(dir: &Path, name: &str) -> Option<PathBuf> {
    [dir.join(format!("{name}.gz")), dir.join(name)].into_iter().find(|p| p.exists())
}

/// Whether all four files are in `dir`, gzipped or raw.
pub fn files_present(dir: &Path) -> bool {
    FILES.iter().all(|name| locate(dir, name).is_some())
}

/// `--data-dir` if given, else `LENET_DATA_DIR` if set and non-empty, else `./data/mnist`.
pub fn default_data_dir(flag: Option<&Path>) -> PathBuf {
    if let Some(dir) = flag {
        return dir.to_path_buf();
    }
    match std::env::var_os(DATA_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(DEFAULT_DATA_DIR),
    }
}

/// Loads and cross-checks the four files in `dir` (train and test decoded in parallel).
pub fn load(dir: &Path) -> Result<Split> {
    let (train, test) =
        rayon::join(|| load_set(dir, TRAIN_IMAGES, TRAIN_LABELS), || load_set(dir, TEST_IMAGES, TEST_LABELS));
    let (train, test) = (train?, test?);
    if (train.rows, train.cols) != (test.rows, test.cols) {
        return Err(Error::bad_data(
            path_of(dir, TEST_IMAGES),
            format!(
                "test images are {}x{} but the training images ({}) are {}x{}",
                test.rows,
                test.cols,
                path_of(dir, TRAIN_IMAGES).display(),
                train.rows,
                train.cols
            ),
        ));
    }
    Ok(Split { train, test })
}

/// The path a file was (or would be) read from, for messages.
fn path_of(dir: &Path, name: &str) -> PathBuf {
    locate(dir, name).unwrap_or_else(|| dir.join(format!("{name}.gz")))
}

fn load_set(dir: &Path, images_name: &str, labels_name: &str) -> Result<Dataset> {
    let images_path = require(dir, images_name)?;
    let labels_path = require(dir, labels_name)?;
    let (n, rows, cols, images) = idx::load_images(&images_path)?;
    let labels = idx::load_labels(&labels_path)?;
    if labels.len() != n {
        return Err(Error::bad_data(
            &labels_path,
            format!("has {} labels but {} has {n} images", labels.len(), images_path.display()),
        ));
    }
    Ok(Dataset { images, labels, rows, cols })
}

fn require(dir: &Path, name: &str) -> Result<PathBuf> {
    locate(dir, name).ok_or_else(|| {
        let missing = std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("not found (looked for {name}.gz and {name} in {})", dir.display()),
        );
        Error::io(dir.join(format!("{name}.gz")), missing)
    })
}

/// Gets the data `opts` asks for. With `Auto`, missing MNIST that cannot be downloaded falls
/// back to synthetic digits with a notice; a malformed MNIST file is always an error, since
/// silently training on something else would hide it.
pub fn obtain(opts: &DataOptions) -> Result<Loaded> {
    if opts.choice == DatasetChoice::Synthetic {
        return Ok(synthetic_loaded(opts.seed, None));
    }
    if opts.data_dir.exists() && !opts.data_dir.is_dir() {
        return Err(Error::bad_data(
            &opts.data_dir,
            "is a file, where the data directory was expected: point --data-dir (or LENET_DATA_DIR) at the directory holding the four MNIST files",
        ));
    }
    match ensure_files(opts) {
        Ok(()) => load_mnist(&opts.data_dir),
        Err(reason) if opts.choice == DatasetChoice::Auto => {
            let notice = format!(
                "MNIST was not found in {} and could not be downloaded ({reason}); training on synthetic digits. {}",
                opts.data_dir.display(),
                ADVICE
            );
            Ok(synthetic_loaded(opts.seed, Some(notice)))
        }
        Err(reason) => {
            let problem = format!("MNIST not found here and it could not be downloaded ({reason}). {ADVICE}");
            Err(Error::io(&opts.data_dir, std::io::Error::new(std::io::ErrorKind::NotFound, problem)))
        }
    }
}

const ADVICE: &str = "To use MNIST, put its four files there, point --data-dir or LENET_DATA_DIR at \
                      a directory holding them, or run `lenet download`.";

/// Makes sure the four files are in the data directory, downloading them if allowed; on
/// failure, a short reason.
fn ensure_files(opts: &DataOptions) -> std::result::Result<(), String> {
    let dir = &opts.data_dir;
    if files_present(dir) {
        return Ok(());
    }
    if !opts.download {
        return Err("downloading is disabled".to_string());
    }
    let timeouts = download::Timeouts::default();
    download::fetch(dir, &download::mirrors_from_env(), &download::MNIST_FILES, opts.progress, timeouts)
        .map_err(|failure| failure.short_reason())?;
    if files_present(dir) { Ok(()) } else { Err("the download did not produce all four files".to_string()) }
}

fn load_mnist(dir: &Path) -> Result<Loaded> {
    let split = load(dir)?;
    let description =
        format!("MNIST from {} ({} train, {} test)", dir.display(), split.train.len(), split.test.len());
    Ok(Loaded { split, description, notice: None, images_file: Some(path_of(dir, TRAIN_IMAGES)) })
}

fn synthetic_loaded(seed: u64, notice: Option<String>) -> Loaded {
    let split = synthetic::generate(synthetic::DEFAULT_TRAIN, synthetic::DEFAULT_TEST, seed);
    let description =
        format!("synthetic digits, seed {seed} ({} train, {} test)", split.train.len(), split.test.len());
    Loaded { split, description, notice, images_file: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_dir_flag_wins() {
        assert_eq!(default_data_dir(Some(Path::new("/x/y"))), PathBuf::from("/x/y"));
    }
}
