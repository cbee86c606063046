//! The command line's shape, what it answers before anything runs: the help (every command,
//! every `train` flag with its default, the defaults the library's), arguments out of range
//! refused by the parser with the valid range, and a model file given without `--model`.

mod common;

use common::{assert_success, run_lenet};
use std::collections::HashMap;

fn option_blocks(help: &str) -> HashMap<String, String> {
    let mut blocks: HashMap<String, String> = HashMap::new();
    let mut current: Option<String> = None;
    for line in help.lines() {
        let trimmed = line.trim_start();
        let is_option = trimmed.starts_with('-') && line.len() - trimmed.len() <= 6;
        if is_option {
            let flag = trimmed.split([' ', ',', '<']).find(|w| w.starts_with("--")).unwrap_or(trimmed);
            current = Some(flag.to_string());
        }
        if let Some(flag) = &current {
            let block = blocks.entry(flag.clone()).or_default();
            block.push(' ');
            block.push_str(&trimmed.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
    blocks
}

#[test]
fn help_lists_every_command_and_every_train_flag_with_its_default() {
    let run = run_lenet(&["--help"], |_| {});
    assert_success(&run);
    for command in ["train", "eval", "summary", "download"] {
        assert!(
            run.stdout.lines().any(|l| l.trim_start().starts_with(command)),
            "{command}:\n{}",
            run.stdout
        );
    }

    let run = run_lenet(&["train", "--help"], |_| {});
    assert_success(&run);
    let blocks = option_blocks(&run.stdout);
    for (flag, default) in [
        ("--epochs", "[default: 1, or with --resume the checkpoint's total]"),
        // (With --resume, the settings not given are the checkpoint's: the help says so.)
        ("--batch-size", "[default: 64, or with --resume the checkpoint's]"),
        ("--lr", "0.01 for sgd, 0.001 for adam"),
        ("--momentum", "[default: 0.9, or with --resume the checkpoint's]"),
        ("--optimizer", "[default: sgd, or with --resume the checkpoint's]"),
        ("--seed", "[default: 1, or with --resume the checkpoint's]"),
        ("--schedule", "[default: constant, or with --resume the checkpoint's]"),
        ("--warmup", "[default: 0, or with --resume the checkpoint's]"),
        ("--weight-decay", "[default: 0, or with --resume the checkpoint's]"),
        ("--target-accuracy", ""),
        ("--data-dir", "./data/mnist"),
        ("--dataset", "[default: auto]"),
        ("--save", ""),
    ] {
        let block = blocks.get(flag).unwrap_or_else(|| panic!("{flag} is not in:\n{}", run.stdout));
        assert!(block.contains(default), "{flag} does not show its default {default:?}: {block}");
    }
    for value in ["sgd", "adam"] {
        assert!(blocks["--optimizer"].contains(value), "{}", blocks["--optimizer"]);
    }
    for value in ["constant", "step", "cosine", "onecycle"] {
        assert!(blocks["--schedule"].contains(value), "{}", blocks["--schedule"]);
    }
    for value in ["auto", "mnist", "synthetic"] {
        assert!(blocks["--dataset"].contains(value), "{}", blocks["--dataset"]);
    }
}

#[test]
fn the_defaults_train_help_writes_are_the_librarys() {
    // clap's help is written in doc comments; the defaults are `TrainConfig::default()` alone.
    use lenet_gpu::model::optimizer::{Optimizer, OptimizerKind};
    use lenet_gpu::session::TrainConfig;
    let defaults = TrainConfig::default();
    let run = run_lenet(&["train", "--help"], |_| {});
    assert_success(&run);
    let blocks = option_blocks(&run.stdout);
    let Optimizer::Sgd { lr, momentum } = defaults.optimizer else { panic!("SGD is the default") };
    let adam = OptimizerKind::Adam.default_learning_rate();
    for (flag, default) in [
        ("--epochs", format!("[default: {},", defaults.epochs)),
        ("--batch-size", format!("[default: {},", defaults.batch_size)),
        ("--lr", format!("[default: {lr} for sgd, {adam} for adam,")),
        ("--momentum", format!("[default: {momentum},")),
        ("--optimizer", format!("[default: {},", defaults.optimizer.kind())),
        ("--seed", format!("[default: {},", defaults.seed)),
        ("--schedule", format!("[default: {},", defaults.schedule.kind)),
        ("--warmup", format!("[default: {},", defaults.schedule.warmup)),
        ("--weight-decay", format!("[default: {},", defaults.weight_decay)),
        ("--augment", format!("[default: {},", defaults.augmentation)),
    ] {
        let block = &blocks[flag];
        assert!(
            block.contains(&default),
            "{flag}'s help says another default than the library's {default:?}: {block}"
        );
    }
}

#[test]
fn out_of_range_arguments_are_rejected_by_the_parser_with_the_valid_range() {
    for (flag, value, range) in [
        ("--batch-size", "0", "1.."),
        ("--epochs", "0", "1.."),
        ("--lr", "0", "must be a positive number, got 0"),
        ("--lr", "-1", "must be a positive number, got -1"),
        ("--lr", "NaN", "must be finite, got NaN"),
        ("--weight-decay", "-0.1", "at least 0, got -0.1"),
        ("--momentum", "1.5", "[0, 1)"),
        ("--momentum", "-0.5", "[0, 1)"),
    ] {
        let run = run_lenet(&["train", "--dataset", "synthetic", flag, value], |_| {});
        // Exit status 2 is clap's: the arguments were rejected before anything ran.
        assert_eq!(run.code, Some(2), "{flag} {value}: exit status {:?}\n{}", run.code, run.stderr);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        let error = run.stderr.lines().find(|l| l.starts_with("error: ")).unwrap_or("");
        assert!(error.contains(flag) && error.contains(range), "{flag} {value}: {error:?}\n{}", run.stderr);
        assert!(run.stdout.is_empty(), "{flag} {value}: nothing ran:\n{}", run.stdout);
    }
}

#[test]
fn a_model_given_without_model_gets_the_command_with_it() {
    let cases: [(&[&str], &str); 3] = [
        (&["eval", "m.safetensors"], "lenet eval --model m.safetensors"),
        (&["predict", "m.safetensors", "a.png"], "lenet predict --model m.safetensors a.png"),
        (
            &["show", "kernels", "m.safetensors", "--out", "k.png"],
            "lenet show kernels --model m.safetensors --out k.png",
        ),
    ];
    for (args, fixed) in cases {
        let run = run_lenet(args, |_| {});
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.stderr);
        let hint = format!("hint: a model is given with --model: {fixed}");
        assert_eq!(run.stderr.lines().last(), Some(hint.as_str()), "{}", run.stderr);
    }
    // No hint where --model is there, or the file is another flag's value.
    for args in
        [&["eval", "--model", "a.safetensors", "b.safetensors"][..], &["eval", "--init", "m.safetensors"]]
    {
        let run = run_lenet(args, |_| {});
        assert_eq!(run.code, Some(2), "{args:?}");
        assert!(!run.stderr.contains("hint:"), "{args:?}: {}", run.stderr);
    }
}
