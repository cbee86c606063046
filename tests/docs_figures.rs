//! The figures the README and docs/ quote from one epoch of LeNet-5 on MNIST (seed 1, the CPU
//! path) are what `lenet train` prints now: its sample output, the model's accuracy and mistakes
//! that docs/pictures.md describes, the accuracy docs/cli.md compares the 1998 network with. When
//! this fails, run `bash docs/images/regenerate.sh`, which writes them all (and the pictures).

mod common;

use common::run_lenet;
use std::path::Path;

/// The text of a file of the repository, its lines joined by single spaces (prose wraps).
fn text(path: &str) -> String {
    let raw = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap();
    raw.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn the_quoted_one_epoch_figures_are_what_lenet_train_prints() {
    let Some(dir) = common::shared_mnist_dir() else { return };
    let dir = dir.to_str().unwrap();
    let args = ["train", "--device", "cpu", "--dataset", "mnist", "--data-dir", dir, "--epochs", "1"];
    let run = run_lenet(&args, |_| {});
    assert!(run.success(), "{}", run.stderr);
    // "epoch 1/1: train loss 0.3042, train acc 90.37%, test loss 0.0622, test acc 97.97%, 2.1 s, ..."
    let line = run.stdout.lines().find(|l| l.starts_with("epoch 1/1: ")).expect("an epoch line");
    let figures: Vec<&str> = line["epoch 1/1: ".len()..].split(", ").take(4).collect();
    let figures = figures.join(", ");
    let test_acc = figures.rsplit("test acc ").next().unwrap().trim_end_matches('%');
    let misses = 10_000 - (test_acc.parse::<f64>().unwrap() * 100.0).round() as u32;
    let fix = "run bash docs/images/regenerate.sh";
    for file in ["README.md", "docs/cli.md"] {
        let quoted = format!("epoch 1/3: {figures}, ");
        assert!(text(file).contains(&quoted), "{file} does not quote {quoted:?}: {fix}");
    }
    for (file, quoted) in [
        ("docs/pictures.md", format!("one epoch on MNIST ({test_acc}% on the test")),
        ("docs/pictures.md", format!("({misses} of 10,000 for this model)")),
        ("docs/cli.md", format!("(LeNet-5: {test_acc}%)")),
        // The results table's and docs/performance.md's timed epoch, beside PyTorch's.
        ("README.md", format!("images/s), {test_acc}% | PyTorch")),
        ("docs/performance.md", format!("test accuracy {test_acc}%, where PyTorch")),
    ] {
        assert!(text(file).contains(&quoted), "{file} does not say {quoted:?}: {fix}");
    }
}
