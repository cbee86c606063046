#!/usr/bin/env bash
# The GPU figures of any machine with a GPU, as one JSON file: the adapters, `lenet bench` at batch
# 64, 256 and 1024 beside the CPU path (with the per-kernel table at batch 64: time, dispatches
# and workgroups per kernel), one MNIST epoch's time at each batch size, the time to 98% test
# accuracy, and, where python3 has PyTorch with CUDA, the same LeNet-5 in PyTorch with the data
# resident on the GPU (benches/pytorch_cuda_lenet.py).
#
#   benches/gpu.sh [OUT.json]        # default gpu-bench.json
#
# Environment: LENET (the binary, default target/release/lenet: build it with
# `cargo build --release`), LENET_DATA_DIR (MNIST's four files, default data/mnist: `lenet
# download` fills it), DEVICE (`--device`, default gpu: the best adapter; or an index from
# `lenet devices`), LIMIT (train on the first LIMIT images only: a quick check of the script).
#
# On a bare NVIDIA Linux machine wgpu needs the Vulkan loader (libvulkan1) and, for the driver's
# ICD (libGLX_nvidia), glvnd: libglvnd0 libgl1 libglx0 libegl1 (without them: "Could not get
# 'vkCreateInstance'" and no adapter).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lenet=${LENET:-target/release/lenet}
out=${1:-gpu-bench.json}
device=${DEVICE:-gpu}
data=${LENET_DATA_DIR:-data/mnist}
limit=${LIMIT:-60000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -x "$lenet" ] || { echo "gpu.sh: no lenet binary at $lenet (cargo build --release, or set LENET)" >&2; exit 2; }

step() { echo "== $*" >&2; }

step "adapters"
"$lenet" devices | tee "$work/devices.txt" >&2

step "lenet bench on the GPU"
"$lenet" bench --device "$device" --batch-size "${BATCHES:-64,256,1024}" --kernels --json "$work/bench.json" >&2
step "lenet bench on the CPU path, for the ratio"
"$lenet" bench --device cpu --batch-size "${BATCHES:-64,256,1024}" --json "$work/bench-cpu.json" >&2

for batch in 64 256 1024; do
    step "one epoch at batch $batch (a second epoch: the first builds the pipelines)"
    "$lenet" train --device "$device" --data-dir "$data" --no-download --epochs 2 --batch-size "$batch" --limit-train "$limit" \
        --metrics "$work/epoch-$batch.csv" --metrics-every 1000000 >&2
done

step "time to 98% test accuracy (batch 64, the default recipe)"
"$lenet" train --device "$device" --data-dir "$data" --no-download --epochs 10 --target-accuracy 98 --limit-train "$limit" \
    --metrics "$work/to98.csv" --metrics-every 1000000 2> >(tee "$work/to98.log" >&2) >&2

torch_json=null
if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    step "PyTorch on CUDA, data resident on the GPU"
    python3 "$here/pytorch_cuda_lenet.py" --data "$data" > "$work/torch.json"
    torch_json="$work/torch.json"
else
    echo "(no PyTorch with CUDA here: its figures are left out)" >&2
fi

python3 - "$work" "$out" "$torch_json" "$limit" <<'PY'
import csv, json, re, sys
work, out, torch_json, limit = sys.argv[1:]
images = int(limit)

def epochs(path):
    """Per epoch: training seconds (the images over the epoch's train row) and test accuracy."""
    rows = list(csv.DictReader(open(path)))
    train = {int(r["epoch"]): r for r in rows if r["kind"] == "train"}
    test = {int(r["epoch"]): r for r in rows if r["kind"] == "test"}
    return [{"epoch": e, "images_per_s": float(train[e]["images_per_s"]),
             "seconds": images / float(train[e]["images_per_s"]),
             "test_acc": float(test[e]["accuracy"]) if e in test else None} for e in sorted(train)]

result = {
    "adapters": open(f"{work}/devices.txt").read().strip().splitlines(),
    "bench": json.load(open(f"{work}/bench.json")),
    "bench_cpu": json.load(open(f"{work}/bench-cpu.json")),
    "epochs": {b: epochs(f"{work}/epoch-{b}.csv") for b in ("64", "256", "1024")},
}
to98 = epochs(f"{work}/to98.csv")
reached = next((e for e in to98 if e["test_acc"] is not None and e["test_acc"] >= 0.98), None)
result["to_98"] = {"epochs": to98, "reached_after_epoch": reached and reached["epoch"],
                   "training_seconds": reached and sum(e["seconds"] for e in to98 if e["epoch"] <= reached["epoch"]),
                   "said": re.findall(r"reached .*|did not reach .*", open(f"{work}/to98.log").read())}
result["pytorch_cuda"] = json.load(open(torch_json)) if torch_json != "null" else None
json.dump(result, open(out, "w"), indent=1)
print(f"gpu.sh: wrote {out}", file=sys.stderr)
PY
