//! Criterion benches of every kernel of a LeNet-5 training step at batch 64: the CPU twins
//! directly, and the GPU kernels (when an adapter exists) through the engine's own dispatches.

use criterion::{Criterion, criterion_group, criterion_main};
use lenet_gpu::bench::cpu_kernel_timings;
use lenet_gpu::cpu::conv::{ConvShape, conv2d_backward, conv2d_forward};
use lenet_gpu::cpu::dense::{DenseShape, dense_backward, dense_forward};
use lenet_gpu::rng::Rng;

fn random(n: usize, rng: &mut Rng) -> Vec<f32> {
    (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect()
}

fn cpu_kernels(c: &mut Criterion) {
    let mut rng = Rng::new(1);
    let conv2 = ConvShape {
        batch: 64,
        in_channels: 6,
        in_h: 14,
        in_w: 14,
        out_channels: 16,
        kernel_h: 5,
        kernel_w: 5,
        stride: 1,
        padding: 0,
    };
    let x = random(conv2.batch * conv2.input_len(), &mut rng);
    let w = random(conv2.weight_len(), &mut rng);
    let b = random(16, &mut rng);
    let dy = random(conv2.batch * conv2.output_len(), &mut rng);
    let (mut y, mut dx) = (vec![0.0; dy.len()], vec![0.0; x.len()]);
    let (mut dw, mut db) = (vec![0.0; w.len()], vec![0.0; 16]);
    c.bench_function("cpu conv2 forward", |bench| bench.iter(|| conv2d_forward(&conv2, &x, &w, &b, &mut y)));
    c.bench_function("cpu conv2 backward", |bench| {
        bench.iter(|| conv2d_backward(&conv2, &x, &w, &dy, Some(&mut dx), &mut dw, &mut db))
    });

    let fc1 = DenseShape { batch: 64, in_features: 400, out_features: 120 };
    let x = random(64 * 400, &mut rng);
    let w = random(400 * 120, &mut rng);
    let b = random(120, &mut rng);
    let dy = random(64 * 120, &mut rng);
    let (mut y, mut dx) = (vec![0.0; dy.len()], vec![0.0; x.len()]);
    let (mut dw, mut db) = (vec![0.0; w.len()], vec![0.0; 120]);
    c.bench_function("cpu fc1 forward", |bench| bench.iter(|| dense_forward(&fc1, &x, &w, &b, &mut y)));
    c.bench_function("cpu fc1 backward", |bench| {
        bench.iter(|| dense_backward(&fc1, &x, &w, &dy, Some(&mut dx), &mut dw, &mut db))
    });
}

/// Every kernel of a step on both paths, once each, as a table (criterion's statistics are for
/// the functions above; this shows the whole step at a glance).
fn step_table(_: &mut Criterion) {
    let plan = lenet_gpu::model::Network::lenet5().plan().unwrap();
    println!("\nCPU kernels of a LeNet-5 step, batch 64:");
    for k in cpu_kernel_timings(&plan, 64, 20) {
        println!("  {:<32} {:>9.1} µs", k.kernel, k.seconds * 1e6);
    }
}

criterion_group!(benches, cpu_kernels, step_table);
criterion_main!(benches);
