//! The kernels a training step fuses, against the CPU twins of what they fuse: a convolution
//! with the pool after it, a layer's two backward passes with a pool folded into the input
//! gradient, and the first layer's weight gradient with the optimizer's update.

use super::{ACTIVATIONS, Tally, activate, back_through, conv_shapes, dense_shapes, random};
use crate::Result;
use crate::cpu::conv::{conv2d_backward, conv2d_forward};
use crate::cpu::dense::dense_backward;
use crate::cpu::optimizer::{UpdateRates, optimizer_step};
use crate::cpu::pool::{avgpool_backward, avgpool_forward, maxpool_backward, maxpool_forward};
use crate::gpu::context::Gpu;
use crate::gpu::kernels::{Activation, FusedPool, PoolFold};
use crate::gpu::ops::{self, FoldInputs, Layer};
use crate::model::optimizer::{Optimizer, OptimizerState};
use crate::model::shapes::{ConvShape, PoolShape};
use crate::rng::Rng;

/// A pool of `window` over planes of `in_h` x `in_w`.
fn pool_shape(batch: usize, channels: usize, in_h: usize, in_w: usize, window: usize) -> PoolShape {
    PoolShape { batch, channels, in_h, in_w, window, stride: window }
}

/// The CPU's pool forward: (output, argmax; empty for an average pool).
fn pool_forward(s: &PoolShape, max: bool, x: &[f32]) -> (Vec<f32>, Vec<u32>) {
    let n = s.batch * s.output_len();
    let (mut y, mut arg) = (vec![0.0; n], vec![0u32; n]);
    match max {
        true => maxpool_forward(s, x, &mut y, &mut arg),
        false => {
            avgpool_forward(s, x, &mut y);
            arg.clear();
        }
    }
    (y, arg)
}

fn pool_backward(s: &PoolShape, max: bool, dy: &[f32], arg: &[u32]) -> Vec<f32> {
    let mut dx = vec![0.0; s.batch * s.input_len()];
    match max {
        true => maxpool_backward(s, dy, arg, &mut dx),
        false => avgpool_backward(s, dy, &mut dx),
    }
    dx
}

/// conv_forward_pool: the convolution against the CPU's, its pooling exactly against the CPU's
/// pooling of the GPU's own convolution output (so a near-tie cannot flip between paths).
pub(super) async fn conv_pool(gpu: &Gpu, rng: &mut Rng, tally: &mut Tally) -> Result<()> {
    let conv = ConvShape::square;
    let shapes = [
        conv(64, 1, 28, 28, 6, 5, 1, 2),  // LeNet conv1
        conv(64, 6, 14, 14, 16, 5, 1, 0), // LeNet conv2
        conv(3, 2, 8, 8, 5, 3, 1, 1),     // window 4
        conv(5, 3, 6, 10, 12, 3, 1, 1),   // a partial column block, two channel blocks
    ];
    for (i, s) in shapes.iter().enumerate() {
        // The largest window that tiles the output (2 or 4: the fused kernel's).
        let tiles = |w: &usize| s.out_h().is_multiple_of(*w) && s.out_w().is_multiple_of(*w);
        let window = [4, 2].into_iter().find(tiles).expect("a shape the pool tiles");
        let (x, w, b) =
            (random(s.batch * s.input_len(), rng), random(s.weight_len(), rng), random(s.out_channels, rng));
        let mut y = vec![0.0; s.batch * s.output_len()];
        conv2d_forward(s, &x, &w, &b, &mut y);
        let p = pool_shape(s.batch, s.out_channels, s.out_h(), s.out_w(), window);
        for (max, a, pa) in
            [(true, ACTIVATIONS[i % 3], Activation::Identity), (false, Activation::Tanh, Activation::Relu)]
        {
            let pool = FusedPool::of(&p, max).expect("windows that tile");
            let (gy, gz, garg) = ops::conv2d_forward_pool(gpu, s, a, &pool, pa, &x, &w, &b).await?;
            let case = || format!("{a:?}, pool {p:?} max {max}, then {pa:?}");
            tally.close("conv_forward_pool", &gy, &activate(a, &y), case);
            let (z, arg) = pool_forward(&p, max, &gy);
            tally.close("conv_forward_pool", &gz, &activate(pa, &z), || format!("pooled: {}", case()));
            tally.exact("conv_forward_pool", &garg, &arg, || format!("argmax: {}", case()));
        }
    }
    Ok(())
}

/// The CPU's chain for a folded pool: the input gradient `dx` through the input's activation
/// (`act`, output `x`), back through the pool, then through the pool input's activation.
fn fold_expected(f: &FoldInputs, p: &PoolShape, act: Activation, x: &[f32], dx: &[f32]) -> Vec<f32> {
    let g = back_through(act, x, dx);
    let d_pre = pool_backward(p, f.fold.pool.max, &g, f.argmax);
    back_through(f.fold.input_activation, f.pool_input, &d_pre)
}

/// conv_backward and dense_backward: unfolded with every input activation, and folded into a
/// max pool (window 2) and an average pool (window 4) before the layer.
pub(super) async fn backward(gpu: &Gpu, rng: &mut Rng, tally: &mut Tally) -> Result<()> {
    let dense = dense_shapes();
    // Each dense layer's input as (channels, height, width) planes, for the pool folded before it.
    let planes = [(16, 5, 5), (1, 7, 12), (7, 1, 1), (3, 11, 1)];
    let convs = conv_shapes();
    let layers = convs
        .iter()
        .map(|s| {
            (
                Layer::Conv(s),
                "conv_backward",
                (s.in_channels, s.in_h, s.in_w),
                s.weight_len(),
                s.batch,
                s.output_len(),
            )
        })
        .chain(dense.iter().zip(planes).map(|(s, plane)| {
            (
                Layer::Dense(s),
                "dense_backward",
                plane,
                s.in_features * s.out_features,
                s.batch,
                s.out_features,
            )
        }));
    for (layer, kernel, (c, h, w), weights, batch, outputs) in layers {
        let (wt, dy) = (random(weights, rng), random(batch * outputs, rng));
        let x_raw = random(batch * c * h * w, rng);
        let cpu_grads = |x: &[f32]| {
            let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; weights], vec![]);
            match &layer {
                Layer::Conv(s) => {
                    db.resize(s.out_channels, 0.0);
                    conv2d_backward(s, x, &wt, &dy, Some(&mut dx), &mut dw, &mut db);
                }
                Layer::Dense(s) => {
                    db.resize(s.out_features, 0.0);
                    dense_backward(s, x, &wt, &dy, Some(&mut dx), &mut dw, &mut db);
                }
            }
            (dw, db, dx)
        };
        let layer = || match &layer {
            Layer::Conv(s) => Layer::Conv(s),
            Layer::Dense(s) => Layer::Dense(s),
        };
        for a in ACTIVATIONS {
            let x = activate(a, &x_raw);
            let (dw, db, dx) = cpu_grads(&x);
            let (gdw, gdb, gdx) = ops::backward(gpu, layer(), a, None, &x, &wt, &dy).await?;
            let case = || format!("{a:?}, batch {batch}, input {c}@{h}x{w}");
            tally.close(kernel, &gdw, &dw, || format!("d_weight, {}", case()));
            tally.close(kernel, &gdb, &db, || format!("d_bias, {}", case()));
            tally.close(kernel, &gdx, &back_through(a, &x, &dx), case);
        }
        for (max, window, pre_act, act) in [
            (true, 2, Activation::Relu, Activation::Identity),
            (false, 4, Activation::Tanh, Activation::Tanh),
        ] {
            let p = pool_shape(batch, c, h * window, w * window, window);
            let pre = activate(pre_act, &random(batch * p.input_len(), rng));
            let (pooled, argmax) = pool_forward(&p, max, &pre);
            let x = activate(act, &pooled);
            let pool = FusedPool::of(&p, max).expect("windows that tile");
            let f = FoldInputs {
                fold: PoolFold { pool, input_activation: pre_act },
                argmax: &argmax,
                pool_input: &pre,
            };
            let (dw, db, dx) = cpu_grads(&x);
            let (gdw, gdb, gd_pre) = ops::backward(gpu, layer(), act, Some(&f), &x, &wt, &dy).await?;
            let case = || format!("{act:?} after pool {p:?} max {max} after {pre_act:?}");
            tally.close(kernel, &gdw, &dw, || format!("d_weight, {}", case()));
            tally.close(kernel, &gdb, &db, || format!("d_bias, {}", case()));
            let expected = fold_expected(&f, &p, act, &x, &dx);
            tally.close(kernel, &gd_pre, &expected, case);
            // A software adapter's step runs a convolution's input gradient alone, with the fold.
            if let Layer::Conv(s) = layer() {
                let got = ops::conv_backward_input_fold(gpu, s, act, &f, &x, &wt, &dy).await?;
                tally.close("conv_backward_input", &got, &expected, case);
            }
        }
    }
    Ok(())
}

/// conv_backward_params_update and dense_backward_params_update: the layer sits between other
/// parameters; two updates each, SGD with weight decay and Adam, against the CPU's weight
/// gradient and its optimizer over the whole buffer.
pub(super) async fn params_update(gpu: &Gpu, rng: &mut Rng, tally: &mut Tally) -> Result<()> {
    let (convs, dense) = (conv_shapes(), dense_shapes());
    let layers = [
        (Layer::Conv(&convs[0]), "conv_backward_params_update"),
        (Layer::Conv(&convs[2]), "conv_backward_params_update"),
        (Layer::Dense(&dense[0]), "dense_backward_params_update"),
        (Layer::Dense(&dense[3]), "dense_backward_params_update"),
    ];
    let optimizers = [(Optimizer::Sgd { lr: 0.05, momentum: 0.9 }, 0.01), (Optimizer::adam(0.01), 0.1)];
    for ((layer, kernel), (optimizer, weight_decay)) in layers.into_iter().zip(optimizers.into_iter().cycle())
    {
        let (input_len, out_len, weights, biases) = match &layer {
            Layer::Conv(s) => {
                (s.batch * s.input_len(), s.batch * s.output_len(), s.weight_len(), s.out_channels)
            }
            Layer::Dense(s) => (
                s.batch * s.in_features,
                s.batch * s.out_features,
                s.in_features * s.out_features,
                s.out_features,
            ),
        };
        let (before, after) = (37, 301);
        let n = before + weights + biases + after;
        let (mut cpu_p, mut cpu_s) = (random(n, rng), OptimizerState::new(n));
        let (mut gpu_p, mut gpu_s) = (cpu_p.clone(), OptimizerState::new(n));
        let (mut cpu_g, mut gpu_g) = (vec![0.0; n], vec![0.0; n]);
        for update in 0..2 {
            let (x, dy) = (random(input_len, rng), random(out_len, rng));
            let mut others = random(n, rng);
            let (mut dw, mut db) = (vec![0.0; weights], vec![0.0; biases]);
            match &layer {
                Layer::Conv(s) => {
                    conv2d_backward(s, &x, &cpu_p[before..before + weights], &dy, None, &mut dw, &mut db)
                }
                Layer::Dense(s) => {
                    dense_backward(s, &x, &cpu_p[before..before + weights], &dy, None, &mut dw, &mut db)
                }
            }
            gpu_g.copy_from_slice(&others);
            others[before..before + weights].copy_from_slice(&dw);
            others[before + weights..before + weights + biases].copy_from_slice(&db);
            cpu_g.copy_from_slice(&others);
            let rates = UpdateRates { lr: optimizer.lr() / (update + 1) as f32, weight_decay };
            optimizer_step(&optimizer, rates, &mut cpu_s, &mut cpu_p, &cpu_g);
            let layer = match &layer {
                Layer::Conv(s) => Layer::Conv(s),
                Layer::Dense(s) => Layer::Dense(s),
            };
            ops::backward_params_update(
                gpu, layer, &optimizer, rates, before, &x, &dy, &mut gpu_p, &mut gpu_g, &mut gpu_s,
            )
            .await?;
        }
        let case = || format!("{optimizer:?}, weight decay {weight_decay}, {n} parameters");
        tally.close(kernel, &gpu_g, &cpu_g, || format!("gradients: {}", case()));
        tally.close(kernel, &gpu_p, &cpu_p, || format!("parameters after 2 updates: {}", case()));
        tally.close(kernel, &gpu_s.first, &cpu_s.first, || format!("first moment: {}", case()));
        tally.close(kernel, &gpu_s.second, &cpu_s.second, || format!("second moment: {}", case()));
    }
    Ok(())
}
