//! CIFAR-10 on the GPU path, on generated colour images: the gather's per-channel normalization
//! against its CPU twin (MNIST's gray one unchanged, bit for bit), and a data set over one
//! binding's limit split across the gather's two image bindings: the same numbers as unsplit and
//! as the CPU path, on a device whose limits are capped so that a small set must be split.

mod common;

use lenet_gpu::Error;
use lenet_gpu::cpu::engine::CpuEngine;
use lenet_gpu::cpu::optimizer::Optimizer;
use lenet_gpu::data::augment::Augmentation;
use lenet_gpu::data::{Dataset, MEAN, STD, synthetic};
use lenet_gpu::error::GpuError;
use lenet_gpu::gpu::engine::GpuEngine;
use lenet_gpu::gpu::{DeviceChoice, Gpu, ops};
use lenet_gpu::model::{Network, Parameters};
use lenet_gpu::rng::Rng;
use lenet_gpu::train::Engine;

const SGD: Optimizer = Optimizer::Sgd { lr: 0.01, momentum: 0.9 };

/// `count` random 3x32x32 images with random labels, from `seed`.
fn colour_data(count: usize, seed: u64) -> Dataset {
    let mut rng = Rng::new(seed);
    Dataset {
        images: (0..count * 3 * 32 * 32).map(|_| rng.below(256) as u8).collect(),
        labels: (0..count).map(|_| rng.below(10) as u8).collect(),
        channels: 3,
        rows: 32,
        cols: 32,
    }
}

#[test]
fn the_cpu_gather_normalizes_each_channel_with_its_own_numbers_and_gray_as_before() {
    let data = colour_data(3, 1);
    let mut x = vec![0.0; 2 * 3072];
    let mut y = vec![0; 2];
    data.gather_normalized(&[2, 0], &mut x, &mut y);
    assert_eq!(y, [data.labels[2] as u32, data.labels[0] as u32]);
    let norm = lenet_gpu::data::CIFAR10;
    for (i, &v) in x.iter().enumerate() {
        let (image, pixel) = ([2, 0][i / 3072], i % 3072);
        let c = pixel / 1024;
        let byte = data.images[image * 3072 + pixel];
        assert_eq!(v, (byte as f32 / 255.0 - norm.mean[c]) / norm.std[c], "value {i}");
    }
    // Gray images keep MNIST's one mean and std, the formula of before, bit for bit.
    let gray = synthetic::generate(4, 0, 2).train;
    let mut x = vec![0.0; 4 * 784];
    gray.gather_normalized(&[0, 1, 2, 3], &mut x, &mut [0; 4]);
    let expected: Vec<f32> = gray.images.iter().map(|&b| (b as f32 / 255.0 - MEAN) / STD).collect();
    assert_eq!(x, expected);
}

#[test]
fn the_gpu_gather_matches_the_cpu_on_colour_images_split_or_not() {
    let Some(gpu) = common::gpu() else { return };
    let data = colour_data(37, 2);
    let mut rng = Rng::new(3);
    let indices: Vec<u32> = (0..20).map(|_| rng.below(data.len()) as u32).collect();
    let mut x = vec![0.0; 24 * 3072];
    let mut y = vec![0u32; 24];
    data.gather_normalized(&indices, &mut x[..20 * 3072], &mut y[..20]);
    // Whole, split after 20 images, and after 30 (a limit that is no multiple of an image), all
    // equal to the CPU's.
    for limit in [u64::from(u32::MAX), 20 * 3072, 30 * 3072 + 100] {
        let (gx, gy) =
            pollster::block_on(ops::gather_within(&gpu, &data, &indices, None, 24, limit)).unwrap();
        assert_eq!(gy, y, "labels, binding limit {limit}");
        let worst = gx.iter().zip(&x).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(worst <= 1e-6, "binding limit {limit}: differs by {worst}");
    }
    // With `--augment shift:3`, split or not: every channel plane moved alike, as on the CPU.
    let shift = Augmentation::shift(3).for_epoch(5, 2).unwrap();
    let (first, mut xs) = (40, vec![0.0; 24 * 3072]);
    data.gather_shifted(&indices, first, &shift, &mut xs[..20 * 3072], &mut y[..20]);
    assert_ne!(xs, x, "the shift moved nothing");
    for limit in [u64::from(u32::MAX), 20 * 3072] {
        let within = ops::gather_within(&gpu, &data, &indices, Some((shift, first)), 24, limit);
        let (gx, gy) = pollster::block_on(within).unwrap();
        assert_eq!(gy, y, "labels, shifted, binding limit {limit}");
        let worst = gx.iter().zip(&xs).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(worst <= 1e-6, "shifted, binding limit {limit}: differs by {worst}");
    }
    // Odd image sizes split anywhere: 3x3x3 images, 27 bytes, split after 6 of 11 (162 bytes,
    // mid-word in one packed buffer; each part is packed from its own first byte).
    let odd = Dataset {
        images: (0..11 * 27).map(|i| (i * 7 % 256) as u8).collect(),
        labels: vec![1; 11],
        channels: 3,
        rows: 3,
        cols: 3,
    };
    let all: Vec<u32> = (0..11).rev().collect();
    let mut x = vec![0.0; 11 * 27];
    odd.gather_normalized(&all, &mut x, &mut [0; 11]);
    let (gx, _) = pollster::block_on(ops::gather_within(&gpu, &odd, &all, None, 11, 6 * 27 + 2)).unwrap();
    let worst = gx.iter().zip(&x).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(worst <= 1e-6, "27-byte images split after 6: differs by {worst}");
}

/// A device whose storage bindings hold at most `bytes`.
fn capped_gpu(bytes: u64) -> Gpu {
    let cap = wgpu::Limits {
        max_storage_buffer_binding_size: bytes,
        max_buffer_size: bytes,
        ..wgpu::Limits::default()
    };
    let gpu = Gpu::open_within(DeviceChoice::Gpu, &cap).unwrap().expect("an adapter");
    assert_eq!(gpu.device.limits().max_storage_buffer_binding_size, bytes);
    gpu
}

#[test]
fn a_data_set_over_one_binding_trains_split_to_the_same_numbers_as_unsplit_and_the_cpu_path() {
    if common::gpu().is_none() {
        return;
    }
    let network = Network::lenet5_cifar();
    let plan = network.plan().unwrap();
    let params = Parameters::init(&plan, 4);
    // 100 images take 300 KiB; the capped device binds 256 KiB, so they are split.
    let data = colour_data(100, 5);
    let order: Vec<u32> = (0..100).rev().collect();
    let cap = 256 << 10;
    assert!(data.images.len() as u64 > cap);
    let mut results = Vec::new();
    for gpu in [common::gpu().unwrap(), capped_gpu(cap)] {
        let mut engine = GpuEngine::new(gpu, plan.clone(), &params, SGD).unwrap();
        let stats = engine.train_epoch(&data, &order, 10, &mut |_| {}).unwrap();
        let predicted = engine.predict(&data).unwrap();
        results.push((engine.parameters().unwrap().values, stats.loss_sum, predicted));
    }
    let [(unsplit, loss, predicted), (split, split_loss, split_predicted)] =
        <[_; 2]>::try_from(results).ok().unwrap();
    assert_eq!(split, unsplit, "parameters, split or not");
    assert_eq!(split_loss.to_bits(), loss.to_bits(), "the epoch's loss");
    assert_eq!(split_predicted, predicted, "predictions of the split evaluation set");
    let mut cpu = CpuEngine::new(plan, params, SGD);
    cpu.train_epoch(&data, &order, 10, &mut |_| {}).unwrap();
    let reference = cpu.parameters().unwrap().values;
    let scale = reference.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let worst = split.iter().zip(&reference).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(worst <= 1e-3 * scale, "split GPU vs CPU: {:.2e} of the scale", worst / scale);
}

#[test]
fn a_data_set_over_two_bindings_is_refused_with_its_size_and_the_devices() {
    if common::gpu().is_none() {
        return;
    }
    let network = Network::lenet5_cifar();
    let plan = network.plan().unwrap();
    let params = Parameters::init(&plan, 4);
    let data = colour_data(200, 6); // 600 KiB: over two 256 KiB bindings
    let order: Vec<u32> = (0..200).collect();
    let mut engine = GpuEngine::new(capped_gpu(256 << 10), plan, &params, SGD).unwrap();
    match engine.train_epoch(&data, &order, 10, &mut |_| {}) {
        Err(Error::Gpu(why @ GpuError::DataTooLarge { .. })) => {
            let why = why.to_string();
            assert!(why.contains("200 images take 600 KiB"), "{why}");
            assert!(why.contains("binds at most 512 KiB (in two bindings of 256 KiB)"), "{why}");
        }
        other => panic!("expected DataTooLarge, got {other:?}"),
    }
}
