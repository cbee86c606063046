//! Dropout: nothing dropped at evaluation's identity, the share kept, the mask fixed by its key
//! and shared by the backward pass, and step keys that differ between steps and layers.

use super::random;
use crate::common::gradcheck::{check_gradient, dot};
use lenet_gpu::cpu::dropout::{dropout_backward, dropout_forward, keeps, step_key};
use lenet_gpu::rng::Rng;

fn drop(key: u32, rate: f32, x: &[f32]) -> Vec<f32> {
    let mut y = vec![0.0; x.len()];
    dropout_forward(key, rate, x, &mut y);
    y
}

#[test]
fn the_share_kept_is_one_minus_the_rate_and_the_rest_scaled() {
    let x = vec![1.0f32; 100_000];
    for rate in [0.1, 0.25, 0.5, 0.9] {
        let y = drop(7, rate, &x);
        let kept = y.iter().filter(|&&v| v != 0.0).count() as f32 / x.len() as f32;
        assert!((kept - (1.0 - rate)).abs() < 0.01, "rate {rate}: kept {kept}");
        assert!(
            y.iter().all(|&v| v == 0.0 || v == 1.0 / (1.0 - rate)),
            "rate {rate}: scaled by 1/(1 − rate)"
        );
    }
}

#[test]
fn the_key_fixes_the_mask_and_the_backward_pass_shares_it() {
    let mut rng = Rng::new(4);
    let x = random(2000, &mut rng);
    assert_eq!(drop(3, 0.5, &x), drop(3, 0.5, &x));
    assert_ne!(drop(3, 0.5, &x), drop(4, 0.5, &x));
    for (i, (&y, &x)) in drop(3, 0.5, &x).iter().zip(&x).enumerate() {
        assert_eq!(y != 0.0, keeps(3, i as u32, 0.5) && x != 0.0, "element {i}");
    }
    let g = random(2000, &mut rng);
    let mut dx = vec![0.0; 2000];
    dropout_backward(3, 0.5, &g, &mut dx);
    check_gradient("dropout d_input", &x[..300], &dx[..300], |x| dot(&g[..300], &drop(3, 0.5, x)));
}

#[test]
fn step_keys_differ_between_steps_layers_and_epochs() {
    let keys: Vec<u32> = (0..4)
        .flat_map(|epoch| {
            (0..64).step_by(32).flat_map(move |first| (1..4).map(move |layer| step_key(epoch, first, layer)))
        })
        .collect();
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), keys.len(), "every (epoch, step, layer) its own key");
}
