//! Bad data files (`train`, `eval`): each named, with what is wrong with it.

use super::{Case, check};
use crate::common::{TempDir, gzip, idx_images, idx_labels, images_of, labels_of, write};
use lenet_gpu::checkpoint;
use lenet_gpu::model::{Network, Parameters};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A data directory holding the four MNIST files (100 training and 50 test images, raw), with
/// `replace` substituted for the file of that base name (None: a directory in its place).
fn mnist_dir(parent: &TempDir, tag: &str, replace: &str, bytes: Option<&[u8]>, gz: bool) -> PathBuf {
    let dir = parent.join(tag);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, good) in [
        ("train-images-idx3-ubyte", images_of(100, 28)),
        ("train-labels-idx1-ubyte", labels_of(100)),
        ("t10k-images-idx3-ubyte", images_of(50, 28)),
        ("t10k-labels-idx1-ubyte", labels_of(50)),
    ] {
        if name != replace {
            write(&dir.join(name), &good);
            continue;
        }
        let path = dir.join(if gz { format!("{name}.gz") } else { name.to_string() });
        match bytes {
            Some(b) => write(&path, b),
            None => std::fs::create_dir(&path).unwrap(),
        }
    }
    dir
}

/// `train` on the MNIST files in `dir`, saving to the sandbox's `out` (which must never appear).
fn train_on(dir: &Path) -> Vec<String> {
    let dir = dir.to_str().expect("UTF-8 temp path");
    ["train", "--device", "cpu", "--dataset", "mnist", "--no-download", "--data-dir", dir, "--save", "{OUT}"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

#[test]
fn bad_data_files_are_named_with_the_problem() {
    let files = TempDir::new("bad-data");
    let good_images = images_of(100, 28);
    let gz = gzip(&good_images);
    let mut short = images_of(100, 28);
    short.truncate(5000);
    let mut wrong_magic = images_of(100, 28);
    wrong_magic[..4].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    let mut label_ten = (0..100).map(|i| (i % 10) as u8).collect::<Vec<_>>();
    label_ten[50] = 10;
    let garbage: Vec<u8> = [0x1f, 0x8b].into_iter().chain((0..500).map(|i| (i * 37 % 251) as u8)).collect();
    let images = "train-images-idx3-ubyte";
    let labels = "train-labels-idx1-ubyte";
    // (what, which file is replaced, its bytes (None: a directory), gzipped, words of the error)
    type Row<'a> = (&'static str, &'a str, Option<Vec<u8>>, bool, Vec<&'static str>);
    let rows: Vec<Row> = vec![
        (
            "truncated gzip",
            images,
            Some(gz[..gz.len() / 2].to_vec()),
            true,
            vec!["corrupt or truncated gzip"],
        ),
        ("gzip of garbage", images, Some(garbage), true, vec!["corrupt or truncated gzip"]),
        ("wrong magic", images, Some(wrong_magic), false, vec!["not an IDX image file", "0x12345678"]),
        ("labels for images", images, Some(labels_of(100)), false, vec!["swapped"]),
        ("32x32 images", images, Some(images_of(100, 32)), false, vec!["32x32", "28x28"]),
        (
            "5000x5000 images",
            images,
            Some(idx_images(1, 5000, 5000, &[])),
            false,
            vec!["5000x5000", "1 to 1024"],
        ),
        ("90 labels for 100 images", labels, Some(labels_of(90)), false, vec!["90 labels", "100 images"]),
        ("label 10", labels, Some(idx_labels(100, &label_ten)), false, vec!["label 10 at index 50", "0-9"]),
        ("shorter than its header", images, Some(short), false, vec!["truncated", "78400 bytes"]),
        ("empty file", images, Some(Vec::new()), false, vec!["0 bytes long"]),
        ("a directory", images, None, false, vec!["is a directory, where a file was expected"]),
    ];
    let mut cases = Vec::new();
    for (i, (what, name, bytes, gz, words)) in rows.into_iter().enumerate() {
        let dir = mnist_dir(&files, &format!("d{i}"), name, bytes.as_deref(), gz);
        let file = dir.join(if gz { format!("{name}.gz") } else { name.to_string() });
        let args = train_on(&dir);
        cases.push(Case { what, args, code: 1, names: file.to_str().unwrap().to_string(), words });
    }
    // eval checks the image size too, before any evaluation.
    let model = files.join("lenet.safetensors");
    let plan = Network::lenet5().plan().unwrap();
    checkpoint::save(&model, &Parameters::init(&plan, 1), HashMap::new()).unwrap();
    // eval reads the test set alone: its images are the ones it checks.
    let test_images = "t10k-images-idx3-ubyte";
    let dir = mnist_dir(&files, "eval32", test_images, Some(&images_of(50, 32)), false);
    let mut args: Vec<String> =
        ["eval", "--device", "cpu", "--dataset", "mnist", "--model"].map(String::from).into();
    args.extend([model.to_str().unwrap().to_string(), "--data-dir".into(), dir.to_str().unwrap().into()]);
    cases.push(Case {
        what: "eval of 32x32 images",
        args,
        code: 1,
        names: test_images.into(),
        words: vec!["32x32"],
    });
    // The data directory is a file.
    let args = train_on(&model);
    cases.push(Case {
        what: "--data-dir naming a file",
        args,
        code: 1,
        names: model.to_str().unwrap().into(),
        words: vec!["is a file", "--data-dir"],
    });
    check(&cases);
}
