//! The checkpoint loader on arbitrary bytes: the model file (for LeNet-5 and for the network
//! its metadata records) and the optimizer file must load or give an error, never panic or
//! allocate what the file does not hold.
#![no_main]

use lenet_gpu::checkpoint;
use lenet_gpu::model::{Network, arch};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.safetensors");
    let lenet = Network::lenet5().plan().expect("LeNet-5 plans");
    if let Ok((params, _)) = checkpoint::parse(data, path, &lenet) {
        assert_eq!(params.values.len(), lenet.parameter_count);
    }
    let Ok(metadata) = checkpoint::metadata_of(path, data) else { return };
    if let Ok(Some(network)) = checkpoint::network_in(&metadata, path)
        && let Ok(plan) = arch::plan_for_mnist(&network)
        && let Ok((params, _)) = checkpoint::parse(data, path, &plan)
    {
        assert_eq!(params.values.len(), plan.parameter_count);
    }
    for count in [lenet.parameter_count, 500] {
        if let Ok((state, _)) = checkpoint::parse_optimizer(data, path, &metadata, count) {
            assert_eq!((state.first.len(), state.second.len()), (count, count));
        }
    }
});
