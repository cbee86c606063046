//! Every GPU kernel against its CPU twin (`gpu::parity`, the suite the web page's `parity()` runs
//! in a browser too), on fresh random inputs and several shapes each (odd sizes, stride 2,
//! padding, several channels, batch 1 and 64): relative error ≤ `parity::TOLERANCE` (1e-4),
//! measured as the largest difference over the largest CPU value; exact outputs exactly.

mod common;

use lenet_gpu::gpu::kernels::Blocking;
use lenet_gpu::gpu::parity::{self, TOLERANCE};

/// A seed that differs from run to run, printed so a failure can be replayed.
fn fresh_seed(test: &str) -> u64 {
    let seed = std::env::var("LENET_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    eprintln!("{test}: seed {seed} (replay with LENET_TEST_SEED={seed})");
    seed
}

/// The kernels the suite must cover: every WGSL entry point a training step or a prediction runs.
const KERNELS: [&str; 22] = [
    "conv_forward",
    "conv_backward_params",
    "conv_backward_input",
    "maxpool_forward",
    "maxpool_backward",
    "avgpool_forward",
    "avgpool_backward",
    "activation_forward",
    "activation_backward",
    "dense_forward",
    "dense_backward_params",
    "dense_backward_input",
    "softmax_cross_entropy",
    "predict",
    "sgd",
    "adam",
    "gather",
    "conv_forward_pool",
    "conv_backward",
    "dense_backward",
    "conv_backward_params_update",
    "dense_backward_params_update",
];

/// Both ways the conv and dense kernels can split their work (`Blocking`), whichever this
/// adapter would choose.
#[test]
fn every_kernel_matches_its_cpu_twin() {
    let Some(gpu) = common::gpu() else { return };
    for blocking in [Blocking::Blocked, Blocking::Fine] {
        gpu.set_blocking(blocking);
        check_every_kernel(&gpu, &format!("parity, {blocking:?}"));
    }
}

fn check_every_kernel(gpu: &lenet_gpu::gpu::Gpu, test: &str) {
    let results = parity::run(gpu, fresh_seed(test)).unwrap();
    let names: Vec<&str> = results.iter().map(|r| r.kernel).collect();
    assert_eq!(names, KERNELS, "the kernels the suite covers");
    let failures: Vec<String> = results
        .iter()
        .filter(|r| r.error > TOLERANCE)
        .map(|r| format!("{}: relative error {:.2e}, worst in {}", r.kernel, r.error, r.worst_case))
        .collect();
    assert!(failures.is_empty(), "{test} on {}:\n{}", gpu.name(), failures.join("\n"));
}
