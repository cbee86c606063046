//! The async API a web page awaits, driven natively (`pollster::block_on`): it gives exactly what
//! the blocking one does, on both paths; and an engine opened for inference builds no backward
//! half and refuses to train.

mod common;

use lenet_gpu::cpu::optimizer::Optimizer;
use lenet_gpu::data::synthetic;
use lenet_gpu::gpu::DeviceChoice;
use lenet_gpu::gpu::engine::GpuEngine;
use lenet_gpu::gpu::kernels::Blocking;
use lenet_gpu::model::{Network, Parameters};
use lenet_gpu::session::{DataIdentity, OptimizerKind, SavedModel, Session, TrainSpec};
use lenet_gpu::train::{Engine, EpochReport, Observer, Progress, Quiet, TrainConfig};
use std::path::Path;

fn spec(device: DeviceChoice, train_examples: usize) -> TrainSpec {
    TrainSpec {
        device,
        network: Network::lenet5(),
        config: TrainConfig {
            epochs: 2,
            batch_size: 64,
            optimizer: OptimizerKind::Sgd.with(None, 0.9),
            seed: 5,
            ..Default::default()
        },
        data: DataIdentity::of(None, train_examples),
        save_to: None,
        resume_from: None,
        overwrite: false,
    }
}

/// The devices to compare on: the CPU path, and a GPU where there is one.
fn devices() -> Vec<DeviceChoice> {
    let mut devices = vec![DeviceChoice::Cpu];
    if common::gpu().is_some() {
        devices.push(DeviceChoice::Gpu);
    }
    devices
}

/// Every progress report, as a page's progress bar would receive them.
#[derive(Default)]
struct Reports(Vec<Progress>);

impl Observer for Reports {
    fn progress(&mut self, p: Progress) {
        self.0.push(p);
    }
}

fn bits(p: &Parameters) -> Vec<u32> {
    p.values.iter().map(|v| v.to_bits()).collect()
}

fn without_time(mut r: EpochReport) -> EpochReport {
    (r.seconds, r.images_per_second) = (0.0, 0.0);
    r
}

#[test]
fn training_through_the_async_api_equals_blocking_training_bit_for_bit() {
    let split = synthetic::generate(64 * 5 + 17, 100, 5);
    for device in devices() {
        let mut blocking = Session::train(spec(device, split.train.len()), Box::new(|_| {})).unwrap();
        let blocking_reports = blocking.train_all(&split, &mut Quiet).unwrap();

        let mut session = Session::train(spec(device, split.train.len()), Box::new(|_| {})).unwrap();
        let mut progress = Reports::default();
        let (reports, evaluation, top, activations, bytes) = pollster::block_on(async {
            let reports = session.train_all_async(&split, &mut progress).await.unwrap();
            let evaluation = session.evaluate_async(&split.test).await.unwrap();
            let top = session.predict_top_async(&split.test.take(3), 2).await.unwrap();
            let activations = session.activations_async(&split.test.take(2)).await.unwrap();
            let bytes = session.to_bytes_async().await.unwrap();
            (reports, evaluation, top, activations, bytes)
        });

        let when = format!("on {device:?}");
        assert_eq!(
            bits(&session.parameters().unwrap()),
            bits(&blocking.parameters().unwrap()),
            "parameters {when}"
        );
        assert_eq!(
            reports.into_iter().map(without_time).collect::<Vec<_>>(),
            blocking_reports.into_iter().map(without_time).collect::<Vec<_>>(),
            "epoch reports {when}"
        );
        assert_eq!(evaluation, blocking.evaluate(&split.test).unwrap(), "evaluation {when}");
        assert_eq!(top, blocking.predict_top(&split.test.take(3), 2).unwrap(), "top-2 {when}");
        assert_eq!(activations, blocking.activations(&split.test.take(2)).unwrap(), "activations {when}");
        // The same model file (its metadata is a map, so compare what it holds, not its order).
        let load =
            |bytes: &[u8]| SavedModel::from_bytes(bytes, Path::new("model.safetensors"), None).unwrap();
        let (saved, expected) = (load(&bytes), load(&blocking.to_bytes().unwrap()));
        assert_eq!(bits(&saved.params), bits(&expected.params), "saved parameters {when}");
        // (Each session is a run of its own, with its own run id.)
        let without_id = |mut m: std::collections::HashMap<String, String>| {
            assert!(m.remove(lenet_gpu::checkpoint::RUN_ID).is_some(), "a run id {when}");
            m
        };
        assert_eq!(without_id(saved.metadata), without_id(expected.metadata), "saved metadata {when}");
        // Progress after every step, in order: 6 steps an epoch.
        let steps: Vec<usize> = progress.0.iter().map(|p| p.steps_done).collect();
        assert_eq!(steps, [1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6], "progress reports {when}");
    }
}

#[test]
fn an_engine_opened_for_inference_runs_the_model_and_refuses_to_train() {
    let Some(gpu) = common::gpu() else { return };
    let plan = Network::lenet5().plan().unwrap();
    let params = Parameters::init(&plan, 8);
    let data = synthetic::generate(100, 0, 8).train;
    let mut inference = GpuEngine::for_inference(gpu, plan.clone(), &params).unwrap();
    let mut trainer =
        GpuEngine::new(common::gpu().unwrap(), plan, &params, Optimizer::Sgd { lr: 0.01, momentum: 0.9 })
            .unwrap();
    assert_eq!(inference.predict(&data).unwrap(), trainer.predict(&data).unwrap());
    assert_eq!(inference.logits(&data).unwrap(), trainer.logits(&data).unwrap());
    assert_eq!(inference.activations(&data).unwrap(), trainer.activations(&data).unwrap());
    assert_eq!(bits(&inference.parameters().unwrap()), bits(&params));
    // No backward half was built, and fewer buffers (no gradients, no optimizer state).
    assert!(!inference.trains());
    assert_eq!(inference.dispatches_per_step(), None);
    // 12 on a GPU (`Blocking::Fine`); 15 on a software adapter, where a pool does not fuse into
    // the convolution's forward, nor conv2's weight gradient with its input gradient.
    let lenet5 = match trainer.gpu().blocking() {
        Blocking::Fine => 12,
        Blocking::Blocked => 15,
    };
    assert_eq!(trainer.dispatches_per_step(), Some(lenet5));
    let (made, _, _) = inference.gpu().counters.snapshot();
    let (made_for_training, _, _) = trainer.gpu().counters.snapshot();
    assert!(made < made_for_training, "{made} buffers for inference, {made_for_training} for training");

    let order: Vec<u32> = (0..data.len() as u32).collect();
    let refused = inference.train_epoch(&data, &order, 10, &mut |_| {}).unwrap_err().to_string();
    assert!(refused.contains("opened only for inference"), "{refused}");
    assert!(inference.optimizer_state().is_err());
    assert!(inference.gradients().is_err());
    // It still runs afterwards.
    assert_eq!(inference.predict(&data).unwrap(), trainer.predict(&data).unwrap());
}

#[test]
fn an_inference_session_opens_through_the_async_api() {
    let split = synthetic::generate(64, 50, 9);
    let mut trained = Session::train(spec(DeviceChoice::Cpu, split.train.len()), Box::new(|_| {})).unwrap();
    trained.train_epoch(&split, &mut Quiet).unwrap();
    let bytes = trained.to_bytes().unwrap();
    for device in devices() {
        let model = SavedModel::from_bytes(&bytes, Path::new("model.safetensors"), None).unwrap();
        let evaluation = pollster::block_on(async {
            let mut session = Session::inference_async(device, model, Box::new(|_| {})).await.unwrap();
            assert!(
                session.train_epoch_async(&split, &mut Quiet).await.is_err(),
                "an inference session trains"
            );
            session.evaluate_async(&split.test).await.unwrap()
        });
        assert_eq!(evaluation, trained.evaluate(&split.test).unwrap(), "on {device:?}");
    }
}
