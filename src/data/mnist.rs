//! Finding, loading and (when allowed) downloading MNIST and Fashion-MNIST, and the policy for
//! falling back to synthetic digits when MNIST cannot be had.
//!
//! The two are distributed alike (the same four IDX file names and format, 28x28 gray images,
//! 10 classes), each with its own mirrors and MD5 sums; as the file names are the same, each has
//! its own directory.

use std::path::{Path, PathBuf};

pub use super::collection::*;
use super::download;
use super::{Dataset, Split, idx, synthetic};
use crate::error::{Error, Remedy, Result};

/// Base names of the four files; on disk each is `NAME.gz` (as distributed) or the raw `NAME`.
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";
pub const FILES: [&str; 4] = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS];

/// What to train on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatasetChoice {
    /// MNIST if it is there or can be downloaded; else, when no directory was named (by flag or
    /// environment), synthetic digits with a notice; a named directory is used as given.
    Auto,
    /// MNIST or an error.
    Mnist,
    /// Fashion-MNIST or an error: synthetic digits would be no stand-in for clothes.
    FashionMnist,
    /// CIFAR-10 or an error, likewise.
    Cifar10,
    /// Synthetic digits only.
    Synthetic,
}

impl DatasetChoice {
    pub const ALL: [DatasetChoice; 5] = [
        DatasetChoice::Auto,
        DatasetChoice::Mnist,
        DatasetChoice::FashionMnist,
        DatasetChoice::Cifar10,
        DatasetChoice::Synthetic,
    ];

    /// Its name, as `--dataset` takes it: a collection's key, or "auto".
    pub fn name(self) -> &'static str {
        match self {
            DatasetChoice::Auto => "auto",
            DatasetChoice::Synthetic => "synthetic",
            other => other.collection().expect("a collection").key(),
        }
    }

    /// The choice a run's recorded data set key names (None: an unknown one).
    pub fn named(key: &str) -> Option<DatasetChoice> {
        DatasetChoice::ALL.into_iter().find(|c| c.name() == key)
    }

    /// The collection this choice looks for, if any.
    pub fn collection(self) -> Option<Collection> {
        match self {
            DatasetChoice::Auto | DatasetChoice::Mnist => Some(Collection::Mnist),
            DatasetChoice::FashionMnist => Some(Collection::FashionMnist),
            DatasetChoice::Cifar10 => Some(Collection::Cifar10),
            DatasetChoice::Synthetic => None,
        }
    }
}

/// How `obtain` finds its data.
#[derive(Clone, Debug)]
pub struct DataOptions {
    pub data_dir: PathBuf,
    /// Whether the user named `data_dir` (a flag or an environment variable): then it is used as
    /// given, and missing files are an error even with `Auto`, never a synthetic stand-in.
    pub dir_named: bool,
    pub choice: DatasetChoice,
    /// Seed of the synthetic digits.
    pub seed: u64,
    /// Whether a download may be tried when the files are missing.
    pub download: bool,
    /// Whether to show download progress bars.
    pub progress: bool,
    /// Read only the test set (the training set is left empty): all evaluation needs.
    pub test_only: bool,
}

/// Why the data obtained is not what was asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataNotice {
    /// `collection` was not in its default directory `dir` (none was named) and could not be
    /// downloaded (`reason`): synthetic digits stand in.
    Synthetic { dir: PathBuf, collection: Collection, reason: String },
}

impl DataNotice {
    /// The notice, with the way to get the data asked for worded by `words` (plain words here;
    /// a command line names its flags).
    pub fn describe(&self, words: &dyn Fn(Remedy) -> String) -> String {
        match self {
            DataNotice::Synthetic { dir, collection, reason } => format!(
                "{} was not found in {} and could not be downloaded ({reason}); training on synthetic digits. {}",
                collection.name(),
                dir.display(),
                words(Remedy::GetCollection(*collection))
            ),
        }
    }
}

impl std::fmt::Display for DataNotice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe(&|r| r.to_string()))
    }
}

/// The data obtained, what it is, and possibly one line the user should see.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub split: Split,
    /// The collection it came from; None for synthetic digits.
    pub collection: Option<Collection>,
    /// E.g. "MNIST from ./data/mnist (60000 train, 10000 test)".
    pub description: String,
    /// Why the data is not what was asked for, if so.
    pub notice: Option<DataNotice>,
    /// The training images' file, when the data came from files (for messages).
    pub images_file: Option<PathBuf>,
}

impl Loaded {
    /// Checks that the images are the size a network taking `input` needs: an error naming
    /// the file when they are not (an MNIST-format file of another data set, say).
    pub fn check_input(&self, input: crate::model::Shape) -> Result<()> {
        let train = &self.split.train;
        if train.shape() == input {
            return Ok(());
        }
        // Gray images by their size, as MNIST's messages always had them; colour with channels.
        let size = |s: crate::model::Shape| match s.channels {
            1 => format!("{}x{}", s.height, s.width),
            _ => s.to_string(),
        };
        let want = match input.channels {
            1 => format!("MNIST-format files of {} images", size(input)),
            _ => format!("CIFAR-10's files ({input} images)"),
        };
        let problem = format!(
            "holds {} images, but the network takes {input} inputs: give it {want}",
            size(train.shape())
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

/// The files of `collection` not in `dir`, by the names it is distributed under.
pub fn missing_files(collection: Collection, dir: &Path) -> Vec<String> {
    match collection {
        Collection::Cifar10 => super::cifar::missing_files(dir),
        _ => {
            FILES.iter().filter(|name| locate(dir, name).is_none()).map(|name| format!("{name}.gz")).collect()
        }
    }
}

/// Whether all four files are in `dir`, gzipped or raw.
pub fn files_present(dir: &Path) -> bool {
    FILES.iter().all(|name| locate(dir, name).is_some())
}

/// MNIST's directory: `--data-dir` if given, else `LENET_DATA_DIR` if set and non-empty, else
/// `./data/mnist`.
pub fn default_data_dir(flag: Option<&Path>) -> PathBuf {
    Collection::Mnist.data_dir(flag)
}

/// Loads and cross-checks the four files in `dir` (train and test decoded in parallel).
pub fn load(dir: &Path) -> Result<Split> {
    let (train, test) =
        rayon::join(|| load_set(dir, TRAIN_IMAGES, TRAIN_LABELS), || load_set(dir, TEST_IMAGES, TEST_LABELS));
    same_size(train?, test?, &path_of(dir, TRAIN_IMAGES), &path_of(dir, TEST_IMAGES))
}

/// MNIST from the four files' bytes (gzipped or raw), in `FILES`' order: what a web page fetched
/// or a user picked. Messages name each file by its usual name.
pub fn from_bytes(files: [Vec<u8>; 4]) -> Result<Split> {
    let [train_images, train_labels, test_images, test_labels] = files;
    let named = |name: &str| PathBuf::from(format!("{name}.gz"));
    let set = |images: Vec<u8>, images_name: &str, labels: Vec<u8>, labels_name: &str| {
        let (images_path, labels_path) = (named(images_name), named(labels_name));
        let images = idx::parse_images(&idx::decompress(images, &images_path)?, &images_path)?;
        let labels = idx::parse_labels(&idx::decompress(labels, &labels_path)?, &labels_path)?;
        labelled(images, labels, &images_path, &labels_path)
    };
    let train = set(train_images, TRAIN_IMAGES, train_labels, TRAIN_LABELS)?;
    let test = set(test_images, TEST_IMAGES, test_labels, TEST_LABELS)?;
    same_size(train, test, &named(TRAIN_IMAGES), &named(TEST_IMAGES))
}

/// The split, once its test images are checked to have the training images' size.
fn same_size(train: Dataset, test: Dataset, train_path: &Path, test_path: &Path) -> Result<Split> {
    if (train.rows, train.cols) != (test.rows, test.cols) {
        return Err(Error::bad_data(
            test_path,
            format!(
                "test images are {}x{} but the training images ({}) are {}x{}",
                test.rows,
                test.cols,
                train_path.display(),
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
    labelled(idx::load_images(&images_path)?, idx::load_labels(&labels_path)?, &images_path, &labels_path)
}

/// Images and their labels as a data set, once there is a label for every image.
fn labelled(images: idx::Images, labels: Vec<u8>, images_path: &Path, labels_path: &Path) -> Result<Dataset> {
    let (n, rows, cols, images) = images;
    if labels.len() != n {
        return Err(Error::bad_data(
            labels_path,
            format!("has {} labels but {} has {n} images", labels.len(), images_path.display()),
        ));
    }
    Ok(Dataset::gray(images, labels, rows, cols))
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

/// Gets the data `opts` asks for. With `Auto` and no directory named, missing MNIST that cannot
/// be downloaded falls back to synthetic digits with a notice (the first command, offline); a
/// directory the user named is used as given, so there missing files are an error, as they are
/// for `Mnist`, `FashionMnist` and `Cifar10` (synthetic digits are no stand-in for clothes or
/// photos). A malformed file is always an error, since silently training on something else
/// would hide it.
pub fn obtain(opts: &DataOptions) -> Result<Loaded> {
    let Some(collection) = opts.choice.collection() else {
        return Ok(synthetic_loaded(opts.seed, None, opts.test_only));
    };
    if opts.data_dir.exists() && !opts.data_dir.is_dir() {
        return Err(Error::bad_data_remedy(
            &opts.data_dir,
            "is a file, where the data directory was expected",
            Remedy::PointAtDirectory(collection),
        ));
    }
    match ensure_files(collection, opts) {
        Ok(()) => load_parts(collection, &opts.data_dir, opts.test_only),
        Err(reason) if opts.choice == DatasetChoice::Auto && !opts.dir_named => {
            let notice = DataNotice::Synthetic { dir: opts.data_dir.clone(), collection, reason };
            Ok(synthetic_loaded(opts.seed, Some(notice), opts.test_only))
        }
        Err(reason) => {
            let missing = missing_files(collection, &opts.data_dir);
            Err(Error::DataMissing { dir: opts.data_dir.clone(), collection, missing, reason })
        }
    }
}

/// Makes sure the four files are in the data directory, downloading them if allowed; on
/// failure, a short reason.
fn ensure_files(collection: Collection, opts: &DataOptions) -> std::result::Result<(), String> {
    let dir = &opts.data_dir;
    let present = |dir: &Path| match collection {
        Collection::Cifar10 => super::cifar::files_present(dir),
        _ => files_present(dir),
    };
    if present(dir) {
        return Ok(());
    }
    if !opts.download {
        return Err("downloading is disabled".to_string());
    }
    fetch_files(collection, opts)?;
    match present(dir) {
        true => Ok(()),
        false => Err(format!("the download did not produce all {}", collection.files_words())),
    }
}

#[cfg(feature = "download")]
fn fetch_files(collection: Collection, opts: &DataOptions) -> std::result::Result<(), String> {
    let timeouts = download::Timeouts::default();
    download::fetch(&opts.data_dir, &collection.mirrors(), collection.files(), opts.progress, timeouts)
        .map_err(|failure| failure.short_reason())?;
    if collection == Collection::Cifar10 {
        let archive = opts.data_dir.join(collection.files()[0].name);
        super::cifar::unpack(&archive, &opts.data_dir).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Without the `download` feature there is nothing to fetch with.
#[cfg(not(feature = "download"))]
fn fetch_files(_: Collection, _: &DataOptions) -> std::result::Result<(), String> {
    Err("downloading is not built into this build of lenet-gpu (the `download` feature is off)".to_string())
}

/// Loads `collection` from `dir`, after making sure the files are not the other collection's.
pub fn load_collection(collection: Collection, dir: &Path) -> Result<Loaded> {
    load_parts(collection, dir, false)
}

/// `load_collection`, or its test set alone.
fn load_parts(collection: Collection, dir: &Path, test_only: bool) -> Result<Loaded> {
    let (split, images_file) = if collection == Collection::Cifar10 {
        (super::cifar::load(dir, test_only)?, super::cifar::first_file(dir, test_only))
    } else {
        refuse_another_collection(collection, dir)?;
        let split = if test_only { load_test(dir)? } else { load(dir)? };
        (split, path_of(dir, if test_only { TEST_IMAGES } else { TRAIN_IMAGES }))
    };
    let description = format!("{} from {} ({})", collection.name(), dir.display(), sizes(&split, test_only));
    Ok(Loaded {
        split,
        collection: Some(collection),
        description,
        notice: None,
        images_file: Some(images_file),
    })
}

/// Loads the test set in `dir` alone; the training set is left empty (with the test images' size).
pub fn load_test(dir: &Path) -> Result<Split> {
    let test = load_set(dir, TEST_IMAGES, TEST_LABELS)?;
    let train = Dataset { images: Vec::new(), labels: Vec::new(), ..test };
    Ok(Split { train, test })
}

/// "60000 train, 10000 test", or "10000 test" when only the test set was read.
pub fn sizes(split: &Split, test_only: bool) -> String {
    match test_only {
        true => format!("{} test", split.test.len()),
        false => format!("{} train, {} test", split.train.len(), split.test.len()),
    }
}

/// The two collections' files have the same names and format, so a directory of one passes for
/// the other: an error if `dir` holds another collection's original label file (recognized by
/// its published MD5; label files are a few kilobytes, so this costs nothing).
fn refuse_another_collection(collection: Collection, dir: &Path) -> Result<()> {
    for other in Collection::ALL.into_iter().filter(|&c| c != collection) {
        for file in other.files().iter().filter(|f| f.name.contains("labels")) {
            let path = dir.join(file.name);
            let Ok(bytes) = std::fs::read(&path) else { continue };
            if download::md5_hex(&bytes) == file.md5 {
                return Err(Error::bad_data_remedy(
                    path,
                    format!("this is {}'s file, not {}'s", other.name(), collection.name()),
                    Remedy::OtherCollection(collection),
                ));
            }
        }
    }
    Ok(())
}

fn synthetic_loaded(seed: u64, notice: Option<DataNotice>, test_only: bool) -> Loaded {
    // The test set is drawn from a stream of its own: the same without the training set.
    let train = if test_only { 0 } else { synthetic::DEFAULT_TRAIN };
    let split = synthetic::generate(train, synthetic::DEFAULT_TEST, seed);
    let description = format!("synthetic digits, seed {seed} ({})", sizes(&split, test_only));
    Loaded { split, collection: None, description, notice, images_file: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_dir_flag_wins() {
        assert_eq!(default_data_dir(Some(Path::new("/x/y"))), PathBuf::from("/x/y"));
        assert_eq!(Collection::FashionMnist.data_dir(Some(Path::new("/x/y"))), PathBuf::from("/x/y"));
    }

    #[test]
    fn collections_by_key_with_their_own_files_and_class_names() {
        for c in Collection::ALL {
            assert_eq!(Collection::from_key(c.key()), Some(c));
        }
        assert_eq!(Collection::from_key("synthetic"), None);
        let names = |c: Collection| c.files().iter().map(|f| f.name).collect::<Vec<_>>();
        assert_eq!(names(Collection::Mnist), names(Collection::FashionMnist), "the same file names");
        let sums = |c: Collection| c.files().iter().map(|f| f.md5).collect::<Vec<_>>();
        assert!(sums(Collection::Mnist).iter().all(|s| !sums(Collection::FashionMnist).contains(s)));
        assert_eq!(Collection::Mnist.class_name(7), "7");
        assert_eq!(Collection::FashionMnist.class_name(0), "T-shirt/top");
        assert_eq!(Collection::FashionMnist.class_name(9), "Ankle boot");
        assert_eq!(Collection::Cifar10.class_name(3), "cat");
        assert_eq!(Collection::Cifar10.class_name(12), "12");
        assert_eq!(DatasetChoice::Cifar10.collection(), Some(Collection::Cifar10));
        assert_eq!(DatasetChoice::FashionMnist.collection(), Some(Collection::FashionMnist));
        assert_eq!(DatasetChoice::Synthetic.collection(), None);
    }
}
