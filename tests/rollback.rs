//! A diverging epoch rolls back: the session puts the parameters and optimizer state back as
//! they were before it, says so, and trains on from there at a rate that works, on both paths.

mod common;

use lenet_gpu::Error;
use lenet_gpu::data::synthetic;
use lenet_gpu::error::Divergence;
use lenet_gpu::gpu::DeviceChoice;
use lenet_gpu::model::Network;
use lenet_gpu::session::{DataIdentity, OptimizerKind, Session, TrainSpec};
use lenet_gpu::train::{Quiet, TrainConfig};

#[test]
fn a_diverged_epoch_puts_the_model_back_and_training_goes_on() {
    let split = synthetic::generate(512, 64, 3);
    let mut devices = vec![DeviceChoice::Cpu];
    if common::gpu().is_some() {
        devices.push(DeviceChoice::Gpu);
    }
    for device in devices {
        let open = |lr: f32, epochs: usize| TrainSpec {
            device,
            network: Network::lenet5(),
            config: TrainConfig {
                epochs,
                batch_size: 32,
                optimizer: OptimizerKind::Sgd.with(Some(lr), 0.9),
                seed: 2,
                ..Default::default()
            },
            data: DataIdentity::of(None, split.train.len()),
            save_to: None,
            resume_from: None,
            overwrite: false,
        };
        // One good epoch, then one at a rate that diverges, in the same run (a continued session).
        let mut session = Session::train(open(0.01, 1), Box::new(|_| {})).unwrap();
        session.train_epoch(&split, &mut Quiet).unwrap();
        let good = session.run_state().unwrap();
        let mut wild = Session::train_from_state(open(1e4, 2), good.clone(), Box::new(|_| {})).unwrap();
        let err = wild.train_epoch(&split, &mut Quiet).unwrap_err();
        let Error::Diverged(Divergence::Loss { restored, epoch, .. }) = &err else {
            panic!("{device:?}: expected a divergence, got {err:?}")
        };
        assert!(*restored && *epoch == 2, "{device:?}: {err}");
        assert!(err.to_string().contains("the model is back as it was before epoch 2"), "{err}");
        // Exactly the state before the epoch: parameters, moments and update count.
        let back = wild.parameters().unwrap();
        assert!(back.values.iter().all(|v| v.is_finite()), "{device:?}: finite parameters");
        assert_eq!(back.values, good.params.values, "{device:?}: the parameters before the epoch");
        let after = wild.run_state().unwrap().optimizer;
        assert_eq!(after.step, good.optimizer.step, "{device:?}: the update count");
        assert!(
            after.first == good.optimizer.first && after.second == good.optimizer.second,
            "{device:?}: moments"
        );
        assert_eq!(wild.epochs_done(), 1, "{device:?}: the diverged epoch is not counted");
    }
}
