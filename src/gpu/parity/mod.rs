//! Every GPU kernel against its CPU twin on fresh random inputs, at LeNet-5's shapes (batch 64) and
//! at odd ones (odd sizes, stride 2, padding, several channels, batch 1): the one suite, run
//! natively by `tests/gpu_parity.rs` on the adapter the tests open and, in a browser, by the web
//! page's `parity()` on WebGPU against the CPU path compiled to wasm.
//!
//! A kernel's error is the largest difference over the largest CPU value, the worst over all its
//! shapes and fused activations. Outputs that must be exact (maxima, argmax, predicted classes,
//! gathered labels) count any difference as an error of 1, and a NaN or a wrong length as infinite.

use super::context::Gpu;
use super::kernels::Activation;
use super::ops;
use crate::Result;
use crate::cpu::activation::{relu_backward, relu_forward, tanh_backward, tanh_forward};
use crate::cpu::conv::{conv2d_backward, conv2d_forward};
use crate::cpu::dense::{dense_backward, dense_forward};
use crate::cpu::loss::softmax_cross_entropy;
use crate::cpu::optimizer::{UpdateRates, optimizer_step};
use crate::cpu::pool::{avgpool_backward, avgpool_forward, maxpool_backward, maxpool_forward};
use crate::data::augment::Augmentation;
use crate::data::{Dataset, synthetic};
use crate::model::argmax;
use crate::model::optimizer::{Optimizer, OptimizerState};
use crate::model::shapes::{ConvShape, DenseShape, PoolShape};
use crate::rng::Rng;
use tally::Tally;
pub use tally::{KernelParity, relative_error};

mod fused;
mod tally;

/// The largest error a kernel may have.
pub const TOLERANCE: f32 = 1e-4;

fn random(n: usize, rng: &mut Rng) -> Vec<f32> {
    (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect()
}

/// Every activation a kernel can fuse.
const ACTIVATIONS: [Activation; 3] = [Activation::Identity, Activation::Relu, Activation::Tanh];

/// `activation` applied to `v` by the CPU twin.
fn activate(activation: Activation, v: &[f32]) -> Vec<f32> {
    let mut out = v.to_vec();
    match activation {
        Activation::Identity => {}
        Activation::Relu => relu_forward(v, &mut out),
        Activation::Tanh => tanh_forward(v, &mut out),
    }
    out
}

/// The gradient `g` after `activation`, whose output was `y`, taken back through it by the CPU twin.
fn back_through(activation: Activation, y: &[f32], g: &[f32]) -> Vec<f32> {
    let mut out = g.to_vec();
    match activation {
        Activation::Identity => {}
        Activation::Relu => relu_backward(y, g, &mut out),
        Activation::Tanh => tanh_backward(y, g, &mut out),
    }
    out
}

pub fn conv_shapes() -> Vec<ConvShape> {
    let conv = ConvShape::square;
    vec![
        conv(64, 1, 28, 28, 6, 5, 1, 2),  // LeNet conv1
        conv(64, 6, 14, 14, 16, 5, 1, 0), // LeNet conv2
        conv(1, 3, 9, 7, 4, 3, 2, 1),     // odd, stride 2, padding
        conv(3, 2, 11, 6, 5, 4, 3, 2),    // non-square, even kernel
        ConvShape { kernel_h: 3, kernel_w: 2, ..conv(2, 2, 7, 6, 3, 1, 2, 1) },
        conv(2, 12, 12, 13, 9, 10, 1, 4), // channel and column blocks smaller than the dimension
    ]
}

pub fn pool_shapes() -> Vec<PoolShape> {
    vec![
        PoolShape { batch: 64, channels: 6, in_h: 28, in_w: 28, window: 2, stride: 2 },
        PoolShape { batch: 64, channels: 16, in_h: 10, in_w: 10, window: 2, stride: 2 },
        PoolShape { batch: 1, channels: 3, in_h: 7, in_w: 9, window: 3, stride: 2 }, // overlapping
        PoolShape { batch: 3, channels: 2, in_h: 5, in_w: 6, window: 2, stride: 1 },
        PoolShape { batch: 2, channels: 1, in_h: 9, in_w: 5, window: 3, stride: 3 },
    ]
}

pub fn dense_shapes() -> Vec<DenseShape> {
    vec![
        DenseShape { batch: 64, in_features: 400, out_features: 120 },
        DenseShape { batch: 64, in_features: 84, out_features: 10 },
        DenseShape { batch: 1, in_features: 7, out_features: 3 },
        DenseShape { batch: 5, in_features: 33, out_features: 17 },
    ]
}

/// Runs every kernel on inputs drawn from `seed` and returns each one's worst error.
pub async fn run_async(gpu: &Gpu, seed: u64) -> Result<Vec<KernelParity>> {
    let mut rng = Rng::new(seed);
    let mut tally = Tally::default();
    convolutions(gpu, &mut rng, &mut tally).await?;
    pooling(gpu, &mut rng, &mut tally).await?;
    activations(gpu, &mut rng, &mut tally).await?;
    dense(gpu, &mut rng, &mut tally).await?;
    loss_and_predict(gpu, &mut rng, &mut tally).await?;
    optimizers(gpu, &mut rng, &mut tally).await?;
    gather(gpu, &mut rng, &mut tally).await?;
    fused::conv_pool(gpu, &mut rng, &mut tally).await?;
    fused::backward(gpu, &mut rng, &mut tally).await?;
    fused::params_update(gpu, &mut rng, &mut tally).await?;
    Ok(tally.0)
}

/// `run_async`, waiting for it (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn run(gpu: &Gpu, seed: u64) -> Result<Vec<KernelParity>> {
    pollster::block_on(run_async(gpu, seed))
}

async fn convolutions(gpu: &Gpu, rng: &mut Rng, tally: &mut Tally) -> Result<()> {
    for s in conv_shapes() {
        let x = random(s.batch * s.input_len(), rng);
        let w = random(s.weight_len(), rng);
        let b = random(s.out_channels, rng);
        let mut y = vec![0.0; s.batch * s.output_len()];
        conv2d_forward(&s, &x, &w, &b, &mut y);
        for a in ACTIVATIONS {
            let gpu_y = ops::conv2d_forward(gpu, &s, a, &x, &w, &b).await?;
            tally.close("conv_forward", &gpu_y, &activate(a, &y), || format!("{a:?} {s:?}"));
        }
        let dy = random(s.batch * s.output_len(), rng);
        let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; s.out_channels]);
        conv2d_backward(&s, &x, &w, &dy, Some(&mut dx), &mut dw, &mut db);
        let (gpu_dw, gpu_db) = ops::conv2d_backward_params(gpu, &s, &x, &dy).await?;
        tally.close("conv_backward_params", &gpu_dw, &dw, || format!("d_weight {s:?}"));
        tally.close("conv_backward_params", &gpu_db, &db, || format!("d_bias {s:?}"));
        // With the input taken as an activation's output, the gradient is taken back through it
        // (the convolution's own input gradient does not depend on the input).
        for a in ACTIVATIONS {
            let xa = activate(a, &x);
            let gpu_dx = ops::conv2d_backward_input(gpu, &s, a, &xa, &w, &dy).await?;
            tally
                .close("conv_backward_input", &gpu_dx, &back_through(a, &xa, &dx), || format!("{a:?} {s:?}"));
        }
    }
    Ok(())
}

async fn pooling(gpu: &Gpu, rng: &mut Rng, tally: &mut Tally) -> Result<()> {
    for s in pool_shapes() {
        let x = random(s.batch * s.input_len(), rng);
        let n = s.batch * s.output_len();
        let (mut y, mut arg) = (vec![0.0; n], vec![0u32; n]);
        maxpool_forward(&s, &x, &mut y, &mut arg);
        for a in ACTIVATIONS {
            let (gpu_y, gpu_arg) = ops::maxpool_forward(gpu, &s, a, &x).await?;
            let case = || format!("{a:?} {s:?}");
            match a {
                // A maximum, and a ReLU of it, is exact.
                Activation::Identity | Activation::Relu => {
                    tally.exact("maxpool_forward", &gpu_y, &activate(a, &y), case)
                }
                Activation::Tanh => tally.close("maxpool_forward", &gpu_y, &activate(a, &y), case),
            }
            tally.exact("maxpool_forward", &gpu_arg, &arg, || format!("argmax {s:?}"));
        }
        // A ReLU's output has many exact zeros: ties, where the first pixel must win.
        let xr = activate(Activation::Relu, &x);
        let (mut yr, mut argr) = (vec![0.0; n], vec![0u32; n]);
        maxpool_forward(&s, &xr, &mut yr, &mut argr);
        let (gpu_yr, gpu_argr) = ops::maxpool_forward(gpu, &s, Activation::Identity, &xr).await?;
        tally.exact("maxpool_forward", &gpu_yr, &yr, || format!("ties {s:?}"));
        tally.exact("maxpool_forward", &gpu_argr, &argr, || format!("argmax of ties {s:?}"));

        let dy = random(n, rng);
        let mut dx = vec![0.0; x.len()];
        maxpool_backward(&s, &dy, &arg, &mut dx);
        // With the input taken as an activation's output (the winners are given by `arg`), the
        // gradient is taken back through it.
        for a in ACTIVATIONS {
            let xa = activate(a, &x);
            let gpu_dx = ops::maxpool_backward(gpu, &s, a, &xa, &dy, &arg).await?;
            tally.close("maxpool_backward", &gpu_dx, &back_through(a, &xa, &dx), || format!("{a:?} {s:?}"));
        }

        let mut y = vec![0.0; n];
        avgpool_forward(&s, &x, &mut y);
        let mut dx = vec![0.0; x.len()];
        avgpool_backward(&s, &dy, &mut dx);
        for a in ACTIVATIONS {
            let gpu_y = ops::avgpool_forward(gpu, &s, a, &x).await?;
            tally.close("avgpool_forward", &gpu_y, &activate(a, &y), || format!("{a:?} {s:?}"));
            let xa = activate(a, &x);
            let gpu_dx = ops::avgpool_backward(gpu, &s, a, &xa, &dy).await?;
            tally.close("avgpool_backward", &gpu_dx, &back_through(a, &xa, &dx), || format!("{a:?} {s:?}"));
        }
    }
    Ok(())
}

async fn activations(gpu: &Gpu, rng: &mut Rng, tally: &mut Tally) -> Result<()> {
    // The last size needs more than 65,535 workgroups: a 2-D dispatch.
    for n in [1, 63, 1000, 65_535 * 64 + 65] {
        // Spread wide, so tanh's saturation (and the far tails) are exercised too.
        let wide: Vec<f32> = random(n, rng).iter().map(|v| v * 30.0).collect();
        let small = random(n, rng);
        for (x, spread) in [(&wide, "[-30, 30]"), (&small, "[-1, 1]")] {
            let relu = ops::activation_forward(gpu, Activation::Relu, x).await?;
            tally.exact("activation_forward", &relu, &activate(Activation::Relu, x), || {
                format!("Relu of {n} in {spread}")
            });
            let tanh = ops::activation_forward(gpu, Activation::Tanh, x).await?;
            tally.close("activation_forward", &tanh, &activate(Activation::Tanh, x), || {
                format!("Tanh of {n} in {spread}")
            });
        }
        let dy = random(n, rng);
        for a in ACTIVATIONS {
            let xa = activate(a, &small);
            let gpu_dx = ops::activation_backward(gpu, a, &xa, &dy).await?;
            tally.close("activation_backward", &gpu_dx, &back_through(a, &xa, &dy), || {
                format!("{a:?} of {n}")
            });
        }
    }
    Ok(())
}

async fn dense(gpu: &Gpu, rng: &mut Rng, tally: &mut Tally) -> Result<()> {
    for s in dense_shapes() {
        let x = random(s.batch * s.in_features, rng);
        let w = random(s.out_features * s.in_features, rng);
        let b = random(s.out_features, rng);
        let mut y = vec![0.0; s.batch * s.out_features];
        dense_forward(&s, &x, &w, &b, &mut y);
        for a in ACTIVATIONS {
            let gpu_y = ops::dense_forward(gpu, &s, a, &x, &w, &b).await?;
            tally.close("dense_forward", &gpu_y, &activate(a, &y), || format!("{a:?} {s:?}"));
        }
        let dy = random(y.len(), rng);
        let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; b.len()]);
        dense_backward(&s, &x, &w, &dy, Some(&mut dx), &mut dw, &mut db);
        let (gpu_dw, gpu_db) = ops::dense_backward_params(gpu, &s, &x, &dy).await?;
        tally.close("dense_backward_params", &gpu_dw, &dw, || format!("d_weight {s:?}"));
        tally.close("dense_backward_params", &gpu_db, &db, || format!("d_bias {s:?}"));
        for a in ACTIVATIONS {
            let xa = activate(a, &x);
            let gpu_dx = ops::dense_backward_input(gpu, &s, a, &xa, &w, &dy).await?;
            tally.close("dense_backward_input", &gpu_dx, &back_through(a, &xa, &dx), || {
                format!("{a:?} {s:?}")
            });
        }
    }
    Ok(())
}

async fn loss_and_predict(gpu: &Gpu, rng: &mut Rng, tally: &mut Tally) -> Result<()> {
    for (batch, count, classes) in [(64, 64, 10), (64, 32, 10), (1, 1, 10), (300, 257, 7)] {
        let logits: Vec<f32> = random(batch * classes, rng).iter().map(|v| v * 8.0).collect();
        let labels: Vec<u32> = (0..batch).map(|_| rng.below(classes) as u32).collect();
        let mut d = vec![0.0; batch * classes];
        let n = count * classes;
        let stats = softmax_cross_entropy(&logits[..n], &labels[..count], classes, &mut d[..n]);
        let (gpu_stats, gpu_d) = ops::softmax_cross_entropy(gpu, &logits, &labels, classes, count).await?;
        let case = || format!("batch {batch}, {count} examples, {classes} classes");
        tally.close("softmax_cross_entropy", &gpu_d, &d, || format!("d_logits, {}", case()));
        tally.close("softmax_cross_entropy", &[gpu_stats.loss_sum], &[stats.loss_sum], || {
            format!("loss, {}", case())
        });
        tally.exact("softmax_cross_entropy", &[gpu_stats.correct], &[stats.correct], || {
            format!("correct, {}", case())
        });
        let expected: Vec<u32> = logits.chunks(classes).map(|r| argmax(r) as u32).collect();
        tally.exact("predict", &ops::predict(gpu, &logits, classes).await?, &expected, case);
    }
    Ok(())
}

async fn optimizers(gpu: &Gpu, rng: &mut Rng, tally: &mut Tally) -> Result<()> {
    // Each at its own rate, then at a rate that changes every update (a schedule's) with weight
    // decay (SGD's L2, Adam's decoupled AdamW).
    let cases = [
        ("sgd", Optimizer::Sgd { lr: 0.05, momentum: 0.9 }, 0.0),
        ("adam", Optimizer::adam(0.01), 0.0),
        ("sgd", Optimizer::Sgd { lr: 0.05, momentum: 0.9 }, 0.01),
        ("adam", Optimizer::adam(0.01), 0.1),
    ];
    for (kernel, optimizer, weight_decay) in cases {
        let n = 61_706;
        let (mut cpu_p, mut cpu_s) = (random(n, rng), OptimizerState::new(n));
        let (mut gpu_p, mut gpu_s) = (cpu_p.clone(), OptimizerState::new(n));
        for update in 0..3 {
            let g = random(n, rng);
            let rates = match weight_decay {
                0.0 => UpdateRates::constant(&optimizer),
                _ => UpdateRates { lr: optimizer.lr() / (update + 1) as f32, weight_decay },
            };
            optimizer_step(&optimizer, rates, &mut cpu_s, &mut cpu_p, &g);
            ops::optimizer_step(gpu, &optimizer, rates, &mut gpu_s, &mut gpu_p, &g).await?;
        }
        let case = || format!("{optimizer:?}, weight decay {weight_decay}");
        tally.close(kernel, &gpu_p, &cpu_p, || format!("{}: parameters after 3 steps", case()));
        tally.close(kernel, &gpu_s.first, &cpu_s.first, || format!("{}: first moment", case()));
        tally.close(kernel, &gpu_s.second, &cpu_s.second, || format!("{}: second moment", case()));
    }
    Ok(())
}

async fn gather(gpu: &Gpu, rng: &mut Rng, tally: &mut Tally) -> Result<()> {
    let data = synthetic::generate(101, 0, rng.next_u64()).train;
    // Colour images (each channel its own mean and std), 3x5x5 so that images straddle words.
    let colour = Dataset {
        images: (0..61 * 75).map(|_| rng.below(256) as u8).collect(),
        labels: (0..61).map(|_| rng.below(10) as u8).collect(),
        channels: 3,
        rows: 5,
        cols: 5,
    };
    // The colour set also split across the two image bindings (after 31 images, mid-word).
    let cases = [
        (&data, 64, 64, None),
        (&data, 37, 64, None),
        (&data, 1, 1, None),
        (&colour, 40, 48, Some(31 * 75 + 3)),
    ];
    for (data, count, batch, split_at) in cases {
        let pixels = data.pixels_per_image();
        let indices: Vec<u32> = (0..count).map(|_| rng.below(data.len()) as u32).collect();
        let mut x = vec![0.0; batch * pixels];
        let mut y = vec![0u32; batch];
        data.gather_normalized(&indices, &mut x[..count * pixels], &mut y[..count]);
        let (gpu_x, gpu_y) = match split_at {
            Some(limit) => ops::gather_within(gpu, data, &indices, None, batch, limit).await?,
            None => ops::gather(gpu, data, &indices, batch).await?,
        };
        let what = format!("{count} {} images into a batch of {batch}", data.shape());
        tally.close("gather", &gpu_x, &x, || what.clone());
        tally.exact("gather", &gpu_y, &y, || format!("labels of {what}"));
    }
    // Shifted as `train --augment` shifts (the same integer draws on both sides): exact too.
    for (max_shift, first, count, batch) in [(2, 0, 64, 64), (8, 130, 37, 64), (1, 5, 1, 1)] {
        let shift = Augmentation::shift(max_shift).for_epoch(rng.next_u64(), 1).expect("a shift");
        let indices: Vec<u32> = (0..count).map(|_| rng.below(data.len()) as u32).collect();
        let mut x = vec![0.0; batch * 784];
        let mut y = vec![0u32; batch];
        data.gather_shifted(&indices, first, &shift, &mut x[..count * 784], &mut y[..count]);
        let (gpu_x, gpu_y) = ops::gather_shifted(gpu, &data, &indices, Some((shift, first)), batch).await?;
        let case = || format!("{count} images shifted up to {max_shift} from position {first}");
        tally.exact("gather", &gpu_x, &x, case);
        tally.exact("gather", &gpu_y, &y, case);
    }
    Ok(())
}
