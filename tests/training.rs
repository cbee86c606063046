//! Training end to end on the CPU path: loss falls and accuracy clears a bar on an MNIST subset;
//! the same seed gives bit-identical parameters, whatever the number of threads.

mod common;

use lenet_gpu::cpu::engine::CpuEngine;
use lenet_gpu::cpu::optimizer::Optimizer;
use lenet_gpu::data::{Split, mnist, synthetic};
use lenet_gpu::model::{Network, Parameters};
use lenet_gpu::train::{self, Engine, Quiet, TrainConfig};

fn lenet_engine(seed: u64, optimizer: Optimizer) -> CpuEngine {
    let plan = Network::lenet5().plan().unwrap();
    let params = Parameters::init(&plan, seed);
    CpuEngine::new(plan, params, optimizer)
}

const SGD: Optimizer = Optimizer::Sgd { lr: 0.01, momentum: 0.9 };

#[test]
fn lenet_learns_a_2000_image_mnist_subset() {
    let Some(dir) = common::shared_mnist_dir() else { return };
    let full = mnist::load(&dir).unwrap();
    // 2,000 training images; 1,000 held-out images from the test set.
    let split = Split { train: full.train.take(2000), test: full.test.take(1000) };
    let config = TrainConfig { epochs: 5, batch_size: 32, optimizer: SGD, seed: 1, ..Default::default() };
    let mut engine = lenet_engine(1, SGD);
    let before = train::evaluate(&mut engine, &split.test).unwrap().accuracy();
    let reports = train::fit(&mut engine, &split, &config, &mut Quiet).unwrap();
    for r in &reports {
        eprintln!(
            "epoch {}: loss {:.4}, test accuracy {:.1}%",
            r.epoch,
            r.train_loss,
            r.test_accuracy * 100.0
        );
    }
    let last = reports.last().unwrap();
    assert!(reports[0].train_loss > 1.0, "first epoch starts near chance: {}", reports[0].train_loss);
    assert!(last.train_loss < reports[0].train_loss * 0.5, "loss falls: {reports:?}");
    assert!(before < 0.3, "an untrained network is near chance: {before}");
    // Measured 2026-11-25 (seed 1): 89.2% after 3 epochs, 93.4% after 5. The bar leaves a margin
    // for other seeds and float rounding on other machines.
    assert!(last.test_accuracy > 0.85, "held-out accuracy {:.3}", last.test_accuracy);
}

#[test]
fn lenet_learns_synthetic_digits() {
    let split = synthetic::generate(2000, 500, 3);
    let config = TrainConfig { epochs: 2, batch_size: 32, optimizer: SGD, seed: 3, ..Default::default() };
    let mut engine = lenet_engine(3, SGD);
    let reports = train::fit(&mut engine, &split, &config, &mut Quiet).unwrap();
    let last = reports.last().unwrap();
    eprintln!("synthetic: {reports:?}");
    assert!(last.test_accuracy > 0.8, "held-out accuracy {:.3}", last.test_accuracy);
}

/// Trains a few steps of Adam on synthetic digits inside a pool of `threads` threads.
fn parameters_after_training(threads: usize, seed: u64) -> Vec<f32> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        let split = synthetic::generate(300, 0, 9);
        let optimizer = Optimizer::adam(0.001);
        let config = TrainConfig { epochs: 1, batch_size: 50, optimizer, seed, ..Default::default() };
        let mut engine = lenet_engine(seed, optimizer);
        train::fit(&mut engine, &split, &config, &mut Quiet).unwrap();
        engine.parameters().unwrap().values
    })
}

#[test]
fn same_seed_same_parameters_whatever_the_thread_count() {
    let one = parameters_after_training(1, 4);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&one), bits(&parameters_after_training(1, 4)));
    assert_eq!(bits(&one), bits(&parameters_after_training(3, 4)));
    assert_ne!(bits(&one), bits(&parameters_after_training(1, 5)));
}

#[test]
fn epoch_order_is_a_seeded_permutation() {
    let a = train::epoch_order(1000, 7, 1);
    assert_eq!(a, train::epoch_order(1000, 7, 1));
    assert_ne!(a, train::epoch_order(1000, 7, 2), "each epoch reshuffles");
    assert_ne!(a, train::epoch_order(1000, 8, 1), "the seed matters");
    let mut sorted = a.clone();
    sorted.sort();
    assert_eq!(sorted, (0..1000).collect::<Vec<u32>>());
}

#[test]
fn invalid_configurations_are_rejected_with_the_valid_range() {
    let split = synthetic::generate(10, 10, 1);
    for (config, needle) in [
        (TrainConfig { epochs: 0, batch_size: 8, optimizer: SGD, seed: 1, ..Default::default() }, "epochs"),
        (
            TrainConfig { epochs: 1, batch_size: 0, optimizer: SGD, seed: 1, ..Default::default() },
            "batch size",
        ),
        (
            TrainConfig {
                epochs: 1,
                batch_size: 8,
                optimizer: Optimizer::Sgd { lr: f32::NAN, momentum: 0.9 },
                seed: 1,
                ..Default::default()
            },
            "learning rate",
        ),
        (
            TrainConfig {
                epochs: 1,
                batch_size: 8,
                optimizer: Optimizer::Sgd { lr: -1.0, momentum: 0.9 },
                seed: 1,
                ..Default::default()
            },
            "learning rate",
        ),
    ] {
        let err = train::fit(&mut lenet_engine(1, SGD), &split, &config, &mut Quiet).unwrap_err().to_string();
        assert!(err.contains(needle), "{err}");
    }
}

#[test]
fn divergence_is_reported_not_hidden() {
    let split = synthetic::generate(256, 10, 1);
    let optimizer = Optimizer::Sgd { lr: 1e4, momentum: 0.9 };
    let config = TrainConfig { epochs: 1, batch_size: 16, optimizer, seed: 1, ..Default::default() };
    let err =
        train::fit(&mut lenet_engine(1, optimizer), &split, &config, &mut Quiet).unwrap_err().to_string();
    assert!(err.contains("diverged") && err.contains("lower learning rate"), "{err}");
}

#[test]
fn after_divergence_the_rate_to_try_is_one_that_works() {
    use lenet_gpu::cpu::optimizer::Optimizer;
    use lenet_gpu::session::rate_to_try;
    // Above the default: the default (a tenth of 100 would diverge too).
    assert_eq!(rate_to_try(&Optimizer::Sgd { lr: 100.0, momentum: 0.9 }), 0.01);
    assert_eq!(rate_to_try(&Optimizer::adam(10.0)), 0.001);
    // At or below it: a tenth.
    assert_eq!(rate_to_try(&Optimizer::Sgd { lr: 0.01, momentum: 0.9 }), 0.001);
    assert_eq!(rate_to_try(&Optimizer::adam(0.0005)), 0.00005);
}

/// Parameters after two epochs of `engine` on 1,000 MNIST images (synthetic digits when MNIST
/// is not here) at `batch`, SGD with momentum as `lenet train` runs it.
fn two_epochs(engine: CpuEngine, batch: usize) -> Vec<f32> {
    let split = match common::shared_mnist_dir() {
        Some(dir) => {
            let full = mnist::load(&dir).unwrap();
            Split { train: full.train.take(1000), test: full.test.take(100) }
        }
        None => synthetic::generate(1000, 100, 2),
    };
    let config = TrainConfig { epochs: 2, batch_size: batch, optimizer: SGD, seed: 1, ..Default::default() };
    let mut engine = engine;
    train::fit(&mut engine, &split, &config, &mut Quiet).unwrap();
    engine.parameters().unwrap().values
}

#[test]
fn chunked_steps_stay_within_1e_4_of_the_layer_by_layer_steps() {
    // The chunked path (issue 14) sums weight gradients over images in another order; over two
    // epochs the parameters may drift from the layer-by-layer path's by rounding only.
    for batch in [64, 256] {
        let chunked = two_epochs(lenet_engine(1, SGD), batch);
        let layers = two_epochs(lenet_engine(1, SGD).layer_by_layer(), batch);
        let diff: f64 =
            chunked.iter().zip(&layers).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>().sqrt();
        let norm: f64 = layers.iter().map(|&b| (b as f64).powi(2)).sum::<f64>().sqrt();
        eprintln!("batch {batch}: relative L2 difference {:.2e}", diff / norm);
        assert!(diff / norm < 1e-4, "batch {batch}: relative L2 difference {:.2e}", diff / norm);
        let initial = Parameters::init(&Network::lenet5().plan().unwrap(), 1).values;
        assert_ne!(chunked, initial, "batch {batch}: training changed the parameters");
    }
}

#[test]
fn two_mnist_epochs_are_bit_identical_on_one_and_two_threads() {
    for batch in [64, 256] {
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| two_epochs(lenet_engine(1, SGD), batch))
        };
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&run(1)), bits(&run(2)), "batch {batch}");
    }
}
