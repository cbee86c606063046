//! Batch norm: a case by hand (train and eval mode, the running statistics), the output's
//! statistics, the backward pass against finite differences, and the same bits on any number of
//! threads.

use super::{assert_close, random};
use crate::common::gradcheck::{check_gradient, dot};
use lenet_gpu::cpu::batchnorm::{
    BatchNormShape, batchnorm_backward, batchnorm_forward_eval, batchnorm_forward_train,
    update_running_statistics,
};
use lenet_gpu::rng::Rng;

fn train(s: &BatchNormShape, x: &[f32], gamma: &[f32], beta: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (mut y, mut mean, mut var) = (vec![0.0; x.len()], vec![0.0; s.channels], vec![0.0; s.channels]);
    batchnorm_forward_train(s, x, gamma, beta, &mut y, &mut mean, &mut var);
    (y, mean, var)
}

#[test]
fn by_hand_in_both_modes_and_the_running_statistics() {
    // Two images of one channel of two values: 1, 3 and 5, 7. Mean 4, biased variance 5.
    let s = BatchNormShape { batch: 2, channels: 1, plane: 2 };
    let x = [1.0, 3.0, 5.0, 7.0];
    let (y, mean, var) = train(&s, &x, &[2.0], &[0.5]);
    assert_eq!((mean[0], var[0]), (4.0, 5.0));
    let r = 1.0 / (5.0f32 + 1e-5).sqrt();
    let expected: Vec<f32> = x.iter().map(|&x| 2.0 * (x - 4.0) * r + 0.5).collect();
    assert_close(&y, &expected, 1e-6, "train mode");
    // Eval mode normalizes by the running statistics given.
    let mut y = [0.0; 4];
    batchnorm_forward_eval(&s, &x, &[2.0], &[0.5], &[1.0], &[4.0], &mut y);
    let r = 1.0 / (4.0f32 + 1e-5).sqrt();
    assert_close(
        &y,
        &[0.5, 2.0 * 2.0 * r + 0.5, 2.0 * 4.0 * r + 0.5, 2.0 * 6.0 * r + 0.5],
        1e-6,
        "eval mode",
    );
    // Momentum 0.1, the variance unbiased: 5 · 4/3.
    let (mut running_mean, mut running_var, mut count) = ([0.0], [1.0], 0.0);
    update_running_statistics(&s, &mean, &var, &mut running_mean, &mut running_var, &mut count);
    assert_close(&running_mean, &[0.4], 1e-7, "running mean");
    assert_close(&running_var, &[0.9 + 0.1 * 5.0 * 4.0 / 3.0], 1e-7, "running variance");
    assert_eq!(count, 1.0);
}

#[test]
fn train_mode_gives_each_channel_mean_beta_and_deviation_gamma() {
    let mut rng = Rng::new(3);
    let s = BatchNormShape { batch: 5, channels: 3, plane: 7 };
    let x: Vec<f32> =
        random(s.batch * s.channels * s.plane, &mut rng).iter().map(|v| 3.0 * v + 1.0).collect();
    let (gamma, beta) = ([0.5, 2.0, -1.0], [0.0, 1.0, -3.0]);
    let (y, _, _) = train(&s, &x, &gamma, &beta);
    for c in 0..3 {
        let values: Vec<f64> = (0..s.batch)
            .flat_map(|i| y[(i * 3 + c) * 7..(i * 3 + c + 1) * 7].iter().map(|&v| v as f64))
            .collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
        assert!((mean - beta[c] as f64).abs() < 1e-5, "channel {c}: mean {mean}");
        assert!((var - (gamma[c] * gamma[c]) as f64).abs() < 1e-3, "channel {c}: variance {var}");
    }
}

#[test]
fn backward_matches_finite_differences() {
    // Planes of 5 (after a convolution) and of 1 (after a dense layer).
    for (k, s) in [
        BatchNormShape { batch: 3, channels: 2, plane: 5 },
        BatchNormShape { batch: 6, channels: 4, plane: 1 },
    ]
    .into_iter()
    .enumerate()
    {
        let mut rng = Rng::new(10 + k as u64);
        let n = s.batch * s.channels * s.plane;
        let x = random(n, &mut rng);
        let gamma: Vec<f32> = random(s.channels, &mut rng).iter().map(|g| g + 1.5).collect();
        let beta = random(s.channels, &mut rng);
        let g = random(n, &mut rng);
        let (_, mean, var) = train(&s, &x, &gamma, &beta);
        let (mut dx, mut dgamma, mut dbeta) = (vec![0.0; n], vec![0.0; s.channels], vec![0.0; s.channels]);
        batchnorm_backward(&s, &x, &gamma, &mean, &var, &g, Some(&mut dx), &mut dgamma, &mut dbeta);
        check_gradient("batch norm d_input", &x, &dx, |x| dot(&g, &train(&s, x, &gamma, &beta).0));
        check_gradient("batch norm d_gamma", &gamma, &dgamma, |gm| dot(&g, &train(&s, &x, gm, &beta).0));
        check_gradient("batch norm d_beta", &beta, &dbeta, |b| dot(&g, &train(&s, &x, &gamma, b).0));
    }
}

#[test]
fn the_same_bits_on_one_thread_and_on_several() {
    let mut rng = Rng::new(8);
    let s = BatchNormShape { batch: 16, channels: 6, plane: 49 };
    let n = s.batch * s.channels * s.plane;
    let (x, dy) = (random(n, &mut rng), random(n, &mut rng));
    let (gamma, beta) = (random(6, &mut rng), random(6, &mut rng));
    let run = || {
        let (y, mean, var) = train(&s, &x, &gamma, &beta);
        let (mut dx, mut dgamma, mut dbeta) = (vec![0.0; n], vec![0.0; 6], vec![0.0; 6]);
        batchnorm_backward(&s, &x, &gamma, &mean, &var, &dy, Some(&mut dx), &mut dgamma, &mut dbeta);
        [y, mean, var, dx, dgamma, dbeta].map(|v| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>())
    };
    let pool = |threads| rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    assert_eq!(pool(1).install(run), pool(3).install(run));
}
