//! The IDX reader, MNIST loading and the dataset policy, synthetic digits, and the real MNIST.

mod common;

use std::path::{Path, PathBuf};

use common::{TempDir, gzip, idx_images, idx_labels, images_of, labels_of, shared_mnist_dir, write};
use lenet_gpu::data::mnist::{self, DataOptions, DatasetChoice};
use lenet_gpu::data::{idx, synthetic};

/// The error's message, asserting that it names `path` and contains every one of `words`.
fn assert_error<T: std::fmt::Debug>(result: lenet_gpu::Result<T>, path: &Path, words: &[&str]) -> String {
    let message = result.expect_err("expected an error").to_string();
    let name = path.file_name().and_then(|n| n.to_str()).expect("test paths have names");
    assert!(message.contains(name), "error does not name {name}: {message}");
    for word in words {
        assert!(message.contains(word), "error lacks {word:?}: {message}");
    }
    assert!(!message.contains('\n'), "error is not one line: {message}");
    message
}

fn file_with(dir: &TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    write(&path, bytes);
    path
}

// ---- IDX reader -------------------------------------------------------------------------------

#[test]
fn reads_good_files_raw_and_gzipped() {
    let dir = TempDir::new("idx-good");
    let images = images_of(3, 4);
    let labels = labels_of(3);
    for (suffix, pack) in [("", false), (".gz", true)] {
        let pack = |b: &[u8]| if pack { gzip(b) } else { b.to_vec() };
        let ip = file_with(&dir, &format!("images{suffix}"), &pack(&images));
        let lp = file_with(&dir, &format!("labels{suffix}"), &pack(&labels));
        assert_eq!(idx::read_file(&ip).unwrap(), images);
        let (n, rows, cols, pixels) = idx::load_images(&ip).unwrap();
        assert_eq!((n, rows, cols), (3, 4, 4));
        assert_eq!(pixels, images[16..]);
        assert_eq!(idx::load_labels(&lp).unwrap(), vec![0, 1, 2]);
    }
}

#[test]
fn wrong_magic_says_expected_and_found_and_hints_at_a_swap() {
    let dir = TempDir::new("idx-magic");
    let labels = file_with(&dir, "labels", &labels_of(2));
    assert_error(idx::load_images(&labels), &labels, &["magic", "0x00000801", "0x00000803", "swapped"]);
    let images = file_with(&dir, "images", &images_of(2, 2));
    assert_error(idx::load_labels(&images), &images, &["magic", "0x00000803", "0x00000801", "swapped"]);
    let text = file_with(&dir, "text", b"hello, this is not IDX at all");
    assert_error(idx::load_images(&text), &text, &["magic", "0x68656c6c"]);
}

#[test]
fn empty_and_truncated_headers() {
    let dir = TempDir::new("idx-header");
    let empty = file_with(&dir, "empty", b"");
    assert_error(idx::load_images(&empty), &empty, &["0 bytes", "too short"]);
    assert_error(idx::load_labels(&empty), &empty, &["0 bytes", "too short"]);
    let three = file_with(&dir, "three", &[0, 0, 8]);
    assert_error(idx::load_labels(&three), &three, &["3 bytes"]);
    let short = file_with(&dir, "short-header", &images_of(1, 2)[..10]);
    assert_error(idx::load_images(&short), &short, &["truncated", "header", "10 bytes"]);
    let short = file_with(&dir, "short-label-header", &labels_of(1)[..6]);
    assert_error(idx::load_labels(&short), &short, &["truncated", "header"]);
}

#[test]
fn zero_and_absurd_dimensions() {
    let dir = TempDir::new("idx-dims");
    let zero_n = file_with(&dir, "zero-n", &idx_images(0, 28, 28, &[]));
    assert_error(idx::load_images(&zero_n), &zero_n, &["0 images"]);
    let zero_rows = file_with(&dir, "zero-rows", &idx_images(1, 0, 28, &[]));
    assert_error(idx::load_images(&zero_rows), &zero_rows, &["0x28"]);
    let wide = file_with(&dir, "wide", &idx_images(1, 28, 70_000, &[0; 64]));
    assert_error(idx::load_images(&wide), &wide, &["28x70000"]);
    // A header claiming ~4 billion full-size images must not make the reader allocate for them.
    let huge = file_with(&dir, "huge", &idx_images(u32::MAX, 1024, 1024, &[0; 64]));
    assert_error(idx::load_images(&huge), &huge, &["truncated", "4294967295 images"]);
    let zero_labels = file_with(&dir, "zero-labels", &idx_labels(0, &[]));
    assert_error(idx::load_labels(&zero_labels), &zero_labels, &["0 labels"]);
    let many_labels = file_with(&dir, "many-labels", &idx_labels(u32::MAX, &[1, 2]));
    assert_error(idx::load_labels(&many_labels), &many_labels, &["truncated", "4294967295 labels"]);
}

#[test]
fn data_length_must_match_the_header() {
    let dir = TempDir::new("idx-length");
    let mut images = images_of(3, 2);
    images.pop();
    let short = file_with(&dir, "short-images", &images);
    assert_error(idx::load_images(&short), &short, &["truncated", "3 images of 2x2", "12 bytes", "11 bytes"]);
    let mut images = images_of(3, 2);
    images.extend([1, 2, 3]);
    let long = file_with(&dir, "long-images", &images);
    assert_error(idx::load_images(&long), &long, &["3 unexpected trailing bytes"]);
    let short = file_with(&dir, "short-labels", &idx_labels(5, &[1, 2, 3]));
    assert_error(idx::load_labels(&short), &short, &["truncated", "5 labels"]);
    let long = file_with(&dir, "long-labels", &idx_labels(2, &[1, 2, 3]));
    assert_error(idx::load_labels(&long), &long, &["1 unexpected trailing bytes"]);
}

#[test]
fn labels_must_be_digits() {
    let dir = TempDir::new("idx-labels");
    let bad = file_with(&dir, "bad-labels", &idx_labels(4, &[0, 9, 12, 255]));
    assert_error(idx::load_labels(&bad), &bad, &["label 12 at index 2", "0-9"]);
}

#[test]
fn corrupt_gzip() {
    let dir = TempDir::new("idx-gzip");
    let packed = gzip(&images_of(20, 4));
    let truncated = file_with(&dir, "truncated.gz", &packed[..packed.len() / 2]);
    assert_error(idx::read_file(&truncated), &truncated, &["gzip"]);
    assert_error(idx::load_images(&truncated), &truncated, &["gzip"]);
    let mut flipped = packed.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x55;
    let flipped = file_with(&dir, "flipped.gz", &flipped);
    assert_error(idx::load_images(&flipped), &flipped, &["gzip"]);
    let fake = file_with(&dir, "fake.gz", &[0x1f, 0x8b, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert_error(idx::load_images(&fake), &fake, &["gzip"]);
    // Valid gzip around garbage: the IDX check names it.
    let garbage = file_with(&dir, "garbage.gz", &gzip(b"this is gzip, but of garbage"));
    assert_error(idx::load_labels(&garbage), &garbage, &["magic"]);
}

#[test]
fn missing_file_is_named() {
    let path = Path::new("/nonexistent/lenet/images.gz");
    assert_error(idx::load_images(path), path, &[]);
}

// ---- MNIST directory --------------------------------------------------------------------------

/// Writes a tiny MNIST-like directory: train (gzipped) and test (raw) with the given counts.
fn tiny_mnist(dir: &TempDir, train: (u32, u32), test: (u32, u32), test_side: u32) {
    write(&dir.join(&format!("{}.gz", mnist::TRAIN_IMAGES)), &gzip(&images_of(train.0, 4)));
    write(&dir.join(&format!("{}.gz", mnist::TRAIN_LABELS)), &gzip(&labels_of(train.1)));
    write(&dir.join(mnist::TEST_IMAGES), &images_of(test.0, test_side));
    write(&dir.join(mnist::TEST_LABELS), &labels_of(test.1));
}

#[test]
fn loads_a_directory_of_gzipped_and_raw_files() {
    let dir = TempDir::new("mnist-good");
    assert!(!mnist::files_present(dir.path()));
    tiny_mnist(&dir, (12, 12), (5, 5), 4);
    assert!(mnist::files_present(dir.path()));
    let split = mnist::load(dir.path()).unwrap();
    assert_eq!((split.train.len(), split.test.len()), (12, 5));
    assert_eq!((split.train.rows, split.train.cols), (4, 4));
    assert_eq!(split.train.images, images_of(12, 4)[16..]);
    assert_eq!(split.test.labels, [0, 1, 2, 3, 4]);
}

#[test]
fn image_and_label_counts_must_agree() {
    let dir = TempDir::new("mnist-count");
    tiny_mnist(&dir, (12, 11), (5, 5), 4);
    let labels = dir.join(&format!("{}.gz", mnist::TRAIN_LABELS));
    assert_error(mnist::load(dir.path()), &labels, &["11 labels", mnist::TRAIN_IMAGES, "12 images"]);
}

#[test]
fn train_and_test_image_sizes_must_agree() {
    let dir = TempDir::new("mnist-size");
    tiny_mnist(&dir, (12, 12), (5, 5), 3);
    let test_images = dir.join(mnist::TEST_IMAGES);
    assert_error(mnist::load(dir.path()), &test_images, &["3x3", "4x4", mnist::TRAIN_IMAGES]);
}

#[test]
fn mnist_from_the_bytes_of_its_four_files_equals_mnist_from_its_directory() {
    let dir = TempDir::new("mnist-bytes");
    tiny_mnist(&dir, (12, 12), (5, 5), 4);
    let read = |name: &str| {
        std::fs::read(dir.join(&format!("{name}.gz"))).or_else(|_| std::fs::read(dir.join(name))).unwrap()
    };
    let split = mnist::from_bytes(mnist::FILES.map(read)).unwrap();
    let loaded = mnist::load(dir.path()).unwrap();
    assert_eq!((split.train.images, split.train.labels), (loaded.train.images, loaded.train.labels));
    assert_eq!((split.test.images, split.test.labels), (loaded.test.images, loaded.test.labels));
    // The files in the wrong order: labels where images belong, named as such.
    let swapped = [
        read(mnist::TRAIN_LABELS),
        read(mnist::TRAIN_IMAGES),
        read(mnist::TEST_IMAGES),
        read(mnist::TEST_LABELS),
    ];
    let train_images = PathBuf::from(format!("{}.gz", mnist::TRAIN_IMAGES));
    assert_error(mnist::from_bytes(swapped), &train_images, &["magic"]);
}

#[test]
fn a_missing_file_is_named() {
    let dir = TempDir::new("mnist-missing");
    tiny_mnist(&dir, (12, 12), (5, 5), 4);
    std::fs::remove_file(dir.join(mnist::TEST_LABELS)).unwrap();
    assert!(!mnist::files_present(dir.path()));
    let err = mnist::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains(mnist::TEST_LABELS) && err.contains("not found"), "{err}");
}

// ---- obtain -----------------------------------------------------------------------------------

fn options(dir: &Path, choice: DatasetChoice) -> DataOptions {
    DataOptions {
        data_dir: dir.to_path_buf(),
        dir_named: false, // the default directory: `Auto` may stand synthetic digits in
        choice,
        seed: 7,
        download: false,
        progress: false,
        test_only: false,
    }
}

#[test]
fn obtain_synthetic() {
    let loaded = mnist::obtain(&options(Path::new("/nonexistent"), DatasetChoice::Synthetic)).unwrap();
    assert!(loaded.description.contains("synthetic"), "{}", loaded.description);
    assert!(loaded.notice.is_none());
    assert_eq!((loaded.split.train.len(), loaded.split.test.len()), (60_000, 10_000));
    assert_eq!((loaded.split.train.rows, loaded.split.train.cols), (28, 28));
}

#[test]
fn obtain_auto_falls_back_to_synthetic_with_advice() {
    let dir = TempDir::new("obtain-auto");
    let loaded = mnist::obtain(&options(dir.path(), DatasetChoice::Auto)).unwrap();
    assert!(loaded.description.contains("synthetic"), "{}", loaded.description);
    let notice = loaded.notice.expect("a fallback comes with a notice");
    let dir_text = dir.path().display().to_string();
    assert!(matches!(notice, mnist::DataNotice::Synthetic { collection: mnist::Collection::Mnist, .. }));
    // The command line words the advice with its flags (cli: the same notice through `lenet train`).
    let notice = notice.to_string();
    for word in [dir_text.as_str(), "synthetic", "LENET_DATA_DIR", "put its four files there"] {
        assert!(notice.contains(word), "notice lacks {word:?}: {notice}");
    }
    assert!(!notice.contains('\n'), "notice is not one line: {notice}");
}

#[test]
fn a_named_directory_is_used_as_given_and_its_missing_files_named() {
    let dir = TempDir::new("obtain-named");
    let named = |choice| DataOptions { dir_named: true, ..options(dir.path(), choice) };
    // Nothing there: an error naming the directory and how to fetch the data, no stand-in.
    let err = mnist::obtain(&named(DatasetChoice::Auto)).unwrap_err();
    assert!(matches!(err, lenet_gpu::Error::DataMissing { .. }), "{err:?}");
    let text = err.to_string();
    let dir_text = dir.path().display().to_string();
    for word in [dir_text.as_str(), "none of its four MNIST files", "downloading is disabled"] {
        assert!(text.contains(word), "error lacks {word:?}: {text}");
    }
    // One file missing: that file is named.
    tiny_mnist(&dir, (12, 12), (5, 5), 4);
    std::fs::remove_file(dir.join(mnist::TEST_LABELS)).unwrap();
    let text = mnist::obtain(&named(DatasetChoice::Auto)).unwrap_err().to_string();
    assert!(text.contains("(t10k-labels-idx1-ubyte.gz missing)"), "{text}");
    // Synthetic digits only when asked for.
    let loaded = mnist::obtain(&named(DatasetChoice::Synthetic)).unwrap();
    assert!(loaded.collection.is_none() && loaded.notice.is_none());
}

#[test]
fn obtain_mnist_fails_with_advice_when_absent() {
    let dir = TempDir::new("obtain-mnist");
    let err = mnist::obtain(&options(dir.path(), DatasetChoice::Mnist)).unwrap_err();
    assert!(
        matches!(err, lenet_gpu::Error::DataMissing { collection: mnist::Collection::Mnist, .. }),
        "{err:?}"
    );
    // The flags and `lenet download` are the command line's (cli: insisting_on_mnist_...).
    let err = err.to_string();
    let dir_text = dir.path().display().to_string();
    for word in [dir_text.as_str(), "LENET_DATA_DIR", "could not be downloaded", "put its four files there"] {
        assert!(err.contains(word), "error lacks {word:?}: {err}");
    }
}

#[test]
fn obtain_auto_loads_mnist_and_reports_malformed_files() {
    let dir = TempDir::new("obtain-files");
    tiny_mnist(&dir, (12, 12), (5, 5), 4);
    let loaded = mnist::obtain(&options(dir.path(), DatasetChoice::Auto)).unwrap();
    assert!(loaded.description.starts_with("MNIST from"), "{}", loaded.description);
    assert!(loaded.description.contains("12 train, 5 test"), "{}", loaded.description);
    assert!(loaded.notice.is_none());
    // A present but broken file is an error, never a silent fallback.
    write(&dir.join(mnist::TEST_LABELS), &idx_labels(5, &[0, 1, 2, 3, 10]));
    let bad = dir.join(mnist::TEST_LABELS);
    assert_error(mnist::obtain(&options(dir.path(), DatasetChoice::Auto)), &bad, &["label 10 at index 4"]);
}

// ---- synthetic digits -------------------------------------------------------------------------

#[test]
fn synthetic_digits_are_deterministic_and_plausible() {
    let a = synthetic::generate(2000, 100, 1);
    assert_eq!(a.train, synthetic::generate(2000, 100, 1).train);
    assert_eq!(a.test, synthetic::generate(2000, 100, 1).test);
    let b = synthetic::generate(2000, 100, 2);
    assert_ne!(a.train.images, b.train.images);
    assert_ne!(a.train.images[..784 * 100], a.test.images[..], "train and test share a stream");
    assert_eq!((a.train.len(), a.test.len(), a.train.rows, a.train.cols), (2000, 100, 28, 28));
    let mut counts = [0usize; 10];
    for (i, &label) in a.train.labels.iter().enumerate() {
        assert!(label < 10);
        counts[label as usize] += 1;
        let ink = a.train.image(i).iter().filter(|&&p| p > 128).count();
        assert!((10..400).contains(&ink), "image {i} (a {label}) has {ink} inked pixels");
        let img = a.train.image(i);
        let edge = (0..28)
            .any(|j| [img[j], img[27 * 28 + j], img[j * 28], img[j * 28 + 27]].iter().any(|&p| p > 128));
        assert!(!edge, "image {i} (a {label}) touches the edge");
    }
    assert!(counts.iter().all(|&c| c > 120), "labels unbalanced: {counts:?}");
}

// ---- the real MNIST ---------------------------------------------------------------------------

#[test]
fn real_mnist_loads_with_the_known_label_counts() {
    let Some(dir) = shared_mnist_dir() else { return };
    let split = mnist::load(&dir).unwrap();
    assert_eq!((split.train.len(), split.test.len()), (60_000, 10_000));
    assert_eq!((split.train.rows, split.train.cols), (28, 28));
    let mut counts = [0usize; 10];
    for &label in &split.train.labels {
        counts[label as usize] += 1;
    }
    assert_eq!(counts, [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
}

#[test]
fn evaluation_reads_the_test_set_alone_and_gets_the_same_one() {
    let dir = TempDir::new("obtain-test-only");
    tiny_mnist(&dir, (12, 12), (5, 5), 4);
    for choice in [DatasetChoice::Auto, DatasetChoice::Synthetic] {
        let both = mnist::obtain(&options(dir.path(), choice)).unwrap();
        let test_only =
            mnist::obtain(&DataOptions { test_only: true, ..options(dir.path(), choice) }).unwrap();
        assert_eq!(test_only.split.test, both.split.test, "{choice:?}");
        assert!(test_only.split.train.is_empty(), "{choice:?}: no training set read");
        let size = |s: &lenet_gpu::data::Split| (s.train.rows, s.train.cols);
        assert_eq!(size(&test_only.split), size(&both.split), "{choice:?}: the images' size is known");
        let test = format!("({} test)", both.split.test.len());
        assert!(test_only.description.ends_with(&test), "{}", test_only.description);
    }
}
