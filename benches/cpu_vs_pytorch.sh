#!/usr/bin/env bash
# The CPU path against PyTorch on the CPU (../shared/anchors/pytorch_lenet.py), side by side:
# training images/s at batch 64, 256 and 1024 and inference images/s, the two interleaved run by
# run, each figure the median of ROUNDS runs, then the ratios ours / PyTorch (issue 14's targets:
# training ≥ 3x at 64, ≥ 2.5x at 256 and 1024, inference ≥ 4x). Run it on a quiet machine.
#
#   benches/cpu_vs_pytorch.sh                 # 3 rounds, 2 threads
#   ROUNDS=5 THREADS=2 BATCHES="64 256" benches/cpu_vs_pytorch.sh
#
# Needs: cargo build --release; a Python with torch and numpy (PYTHON, default
# /tmp/torch-venv/bin/python: python3 -m venv /tmp/torch-venv && /tmp/torch-venv/bin/pip install
# torch numpy safetensors); MNIST in MNIST_DIR (default ../shared/data/mnist). Ours trains on
# synthetic digits of MNIST's shape (`lenet bench`: the same arithmetic), PyTorch one MNIST epoch.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
BATCHES=${BATCHES:-64 256 1024}
PYTHON=${PYTHON:-/tmp/torch-venv/bin/python}
MNIST_DIR=${MNIST_DIR:-../shared/data/mnist}
ANCHOR=${ANCHOR:-../shared/anchors/pytorch_lenet.py}
LENET=${LENET:-target/release/lenet}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

for round in $(seq "$ROUNDS"); do
  for b in $BATCHES; do
    steps=$(( (30000 + b - 1) / b ))
    echo "round $round, batch $b: ours ($steps steps), then PyTorch (one epoch)" >&2
    "$LENET" bench --device cpu --threads "$THREADS" --batch-size "$b" --steps "$steps" --json - \
      2>/dev/null >"$out/ours-$b-$round.json"
    "$PYTHON" "$ANCHOR" --data "$MNIST_DIR" --threads "$THREADS" --batch-size "$b" --epochs 1 --lr 0.01 \
      2>/dev/null >"$out/torch-$b-$round.json"
  done
  echo "round $round, inference: PyTorch (ours was measured with each batch above)" >&2
  "$PYTHON" "$ANCHOR" --data "$MNIST_DIR" --threads "$THREADS" --infer-only 2>/dev/null >"$out/torch-infer-$round.json"
done

python3 - "$out" "$ROUNDS" "$BATCHES" <<'PY'
import json, statistics, sys
out, rounds, batches = sys.argv[1], int(sys.argv[2]), [int(b) for b in sys.argv[3].split()]
load = lambda name: json.load(open(f"{out}/{name}.json"))
med = statistics.median
print(f"{'':<22}{'ours img/s':>12}{'PyTorch img/s':>15}{'ratio':>8}   (median of {rounds}; ours' GFLOP/s, of peak)")
infer_ours = []
for b in batches:
    ours = [load(f"ours-{b}-{r}") for r in range(1, rounds + 1)]
    torch = [load(f"torch-{b}-{r}")["epochs"][0]["images_per_s"] for r in range(1, rounds + 1)]
    rows = [o["throughput"][0] for o in ours]
    train = med(r["train_images_per_s"] for r in rows)
    infer_ours += [r["infer_images_per_s"] for r in rows]
    gf, frac = med(r["train_gflops"] for r in rows), med(r["fraction_of_peak"] for r in rows)
    print(f"{'train, batch ' + str(b):<22}{train:>12.0f}{med(torch):>15.0f}{train / med(torch):>7.2f}x   {gf:.1f} GFLOP/s, {frac:.0%}")
torch_infer = med(load(f"torch-infer-{r}")["infer_images_per_s"] for r in range(1, rounds + 1))
print(f"{'inference':<22}{med(infer_ours):>12.0f}{torch_infer:>15.0f}{med(infer_ours) / torch_infer:>7.2f}x")
peak = load(f"ours-{batches[0]}-1")["peak"]
print(f"measured peak: {peak['all_threads_gflops']:.1f} GFLOP/s on {peak['threads']} threads ({peak['kernel']} loop), "
      f"{peak['one_thread_gflops']:.1f} on 1")
PY
