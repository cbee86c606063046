//! The GPU path as a whole: training steps equal the CPU path's from the same initialization and
//! batches; nothing is allocated or read back per step; a short training run learns; and with no
//! adapter at all, `--device auto` falls back to the CPU path.

mod common;

use lenet_gpu::cpu::engine::CpuEngine;
use lenet_gpu::cpu::optimizer::Optimizer;
use lenet_gpu::data::{Split, mnist, synthetic};
use lenet_gpu::gpu::engine::GpuEngine;
use lenet_gpu::gpu::kernels::Blocking;
use lenet_gpu::model::{Layer, Network, Parameters, Shape};
use lenet_gpu::train::{self, Engine, Quiet, TrainConfig};

fn engines(optimizer: Optimizer, seed: u64) -> Option<(CpuEngine, GpuEngine)> {
    engines_for(&Network::lenet5(), optimizer, seed)
}

fn engines_for(network: &Network, optimizer: Optimizer, seed: u64) -> Option<(CpuEngine, GpuEngine)> {
    engines_with(network, optimizer, seed, None)
}

/// `engines_for`, with the GPU's kernels split as `blocking` says rather than as its adapter's.
fn engines_with(
    network: &Network,
    optimizer: Optimizer,
    seed: u64,
    blocking: Option<Blocking>,
) -> Option<(CpuEngine, GpuEngine)> {
    let gpu = common::gpu()?;
    if let Some(blocking) = blocking {
        gpu.set_blocking(blocking);
    }
    let plan = network.plan().unwrap();
    let params = Parameters::init(&plan, seed);
    let gpu_engine = GpuEngine::new(gpu, plan.clone(), &params, optimizer).unwrap();
    Some((CpuEngine::new(plan, params, optimizer), gpu_engine))
}

/// Largest difference over largest value, per named tensor, so a failure says where.
fn assert_parameters_close(gpu: &Parameters, cpu: &Parameters, tolerance: f32, when: &str) {
    assert_tensors_close(&gpu.values, &cpu.values, cpu, tolerance, when)
}

/// As `assert_parameters_close`, for any buffer laid out like `layout` (e.g. gradients).
fn assert_tensors_close(gpu: &[f32], cpu: &[f32], layout: &Parameters, tolerance: f32, when: &str) {
    for v in &layout.views {
        let (g, c) = (&gpu[v.offset..v.offset + v.len], &cpu[v.offset..v.offset + v.len]);
        let scale = c.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let worst = g.iter().zip(c).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            worst <= tolerance * scale,
            "{when}: {} differs by {:.2e} of its scale",
            v.name,
            worst / scale
        );
    }
}

fn run_steps(optimizer: Optimizer, steps: usize, tolerance: f32) {
    run_steps_for(&Network::lenet5(), optimizer, steps, tolerance);
}

/// A step's dispatches, given them with a GPU's split (`Blocking::Fine`) and a software
/// adapter's: a pool that tiles its input fuses into the convolution's forward on a GPU only.
fn expected(blocking: Blocking, fine: usize, blocked: usize) -> usize {
    match blocking {
        Blocking::Fine => fine,
        Blocking::Blocked => blocked,
    }
}

/// Trains both paths `steps` steps and compares them; returns the GPU step's dispatch count and
/// the split it ran with.
fn run_steps_for(
    network: &Network,
    optimizer: Optimizer,
    steps: usize,
    tolerance: f32,
) -> Option<(usize, Blocking)> {
    run_steps_with(network, optimizer, steps, tolerance, None)
}

fn run_steps_with(
    network: &Network,
    optimizer: Optimizer,
    steps: usize,
    tolerance: f32,
    blocking: Option<Blocking>,
) -> Option<(usize, Blocking)> {
    let (mut cpu, mut gpu) = engines_with(network, optimizer, 11, blocking)?;
    // One extra short batch at the end: the last step of an epoch may be smaller.
    let data = synthetic::generate(64 * steps + 32, 0, 5).train;
    let order = train::epoch_order(data.len(), 5, 1);
    let order = if steps == 1 { &order[..64] } else { &order[..] };
    let c = cpu.train_epoch(&data, order, 64, &mut |_| {}).unwrap();
    let g = gpu.train_epoch(&data, order, 64, &mut |_| {}).unwrap();
    let when = format!("{} {optimizer:?} after {} steps", network.layers_string(), order.len().div_ceil(64));
    assert_eq!(g.images_done, c.images_done);
    // Predictions are argmaxes of sums taken in different orders: a near-tie may go either way.
    assert!(g.correct.abs_diff(c.correct) <= 2, "{when}: correct predictions {} vs {}", g.correct, c.correct);
    assert!(
        (g.loss_sum - c.loss_sum).abs() <= 1e-4 * c.loss_sum,
        "{when}: loss {} vs {}",
        g.loss_sum,
        c.loss_sum
    );
    assert_parameters_close(&gpu.parameters().unwrap(), &cpu.parameters().unwrap(), tolerance, &when);
    Some((gpu.dispatches_per_step()?, gpu.gpu().blocking()))
}

#[test]
fn one_training_step_matches_the_cpu_path() {
    run_steps(Optimizer::Sgd { lr: 0.01, momentum: 0.9 }, 1, 1e-5);
    // Adam's first update is lr·g/(|g| + ε): for gradients near ε it amplifies their rounding.
    run_steps(Optimizer::adam(0.001), 1, 1e-4);
}

#[test]
fn fifty_training_steps_match_the_cpu_path() {
    run_steps(Optimizer::Sgd { lr: 0.01, momentum: 0.9 }, 50, 1e-4);
    run_steps(Optimizer::adam(0.001), 50, 1e-4);
}

#[test]
fn training_steps_of_the_1998_lenet_match_the_cpu_path() {
    // tanh and average pooling, fused as ReLU and max pooling are.
    let network = Network::lenet5_1998();
    run_steps_for(&network, Optimizer::Sgd { lr: 0.01, momentum: 0.9 }, 1, 1e-5);
    // Fused as LeNet-5 is: 12 dispatches on a GPU, 15 on a software adapter.
    let got = run_steps_for(&network, Optimizer::Sgd { lr: 0.01, momentum: 0.9 }, 20, 1e-4);
    assert!(got.is_none_or(|(d, b)| d == expected(b, 12, 15)), "{got:?}");
    // The GPU's tanh (the driver's) differs from Rust's by up to ~2 ulp (1.4e-7 on lavapipe),
    // and Adam amplifies such differences in small gradients (see the one-step test above).
    run_steps_for(&network, Optimizer::adam(0.001), 20, 2e-4);
    // Smooth everywhere (no ReLU, no max pool): the gradients must agree to rounding.
    compare_gradients(&network, 64 + 37, 64, 1e-4);
}

/// The last step's gradients, GPU against CPU, per tensor (largest difference at most
/// `tolerance` of the tensor's scale), after an epoch of `count` random examples at `batch` (so
/// the last step has `count % batch` examples when that is not 0).
fn compare_gradients(network: &Network, count: usize, batch: usize, tolerance: f32) {
    compare_gradients_with(network, count, batch, tolerance, None)
}

fn compare_gradients_with(
    network: &Network,
    count: usize,
    batch: usize,
    tolerance: f32,
    blocking: Option<Blocking>,
) {
    // A vanishing learning rate keeps both paths at the same point: otherwise the earlier steps'
    // rounding differences can flip a ReLU or a max-pool tie, a kink where gradients jump.
    let Some((mut cpu, mut gpu)) =
        engines_with(network, Optimizer::Sgd { lr: 1e-9, momentum: 0.9 }, 8, blocking)
    else {
        return;
    };
    let input = network.input;
    let mut rng = lenet_gpu::rng::Rng::new(count as u64);
    let data = lenet_gpu::data::Dataset {
        images: (0..count * input.len()).map(|_| rng.below(256) as u8).collect(),
        labels: (0..count).map(|_| rng.below(network.plan().unwrap().classes()) as u8).collect(),
        channels: input.channels,
        rows: input.height,
        cols: input.width,
    };
    let order: Vec<u32> = (0..count as u32).collect();
    cpu.train_epoch(&data, &order, batch, &mut |_| {}).unwrap();
    gpu.train_epoch(&data, &order, batch, &mut |_| {}).unwrap();
    let layout = cpu.parameters().unwrap();
    let when = format!(
        "last step's gradients after {count} examples, batch {batch}, network {}",
        network.layers_string()
    );
    assert_tensors_close(&gpu.gradients().unwrap(), cpu.gradients(), &layout, tolerance, &when);
}

/// Tolerance for networks with ReLU and max pooling. The paths sum in different orders, so an
/// activation within rounding of a ReLU's kink or of a pooling tie can go different ways; one
/// such flip moves a gradient by up to about 1e-2 of its scale (measured: 8.6e-3 on conv1.weight
/// of LeNet-5). A wrong offset or a padding row that leaks gives errors of order 1. The exact
/// comparison is `kink_free_gradients_match_the_cpu_path_for_full_and_short_batches`.
const KINKED: f32 = 3e-2;

/// Strided and padded convolutions, two dense layers, the flattening in between; no ReLU or max
/// pooling.
fn kink_free_network() -> Network {
    Network {
        input: Shape::new(1, 28, 28),
        layers: vec![
            Layer::conv(6, 5, 1, 2),
            Layer::conv(16, 5, 2, 0),
            Layer::conv(8, 3, 1, 1),
            Layer::Dense { out_features: 32 },
            Layer::Dense { out_features: 10 },
        ],
    }
}

#[test]
fn kink_free_gradients_match_the_cpu_path_for_full_and_short_batches() {
    // Without ReLU or max pooling the loss is smooth in every activation: no near-tie can flip,
    // so the gradients must agree to float32 rounding. Strided and padded convolutions, two
    // dense layers, the flattening in between.
    let network = kink_free_network();
    compare_gradients(&network, 64, 64, 1e-4);
    compare_gradients(&network, 64 + 37, 64, 1e-4);
}

/// Both ways of splitting the conv and dense kernels' work, whichever this adapter would choose
/// (`Blocking`: blocked on a software adapter, fine on a GPU).
#[test]
fn steps_match_the_cpu_path_with_either_blocking() {
    for blocking in [Blocking::Blocked, Blocking::Fine] {
        let network = kink_free_network();
        compare_gradients_with(&network, 64 + 37, 64, 1e-4, Some(blocking));
        let sgd = Optimizer::Sgd { lr: 0.01, momentum: 0.9 };
        let got = run_steps_with(&Network::lenet5(), sgd, 20, 1e-4, Some(blocking));
        assert!(got.is_none_or(|(d, _)| d == expected(blocking, 12, 15)), "{blocking:?}: {got:?}");
        let adam = Optimizer::adam(0.001);
        run_steps_with(&Network::lenet5(), adam, 5, 1e-4, Some(blocking));
        run_steps_with(&Network::lenet5_1998(), sgd, 5, 1e-4, Some(blocking));
    }
}

#[test]
fn one_step_gradients_match_the_cpu_path_for_full_and_short_batches() {
    compare_gradients(&Network::lenet5(), 64, 64, KINKED);
    // A last step of 37 in buffers sized for 64: the padding rows must contribute nothing.
    compare_gradients(&Network::lenet5(), 64 + 37, 64, KINKED);
}

#[test]
fn relu_fusion_handles_every_placement() {
    // A ReLU on the input (no layer to fuse into), one after a max-pool with overlapping windows,
    // a stride-2 padded convolution, and a dense layer straight after a pool.
    let network = Network {
        input: Shape::new(1, 13, 11),
        layers: vec![
            Layer::Relu,
            Layer::conv(4, 3, 2, 1),
            Layer::MaxPool { window: 3, stride: 2 },
            Layer::Relu,
            Layer::conv(5, 2, 1, 0),
            Layer::Relu,
            Layer::MaxPool { window: 1, stride: 1 },
            Layer::Dense { out_features: 6 },
            Layer::Relu,
            Layer::Dense { out_features: 3 },
        ],
    };
    compare_gradients(&network, 21, 8, KINKED);
    // And a network ending in a ReLU, whose loss must mask the logits' gradient.
    let mut ends_in_relu = network.clone();
    ends_in_relu.layers.push(Layer::Relu);
    compare_gradients(&ends_in_relu, 21, 8, KINKED);
}

#[test]
fn tanh_and_average_pooling_fuse_in_every_placement() {
    // A tanh on the input (a stage of its own), a ReLU right after a fused tanh (a stage of its
    // own, taken back through the tanh), tanh fused into an average pool with overlapping
    // windows and into a max pool, ReLU before an average pool, two tanh in a row (the second
    // its own stage: tanh is not idempotent), and a network ending in a tanh.
    let network = Network {
        input: Shape::new(1, 17, 15),
        layers: vec![
            Layer::Tanh,
            Layer::conv(4, 3, 2, 1),
            Layer::Tanh,
            Layer::Relu,
            Layer::AvgPool { window: 3, stride: 2 },
            Layer::Tanh,
            Layer::conv(5, 2, 1, 0),
            Layer::Relu,
            Layer::AvgPool { window: 1, stride: 1 },
            Layer::conv(4, 1, 1, 0),
            Layer::Tanh,
            Layer::MaxPool { window: 2, stride: 1 },
            Layer::Tanh,
            Layer::Dense { out_features: 6 },
            Layer::Tanh,
            Layer::Tanh,
            Layer::Dense { out_features: 3 },
            Layer::Tanh,
        ],
    };
    compare_gradients(&network, 21, 8, KINKED);
}

#[test]
fn pools_that_tile_are_fused_and_others_run_unfused_with_the_same_steps() {
    // A pool whose windows tile its input (2/2 on 28x28) runs in the dense layer's backward
    // and, on a GPU, in the convolution's forward dispatch: gather, conv+pool, dense, loss, dense
    // backward (+pool), conv weight gradient + optimizer. One that overlaps (3/2) or leaves a
    // remainder (3/3 on 28) runs its own two dispatches.
    let pools = [
        (Layer::MaxPool { window: 2, stride: 2 }, Layer::Relu, (6, 7)),
        (Layer::AvgPool { window: 2, stride: 2 }, Layer::Tanh, (6, 7)),
        (Layer::MaxPool { window: 3, stride: 2 }, Layer::Relu, (8, 8)),
        (Layer::AvgPool { window: 3, stride: 3 }, Layer::Tanh, (8, 8)),
    ];
    for (pool, activation, (fine, blocked)) in pools {
        let network = Network {
            input: Shape::new(1, 28, 28),
            layers: vec![Layer::conv(4, 5, 1, 2), activation, pool, Layer::Dense { out_features: 10 }],
        };
        for optimizer in [Optimizer::Sgd { lr: 0.01, momentum: 0.9 }, Optimizer::adam(0.001)] {
            let got = run_steps_for(&network, optimizer, 3, 2e-4);
            assert!(
                got.is_none_or(|(d, b)| d == expected(b, fine, blocked)),
                "{network}: {got:?} dispatches"
            );
        }
    }
}

#[test]
fn predictions_match_the_cpu_path_and_follow_the_data_set() {
    let Some((mut cpu, mut gpu)) = engines(Optimizer::Sgd { lr: 0.01, momentum: 0.9 }, 2) else { return };
    let a = synthetic::generate(0, 300, 1).test;
    let data = synthetic::generate(64 * 3, 0, 2).train;
    let order: Vec<u32> = (0..data.len() as u32).collect();
    cpu.train_epoch(&data, &order, 64, &mut |_| {}).unwrap();
    gpu.train_epoch(&data, &order, 64, &mut |_| {}).unwrap();
    // 300 is not a multiple of the batch; a second set of the same size must not be mistaken
    // for the first, wherever its memory lies.
    assert_eq!(gpu.predict(&a).unwrap(), cpu.predict(&a).unwrap());
    drop(a);
    let b = synthetic::generate(0, 300, 99).test;
    assert_eq!(gpu.predict(&b).unwrap(), cpu.predict(&b).unwrap());
}

#[test]
fn an_epoch_creates_no_buffers_and_reads_back_once_per_submission() {
    let Some((_, mut gpu)) = engines(Optimizer::Sgd { lr: 0.01, momentum: 0.9 }, 3) else { return };
    let data = synthetic::generate(64 * 40, 0, 3).train;
    // The first epoch builds everything; the second must only record, submit and read stats.
    gpu.train_epoch(&data, &train::epoch_order(data.len(), 3, 1), 64, &mut |_| {}).unwrap();
    // A fresh engine starts small (1 step) and grows at most fourfold a submission.
    let first = gpu.last_epoch_submissions().to_vec();
    assert_eq!(first[0], 1, "{first:?}");
    assert!(first.windows(2).all(|w| w[1] <= 4 * w[0]), "{first:?}");
    let (buffers, submissions, readbacks) = gpu.gpu().counters.snapshot();
    let mut reports = 0;
    gpu.train_epoch(&data, &train::epoch_order(data.len(), 3, 2), 64, &mut |_| reports += 1).unwrap();
    let (buffers2, submissions2, readbacks2) = gpu.gpu().counters.snapshot();
    assert_eq!(buffers2 - buffers, 0, "buffers created during an epoch");
    // Submissions are sized by the device's measured speed (about 100 ms of work each), so how
    // many an epoch takes depends on the device; what is certain: one readback per submission,
    // and the submissions hold the epoch's 40 steps between them, each at least one.
    let sizes = gpu.last_epoch_submissions().to_vec();
    assert_eq!(submissions2 - submissions, sizes.len() as u64, "submissions in a 40-step epoch: {sizes:?}");
    assert_eq!(readbacks2 - readbacks, sizes.len() as u64, "one readback per submission: {sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), 40, "steps in the submissions: {sizes:?}");
    assert!(sizes.iter().all(|&s| s >= 1), "no empty submission: {sizes:?}");
    assert!(reports >= 1, "progress was reported");
    // gather, 5 forward (conv1+pool1, conv2+pool2, fc1, fc2, fc3), loss, 5 backward (fc3, fc2,
    // fc1 with pool2's folded in, conv2 with pool1's, conv1's weight gradient with the
    // optimizer's update).
    assert_eq!(gpu.dispatches_per_step(), Some(expected(gpu.gpu().blocking(), 12, 15)));
}

#[test]
fn kernel_timings_report_each_dispatch_and_its_workgroups() {
    let Some((_, mut gpu)) = engines(Optimizer::adam(0.001), 4) else { return };
    let data = synthetic::generate(64, 0, 4).train;
    let (timings, _) = gpu.profile_step(&data, 64, 1).unwrap();
    let labels: Vec<&str> = timings.iter().map(|t| t.kernel.as_str()).collect();
    assert_eq!(labels.len(), expected(gpu.gpu().blocking(), 12, 15), "{labels:?}");
    assert!(labels.contains(&"fc1 backward (+pool2)"), "{labels:?}");
    assert!(timings.iter().all(|t| t.workgroups.is_some_and(|g| g >= 1)), "{timings:?}");
    // Split as on a GPU, every dispatch but fc3's and the loss fills an H200's 132 compute units
    // at batch 64 (ARCHITECTURE.md says why those need not).
    let network = Network::lenet5();
    let Some((_, mut fine)) = engines_with(&network, Optimizer::adam(0.001), 4, Some(Blocking::Fine)) else {
        return;
    };
    let (timings, _) = fine.profile_step(&data, 64, 1).unwrap();
    assert_eq!(timings.len(), 12, "{timings:?}");
    assert!(timings.iter().any(|t| t.kernel == "conv1+pool1 forward"), "{timings:?}");
    for t in &timings {
        let small = ["fc3 forward", "fc3 backward", "softmax_cross_entropy"].contains(&t.kernel.as_str());
        let groups = t.workgroups.unwrap_or(0);
        assert!(small || groups >= 132, "{}: {groups} workgroups", t.kernel);
    }
}

#[test]
fn gpu_training_learns_a_2000_image_mnist_subset() {
    let Some(dir) = common::shared_mnist_dir() else { return };
    let Some((_, mut gpu)) = engines(Optimizer::Sgd { lr: 0.01, momentum: 0.9 }, 1) else { return };
    let full = mnist::load(&dir).unwrap();
    let split = Split { train: full.train.take(2000), test: full.test.take(1000) };
    // The same run and bar as the CPU path's test in tests/training.rs.
    let config = TrainConfig {
        epochs: 5,
        batch_size: 32,
        optimizer: Optimizer::Sgd { lr: 0.01, momentum: 0.9 },
        seed: 1,
        ..Default::default()
    };
    let reports = train::fit(&mut gpu, &split, &config, &mut Quiet).unwrap();
    let last = reports.last().unwrap();
    eprintln!("GPU: {reports:?}");
    assert!(last.train_loss < reports[0].train_loss * 0.5, "loss falls: {reports:?}");
    assert!(last.test_accuracy > 0.85, "held-out accuracy {:.3}", last.test_accuracy);
}

#[test]
fn with_no_adapter_auto_falls_back_to_the_cpu_path() {
    let dir = common::TempDir::new("fallback");
    // WGPU_BACKEND naming a backend this platform lacks hides every adapter, as on a headless
    // machine with no GPU driver.
    let hidden = if cfg!(target_os = "windows") { "metal" } else { "dx12" };
    let run = |device: &str| {
        let args = ["train", "--device", device, "--dataset", "synthetic", "--limit-train", "256"];
        common::run_lenet(&[&args[..], &["--limit-test", "64", "--no-download"]].concat(), |cmd| {
            cmd.env("WGPU_BACKEND", hidden).env("LENET_DATA_DIR", dir.path()).current_dir(dir.path());
        })
    };
    let auto = run("auto");
    let stderr = &auto.stderr;
    assert!(auto.success(), "{stderr}");
    assert_eq!(stderr.matches("no hardware GPU found").count(), 1, "one notice: {stderr}");
    assert!(stderr.contains("on CPU"), "{stderr}");
    assert!(auto.stdout.contains("epoch 1/1"));

    let gpu = run("gpu");
    let stderr = &gpu.stderr;
    assert!(!gpu.success() && stderr.contains("no GPU adapter found"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn an_epoch_may_visit_examples_more_than_once() {
    // An order longer than the data set (as `lenet bench` uses): the GPU keeps it whole.
    let Some((mut cpu, mut gpu)) = engines(Optimizer::Sgd { lr: 0.01, momentum: 0.9 }, 4) else { return };
    let data = synthetic::generate(50, 0, 4).train;
    let order: Vec<u32> = (0..130).map(|i| i % 50).collect();
    let c = cpu.train_epoch(&data, &order, 64, &mut |_| {}).unwrap();
    let g = gpu.train_epoch(&data, &order, 64, &mut |_| {}).unwrap();
    assert_eq!(g.images_done, 130);
    assert!((g.loss_sum - c.loss_sum).abs() <= 1e-4 * c.loss_sum, "loss {} vs {}", g.loss_sum, c.loss_sum);
    assert_parameters_close(&gpu.parameters().unwrap(), &cpu.parameters().unwrap(), 1e-4, "after 3 steps");
}
