#!/usr/bin/env bash
# Regenerates the pictures of the README and docs/ (docs/images/*.png) from a fresh one-epoch LeNet-5:
#   bash docs/images/regenerate.sh [MNIST_DIR]
# MNIST_DIR defaults to ../shared/data/mnist when it exists, else lenet's usual search (and
# download). Everything runs on the CPU path, so the pictures are the same on every machine
# (the GPU path gives them within float32 rounding: add --device gpu to any command).
set -euo pipefail
cd "$(dirname "$0")/../.."
data="${1:-}"
if [[ -z "$data" && -d ../shared/data/mnist ]]; then data=../shared/data/mnist; fi
data_args=(--dataset mnist)
if [[ -n "$data" ]]; then data_args+=(--data-dir "$data"); fi
out=docs/images
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet
lenet="${CARGO_TARGET_DIR:-target}/release/lenet"

"$lenet" train --device cpu "${data_args[@]}" --save "$work/lenet.safetensors" \
    --metrics "$work/metrics.csv" --metrics-every 20 --plot "$out/curves.png"
"$lenet" show kernels --model "$work/lenet.safetensors" --out "$out/kernels.png"
"$lenet" show features assets/7-tall.png --model "$work/lenet.safetensors" --device cpu --out "$out/features.png"
"$lenet" convolve assets/7-tall.png --kernel vertical-edge --device cpu --caption --out "$out/convolve-vertical-edge.png"
"$lenet" eval --device cpu "${data_args[@]}" --model "$work/lenet.safetensors" \
    --confusion "$out/confusion.png" --misclassified "$out/misclassified.png" --shift 4 --shift-plot "$out/shift.png"
# docs/recipes.md ("Getting to 99%"): the recipes' curves and what shifting buys (MNIST, seed 1).
"$lenet" train --recipe fast --device cpu "${data_args[@]}" --save "$work/fast.safetensors" \
    --metrics "$work/fast.csv" --metrics-every 20 --plot "$out/recipe-fast-curves.png"
"$lenet" train --recipe best --device cpu "${data_args[@]}" --save "$work/best.safetensors"
"$lenet" eval --device cpu "${data_args[@]}" --model "$work/fast.safetensors" --shift 4 --shift-plot "$out/shift-recipe-fast.png"
"$lenet" eval --device cpu "${data_args[@]}" --model "$work/best.safetensors" --shift 4 --shift-plot "$out/shift-recipe-best.png"
ls -l "$out"/*.png
