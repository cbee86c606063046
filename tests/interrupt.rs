//! Stopping training early (a notebook's interrupt, a page's stop button): the epoch ends with
//! `Error::Interrupted` soon after the request, on both paths, with the parameters of exactly
//! the steps it reports done, and the session counts no epoch for it; inference (evaluating,
//! predicting) runs in pieces and stops between two, the pieces changing no number.

mod common;

use lenet_gpu::Error;
use lenet_gpu::cpu::engine::CpuEngine;
use lenet_gpu::data::synthetic;
use lenet_gpu::gpu::DeviceChoice;
use lenet_gpu::gpu::engine::GpuEngine;
use lenet_gpu::model::{Network, Parameters};
use lenet_gpu::session::{DataIdentity, OptimizerKind, Session, TrainSpec};
use lenet_gpu::train::{self, Engine, Interrupt, Observer, Progress, TrainConfig};

const BATCH: usize = 32;
const STEPS: usize = 40;

fn config() -> TrainConfig {
    TrainConfig {
        epochs: 1,
        batch_size: BATCH,
        optimizer: OptimizerKind::Adam.with(None, 0.0),
        seed: 9,
        ..Default::default()
    }
}

/// Requests the interrupt once `after` steps have been reported.
struct StopAfter {
    after: usize,
    interrupt: Interrupt,
    reported: usize,
}

impl Observer for StopAfter {
    fn progress(&mut self, p: Progress) {
        self.reported = p.steps_done;
        if p.steps_done >= self.after {
            self.interrupt.request();
        }
    }
}

fn bits(p: &Parameters) -> Vec<u32> {
    p.values.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn an_interrupted_epoch_stops_soon_and_keeps_exactly_its_completed_steps() {
    let split = synthetic::generate(STEPS * BATCH, 64, 4);
    let mut devices = vec![DeviceChoice::Cpu];
    if common::gpu().is_some() {
        devices.push(DeviceChoice::Gpu);
    }
    for device in devices {
        let spec = TrainSpec {
            device,
            network: Network::lenet5(),
            config: config(),
            data: DataIdentity::of(None, split.train.len()),
            save_to: None,
            resume_from: None,
            overwrite: false,
        };
        let mut session = Session::train(spec, Box::new(|_| {})).unwrap();
        let mut stop = StopAfter { after: 5, interrupt: session.interrupt(), reported: 0 };
        let steps_done = match session.train_epoch(&split, &mut stop) {
            Err(Error::Interrupted { steps_done }) => steps_done,
            other => panic!("{device:?}: expected an interrupted epoch, got {other:?}"),
        };
        assert_eq!(steps_done, stop.reported, "{device:?}: every step done was reported");
        // The CPU path stops at the next step; the GPU path after the submissions queued (each
        // at most four times the one before, starting at 1, two in flight).
        assert!((5..STEPS).contains(&steps_done), "{device:?}: stopped after {steps_done} steps");
        if device == DeviceChoice::Cpu {
            assert_eq!(steps_done, 5, "the CPU path stops at the step it was asked at");
        }
        assert_eq!(session.epochs_done(), 0, "{device:?}: an interrupted epoch is not counted");

        // The parameters are those of training exactly the steps done, uninterrupted.
        let plan = Network::lenet5().plan().unwrap();
        let init = Parameters::init(&plan, config().seed);
        let order = train::epoch_order(split.train.len(), config().seed, 1);
        let prefix = &order[..steps_done * BATCH];
        let mut reference: Box<dyn Engine> = match device {
            DeviceChoice::Cpu => Box::new(CpuEngine::new(plan, init, config().optimizer)),
            _ => Box::new(GpuEngine::new(common::gpu().unwrap(), plan, &init, config().optimizer).unwrap()),
        };
        reference.train_epoch(&split.train, prefix, BATCH, &mut |_| {}).unwrap();
        let (got, want) = (session.parameters().unwrap(), reference.parameters().unwrap());
        assert_eq!(bits(&got), bits(&want), "{device:?}: the parameters of {steps_done} steps");

        // Cleared, the session trains again.
        session.interrupt().clear();
        let report = session.train_epoch(&split, &mut lenet_gpu::train::Quiet).unwrap();
        assert_eq!((report.epoch, session.epochs_done()), (1, 1), "{device:?}");
    }
}

#[test]
fn inference_runs_in_pieces_that_change_nothing_and_stops_between_two() {
    let test = synthetic::generate(0, 3000, 6).test;
    let plan = Network::lenet5().plan().unwrap();
    let params = Parameters::init(&plan, 6);
    let mut engines: Vec<(&str, Box<dyn Engine>)> =
        vec![("CPU", Box::new(CpuEngine::new(plan.clone(), params.clone(), config().optimizer)))];
    if let Some(gpu) = common::gpu() {
        engines.push(("GPU", Box::new(GpuEngine::new(gpu, plan, &params, config().optimizer).unwrap())));
    }
    for (path, mut engine) in engines {
        // The whole set in one call to the engine, and in pieces: the same bits.
        let whole = engine.logits(&test).unwrap();
        let pieces = pollster::block_on(lenet_gpu::evaluation::logits_async(engine.as_mut(), &test)).unwrap();
        assert_eq!(
            whole.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            pieces.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            "{path}"
        );
        let predictions =
            pollster::block_on(lenet_gpu::evaluation::predictions_async(engine.as_mut(), &test));
        assert_eq!(predictions.unwrap(), engine.predict(&test).unwrap(), "{path}");
        // Requested, it stops before the first piece of a set larger than one; a set of one
        // piece runs whole.
        let interrupt = Interrupt::new();
        engine.set_interrupt(interrupt.clone());
        interrupt.request();
        match lenet_gpu::evaluation::evaluate(engine.as_mut(), &test) {
            Err(Error::InferenceInterrupted { images_done: 0 }) => {}
            other => panic!("{path}: expected an interrupted evaluation, got {other:?}"),
        }
        assert!(lenet_gpu::evaluation::evaluate(engine.as_mut(), &test.take(100)).is_ok(), "{path}");
        interrupt.clear();
        assert_eq!(lenet_gpu::evaluation::evaluate(engine.as_mut(), &test).unwrap().total(), 3000, "{path}");
    }
}
