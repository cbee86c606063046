//! The library the way a web page or a notebook uses it, with no command line in between: open
//! a training session, train, evaluate, predict with probabilities, save to bytes, and open the
//! saved bytes again for inference.
//!
//! ```sh
//! cargo run --release --example library
//! ```

use lenet_gpu::data::synthetic;
use lenet_gpu::model::Network;
use lenet_gpu::session::{
    DataIdentity, DeviceChoice, EpochReport, Observer, OptimizerKind, SavedModel, Session, TrainConfig,
    TrainSpec,
};
use std::path::Path;

/// Prints one line per epoch (a page would redraw a chart; a notebook would update a bar).
struct Lines;

impl Observer for Lines {
    fn epoch_finished(&mut self, r: &EpochReport) {
        println!(
            "epoch {}: train loss {:.4}, test accuracy {:.2}%",
            r.epoch,
            r.train_loss,
            100.0 * r.test_accuracy
        );
    }
}

fn main() -> lenet_gpu::Result<()> {
    // MNIST-shaped digits drawn from a seed: no download needed.
    let split = synthetic::generate(2_000, 500, 1);
    let config = TrainConfig {
        epochs: 2,
        batch_size: 64,
        optimizer: OptimizerKind::Adam.with(None, 0.0), // Adam at its default learning rate
        seed: 1,
        ..Default::default() // a constant learning rate, no weight decay
    };
    let spec = TrainSpec {
        device: DeviceChoice::Auto, // a hardware GPU if there is one, else the CPU path
        network: Network::lenet5(),
        config,
        data: DataIdentity::of(None, split.train.len()),
        save_to: None,
        resume_from: None,
        overwrite: false,
    };
    let mut session = Session::train(spec, Box::new(|notice| println!("note: {notice}")))?;
    println!("training on {}", session.device_name());
    session.train_all(&split, &mut Lines)?;

    let evaluation = session.evaluate(&split.test)?;
    println!("accuracy {:.2}% on {} test images", 100.0 * evaluation.accuracy(), evaluation.total());
    let first = split.test.take(1);
    let top = session.predict_top(&first, 3)?;
    println!("the first test image (a {}): {:?}", first.labels[0], top[0]);

    // A checkpoint as bytes (what a page offers for download), opened again for inference only.
    let bytes = session.to_bytes()?;
    let model = SavedModel::from_bytes(&bytes, Path::new("model.safetensors"), None)?;
    let mut reopened = Session::inference(DeviceChoice::Cpu, model, Box::new(|_| {}))?;
    let again = reopened.evaluate(&split.test)?;
    println!("{} bytes; reopened on the CPU path: accuracy {:.2}%", bytes.len(), 100.0 * again.accuracy());
    Ok(())
}
