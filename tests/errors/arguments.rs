//! Bad arguments (`--arch`, `--save`, `--augment`, `--validation`, a network too large for
//! memory): refused before training.

use super::{Case, check};
use crate::common::TempDir;

/// A network whose activations for a step of 60,000 examples (the synthetic training set, one
/// step) need four times the memory this machine has available: a 3x3 convolution with enough output
/// channels (each 28x28 map and its gradient: 6,272 bytes an example). Refused before anything
/// is allocated; were it not, the allocation would abort the process.
fn too_large_for_memory() -> Option<[String; 4]> {
    let available = lenet_gpu::memory::available_bytes()?;
    let channels = (4 * available).div_ceil(60_000 * 784 * 8) + 1;
    Some(["--arch".into(), format!("conv{channels}k3p1,dense10"), "--batch-size".into(), "60000".into()])
}

#[test]
fn bad_architectures_and_save_paths_are_refused_before_training() {
    let train = |extra: &[&str]| {
        let mut args: Vec<String> =
            ["train", "--device", "cpu", "--dataset", "synthetic", "--limit-train", "64"]
                .map(String::from)
                .into();
        args.extend(extra.iter().map(|s| s.to_string()));
        if !extra.contains(&"--save") {
            args.extend(["--save".to_string(), "{OUT}".to_string()]);
        }
        args
    };
    let files = TempDir::new("save-dir");
    let save_dir = files.path().to_str().unwrap().to_string();
    let mut cases = vec![
        Case {
            what: "layers that do not chain",
            args: train(&["--arch", "conv6k5,dense10,conv3k3"]),
            code: 1,
            names: "layer 3".into(),
            words: vec!["cannot take input"],
        },
        Case {
            what: "a kernel larger than the image",
            args: train(&["--arch", "conv6k50,dense10"]),
            code: 1,
            names: "layer 1".into(),
            words: vec!["window 50 is larger"],
        },
        Case {
            what: "not ten outputs",
            args: train(&["--arch", "conv6k5,dense7"]),
            code: 1,
            names: "last layer".into(),
            words: vec!["10 classes"],
        },
        Case {
            what: "an unknown layer",
            args: train(&["--arch", "conv6k5,blah,dense10"]),
            code: 2,
            names: "--arch".into(),
            words: vec!["layer 2 \"blah\"", "unknown layer"],
        },
        Case {
            what: "a layer too large",
            args: train(&["--arch", "dense16777216,dense10"]),
            code: 2,
            names: "--arch".into(),
            words: vec!["too large"],
        },
        Case {
            what: "--save naming a directory",
            args: train(&["--save", &save_dir]),
            code: 1,
            names: save_dir.clone(),
            words: vec!["is a directory"],
        },
        Case {
            what: "--save in a missing directory",
            args: train(&["--save", "{OUT}/no/m.safetensors"]),
            code: 1,
            names: "out/no".into(),
            words: vec!["does not exist"],
        },
        Case {
            what: "--augment not shift:N",
            args: train(&["--augment", "rotate:10"]),
            code: 2,
            names: "--augment".into(),
            words: vec!["expected shift:N", "or none"],
        },
        Case {
            what: "--augment shift beyond 8",
            args: train(&["--augment", "shift:9"]),
            code: 2,
            names: "--augment".into(),
            words: vec!["from 1 to 8"],
        },
        Case {
            what: "--validation holding out the whole training set",
            args: train(&["--validation", "64"]),
            code: 1,
            names: "validation split of 64".into(),
            words: vec!["has 64", "at least one must be left"],
        },
    ];
    // Where the available memory is known (Linux), a network too large for it.
    if let Some(args) = too_large_for_memory() {
        cases.push(Case {
            what: "a network too large for this machine's memory",
            args: ["train", "--device", "cpu", "--dataset", "synthetic", "--save", "{OUT}"]
                .map(String::from)
                .into_iter()
                .chain(args)
                .collect(),
            code: 1,
            names: "batch 60000".into(),
            words: vec!["needs about", "GB available", "--arch"],
        });
    }
    check(&cases);
}
