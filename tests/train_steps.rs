//! Step-granular training (`Session::train_steps`): calls of a few steps continue the seeded
//! epochs exactly where the last one stopped, across epoch boundaries, with every setting that
//! depends on a step's place (augmentation shifts, a schedule, a validation split), on both
//! paths: N steps and then M give the parameters and optimizer state of N + M at once, bit for
//! bit, and those of whole epochs trained on a bare engine.

mod common;

use lenet_gpu::Error;
use lenet_gpu::data::augment::Augmentation;
use lenet_gpu::data::{Split, synthetic};
use lenet_gpu::gpu::DeviceChoice;
use lenet_gpu::model::schedule::{Schedule, ScheduleKind};
use lenet_gpu::model::{Network, Parameters};
use lenet_gpu::session::{DataIdentity, OptimizerKind, RunState, Session, TrainSpec};
use lenet_gpu::train::{self, Observer, Progress, Quiet, TrainConfig};

/// Asserts two states are the same without printing thousands of numbers.
fn same<T: PartialEq>(a: T, b: T, what: String) {
    assert!(a == b, "{what}: the states differ");
}

/// 300 examples less 20 held out, in batches of 32: 9 steps an epoch, the last of 24.
const BATCH: usize = 32;
const STEPS_PER_EPOCH: usize = 9;

fn config() -> TrainConfig {
    TrainConfig {
        epochs: 3,
        batch_size: BATCH,
        optimizer: OptimizerKind::Adam.with(Some(0.002), 0.0),
        seed: 11,
        schedule: Schedule { kind: ScheduleKind::Cosine, warmup: 4 },
        weight_decay: 0.01,
        augmentation: Augmentation::shift(2),
        validation: 20,
    }
}

fn devices() -> Vec<DeviceChoice> {
    let mut devices = vec![DeviceChoice::Cpu];
    if common::gpu().is_some() {
        devices.push(DeviceChoice::Gpu);
    }
    devices
}

fn open(device: DeviceChoice, split: &Split) -> Session {
    Session::train(spec_of(device, split), Box::new(|_| {})).unwrap()
}

fn bits(p: &Parameters) -> Vec<u32> {
    p.values.iter().map(|v| v.to_bits()).collect()
}

/// The parameters and the optimizer state's moments, as bits.
fn state_of(session: &Session) -> (Vec<u32>, Vec<u32>, u64) {
    let run = session.run_state().unwrap();
    let moments = run.optimizer.first.iter().chain(&run.optimizer.second).map(|v| v.to_bits()).collect();
    (bits(&run.params), moments, run.optimizer.step)
}

/// Counts the epochs started and the steps reported, checking the totals only grow.
#[derive(Default)]
struct Watch {
    started: Vec<(usize, usize)>,
    last: Progress,
}

impl Observer for Watch {
    fn epoch_started(&mut self, epoch: usize, images: usize) {
        self.started.push((epoch, images));
        self.last = Progress::default();
    }
    fn progress(&mut self, p: Progress) {
        assert_eq!(p.steps_done, self.last.steps_done + 1, "the epoch's totals, one step at a time");
        self.last = p;
    }
}

#[test]
fn calls_of_a_few_steps_add_up_to_one_call_and_to_whole_epochs() {
    let split = synthetic::generate(300, 50, 3);
    for device in devices() {
        // Two epochs and 4 steps straight.
        let total = 2 * STEPS_PER_EPOCH + 4;
        let mut straight = open(device, &split);
        let done = straight.train_steps(&split, total, &mut Quiet).unwrap();
        assert_eq!((done.steps_done, straight.epochs_done()), (total, 2), "{device:?}");
        assert_eq!(straight.epoch_position(), 4 * BATCH, "{device:?}");

        // The same in uneven calls, each crossing or meeting an epoch's end somewhere, from a
        // session whose training buffers (and pipelines, on a GPU) were made beforehand.
        let mut pieces = open(device, &split);
        pieces.prepare_training().unwrap();
        let mut watch = Watch::default();
        let mut steps = 0;
        for n in [1, 5, 3, 7, 2, 4] {
            steps += pieces.train_steps(&split, n, &mut watch).unwrap().steps_done;
        }
        assert_eq!(steps, total, "{device:?}");
        same(state_of(&pieces), state_of(&straight), format!("{device:?}: calls of 1, 5, 3, 7, 2, 4 steps"));
        assert_eq!(watch.started, vec![(1, 280), (2, 280), (3, 280)], "{device:?}: 20 held out");
        assert_eq!(watch.last.steps_done, 4, "{device:?}");

        // Whole epochs on a bare engine, from the same start, give the state after epoch 2.
        let mut epochs = open(device, &split);
        epochs.train_epoch(&split, &mut Quiet).unwrap();
        let mut by_steps = open(device, &split);
        by_steps.train_steps(&split, 4, &mut Quiet).unwrap();
        // The rest of epoch 1 and then epoch 2, each with its evaluation.
        let first = by_steps.train_epoch(&split, &mut Quiet).unwrap();
        assert_eq!((first.epoch, by_steps.epochs_done()), (1, 1), "{device:?}");
        same(state_of(&by_steps), state_of(&epochs), format!("{device:?}: 4 steps, then the epoch's rest"));
        epochs.train_epoch(&split, &mut Quiet).unwrap();
        by_steps.train_epoch(&split, &mut Quiet).unwrap();
        let engine = epochs_on_a_bare_engine(device, &split, 2);
        let reference = (bits(&engine.parameters().unwrap()), engine.optimizer_state().unwrap().step);
        let (params, _, step) = state_of(&by_steps);
        same((params, step), reference, format!("{device:?}: two epochs on a bare engine"));
    }
}

fn epochs_on_a_bare_engine(device: DeviceChoice, split: &Split, epochs: usize) -> Box<dyn train::Engine> {
    let plan = Network::lenet5().plan().unwrap();
    let init = Parameters::init(&plan, config().seed);
    let optimizer = config().optimizer;
    let mut engine: Box<dyn train::Engine> = match device {
        DeviceChoice::Cpu => Box::new(lenet_gpu::cpu::engine::CpuEngine::new(plan, init, optimizer)),
        _ => Box::new(
            lenet_gpu::gpu::engine::GpuEngine::new(common::gpu().unwrap(), plan, &init, optimizer).unwrap(),
        ),
    };
    // The run's schedule is drawn over its three epochs.
    for epoch in 1..=epochs {
        train::train_epoch(engine.as_mut(), split, &config(), epoch, &mut Quiet).unwrap();
    }
    engine
}

#[test]
fn an_interrupted_call_keeps_its_steps_and_the_next_goes_on_after_them() {
    let split = synthetic::generate(300, 50, 5);
    for device in devices() {
        let mut straight = open(device, &split);
        straight.train_steps(&split, 12, &mut Quiet).unwrap();

        let mut stopped = open(device, &split);
        let interrupt = stopped.interrupt();
        interrupt.request();
        let done = match stopped.train_steps(&split, 12, &mut Quiet) {
            Err(Error::Interrupted { steps_done }) => steps_done,
            other => panic!("{device:?}: expected an interrupted call, got {other:?}"),
        };
        assert!(done < 12, "{device:?}: stopped after {done} steps");
        interrupt.clear();
        stopped.train_steps(&split, 12 - done, &mut Quiet).unwrap();
        same(
            state_of(&stopped),
            state_of(&straight),
            format!("{device:?}: {done} steps, stopped, then the rest"),
        );
    }
}

#[test]
fn a_session_for_inference_or_no_steps_is_answered_plainly() {
    let split = synthetic::generate(64, 10, 1);
    let mut session = open(DeviceChoice::Cpu, &split);
    let done = session.train_steps(&split, 0, &mut Quiet).unwrap();
    assert_eq!((done.steps_done, session.epoch_position()), (0, 0));
    let model = session.run_state().unwrap().model();
    let mut inference = Session::inference(DeviceChoice::Cpu, model, Box::new(|_| {})).unwrap();
    let err = inference.train_steps(&split, 1, &mut Quiet).unwrap_err();
    assert!(err.to_string().contains("only to run a model"), "{err}");
    let err = inference.prepare_training().unwrap_err();
    assert!(err.to_string().contains("only to run a model"), "{err}");
}

#[test]
fn a_run_snapshot_between_two_steps_goes_on_exactly_in_memory_and_from_files() {
    let split = synthetic::generate(300, 50, 8);
    let dir = common::TempDir::new("train-steps");
    for device in devices() {
        let mut straight = open(device, &split);
        straight.train_steps(&split, 13, &mut Quiet).unwrap();

        // 6 steps, the run turned into the two files' bytes, and 7 more in a new session.
        let mut first = open(device, &split);
        first.train_steps(&split, 6, &mut Quiet).unwrap();
        let (model, optimizer) = first.run_state().unwrap().to_bytes().unwrap();
        let name = std::path::Path::new("run.safetensors");
        let state = RunState::from_bytes(&model, &optimizer, name).unwrap();
        assert_eq!((state.record.epoch, state.record.position), (0, 6 * BATCH), "{device:?}");
        let spec = |resume_from| TrainSpec { resume_from, ..spec_of(device, &split) };
        let mut again = Session::train_from_state(spec(None), state, Box::new(|_| {})).unwrap();
        again.train_steps(&split, 7, &mut Quiet).unwrap();
        same(state_of(&again), state_of(&straight), format!("{device:?}: 6 steps, bytes, 7 steps"));

        // The same through the checkpoint pair, resumed as `lenet train --resume` does.
        let path = dir.join(&format!("run-{device:?}.safetensors"));
        pollster::block_on(first.save_training_async(&path)).unwrap();
        let mut resumed = Session::train(spec(Some(path)), Box::new(|_| {})).unwrap();
        assert_eq!((resumed.epochs_done(), resumed.epoch_position()), (0, 6 * BATCH), "{device:?}");
        resumed.train_steps(&split, 7, &mut Quiet).unwrap();
        same(state_of(&resumed), state_of(&straight), format!("{device:?}: 6 steps, files, 7 steps"));
    }
}

#[test]
fn a_new_learning_rate_or_batch_size_applies_from_the_next_step_and_keeps_the_rest() {
    let split = synthetic::generate(300, 50, 9);
    for device in devices() {
        // Changing the rate live, and changing it back, is the same as never changing it,
        // when no step ran in between.
        let mut changed = open(device, &split);
        changed.train_steps(&split, 3, &mut Quiet).unwrap();
        changed.set_learning_rate(0.5).unwrap();
        changed.set_learning_rate(0.002).unwrap();
        changed.train_steps(&split, 3, &mut Quiet).unwrap();
        let mut reference = open(device, &split);
        reference.train_steps(&split, 6, &mut Quiet).unwrap();
        same(state_of(&changed), state_of(&reference), format!("{device:?}: a rate set and set back"));

        // Another rate for 2 steps: the state differs from the reference's, and equals a session
        // continued from the same point at that rate.
        changed.set_learning_rate(0.0005).unwrap();
        changed.train_steps(&split, 2, &mut Quiet).unwrap();
        let spec = TrainSpec {
            config: TrainConfig { optimizer: OptimizerKind::Adam.with(Some(0.0005), 0.0), ..config() },
            ..spec_of(device, &split)
        };
        let state = reference.run_state().unwrap();
        let mut continued = Session::train_from_state(spec, state, Box::new(|_| {})).unwrap();
        continued.train_steps(&split, 2, &mut Quiet).unwrap();
        same(state_of(&changed), state_of(&continued), format!("{device:?}: 2 steps at 0.0005"));

        // Another batch size from a position within the epoch: the next batch starts where the
        // last ended, and the epoch still ends after its 280 examples.
        let mut batches = open(device, &split);
        batches.train_steps(&split, 2, &mut Quiet).unwrap();
        let config = TrainConfig { batch_size: 100, ..config() };
        batches.set_settings(config, DataIdentity::of(None, split.train.len())).unwrap();
        let done = batches.train_steps(&split, 3, &mut Quiet).unwrap();
        // 64 trained; 216 left: batches of 100, 100 and 16, then the next epoch.
        assert_eq!((done.steps_done, done.images_done), (3, 216), "{device:?}");
        assert_eq!((batches.epochs_done(), batches.epoch_position()), (1, 0), "{device:?}");
    }
}

fn spec_of(device: DeviceChoice, split: &Split) -> TrainSpec {
    TrainSpec {
        device,
        network: Network::lenet5(),
        config: config(),
        data: DataIdentity::of(None, split.train.len()),
        save_to: None,
        resume_from: None,
        overwrite: false,
    }
}
