//! `lenet summary` and the `--arch` messages, tried through the CLI as a user types them: the
//! flatten and each conv's input channels in the table, a checkpoint's network (`--model`),
//! `flatten`/`softmax` explained, unknown names answered with the named networks, and a network
//! ending in an activation warned about.

mod common;

use common::Run;
use common::sandbox::Sandbox;

/// The rows of a summary's table, split on whitespace, keyed by their first word.
fn row<'a>(run: &'a Run, name: &str) -> Vec<&'a str> {
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name}:\n{}", run.stdout));
    line.split_whitespace().collect()
}

#[test]
fn the_summary_shows_the_flatten_and_each_convs_input_channels() {
    let sandbox = Sandbox::new("summary-table");
    let run = sandbox.run(&["summary"]);
    assert!(run.success(), "{}", run.stderr);
    assert!(run.stdout.contains("conv1    conv 5x5, 1 -> 6 channels, stride 1, pad 2"), "{}", run.stdout);
    assert!(run.stdout.contains("conv2    conv 5x5, 6 -> 16 channels, stride 1, pad 0"), "{}", run.stdout);
    assert_eq!(row(&run, "flatten"), ["flatten", "flatten", "16@5x5", "into", "400", "values", "400", "0"]);
    assert!(run.stdout.contains("fc1      dense 400 -> 120"), "{}", run.stdout);
    // The flatten comes right before the first dense layer, and only there.
    let names: Vec<&str> = run.stdout.lines().filter_map(|l| l.split_whitespace().next()).collect();
    let at = names.iter().position(|&n| n == "flatten").unwrap();
    assert_eq!((names[at - 1], names[at + 1]), ("maxpool", "fc1"), "{names:?}");
    assert_eq!(names.iter().filter(|&&n| n == "flatten").count(), 1);
}

#[test]
fn summary_model_shows_the_network_a_checkpoint_records() {
    let sandbox = Sandbox::new("summary-model");
    let net = "conv4k3,relu,maxpool2,dense10";
    let data = ["--dataset", "synthetic", "--no-download", "--limit-train", "64", "--limit-test", "16"];
    let train = sandbox
        .run(&[&["train", "--device", "cpu", "--arch", net, "--save", "m.safetensors"], &data[..]].concat());
    assert!(train.success(), "{}", train.stderr);
    let run = sandbox.run(&["summary", "--model", "m.safetensors"]);
    assert!(run.success(), "{}", run.stderr);
    let mut lines = run.stdout.lines();
    assert_eq!(lines.next(), Some("m.safetensors: the network it records, after epoch 1"));
    assert_eq!(lines.next(), Some(format!("network: {net}").as_str()));
    assert_eq!(row(&run, "conv1")[1..6], ["conv", "3x3,", "1", "->", "4"]);
    assert!(run.stdout.contains("total parameters: 6,810"), "{}", run.stdout);
    let run = sandbox.run(&["summary", "--model", "missing.safetensors"]);
    assert!(run.error_line(1, "a missing model").contains("missing.safetensors"), "{}", run.stderr);
}

#[test]
fn flatten_softmax_unknown_names_and_a_final_activation_are_explained() {
    let sandbox = Sandbox::new("arch-words");
    let run = sandbox.run(&["summary", "--arch", "conv6k5,relu,maxpool2,flatten,dense10"]);
    let line = run.error_line(2, "flatten");
    assert!(
        line.contains("layer 4 \"flatten\": flattening is implicit")
            && line.ends_with("so leave flatten out"),
        "{line}"
    );
    let run = sandbox.run(&["train", "--arch", "conv6k5,relu,maxpool2,dense10,softmax"]);
    let line = run.error_line(2, "softmax");
    assert!(
        line.contains("layer 5 \"softmax\": the softmax is implicit") && line.contains("leave softmax out"),
        "{line}"
    );
    let run = sandbox.run(&["train", "--arch", "lenet"]);
    let line = run.error_line(2, "an unknown name");
    assert!(
        line.contains(
            "unknown network \"lenet\": the named networks are lenet5 (LeNet-5), lenet5-1998 (LeNet-5 (1998)), lenet5-cifar (LeNet-5 (CIFAR-10))"
        ),
        "{line}"
    );
    // A network ending in an activation trains, with a warning.
    let data = ["--dataset", "synthetic", "--no-download", "--limit-train", "64", "--limit-test", "16"];
    let run = sandbox.run(
        &[&["train", "--device", "cpu", "--arch", "conv4k3,relu,maxpool2,dense10,relu"], &data[..]].concat(),
    );
    assert!(run.success(), "{}", run.stderr);
    let warnings: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), 1, "{}", run.stderr);
    assert!(
        warnings[0]
            .starts_with("warning: the network ends in relu, which sets every negative class score to 0"),
        "{}",
        warnings[0]
    );
    assert!(warnings[0].ends_with("drop the final relu"), "{}", warnings[0]);
    let run = sandbox.run(&["summary", "--arch", "lenet5"]);
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
}

#[test]
fn the_summary_indents_a_blocks_layers_and_counts_the_running_statistics_apart() {
    let sandbox = Sandbox::new("summary-blocks");
    let arch = "conv4k3p1,bn,relu,res(conv8k3s2p1,bn,relu,conv8k3p1,bn),gelu,gap,dropout0.5,dense10";
    let run = sandbox.run(&["summary", "--arch", arch]);
    assert!(run.success(), "{}", run.stderr);
    // A block's layers indented under it, then its sum.
    let names: Vec<&str> = run.stdout.lines().skip(3).map(|l| l.trim_end()).collect();
    let at = |name: &str| {
        names
            .iter()
            .position(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name}:\n{}", run.stdout))
    };
    let order = [
        "res1",
        "  conv2",
        "  bn2",
        "  conv3",
        "  bn3",
        "  shortcut1",
        "  add",
        "gelu",
        "gap",
        "dropout",
        "fc1",
    ];
    assert!(order.windows(2).all(|w| at(w[0]) < at(w[1])), "{}", run.stdout);
    assert!(run.stdout.contains("shortcut: conv 1x1, 4 -> 8 channels, stride 2, pad 0"), "{}", run.stdout);
    assert!(run.stdout.contains("body(x) + the shortcut's"), "{}", run.stdout);
    // Trained: 4·9+4, 8 (bn1), 8·4·9+8, 16, 8·8·9+8, 16, 8·4+8 (shortcut), 8·10+10; three batch
    // norms' statistics (2C + 1 each) apart.
    assert_eq!(40 + 8 + 296 + 16 + 584 + 16 + 40 + 90, 1090);
    assert!(run.stdout.contains("total parameters: 1,090"), "{}", run.stdout);
    assert!(
        run.stdout.contains("(and 43 running statistics of the batch norms, not trained)"),
        "{}",
        run.stdout
    );
}
