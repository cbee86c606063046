//! The optimizers: SGD with momentum and Adam against PyTorch's formulas, with weight decay as
//! PyTorch's SGD (L2) and AdamW (decoupled) apply it, at the rate each update is given.

use super::assert_close;
use lenet_gpu::cpu::optimizer::{Optimizer, OptimizerState, UpdateRates, optimizer_step};

#[test]
fn sgd_momentum_and_adam_follow_pytorch_formulas() {
    let mut params = vec![1.0f32, -2.0];
    let mut state = OptimizerState::new(2);
    let sgd = Optimizer::Sgd { lr: 0.1, momentum: 0.9 };
    let rates = UpdateRates::constant(&sgd);
    optimizer_step(&sgd, rates, &mut state, &mut params, &[0.5, 1.0]);
    assert_eq!(params, vec![0.95, -2.1]);
    optimizer_step(&sgd, rates, &mut state, &mut params, &[0.5, 1.0]); // v = 0.95, 1.9
    assert_close(&params, &[0.855, -2.29], 1e-6, "sgd step 2");

    // Adam's first step moves every parameter by lr in the direction against its gradient.
    let mut params = vec![1.0f32, -2.0, 0.5];
    let mut state = OptimizerState::new(3);
    let adam = Optimizer::adam(0.01);
    optimizer_step(&adam, UpdateRates::constant(&adam), &mut state, &mut params, &[3.0, -0.001, 1e3]);
    assert_close(&params, &[0.99, -1.99, 0.49], 1e-5, "adam step 1");
}

#[test]
fn weight_decay_is_l2_for_sgd_and_decoupled_for_adam() {
    // SGD: g + wd·p = 0.5 + 0.1·1 = 0.6 and 1 + 0.1·(−2) = 0.8, then p −= lr·v.
    let mut params = vec![1.0f32, -2.0];
    let mut state = OptimizerState::new(2);
    let sgd = Optimizer::Sgd { lr: 0.1, momentum: 0.9 };
    optimizer_step(&sgd, UpdateRates { lr: 0.1, weight_decay: 0.1 }, &mut state, &mut params, &[0.5, 1.0]);
    assert_close(&params, &[0.94, -2.08], 1e-6, "sgd with weight decay");
    assert_close(&state.first, &[0.6, 0.8], 1e-6, "the decay joins the momentum");

    // AdamW: p·(1 − lr·wd) = p·0.999, then Adam's first step of lr against the gradient.
    let mut params = vec![1.0f32, -2.0, 0.5];
    let mut state = OptimizerState::new(3);
    let adam = Optimizer::adam(0.01);
    let rates = UpdateRates { lr: 0.01, weight_decay: 0.1 };
    optimizer_step(&adam, rates, &mut state, &mut params, &[3.0, -0.001, 1e3]);
    assert_close(&params, &[0.989, -1.988, 0.4895], 1e-5, "adamw step 1");
    // The moments never see the decay.
    assert_close(&state.first, &[0.3, -0.0001, 100.0], 1e-6, "adamw first moment");
}

#[test]
fn the_rate_given_is_the_rate_used() {
    // The optimizer's own rate is ignored for the update's (a schedule's).
    let sgd = Optimizer::Sgd { lr: 0.1, momentum: 0.0 };
    let mut params = vec![1.0f32];
    let mut state = OptimizerState::new(1);
    optimizer_step(&sgd, UpdateRates { lr: 0.5, weight_decay: 0.0 }, &mut state, &mut params, &[1.0]);
    assert_eq!(params, vec![0.5]);
    assert_eq!(state.step, 1);
}
