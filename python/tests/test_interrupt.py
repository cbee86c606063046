"""Ctrl-C during `fit`: a SIGINT sent to a Python process stops training mid-epoch with
KeyboardInterrupt, and the model keeps its completed steps and trains on."""

import os
import signal
import subprocess
import sys
import time

import pytest

# Each script first restores Python's own Ctrl-C handler: a parent that ignores SIGINT (a job
# started with nohup or `&` from a script) passes that on, and Python then never raises
# KeyboardInterrupt.
SCRIPT = r"""
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
import lenet_gpu
x, y = lenet_gpu.synthetic_digits(int(sys.argv[2]), seed=1)
model = lenet_gpu.Model(device=sys.argv[1])
def started(epoch, logs):
    print("epoch", epoch, flush=True)
try:
    model.fit(x, y, epochs=1000, callback=started, progress=False)
except KeyboardInterrupt:
    epochs = model.epochs_done
    assert model.history["epoch"] == list(range(1, epochs + 1)), model.history["epoch"]
    print("done", epochs, flush=True)
    p = model.predict(x[:5])
    assert p.shape == (5, 10)
    model.fit(x[:100], y[:100], epochs=1, progress=False)  # and it trains on
    assert model.epochs_done == epochs + 1
    print("interrupted after", epochs, flush=True)
    sys.exit(0)
sys.exit(3)
"""


@pytest.mark.parametrize("device", ["cpu", "gpu"])
def test_ctrl_c_stops_fit_with_keyboard_interrupt(device, request):
    if device == "gpu":
        request.getfixturevalue("gpu")
    proc = subprocess.Popen(
        # Epochs of a few seconds (the GPU path here is lavapipe, far slower than the CPU path).
        [sys.executable, "-c", SCRIPT, device, "40000" if device == "cpu" else "3000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("epoch 1"), line + proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, out + err
    assert "interrupted after" in out
    # Sent during epoch 2, it stopped there: epoch 2 was never completed.
    assert "done 1\n" in out, out + err


EVALUATE = r"""
import os, signal, sys, threading, time
signal.signal(signal.SIGINT, signal.default_int_handler)
import lenet_gpu
x, y = lenet_gpu.synthetic_digits(int(sys.argv[2]), seed=2)
model = lenet_gpu.Model(device=sys.argv[1])
model.evaluate(x[:300], y[:300])  # the network built, its first dispatches made
start = time.perf_counter()
whole = model.evaluate(x, y)
took = time.perf_counter() - start
# A Ctrl-C a quarter of the way through: evaluation and prediction stop in pieces.
for run in (lambda: model.evaluate(x, y), lambda: model.predict(x)):
    threading.Timer(took / 4, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    start = time.perf_counter()
    try:
        run()
        print("finished", flush=True)
    except KeyboardInterrupt:
        print(f"stopped {time.perf_counter() - start:.2f} s into a {took:.2f} s run", flush=True)
again = model.evaluate(x, y)
assert (again["accuracy"], again["loss"]) == (whole["accuracy"], whole["loss"]), "unchanged, and whole again"
print("same", flush=True)
"""


@pytest.mark.parametrize("device", ["cpu", "gpu"])
def test_ctrl_c_stops_evaluate_and_predict_between_pieces(device, request):
    if device == "gpu":
        request.getfixturevalue("gpu")
    # Sets that take seconds whole (lavapipe, the GPU path here, is far slower than the CPU path).
    size = "200000" if device == "cpu" else "4000"
    run = subprocess.run([sys.executable, "-c", EVALUATE, device, size], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 3 and all(line.startswith("stopped") for line in lines[:2]), run.stdout
    for line in lines[:2]:
        print(device, line)  # seen with pytest -s: how soon it stopped
        into, whole = float(line.split()[1]), float(line.split()[5])
        assert into < whole, line
    assert lines[2] == "same"
