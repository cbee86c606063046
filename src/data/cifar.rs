//! CIFAR-10's binary version (Krizhevsky, 2009): `data_batch_1.bin` .. `data_batch_5.bin` and
//! `test_batch.bin`, each a run of 3073-byte records: one label byte (0-9), then the 32x32 red,
//! green and blue planes, row-major. That is the `Dataset` layout already, so records are only
//! split into labels and pixels. Published as one `.tar.gz`; `unpack` takes the six files out of
//! it (with the `download` feature, which brings the tar reader).

use super::{Dataset, Split};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

pub const CHANNELS: usize = 3;
pub const SIDE: usize = 32;
/// Bytes of one image: three 32x32 planes.
pub const PIXELS: usize = CHANNELS * SIDE * SIDE;
/// Bytes of one record: the label, then the image.
pub const RECORD: usize = 1 + PIXELS;
pub const TRAIN_FILES: [&str; 5] =
    ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];
pub const TEST_FILE: &str = "test_batch.bin";
/// The directory the published archive unpacks into; the files are looked for there too.
pub const ARCHIVE_DIR: &str = "cifar-10-batches-bin";

/// CIFAR-10's classes, by label.
pub const CLASSES: [&str; 10] =
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

/// The six files, the test file last.
pub fn files() -> impl Iterator<Item = &'static str> {
    TRAIN_FILES.into_iter().chain([TEST_FILE])
}

/// Where `name` is: in `dir`, or in the archive's directory inside it. Anything by that name
/// counts, so a directory in a file's place is reported when it is read.
fn locate(dir: &Path, name: &str) -> Option<PathBuf> {
    [dir.join(name), dir.join(ARCHIVE_DIR).join(name)].into_iter().find(|p| p.exists())
}

/// Whether all six files are in `dir` (or in its `cifar-10-batches-bin`).
pub fn files_present(dir: &Path) -> bool {
    files().all(|name| locate(dir, name).is_some())
}

/// The files not in `dir` (nor in its `cifar-10-batches-bin`).
pub fn missing_files(dir: &Path) -> Vec<String> {
    files().filter(|name| locate(dir, name).is_none()).map(str::to_string).collect()
}

/// The path the training images are read from, for messages.
pub fn first_file(dir: &Path, test_only: bool) -> PathBuf {
    let name = if test_only { TEST_FILE } else { TRAIN_FILES[0] };
    locate(dir, name).unwrap_or_else(|| dir.join(name))
}

/// Records as a data set: every record whole, every label a class 0-9.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Dataset> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD) {
        return Err(Error::bad_data(
            path,
            format!(
                "is {} bytes, not a whole number of CIFAR-10 records ({RECORD} bytes: a label byte and 3x32x32 pixels)",
                bytes.len()
            ),
        ));
    }
    let n = bytes.len() / RECORD;
    let mut images = Vec::with_capacity(n * PIXELS);
    let mut labels = Vec::with_capacity(n);
    for (i, record) in bytes.chunks_exact(RECORD).enumerate() {
        if record[0] >= 10 {
            return Err(Error::bad_data(
                path,
                format!("record {i} has label {}, but CIFAR-10's classes are 0-9", record[0]),
            ));
        }
        labels.push(record[0]);
        images.extend_from_slice(&record[1..]);
    }
    Ok(Dataset { images, labels, channels: CHANNELS, rows: SIDE, cols: SIDE })
}

fn read(dir: &Path, name: &str) -> Result<Dataset> {
    let path = locate(dir, name).ok_or_else(|| {
        let why = format!("not found (looked in {} and {})", dir.display(), dir.join(ARCHIVE_DIR).display());
        Error::io(dir.join(name), std::io::Error::new(std::io::ErrorKind::NotFound, why))
    })?;
    parse(&std::fs::read(&path).map_err(|e| Error::io(&path, e))?, &path)
}

/// The five training files one after another, and the test file (or only the test file, the
/// training set then empty).
pub fn load(dir: &Path, test_only: bool) -> Result<Split> {
    let test = read(dir, TEST_FILE)?;
    let mut train = Dataset { images: Vec::new(), labels: Vec::new(), ..test };
    if !test_only {
        for name in TRAIN_FILES {
            let part = read(dir, name)?;
            train.images.extend(part.images);
            train.labels.extend(part.labels);
        }
    }
    Ok(Split { train, test })
}

/// The six files taken out of the published archive (`cifar-10-binary.tar.gz`) into `dir`, each
/// written through a temporary file renamed into place; the archive's other files are skipped.
/// An archive missing one of them is an error naming it.
#[cfg(feature = "download")]
pub fn unpack(archive: &Path, dir: &Path) -> Result<()> {
    let file = std::fs::File::open(archive).map_err(|e| Error::io(archive, e))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    let broken = |e: std::io::Error| Error::bad_data(archive, format!("cannot be unpacked: {e}"));
    let mut found = Vec::new();
    for entry in tar.entries().map_err(broken)? {
        let mut entry = entry.map_err(broken)?;
        let path = entry.path().map_err(broken)?.into_owned();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).and_then(|n| files().find(|f| *f == n))
        else {
            continue;
        };
        let temp = dir.join(format!(".{name}.part"));
        let mut out = std::fs::File::create(&temp).map_err(|e| Error::io(&temp, e))?;
        if let Err(e) = std::io::copy(&mut entry, &mut out) {
            let _ = std::fs::remove_file(&temp); // nothing half-written is left behind
            return Err(broken(e));
        }
        std::fs::rename(&temp, dir.join(name)).map_err(|e| Error::io(dir.join(name), e))?;
        found.push(name);
    }
    match files().find(|f| !found.contains(f)) {
        Some(missing) => Err(Error::bad_data(archive, format!("holds no {missing}"))),
        None => Ok(()),
    }
}
