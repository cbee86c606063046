//! Criterion benches of one LeNet-5 training step (batch 64) on the CPU path and, when an
//! adapter exists, on the GPU path (record, submit and wait for one step).

use criterion::{Criterion, criterion_group, criterion_main};
use lenet_gpu::cpu::engine::CpuEngine;
use lenet_gpu::cpu::optimizer::Optimizer;
use lenet_gpu::gpu::engine::GpuEngine;
use lenet_gpu::gpu::{DeviceChoice, Gpu};
use lenet_gpu::model::{Network, Parameters};
use lenet_gpu::train::Engine;

fn train_step(c: &mut Criterion) {
    let plan = Network::lenet5().plan().unwrap();
    let params = Parameters::init(&plan, 1);
    let optimizer = Optimizer::Sgd { lr: 0.01, momentum: 0.9 };
    let data = lenet_gpu::data::synthetic::generate(64, 0, 1).train;
    let order: Vec<u32> = (0..64).collect();

    let mut cpu = CpuEngine::new(plan.clone(), params.clone(), optimizer);
    c.bench_function("cpu train step (batch 64)", |b| {
        b.iter(|| cpu.train_epoch(&data, &order, 64, &mut |_| {}).unwrap())
    });

    match Gpu::open(DeviceChoice::Gpu) {
        Ok(Some(gpu)) => {
            let name = gpu.name();
            let mut engine = GpuEngine::new(gpu, plan, &params, optimizer).unwrap();
            let mut group = c.benchmark_group("gpu");
            group.sample_size(10); // software adapters take ~0.1 s a step
            group.bench_function(format!("train step (batch 64) on {name}"), |b| {
                b.iter(|| engine.train_epoch(&data, &order, 64, &mut |_| {}).unwrap())
            });
            group.finish();
        }
        _ => eprintln!("no GPU adapter: skipping the GPU train step bench"),
    }
}

criterion_group!(benches, train_step);
criterion_main!(benches);
