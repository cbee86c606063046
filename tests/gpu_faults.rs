//! The GPU path when things go wrong, and at its limits: a device lost mid-run is an error
//! (never a panic) and `--device auto`'s `Fallback` carries on on the CPU path with the CPU
//! path's own numbers; a batch beyond the adapter's limits names the largest one that fits,
//! which does fit; batches of 1, 7, 64 and 1000 train as on the CPU path; wgpu's validation
//! errors come back as `Error::Gpu`; a kernel beyond a weaker device's limits is refused by name.

mod common;

use lenet_gpu::Error;
use lenet_gpu::cpu::engine::CpuEngine;
use lenet_gpu::cpu::optimizer::Optimizer;
use lenet_gpu::data::augment::Augmentation;
use lenet_gpu::data::{Dataset, synthetic};
use lenet_gpu::error::GpuError;
use lenet_gpu::fallback::Fallback;
use lenet_gpu::gpu::engine::GpuEngine;
use lenet_gpu::gpu::{DeviceChoice, Gpu};
use lenet_gpu::model::{Network, Parameters};
use lenet_gpu::session::Notice;
use lenet_gpu::train::{self, Engine, Quiet, TrainConfig};
use std::cell::RefCell;
use std::rc::Rc;

const SGD: Optimizer = Optimizer::Sgd { lr: 0.01, momentum: 0.9 };

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

fn gpu_engine(network: &Network, params: &Parameters) -> Option<GpuEngine> {
    let gpu = common::gpu()?;
    Some(GpuEngine::new(gpu, network.plan().unwrap(), params, SGD).unwrap())
}

#[test]
fn a_lost_device_fails_every_later_operation_with_one_clear_error() {
    let network = Network::lenet5();
    let params = Parameters::init(&network.plan().unwrap(), 1);
    let Some(mut gpu) = gpu_engine(&network, &params) else { return };
    let data = synthetic::generate(640, 64, 1);
    let order: Vec<u32> = (0..640).collect();
    gpu.lose_device_after(3);
    let lost = |result: Result<(), Error>, what: &str| match result {
        // The command line adds what to do ("run again, or use --device cpu": crash_safety).
        Err(Error::Gpu(why @ GpuError::DeviceLost { .. })) => {
            assert!(why.to_string().contains("was lost"), "{what}: {why}")
        }
        other => panic!("{what}: expected a lost-device error, got {other:?}"),
    };
    lost(gpu.train_epoch(&data.train, &order, 32, &mut |_| {}).map(drop), "the epoch it happens in");
    lost(gpu.train_epoch(&data.train, &order, 32, &mut |_| {}).map(drop), "a later epoch");
    lost(gpu.parameters().map(drop), "reading the parameters");
    lost(gpu.optimizer_state().map(drop), "reading the optimizer state");
    lost(gpu.predict(&data.test).map(drop), "predicting");
}

#[test]
fn after_a_lost_device_the_fallback_trains_exactly_as_the_cpu_path() {
    // With augmentation too: the CPU engine taking over shifts the images as the GPU did.
    for augmentation in [Augmentation::default(), Augmentation::shift(2)] {
        fallback_equals_cpu(augmentation);
    }
}

fn fallback_equals_cpu(augmentation: Augmentation) {
    let network = Network::lenet5();
    let plan = network.plan().unwrap();
    let split = synthetic::generate(640, 64, 3);
    let config = TrainConfig {
        epochs: 2,
        batch_size: 32,
        optimizer: SGD,
        seed: 3,
        augmentation,
        ..Default::default()
    };
    let init = Parameters::init(&plan, config.seed);
    let Some(mut gpu) = gpu_engine(&network, &init) else { return };
    gpu.lose_device_after(5); // in epoch 1, after some steps have changed the GPU's parameters
    let notices = Rc::new(RefCell::new(Vec::new()));
    let sink = notices.clone();
    let notice =
        Box::new(move |why: &GpuError| sink.borrow_mut().push(Notice::GpuFailed(why.clone()).to_string()));
    let mut fallback = Fallback::new(Box::new(gpu), init.clone(), SGD, notice);
    let reports = train::fit(&mut fallback, &split, &config, &mut Quiet).unwrap();
    assert!(!fallback.on_gpu());
    assert!(fallback.device_name().starts_with("CPU"), "{}", fallback.device_name());
    let notices = notices.borrow();
    assert_eq!(notices.len(), 1, "one notice: {notices:?}");
    assert!(notices[0].contains("was lost") && notices[0].contains("CPU path"), "{}", notices[0]);

    let mut cpu = CpuEngine::new(plan, init, SGD);
    let cpu_reports = train::fit(&mut cpu, &split, &config, &mut Quiet).unwrap();
    let losses = |r: &[train::EpochReport]| r.iter().map(|e| e.train_loss).collect::<Vec<_>>();
    assert_eq!(
        losses(&reports),
        losses(&cpu_reports),
        "{augmentation}: epoch 1 trained again from its start"
    );
    assert!(
        bits(&fallback.parameters().unwrap().values) == bits(&cpu.parameters().unwrap().values),
        "{augmentation}: the fallback's parameters are the CPU path's, bit for bit"
    );
    assert_eq!(fallback.optimizer_state().unwrap(), cpu.optimizer_state().unwrap());
}

/// Labelled random images for `network`.
fn random_data(network: &Network, count: usize, seed: u64) -> Dataset {
    let mut rng = lenet_gpu::rng::Rng::new(seed);
    let input = network.input;
    Dataset {
        images: (0..count * input.len()).map(|_| rng.below(256) as u8).collect(),
        labels: (0..count).map(|_| rng.below(10) as u8).collect(),
        channels: input.channels,
        rows: input.height,
        cols: input.width,
    }
}

#[test]
fn a_batch_beyond_the_adapters_limits_names_the_largest_that_fits() {
    // Wide activations (512 channels of 28x28, 1.5 MiB an image) put the limit at a batch
    // lavapipe trains in a moment.
    let network: Network = "conv512k1,relu,dense10".parse().unwrap();
    let params = Parameters::init(&network.plan().unwrap(), 2);
    let Some(mut gpu) = gpu_engine(&network, &params) else { return };
    let largest = gpu.max_batch_size();
    let limits = gpu.gpu().device.limits();
    let binding = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size) as usize;
    assert_eq!(largest, binding / (512 * 28 * 28 * 4));
    let data = random_data(&network, largest + 1, 5);
    let order: Vec<u32> = (0..data.len() as u32).collect();

    match gpu.train_epoch(&data, &order, largest + 1, &mut |_| {}) {
        Err(Error::Gpu(why @ GpuError::BatchTooLarge { largest: l, .. })) if l == largest => {
            assert!(why.to_string().contains(&format!("the largest batch it can take is {largest}")), "{why}")
        }
        other => panic!("expected a GPU error, got {other:?}"),
    }
    // The largest does fit, and the engine is still usable after the refusal.
    let totals = gpu.train_epoch(&data, &order[..largest], largest, &mut |_| {}).unwrap();
    assert_eq!(totals.images_done, largest);
    assert!(totals.loss_sum.is_finite());

    // Under --device auto, the same batch goes to the CPU path instead, with a notice.
    let Some(gpu) = gpu_engine(&network, &params) else { return };
    let notices = Rc::new(RefCell::new(0));
    let sink = notices.clone();
    let mut fallback =
        Fallback::new(Box::new(gpu), params.clone(), SGD, Box::new(move |_| *sink.borrow_mut() += 1));
    let totals = fallback.train_epoch(&data, &order, largest + 1, &mut |_| {}).unwrap();
    assert_eq!((totals.images_done, *notices.borrow()), (largest + 1, 1));
    assert!(!fallback.on_gpu());
}

#[test]
fn batches_of_1_7_64_and_1000_train_as_on_the_cpu_path() {
    let network = Network::lenet5();
    let plan = network.plan().unwrap();
    let params = Parameters::init(&plan, 4);
    if common::gpu().is_none() {
        return;
    }
    for (batch, steps) in [(1usize, 5usize), (7, 3), (64, 3), (1000, 2)] {
        // A short last step too, except at 1000 (two full steps are enough there on lavapipe).
        let count = if batch == 1000 { 2000 } else { batch * (steps - 1) + batch.div_ceil(2) };
        let data = synthetic::generate(count, 0, batch as u64).train;
        let order = train::epoch_order(count, 4, 1);
        let mut cpu = CpuEngine::new(plan.clone(), params.clone(), SGD);
        let mut gpu = gpu_engine(&network, &params).expect("an adapter");
        let c = cpu.train_epoch(&data, &order, batch, &mut |_| {}).unwrap();
        let g = gpu.train_epoch(&data, &order, batch, &mut |_| {}).unwrap();
        assert_eq!(g.images_done, count, "batch {batch}");
        assert!(
            (g.loss_sum - c.loss_sum).abs() <= 1e-4 * c.loss_sum,
            "batch {batch}: loss {} vs {}",
            g.loss_sum,
            c.loss_sum
        );
        let (gp, cp) = (gpu.parameters().unwrap(), cpu.parameters().unwrap());
        for v in &cp.views {
            let (a, b) = (&gp.values[v.offset..v.offset + v.len], &cp.values[v.offset..v.offset + v.len]);
            let scale = b.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            let worst = a.iter().zip(b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
            assert!(
                worst <= 1e-4 * scale,
                "batch {batch}: {} differs by {:.2e} of its scale",
                v.name,
                worst / scale
            );
        }
    }
}

#[test]
fn wgpu_validation_errors_are_returned_not_panicked() {
    let Some(gpu) = common::gpu() else { return };
    let too_big = gpu.device.limits().max_buffer_size + 4;
    let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
    let _buffer = gpu.create_buffer("too big", too_big, usage);
    match gpu.check_errors() {
        Err(Error::Gpu(why)) => assert!(why.to_string().to_lowercase().contains("size"), "{why}"),
        other => panic!("expected a GPU error, got {other:?}"),
    }
    assert!(gpu.check_errors().is_ok(), "reported once, then cleared");
    // A buffer made from contents goes through the queue, not wgpu's mapped-at-creation path
    // (which panics when the buffer could not be made): a device lost first must not panic it.
    gpu.simulate_device_loss();
    let buffer = gpu.create_buffer_init("after the loss", &[1, 2, 3, 4, 5], usage);
    assert!(matches!(gpu.read_f32(&buffer, 0, 1), Err(Error::Gpu(_))));
}

#[test]
fn a_kernel_beyond_the_devices_limits_fails_naming_the_kernel_and_the_limit() {
    // A GLES 3.1 device (wgpu's GL backend on many boards and phones) has 4 storage buffers a
    // shader stage where WebGPU promises 8, and the gather kernel binds 5 (the fused conv+pool
    // forward 5, the fused backward kernels 6 to 8). Such a device opens (the kernels within its
    // limits would run); the first one beyond them is refused by name.
    if common::gpu().is_none() {
        return;
    }
    let cap = wgpu::Limits { max_storage_buffers_per_shader_stage: 4, ..wgpu::Limits::default() };
    let gpu = Gpu::open_within(DeviceChoice::Gpu, &cap).unwrap().expect("an adapter");
    assert_eq!(gpu.device.limits().max_storage_buffers_per_shader_stage, 4);
    let network = Network::lenet5();
    let params = Parameters::init(&network.plan().unwrap(), 6);
    let data = synthetic::generate(64, 0, 6).train;
    let order: Vec<u32> = (0..64).collect();
    let trained = GpuEngine::new(gpu, network.plan().unwrap(), &params, SGD)
        .and_then(|mut engine| engine.train_epoch(&data, &order, 64, &mut |_| {}));
    match trained {
        Err(Error::Gpu(why)) => {
            let why = why.to_string();
            let named = ["gather", "conv_forward_pool", "conv_backward", "dense_backward"]
                .iter()
                .any(|k| why.contains(&format!("building kernel {k}")));
            assert!(named, "names the kernel: {why}");
            assert!(why.contains("max_storage_buffers_per_shader_stage"), "names the limit: {why}");
            assert!(why.contains("limit is 4, count was"), "{why}");
        }
        other => panic!("expected a GPU error naming the kernel, got {other:?}"),
    }
}
