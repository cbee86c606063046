"""`Model.fit` against `lenet train`: one MNIST epoch on the CPU path, the same data and seed,
each in a fresh process, interleaved (CLI, Python, Python, CLI, ...), with the load average at
each run; then what copying NumPy data in costs (what `fit` does with x and y before training).

    python bench/fit_vs_cli.py LENET_BIN MNIST_DIR [RUNS] [MAX_LOAD] [MAX_WAIT_S]

Before each run it waits (up to MAX_WAIT_S in all) for the 1-minute load average to fall under
MAX_LOAD: other work on the machine skews both sides. Prints one JSON line per run, then a summary.
"""

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

PYTHON_RUN = r"""
import json, sys, time
t0 = time.perf_counter()
import lenet_gpu
t1 = time.perf_counter()
x, y, xt, yt = lenet_gpu.load_mnist(sys.argv[1], download=False)
t2 = time.perf_counter()
model = lenet_gpu.Model(device="cpu", seed=1)
t3 = time.perf_counter()
history = model.fit(x, y, epochs=1, batch_size=64, validation=(xt, yt), progress=False)
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load_mnist": t2 - t1, "model": t3 - t2, "fit": t4 - t3,
                  "epoch_s": history["seconds"][0], "ips": history["images_per_second"][0],
                  "val_accuracy": history["val_accuracy"][0], "in_process": t4 - t0}))
"""

COPY_IN = r"""
import json, sys, time
import numpy as np
import lenet_gpu
from lenet_gpu import _arrays, _native
x, y, _, _ = lenet_gpu.load_mnist(sys.argv[1], download=False)
xf = x.astype(np.float32) / 255.0

def copy_in(images, labels):
    start = time.perf_counter()
    xs, _ = _arrays.images(images, "x")
    ys = _arrays.labels(labels, len(xs), "y")
    data = _native.Data(xs, ys)
    return time.perf_counter() - start

out = {}
for name, images in (("uint8", x), ("float32", xf)):
    out[name] = sorted(copy_in(images, y) for _ in range(7))[3]
start = time.perf_counter()
for _ in range(7):
    _native.Data(x, y)
out["Data only (uint8)"] = (time.perf_counter() - start) / 7
print(json.dumps(out))
"""


def load1() -> float:
    return os.getloadavg()[0]


def wait_for_quiet(max_load: float, deadline: float) -> None:
    while load1() >= max_load and time.time() < deadline:
        time.sleep(20)


def cli(lenet: str, mnist: str) -> dict:
    args = [lenet, "train", "--device", "cpu", "--data-dir", mnist, "--no-download", "--epochs", "1", "--seed", "1"]
    start = time.perf_counter()
    run = subprocess.run(args, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    m = re.search(r"epoch 1/1: .*test acc ([0-9.]+)%, ([0-9.]+) s, ([0-9]+) images/s", run.stdout + run.stderr)
    return {"wall": wall, "epoch_s": float(m[2]), "ips": float(m[3]), "test_accuracy": float(m[1]) / 100}


def run_python(code: str, mnist: str) -> subprocess.CompletedProcess:
    # Away from python/, so that `import lenet_gpu` finds the installed wheel, not the sources.
    run = subprocess.run([sys.executable, "-c", code, mnist], capture_output=True, text=True,
                         cwd=tempfile.gettempdir())
    if run.returncode != 0:
        sys.exit(run.stderr)
    return run


def python(mnist: str) -> dict:
    start = time.perf_counter()
    run = run_python(PYTHON_RUN, mnist)
    wall = time.perf_counter() - start
    return {"wall": wall, **json.loads(run.stdout.strip().splitlines()[-1])}


def main() -> None:
    lenet, mnist = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    max_load = float(sys.argv[4]) if len(sys.argv) > 4 else 1.5
    deadline = time.time() + (float(sys.argv[5]) if len(sys.argv) > 5 else 1800)
    results = {"cli": [], "python": []}
    for i in range(runs):
        order = ("cli", "python") if i % 2 == 0 else ("python", "cli")
        for kind in order:
            wait_for_quiet(max_load, deadline)
            before = os.getloadavg()
            r = cli(lenet, mnist) if kind == "cli" else python(mnist)
            r.update(kind=kind, round=i + 1, load_before=[round(v, 2) for v in before],
                     load_after=[round(v, 2) for v in os.getloadavg()])
            results[kind].append(r)
            print(json.dumps(r), flush=True)
    copy = run_python(COPY_IN, mnist)
    print("copy-in (median of 7, seconds):", copy.stdout.strip())
    for key in ("wall", "epoch_s", "ips"):
        c = statistics.median(r[key] for r in results["cli"])
        p = statistics.median(r[key] for r in results["python"])
        print(f"median {key}: cli {c:.3f}, python {p:.3f} ({100 * (p / c - 1):+.1f}%)")


if __name__ == "__main__":
    main()
