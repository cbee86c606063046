//! `Session::train_from_state`: a run carried into a new session, with no file written, trains on
//! bit for bit as it would have (parameters, optimizer state, update count, epoch numbering);
//! `RunState` through bytes and through the two files `train --save` writes does the same; other
//! settings go on from the state, another kind of optimizer from a fresh one.

mod common;

use common::TempDir;
use lenet_gpu::cpu::optimizer::Optimizer;
use lenet_gpu::data::{Split, synthetic};
use lenet_gpu::gpu::DeviceChoice;
use lenet_gpu::model::Network;
use lenet_gpu::session::{DataIdentity, OptimizerKind, RunState, Session, TrainSpec};
use lenet_gpu::train::{Quiet, TrainConfig};

fn split() -> Split {
    synthetic::generate(320, 32, 3)
}

fn spec(epochs: usize, batch_size: usize, optimizer: Optimizer) -> TrainSpec {
    TrainSpec {
        device: DeviceChoice::Cpu,
        network: Network::lenet5(),
        config: TrainConfig { epochs, batch_size, optimizer, seed: 6, ..Default::default() },
        data: DataIdentity::of(None, split().train.len()),
        save_to: None,
        resume_from: None,
        overwrite: false,
    }
}

fn bits(session: &Session) -> Vec<u32> {
    session.parameters().unwrap().values.iter().map(|v| v.to_bits()).collect()
}

fn quiet() -> lenet_gpu::session::Notices {
    Box::new(|_| {})
}

/// Two straight epochs, and one epoch, its state carried by `carry` into a new session, then one.
fn straight_vs_carried(optimizer: Optimizer, carry: &dyn Fn(RunState) -> RunState) {
    let split = split();
    let mut straight = Session::train(spec(2, 32, optimizer), quiet()).unwrap();
    straight.train_all(&split, &mut Quiet).unwrap();

    let mut first = Session::train(spec(2, 32, optimizer), quiet()).unwrap();
    first.train_epoch(&split, &mut Quiet).unwrap();
    let state = carry(first.run_state().unwrap());
    assert_eq!((state.record.epoch, state.optimizer.step), (1, 10), "one epoch of 10 steps");
    let run_id = state.record.run_id.clone();
    assert!(run_id.is_some());
    drop(first);
    let mut second = Session::train_from_state(spec(2, 32, optimizer), state, quiet()).unwrap();
    assert_eq!(second.epochs_done(), 1);
    let report = second.train_epoch(&split, &mut Quiet).unwrap();
    assert_eq!(report.epoch, 2, "epochs are numbered on");
    assert_eq!(bits(&second), bits(&straight), "bit for bit");
    let state = second.run_state().unwrap();
    assert_eq!(state.optimizer, straight.run_state().unwrap().optimizer);
    assert_eq!(state.optimizer.step, 20);
    assert_eq!(state.record.run_id, run_id, "the run keeps its id");
}

#[test]
fn a_run_carried_into_a_new_session_trains_on_bit_for_bit() {
    straight_vs_carried(OptimizerKind::Sgd.with(None, 0.9), &|state| state);
    straight_vs_carried(OptimizerKind::Adam.with(None, 0.9), &|state| state);
}

#[test]
fn a_run_through_bytes_or_files_trains_on_bit_for_bit() {
    let adam = OptimizerKind::Adam.with(None, 0.9);
    straight_vs_carried(adam, &|state| {
        let (model, optimizer) = state.to_bytes().unwrap();
        RunState::from_bytes(&model, &optimizer, "pickled.safetensors".as_ref()).unwrap()
    });
    let dir = TempDir::new("continue-from");
    let path = dir.join("run.safetensors");
    straight_vs_carried(OptimizerKind::Sgd.with(None, 0.9), &|state| {
        state.save(&path).unwrap();
        RunState::read(&path, &mut |n| panic!("no notice expected: {n}")).unwrap()
    });
    assert_eq!(dir.entries(), ["run.safetensors", "run.safetensors.optim.safetensors"]);

    // Files of two runs, or bytes without a record of the run, are refused.
    let mut other = Session::train(spec(1, 32, adam), quiet()).unwrap();
    other.train_epoch(&split(), &mut Quiet).unwrap();
    let (other_model, _) = other.run_state().unwrap().to_bytes().unwrap();
    let (_, optimizer) = RunState::read(&path, &mut |_| {}).unwrap().to_bytes().unwrap();
    let refused = RunState::from_bytes(&other_model, &optimizer, "mixed.safetensors".as_ref()).unwrap_err();
    assert!(refused.to_string().contains("run"), "{refused}");
    let params = other.parameters().unwrap();
    let bare = lenet_gpu::checkpoint::to_bytes(&params, Default::default()).unwrap();
    assert!(RunState::from_bytes(&bare, &optimizer, "bare.safetensors".as_ref()).is_err());
}

#[test]
fn other_settings_go_on_from_the_state_and_another_optimizer_from_a_fresh_one() {
    let split = split();
    let sgd = OptimizerKind::Sgd.with(None, 0.9);
    let mut first = Session::train(spec(1, 32, sgd), quiet()).unwrap();
    first.train_epoch(&split, &mut Quiet).unwrap();
    let state = first.run_state().unwrap();

    // Another batch size and rate: the momentum and update count carry over.
    let slower = OptimizerKind::Sgd.with(Some(0.005), 0.9);
    let session = Session::train_from_state(spec(2, 16, slower), state.clone(), quiet()).unwrap();
    assert_eq!(session.run_state().unwrap().optimizer, state.optimizer);
    assert_eq!(session.config().unwrap().batch_size, 16);

    // Adam after SGD: Adam's moments start from zero, the epochs still count on.
    let adam = OptimizerKind::Adam.with(None, 0.9);
    let mut session = Session::train_from_state(spec(2, 32, adam), state.clone(), quiet()).unwrap();
    assert_eq!(session.run_state().unwrap().optimizer.step, 0);
    assert_eq!(session.train_epoch(&split, &mut Quiet).unwrap().epoch, 2);

    // Another network, or a resume besides, is refused.
    let mut wrong = spec(2, 32, sgd);
    wrong.network = Network::lenet5_1998();
    assert!(Session::train_from_state(wrong, state.clone(), quiet()).is_err());
    let mut both = spec(2, 32, sgd);
    both.resume_from = Some("elsewhere.safetensors".into());
    assert!(Session::train_from_state(both, state, quiet()).is_err());
}
