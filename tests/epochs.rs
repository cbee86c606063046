//! What `lenet train` says after each epoch, tried through the CLI as a user types it: the test
//! loss beside the test accuracy (the same on both paths, and the same as `lenet eval`'s), the
//! best epoch's model kept by `--save-best`, and a warning for a loss stuck at chance level.

mod common;

use common::Run;
use common::sandbox::Sandbox;

const DATA: [&str; 7] =
    ["--dataset", "synthetic", "--no-download", "--limit-train", "640", "--limit-test", "200"];

/// `lenet train` on a little synthetic data, with `args`.
fn train(sandbox: &Sandbox, args: &[&str]) -> Run {
    let run = sandbox.run(&[&["train"], &DATA[..], args].concat());
    assert!(run.success(), "train {args:?}:\n{}", run.stderr);
    run
}

fn epoch_lines(run: &Run) -> Vec<&str> {
    run.stdout.lines().filter(|l| l.starts_with("epoch ")).collect()
}

/// The number after `key` in `line`, up to the next comma or space ("test loss 0.3776" → 0.3776).
fn value(line: &str, key: &str) -> f64 {
    let start = line.find(key).unwrap_or_else(|| panic!("no {key:?} in {line:?}")) + key.len();
    let text = line[start..].split([',', ' ', '%']).next().unwrap_or("");
    text.parse().unwrap_or_else(|_| panic!("{key:?} in {line:?} is not a number"))
}

#[test]
fn the_epoch_line_gives_the_test_loss_the_same_on_both_paths_and_as_eval() {
    let sandbox = Sandbox::new("test-loss");
    let cpu =
        train(&sandbox, &["--epochs", "2", "--lr", "0.05", "--device", "cpu", "--save", "m.safetensors"]);
    let lines = epoch_lines(&cpu);
    assert_eq!(lines.len(), 2, "{}", cpu.stdout);
    // The fields people parse read as they did, with the test loss beside the test accuracy.
    let fields: Vec<&str> = lines[1].split(", ").collect();
    assert_eq!(fields.len(), 6, "{}", lines[1]);
    assert!(
        fields[0].starts_with("epoch 2/2 (synthetic digits): train loss ")
            && fields[1].starts_with("train acc "),
        "{}",
        lines[1]
    );
    assert!(fields[2].starts_with("test loss ") && fields[3].starts_with("test acc "), "{}", lines[1]);
    assert!(fields[4].ends_with(" s") && fields[5].ends_with(" images/s"), "{}", lines[1]);
    let (first, last) = (value(lines[0], "test loss "), value(lines[1], "test loss "));
    assert!(last < first && last < 2.0, "it learns, and the test loss says so: {lines:?}");

    // `lenet eval` scores the saved model the same way.
    let eval = sandbox.run(&[
        "eval",
        "--model",
        "m.safetensors",
        "--dataset",
        "synthetic",
        "--limit-test",
        "200",
        "--device",
        "cpu",
    ]);
    assert!(eval.success(), "{}", eval.stderr);
    let loss = eval.stdout.lines().find(|l| l.starts_with("test loss: ")).expect("a test loss line");
    assert_eq!(value(loss, "test loss: "), last, "{loss} vs {}", lines[1]);

    if common::gpu().is_none() {
        return;
    }
    let gpu = train(&sandbox, &["--epochs", "2", "--lr", "0.05", "--device", "gpu"]);
    let on_gpu = epoch_lines(&gpu);
    assert_eq!(on_gpu.len(), 2, "{}", gpu.stdout);
    for (c, g) in lines.iter().zip(&on_gpu) {
        let (cl, gl) = (value(c, "test loss "), value(g, "test loss "));
        assert!((cl - gl).abs() <= 2e-4 + 1e-3 * cl, "test loss: cpu {c}, gpu {g}");
        assert!((value(c, "test acc ") - value(g, "test acc ")).abs() <= 1.0, "cpu {c}, gpu {g}");
    }
}

#[test]
fn save_best_keeps_the_epoch_with_the_best_test_accuracy() {
    let sandbox = Sandbox::new("save-best");
    let run =
        train(&sandbox, &["--epochs", "3", "--device", "cpu", "--save", "m.safetensors", "--save-best"]);
    let accuracies: Vec<f64> = epoch_lines(&run).iter().map(|l| value(l, "test acc ")).collect();
    let best = accuracies.iter().copied().fold(f64::MIN, f64::max);
    let epoch = accuracies.iter().position(|&a| a == best).unwrap() + 1;
    let said = format!("best model (epoch {epoch}, test acc {best:.2}%) saved to m.best.safetensors");
    assert!(run.stderr.contains(&said), "{said}:\n{}", run.stderr);
    let metadata = lenet_gpu::checkpoint::read_metadata(&sandbox.work.join("m.best.safetensors")).unwrap();
    assert_eq!(metadata["epoch"], epoch.to_string());
    let eval = sandbox.run(&[
        "eval",
        "--model",
        "m.best.safetensors",
        "--dataset",
        "synthetic",
        "--limit-test",
        "200",
        "--device",
        "cpu",
    ]);
    assert!(eval.stdout.contains(&format!("test accuracy: {best:.2}%")), "{}", eval.stdout);

    // A file of its own, named or beside --save; never --save's own, and a file is needed.
    let run = train(&sandbox, &["--device", "cpu", "--save-best", "b.safetensors"]);
    assert!(run.stderr.contains("saved to b.safetensors"), "{}", run.stderr);
    let run = sandbox.run(&[&["train"], &DATA[..], &["--save-best"]].concat());
    let line = run.error_line(1, "--save-best without --save");
    assert!(line.contains("--save-best FILE") && line.contains("FILE.best.safetensors"), "{line}");
    let run = sandbox
        .run(&[&["train"], &DATA[..], &["--save", "m.safetensors", "--save-best", "m.safetensors"]].concat());
    assert!(run.error_line(1, "--save-best = --save").contains("give it another name"), "{}", run.stderr);
    let help = sandbox.run(&["train", "--help"]);
    assert!(
        help.stdout.contains("--save-best") && help.stdout.contains("lenet.best.safetensors"),
        "{}",
        help.stdout
    );
}

#[test]
fn a_loss_at_chance_level_for_a_whole_epoch_earns_a_warning_naming_a_rate_to_try() {
    let sandbox = Sandbox::new("chance");
    // 100 steps: long enough to judge (a good rate is well below chance by then).
    let run = |args: &[&str]| {
        let base = [
            "train",
            "--dataset",
            "synthetic",
            "--no-download",
            "--limit-train",
            "6400",
            "--limit-test",
            "200",
        ];
        let run = sandbox.run(&[&base[..], &["--device", "cpu"], args].concat());
        assert!(run.success(), "{args:?}: {}", run.stderr);
        run.stderr.lines().filter(|l| l.starts_with("warning:")).map(String::from).collect::<Vec<_>>()
    };
    let warning = "warning: the loss stayed at chance level through epoch 1 (test loss ";
    let too_high = run(&["--lr", "0.5"]);
    assert_eq!(too_high.len(), 1, "{too_high:?}");
    assert!(too_high[0].starts_with(warning), "{too_high:?}");
    assert!(
        too_high[0].contains("guessing among 10 classes scores ln 10 = 2.3026")
            && too_high[0]
                .ends_with("nothing is being learned at learning rate 0.5; try a lower one, e.g. --lr 0.01"),
        "{too_high:?}"
    );
    let adam = run(&["--optimizer", "adam", "--lr", "10"]);
    assert!(
        adam.len() == 1 && adam[0].ends_with("at learning rate 10; try a lower one, e.g. --lr 0.001"),
        "{adam:?}"
    );
    let too_low = run(&["--lr", "0.0001"]);
    assert!(too_low.len() == 1 && too_low[0].ends_with("try a higher one, e.g. --lr 0.01"), "{too_low:?}");
    // A rate that learns, and a run too short to judge, say nothing; one warning a run.
    assert_eq!(run(&[]), Vec::<String>::new());
    let short = sandbox.run(&[&["train"], &DATA[..], &["--device", "cpu", "--lr", "0.5"]].concat());
    assert!(!short.stderr.contains("warning:"), "{}", short.stderr);
    assert_eq!(run(&["--lr", "0.5", "--epochs", "2"]).len(), 1);
}
