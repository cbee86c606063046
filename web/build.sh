#!/usr/bin/env bash
# Builds the web page: the library compiled to wasm32 (WebGPU, or its CPU path), bound to
# JavaScript by wasm-bindgen into web/www/pkg/. Needs the wasm32 target and the wasm-bindgen
# command of exactly the version Cargo.lock holds (the two must agree byte for byte).
set -euo pipefail
cd "$(dirname "$0")/.."

want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)
if [ "$have" != "$want" ]; then
    echo "error: the page needs wasm-bindgen $want (found: ${have:-none}); install it with" >&2
    echo "  cargo install wasm-bindgen-cli --version $want" >&2
    exit 1
fi
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    rustup target add wasm32-unknown-unknown
fi

# SIMD128 (every browser with WebGPU has it) lets the CPU path's loops vectorize.
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=+simd128"
cargo build --release --target wasm32-unknown-unknown -p lenet-web
wasm-bindgen --target web --no-typescript --out-dir web/www/pkg \
    target/wasm32-unknown-unknown/release/lenet_web.wasm
echo "built web/www/pkg/ ($(du -sh web/www/pkg | cut -f1)); serve it with: node web/serve.mjs"
