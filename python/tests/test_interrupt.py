"""Ctrl-C during `fit`: a SIGINT sent to a Python process stops training mid-epoch with
KeyboardInterrupt, and the model keeps its completed steps and trains on."""

import os
import signal
import subprocess
import sys
import time

import pytest

SCRIPT = r"""
import sys, time
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
