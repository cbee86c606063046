//! `train --recipe`: a named recipe fills in the settings a command does not give, and what the
//! command gives wins.

mod common;

use common::{Run, TempDir, run_lenet};
use lenet_gpu::checkpoint;
use lenet_gpu::data::augment::Augmentation;
use lenet_gpu::model::optimizer::Optimizer;
use lenet_gpu::model::schedule::ScheduleKind;
use lenet_gpu::session::{GivenSettings, OptimizerKind, Recipe};

#[test]
fn a_recipe_fills_what_is_not_given_and_yields_to_what_is() {
    let fast = Recipe::Fast.fill(GivenSettings::default()).complete(None);
    assert_eq!(fast.optimizer, Optimizer::Sgd { lr: 0.1, momentum: 0.9 });
    assert_eq!((fast.batch_size, fast.epochs, fast.weight_decay), (128, 3, 5e-4));
    assert_eq!(fast.schedule.kind, ScheduleKind::OneCycle);
    assert!(fast.augmentation.is_none());

    let best = Recipe::Best.fill(GivenSettings::default()).complete(None);
    assert_eq!((best.epochs, best.augmentation), (15, Augmentation::shift(2)));

    // Given settings win; a learning rate goes with its optimizer: Adam gets Adam's default.
    let given = GivenSettings { epochs: Some(5), optimizer: Some(OptimizerKind::Adam), ..Default::default() };
    let mine = Recipe::Fast.fill(given).complete(None);
    assert_eq!(mine.epochs, 5);
    assert_eq!(mine.optimizer, OptimizerKind::Adam.with(None, 0.9));
    assert_eq!((mine.batch_size, mine.schedule.kind), (128, ScheduleKind::OneCycle));
}

fn lenet(dir: &TempDir, args: &[&str]) -> Run {
    let data = ["--dataset", "synthetic", "--limit-train", "512", "--limit-test", "64", "--device", "cpu"];
    run_lenet(&[&["train"], &data[..], args].concat(), |cmd| {
        cmd.current_dir(dir.path()).env("LENET_DATA_DIR", dir.join("no-mnist"));
    })
}

#[test]
fn train_recipe_through_the_cli() {
    let dir = TempDir::new("recipe");
    let out = lenet(&dir, &["--recipe", "fast", "--epochs", "1", "--save", "m.safetensors"]);
    assert!(out.success(), "{}", out.stderr);
    assert!(out.stderr.contains("1 epoch, batch 128, SGD lr 0.1 momentum 0.9"), "{}", out.stderr);
    assert!(out.stderr.contains("onecycle schedule, weight decay 0.0005"), "{}", out.stderr);
    let metadata = checkpoint::read_metadata(&dir.join("m.safetensors")).unwrap();
    for (key, value) in [("schedule", "onecycle"), ("weight_decay", "0.0005"), ("batch_size", "128")] {
        assert_eq!(metadata.get(key).map(String::as_str), Some(value), "{key}: {metadata:?}");
    }
    // On 512 images the recipe says its epochs are fewer steps than it was tuned for.
    assert!(
        out.stderr.contains(
            "note: --recipe fast was tuned on 55000 MNIST images; on 512 its 1 epochs take 1% of the steps"
        ),
        "{}",
        out.stderr
    );
    let out = lenet(&dir, &["--recipe", "quick"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("unknown recipe \"quick\": the recipes are fast, best"), "{}", out.stderr);
}
