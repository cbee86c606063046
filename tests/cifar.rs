//! `--dataset cifar10` end to end, on small generated binary files (the real CIFAR-10 is not
//! needed, nor reachable: its mirror here is a closed local port): its own directory and
//! environment variable, the files read from the archive's directory too, the dataset and
//! per-channel normalization recorded, class names in `eval` and `predict`, colour photos read
//! as colour, conv1's kernels drawn in RGB, the archive unpacked, and every malformed file or
//! mismatched network a clear error naming what is wrong.

mod common;

use common::{Run, TempDir, assert_success, lenet_command, run_bounded, write};
use lenet_gpu::data::cifar::{self, CLASSES, RECORD, TEST_FILE, TRAIN_FILES};
use lenet_gpu::rng::Rng;
use std::path::Path;
use std::process::Command;

/// A scratch working directory, a CIFAR-10 directory (empty until `fill`), an empty MNIST
/// directory, and a dead mirror for both.
struct Sandbox {
    work: TempDir,
    cifar: TempDir,
    mnist: TempDir,
    mirror: String,
}

impl Sandbox {
    fn new() -> Sandbox {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a local port");
        let mirror = format!("http://{}/", listener.local_addr().expect("local address"));
        drop(listener);
        Sandbox {
            work: TempDir::new("cifar-work"),
            cifar: TempDir::new("cifar-dir"),
            mnist: TempDir::new("cifar-mnist-dir"),
            mirror,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = lenet_command(args);
        cmd.current_dir(self.work.path())
            .env("LENET_DATA_DIR", self.mnist.path())
            .env("LENET_CIFAR10_DIR", self.cifar.path())
            .env("LENET_MNIST_MIRROR", &self.mirror)
            .env("LENET_CIFAR10_MIRROR", &self.mirror);
        cmd
    }

    fn run(&self, args: &[&str]) -> Run {
        run_bounded(self.command(args), args)
    }
}

/// `n` records drawn from `seed`: labels cycling through the classes, each image a colour
/// (class-dependent) plus noise, so a network can learn something.
fn records(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut bytes = Vec::with_capacity(n * RECORD);
    for i in 0..n {
        let label = (i % 10) as u8;
        bytes.push(label);
        for c in 0..3 {
            let base = (label as usize * 25 + c * 80) % 256;
            bytes.extend((0..1024).map(|_| ((base + rng.below(60)) % 256) as u8));
        }
    }
    bytes
}

/// Six small files in `dir`: 20 records in each training file (100 in all), 50 test records.
fn fill(dir: &Path) {
    for (i, name) in TRAIN_FILES.iter().enumerate() {
        write(&dir.join(name), &records(20, i as u64));
    }
    write(&dir.join(TEST_FILE), &records(50, 9));
}

/// The one "error:" line of a run that failed cleanly (exit 1, no panic).
fn error_line(out: &Run) -> String {
    assert_eq!(out.code, Some(1), "stdout:\n{}\nstderr:\n{}", out.stdout, out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(lines.len(), 1, "one error line:\n{}", out.stderr);
    lines[0].to_string()
}

/// A 64x48 colour photo: a red left half and a blue right half (its central square cropped
/// keeps both).
fn photo(path: &Path) {
    let image = image::RgbImage::from_fn(64, 48, |x, _| {
        if x < 32 { image::Rgb([220, 30, 20]) } else { image::Rgb([10, 40, 230]) }
    });
    image.save(path).unwrap();
}

#[test]
fn cifar10_trains_from_its_own_directory_and_eval_predict_and_show_read_colour() {
    let sandbox = Sandbox::new();
    fill(sandbox.cifar.path());
    let model = sandbox.work.join("cifar.safetensors");
    let m = model.to_str().unwrap();
    let args =
        ["train", "--dataset", "cifar10", "--arch", "lenet5-cifar", "--device", "cpu", "--batch-size", "10"];
    let train = sandbox.run(&[&args[..], &["--save", m]].concat());
    assert_success(&train);
    let expected = format!("data: CIFAR-10 from {} (100 train, 50 test)", sandbox.cifar.path().display());
    assert!(train.stderr.contains(&expected), "{}", train.stderr);
    let metadata = lenet_gpu::checkpoint::read_metadata(&model).unwrap();
    assert_eq!(metadata.get("dataset").map(String::as_str), Some("cifar10"));
    assert_eq!(metadata.get("input").map(String::as_str), Some("3@32x32"));
    let norm = metadata.get("normalization").unwrap();
    assert!(norm.contains("0.4914/0.4822/0.4465"), "{norm}");

    // eval, with no --dataset, evaluates on CIFAR-10 and names its classes; its gallery of
    // mistakes shows the photos in colour.
    let gallery = sandbox.work.join("mistakes.png");
    let eval =
        sandbox.run(&["eval", "--device", "cpu", "--model", m, "--misclassified", gallery.to_str().unwrap()]);
    assert_success(&eval);
    let picture = image::open(&gallery).unwrap().to_rgb8();
    // Blue-dominant pixels: the generated photos of classes 0-3 (the captions are black and red).
    let coloured = picture.pixels().filter(|p| p.0[2] > p.0[0].saturating_add(60)).count();
    assert!(coloured > 100, "the mistakes are not drawn in colour ({coloured} coloured pixels)");
    assert!(eval.stdout.contains("rows: true class"), "{}", eval.stdout);
    for (label, name) in CLASSES.iter().enumerate() {
        let row = format!("{label} {name} ");
        assert!(
            eval.stdout.lines().any(|l| l.trim_start().starts_with(&row)),
            "no row {row:?}:\n{}",
            eval.stdout
        );
    }

    // predict reads a photo in colour, names classes, and saves the 32x32 colour image it read.
    let file = sandbox.work.join("photo.png");
    photo(&file);
    let saved = sandbox.work.join("seen");
    let predict = sandbox.run(&[
        "predict",
        "--device",
        "cpu",
        "--model",
        m,
        "--save-input",
        saved.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert_success(&predict);
    let top = predict.stdout.trim_end().rsplit(": ").next().unwrap().to_string();
    for item in top.split(", ") {
        let name = item.split(" (").next().unwrap();
        assert!(CLASSES.contains(&name), "{name:?} in {}", predict.stdout);
    }
    let seen = image::open(saved.join("photo.png")).unwrap().to_rgb8();
    assert_eq!(seen.dimensions(), (32, 32));
    // The central 48x48 square of the photo: its left third red, its right third blue.
    assert_eq!(seen.get_pixel(2, 16).0, [220, 30, 20]);
    assert_eq!(seen.get_pixel(29, 16).0, [10, 40, 230]);

    // show kernels draws conv1's colour kernels as colours: more than one hue (a gray or
    // blue-to-red picture has R = G = B or G between them).
    let kernels = sandbox.work.join("k.png");
    let show = sandbox.run(&["show", "kernels", "--model", m, "--out", kernels.to_str().unwrap()]);
    assert_success(&show);
    let picture = image::open(&kernels).unwrap().to_rgb8();
    let coloured = picture.pixels().filter(|p| p.0[1] > p.0[0].max(p.0[2]) + 20).count();
    assert!(coloured > 0, "no green-dominant pixel: conv1 is not drawn in colour");

    // show features names the class it reads.
    let features = sandbox.work.join("f.png");
    let show = sandbox.run(&[
        "show",
        "features",
        file.to_str().unwrap(),
        "--model",
        m,
        "--device",
        "cpu",
        "--out",
        features.to_str().unwrap(),
    ]);
    assert_success(&show);
    let said = show.stdout.split(": ").nth(1).unwrap_or_default();
    let name = said.split(" (").next().unwrap();
    assert!(CLASSES.contains(&name), "{name:?} in {}", show.stdout);
}

#[test]
fn a_colour_network_trains_on_cifar10_found_in_the_archives_directory_in_data_cifar10() {
    let sandbox = Sandbox::new();
    let default = sandbox.work.join("data/cifar10").join(cifar::ARCHIVE_DIR);
    std::fs::create_dir_all(&default).unwrap();
    fill(&default);
    let args =
        ["train", "--dataset", "cifar10", "--arch", "lenet5-cifar", "--device", "cpu", "--limit-train", "20"];
    let mut cmd = sandbox.command(&args);
    cmd.env_remove("LENET_CIFAR10_DIR");
    let run = run_bounded(cmd, &args);
    assert_success(&run);
    assert!(
        run.stderr.contains("data: CIFAR-10 from ./data/cifar10 (100 train, 50 test) (using 20 train"),
        "{}",
        run.stderr
    );
}

#[test]
fn malformed_cifar10_files_are_errors_naming_the_file_and_the_fault() {
    let sandbox = Sandbox::new();
    let train = |extra: &[&str]| {
        let args = ["train", "--dataset", "cifar10", "--arch", "lenet5-cifar", "--device", "cpu"];
        sandbox.run(&[&args[..], extra].concat())
    };
    // Missing: not found, never synthetic digits, with the way to get it.
    let error = error_line(&train(&[]));
    for words in [
        "CIFAR-10 not found",
        "could not be downloaded",
        "LENET_CIFAR10_DIR",
        "lenet download --dataset cifar10",
        "six files",
    ] {
        assert!(error.contains(words), "lacks {words:?}: {error}");
    }
    fill(sandbox.cifar.path());
    let third = sandbox.cifar.join(TRAIN_FILES[2]);
    // A record cut short.
    let mut bytes = records(3, 1);
    bytes.pop();
    write(&third, &bytes);
    let error = error_line(&train(&[]));
    assert!(error.contains(&third.display().to_string()), "names the file: {error}");
    assert!(
        error.contains(&format!(
            "is {} bytes, not a whole number of CIFAR-10 records (3073 bytes",
            3 * RECORD - 1
        )),
        "{error}"
    );
    // Empty.
    write(&third, &[]);
    assert!(error_line(&train(&[])).contains("is 0 bytes, not a whole number"));
    // A label past the ten classes.
    let mut bytes = records(3, 1);
    bytes[2 * RECORD] = 10;
    write(&third, &bytes);
    let error = error_line(&train(&[]));
    assert!(error.contains("record 2 has label 10, but CIFAR-10's classes are 0-9"), "{error}");
    write(&third, &records(3, 1));
    // A test file missing.
    std::fs::remove_file(sandbox.cifar.join(TEST_FILE)).unwrap();
    let error = error_line(&train(&["--no-download"]));
    assert!(error.contains("CIFAR-10 not found") && error.contains("downloading is disabled"), "{error}");
    write(&sandbox.cifar.join(TEST_FILE), &records(10, 2));

    // A gray network on colour images, and a colour network on MNIST's.
    // The data set named, the network's input: the advice is the --arch that takes it.
    for arch in [&["--arch", "lenet5"][..], &[]] {
        let args = [&["train", "--dataset", "cifar10", "--device", "cpu"], arch].concat();
        let error = error_line(&sandbox.run(&args));
        assert_eq!(
            error,
            "error: CIFAR-10 holds 3@32x32 images, but LeNet-5 takes 1@28x28 inputs: give --arch lenet5-cifar (or an --arch starting input3x32x32)"
        );
    }
    let args = ["train", "--dataset", "synthetic", "--arch", "lenet5-cifar", "--device", "cpu"];
    let error = error_line(&sandbox.run(&args));
    assert!(
        error.contains("holds 28x28 images, but the network takes 3@32x32 inputs: give it CIFAR-10's files (3@32x32 images)"),
        "{error}"
    );
    // An input no data set has.
    let args = ["train", "--dataset", "cifar10", "--arch", "input3x28x28,conv6k5,relu,dense10"];
    let error = error_line(&sandbox.run(&args));
    assert!(error.contains("MNIST images are 1@28x28 and CIFAR-10's 3@32x32"), "{error}");
}

#[test]
fn any_arch_starting_input3x32x32_trains_on_cifar10() {
    let sandbox = Sandbox::new();
    fill(sandbox.cifar.path());
    let arch = "input3x32x32,conv4k3p1,relu,maxpool4,dense10";
    let args = ["train", "--dataset", "cifar10", "--arch", arch, "--device", "cpu", "--limit-train", "40"];
    let run = sandbox.run(&args);
    assert_success(&run);
    assert!(run.stdout.contains("epoch 1"), "{}", run.stdout);
}

/// A gzipped tar holding `files` (name, bytes).
fn tar_gz(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, bytes.as_slice()).unwrap();
    }
    common::gzip(&builder.into_inner().unwrap())
}

#[test]
fn the_archive_is_unpacked_into_the_six_files_and_a_bad_one_is_named() {
    let dir = TempDir::new("cifar-unpack");
    let archive = dir.join("cifar-10-binary.tar.gz");
    let mut files: Vec<(String, Vec<u8>)> = cifar::files()
        .enumerate()
        .map(|(i, n)| (format!("cifar-10-batches-bin/{n}"), records(4, i as u64)))
        .collect();
    files.push(("cifar-10-batches-bin/batches.meta.txt".into(), b"airplane\n".to_vec()));
    let named: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    write(&archive, &tar_gz(&named));
    cifar::unpack(&archive, dir.path()).unwrap();
    for (i, name) in cifar::files().enumerate() {
        assert_eq!(std::fs::read(dir.join(name)).unwrap(), records(4, i as u64), "{name}");
    }
    assert!(!dir.join("batches.meta.txt").exists(), "only the six files are taken out");
    let split = cifar::load(dir.path(), false).unwrap();
    assert_eq!((split.train.len(), split.test.len(), split.train.channels), (20, 4, 3));

    // An archive without the test file, and one that is no gzip.
    let other = TempDir::new("cifar-unpack-bad");
    let archive = other.join("cifar-10-binary.tar.gz");
    write(&archive, &tar_gz(&named[..5]));
    let error = cifar::unpack(&archive, other.path()).unwrap_err().to_string();
    assert!(error.contains("holds no test_batch.bin"), "{error}");
    write(&archive, b"not a gzip at all");
    let error = cifar::unpack(&archive, other.path()).unwrap_err().to_string();
    assert!(error.contains("cannot be unpacked"), "{error}");
}

#[test]
fn the_cifar_networks_past_lenet_train_save_and_evaluate_on_generated_files() {
    // Plumbing only: CIFAR-10 itself cannot be fetched here, so nothing is said of accuracy.
    let sandbox = Sandbox::new();
    fill(sandbox.cifar.path());
    for (name, title) in
        [("resnet8-cifar", "ResNet-8 (CIFAR-10)"), ("airbench94", "airbench94's network (CIFAR-10)")]
    {
        let model = sandbox.work.join(&format!("{name}.safetensors"));
        let m = model.to_str().unwrap();
        let args =
            ["train", "--dataset", "cifar10", "--arch", name, "--batch-size", "10", "--limit-train", "20"];
        let train = sandbox.run(&[&args[..], &["--limit-test", "10", "--save", m]].concat());
        assert_success(&train);
        assert!(train.stderr.contains(&format!("training {title} (")), "{}", train.stderr);
        assert!(
            train.stderr.contains("running on the CPU path"),
            "auto trains them on the CPU path: {}",
            train.stderr
        );
        let eval = sandbox.run(&["eval", "--model", m, "--limit-test", "10"]);
        assert_success(&eval);
        let metadata = lenet_gpu::checkpoint::read_metadata(&model).unwrap();
        let recorded = lenet_gpu::model::arch::load_network(name).unwrap().layers_string();
        assert_eq!(metadata.get("architecture"), Some(&recorded), "{name}");
    }
}
