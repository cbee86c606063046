//! `--arch`: the compact architecture syntax (the inverse of `Layer`'s Display), its errors, the
//! MNIST checks, and the CLI training, saving, evaluating and summarizing any architecture.

mod common;

use common::{Run, TempDir, run_lenet};
use lenet_gpu::model::arch::{self, load_network, parse_network, parse_shape, plan_for_mnist};
use lenet_gpu::model::{Layer, Network, Shape};
use lenet_gpu::rng::Rng;

fn conv(out_channels: usize, kernel_h: usize, kernel_w: usize, stride: usize, padding: usize) -> Layer {
    Layer::Conv2d { out_channels, kernel_h, kernel_w, stride, padding }
}

fn mnist(layers: Vec<Layer>) -> Network {
    Network { input: Shape::new(1, 28, 28), layers }
}

fn parse(text: &str) -> Network {
    parse_network(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
}

fn parse_error(text: &str) -> String {
    match parse_network(text) {
        Ok(net) => panic!("{text:?} should not parse, but gave {net:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn parses_each_layer_kind_and_its_options() {
    for (text, layer) in [
        ("conv6k5", conv(6, 5, 5, 1, 0)),
        ("conv6k5p2", conv(6, 5, 5, 1, 2)),
        ("conv6k3x5", conv(6, 3, 5, 1, 0)),
        ("conv6k5s2", conv(6, 5, 5, 2, 0)),
        ("conv6k5s2p1", conv(6, 5, 5, 2, 1)),
        ("conv6k5p1s2", conv(6, 5, 5, 2, 1)),
        ("conv6k3x5s2p1", conv(6, 3, 5, 2, 1)),
        ("conv6k5s1p0", conv(6, 5, 5, 1, 0)),
        ("conv16k05", conv(16, 5, 5, 1, 0)),
        ("maxpool2", Layer::MaxPool { window: 2, stride: 2 }),
        ("maxpool3s2", Layer::MaxPool { window: 3, stride: 2 }),
        ("maxpool2s2", Layer::MaxPool { window: 2, stride: 2 }),
        ("avgpool2", Layer::AvgPool { window: 2, stride: 2 }),
        ("avgpool3s2", Layer::AvgPool { window: 3, stride: 2 }),
        ("avgpool2s1", Layer::AvgPool { window: 2, stride: 1 }),
        ("relu", Layer::Relu),
        ("tanh", Layer::Tanh),
        ("dense10", Layer::Dense { out_features: 10 }),
        ("Conv6K5P2", conv(6, 5, 5, 1, 2)),
        ("MaxPool2", Layer::MaxPool { window: 2, stride: 2 }),
        ("AvgPool2", Layer::AvgPool { window: 2, stride: 2 }),
        ("ReLU", Layer::Relu),
        ("TanH", Layer::Tanh),
    ] {
        assert_eq!(parse(text), mnist(vec![layer]), "{text}");
    }
}

#[test]
fn parses_lists_with_whitespace_an_input_shape_and_the_lenet5_name() {
    let small = mnist(vec![
        conv(8, 3, 3, 1, 1),
        Layer::Relu,
        Layer::MaxPool { window: 2, stride: 2 },
        Layer::Dense { out_features: 10 },
    ]);
    for text in [
        "conv8k3p1,relu,maxpool2,dense10",
        "  conv8k3p1 , relu,maxpool2 ,\tdense10  ",
        "conv8k3p1,relu,maxpool2,dense10,",
        "input1x28x28,conv8k3p1,relu,maxpool2,dense10",
        "input1@28x28, conv8k3p1, relu, maxpool2, dense10",
    ] {
        assert_eq!(parse(text), small, "{text:?}");
        assert_eq!(text.parse::<Network>().unwrap(), small, "FromStr: {text:?}");
    }
    let color = parse("input3x32x32,conv6k5,relu,maxpool2,dense10");
    assert_eq!(color.input, Shape::new(3, 32, 32));
    assert_eq!(color.to_string(), "input3x32x32,conv6k5,relu,maxpool2,dense10");
    assert_eq!(parse("input784,dense10").input, Shape::new(784, 1, 1));

    for text in ["lenet5", "LeNet5", " lenet-5 ", "lenet5,"] {
        assert_eq!(parse(text), Network::lenet5(), "{text:?}");
    }
    assert_eq!(parse(&Network::lenet5().layers_string()), Network::lenet5());
    assert_eq!(
        parse("conv6k5p2,relu,maxpool2,conv16k5,relu,maxpool2,dense120,relu,dense84,relu,dense10"),
        Network::lenet5()
    );
    // The 1998 original, as the paper spells it too.
    for text in ["lenet5-1998", "LeNet-5-1998", "LENET5-1998,"] {
        assert_eq!(parse(text), Network::lenet5_1998(), "{text:?}");
    }
    assert_eq!(
        parse("conv6k5p2,tanh,avgpool2,conv16k5,tanh,avgpool2,dense120,tanh,dense84,tanh,dense10"),
        Network::lenet5_1998()
    );
    assert_eq!(arch::name_of(&Network::lenet5_1998()), Some("lenet5-1998"));
    assert_eq!(arch::name_of(&Network::lenet5()), Some("lenet5"));
    assert_eq!(arch::name_of(&parse("relu,dense10")), None);
    assert_eq!(parse_shape("1@28x28").unwrap(), Shape::new(1, 28, 28));
    assert_eq!(parse_shape("16").unwrap(), Shape::new(16, 1, 1));
}

#[test]
fn reads_a_file_with_newlines_and_comments() {
    let dir = TempDir::new("arch-file");
    let path = dir.join("small.arch");
    common::write(
        &path,
        b"# a small network for MNIST\n\
          input1x28x28   # one grey image\n\
          \n\
          conv8k3p1, relu   # 8@28x28\n\
          maxpool2,\n\
          dense10\n",
    );
    let from_file = load_network(path.to_str().unwrap()).unwrap();
    assert_eq!(from_file, parse("conv8k3p1,relu,maxpool2,dense10"));
    // The same text given directly parses the same way.
    assert_eq!(parse(&std::fs::read_to_string(&path).unwrap()), from_file);
    // Not a file: the value is the architecture itself.
    assert_eq!(load_network("relu,dense10").unwrap(), parse("relu,dense10"));
    assert_eq!(load_network("lenet5").unwrap(), Network::lenet5());

    // An error in a file names the file, the layer and its line.
    let bad = dir.join("bad.arch");
    common::write(&bad, b"conv8k3p1\nrelu  # fine so far\nmaxpool\ndense10\n");
    let error = load_network(bad.to_str().unwrap()).unwrap_err().to_string();
    assert!(error.contains(bad.to_str().unwrap()), "{error}");
    assert!(
        error.contains("layer 3 \"maxpool\" (line 3): expected a window size after \"maxpool\""),
        "{error}"
    );

    // A value that looks like a path but names no file says so.
    let missing = dir.join("missing.arch");
    let error = load_network(missing.to_str().unwrap()).unwrap_err().to_string();
    assert!(error.contains("no such file"), "{error}");
}

#[test]
fn every_kind_of_bad_item_is_an_error_naming_it_and_what_was_expected() {
    for (text, expected) in [
        ("conv6k5p2,relu,conv6k", "layer 3 \"conv6k\": expected a kernel size after \"k\""),
        ("conv", "layer 1 \"conv\": expected a number of output channels after \"conv\""),
        ("conv6", "layer 1 \"conv6\": expected \"k\" and a kernel size after \"conv6\""),
        ("relu,conv6x5", "layer 2 \"conv6x5\": expected \"k\" and a kernel size after \"conv6\""),
        ("conv6k5x", "layer 1 \"conv6k5x\": expected a kernel width after \"x\""),
        ("conv6k5s", "layer 1 \"conv6k5s\": expected a stride after \"s\""),
        ("conv6k5p", "layer 1 \"conv6k5p\": expected a padding after \"p\""),
        (
            "conv6k5q1",
            "layer 1 \"conv6k5q1\": unexpected \"q1\" after \"conv6k5\": expected s<stride> or p<padding>",
        ),
        ("conv6k5s2s3", "layer 1 \"conv6k5s2s3\": the stride is given twice"),
        ("conv6k5p1p1", "layer 1 \"conv6k5p1p1\": the padding is given twice"),
        ("conv0k5", "layer 1 \"conv0k5\": the number of output channels must be at least 1, got 0"),
        ("conv6k0", "layer 1 \"conv6k0\": the kernel size must be at least 1, got 0"),
        ("conv6k3x0", "layer 1 \"conv6k3x0\": the kernel width must be at least 1, got 0"),
        ("conv6k5s0", "layer 1 \"conv6k5s0\": the stride must be at least 1, got 0"),
        (
            "conv99999999999999999999999k3",
            "layer 1 \"conv99999999999999999999999k3\": the number of output channels 99999999999999999999999 is too large",
        ),
        ("maxpool", "layer 1 \"maxpool\": expected a window size after \"maxpool\""),
        ("maxpool0", "layer 1 \"maxpool0\": the window size must be at least 1, got 0"),
        ("maxpool2s0", "layer 1 \"maxpool2s0\": the stride must be at least 1, got 0"),
        ("maxpool2p1", "layer 1 \"maxpool2p1\": unexpected \"p1\" after \"maxpool2\""),
        ("avgpool", "layer 1 \"avgpool\": expected a window size after \"avgpool\""),
        ("avgpool2s0", "layer 1 \"avgpool2s0\": the stride must be at least 1, got 0"),
        ("avgpool2x2", "layer 1 \"avgpool2x2\": unexpected \"x2\" after \"avgpool2\""),
        ("tanh2", "layer 1 \"tanh2\": unexpected \"2\" after \"tanh\""),
        ("relu6", "layer 1 \"relu6\": unexpected \"6\" after \"relu\""),
        ("dense", "layer 1 \"dense\": expected a number of outputs after \"dense\""),
        ("dense0", "layer 1 \"dense0\": the number of outputs must be at least 1, got 0"),
        ("dense10x", "layer 1 \"dense10x\": unexpected \"x\" after \"dense10\""),
        ("relu,sigmoid,dense10", "layer 2 \"sigmoid\": unknown layer: expected conv<out>k<size>"),
        ("relu,,dense10", "an empty item after \"relu\": expected a layer between the commas"),
        (",relu", "an empty item at the start"),
        ("relu\n,dense10", "an empty item after \"relu\" on line 2"),
        ("", "the architecture is empty"),
        ("  # only a comment\n\n", "the architecture is empty"),
        ("relu,input1x28x28", "layer 2 \"input1x28x28\": the input shape must be the first item"),
        ("input1x28,dense10", "input \"input1x28\": expected a shape such as 1x28x28"),
        ("input,dense10", "input \"input\": expected a shape such as 1x28x28"),
        ("input1xax28,dense10", "input \"input1xax28\": expected a shape"),
        ("input0x28x28,dense10", "input \"input0x28x28\": the channel count must be at least 1, got 0"),
        ("input1x28x0,dense10", "input \"input1x28x0\": the width must be at least 1, got 0"),
        ("input1x28x28", "has an input shape but no layers"),
        ("lenet5,dense10", "layer 1 \"lenet5\": lenet5 names a whole network, so it must stand alone"),
        ("relu,lenet5", "layer 2 \"lenet5\": lenet5 names a whole network"),
        ("input1x28x28,lenet5", "layer 1 \"lenet5\": lenet5 names a whole network"),
        ("lenet5-1998,tanh", "layer 1 \"lenet5-1998\": lenet5-1998 names a whole network"),
        ("lenet5-1999", "layer 1 \"lenet5-1999\": unknown layer"),
        ("relu\nconv6k\n", "layer 2 \"conv6k\" (line 2): expected a kernel size after \"k\""),
        ("dense100000,relu,dense100000", "layer 3 \"dense100000\": too large: it has 10000100000 parameters"),
        ("conv16000000k1,relu", "layer 1 \"conv16000000k1\": too large: its output 16000000@28x28 has"),
    ] {
        let error = parse_error(text);
        assert!(error.contains(expected), "{text:?}:\n  got      {error}\n  expected {expected}");
        assert_eq!(error.lines().count(), 1, "one line: {error}");
    }
}

/// A random layer that parses back from its Display: any sizes within a useful range, every
/// option in and out of its default.
fn random_layer(rng: &mut Rng) -> Layer {
    match rng.below(6) {
        0 => {
            let kernel_h = 1 + rng.below(7);
            let kernel_w = if rng.below(2) == 0 { kernel_h } else { 1 + rng.below(7) };
            conv(1 + rng.below(64), kernel_h, kernel_w, 1 + rng.below(3), rng.below(4))
        }
        1 => Layer::MaxPool { window: 1 + rng.below(4), stride: 1 + rng.below(4) },
        2 => Layer::AvgPool { window: 1 + rng.below(4), stride: 1 + rng.below(4) },
        3 => Layer::Relu,
        4 => Layer::Tanh,
        _ => Layer::Dense { out_features: 1 + rng.below(300) },
    }
}

#[test]
fn every_network_round_trips_through_its_string() {
    let mut rng = Rng::derive(5, "arch round trip");
    for case in 0..2000 {
        let layers: Vec<Layer> = (0..1 + rng.below(12)).map(|_| random_layer(&mut rng)).collect();
        let net = mnist(layers);
        let text = net.layers_string();
        assert_eq!(
            parse_network(&text).unwrap_or_else(|e| panic!("case {case}: {text}: {e}")),
            net,
            "{text}"
        );
        assert_eq!(net.to_string(), text, "the default input is left out");

        // Any input shape round trips through the full form, spaced or not.
        let input = Shape::new(1 + rng.below(4), 1 + rng.below(64), 1 + rng.below(64));
        let net = Network { input, ..net };
        let text = net.to_string();
        assert_eq!(text.parse::<Network>().unwrap(), net, "{text}");
        assert_eq!(parse(&text.replace(',', " ,\n  ")), net, "{text} with whitespace and newlines");
    }
}

#[test]
fn shapes_that_do_not_chain_are_the_plans_error_naming_the_layer_and_both_shapes() {
    // LeNet's features end at 16@5x5: a 7x7 kernel cannot take them.
    let net = parse("conv6k5p2,relu,maxpool2,conv16k5,relu,maxpool2,conv32k7,relu,dense10");
    let error = plan_for_mnist(&net).unwrap_err().to_string();
    assert!(error.contains("layer 7"), "{error}");
    assert!(error.contains("conv 32@7x7"), "the layer's kernel: {error}");
    assert!(error.contains("input 16@5x5"), "the shape it was given: {error}");
    assert_eq!(error, net.plan().unwrap_err().to_string(), "plan's own error, unchanged");

    let error = plan_for_mnist(&parse("conv8k3p1,relu,maxpool2,dense12")).unwrap_err().to_string();
    assert!(error.contains("the last layer gives 12 outputs but MNIST has 10 classes"), "{error}");
    let error = plan_for_mnist(&parse("conv8k3p1,relu")).unwrap_err().to_string();
    assert!(
        error.contains("the last layer gives 6272 (8@28x28) outputs but MNIST has 10 classes"),
        "{error}"
    );
    let error = plan_for_mnist(&parse("input3x28x28,dense10")).unwrap_err().to_string();
    assert!(
        error
            .contains("the network takes 3@28x28 inputs but MNIST images are 1@28x28 and CIFAR-10's 3@32x32"),
        "{error}"
    );
    // CIFAR-10's input plans: any network starting input3x32x32, and lenet5-cifar (LeNet-5's
    // parameters, conv1 with three input channels: 3*6*25 + 6, then 2416 + 48120 + 10164 + 850).
    let plan = plan_for_mnist(&parse("input3x32x32,conv4k3,relu,maxpool2,dense10")).unwrap();
    assert_eq!(plan.parameter_count, 3 * 4 * 9 + 4 + 10 * 4 * 15 * 15 + 10);
    let cifar = arch::load_network("lenet5-cifar").unwrap();
    assert_eq!(cifar, Network::lenet5_cifar());
    assert_eq!(plan_for_mnist(&cifar).unwrap().parameter_count, 3 * 6 * 25 + 6 + 2416 + 48120 + 10164 + 850);
    assert_eq!(arch::name_of(&cifar), Some("lenet5-cifar"));
    assert_eq!(arch::title(&cifar), "LeNet-5 (CIFAR-10)");
    assert_eq!(parse(&cifar.to_string()), cifar, "its architecture string reads back");

    let plan = plan_for_mnist(&parse("conv8k3p1,relu,maxpool2,dense10")).unwrap();
    assert_eq!(plan.parameter_count, 8 * 9 + 8 + 10 * 8 * 14 * 14 + 10);
    assert_eq!(arch::MNIST_CLASSES, plan.classes());
}

#[test]
fn a_checkpoint_gives_back_the_network_its_metadata_records() {
    use lenet_gpu::checkpoint::{recorded_network, save};
    use lenet_gpu::model::Parameters;
    use std::collections::HashMap;
    let dir = TempDir::new("arch-checkpoint");
    let net = parse("conv4k3p1,relu,maxpool3s2,dense10");
    let params = Parameters::init(&net.plan().unwrap(), 1);
    let path = dir.join("model.safetensors");
    let with = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };

    let recorded = with(&[("architecture", &net.layers_string()), ("input", "1@28x28")]);
    save(&path, &params, recorded).unwrap();
    assert_eq!(recorded_network(&path).unwrap(), Some(net.clone()));
    save(&path, &params, with(&[("architecture", &net.layers_string())])).unwrap();
    assert_eq!(recorded_network(&path).unwrap(), Some(net.clone()), "MNIST's input when none is recorded");
    save(&path, &params, HashMap::new()).unwrap();
    assert_eq!(recorded_network(&path).unwrap(), None, "no architecture recorded (as from PyTorch)");

    save(&path, &params, with(&[("architecture", "conv4k,relu")])).unwrap();
    let error = recorded_network(&path).unwrap_err().to_string();
    assert!(error.contains(path.to_str().unwrap()), "{error}");
    assert!(error.contains("\"architecture\" metadata is unreadable: layer 1 \"conv4k\""), "{error}");
    save(&path, &params, with(&[("architecture", "relu"), ("input", "28x28")])).unwrap();
    let error = recorded_network(&path).unwrap_err().to_string();
    assert!(error.contains("\"input\" metadata is unreadable: shape \"28x28\""), "{error}");
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

fn assert_success(out: &Run) {
    assert!(out.success(), "exit {:?}\nstdout:\n{}\nstderr:\n{}", out.code, stdout(out), stderr(out));
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
        let best = lenet_gpu::cpu::loss::argmax(&logits);
        format!("{best} ({:.1}%)", 100.0 / sum)
    };
    let (as_1998, as_lenet5) = (top(Network::lenet5_1998()), top(Network::lenet5()));
    assert_ne!(as_1998, as_lenet5, "the check must tell the two networks apart");
    let predict = cli.run(&["predict", "--device", "cpu", "--model", model_arg, digit.to_str().unwrap()]);
    assert_success(&predict);
    let line = stdout(&predict);
    assert!(line.starts_with(&format!("{}: {as_1998},", digit.display())), "{line} vs {as_1998}");
}
