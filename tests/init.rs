//! `train --init FILE`: fine-tuning from a saved model's parameters with new settings, as
//! distinct from `--resume`, which continues a run exactly.

mod common;

use common::{TempDir, run_lenet};
use lenet_gpu::checkpoint;
use lenet_gpu::data::synthetic;
use lenet_gpu::gpu::DeviceChoice;
use lenet_gpu::model::Network;
use lenet_gpu::session::{DataIdentity, OptimizerKind, SavedModel, Session, TrainSpec};
use lenet_gpu::train::{Quiet, TrainConfig};
use std::path::Path;

const DATA: [&str; 8] =
    ["--device", "cpu", "--dataset", "synthetic", "--limit-train", "640", "--limit-test", "100"];

fn train(args: &[&str]) -> common::Run {
    run_lenet(&[&["train"], &DATA[..], args].concat(), |_| {})
}

fn bits(path: &Path, network: &Network) -> Vec<u32> {
    let plan = network.plan().unwrap();
    checkpoint::load(path, &plan).unwrap().0.values.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn init_fine_tunes_a_saved_model_with_new_settings() {
    let dir = TempDir::new("init");
    let (first, tuned) = (dir.join("first.safetensors"), dir.join("tuned.safetensors"));
    let (first_arg, tuned_arg) = (first.to_str().unwrap(), tuned.to_str().unwrap());
    let run = train(&["--arch", "lenet5-1998", "--save", first_arg]);
    assert!(run.success(), "{}", run.stderr);

    // New settings (Adam, another batch size); the network is the checkpoint's.
    let args = [
        "--init",
        first_arg,
        "--optimizer",
        "adam",
        "--batch-size",
        "32",
        "--seed",
        "4",
        "--save",
        tuned_arg,
    ];
    let run = train(&args);
    assert!(run.success(), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("starting from the parameters in {first_arg}")), "{}", run.stderr);
    assert!(run.stderr.contains("training LeNet-5 (1998)"), "the checkpoint's network: {}", run.stderr);
    let metadata = checkpoint::read_metadata(&tuned).unwrap();
    assert_eq!(metadata.get("epoch").map(String::as_str), Some("1"), "epochs count from 1");
    assert!(metadata["optimizer"].starts_with("adam"), "{metadata:?}");

    // The same as the library's fine-tuning from those parameters, bit for bit.
    let network = Network::lenet5_1998();
    let split = synthetic::generate(60_000, 10_000, 4);
    let split = lenet_gpu::data::Split { train: split.train.take(640), test: split.test.take(100) };
    let spec = TrainSpec {
        device: DeviceChoice::Cpu,
        network: network.clone(),
        config: TrainConfig {
            epochs: 1,
            batch_size: 32,
            optimizer: OptimizerKind::Adam.with(None, 0.9),
            seed: 4,
            ..Default::default()
        },
        data: DataIdentity::of(None, split.train.len()),
        save_to: None,
        resume_from: None,
        overwrite: false,
    };
    let start = SavedModel::read(&first, None).unwrap();
    let mut session = Session::train_from(spec, start.params.clone(), Box::new(|_| {})).unwrap();
    session.train_all(&split, &mut Quiet).unwrap();
    let library: Vec<u32> = session.parameters().unwrap().values.iter().map(|v| v.to_bits()).collect();
    assert_eq!(bits(&tuned, &network), library, "the CLI's fine-tuning is the library's");
    assert_ne!(bits(&tuned, &network), bits(&first, &network), "it trained");

    // --arch must agree with the checkpoint's network; --init and --resume exclude each other.
    let run = train(&["--init", first_arg, "--arch", "lenet5", "--save", tuned_arg]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("does not match the architecture recorded in"), "{}", run.stderr);
    let run = train(&["--init", first_arg, "--resume", first_arg]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("cannot be used with"), "{}", run.stderr);
}
