//! The IDX reader on arbitrary bytes, gzipped or raw: it must return an error or a data set
//! consistent with its header, never panic, hang or exhaust memory.
#![no_main]

use lenet_gpu::data::idx;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.idx");
    let Ok(bytes) = idx::decompress(data.to_vec(), path) else { return };
    if let Ok((n, rows, cols, pixels)) = idx::parse_images(&bytes, path) {
        assert_eq!(pixels.len(), n * rows * cols);
        assert!(n > 0 && rows > 0 && cols > 0);
    }
    if let Ok(labels) = idx::parse_labels(&bytes, path) {
        assert!(!labels.is_empty() && labels.iter().all(|&l| l < 10));
    }
});
