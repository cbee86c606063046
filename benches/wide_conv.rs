//! A wide convolution on the CPU path, the shape the "beyond LeNet" networks live on: 3x3, 64
//! channels in and out, 32x32, padding 1, batch 64. Prints each pass's time, GFLOP/s and the
//! fraction of this CPU's peak measured in the same run (`lenet bench --peak`'s loop). The batch
//! runs as a training step runs it: chunks of 16 images, each chunk on one thread with buffers
//! it keeps from step to step.
//!
//!   cargo bench --bench wide_conv [-- ROUNDS]
//!
//! `LENET_CPU_KERNELS=portable` (im2col + the `matrixmultiply` crate) against the default (the
//! blocked GEMM and direct kernels) compares the paths; run them by turns, several times.

use lenet_gpu::cpu::conv::{
    ConvScratch, ConvShape, conv2d_backward_serial, conv2d_forward_serial, gradient_is_tap_major,
    tap_major_into,
};
use lenet_gpu::rng::Rng;
use rayon::prelude::*;
use std::time::Instant;

fn random(n: usize, rng: &mut Rng) -> Vec<f32> {
    (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect()
}

/// The fastest of `rounds` runs of `f`, in seconds (the least disturbed by the rest of the machine).
fn fastest(rounds: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..rounds)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let rounds = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(10);
    let s = ConvShape {
        batch: 64,
        in_channels: 64,
        in_h: 32,
        in_w: 32,
        out_channels: 64,
        kernel_h: 3,
        kernel_w: 3,
        stride: 1,
        padding: 1,
    };
    const CHUNK: usize = 16;
    let chunk = ConvShape { batch: CHUNK, ..s };
    assert!(!gradient_is_tap_major(&s), "a shape the blocked GEMM runs");
    let mut rng = Rng::new(1);
    let x = random(s.batch * s.input_len(), &mut rng);
    let w = random(s.weight_len(), &mut rng);
    let b = random(s.out_channels, &mut rng);
    let dy = random(s.batch * s.output_len(), &mut rng);
    let mut taps = vec![0.0; w.len()];
    tap_major_into(&s, &w, &mut taps);
    let (mut y, mut dx) = (vec![0.0; dy.len()], vec![0.0; x.len()]);
    // Per chunk: its buffers and its own gradient sums (a step adds them up in order after).
    let chunks = s.batch / CHUNK;
    let mut scratch: Vec<ConvScratch> = (0..chunks).map(|_| ConvScratch::default()).collect();
    let mut grads = vec![(vec![0.0f32; w.len()], vec![0.0f32; s.out_channels]); chunks];

    let peak = lenet_gpu::peak::measure(lenet_gpu::peak::DEFAULT_ROUNDS);
    let forward = fastest(rounds, || {
        let work = y.par_chunks_mut(CHUNK * s.output_len()).zip(x.par_chunks(CHUNK * s.input_len()));
        work.zip(scratch.par_iter_mut())
            .for_each(|((y, x), scratch)| conv2d_forward_serial(&chunk, x, &w, &taps, &b, y, scratch));
    });
    let mut backward = |with_input: bool| {
        let inputs = x.par_chunks(CHUNK * s.input_len()).zip(dy.par_chunks(CHUNK * s.output_len()));
        let d_inputs = dx.par_chunks_mut(CHUNK * s.input_len());
        inputs.zip(d_inputs).zip(scratch.par_iter_mut().zip(grads.par_iter_mut())).for_each(
            |(((x, dy), dx), (scratch, (dw, db)))| {
                let dx = with_input.then_some(dx);
                conv2d_backward_serial(&chunk, x, &w, &taps, dy, dx, dw, db, scratch)
            },
        );
    };
    let weight_gradient = fastest(rounds, || backward(false));
    let backward = fastest(rounds, || backward(true));
    // Each pass is one product of OC x K x P per image.
    let flop = 2.0 * (s.out_channels * s.patch_len() * s.out_h() * s.out_w() * s.batch) as f64;
    println!(
        "conv 3x3, 64 -> 64 channels, 32x32, batch {}, {} threads; peak {:.1} GFLOP/s ({})",
        s.batch, peak.threads, peak.all_threads_gflops, peak.kernel
    );
    let row = |name: &str, seconds: f64, passes: f64| {
        let gflops = passes * flop / seconds / 1e9;
        println!(
            "  {name:<28} {:>8.2} ms {:>8.1} GFLOP/s {:>6.1}% of peak",
            seconds * 1e3,
            gflops,
            100.0 * gflops / peak.all_threads_gflops
        );
    };
    row("forward", forward, 1.0);
    row("weight gradient", weight_gradient, 1.0);
    row("input gradient", backward - weight_gradient, 1.0);
    row("forward and backward", forward + backward, 3.0);
}
