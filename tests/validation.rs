//! `train --validation N`: N training images held out, chosen from the seed, never trained on;
//! each epoch reports their accuracy and loss (equal to evaluating them), the metrics file gets
//! `validation` rows, and `--target-accuracy` then stops on validation accuracy, `--save-best`
//! keeps the epoch of the best validation accuracy. (The split's
//! draw: `train::validation`'s unit tests; recorded and resumed: tests/augment.rs.)

mod common;

use common::{TempDir, run_lenet};
use lenet_gpu::cpu::engine::CpuEngine;
use lenet_gpu::cpu::optimizer::Optimizer;
use lenet_gpu::data::{Split, synthetic};
use lenet_gpu::metrics::Kind;
use lenet_gpu::model::{Network, Parameters};
use lenet_gpu::train::validation::{holdout, subset};
use lenet_gpu::train::{self, Engine, EpochReport, Observer, TrainConfig};

const SGD: Optimizer = Optimizer::Sgd { lr: 0.02, momentum: 0.9 };

/// The images each epoch says it trains on.
#[derive(Default)]
struct Counted(Vec<usize>);

impl Observer for Counted {
    fn epoch_started(&mut self, _epoch: usize, images: usize) {
        self.0.push(images);
    }
}

/// Two epochs on `split` holding out 100: the parameters after, the reports and the images
/// each epoch trained on.
fn run(split: &Split) -> (Vec<u32>, Vec<EpochReport>, Vec<usize>) {
    let plan = Network::lenet5().plan().unwrap();
    let config = TrainConfig {
        epochs: 2,
        batch_size: 32,
        optimizer: SGD,
        seed: 4,
        validation: 100,
        ..Default::default()
    };
    let mut engine = CpuEngine::new(plan.clone(), Parameters::init(&plan, 4), SGD);
    let mut counted = Counted::default();
    let reports = train::fit(&mut engine, split, &config, &mut counted).unwrap();
    let bits = engine.parameters().unwrap().values.iter().map(|v| v.to_bits()).collect();
    (bits, reports, counted.0)
}

#[test]
fn held_out_images_are_never_trained_on_and_are_what_is_reported() {
    let split = synthetic::generate(500, 50, 6);
    let (params, reports, trained) = run(&split);
    assert_eq!(trained, [400, 400], "each epoch trains on all but the 100 held out");
    // The held-out images inverted: training is the same bit for bit, their figures are not.
    let held = holdout(500, 100, 4).unwrap().held_out;
    let mut altered = split.clone();
    for &i in &held {
        let p = altered.train.pixels_per_image();
        altered.train.images[i as usize * p..(i as usize + 1) * p].iter_mut().for_each(|b| *b = 255 - *b);
    }
    let (params_altered, reports_altered, _) = run(&altered);
    assert!(params == params_altered, "a held-out image changed training");
    let (v, v_altered) = (reports[1].validation.unwrap(), reports_altered[1].validation.unwrap());
    assert_ne!(v.loss, v_altered.loss, "the validation figures come from the held-out images");
    assert_eq!(reports[1].test_accuracy, reports_altered[1].test_accuracy);

    // The figures are those of evaluating the held-out images with the trained network.
    let plan = Network::lenet5().plan().unwrap();
    let values = params.iter().map(|&b| f32::from_bits(b)).collect();
    let mut engine = CpuEngine::new(plan.clone(), Parameters { values, ..Parameters::init(&plan, 4) }, SGD);
    let (evaluation, loss) = train::evaluate_with_loss(&mut engine, &subset(&split.train, &held)).unwrap();
    assert_eq!((v.accuracy, v.loss), (evaluation.accuracy(), loss));
}

#[test]
fn lenet_train_reports_validation_and_stops_on_it() {
    let dir = TempDir::new("validation-cli");
    let data = ["--dataset", "synthetic", "--limit-train", "640", "--limit-test", "64", "--device", "cpu"];
    let lenet = |args: &[&str]| {
        run_lenet(&[&["train"], &data[..], args].concat(), |cmd| {
            cmd.current_dir(dir.path()).env("LENET_DATA_DIR", dir.join("no-mnist"));
        })
    };
    let keep = ["--save", "m.safetensors", "--save-best"];
    let out = lenet(&[&["--epochs", "3", "--validation", "64", "--metrics", "all.csv"], &keep[..]].concat());
    assert!(out.success(), "{}", out.stderr);
    assert!(out.stderr.contains("64 images held out for validation"), "{}", out.stderr);
    let epoch_lines: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with("epoch ")).collect();
    assert_eq!(epoch_lines.len(), 3);
    assert!(epoch_lines.iter().all(|l| l.contains("val acc") && l.contains("test acc")), "{epoch_lines:?}");
    let rows = lenet_gpu::metrics::read(&dir.join("all.csv")).unwrap();
    let accuracies = |kind| rows.iter().filter(|r| r.kind == kind).map(|r| r.accuracy).collect::<Vec<f64>>();
    let validation = accuracies(Kind::Validation);
    assert_eq!((validation.len(), accuracies(Kind::Test).len()), (3, 3));
    // 576 images trained an epoch: 9 steps of 64, so epoch e's rows are at step 9e.
    assert!(rows.iter().filter(|r| r.kind == Kind::Validation).map(|r| r.step).eq([9, 18, 27]));

    // --save-best keeps the first epoch of the best validation accuracy, not of the best test one.
    let best = validation.iter().cloned().fold(f64::MIN, f64::max);
    let best_epoch = validation.iter().position(|&a| a == best).unwrap() + 1;
    let kept = lenet_gpu::checkpoint::read_metadata(&dir.join("m.best.safetensors")).unwrap();
    assert_eq!(kept["epoch"], best_epoch.to_string());
    assert_eq!(kept["validation_accuracy"].parse::<f64>().unwrap(), best);
    assert!(out.stderr.contains(&format!("best model (epoch {best_epoch}, val")), "{}", out.stderr);

    // The second epoch's validation accuracy (n/64, exact in the CSV) as the target: the run
    // stops at the first epoch reaching it.
    let target = validation[1] * 100.0;
    let reached = validation.iter().position(|&a| a >= validation[1]).unwrap() + 1;
    let out = lenet(&["--epochs", "3", "--validation", "64", "--target-accuracy", &target.to_string()]);
    assert!(out.success(), "{}", out.stderr);
    let line = out.stderr.lines().find(|l| l.starts_with("reached")).unwrap_or(&out.stderr);
    assert!(line.contains(&format!("reached {target}% validation accuracy after epoch {reached}")), "{line}");
}
