//! Learning-rate schedules and weight decay on both paths: the GPU's steps (each reading its rate
//! from its own uniform) equal the CPU's; the defaults change no number; a run resumed mid-schedule
//! equals the run that never stopped, bit for bit; the checkpoint records the schedule, and a
//! resume that would stretch a schedule shaped by the run's length is refused; `--target-accuracy`
//! stops at the first epoch reaching it. (The schedules' values: `model::schedule`'s unit tests.)

mod common;

use common::{Run, TempDir, run_lenet};
use lenet_gpu::checkpoint;
use lenet_gpu::cpu::engine::CpuEngine;
use lenet_gpu::cpu::optimizer::Optimizer;
use lenet_gpu::data::{Split, synthetic};
use lenet_gpu::gpu::DeviceChoice;
use lenet_gpu::gpu::engine::GpuEngine;
use lenet_gpu::model::schedule::{Schedule, ScheduleKind, UpdateRule};
use lenet_gpu::model::{Network, Parameters};
use lenet_gpu::session::{DataIdentity, Session, TrainSpec};
use lenet_gpu::train::{self, Engine, Quiet, TrainConfig};
use std::path::Path;

const SGD: Optimizer = Optimizer::Sgd { lr: 0.05, momentum: 0.9 };
const ADAM: Optimizer = Optimizer::Adam { lr: 0.002, beta1: 0.9, beta2: 0.999, eps: 1e-8 };

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// Largest difference over the largest value.
fn relative_difference(a: &[f32], b: &[f32]) -> f32 {
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    a.iter().zip(b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

/// A cosine schedule warming up over 5 of the 20 steps, with weight decay.
fn cosine_rule(weight_decay: f32) -> UpdateRule {
    UpdateRule {
        schedule: Schedule { kind: ScheduleKind::Cosine, warmup: 5 },
        total_updates: 20,
        weight_decay,
    }
}

/// Two epochs of 10 steps of 64 on `engine` under `rule` (the second continuing the schedule
/// where the first left it): its parameters after.
fn train_20_steps(engine: &mut dyn Engine, rule: Option<UpdateRule>) -> Vec<f32> {
    let data = synthetic::generate(64 * 10, 0, 3).train;
    if let Some(rule) = rule {
        engine.set_update_rule(rule);
    }
    for epoch in 1..=2 {
        let order = train::epoch_order(data.len(), 3, epoch);
        engine.train_epoch(&data, &order, 64, &mut |_| {}).unwrap();
    }
    engine.parameters().unwrap().values
}

#[test]
fn scheduled_steps_with_weight_decay_match_between_paths() {
    let plan = Network::lenet5().plan().unwrap();
    let init = Parameters::init(&plan, 2);
    for (optimizer, weight_decay) in [(SGD, 5e-3), (ADAM, 0.05)] {
        let cpu = |rule| train_20_steps(&mut CpuEngine::new(plan.clone(), init.clone(), optimizer), rule);
        let scheduled = cpu(Some(cosine_rule(weight_decay)));
        // The rule changes the numbers (else the comparison below proves nothing)...
        let plain = cpu(None);
        assert!(relative_difference(&scheduled, &plain) > 1e-3, "{optimizer:?}: the rule changed nothing");
        // ...and the default rule is no rule.
        assert_eq!(bits(&cpu(Some(UpdateRule::default()))), bits(&plain), "{optimizer:?}");
        let Some(gpu) = common::gpu() else { continue };
        let mut engine = GpuEngine::new(gpu, plan.clone(), &init, optimizer).unwrap();
        let on_gpu = train_20_steps(&mut engine, Some(cosine_rule(weight_decay)));
        let difference = relative_difference(&on_gpu, &scheduled);
        assert!(difference < 1e-4, "{optimizer:?}: GPU differs from CPU by {difference:.2e}");
    }
}

#[test]
fn the_default_update_is_the_pre_schedule_formula_bit_for_bit() {
    // One SGD step from zero velocity: v = g, p − lr·v, in f32, as before schedules existed.
    let plan = Network::lenet5().plan().unwrap();
    let init = Parameters::init(&plan, 4);
    let mut engine = CpuEngine::new(plan, init.clone(), SGD);
    let data = synthetic::generate(64, 0, 4).train;
    let indices: Vec<u32> = (0..64).collect();
    engine.train_step(&data, &indices);
    let lr = SGD.lr();
    let expected: Vec<f32> =
        init.values.iter().zip(engine.gradients()).map(|(p, g)| p - lr * (0.9 * 0.0 + g)).collect();
    assert_eq!(bits(&engine.parameters().unwrap().values), bits(&expected));
}

fn config(optimizer: Optimizer, kind: ScheduleKind, weight_decay: f32) -> TrainConfig {
    TrainConfig {
        epochs: 4,
        batch_size: 64,
        optimizer,
        seed: 6,
        schedule: Schedule { kind, warmup: 7 },
        weight_decay,
        ..Default::default()
    }
}

fn session(device: DeviceChoice, config: &TrainConfig, split: &Split, save: &Path, resume: bool) -> Session {
    let spec = TrainSpec {
        device,
        network: Network::lenet5(),
        config: config.clone(),
        data: DataIdentity::of(None, split.train.len()),
        save_to: Some(save.to_path_buf()),
        resume_from: resume.then(|| save.to_path_buf()),
        overwrite: false,
    };
    Session::train(spec, Box::new(|_| {})).unwrap()
}

/// 4 straight epochs against 2 epochs saved, then a session resuming the file for epochs 3 and 4.
fn straight_vs_resumed(device: DeviceChoice, config: &TrainConfig, tag: &str) {
    let split = synthetic::generate(640, 64, 7);
    let dir = TempDir::new(tag);
    let (straight_file, resumed_file) = (dir.join("straight.safetensors"), dir.join("resumed.safetensors"));
    let mut straight = session(device, config, &split, &straight_file, false);
    straight.train_all(&split, &mut Quiet).unwrap();

    let mut first = session(device, config, &split, &resumed_file, false);
    first.train_epoch(&split, &mut Quiet).unwrap();
    first.train_epoch(&split, &mut Quiet).unwrap();
    drop(first);
    let metadata = checkpoint::read_metadata(&resumed_file).unwrap();
    let kind = config.schedule.kind.name();
    for (key, value) in [("schedule", kind), ("warmup", "7"), ("epochs", "4"), ("epoch", "2")] {
        assert_eq!(metadata.get(key).map(String::as_str), Some(value), "{tag}: {key}");
    }
    assert_eq!(metadata["weight_decay"], config.weight_decay.to_string(), "{tag}");
    let mut resumed = session(device, config, &split, &resumed_file, true);
    assert_eq!(resumed.epochs_done(), 2, "{tag}");
    resumed.train_all(&split, &mut Quiet).unwrap();
    assert_eq!(resumed.epochs_done(), 4, "{tag}");

    let (a, b) = (straight.parameters().unwrap(), resumed.parameters().unwrap());
    assert!(bits(&a.values) == bits(&b.values), "{tag}: resumed parameters differ from straight ones");
    let (sa, sb) =
        (straight.engine().optimizer_state().unwrap(), resumed.engine().optimizer_state().unwrap());
    assert_eq!(sa.step, sb.step, "{tag}");
    assert!(bits(&sa.first) == bits(&sb.first) && bits(&sa.second) == bits(&sb.second), "{tag}: moments");
}

#[test]
fn cpu_resume_mid_schedule_is_bit_identical() {
    straight_vs_resumed(DeviceChoice::Cpu, &config(SGD, ScheduleKind::Cosine, 5e-4), "cpu-cosine-sgd");
    straight_vs_resumed(DeviceChoice::Cpu, &config(ADAM, ScheduleKind::OneCycle, 0.01), "cpu-onecycle-adam");
}

#[test]
fn gpu_resume_mid_schedule_is_bit_identical() {
    if common::gpu().is_none() {
        return;
    }
    straight_vs_resumed(DeviceChoice::Gpu, &config(SGD, ScheduleKind::Step, 5e-4), "gpu-step-sgd");
    straight_vs_resumed(DeviceChoice::Gpu, &config(ADAM, ScheduleKind::Cosine, 0.01), "gpu-cosine-adam");
}

#[test]
fn weight_decay_must_be_finite_and_not_negative() {
    for weight_decay in [-0.1, f32::NAN, f32::INFINITY] {
        let config = TrainConfig { weight_decay, ..Default::default() };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("weight decay"), "{err}");
    }
}

const DATA: &[&str] =
    &["--dataset", "synthetic", "--limit-train", "640", "--limit-test", "64", "--device", "cpu"];

fn lenet(dir: &Path, args: &[&str]) -> Run {
    let out = run_lenet(&[&["train"], DATA, args].concat(), |cmd| {
        cmd.current_dir(dir).env("LENET_DATA_DIR", dir.join("no-mnist"));
    });
    assert!(!out.stderr.contains("panicked"), "a panic:\n{}", out.stderr);
    out
}

#[test]
fn a_resume_that_changes_the_length_of_a_shaped_schedule_is_refused() {
    let dir = TempDir::new("schedule-length");
    let schedule =
        ["--schedule", "cosine", "--warmup", "3", "--weight-decay", "0.0005", "--save", "m.safetensors"];
    let metrics = ["--metrics", "m.csv", "--metrics-every", "1"];
    let out = lenet(dir.path(), &[&["--epochs", "2"], &schedule[..], &metrics[..]].concat());
    assert!(out.success(), "{}", out.stderr);
    // Each row's rate is the schedule's at its last step: 10 steps an epoch, 20 in all.
    let rows = lenet_gpu::metrics::read(&dir.join("m.csv")).unwrap();
    let cosine = Schedule { kind: ScheduleKind::Cosine, warmup: 3 };
    assert_eq!(rows.len(), 22);
    for row in rows {
        assert_eq!(row.learning_rate, cosine.rate(0.01, row.step as u64 - 1, 20), "{row:?}");
    }
    assert!(out.stderr.contains("cosine schedule, warmup 3 steps, weight decay 0.0005"), "{}", out.stderr);
    let metadata = checkpoint::read_metadata(&dir.join("m.safetensors")).unwrap();
    for (key, value) in [("schedule", "cosine"), ("warmup", "3"), ("weight_decay", "0.0005"), ("epochs", "2")]
    {
        assert_eq!(metadata.get(key).map(String::as_str), Some(value), "{key}");
    }
    let out = lenet(dir.path(), &["--epochs", "4", "--resume", "m.safetensors"]);
    assert!(!out.success(), "a cosine run of 2 epochs resumed to 4");
    let line = out.stderr.lines().find(|l| l.contains("cannot resume")).unwrap_or(&out.stderr);
    assert!(
        line.contains("cosine learning-rate schedule is drawn over 2 epochs, but this run asks for 4"),
        "{line}"
    );
    assert!(line.contains("--epochs 2"), "{line}");
    // Another schedule, weight decay or warmup is refused as any other setting is.
    for (flag, value) in [("--schedule", "step"), ("--weight-decay", "0.001"), ("--warmup", "4")] {
        let out = lenet(dir.path(), &["--epochs", "2", "--resume", "m.safetensors", flag, value]);
        assert!(!out.success(), "{flag} {value} accepted");
        assert!(out.stderr.contains(&format!("same {flag}")), "{flag}: {}", out.stderr);
    }
    // A constant rate is not shaped by the run's length: its runs extend as before.
    let out = lenet(dir.path(), &["--epochs", "1", "--warmup", "3", "--save", "c.safetensors"]);
    assert!(out.success(), "{}", out.stderr);
    let out = lenet(dir.path(), &["--epochs", "2", "--resume", "c.safetensors"]);
    assert!(out.success(), "{}", out.stderr);
}

/// The test accuracies of the `test` rows of a metrics file.
fn test_accuracies(path: &Path) -> Vec<f64> {
    let rows = lenet_gpu::metrics::read(path).unwrap();
    rows.iter().filter(|r| r.kind == lenet_gpu::metrics::Kind::Test).map(|r| r.accuracy).collect()
}

#[test]
fn target_accuracy_stops_after_the_first_epoch_reaching_it() {
    let dir = TempDir::new("target-accuracy");
    let out = lenet(dir.path(), &["--epochs", "4", "--metrics", "all.csv"]);
    assert!(out.success(), "{}", out.stderr);
    let all = test_accuracies(&dir.join("all.csv"));
    assert_eq!(all.len(), 4);
    // The second epoch's accuracy (n/64, exact in the CSV) as the target: the first epoch
    // reaching it is the first or the second, never the last.
    let target = all[1] * 100.0;
    let reached = all.iter().position(|&a| a >= all[1]).unwrap() + 1;
    let out = lenet(
        dir.path(),
        &["--epochs", "4", "--metrics", "target.csv", "--target-accuracy", &target.to_string()],
    );
    assert!(out.success(), "{}", out.stderr);
    assert_eq!(test_accuracies(&dir.join("target.csv")), all[..reached], "stopped after epoch {reached}");
    let line = out.stderr.lines().find(|l| l.starts_with("reached")).unwrap_or(&out.stderr);
    assert!(line.contains(&format!("reached {target}% test accuracy after epoch {reached}")), "{line}");
    assert!(line.contains("s after training started"), "{line}");
    assert!(!out.stderr.contains("did not reach"), "reached and missed both said:\n{}", out.stderr);

    // A percentage, not a fraction.
    let out = lenet(dir.path(), &["--target-accuracy", "0.99"]);
    assert!(!out.success() && out.stderr.contains("for 99% write 99"), "{}", out.stderr);
}
