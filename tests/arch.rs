//! `--arch`: the compact architecture syntax (the inverse of `Layer`'s Display), its errors, the
//! MNIST checks and the plans; `arch_cli.rs` trains, saves, evaluates and summarizes any
//! architecture through the command line.

mod common;

use common::TempDir;
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
