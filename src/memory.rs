//! How much memory training a network needs on the CPU path, checked against what the machine
//! has before anything is allocated: a network too large then fails with one clear line rather
//! than an allocation abort or a visit from the out-of-memory killer.

use crate::cpu::optimizer::Optimizer;
use crate::model::{Layer, Plan};
use crate::{Error, Result};

/// Bytes the CPU path holds to train `plan` at `batch` with `optimizer`: parameters, gradients
/// and optimizer state (SGD: one velocity, Adam: two moments), and for every layer its output
/// and the gradient of that output for the whole batch (plus the argmax of max pools).
pub fn training_bytes(plan: &Plan, batch: usize, optimizer: &Optimizer) -> u64 {
    let state = match optimizer {
        Optimizer::Sgd { .. } => 1,
        Optimizer::Adam { .. } => 2,
    };
    let per_parameter = (2 + state) * 4;
    let per_example: u64 = plan
        .all_layers()
        .into_iter()
        .map(|l| {
            let out = l.output.len() as u64;
            let argmax = if matches!(l.layer, Layer::MaxPool { .. }) { out * 4 } else { 0 };
            out * 8 + argmax
        })
        .sum::<u64>()
        + plan.input().len() as u64 * 4;
    plan.parameter_count as u64 * per_parameter + batch as u64 * per_example
}

/// Memory the system can still give without swapping (Linux's MemAvailable), if known.
pub fn available_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// An error when training `plan` at `batch` needs more than `available` bytes.
pub fn check_fits(plan: &Plan, batch: usize, optimizer: &Optimizer, available: u64) -> Result<()> {
    let needed = training_bytes(plan, batch, optimizer);
    if needed <= available {
        return Ok(());
    }
    Err(Error::NotEnoughMemory {
        batch,
        parameters: plan.parameter_count,
        needed_bytes: needed,
        available_bytes: available,
    })
}

/// `check_fits` against this machine's available memory (no check where it is unknown).
pub fn check_training(plan: &Plan, batch: usize, optimizer: &Optimizer) -> Result<()> {
    match available_bytes() {
        Some(available) => check_fits(plan, batch, optimizer, available),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Network;

    #[test]
    fn lenet5_needs_parameters_state_and_activations() {
        let plan = Network::lenet5().plan().unwrap();
        let sgd = Optimizer::Sgd { lr: 0.01, momentum: 0.9 };
        // 61,706 parameters x (value, gradient, velocity) x 4 bytes.
        let parameters = 61_706 * 12;
        // Outputs per example: conv1 4704, relu 4704, pool1 1176, conv2 1600, relu 1600,
        // pool2 400, fc1 120, relu 120, fc2 84, relu 84, fc3 10 = 14,602 floats, each with its
        // gradient (8 bytes); the two pools' argmaxes (1,576 x 4 bytes); the input (784 x 4).
        let per_example = 14_602 * 8 + 1_576 * 4 + 784 * 4;
        assert_eq!(training_bytes(&plan, 64, &sgd), parameters + 64 * per_example);
        let adam = Optimizer::adam(0.001);
        assert_eq!(training_bytes(&plan, 1, &adam) - training_bytes(&plan, 1, &sgd), 61_706 * 4);
    }

    #[test]
    fn a_network_too_large_for_the_machine_is_a_clear_error() {
        let plan = Network::lenet5().plan().unwrap();
        let sgd = Optimizer::Sgd { lr: 0.01, momentum: 0.9 };
        let needed = training_bytes(&plan, 64, &sgd);
        assert!(check_fits(&plan, 64, &sgd, needed).is_ok());
        let e = check_fits(&plan, 64, &sgd, needed - 1).unwrap_err();
        assert!(matches!(e, Error::NotEnoughMemory { batch: 64, parameters: 61706, .. }), "{e:?}");
        // The command line adds the flags to change (hardening: the whole message through the CLI).
        let e = e.to_string();
        assert!(e.contains("batch 64") && e.contains("61706 parameters"), "{e}");
    }
}
