//! The optimizers: SGD with momentum and Adam against PyTorch's formulas.

use super::assert_close;
use lenet_gpu::cpu::optimizer::{Optimizer, OptimizerState, optimizer_step};

#[test]
fn sgd_momentum_and_adam_follow_pytorch_formulas() {
    let mut params = vec![1.0f32, -2.0];
    let mut state = OptimizerState::new(2);
    let sgd = Optimizer::Sgd { lr: 0.1, momentum: 0.9 };
    optimizer_step(&sgd, &mut state, &mut params, &[0.5, 1.0]);
    assert_eq!(params, vec![0.95, -2.1]);
    optimizer_step(&sgd, &mut state, &mut params, &[0.5, 1.0]); // v = 0.95, 1.9
    assert_close(&params, &[0.855, -2.29], 1e-6, "sgd step 2");

    // Adam's first step moves every parameter by lr in the direction against its gradient.
    let mut params = vec![1.0f32, -2.0, 0.5];
    let mut state = OptimizerState::new(3);
    optimizer_step(&Optimizer::adam(0.01), &mut state, &mut params, &[3.0, -0.001, 1e3]);
    assert_close(&params, &[0.99, -1.99, 0.49], 1e-5, "adam step 1");
}
