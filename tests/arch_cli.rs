//! `--arch` through the command line: training, saving, evaluating, predicting and summarizing
//! any architecture, on both paths (the syntax itself is `arch.rs`'s).

mod common;

use common::{Run, TempDir, assert_success, run_lenet};
use lenet_gpu::model::Network;
use lenet_gpu::model::arch::{parse_network, plan_for_mnist};

fn parse(text: &str) -> Network {
    parse_network(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
}

// The CLI end to end, on a few hundred synthetic digits, with an empty data directory and a
// mirror nothing listens on, so nothing reaches the network.

/// A small network unlike LeNet: a padded conv, a max-pool, a dense layer.
const SMALL: &str = "conv4k3p1,relu,maxpool2,dense10";
const SMALL_PARAMETERS: usize = 4 * 9 + 4 + 10 * 4 * 14 * 14 + 10;

struct Cli {
    data: TempDir,
    work: TempDir,
}

impl Cli {
    fn new() -> Cli {
        Cli { data: TempDir::new("arch-data"), work: TempDir::new("arch-work") }
    }

    fn run(&self, args: &[&str]) -> Run {
        run_lenet(args, |cmd| {
            cmd.current_dir(self.work.path())
                .env("LENET_DATA_DIR", self.data.path())
                .env("LENET_MNIST_MIRROR", "http://127.0.0.1:9/");
        })
    }

    /// `lenet train` for one tiny epoch on synthetic digits, plus `extra`.
    fn train(&self, extra: &[&str]) -> Run {
        let mut args = vec!["train", "--dataset", "synthetic", "--limit-train", "300", "--limit-test", "100"];
        args.extend_from_slice(extra);
        self.run(&args)
    }
}

fn stdout(out: &Run) -> String {
    out.stdout.clone()
}

fn stderr(out: &Run) -> String {
    out.stderr.clone()
}

/// The "error: ..." line of a run that failed with `code`, without a panic.
fn error_line(out: &Run, code: i32) -> String {
    let err = stderr(out);
    assert_eq!(out.code, Some(code), "stdout:\n{}\nstderr:\n{err}", stdout(out));
    assert!(!err.contains("panicked"), "{err}");
    err.lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line:\n{err}"))
        .to_string()
}

/// The one epoch line's figures: train loss, train accuracy, test accuracy.
fn epoch_figures(out: &Run) -> (f64, f64, f64) {
    let text = stdout(out);
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("epoch ")).collect();
    assert_eq!(lines.len(), 1, "{text}");
    let value = |key: &str| -> f64 {
        let start = lines[0].find(key).unwrap_or_else(|| panic!("no {key:?} in {}", lines[0])) + key.len();
        lines[0][start..].split([',', ' ', '%']).next().unwrap().parse().unwrap()
    };
    (value("train loss "), value("train acc "), value("test acc "))
}

#[test]
fn a_non_lenet_architecture_trains_on_the_cpu_path_and_its_checkpoint_remembers_it() {
    let cli = Cli::new();
    let model = cli.work.join("small.safetensors");
    let model_arg = model.to_str().unwrap();
    let run = cli.train(&["--arch", SMALL, "--device", "cpu", "--save", model_arg]);
    assert_success(&run);
    let banner = format!("training {SMALL} ({SMALL_PARAMETERS} parameters) on ");
    assert!(stderr(&run).contains(&banner), "{}", stderr(&run));
    let (loss, _, test_accuracy) = epoch_figures(&run);
    assert!(loss.is_finite() && loss > 0.0, "{loss}");
    assert_eq!(cli.data.entries(), Vec::<String>::new(), "nothing was downloaded");

    // eval without --arch takes the architecture from the checkpoint's metadata.
    let eval_args =
        ["eval", "--dataset", "synthetic", "--limit-test", "100", "--device", "cpu", "--model", model_arg];
    let eval = cli.run(&eval_args);
    assert_success(&eval);
    assert!(stderr(&eval).contains(&format!("evaluating {SMALL} on ")), "{}", stderr(&eval));
    let accuracy = stdout(&eval);
    let accuracy = accuracy.lines().find(|l| l.starts_with("test accuracy: ")).expect("an accuracy line");
    assert!(
        accuracy.starts_with(&format!("test accuracy: {test_accuracy:.2}%")),
        "{accuracy} vs {test_accuracy}"
    );

    // The same architecture written another way agrees with the checkpoint...
    let same = [&eval_args[..], &["--arch", "conv4k3s1p1, relu, maxpool2s2, dense10"]].concat();
    assert_success(&cli.run(&same));
    // ... another one is refused, naming both.
    let other = cli.run(&[&eval_args[..], &["--arch", "lenet5"]].concat());
    let error = error_line(&other, 1);
    assert!(error.contains("--arch conv6k5p2,relu,maxpool2,conv16k5"), "{error}");
    assert!(
        error.contains("does not match") && error.contains(model_arg) && error.contains(SMALL),
        "{error}"
    );
    assert!(!stdout(&other).contains("test accuracy"), "{}", stdout(&other));
}

#[test]
fn train_takes_the_architecture_from_a_file() {
    let cli = Cli::new();
    let file = cli.work.join("small.arch");
    common::write(&file, b"# from a file\nconv4k3p1, relu\nmaxpool2  # 4@14x14\ndense10\n");
    let run = cli.train(&["--arch", file.to_str().unwrap(), "--device", "cpu"]);
    assert_success(&run);
    assert!(stderr(&run).contains(&format!("training {SMALL} (")), "{}", stderr(&run));
    epoch_figures(&run);
}

#[test]
fn bad_architectures_on_the_command_line_are_clear_errors() {
    let cli = Cli::new();
    // Syntax: rejected with the arguments (clap's exit status 2), naming the item.
    let run = cli.train(&["--arch", "conv6k5p2,relu,conv6k", "--device", "cpu"]);
    let error = error_line(&run, 2);
    assert!(
        error.contains("--arch") && error.contains("layer 3 \"conv6k\": expected a kernel size after \"k\""),
        "{error}"
    );

    // Shapes that don't chain: the plan's error, naming the layer and the shape.
    let run =
        cli.train(&["--arch", "conv6k5,relu,maxpool2,conv16k5,maxpool2,conv8k7,dense10", "--device", "cpu"]);
    let error = error_line(&run, 1);
    assert!(error.contains("layer 6") && error.contains("16@4x4"), "{error}");
    assert!(stdout(&run).is_empty(), "{}", stdout(&run));
    assert!(!stderr(&run).contains("data: "), "fails before loading data:\n{}", stderr(&run));

    // The wrong number of outputs for MNIST.
    let run = cli.train(&["--arch", "conv4k3,relu,maxpool2,dense12", "--device", "cpu"]);
    let error = error_line(&run, 1);
    assert!(error.contains("the last layer gives 12 outputs but MNIST has 10 classes"), "{error}");
}

#[test]
fn summary_shows_any_architecture_with_shapes_and_parameter_counts() {
    let cli = Cli::new();
    let run = cli.run(&["summary", "--arch", "conv8k3p1,relu,maxpool2,dense10"]);
    assert_success(&run);
    let out = stdout(&run);
    assert!(out.starts_with("network: conv8k3p1,relu,maxpool2,dense10\n"), "{out}");
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split_whitespace().collect()).collect();
    let row = |name: &str| {
        rows.iter().find(|r| r.first() == Some(&name)).unwrap_or_else(|| panic!("{name}:\n{out}"))
    };
    assert_eq!(row("conv1")[row("conv1").len() - 2..], ["8@28x28", "80"], "{out}");
    assert_eq!(row("maxpool")[row("maxpool").len() - 2..], ["8@14x14", "0"], "{out}");
    assert_eq!(row("fc1")[row("fc1").len() - 2..], ["10", "15690"], "{out}");
    assert!(out.trim_end().ends_with("total parameters: 15,770"), "{out}");

    // LeNet-5 is still the default; a network unfit for MNIST is shown, with a note.
    let run = cli.run(&["summary"]);
    assert_success(&run);
    assert!(stdout(&run).contains("total parameters: 61,706"), "{}", stdout(&run));
    let run = cli.run(&["summary", "--arch", "conv8k3p1,relu"]);
    assert_success(&run);
    assert!(stderr(&run).contains("MNIST has 10 classes"), "{}", stderr(&run));
    let run = cli.run(&["summary", "--arch", "conv8k29"]);
    assert!(error_line(&run, 1).contains("layer 1"), "{}", stderr(&run));
}

#[test]
fn a_non_lenet_architecture_trains_on_the_gpu_path_as_on_the_cpu_path() {
    if common::gpu().is_none() {
        return;
    }
    // Every option the GPU kernels take: a non-square padded kernel, a pool whose stride is not its
    // window, a strided conv, ReLUs after conv and dense layers.
    let net = "conv4k3x5p2,relu,maxpool3s2,conv6k3s2,relu,dense16,relu,dense10";
    assert!(plan_for_mnist(&parse(net)).is_ok());
    let cli = Cli::new();
    let settings = ["--arch", net, "--lr", "0.1", "--batch-size", "16"];
    let cpu = cli.train(&[&settings[..], &["--device", "cpu"]].concat());
    assert_success(&cpu);
    let gpu = cli.train(&[&settings[..], &["--device", "gpu"]].concat());
    assert_success(&gpu);
    assert!(stderr(&gpu).contains(&format!("training {net} (")), "{}", stderr(&gpu));
    let (c, g) = (epoch_figures(&cpu), epoch_figures(&gpu));
    // It learned something (chance is a loss of ln 10 = 2.30), so agreeing means something.
    assert!(c.0 < 2.25, "cpu {c:?}");
    assert!((c.0 - g.0).abs() <= 2e-3, "train loss: cpu {c:?}, gpu {g:?}");
    assert!((c.1 - g.1).abs() <= 1.0, "train accuracy: cpu {c:?}, gpu {g:?}");
    assert!((c.2 - g.2).abs() <= 2.0, "test accuracy: cpu {c:?}, gpu {g:?}");
}

#[test]
fn the_1998_lenet_trains_saves_evaluates_and_predicts_as_itself() {
    use lenet_gpu::cpu::{engine::CpuEngine, optimizer::Optimizer};
    use lenet_gpu::train::Engine;
    let cli = Cli::new();
    let model = cli.work.join("lenet1998.safetensors");
    let model_arg = model.to_str().unwrap();
    let run = cli.train(&["--arch", "lenet5-1998", "--device", "cpu", "--save", model_arg]);
    assert_success(&run);
    assert!(stderr(&run).contains("training LeNet-5 (1998) (61706 parameters) on "), "{}", stderr(&run));
    let (_, _, test_accuracy) = epoch_figures(&run);

    // PyTorch's names, as for LeNet-5 (the two share every tensor shape), and the architecture
    // recorded beside them.
    let bytes = std::fs::read(&model).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = file.names().into_iter().map(String::from).collect();
    names.sort();
    let expected: Vec<String> = ["conv1", "conv2", "fc1", "fc2", "fc3"]
        .iter()
        .flat_map(|l| [format!("{l}.bias"), format!("{l}.weight")])
        .collect();
    assert_eq!(names, expected);
    let recorded = lenet_gpu::checkpoint::recorded_network(&model).unwrap();
    assert_eq!(recorded, Some(Network::lenet5_1998()));

    let eval = cli.run(&[
        "eval",
        "--dataset",
        "synthetic",
        "--limit-test",
        "100",
        "--device",
        "cpu",
        "--model",
        model_arg,
    ]);
    assert_success(&eval);
    assert!(stderr(&eval).contains("evaluating LeNet-5 (1998) on "), "{}", stderr(&eval));
    assert!(stdout(&eval).contains(&format!("test accuracy: {test_accuracy:.2}%")), "{}", stdout(&eval));

    // predict runs the checkpoint's own network: its top class and probability are the 1998
    // network's (LeNet-5 would read the same tensors, with ReLU and max pooling, otherwise).
    let digit = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/3-light-on-dark.png");
    let top = |network: Network| -> String {
        let plan = network.plan().unwrap();
        let (params, _) = lenet_gpu::checkpoint::load(&model, &plan).unwrap();
        let mut engine = CpuEngine::new(plan, params, Optimizer::Sgd { lr: 0.01, momentum: 0.0 });
        let image = lenet_gpu::data::preprocess::load(&digit).unwrap();
        let logits = engine.logits(&lenet_gpu::data::preprocess::dataset(&[image])).unwrap();
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f64 = logits.iter().map(|&z| f64::from(z - max).exp()).sum();
        let best = lenet_gpu::model::argmax(&logits);
        format!("{best} ({:.1}%)", 100.0 / sum)
    };
    let (as_1998, as_lenet5) = (top(Network::lenet5_1998()), top(Network::lenet5()));
    assert_ne!(as_1998, as_lenet5, "the check must tell the two networks apart");
    let predict = cli.run(&["predict", "--device", "cpu", "--model", model_arg, digit.to_str().unwrap()]);
    assert_success(&predict);
    let line = stdout(&predict);
    assert!(line.starts_with(&format!("{}: {as_1998},", digit.display())), "{line} vs {as_1998}");
}
