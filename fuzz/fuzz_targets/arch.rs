//! The `--arch` parser on arbitrary text: it must give a network or an error, never panic; a
//! network it gives prints as text that parses back to the same network, and planning it
//! gives a plan or an error.
#![no_main]

use lenet_gpu::model::arch;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = arch::parse_shape(text);
    let Ok(network) = arch::parse_network(text) else { return };
    let printed = network.to_string();
    let again =
        arch::parse_network(&printed).unwrap_or_else(|e| panic!("{printed:?} does not parse back: {e}"));
    assert_eq!(again, network, "{printed:?}");
    if let Ok(plan) = network.plan() {
        assert_eq!(plan.layers.len(), network.layers.len());
        let _ = arch::plan_for_mnist(&network);
    }
});
