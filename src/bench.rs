//! Benchmarks: the same training workload on each engine, measured side by side in one run, and
//! per-kernel timings with achieved GFLOP/s. Figures only mean something as ratios measured on
//! the same machine at the same time.

use crate::Result;
use crate::cpu::activation::{relu_backward, relu_forward, tanh_backward, tanh_forward};
use crate::cpu::conv::{ConvShape, conv2d_backward, conv2d_forward};
use crate::cpu::dense::{DenseShape, dense_backward, dense_forward};
use crate::cpu::loss::softmax_cross_entropy;
use crate::cpu::network::{conv_shape, dense_shape, pool_shape};
use crate::cpu::optimizer::{Optimizer, OptimizerState, UpdateRates, optimizer_step};
use crate::cpu::pool::{avgpool_backward, avgpool_forward, maxpool_backward, maxpool_forward};
use crate::data::Split;
use crate::model::{Layer, Plan};
use crate::rng::Rng;
use crate::train::Engine;
use web_time::Instant;

/// Images a second one engine trains and predicts.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Throughput {
    pub train_images_per_s: f64,
    pub infer_images_per_s: f64,
}

/// Trains `steps` steps of `batch` (after `warmup` steps that build and warm everything), then
/// predicts the test set (after one warm-up prediction), timing each.
pub fn measure(
    engine: &mut dyn Engine,
    data: &Split,
    batch: usize,
    steps: usize,
    warmup: usize,
) -> Result<Throughput> {
    let n = data.train.len();
    let order =
        |count: usize, offset: usize| -> Vec<u32> { (0..count).map(|i| ((offset + i) % n) as u32).collect() };
    engine.train_epoch(&data.train, &order(warmup.max(1) * batch, 0), batch, &mut |_| {})?;
    let timed = order(steps * batch, warmup * batch);
    let start = Instant::now();
    engine.train_epoch(&data.train, &timed, batch, &mut |_| {})?;
    let train = timed.len() as f64 / start.elapsed().as_secs_f64();
    engine.predict(&data.test)?;
    let start = Instant::now();
    engine.predict(&data.test)?;
    let infer = data.test.len() as f64 / start.elapsed().as_secs_f64();
    Ok(Throughput { train_images_per_s: train, infer_images_per_s: infer })
}

/// FLOP one image costs in `plan`'s forward pass, and in a training step (forward, the weight
/// gradients, and the input gradients of every layer but the first): two per multiply-add of
/// the convolutions and dense layers, the rest (activations, pooling, loss, update) not counted.
pub fn flops_per_image(plan: &Plan) -> (f64, f64) {
    let (mut forward, mut train) = (0.0, 0.0);
    for (i, l) in plan.all_layers().into_iter().enumerate() {
        let f = match l.layer {
            Layer::Conv2d { .. } => {
                let s = conv_shape(l, 1);
                2.0 * (s.output_len() * s.patch_len()) as f64
            }
            Layer::Dense { .. } => {
                let s = dense_shape(l, 1);
                2.0 * (s.in_features * s.out_features) as f64
            }
            _ => 0.0,
        };
        forward += f;
        train += if i == 0 { 2.0 * f } else { 3.0 * f };
    }
    (forward, train)
}

/// One kernel's timing (defined where the GPU engine measures it).
pub use crate::gpu::KernelTiming;

/// The best of a few runs of `f`, each `repeats` calls, in seconds per call.
fn time(repeats: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm caches and allocations
    let mut best = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        for _ in 0..repeats {
            f();
        }
        best = best.min(start.elapsed().as_secs_f64() / repeats as f64);
    }
    best
}

fn random(n: usize, rng: &mut Rng) -> Vec<f32> {
    (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect()
}

/// The CPU twin of every kernel of a training step of `plan` at `batch`, each timed alone.
pub fn cpu_kernel_timings(plan: &Plan, batch: usize, repeats: usize) -> Vec<KernelTiming> {
    let mut rng = Rng::new(1);
    let mut out = Vec::new();
    let mut row = |kernel: String, flops: f64, seconds: f64| {
        out.push(KernelTiming { kernel, seconds, flops, workgroups: None })
    };
    let mut pools = 0;
    for (i, l) in plan.layers.iter().enumerate() {
        let x = random(batch * l.input.len(), &mut rng);
        let mut y = vec![0.0; batch * l.output.len()];
        let dy = random(y.len(), &mut rng);
        let mut dx = vec![0.0; x.len()];
        match l.layer {
            Layer::Conv2d { .. } => {
                let s: ConvShape = conv_shape(l, batch);
                let (w, b) = (random(s.weight_len(), &mut rng), random(s.out_channels, &mut rng));
                let (mut dw, mut db) = (vec![0.0; w.len()], vec![0.0; b.len()]);
                let flops = 2.0 * (batch * s.output_len() * s.patch_len()) as f64;
                row(
                    format!("{} forward", l.name),
                    flops,
                    time(repeats, || conv2d_forward(&s, &x, &w, &b, &mut y)),
                );
                let first = i == 0;
                let label = if first { "backward params" } else { "backward params+input" };
                let flops_back = if first { flops } else { 2.0 * flops };
                let seconds = time(repeats, || {
                    let d_input = if first { None } else { Some(&mut dx[..]) };
                    conv2d_backward(&s, &x, &w, &dy, d_input, &mut dw, &mut db)
                });
                row(format!("{} {label}", l.name), flops_back, seconds);
            }
            Layer::Dense { .. } => {
                let s: DenseShape = dense_shape(l, batch);
                let (w, b) =
                    (random(s.in_features * s.out_features, &mut rng), random(s.out_features, &mut rng));
                let (mut dw, mut db) = (vec![0.0; w.len()], vec![0.0; b.len()]);
                let flops = 2.0 * (batch * s.in_features * s.out_features) as f64;
                row(
                    format!("{} forward", l.name),
                    flops,
                    time(repeats, || dense_forward(&s, &x, &w, &b, &mut y)),
                );
                let seconds =
                    time(repeats, || dense_backward(&s, &x, &w, &dy, Some(&mut dx), &mut dw, &mut db));
                row(format!("{} backward params+input", l.name), 2.0 * flops, seconds);
            }
            Layer::MaxPool { .. } => {
                pools += 1;
                let s = pool_shape(l, batch);
                let mut arg = vec![0u32; y.len()];
                row(
                    format!("pool{pools} forward"),
                    0.0,
                    time(repeats, || maxpool_forward(&s, &x, &mut y, &mut arg)),
                );
                row(
                    format!("pool{pools} backward"),
                    0.0,
                    time(repeats, || maxpool_backward(&s, &dy, &arg, &mut dx)),
                );
            }
            Layer::AvgPool { .. } => {
                pools += 1;
                let s = pool_shape(l, batch);
                row(format!("pool{pools} forward"), 0.0, time(repeats, || avgpool_forward(&s, &x, &mut y)));
                row(
                    format!("pool{pools} backward"),
                    0.0,
                    time(repeats, || avgpool_backward(&s, &dy, &mut dx)),
                );
            }
            Layer::Relu => {
                row(format!("relu after layer {i}"), 0.0, time(repeats, || relu_forward(&x, &mut y)));
                row(
                    format!("relu after layer {i} backward"),
                    0.0,
                    time(repeats, || relu_backward(&x, &dy, &mut dx)),
                );
            }
            Layer::Tanh => {
                row(format!("tanh after layer {i}"), 0.0, time(repeats, || tanh_forward(&x, &mut y)));
                row(
                    format!("tanh after layer {i} backward"),
                    0.0,
                    time(repeats, || tanh_backward(&x, &dy, &mut dx)),
                );
            }
            // Timed only within whole steps for now.
            _ => {}
        }
    }
    let classes = plan.classes();
    let logits = random(batch * classes, &mut rng);
    let labels: Vec<u32> = (0..batch).map(|_| rng.below(classes) as u32).collect();
    let mut d = vec![0.0; logits.len()];
    row(
        "softmax cross-entropy".into(),
        0.0,
        time(repeats, || {
            softmax_cross_entropy(&logits, &labels, classes, &mut d);
        }),
    );
    let n = plan.parameter_count;
    let (mut p, g, mut state) = (random(n, &mut rng), random(n, &mut rng), OptimizerState::new(n));
    let sgd = Optimizer::Sgd { lr: 1e-6, momentum: 0.9 };
    row(
        "sgd step".into(),
        0.0,
        time(repeats, || optimizer_step(&sgd, UpdateRates::constant(&sgd), &mut state, &mut p, &g)),
    );
    out
}
