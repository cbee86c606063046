//! Resuming training: 2 epochs, a save and 1 resumed epoch give bit for bit the parameters of
//! 3 straight epochs, through the library and through `lenet train --resume`, on the CPU path and
//! on a GPU when there is one; resuming with other settings is refused.

mod common;

use common::{Run, TempDir, run_lenet};
use lenet_gpu::checkpoint;
use lenet_gpu::cpu::engine::CpuEngine;
use lenet_gpu::cpu::optimizer::Optimizer;
use lenet_gpu::data::{Split, synthetic};
use lenet_gpu::gpu::engine::GpuEngine;
use lenet_gpu::model::{Network, Parameters, Plan};
use lenet_gpu::train::{self, Engine, Quiet, TrainConfig};
use std::collections::HashMap;
use std::path::Path;

const SGD: Optimizer = Optimizer::Sgd { lr: 0.01, momentum: 0.9 };
const ADAM: Optimizer = Optimizer::Adam { lr: 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-8 };

fn small_split() -> Split {
    synthetic::generate(640, 64, 7)
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

type MakeEngine<'a> = &'a dyn Fn(Plan, &Parameters, Optimizer) -> Box<dyn Engine>;

/// 3 straight epochs vs 2 epochs, a save to disk, a fresh engine from the files, and epoch 3.
fn straight_vs_resumed(make: MakeEngine, optimizer: Optimizer, tag: &str) {
    let split = small_split();
    let plan = Network::lenet5().plan().unwrap();
    let config = TrainConfig { epochs: 3, batch_size: 64, optimizer, seed: 5, ..Default::default() };
    let init = Parameters::init(&plan, config.seed);

    let mut straight = make(plan.clone(), &init, optimizer);
    train::fit(straight.as_mut(), &split, &config, &mut Quiet).unwrap();

    let dir = TempDir::new(tag);
    let path = dir.join("model.safetensors");
    let mut first = make(plan.clone(), &init, optimizer);
    for epoch in 1..=2 {
        train::train_epoch(first.as_mut(), &split, &config, epoch, &mut Quiet).unwrap();
    }
    let metadata = HashMap::from([("epoch".to_string(), "2".to_string())]);
    checkpoint::save_training(
        &path,
        &first.parameters().unwrap(),
        &first.optimizer_state().unwrap(),
        metadata,
    )
    .unwrap();
    drop(first);
    assert_eq!(dir.entries(), ["model.safetensors", "model.safetensors.optim.safetensors"]);

    let (params, model_metadata) = checkpoint::load(&path, &plan).unwrap();
    let (state, _) = checkpoint::load_optimizer(&path, &model_metadata, plan.parameter_count).unwrap();
    assert_eq!(state.step, 2 * 10, "10 steps an epoch");
    let mut resumed = make(plan.clone(), &params, optimizer);
    resumed.set_optimizer_state(&state).unwrap();
    assert_eq!(resumed.optimizer_state().unwrap(), state);
    train::train_epoch(resumed.as_mut(), &split, &config, 3, &mut Quiet).unwrap();

    let (a, b) = (straight.parameters().unwrap(), resumed.parameters().unwrap());
    assert!(bits(&a.values) == bits(&b.values), "{tag}: resumed parameters differ from straight ones");
    let (sa, sb) = (straight.optimizer_state().unwrap(), resumed.optimizer_state().unwrap());
    assert_eq!(sa.step, sb.step);
    assert!(bits(&sa.first) == bits(&sb.first) && bits(&sa.second) == bits(&sb.second), "{tag}: moments");
}

fn cpu(plan: Plan, params: &Parameters, optimizer: Optimizer) -> Box<dyn Engine> {
    Box::new(CpuEngine::new(plan, params.clone(), optimizer))
}

#[test]
fn cpu_resume_is_bit_identical_sgd() {
    straight_vs_resumed(&cpu, SGD, "cpu-sgd");
}

#[test]
fn cpu_resume_is_bit_identical_adam() {
    straight_vs_resumed(&cpu, ADAM, "cpu-adam");
}

#[test]
fn gpu_resume_is_bit_identical() {
    if common::gpu().is_none() {
        return;
    }
    let make = |plan: Plan, params: &Parameters, optimizer: Optimizer| -> Box<dyn Engine> {
        let gpu = common::gpu().expect("the adapter found above");
        Box::new(GpuEngine::new(gpu, plan, params, optimizer).unwrap())
    };
    straight_vs_resumed(&make, SGD, "gpu-sgd");
    straight_vs_resumed(&make, ADAM, "gpu-adam");
}

#[test]
fn optimizer_state_of_the_wrong_size_is_refused() {
    let plan = Network::lenet5().plan().unwrap();
    let mut engine = CpuEngine::new(plan.clone(), Parameters::init(&plan, 1), SGD);
    let mut state = engine.optimizer_state().unwrap();
    state.first.pop();
    let err = engine.set_optimizer_state(&state).unwrap_err().to_string();
    assert!(err.contains("optimizer state"), "{err}");
}

const DATA: &[&str] = &["--dataset", "synthetic", "--limit-train", "640", "--limit-test", "64"];

fn lenet(dir: &Path, args: &[&str]) -> Run {
    let out = run_lenet(&[&["train"], DATA, args].concat(), |cmd| {
        cmd.current_dir(dir)
            .env("LENET_DATA_DIR", dir.join("no-mnist"))
            .env("LENET_MNIST_MIRROR", "http://127.0.0.1:9/");
    });
    let stderr = &out.stderr;
    assert!(!stderr.contains("panicked"), "a panic:\n{stderr}");
    out
}

fn lenet_ok(dir: &Path, args: &[&str]) {
    let out = lenet(dir, args);
    assert!(out.success(), "lenet train {args:?} failed:\n{}", out.stderr);
}

fn lenet_err(dir: &Path, args: &[&str]) -> String {
    let out = lenet(dir, args);
    assert!(!out.success(), "lenet train {args:?} should fail");
    out.stderr.clone()
}

fn cli_straight_vs_resumed(device: &'static str, optimizer: &'static str, tag: &str) {
    let dir = TempDir::new(tag);
    let common = ["--device", device, "--optimizer", optimizer, "--batch-size", "64"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> { [&common[..], extra].concat() };
    lenet_ok(dir.path(), &with(&["--epochs", "3", "--save", "straight.safetensors"]));
    lenet_ok(dir.path(), &with(&["--epochs", "2", "--save", "resumed.safetensors"]));
    let out = lenet(
        dir.path(),
        &with(&["--epochs", "3", "--resume", "resumed.safetensors", "--save", "resumed.safetensors"]),
    );
    let stderr = &out.stderr;
    assert!(out.success(), "resume failed:\n{stderr}");
    assert!(stderr.contains("resuming from resumed.safetensors after epoch 2"), "{stderr}");
    let stdout = &out.stdout;
    let epochs: Vec<&str> = stdout.lines().filter(|l| l.starts_with("epoch ")).collect();
    assert_eq!(epochs.len(), 1, "only epoch 3 runs: {stdout}");
    assert!(epochs[0].starts_with("epoch 3/3"), "{stdout}");

    let plan = Network::lenet5().plan().unwrap();
    let (a, ma) = checkpoint::load(&dir.join("straight.safetensors"), &plan).unwrap();
    let (b, mb) = checkpoint::load(&dir.join("resumed.safetensors"), &plan).unwrap();
    assert!(bits(&a.values) == bits(&b.values), "{tag}: resumed parameters differ from straight ones");
    // The same metadata but for the run id: two runs, two ids.
    fn without_id(m: &HashMap<String, String>) -> std::collections::BTreeMap<&String, &String> {
        m.iter().filter(|(k, _)| *k != checkpoint::RUN_ID).collect()
    }
    assert_eq!(without_id(&ma), without_id(&mb));
    assert_ne!(ma[checkpoint::RUN_ID], mb[checkpoint::RUN_ID]);
    assert_eq!(mb["epoch"], "3");
    let (sa, _) =
        checkpoint::load_optimizer(&dir.join("straight.safetensors"), &ma, plan.parameter_count).unwrap();
    let (sb, _) =
        checkpoint::load_optimizer(&dir.join("resumed.safetensors"), &mb, plan.parameter_count).unwrap();
    assert_eq!(sa.step, 30);
    assert!(bits(&sa.first) == bits(&sb.first) && bits(&sa.second) == bits(&sb.second), "{tag}: moments");
}

#[test]
fn cli_resume_is_bit_identical_on_the_cpu() {
    cli_straight_vs_resumed("cpu", "sgd", "cli-cpu-sgd");
    cli_straight_vs_resumed("cpu", "adam", "cli-cpu-adam");
}

#[test]
fn cli_resume_is_bit_identical_on_a_gpu() {
    if common::gpu().is_none() {
        return;
    }
    cli_straight_vs_resumed("gpu", "adam", "cli-gpu-adam");
}

#[test]
fn cli_resume_with_other_settings_is_refused() {
    let dir = TempDir::new("cli-refuse");
    let d = dir.path();
    lenet_ok(d, &["--device", "cpu", "--optimizer", "adam", "--epochs", "1", "--save", "m.safetensors"]);
    let resume = |extra: &[&'static str]| {
        let args = [&["--device", "cpu", "--epochs", "2", "--resume", "m.safetensors"][..], extra].concat();
        lenet_err(d, &args)
    };
    let err = resume(&["--optimizer", "adam", "--seed", "4"]);
    assert!(
        err.contains("cannot resume from m.safetensors") && err.contains("seed 1") && err.contains("--seed"),
        "{err}"
    );
    let err = resume(&["--optimizer", "adam", "--batch-size", "32"]);
    assert!(err.contains("batch_size 64") && err.contains("--batch-size"), "{err}");
    let err = resume(&["--optimizer", "sgd"]);
    assert!(err.contains("optimizer adam lr=0.001") && err.contains("--optimizer"), "{err}");
    let err = resume(&["--optimizer", "adam", "--lr", "0.002"]);
    assert!(err.contains("--optimizer/--lr"), "{err}");
    let err = lenet_err(
        d,
        &["--device", "cpu", "--optimizer", "adam", "--epochs", "1", "--resume", "m.safetensors"],
    );
    assert!(err.contains("already trained 1 epochs"), "{err}");
    // Other training data: another --limit-train; another data set (when MNIST is at hand).
    let mut others = vec![(vec!["--dataset", "synthetic", "--limit-train", "320"], "train_examples 640")];
    let mnist = common::shared_mnist_dir().map(|p| p.to_string_lossy().into_owned());
    if let Some(mnist) = &mnist {
        others.push((
            vec!["--dataset", "mnist", "--data-dir", mnist, "--limit-train", "640"],
            "dataset synthetic",
        ));
    }
    for (data, says) in others {
        let args = ["train", "--device", "cpu", "--optimizer", "adam", "--epochs", "2"];
        let out = run_lenet(&[&args[..], &["--resume", "m.safetensors"], &data].concat(), |cmd| {
            cmd.current_dir(d).env("LENET_MNIST_MIRROR", "http://127.0.0.1:9/");
        });
        let err = &out.stderr;
        assert!(!out.success() && err.contains(says) && err.contains("--limit-train"), "{err}");
    }
    // Without the optimizer file there is nothing to resume.
    std::fs::remove_file(dir.join("m.safetensors.optim.safetensors")).unwrap();
    let err = resume(&["--optimizer", "adam"]);
    assert!(err.contains("cannot resume from m.safetensors") && err.contains("optim.safetensors"), "{err}");
    // The model file holds only the network's tensors.
    let bytes = std::fs::read(dir.join("m.safetensors")).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(file.names().len(), 10);
}

#[test]
fn a_model_and_an_optimizer_file_of_different_runs_are_refused() {
    let dir = TempDir::new("cli-two-runs");
    let d = dir.path();
    let copy = |from: &str, to: &str| {
        std::fs::copy(dir.join(&format!("{from}.safetensors")), dir.join(&format!("{to}.safetensors")))
            .unwrap();
        let optim = |name: &str| dir.join(&format!("{name}.safetensors.optim.safetensors"));
        std::fs::copy(optim(from), optim(to)).unwrap();
    };
    let run_id = |name: &str| {
        let metadata = checkpoint::read_metadata(&dir.join(&format!("{name}.safetensors"))).unwrap();
        metadata.get(checkpoint::RUN_ID).cloned().expect("a run id")
    };
    // Run A at lr 0.01; run B at lr 0.05 for one epoch (kept as b1), then resumed for a second.
    lenet_ok(d, &["--device", "cpu", "--epochs", "1", "--save", "a.safetensors"]);
    lenet_ok(d, &["--device", "cpu", "--epochs", "1", "--lr", "0.05", "--save", "b.safetensors"]);
    copy("b", "b1");
    lenet_ok(
        d,
        &[
            "--device",
            "cpu",
            "--epochs",
            "2",
            "--lr",
            "0.05",
            "--resume",
            "b.safetensors",
            "--save",
            "b.safetensors",
        ],
    );
    assert_ne!(run_id("a"), run_id("b"));
    assert_eq!(run_id("b1"), run_id("b"), "a resumed run keeps its id");

    // Both runs saved to one file: B's model over A's optimizer state, the same epoch. The model's
    // settings are those asked for, so only the run ids tell the two files apart.
    let mix = |model: &str, optim: &str| {
        std::fs::copy(dir.join(&format!("{model}.safetensors")), dir.join("m.safetensors")).unwrap();
        let optim = dir.join(&format!("{optim}.safetensors.optim.safetensors"));
        std::fs::copy(optim, dir.join("m.safetensors.optim.safetensors")).unwrap();
    };
    mix("b1", "a");
    let err =
        lenet_err(d, &["--device", "cpu", "--epochs", "2", "--lr", "0.05", "--resume", "m.safetensors"]);
    let expected = format!(
        "error: cannot resume from m.safetensors: it and its optimizer state m.safetensors.optim.safetensors were saved by different runs (the model after epoch 1 of run {}, the optimizer state after epoch 1 of run {}): two runs saved to the same file; --init m.safetensors starts from its model's parameters with a fresh optimizer",
        run_id("b"),
        run_id("a")
    );
    assert!(err.lines().any(|l| l == expected), "{err}");
    // An optimizer file an epoch ahead of the model is a recovered save only from the same run.
    mix("a", "b");
    let err = lenet_err(d, &["--device", "cpu", "--epochs", "3", "--resume", "m.safetensors"]);
    assert!(err.contains("were saved by different runs") && !err.contains("interrupted"), "{err}");
    mix("b1", "b");
    let out = lenet(d, &["--device", "cpu", "--epochs", "3", "--lr", "0.05", "--resume", "m.safetensors"]);
    assert!(out.success() && out.stderr.contains("its last save was interrupted"), "{}", out.stderr);

    // Files saved before runs had ids still resume.
    let plan = Network::lenet5().plan().unwrap();
    let saved = checkpoint::load_training(&dir.join("a.safetensors"), &plan).unwrap();
    let mut metadata = saved.metadata.clone();
    metadata.remove(checkpoint::RUN_ID);
    let old = dir.join("old.safetensors");
    checkpoint::save_training(&old, &saved.params, &saved.optimizer, metadata).unwrap();
    lenet_ok(
        d,
        &["--device", "cpu", "--epochs", "2", "--resume", "old.safetensors", "--save", "old.safetensors"],
    );
}

#[test]
fn cli_resume_takes_the_settings_the_checkpoint_records_and_saves_back_to_it() {
    let dir = TempDir::new("cli-recorded");
    let d = dir.path();
    let settings = [
        "--optimizer",
        "adam",
        "--lr",
        "0.002",
        "--batch-size",
        "32",
        "--seed",
        "7",
        "--arch",
        "lenet5-1998",
    ];
    // (`lenet` adds the data options: synthetic digits, 640 training images.)
    lenet_ok(d, &[&settings[..], &["--epochs", "2", "--save", "straight.safetensors"]].concat());
    lenet_ok(d, &[&settings[..], &["--epochs", "1", "--save", "m.safetensors"]].concat());
    // Only the file and the epochs: the network, optimizer, rate, batch size, seed, data set and
    // number of training images are the checkpoint's; the result goes back into it.
    let args =
        ["train", "--device", "cpu", "--limit-test", "64", "--epochs", "2", "--resume", "m.safetensors"];
    let out = run_lenet(&args, |cmd| {
        cmd.current_dir(d).env("LENET_DATA_DIR", d.join("no-mnist"));
    });
    assert!(out.success(), "{}", out.stderr);
    let stderr = &out.stderr;
    assert!(stderr.contains("saving back to m.safetensors after every epoch"), "{stderr}");
    assert!(
        stderr.contains("LeNet-5 (1998)") && stderr.contains("batch 32, Adam lr 0.002, seed 7"),
        "{stderr}"
    );
    assert!(stderr.contains("synthetic digits") && stderr.contains("using 640 train"), "{stderr}");
    let plan = Network::lenet5_1998().plan().unwrap();
    let (a, _) = checkpoint::load(&dir.join("straight.safetensors"), &plan).unwrap();
    let (b, mb) = checkpoint::load(&dir.join("m.safetensors"), &plan).unwrap();
    assert_eq!(mb["epoch"], "2");
    assert!(bits(&a.values) == bits(&b.values), "the same as two straight epochs");
    // A setting given that contradicts the record is still refused.
    let err = lenet_err(
        d,
        &[
            "--device",
            "cpu",
            "--epochs",
            "3",
            "--resume",
            "m.safetensors",
            "--momentum",
            "0.5",
            "--optimizer",
            "sgd",
        ],
    );
    assert!(err.contains("it was trained with optimizer adam lr=0.002"), "{err}");
}

#[test]
fn a_resumed_run_keeps_every_data_setting_and_says_which() {
    let dir = TempDir::new("cli-resume-data");
    let d = dir.path();
    // DATA limits the run to 640 training and 64 test images; the resume gives neither limit.
    lenet_ok(d, &["--device", "cpu", "--epochs", "1", "--save", "m.safetensors"]);
    let out = run_lenet(&["train", "--device", "cpu", "--epochs", "2", "--resume", "m.safetensors"], |cmd| {
        cmd.current_dir(d)
            .env("LENET_DATA_DIR", d.join("no-mnist"))
            .env("LENET_MNIST_MIRROR", "http://127.0.0.1:9/");
    });
    assert!(out.success(), "{}", out.stderr);
    assert!(
        out.stderr.contains("after epoch 1, on its data: synthetic digits, 640 training and 64 test images"),
        "{}",
        out.stderr
    );
    let metadata = checkpoint::read_metadata(&d.join("m.safetensors")).unwrap();
    assert_eq!(metadata["test_examples"], "64", "the resumed epoch was evaluated on 64 images");
}
