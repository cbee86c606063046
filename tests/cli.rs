//! The `lenet` binary end to end: each test runs it as a user would, on a few hundred images so
//! a run takes a second or two. Every run gets an empty data directory, a scratch working
//! directory and a mirror on a closed local port, so no test reaches the internet or writes into
//! the repository; only `trains_on_the_shared_mnist_when_present` is pointed at real data.

mod common;

use common::{Run, TempDir, lenet_command, run_bounded, run_lenet};
use lenet_gpu::checkpoint;
use lenet_gpu::model::{Network, Parameters};
use std::collections::HashMap;
use std::net::TcpListener;

/// Small, fast training runs on the synthetic digits.
const SMALL: &[&str] = &["--dataset", "synthetic", "--limit-train", "500", "--limit-test", "200"];

/// A mirror URL on a local port nothing listens on: a download attempt fails at once.
fn dead_mirror() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
    let port = listener.local_addr().expect("local address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}/")
}

/// Where a run happens: an empty data directory (`LENET_DATA_DIR`), a scratch working
/// directory, and a dead mirror (`LENET_MNIST_MIRROR`).
struct Sandbox {
    data: TempDir,
    work: TempDir,
    mirror: String,
}

impl Run {
    fn assert_success(&self) -> &Run {
        assert_eq!(
            self.code,
            Some(0),
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// A failure reported by `lenet` itself (exit 1, one "error:" line), not a panic.
    fn assert_clean_failure(&self) -> &str {
        assert_eq!(self.code, Some(1), "expected exit 1\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        assert!(!self.stderr.contains("panicked"), "a panic:\n{}", self.stderr);
        self.stderr
            .lines()
            .find(|l| l.starts_with("error: "))
            .unwrap_or_else(|| panic!("no \"error:\" line in:\n{}", self.stderr))
    }

    /// The "epoch N/M: ..." lines of stdout.
    fn epoch_lines(&self) -> Vec<&str> {
        self.stdout.lines().filter(|l| l.starts_with("epoch ")).collect()
    }
}

impl Sandbox {
    fn new() -> Sandbox {
        Sandbox { data: TempDir::new("cli-data"), work: TempDir::new("cli-work"), mirror: dead_mirror() }
    }

    fn run(&self, args: &[&str]) -> Run {
        let mut cmd = lenet_command(args);
        cmd.current_dir(self.work.path())
            .env("LENET_DATA_DIR", self.data.path())
            .env("LENET_MNIST_MIRROR", &self.mirror);
        run_bounded(cmd, args)
    }

    /// A train or eval run on the small synthetic set, plus `extra`.
    fn run_small(&self, command: &str, extra: &[&str]) -> Run {
        let mut args = vec![command];
        args.extend_from_slice(SMALL);
        args.extend_from_slice(extra);
        self.run(&args)
    }
}

/// The figures of an epoch line without its timing fields: "epoch 1/2: train loss 2.1275, train
/// acc 27.20%, test loss 1.8812, test acc 43.50%, 0.1 s, 10731 images/s" gives everything before
/// ", 0.1 s".
fn figures(line: &str) -> String {
    let fields: Vec<&str> = line.split(", ").collect();
    assert_eq!(fields.len(), 6, "unexpected epoch line: {line}");
    assert!(fields[2].starts_with("test loss ") && fields[3].starts_with("test acc "), "{line}");
    assert!(fields[4].ends_with(" s") && fields[5].ends_with(" images/s"), "unexpected epoch line: {line}");
    fields[..4].join(", ")
}

/// The value after `key` in `line`, up to the next comma or space ("test acc 43.50%" → "43.50%").
fn value_after<'a>(line: &'a str, key: &str) -> &'a str {
    let start = line.find(key).unwrap_or_else(|| panic!("no {key:?} in {line:?}")) + key.len();
    line[start..].split([',', ' ']).next().unwrap_or("")
}

#[test]
fn output_to_a_pipe_whose_reader_has_gone_ends_quietly() {
    // `lenet summary | head -3`: the reader goes before `lenet` has printed.
    let mut child = common::lenet_command(&["summary"]).spawn().expect("start lenet");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait for lenet");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert!(out.status.success() || out.status.signal() == Some(13), "{:?}: {stderr}", out.status);
    }
}

#[test]
fn summary_prints_every_layer_shape_and_the_parameter_count() {
    let run = Sandbox::new().run(&["summary"]);
    run.assert_success();
    let shapes: Vec<&str> =
        run.stdout.lines().filter_map(|l| l.split_whitespace().nth_back(1)).collect::<Vec<_>>();
    for shape in ["1@28x28", "6@28x28", "6@14x14", "16@10x10", "16@5x5", "120", "84", "10"] {
        assert!(shapes.contains(&shape), "no layer with output {shape} in:\n{}", run.stdout);
    }
    assert!(run.stdout.contains("total parameters: 61,706"), "{}", run.stdout);
}

/// `lenet train --help`, split into one whitespace-normalized block per option, keyed by the
/// long flag ("--epochs").
#[test]
fn without_data_or_network_train_says_so_once_and_trains_on_synthetic_digits() {
    let sandbox = Sandbox::new();
    // No directory named (no --data-dir, no LENET_DATA_DIR): ./data/mnist is looked in.
    let args = ["train", "--epochs", "1", "--limit-train", "500", "--limit-test", "200"];
    let mut cmd = lenet_command(&args);
    cmd.current_dir(sandbox.work.path())
        .env_remove("LENET_DATA_DIR")
        .env("LENET_MNIST_MIRROR", &sandbox.mirror);
    let run = run_bounded(cmd, &args);
    run.assert_success();
    let notices: Vec<&str> = run.stderr.lines().filter(|l| l.contains("MNIST")).collect();
    assert_eq!(notices.len(), 1, "one notice about MNIST:\n{}", run.stderr);
    let notice = notices[0];
    assert!(
        notice.contains("not found") && notice.contains("could not be downloaded"),
        "the notice says why: {notice}"
    );
    assert!(notice.contains("synthetic digits"), "the notice says what it trains on instead: {notice}");
    for advice in ["--data-dir", "LENET_DATA_DIR", "lenet download"] {
        assert!(notice.contains(advice), "the notice says how to get MNIST ({advice}): {notice}");
    }
    assert!(run.stderr.lines().any(|l| l.starts_with("data: synthetic digits")), "{}", run.stderr);
    let epochs = run.epoch_lines();
    assert_eq!(epochs.len(), 1, "{}", run.stdout);
    // Every epoch line says its figures are not MNIST's.
    assert!(
        epochs[0].starts_with("epoch 1/1 (synthetic digits):") && epochs[0].contains("test acc"),
        "{}",
        epochs[0]
    );
    let default_dir = sandbox.work.join("data/mnist");
    let left = std::fs::read_dir(&default_dir).map_or(0, |d| d.count());
    assert_eq!(left, 0, "nothing is left in {}", default_dir.display());
}

#[test]
fn a_named_data_directory_without_the_files_is_an_error_not_a_stand_in() {
    let sandbox = Sandbox::new();
    let typo = sandbox.work.join("mnst-typo");
    let typo = typo.to_str().unwrap();
    let save = ["--save", "m.safetensors"];
    // By flag (a misspelled directory) and by LENET_DATA_DIR (the sandbox's, empty).
    for (case, extra) in [("--data-dir", vec!["--data-dir", typo]), ("LENET_DATA_DIR", vec![])] {
        let run = sandbox
            .run(&[&["train", "--epochs", "1", "--limit-train", "500"], &extra[..], &save[..]].concat());
        let error = run.assert_clean_failure();
        assert!(
            error.contains("none of its four MNIST files is there"),
            "{case}: names what is missing: {error}"
        );
        assert!(error.contains("lenet download"), "{case}: says how to fetch them: {error}");
        assert!(run.epoch_lines().is_empty(), "{case}: {}", run.stdout);
        assert!(!sandbox.work.join("m.safetensors").exists(), "{case}: nothing saved");
    }
    // One file missing is named.
    let dir = sandbox.data.path();
    for name in ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"] {
        std::fs::write(dir.join(format!("{name}.gz")), b"").unwrap();
    }
    let error = sandbox.run(&["train", "--epochs", "1"]).assert_clean_failure().to_string();
    assert!(error.contains("(t10k-labels-idx1-ubyte.gz missing)"), "{error}");
    for entry in std::fs::read_dir(dir).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    // Synthetic digits when asked for.
    let run = sandbox.run(&["train", "--dataset", "synthetic", "--epochs", "1", "--limit-train", "500"]);
    run.assert_success();
    assert!(run.epoch_lines()[0].starts_with("epoch 1/1 (synthetic digits):"), "{}", run.stdout);
}

#[test]
fn insisting_on_mnist_without_data_or_network_is_a_clear_error() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["train", "--dataset", "mnist", "--epochs", "1", "--limit-train", "500"]);
    let error = run.assert_clean_failure();
    assert!(error.contains(&sandbox.data.path().display().to_string()), "names the directory: {error}");
    assert!(error.contains("could not be downloaded"), "says why: {error}");
    assert!(error.contains("lenet download") && error.contains("--data-dir"), "gives advice: {error}");
    assert_eq!(error.matches("could not be downloaded").count(), 1, "says it once: {error}");
    assert!(run.epoch_lines().is_empty(), "{}", run.stdout);
    assert_eq!(sandbox.data.entries(), Vec::<String>::new(), "nothing is left in the data directory");
}

#[test]
fn a_saved_model_evaluates_to_the_accuracy_its_last_epoch_reported() {
    let sandbox = Sandbox::new();
    let model = sandbox.work.join("lenet.safetensors");
    let model_arg = model.to_str().expect("UTF-8 temp path");
    // The same test set for both runs; enough learning that the accuracy is far from chance, so
    // agreement means something.
    let data = ["--dataset", "synthetic", "--limit-test", "200", "--seed", "7"];
    let mut train_args = vec!["train"];
    train_args.extend(data);
    train_args.extend("--limit-train 1000 --epochs 2 --batch-size 32 --lr 0.05".split(' '));
    train_args.extend(["--save", model_arg]);
    let training = sandbox.run(&train_args);
    training.assert_success();
    assert!(training.stderr.contains(&format!("model saved to {model_arg}")), "{}", training.stderr);
    let last = *training.epoch_lines().last().expect("an epoch line");
    let trained_accuracy = value_after(last, "test acc ");

    let mut eval_args = vec!["eval"];
    eval_args.extend(data);
    eval_args.extend(["--model", model_arg]);
    let eval = sandbox.run(&eval_args);
    eval.assert_success();
    let accuracy_line =
        eval.stdout.lines().find(|l| l.starts_with("test accuracy: ")).expect("a test accuracy line");
    assert_eq!(value_after(accuracy_line, "test accuracy: "), trained_accuracy, "{accuracy_line} vs {last}");
    assert!(accuracy_line.ends_with("of 200)"), "{accuracy_line}");

    // The confusion matrix: a header of the ten digits, then ten rows of ten counts that add up to
    // the test set, each with its class accuracy.
    let lines: Vec<&str> = eval.stdout.lines().collect();
    let header = lines.iter().position(|l| l.trim_start().starts_with("0     1")).expect("matrix header");
    let header_cells: Vec<&str> = lines[header].split_whitespace().collect();
    assert_eq!(header_cells[..10], ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"], "{}", lines[header]);
    let mut total = 0;
    for (digit, row) in lines[header + 1..header + 11].iter().enumerate() {
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells.len(), 12, "digit, ten counts, accuracy: {row}");
        assert_eq!(cells[0], digit.to_string(), "{row}");
        total += cells[1..11].iter().map(|c| c.parse::<u32>().expect("a count")).sum::<u32>();
        assert!(cells[11].ends_with('%'), "{row}");
    }
    assert_eq!(total, 200, "the matrix counts every test image:\n{}", eval.stdout);
}

#[test]
fn the_same_seed_gives_the_same_figures_and_another_seed_other_ones() {
    let sandbox = Sandbox::new();
    let train = |seed: &str| {
        let run = sandbox.run_small("train", &["--epochs", "2", "--seed", seed]);
        run.assert_success();
        run.epoch_lines().into_iter().map(figures).collect::<Vec<_>>()
    };
    let first = train("3");
    assert_eq!(first.len(), 2, "{first:?}");
    assert_eq!(first, train("3"), "the same seed gives the same loss and accuracies");
    let other = train("4");
    for (a, b) in first.iter().zip(&other) {
        assert_ne!(value_after(a, "train loss "), value_after(b, "train loss "), "{a} vs {b}");
    }
}

#[test]
fn eval_rejects_bad_model_files_naming_them() {
    let sandbox = Sandbox::new();

    let missing = sandbox.work.join("missing.safetensors");

    let random = sandbox.work.join("random.safetensors");
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    common::write(&random, &noise);

    // A LeNet-5 checkpoint without fc3.bias.
    let incomplete = sandbox.work.join("incomplete.safetensors");
    let plan = Network::lenet5().plan().unwrap();
    let mut params = Parameters::init(&plan, 1);
    params.views.retain(|v| v.name != "fc3.bias");
    checkpoint::save(&incomplete, &params, HashMap::new()).unwrap();

    for (path, problem) in
        [(&missing, "os error 2"), (&random, "not a safetensors checkpoint"), (&incomplete, "fc3.bias")]
    {
        let path_arg = path.to_str().expect("UTF-8 temp path");
        let run = sandbox.run_small("eval", &["--model", path_arg]);
        let error = run.assert_clean_failure();
        assert!(error.contains(path_arg), "names the file: {error}");
        assert!(error.contains(problem), "says what is wrong ({problem}): {error}");
        assert_eq!(error.matches(problem).count(), 1, "says it once: {error}");
        assert!(!run.stdout.contains("test accuracy"), "{}", run.stdout);
    }
}

#[test]
fn saving_into_a_missing_directory_is_an_error_naming_the_file() {
    let sandbox = Sandbox::new();
    let model = sandbox.work.join("no-such-dir/lenet.safetensors");
    let model_arg = model.to_str().expect("UTF-8 temp path");
    let run = sandbox.run_small("train", &["--save", model_arg]);
    let error = run.assert_clean_failure();
    assert!(error.contains(model_arg) && error.contains("does not exist"), "{error}");
    assert!(!run.stdout.contains("epoch"), "fails before training, not after an epoch: {}", run.stdout);
}

#[test]
fn trains_on_the_shared_mnist_when_present() {
    let Some(dir) = common::shared_mnist_dir() else { return };
    let dir_arg = dir.to_str().expect("UTF-8 path");
    let sandbox = Sandbox::new();
    let args =
        ["train", "--data-dir", dir_arg, "--epochs", "1", "--limit-train", "2000", "--limit-test", "1000"];
    let run = sandbox.run(&args);
    run.assert_success();
    let data = run.stderr.lines().find(|l| l.starts_with("data: ")).expect("a data: line");
    assert!(data.starts_with("data: MNIST from"), "{data}");
    assert!(data.contains("(using 2000 train, 1000 test)"), "{data}");
    assert!(!run.stderr.contains("synthetic"), "no fallback:\n{}", run.stderr);
    assert_eq!(run.epoch_lines().len(), 1, "{}", run.stdout);
}

#[test]
fn bench_prints_a_table_and_writes_json() {
    let sandbox = Sandbox::new();
    let json = sandbox.work.path().join("bench.json");
    let json_arg = json.to_str().expect("UTF-8 temp path");
    let args =
        ["bench", "--device", "cpu", "--steps", "2", "--warmup", "1", "--batch-size", "8,16", "--kernels"];
    let out = run_lenet(&[&args[..], &["--json", json_arg]].concat(), |cmd| {
        cmd.current_dir(sandbox.work.path());
    });
    let stdout = &out.stdout;
    assert!(out.success(), "{}", out.stderr);
    assert!(stdout.contains("train img/s") && stdout.contains("CPU ("), "{stdout}");
    assert!(stdout.contains("conv2 forward") && stdout.contains("GFLOP/s"), "{stdout}");
    let figures: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let rows = figures["throughput"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "one row per batch size");
    assert!(rows.iter().all(|r| r["train_images_per_s"].as_f64().unwrap() > 0.0));
}

#[test]
fn no_driver_noise_about_a_runtime_directory() {
    // Mesa prints "XDG_RUNTIME_DIR is invalid" when it is unset, as on headless machines; the
    // program gives it a private one so users see only its own messages.
    let out = run_lenet(&["devices"], |cmd| {
        cmd.env_remove("XDG_RUNTIME_DIR");
    });
    let stderr = &out.stderr;
    assert!(out.success(), "{stderr}");
    assert!(!stderr.contains("XDG_RUNTIME_DIR"), "{stderr}");
}
