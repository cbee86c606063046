//! Logits on both paths, for `lenet predict`'s probabilities.

mod common;

use lenet_gpu::cpu::engine::CpuEngine;
use lenet_gpu::cpu::optimizer::Optimizer;
use lenet_gpu::data::synthetic;
use lenet_gpu::model::{Network, Parameters};
use lenet_gpu::train::{self, Engine, Quiet, TrainConfig};

/// A LeNet-5 CPU engine trained briefly on synthetic digits.
fn trained_engine() -> CpuEngine {
    let plan = Network::lenet5().plan().unwrap();
    let optimizer = Optimizer::Sgd { lr: 0.01, momentum: 0.9 };
    let mut engine = CpuEngine::new(plan.clone(), Parameters::init(&plan, 5), optimizer);
    let split = synthetic::generate(1000, 10, 5);
    let config = TrainConfig { epochs: 1, batch_size: 32, optimizer, seed: 5 };
    train::fit(&mut engine, &split, &config, &mut Quiet).unwrap();
    engine
}

#[test]
fn logits_agree_with_predict_and_between_the_paths() {
    let mut cpu = trained_engine();
    let data = synthetic::generate(10, 300, 9).test;
    let logits = cpu.logits(&data).unwrap();
    assert_eq!(logits.len(), data.len() * 10);
    let argmax: Vec<u8> =
        logits.chunks_exact(10).map(|row| lenet_gpu::cpu::loss::argmax(row) as u8).collect();
    assert_eq!(argmax, cpu.predict(&data).unwrap());
    assert!(cpu.logits(&data.take(0)).unwrap().is_empty());

    let Some(gpu) = common::gpu() else { return };
    let optimizer = Optimizer::Sgd { lr: 0.01, momentum: 0.0 };
    let params = cpu.parameters().unwrap();
    let mut gpu =
        lenet_gpu::gpu::engine::GpuEngine::new(gpu, cpu.plan().clone(), &params, optimizer).unwrap();
    // 300 images: more than one batch of 256, the second one short.
    let on_gpu = gpu.logits(&data).unwrap();
    assert_eq!(on_gpu.len(), logits.len());
    for (i, (a, b)) in logits.iter().zip(&on_gpu).enumerate() {
        assert!((a - b).abs() <= 1e-3 * (1.0 + a.abs()), "logit {i}: CPU {a}, GPU {b}");
    }
}
