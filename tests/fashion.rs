//! `--dataset fashion-mnist` end to end, on small generated IDX files (the real Fashion-MNIST is
//! not needed, nor reachable: every mirror here is a closed local port): its own directory, the
//! dataset recorded in checkpoints, class names in `eval` and `predict`, a clear error when it
//! cannot be had, and MNIST's files refused in its place. (Downloads, against a local server,
//! are in tests/download.rs.)

mod common;

use common::{Run, TempDir, assert_success, gzip, images_of, labels_of, lenet_command, run_bounded, write};
use lenet_gpu::data::mnist::{FASHION_CLASSES, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS};
use std::path::Path;
use std::process::Command;

/// A scratch working directory, an empty MNIST directory, a Fashion-MNIST directory (empty until
/// `fill_fashion`), and dead mirrors for both.
struct Sandbox {
    work: TempDir,
    mnist: TempDir,
    fashion: TempDir,
    mirror: String,
}

impl Sandbox {
    fn new() -> Sandbox {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a local port");
        let mirror = format!("http://{}/", listener.local_addr().expect("local address"));
        drop(listener);
        Sandbox {
            work: TempDir::new("fashion-work"),
            mnist: TempDir::new("fashion-mnist-dir"),
            fashion: TempDir::new("fashion-dir"),
            mirror,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = lenet_command(args);
        cmd.current_dir(self.work.path())
            .env("LENET_DATA_DIR", self.mnist.path())
            .env("LENET_FASHION_MNIST_DIR", self.fashion.path())
            .env("LENET_MNIST_MIRROR", &self.mirror)
            .env("LENET_FASHION_MNIST_MIRROR", &self.mirror);
        cmd
    }

    fn run(&self, args: &[&str]) -> Run {
        run_bounded(self.command(args), args)
    }
}

/// Four small, consistent IDX files (gzipped and raw) in `dir`: 200 training images, 100 test.
fn fill(dir: &Path) {
    write(&dir.join(format!("{TRAIN_IMAGES}.gz")), &gzip(&images_of(200, 28)));
    write(&dir.join(format!("{TRAIN_LABELS}.gz")), &gzip(&labels_of(200)));
    write(&dir.join(TEST_IMAGES), &images_of(100, 28));
    write(&dir.join(TEST_LABELS), &labels_of(100));
}

fn stdout(out: &Run) -> String {
    out.stdout.clone()
}

fn stderr(out: &Run) -> String {
    out.stderr.clone()
}

/// The one "error:" line of a run that failed cleanly (exit 1, no panic).
fn error_line(out: &Run) -> String {
    let err = stderr(out);
    assert_eq!(out.code, Some(1), "stdout:\n{}\nstderr:\n{err}", stdout(out));
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(lines.len(), 1, "one error line:\n{err}");
    lines[0].to_string()
}

/// The test accuracy of the last epoch line, as printed ("43.00").
fn test_accuracy(out: &Run) -> String {
    let text = stdout(out);
    let line =
        text.lines().rfind(|l| l.starts_with("epoch ")).unwrap_or_else(|| panic!("no epoch line:\n{text}"));
    let rest = &line[line.find("test acc ").expect("a test accuracy") + "test acc ".len()..];
    rest[..rest.find('%').expect("a percentage")].to_string()
}

#[test]
fn fashion_mnist_trains_from_its_own_directory_and_the_model_remembers_it() {
    let sandbox = Sandbox::new();
    fill(sandbox.fashion.path());
    let model = sandbox.work.join("fashion.safetensors");
    let model_arg = model.to_str().unwrap();
    let train = sandbox.run(&["train", "--dataset", "fashion-mnist", "--device", "cpu", "--save", model_arg]);
    assert_success(&train);
    let expected =
        format!("data: Fashion-MNIST from {} (200 train, 100 test)", sandbox.fashion.path().display());
    assert!(stderr(&train).contains(&expected), "{}", stderr(&train));
    assert_eq!(sandbox.mnist.entries(), Vec::<String>::new(), "MNIST's directory is left alone");
    let metadata = lenet_gpu::checkpoint::read_metadata(&model).unwrap();
    assert_eq!(metadata.get("dataset").map(String::as_str), Some("fashion-mnist"));

    // eval, with no --dataset, evaluates on the data set the model was trained on, and names
    // the classes in the confusion matrix.
    let eval = sandbox.run(&["eval", "--device", "cpu", "--model", model_arg]);
    assert_success(&eval);
    // (eval reads only the test set.)
    let expected = format!("data: Fashion-MNIST from {} (100 test)", sandbox.fashion.path().display());
    assert!(stderr(&eval).contains(&expected), "{}", stderr(&eval));
    let text = stdout(&eval);
    assert!(text.contains(&format!("test accuracy: {}%", test_accuracy(&train))), "{text}");
    assert!(text.contains("rows: true class"), "{text}");
    for (label, name) in FASHION_CLASSES.iter().enumerate() {
        let row = format!("{label} {name} ");
        assert!(text.lines().any(|l| l.trim_start().starts_with(&row)), "no row {row:?}:\n{text}");
    }

    // predict names the classes too.
    let digit = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/0-gray.png");
    let predict = sandbox.run(&["predict", "--device", "cpu", "--model", model_arg, digit.to_str().unwrap()]);
    assert_success(&predict);
    let line = stdout(&predict);
    let top3 = line.trim_end().strip_prefix(&format!("{}: ", digit.display())).expect("the file's line");
    for item in top3.split(", ") {
        let name = item.split(" (").next().unwrap();
        assert!(FASHION_CLASSES.contains(&name), "{name:?} in {line}");
    }
}

#[test]
fn without_the_environment_variable_fashion_mnist_is_looked_for_in_data_fashion_mnist() {
    let sandbox = Sandbox::new();
    let default = sandbox.work.join("data/fashion-mnist");
    std::fs::create_dir_all(&default).unwrap();
    fill(&default);
    let args = ["train", "--dataset", "fashion-mnist", "--device", "cpu", "--limit-train", "64"];
    let mut cmd = sandbox.command(&args);
    cmd.env_remove("LENET_FASHION_MNIST_DIR");
    let run = run_bounded(cmd, &args);
    assert_success(&run);
    assert!(stderr(&run).contains("data: Fashion-MNIST from ./data/fashion-mnist"), "{}", stderr(&run));
    // MNIST keeps its own: the same files would not be found as MNIST in LENET_DATA_DIR.
    let run = sandbox.run(&["train", "--dataset", "mnist", "--limit-train", "64"]);
    assert!(error_line(&run).contains("MNIST not found"), "{}", stderr(&run));
}

#[test]
fn fashion_mnist_that_cannot_be_had_is_a_clear_error_never_synthetic_digits() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["train", "--dataset", "fashion-mnist", "--limit-train", "64"]);
    let error = error_line(&run);
    for words in [
        "Fashion-MNIST not found",
        "could not be downloaded",
        "connection refused",
        "LENET_FASHION_MNIST_DIR",
        "lenet download --dataset fashion-mnist",
        &sandbox.fashion.path().display().to_string(),
    ] {
        assert!(error.contains(words), "lacks {words:?}: {error}");
    }
    assert!(!stderr(&run).contains("synthetic"), "{}", stderr(&run));
    assert!(!stdout(&run).contains("epoch"), "{}", stdout(&run));
    assert_eq!(sandbox.fashion.entries(), Vec::<String>::new(), "nothing is left behind");

    // With downloads disabled, it says so.
    let run = sandbox.run(&["train", "--dataset", "fashion-mnist", "--no-download"]);
    assert!(error_line(&run).contains("downloading is disabled"), "{}", stderr(&run));
}

#[test]
fn mnist_files_are_refused_as_fashion_mnist_and_a_fashion_model_on_mnist_gets_a_note() {
    let Some(shared) = common::shared_mnist_dir() else { return };
    let real_labels = std::fs::read(shared.join(format!("{TEST_LABELS}.gz"))).unwrap();
    // A Fashion-MNIST directory holding MNIST's original test labels (the rest made up).
    let sandbox = Sandbox::new();
    fill(sandbox.fashion.path());
    std::fs::remove_file(sandbox.fashion.join(TEST_LABELS)).unwrap();
    write(&sandbox.fashion.join(&format!("{TEST_LABELS}.gz")), &real_labels);
    let run = sandbox.run(&["train", "--dataset", "fashion-mnist", "--limit-train", "64"]);
    let error = error_line(&run);
    assert!(error.contains(TEST_LABELS), "names the file: {error}");
    assert!(error.contains("this is MNIST's file, not Fashion-MNIST's"), "{error}");

    // The real MNIST is MNIST: accepted as such (this reads it whole, so only its first images).
    let run = sandbox.run(&[
        "eval",
        "--dataset",
        "mnist",
        "--data-dir",
        shared.to_str().unwrap(),
        "--limit-test",
        "50",
        "--device",
        "cpu",
        "--model",
        &trained_fashion_model(&sandbox),
    ]);
    assert_success(&run);
    assert!(
        stderr(&run).contains("note: this model was trained on Fashion-MNIST, not MNIST"),
        "{}",
        stderr(&run)
    );
    assert!(stdout(&run).contains("rows: true digit"), "{}", stdout(&run));
}

/// A model trained for one short epoch on generated Fashion-MNIST files; returns its path.
fn trained_fashion_model(sandbox: &Sandbox) -> String {
    let dir = TempDir::new("fashion-model-data");
    fill(dir.path());
    let model = sandbox.work.join("m.safetensors");
    let args = ["train", "--dataset", "fashion-mnist", "--device", "cpu", "--limit-train", "64"];
    let run = sandbox.run(
        &[&args[..], &["--data-dir", dir.path().to_str().unwrap(), "--save", model.to_str().unwrap()]]
            .concat(),
    );
    assert_success(&run);
    model.to_str().unwrap().to_string()
}
