//! When a run goes wrong midway, through the `lenet` binary: divergence stops at its step and
//! keeps the last good checkpoint, a lost GPU is reported (not a panic), and a training run
//! killed mid-epoch (SIGKILL), or between the two files of a save, resumes to the bit-identical
//! end of an uninterrupted one. (Bad inputs, refused up front, are in tests/errors/.)

mod common;

use common::sandbox::Sandbox;
use common::{HANG_LIMIT, run_bounded};
use lenet_gpu::checkpoint;
use lenet_gpu::model::Network;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn divergence_stops_at_its_step_and_keeps_the_last_good_checkpoint() {
    // At once: the loss is NaN by step 8 of epoch 1, and nothing is saved.
    let sandbox = Sandbox::new("diverge");
    let out = sandbox.path("m.safetensors");
    let args = ["train", "--device", "cpu", "--dataset", "synthetic", "--limit-train", "2000", "--lr", "10"];
    let run = sandbox.run(&[&args[..], &["--save", &out]].concat());
    let line = run.error_line(1, "--lr 10");
    assert!(line.contains("diverged") && line.contains("at step 8 of epoch 1"), "{line}");
    // SGD at 10: its default, 0.01, not a tenth of 10 (1 diverges too).
    assert!(line.contains("lower learning rate, e.g. --lr 0.01"), "{line}");
    assert_eq!(sandbox.work.entries(), Vec::<String>::new());

    // In epoch 2 (for this seed and rate): the epoch-1 checkpoint stays as it was.
    let args =
        ["train", "--device", "cpu", "--dataset", "synthetic", "--limit-train", "500", "--limit-test", "50"];
    let args = [&args[..], &["--lr", "2.7", "--seed", "2", "--epochs", "3", "--save", &out]].concat();
    let run = sandbox.run(&args);
    let line = run.error_line(1, "--lr 2.7 --seed 2");
    assert!(
        line.contains("of epoch 2") && line.contains(&format!("{out} still holds the model after epoch 1")),
        "{line}"
    );
    let plan = Network::lenet5().plan().unwrap();
    let (params, metadata) = checkpoint::load(Path::new(&out), &plan).unwrap();
    assert_eq!(metadata["epoch"], "1");
    assert!(params.values.iter().all(|x| x.is_finite()));
    let optim = format!("{out}.optim.safetensors");
    assert_eq!(sandbox.work.entries(), ["m.safetensors", "m.safetensors.optim.safetensors"]);
    checkpoint::load_optimizer(Path::new(&out), &metadata, plan.parameter_count)
        .unwrap_or_else(|e| panic!("{optim} still pairs with the model: {e}"));
}

#[test]
fn a_gpu_lost_mid_run_is_an_error_not_a_panic() {
    if common::gpu().is_none() {
        return;
    }
    let sandbox = Sandbox::new("lost");
    let out = sandbox.path("m.safetensors");
    let args =
        ["train", "--device", "gpu", "--dataset", "synthetic", "--limit-train", "640", "--limit-test", "64"];
    let mut cmd = sandbox.command(&[&args[..], &["--save", &out]].concat());
    cmd.env(lenet_gpu::gpu::engine::LOSE_DEVICE_ENV, "3");
    let run = run_bounded(cmd, &args);
    let line = run.error_line(1, "device lost");
    assert!(line.contains("GPU") && line.contains("was lost") && line.contains("--device cpu"), "{line}");
    assert_eq!(sandbox.work.entries(), Vec::<String>::new(), "nothing saved");
}

/// The parameters of a checkpoint, as bits.
fn checkpoint_bits(path: &Path) -> Vec<u32> {
    let plan = Network::lenet5().plan().unwrap();
    checkpoint::load(path, &plan).unwrap().0.values.iter().map(|v| v.to_bits()).collect()
}

/// The epoch a checkpoint records, once it exists and is whole.
fn saved_epoch(path: &Path) -> Option<usize> {
    checkpoint::read_metadata(path).ok()?.get("epoch")?.parse().ok()
}

#[test]
fn a_run_killed_mid_epoch_resumes_to_the_same_bits_as_one_never_stopped() {
    let sandbox = Sandbox::new("killed");
    let args = |save: &str| {
        let mut a: Vec<String> =
            ["train", "--device", "cpu", "--dataset", "synthetic", "--limit-train", "3000"]
                .map(String::from)
                .into();
        a.extend(["--limit-test", "100", "--epochs", "4", "--seed", "9", "--save", save].map(String::from));
        a
    };
    let straight = sandbox.path("straight.safetensors");
    let args_straight = args(&straight);
    let run = sandbox.run(&args_straight.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run.code, Some(0), "{}", run.stderr);

    // The same run, killed (SIGKILL on Unix) as soon as its first checkpoint is whole: that is
    // during epoch 2, with the checkpoint of epoch 1 on disk.
    let killed = sandbox.path("killed.safetensors");
    let killed_path = PathBuf::from(&killed);
    let args_killed = args(&killed);
    let argv: Vec<&str> = args_killed.iter().map(String::as_str).collect();
    let mut child = sandbox.command(&argv).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let start = Instant::now();
    while saved_epoch(&killed_path).is_none() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be killed");
        assert!(start.elapsed() < HANG_LIMIT, "no checkpoint after {HANG_LIMIT:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed, not finished");
    let epoch = saved_epoch(&killed_path).unwrap();
    assert!(epoch < 4, "killed before the end (checkpoint of epoch {epoch})");

    let mut resume = args(&killed);
    resume.extend(["--resume".to_string(), killed.clone()]);
    let run = sandbox.run(&resume.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("after epoch {epoch}")), "{}", run.stderr);
    assert_eq!(saved_epoch(&killed_path), Some(4));
    assert!(
        checkpoint_bits(Path::new(&straight)) == checkpoint_bits(&killed_path),
        "the resumed run's parameters differ from the uninterrupted run's"
    );
    let entries = sandbox.work.entries();
    assert!(entries.iter().all(|e| !e.contains(".tmp")), "no temporary file is left: {entries:?}");
}

#[test]
fn a_save_interrupted_between_its_two_files_resumes_from_the_newer_one() {
    let sandbox = Sandbox::new("half-saved");
    let train = |epochs: &str, extra: &[&str]| {
        let base = [
            "train",
            "--device",
            "cpu",
            "--dataset",
            "synthetic",
            "--limit-train",
            "300",
            "--limit-test",
            "20",
        ];
        let run = sandbox.run(&[&base[..], &["--seed", "6", "--epochs", epochs], extra].concat());
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        run
    };
    train("3", &["--save", "straight.safetensors"]);
    let work = |name: &str| sandbox.work.join(name);
    train("1", &["--save", "cut.safetensors"]);
    std::fs::copy(work("cut.safetensors"), work("epoch1.safetensors")).unwrap();
    train("2", &["--resume", "cut.safetensors", "--save", "cut.safetensors"]);
    // The save of epoch 2 got as far as the optimizer file: cut.safetensors is still epoch 1 (of
    // the same run: a run's files carry its id).
    std::fs::rename(work("epoch1.safetensors"), work("cut.safetensors")).unwrap();
    let run = train("3", &["--resume", "cut.safetensors", "--save", "cut.safetensors"]);
    assert!(run.stderr.contains("its last save was interrupted"), "{}", run.stderr);
    assert!(run.stderr.contains("after epoch 2"), "{}", run.stderr);
    assert_eq!(run.stdout.lines().filter(|l| l.starts_with("epoch ")).count(), 1, "{}", run.stdout);
    assert!(
        checkpoint_bits(&work("straight.safetensors")) == checkpoint_bits(&work("cut.safetensors")),
        "resumed from the optimizer file's epoch 2, the run ends where an uninterrupted one does"
    );
}

#[test]
fn ctrl_c_stops_training_says_what_was_saved_and_how_to_continue() {
    let sandbox = Sandbox::new("ctrl-c");
    let save = sandbox.path("interrupted.safetensors");
    let save_path = PathBuf::from(&save);
    let args = ["train", "--device", "cpu", "--dataset", "synthetic", "--limit-train", "3000"];
    let args =
        [&args[..], &["--limit-test", "100", "--epochs", "50", "--seed", "9", "--save", &save]].concat();
    let mut child = sandbox.command(&args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let start = Instant::now();
    while saved_epoch(&save_path).is_none() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be interrupted");
        assert!(start.elapsed() < HANG_LIMIT, "no checkpoint after {HANG_LIMIT:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
    // SIGINT, as Ctrl-C sends it.
    let kill = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    let epoch = saved_epoch(&save_path).expect("the checkpoint is whole");
    assert!(epoch < 50, "interrupted before the end: {stderr}");
    let said = stderr.lines().find(|l| l.starts_with("interrupted")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(said.contains(&format!("holds the model after epoch {epoch}")), "{said}");
    assert!(said.contains(&format!("--resume {save}")), "says how to continue: {said}");
    assert!(!stderr.contains("error:"), "an interrupt is not an error: {stderr}");
}
