//! Every bad input of docs/errors.md, given to the `lenet` binary as a user would: each must end
//! the run with exit status 1 (2 where the argument parser rejects it), exactly one "error:" line
//! naming the file at fault and saying what is wrong, no panic, and no output file, whole or
//! partial. Also: divergence keeps the last good checkpoint, a lost GPU is reported, and a
//! training run killed mid-epoch resumes to the bit-identical end of an uninterrupted one.

mod common;

use common::{
    HANG_LIMIT, Run, TempDir, gzip, idx_images, idx_labels, images_of, labels_of, run_bounded, write,
};
use lenet_gpu::checkpoint;
use lenet_gpu::model::{Network, Parameters};
use safetensors::{Dtype, tensor::TensorView};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

impl Run {
    /// The one "error:" line of a clean failure with exit status `code`.
    fn error_line(&self, code: i32, case: &str) -> &str {
        assert_eq!(
            self.code,
            Some(code),
            "{case}: exit status\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "{case}: a panic:\n{}", self.stderr);
        let errors: Vec<&str> = self.stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{case}: one error line:\n{}", self.stderr);
        errors[0]
    }
}

/// A scratch directory to run in, with an empty data directory and a mirror nobody answers.
struct Sandbox {
    work: TempDir,
    data: TempDir,
}

impl Sandbox {
    fn new(tag: &str) -> Sandbox {
        Sandbox { work: TempDir::new(&format!("{tag}-work")), data: TempDir::new(&format!("{tag}-data")) }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lenet"));
        cmd.args(args)
            .current_dir(self.work.path())
            .env("LENET_DATA_DIR", self.data.path())
            .env("LENET_MNIST_MIRROR", "http://127.0.0.1:9/")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn run(&self, args: &[&str]) -> Run {
        run_bounded(self.command(args), args)
    }

    fn path(&self, name: &str) -> String {
        self.work.join(name).to_str().expect("UTF-8 temp path").to_string()
    }
}

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

/// One row of docs/errors.md: a command that must fail with `code`, its error line naming
/// `names` and holding each of `words`.
struct Case {
    what: &'static str,
    args: Vec<String>,
    code: i32,
    names: String,
    words: Vec<&'static str>,
}

/// Runs each case in its own sandbox (so an output file can be looked for), checking the
/// error line and that nothing was written.
fn check(cases: &[Case]) {
    for c in cases {
        let sandbox = Sandbox::new("bad");
        let out = sandbox.path("out");
        let args: Vec<String> = c.args.iter().map(|a| a.replace("{OUT}", &out)).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = sandbox.run(&args);
        let line = run.error_line(c.code, c.what);
        assert!(line.contains(&c.names), "{}: the error names {}: {line}", c.what, c.names);
        for word in &c.words {
            assert!(line.contains(word), "{}: the error says {word:?}: {line}", c.what);
        }
        assert!(!run.stdout.contains("epoch 1/"), "{}: nothing was trained:\n{}", c.what, run.stdout);
        assert_eq!(sandbox.work.entries(), Vec::<String>::new(), "{}: nothing written", c.what);
    }
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
    let dir = mnist_dir(&files, "eval32", images, Some(&images_of(100, 32)), false);
    let mut args: Vec<String> =
        ["eval", "--device", "cpu", "--dataset", "mnist", "--model"].map(String::from).into();
    args.extend([model.to_str().unwrap().to_string(), "--data-dir".into(), dir.to_str().unwrap().into()]);
    cases.push(Case {
        what: "eval of 32x32 images",
        args,
        code: 1,
        names: images.into(),
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

/// A PNG by hand, for sizes no encoder writes: the signature, an IHDR chunk claiming
/// `width`x`height` 8-bit gray, an IDAT of no pixels, and an IEND.
fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        out.extend(kind);
        out.extend(data);
        out.extend(crc.sum().to_be_bytes());
        out
    };
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0, 0, 0, 0, 1]));
    png.extend(chunk(b"IEND", &[]));
    png
}

/// A digit-like bar on a plain background.
fn bar(x: u32, y: u32) -> bool {
    (12..18).contains(&x) && (6..34).contains(&y)
}

#[test]
fn bad_image_files_are_named_and_16_bit_and_rgba_pngs_work() {
    let files = TempDir::new("bad-images");
    let model = files.join("lenet.safetensors");
    let plan = Network::lenet5().plan().unwrap();
    checkpoint::save(&model, &Parameters::init(&plan, 1), HashMap::new()).unwrap();
    let model = model.to_str().unwrap();

    // Good files first: 16-bit gray, and RGBA with the ink only in the alpha channel.
    let gray16 = files.join("gray16.png");
    image::ImageBuffer::from_fn(40, 40, |x, y| image::Luma([if bar(x, y) { 0u16 } else { 65535 }]))
        .save(&gray16)
        .unwrap();
    let rgba = files.join("rgba.png");
    image::ImageBuffer::from_fn(40, 40, |x, y| image::Rgba([0u8, 0, 0, if bar(x, y) { 255 } else { 0 }]))
        .save(&rgba)
        .unwrap();
    let sandbox = Sandbox::new("good-images");
    let run = sandbox.run(&[
        "predict",
        "--device",
        "cpu",
        "--model",
        model,
        gray16.to_str().unwrap(),
        rgba.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 2, "a line per image:\n{}", run.stdout);

    let path = |name: &str, bytes: &[u8]| {
        let p = files.join(name);
        write(&p, bytes);
        p.to_str().unwrap().to_string()
    };
    let not_image = path("notes.png", b"hello, this is not a picture\n");
    let empty = path("empty.png", b"");
    let zero = path("zero.png", &png_header_only(0, 0));
    let huge = path("huge.png", &png_header_only(20_000, 20_000));
    let mut truncated = std::fs::read(&gray16).unwrap();
    truncated.truncate(60);
    let truncated = path("truncated.png", &truncated);
    let blank = files.join("blank.png");
    image::ImageBuffer::from_pixel(30, 30, image::Luma([255u8])).save(&blank).unwrap();
    let blank = blank.to_str().unwrap().to_string();
    let dir = files.path().to_str().unwrap().to_string();
    let predict = |image: &str| {
        vec!["predict", "--device", "cpu", "--model", model, image]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let row = |what, image: &str, words: &[&'static str]| Case {
        what,
        args: predict(image),
        code: 1,
        names: image.to_string(),
        words: words.to_vec(),
    };
    let mut cases = vec![
        row("not an image", &not_image, &["not an image", "PNG, JPEG, BMP and GIF"]),
        row("an empty file", &empty, &["not an image"]),
        row("0x0 pixels", &zero, &["PNG"]),
        row("20000x20000 pixels", &huge, &["20000x20000", "at most 50 megapixels"]),
        row("a truncated PNG", &truncated, &["truncated"]),
        row("a blank image", &blank, &["blank"]),
        row("a directory", &dir, &["is a directory"]),
    ];
    let mut args: Vec<String> =
        ["convolve", "--kernel", "outline", "--device", "cpu", "--out", "{OUT}"].map(String::from).into();
    args.push(huge.clone());
    cases.push(Case {
        what: "convolve of 20000x20000",
        args,
        code: 1,
        names: huge.clone(),
        words: vec!["megapixels"],
    });
    check(&cases);
}

/// A LeNet-5 checkpoint's tensors as safetensors bytes, with `edit` applied to the list first
/// (name, dtype, shape, bytes) and `metadata`.
fn checkpoint_bytes(
    edit: impl FnOnce(&mut Vec<(String, Dtype, Vec<usize>, Vec<u8>)>),
    metadata: Option<HashMap<String, String>>,
) -> Vec<u8> {
    let plan = Network::lenet5().plan().unwrap();
    let params = Parameters::init(&plan, 1);
    let mut tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = params
        .views
        .iter()
        .map(|v| {
            let bytes =
                params.values[v.offset..v.offset + v.len].iter().flat_map(|x| x.to_le_bytes()).collect();
            (v.name.clone(), Dtype::F32, v.shape.clone(), bytes)
        })
        .collect();
    edit(&mut tensors);
    let views = tensors.iter().map(|(name, dtype, shape, bytes)| {
        (name.clone(), TensorView::new(*dtype, shape.clone(), bytes).unwrap())
    });
    safetensors::serialize(views, metadata).unwrap()
}

#[test]
fn bad_checkpoints_are_named_with_the_problem() {
    let files = TempDir::new("bad-checkpoints");
    let path = |name: &str, bytes: &[u8]| {
        let p = files.join(name);
        write(&p, bytes);
        p.to_str().unwrap().to_string()
    };
    let missing =
        path("missing.safetensors", &checkpoint_bytes(|t| t.retain(|(n, ..)| n != "fc3.bias"), None));
    let shape = path(
        "shape.safetensors",
        &checkpoint_bytes(
            |t| t.iter_mut().filter(|(n, ..)| n == "conv1.weight").for_each(|x| x.2 = vec![6, 25]),
            None,
        ),
    );
    let dtype = path(
        "dtype.safetensors",
        &checkpoint_bytes(
            |t| {
                let bias = t.iter_mut().find(|(n, ..)| n == "fc3.bias").unwrap();
                (bias.1, bias.2) = (Dtype::F16, vec![20]);
            },
            None,
        ),
    );
    let good = checkpoint_bytes(|_| {}, None);
    let mut garbled = good.clone();
    let header = 8 + u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    garbled[header / 2..header / 2 + 4].copy_from_slice(b"}}}}");
    let corrupt = path("corrupt.safetensors", &garbled);
    let truncated = path("truncated.safetensors", &good[..good.len() / 2]);
    let empty = path("empty.safetensors", b"");
    // Another architecture, without metadata (as PyTorch writes it): its shapes are wrong.
    let other_plan = "conv4k3,relu,maxpool2,dense10".parse::<Network>().unwrap().plan().unwrap();
    let other = files.join("other.safetensors");
    checkpoint::save(&other, &Parameters::init(&other_plan, 1), HashMap::new()).unwrap();
    let other = other.to_str().unwrap().to_string();
    // Another architecture recorded in the metadata, against an --arch that disagrees.
    let recorded = files.join("recorded.safetensors");
    let metadata = HashMap::from([("architecture".to_string(), "conv4k3,relu,maxpool2,dense10".to_string())]);
    checkpoint::save(&recorded, &Parameters::init(&other_plan, 1), metadata).unwrap();
    let recorded = recorded.to_str().unwrap().to_string();
    let unreadable = path(
        "unreadable.safetensors",
        &checkpoint_bytes(|_| {}, Some(HashMap::from([("architecture".into(), "conv6k5p2,blah".into())]))),
    );
    let dir = files.join("dir.safetensors");
    std::fs::create_dir(&dir).unwrap();
    let dir = dir.to_str().unwrap().to_string();

    let eval = |model: &str, extra: &[&str]| {
        let mut args: Vec<String> =
            ["eval", "--device", "cpu", "--dataset", "synthetic", "--limit-test", "50", "--model"]
                .map(String::from)
                .into();
        args.push(model.to_string());
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let row = |what, model: &str, words: &[&'static str]| Case {
        what,
        args: eval(model, &[]),
        code: 1,
        names: model.to_string(),
        words: words.to_vec(),
    };
    let mut cases = vec![
        row("a missing tensor", &missing, &["tensor fc3.bias is missing"]),
        row("a wrong shape", &shape, &["conv1.weight has shape [6, 25]", "[6, 1, 5, 5]"]),
        row("a wrong dtype", &dtype, &["fc3.bias is F16, expected F32"]),
        row("a corrupt header", &corrupt, &["not a safetensors checkpoint"]),
        row("a truncated file", &truncated, &["not a safetensors checkpoint"]),
        row("an empty file", &empty, &["not a safetensors checkpoint"]),
        row("another architecture", &other, &["has shape", "another architecture"]),
        row(
            "unreadable architecture metadata",
            &unreadable,
            &["\"architecture\" metadata is unreadable", "blah"],
        ),
        row("a directory", &dir, &["is a directory"]),
        Case {
            what: "an --arch the checkpoint contradicts",
            args: eval(&recorded, &["--arch", "lenet5"]),
            code: 1,
            names: recorded.clone(),
            words: vec!["does not match the architecture recorded"],
        },
    ];
    // Resuming needs the optimizer state beside the model.
    let saved = files.join("saved.safetensors");
    let saved_arg = saved.to_str().unwrap().to_string();
    let run = Sandbox::new("save").run(&[
        "train",
        "--device",
        "cpu",
        "--dataset",
        "synthetic",
        "--limit-train",
        "64",
        "--limit-test",
        "10",
        "--save",
        &saved_arg,
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    std::fs::remove_file(checkpoint::optimizer_path(&saved)).unwrap();
    let missing = saved_arg;
    let mut args: Vec<String> = ["train", "--device", "cpu", "--dataset", "synthetic", "--limit-train", "64"]
        .map(String::from)
        .into();
    args.extend([
        "--epochs".into(),
        "2".into(),
        "--resume".into(),
        missing.clone(),
        "--save".into(),
        "{OUT}".into(),
    ]);
    cases.push(Case {
        what: "--resume without its optimizer file",
        args,
        code: 1,
        names: format!("{missing}.optim.safetensors"),
        words: vec!["not found", "lenet train --save"],
    });
    check(&cases);
}

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

#[test]
fn divergence_stops_at_its_step_and_keeps_the_last_good_checkpoint() {
    // At once: the loss is NaN by step 8 of epoch 1, and nothing is saved.
    let sandbox = Sandbox::new("diverge");
    let out = sandbox.path("m.safetensors");
    let args = ["train", "--device", "cpu", "--dataset", "synthetic", "--limit-train", "2000", "--lr", "10"];
    let run = sandbox.run(&[&args[..], &["--save", &out]].concat());
    let line = run.error_line(1, "--lr 10");
    assert!(line.contains("diverged") && line.contains("at step 8 of epoch 1"), "{line}");
    assert!(line.contains("lower learning rate, e.g. --lr 1"), "{line}");
    assert_eq!(sandbox.work.entries(), Vec::<String>::new());

    // In epoch 2 (for this seed and rate): the epoch-1 checkpoint stays as it was.
    let args =
        ["train", "--device", "cpu", "--dataset", "synthetic", "--limit-train", "500", "--limit-test", "50"];
    let args = [&args[..], &["--lr", "2.7", "--seed", "2", "--epochs", "3", "--save", &out]].concat();
    let run = sandbox.run(&args);
    let line = run.error_line(1, "--lr 2.7 --seed 2");
    assert!(
        line.contains("of epoch 2") && line.contains(&format!("{out} still holds the model after epoch 1")),
        "{line}"
    );
    let plan = Network::lenet5().plan().unwrap();
    let (params, metadata) = checkpoint::load(Path::new(&out), &plan).unwrap();
    assert_eq!(metadata["epoch"], "1");
    assert!(params.values.iter().all(|x| x.is_finite()));
    let optim = format!("{out}.optim.safetensors");
    assert_eq!(sandbox.work.entries(), ["m.safetensors", "m.safetensors.optim.safetensors"]);
    checkpoint::load_optimizer(Path::new(&out), &metadata, plan.parameter_count)
        .unwrap_or_else(|e| panic!("{optim} still pairs with the model: {e}"));
}

#[test]
fn a_gpu_lost_mid_run_is_an_error_not_a_panic() {
    if common::gpu().is_none() {
        return;
    }
    let sandbox = Sandbox::new("lost");
    let out = sandbox.path("m.safetensors");
    let args =
        ["train", "--device", "gpu", "--dataset", "synthetic", "--limit-train", "640", "--limit-test", "64"];
    let mut cmd = sandbox.command(&[&args[..], &["--save", &out]].concat());
    cmd.env(lenet_gpu::gpu::engine::LOSE_DEVICE_ENV, "3");
    let run = run_bounded(cmd, &args);
    let line = run.error_line(1, "device lost");
    assert!(line.contains("GPU") && line.contains("was lost") && line.contains("--device cpu"), "{line}");
    assert_eq!(sandbox.work.entries(), Vec::<String>::new(), "nothing saved");
}

/// The parameters of a checkpoint, as bits.
fn checkpoint_bits(path: &Path) -> Vec<u32> {
    let plan = Network::lenet5().plan().unwrap();
    checkpoint::load(path, &plan).unwrap().0.values.iter().map(|v| v.to_bits()).collect()
}

/// The epoch a checkpoint records, once it exists and is whole.
fn saved_epoch(path: &Path) -> Option<usize> {
    checkpoint::read_metadata(path).ok()?.get("epoch")?.parse().ok()
}

#[test]
fn a_run_killed_mid_epoch_resumes_to_the_same_bits_as_one_never_stopped() {
    let sandbox = Sandbox::new("killed");
    let args = |save: &str| {
        let mut a: Vec<String> =
            ["train", "--device", "cpu", "--dataset", "synthetic", "--limit-train", "3000"]
                .map(String::from)
                .into();
        a.extend(["--limit-test", "100", "--epochs", "4", "--seed", "9", "--save", save].map(String::from));
        a
    };
    let straight = sandbox.path("straight.safetensors");
    let args_straight = args(&straight);
    let run = sandbox.run(&args_straight.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run.code, Some(0), "{}", run.stderr);

    // The same run, killed (SIGKILL on Unix) as soon as its first checkpoint is whole: that is
    // during epoch 2, with the checkpoint of epoch 1 on disk.
    let killed = sandbox.path("killed.safetensors");
    let killed_path = PathBuf::from(&killed);
    let args_killed = args(&killed);
    let argv: Vec<&str> = args_killed.iter().map(String::as_str).collect();
    let mut child = sandbox.command(&argv).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let start = Instant::now();
    while saved_epoch(&killed_path).is_none() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be killed");
        assert!(start.elapsed() < HANG_LIMIT, "no checkpoint after {HANG_LIMIT:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed, not finished");
    let epoch = saved_epoch(&killed_path).unwrap();
    assert!(epoch < 4, "killed before the end (checkpoint of epoch {epoch})");

    let mut resume = args(&killed);
    resume.extend(["--resume".to_string(), killed.clone()]);
    let run = sandbox.run(&resume.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("after epoch {epoch}")), "{}", run.stderr);
    assert_eq!(saved_epoch(&killed_path), Some(4));
    assert!(
        checkpoint_bits(Path::new(&straight)) == checkpoint_bits(&killed_path),
        "the resumed run's parameters differ from the uninterrupted run's"
    );
    let entries = sandbox.work.entries();
    assert!(entries.iter().all(|e| !e.contains(".tmp")), "no temporary file is left: {entries:?}");
}

#[test]
fn a_save_interrupted_between_its_two_files_resumes_from_the_newer_one() {
    let sandbox = Sandbox::new("half-saved");
    let train = |epochs: &str, extra: &[&str]| {
        let base = [
            "train",
            "--device",
            "cpu",
            "--dataset",
            "synthetic",
            "--limit-train",
            "300",
            "--limit-test",
            "20",
        ];
        let run = sandbox.run(&[&base[..], &["--seed", "6", "--epochs", epochs], extra].concat());
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        run
    };
    train("3", &["--save", "straight.safetensors"]);
    train("1", &["--save", "cut.safetensors"]);
    train("2", &["--save", "next.safetensors"]);
    // The save of epoch 2 got as far as the optimizer file: cut.safetensors is still epoch 1.
    let work = |name: &str| sandbox.work.join(name);
    std::fs::rename(work("next.safetensors.optim.safetensors"), work("cut.safetensors.optim.safetensors"))
        .unwrap();
    let run = train("3", &["--resume", "cut.safetensors", "--save", "cut.safetensors"]);
    assert!(run.stderr.contains("its last save was interrupted"), "{}", run.stderr);
    assert!(run.stderr.contains("after epoch 2"), "{}", run.stderr);
    assert_eq!(run.stdout.lines().filter(|l| l.starts_with("epoch ")).count(), 1, "{}", run.stdout);
    assert!(
        checkpoint_bits(&work("straight.safetensors")) == checkpoint_bits(&work("cut.safetensors")),
        "resumed from the optimizer file's epoch 2, the run ends where an uninterrupted one does"
    );
}

#[test]
#[cfg(target_os = "linux")]
fn a_checkpoint_claiming_a_huge_network_is_refused_without_allocating_it() {
    // A few bytes whose metadata records a network of 794 million parameters (3 GB): the
    // loader must find its tensors missing before it allocates anything that size, here under
    // a 1.5 GB address-space limit that such an allocation would break.
    let files = TempDir::new("huge-arch");
    let metadata = HashMap::from([("architecture".to_string(), "dense1000000,dense10".to_string())]);
    let bias = vec![0u8; 40];
    let tensors = [("fc2.bias".to_string(), TensorView::new(Dtype::F32, vec![10], &bias).unwrap())];
    let model = files.join("huge.safetensors");
    write(&model, &safetensors::serialize(tensors, Some(metadata)).unwrap());
    let model = model.to_str().unwrap();
    let sandbox = Sandbox::new("huge-arch");
    let script = format!(
        "ulimit -v 1500000 && exec \"$0\" eval --device cpu --dataset synthetic --limit-test 10 --model '{model}'"
    );
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script, env!("CARGO_BIN_EXE_lenet")])
        .current_dir(sandbox.work.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let run = run_bounded(cmd, &["eval", "--model", model]);
    let line = run.error_line(1, "a huge recorded network");
    assert!(line.contains(model) && line.contains("tensor fc1.weight is missing"), "{line}");
}
