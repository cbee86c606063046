//! The GPU path as a whole: training steps equal the CPU path's from the same initialization and
//! batches; nothing is allocated or read back per step; a short training run learns; and with no
//! adapter at all, `--device auto` falls back to the CPU path.

mod common;

use lenet_gpu::cpu::engine::CpuEngine;
use lenet_gpu::cpu::optimizer::Optimizer;
use lenet_gpu::data::{Split, mnist, synthetic};
use lenet_gpu::gpu::engine::GpuEngine;
use lenet_gpu::model::{Network, Parameters};
use lenet_gpu::train::{self, Engine, Quiet, TrainConfig};

fn engines(optimizer: Optimizer, seed: u64) -> Option<(CpuEngine, GpuEngine)> {
    let gpu = common::gpu()?;
    let plan = Network::lenet5().plan().unwrap();
    let params = Parameters::init(&plan, seed);
    let gpu_engine = GpuEngine::new(gpu, plan.clone(), &params, optimizer).unwrap();
    Some((CpuEngine::new(plan, params, optimizer), gpu_engine))
}

/// Largest difference over largest value, per named tensor, so a failure says where.
fn assert_parameters_close(gpu: &Parameters, cpu: &Parameters, tolerance: f32, when: &str) {
    for v in &cpu.views {
        let (g, c) = (&gpu.values[v.offset..v.offset + v.len], &cpu.values[v.offset..v.offset + v.len]);
        let scale = c.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let worst = g.iter().zip(c).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            worst <= tolerance * scale,
            "{when}: {} differs by {:.2e} of its scale",
            v.name,
            worst / scale
        );
    }
}

fn run_steps(optimizer: Optimizer, steps: usize, tolerance: f32) {
    let Some((mut cpu, mut gpu)) = engines(optimizer, 11) else { return };
    // One extra short batch at the end: the last step of an epoch may be smaller.
    let data = synthetic::generate(64 * steps + 32, 0, 5).train;
    let order = train::epoch_order(data.len(), 5, 1);
    let order = if steps == 1 { &order[..64] } else { &order[..] };
    let c = cpu.train_epoch(&data, order, 64, &mut |_| {}).unwrap();
    let g = gpu.train_epoch(&data, order, 64, &mut |_| {}).unwrap();
    let when = format!("{optimizer:?} after {} steps", order.len().div_ceil(64));
    assert_eq!(g.images_done, c.images_done);
    assert_eq!(g.correct, c.correct, "{when}: correct predictions");
    assert!(
        (g.loss_sum - c.loss_sum).abs() <= 1e-4 * c.loss_sum,
        "{when}: loss {} vs {}",
        g.loss_sum,
        c.loss_sum
    );
    assert_parameters_close(&gpu.parameters(), &cpu.parameters(), tolerance, &when);
}

#[test]
fn one_training_step_matches_the_cpu_path() {
    run_steps(Optimizer::Sgd { lr: 0.01, momentum: 0.9 }, 1, 1e-5);
    // Adam's first update is lr·g/(|g| + ε): for gradients near ε it amplifies their rounding.
    run_steps(Optimizer::adam(0.001), 1, 1e-4);
}

#[test]
fn fifty_training_steps_match_the_cpu_path() {
    run_steps(Optimizer::Sgd { lr: 0.01, momentum: 0.9 }, 50, 1e-4);
    run_steps(Optimizer::adam(0.001), 50, 1e-4);
}

#[test]
fn an_epoch_creates_no_buffers_and_reads_back_only_a_few_times() {
    let Some((_, mut gpu)) = engines(Optimizer::Sgd { lr: 0.01, momentum: 0.9 }, 3) else { return };
    let data = synthetic::generate(64 * 40, 0, 3).train;
    // The first epoch builds everything; the second must only record, submit and read stats.
    gpu.train_epoch(&data, &train::epoch_order(data.len(), 3, 1), 64, &mut |_| {}).unwrap();
    let (buffers, submissions, readbacks) = gpu.gpu().counters.snapshot();
    let mut reports = 0;
    gpu.train_epoch(&data, &train::epoch_order(data.len(), 3, 2), 64, &mut |_| reports += 1).unwrap();
    let (buffers2, submissions2, readbacks2) = gpu.gpu().counters.snapshot();
    assert_eq!(buffers2 - buffers, 0, "buffers created during an epoch");
    assert_eq!(submissions2 - submissions, 8, "submissions in a 40-step epoch");
    assert_eq!(readbacks2 - readbacks, 8, "readbacks in a 40-step epoch");
    assert!(reports >= 1, "progress was reported");
    // gather, 7 forward, loss, 11 backward (conv1 needs no input gradient), optimizer.
    assert_eq!(gpu.dispatches_per_step(), Some(21));
}

#[test]
fn gpu_training_learns_a_2000_image_mnist_subset() {
    let Some(dir) = common::shared_mnist_dir() else { return };
    let Some((_, mut gpu)) = engines(Optimizer::Sgd { lr: 0.01, momentum: 0.9 }, 1) else { return };
    let full = mnist::load(&dir).unwrap();
    let split = Split { train: full.train.take(2000), test: full.test.take(1000) };
    // The same run and bar as the CPU path's test in tests/training.rs.
    let config = TrainConfig {
        epochs: 5,
        batch_size: 32,
        optimizer: Optimizer::Sgd { lr: 0.01, momentum: 0.9 },
        seed: 1,
    };
    let reports = train::fit(&mut gpu, &split, &config, &mut Quiet).unwrap();
    let last = reports.last().unwrap();
    eprintln!("GPU: {reports:?}");
    assert!(last.train_loss < reports[0].train_loss * 0.5, "loss falls: {reports:?}");
    assert!(last.test_accuracy > 0.85, "held-out accuracy {:.3}", last.test_accuracy);
}

#[test]
fn with_no_adapter_auto_falls_back_to_the_cpu_path() {
    let dir = common::TempDir::new("fallback");
    // WGPU_BACKEND naming a backend this platform lacks hides every adapter, as on a headless
    // machine with no GPU driver.
    let hidden = if cfg!(target_os = "windows") { "metal" } else { "dx12" };
    let run = |device: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_lenet"))
            .args(["train", "--device", device, "--dataset", "synthetic", "--limit-train", "256"])
            .args(["--limit-test", "64", "--no-download"])
            .env("WGPU_BACKEND", hidden)
            .env("LENET_DATA_DIR", dir.path())
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let auto = run("auto");
    let stderr = String::from_utf8_lossy(&auto.stderr);
    assert!(auto.status.success(), "{stderr}");
    assert_eq!(stderr.matches("no hardware GPU found").count(), 1, "one notice: {stderr}");
    assert!(stderr.contains("on CPU"), "{stderr}");
    assert!(String::from_utf8_lossy(&auto.stdout).contains("epoch 1/1"));

    let gpu = run("gpu");
    let stderr = String::from_utf8_lossy(&gpu.stderr);
    assert!(!gpu.status.success() && stderr.contains("no GPU adapter found"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
