//! `train --augment shift:N`: the gathered batches are equal on both paths bit for bit, every
//! image really moved within ±N, drawn from the seed (the same seed the same batches, another
//! seed others); training with it agrees between the paths, and a resumed run equals the run
//! that never stopped, bit for bit; the checkpoint records it, and `lenet train` takes it.

mod common;

use common::{TempDir, run_lenet};
use lenet_gpu::checkpoint;
use lenet_gpu::cpu::engine::CpuEngine;
use lenet_gpu::cpu::optimizer::Optimizer;
use lenet_gpu::data::augment::{Augmentation, EpochShift};
use lenet_gpu::data::{Dataset, normalize_pixel, synthetic};
use lenet_gpu::gpu::DeviceChoice;
use lenet_gpu::gpu::engine::GpuEngine;
use lenet_gpu::gpu::ops;
use lenet_gpu::invariance::shift_image;
use lenet_gpu::model::{Network, Parameters};
use lenet_gpu::session::{DataIdentity, Session, TrainSpec};
use lenet_gpu::train::{self, Engine, Quiet, TrainConfig};
use std::path::Path;

const SGD: Optimizer = Optimizer::Sgd { lr: 0.02, momentum: 0.9 };

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// Largest difference over the largest value.
fn relative_difference(a: &[f32], b: &[f32]) -> f32 {
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    a.iter().zip(b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

/// The CPU gather of `indices` at positions `first..` of an epoch shifted by `shift`.
fn cpu_batch(data: &Dataset, indices: &[u32], first: usize, shift: &EpochShift) -> Vec<f32> {
    let mut x = vec![0.0; indices.len() * data.pixels_per_image()];
    let mut y = vec![0u32; indices.len()];
    data.gather_shifted(indices, first, shift, &mut x, &mut y);
    x
}

/// The shift that moved `image` to `gathered` (normalized), searched over the (2N+1)² allowed.
fn shift_found(image: &[u8], gathered: &[f32], max: i32) -> Option<(i32, i32)> {
    let all = (-max..=max).flat_map(|dy| (-max..=max).map(move |dx| (dx, dy)));
    all.into_iter().find(|&(dx, dy)| {
        let moved: Vec<f32> = shift_image(image, 28, 28, dx, dy).into_iter().map(normalize_pixel).collect();
        bits(&moved) == bits(gathered)
    })
}

#[test]
fn each_image_is_moved_by_an_allowed_shift_and_they_vary() {
    let data = synthetic::generate(200, 0, 11).train;
    let shift = Augmentation::shift(3).for_epoch(5, 2).unwrap();
    let indices: Vec<u32> = (0..64).map(|i| (i * 3) as u32).collect();
    let x = cpu_batch(&data, &indices, 17, &shift);
    let mut moved = 0;
    let mut shifts = std::collections::BTreeSet::new();
    for (k, &i) in indices.iter().enumerate() {
        let image = data.image(i as usize);
        let row = &x[k * 784..(k + 1) * 784];
        let found = shift_found(image, row, 3).unwrap_or_else(|| panic!("image {k}: no shift within ±3"));
        // A blank-edged digit may look the same under two shifts: the one drawn is among them.
        let drawn = shift.offset(17 + k as u32);
        let as_drawn: Vec<f32> =
            shift_image(image, 28, 28, drawn.0, drawn.1).into_iter().map(normalize_pixel).collect();
        assert_eq!(bits(&as_drawn), bits(row), "image {k} moved by its drawn shift {drawn:?}");
        moved += usize::from(found != (0, 0));
        shifts.insert(drawn);
    }
    assert!(moved > 48, "only {moved} of 64 images moved");
    assert!(shifts.len() > 20, "only {} distinct shifts in 64 images", shifts.len());
}

#[test]
fn the_same_seed_gives_the_same_batches_and_another_seed_others() {
    let data = synthetic::generate(100, 0, 2).train;
    let indices: Vec<u32> = (0..32).collect();
    let batch =
        |seed, epoch| cpu_batch(&data, &indices, 0, &Augmentation::shift(2).for_epoch(seed, epoch).unwrap());
    assert_eq!(bits(&batch(1, 1)), bits(&batch(1, 1)));
    assert_ne!(bits(&batch(1, 1)), bits(&batch(2, 1)), "another seed");
    assert_ne!(bits(&batch(1, 1)), bits(&batch(1, 2)), "another epoch");
}

#[test]
fn gathered_batches_are_equal_on_both_paths() {
    let Some(gpu) = common::gpu() else { return };
    let data = synthetic::generate(150, 0, 4).train;
    for (max, first, count, batch) in [(1, 0, 64, 64), (4, 640, 50, 64), (8, 3, 7, 9)] {
        let shift = Augmentation::shift(max).for_epoch(9, 3).unwrap();
        let indices: Vec<u32> = (0..count).map(|i| ((i * 7) % 150) as u32).collect();
        let mut cpu = cpu_batch(&data, &indices, first, &shift);
        cpu.resize(batch * 784, 0.0); // the GPU zeroes rows past the step's count
        let (on_gpu, labels) =
            pollster::block_on(ops::gather_shifted(&gpu, &data, &indices, Some((shift, first)), batch))
                .unwrap();
        assert_eq!(bits(&on_gpu), bits(&cpu), "shift {max} from position {first}");
        let expected: Vec<u32> = indices.iter().map(|&i| data.labels[i as usize] as u32).collect();
        assert_eq!(labels[..count], expected[..]);
    }
}

fn config(augmentation: Augmentation, validation: usize) -> TrainConfig {
    TrainConfig {
        epochs: 3,
        batch_size: 64,
        optimizer: SGD,
        seed: 8,
        augmentation,
        validation,
        ..Default::default()
    }
}

#[test]
fn training_with_augmentation_agrees_between_the_paths() {
    let split = synthetic::generate(640, 64, 3);
    let plan = Network::lenet5().plan().unwrap();
    let init = Parameters::init(&plan, 8);
    let cfg = TrainConfig { epochs: 2, ..config(Augmentation::shift(2), 0) };
    let run = |engine: &mut dyn Engine, cfg: &TrainConfig| {
        train::fit(engine, &split, cfg, &mut Quiet).unwrap();
        engine.parameters().unwrap().values
    };
    let cpu = |cfg| run(&mut CpuEngine::new(plan.clone(), init.clone(), SGD), cfg);
    let shifted = cpu(&cfg);
    assert_eq!(bits(&shifted), bits(&cpu(&cfg)), "the same seed, the same run");
    let plain = cpu(&TrainConfig { augmentation: Augmentation::default(), ..cfg.clone() });
    assert!(relative_difference(&shifted, &plain) > 1e-3, "augmentation changed nothing");
    let Some(gpu) = common::gpu() else { return };
    let on_gpu = run(&mut GpuEngine::new(gpu, plan.clone(), &init, SGD).unwrap(), &cfg);
    let difference = relative_difference(&on_gpu, &shifted);
    assert!(difference < 1e-4, "GPU differs from CPU by {difference:.2e}");
}

fn session(
    device: DeviceChoice,
    config: &TrainConfig,
    train_examples: usize,
    save: &Path,
    resume: bool,
) -> Session {
    let spec = TrainSpec {
        device,
        network: Network::lenet5(),
        config: config.clone(),
        data: DataIdentity::of(None, train_examples),
        save_to: Some(save.to_path_buf()),
        resume_from: resume.then(|| save.to_path_buf()),
        overwrite: false,
    };
    Session::train(spec, Box::new(|_| {})).unwrap()
}

/// 3 straight epochs against 2 saved and a session resuming the file for the third, with
/// augmentation and a validation split: bit for bit, and both recorded.
fn straight_vs_resumed(device: DeviceChoice, tag: &str) {
    let split = synthetic::generate(640, 64, 7);
    let cfg = config(Augmentation::shift(2), 64);
    let n = split.train.len();
    let dir = TempDir::new(tag);
    let (straight_file, resumed_file) = (dir.join("straight.safetensors"), dir.join("resumed.safetensors"));
    let mut straight = session(device, &cfg, n, &straight_file, false);
    let straight_reports = straight.train_all(&split, &mut Quiet).unwrap();

    let mut first = session(device, &cfg, n, &resumed_file, false);
    first.train_epoch(&split, &mut Quiet).unwrap();
    first.train_epoch(&split, &mut Quiet).unwrap();
    drop(first);
    let metadata = checkpoint::read_metadata(&resumed_file).unwrap();
    assert_eq!(metadata.get("augment").map(String::as_str), Some("shift:2"), "{tag}");
    assert_eq!(metadata.get("validation").map(String::as_str), Some("64"), "{tag}");
    let mut resumed = session(device, &cfg, n, &resumed_file, true);
    assert_eq!(resumed.epochs_done(), 2, "{tag}");
    let resumed_reports = resumed.train_all(&split, &mut Quiet).unwrap();
    let (a, b) = (straight.parameters().unwrap(), resumed.parameters().unwrap());
    assert!(bits(&a.values) == bits(&b.values), "{tag}: resumed parameters differ from straight ones");
    let (last, again) = (&straight_reports[2], &resumed_reports[0]);
    assert_eq!((last.train_loss, last.validation), (again.train_loss, again.validation), "{tag}");
}

#[test]
fn cpu_resume_with_augmentation_is_bit_identical() {
    straight_vs_resumed(DeviceChoice::Cpu, "augment-cpu");
}

#[test]
fn gpu_resume_with_augmentation_is_bit_identical() {
    if common::gpu().is_none() {
        return;
    }
    straight_vs_resumed(DeviceChoice::Gpu, "augment-gpu");
}

#[test]
fn lenet_train_augments_records_it_and_refuses_another_on_resume() {
    let dir = TempDir::new("augment-cli");
    let data = ["--dataset", "synthetic", "--limit-train", "320", "--limit-test", "64", "--device", "cpu"];
    let lenet = |args: &[&str]| {
        run_lenet(&[&["train"], &data[..], args].concat(), |cmd| {
            cmd.current_dir(dir.path()).env("LENET_DATA_DIR", dir.join("no-mnist"));
        })
    };
    let out = lenet(&["--augment", "shift:3", "--save", "m.safetensors"]);
    assert!(out.success(), "{}", out.stderr);
    assert!(out.stderr.contains(", augment shift:3"), "{}", out.stderr);
    let metadata = checkpoint::read_metadata(&dir.join("m.safetensors")).unwrap();
    assert_eq!(metadata["augment"], "shift:3");
    let out = lenet(&["--epochs", "2", "--resume", "m.safetensors", "--augment", "shift:1"]);
    assert!(!out.success(), "another --augment accepted on resume");
    assert!(out.stderr.contains("augment shift:3, but this run asks for shift:1"), "{}", out.stderr);
    assert!(out.stderr.contains("same --augment"), "{}", out.stderr);
    // Left out, the checkpoint's is used.
    let out = lenet(&["--epochs", "2", "--resume", "m.safetensors"]);
    assert!(out.success(), "{}", out.stderr);
    assert!(out.stderr.contains(", augment shift:3"), "{}", out.stderr);
}
