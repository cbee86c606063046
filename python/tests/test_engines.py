"""The GPU path (lavapipe will do) against the CPU path, `fit` against `lenet train`, and the GIL
released while the engine computes."""

import subprocess
import threading
import time

import numpy as np
from conftest import same_state

import lenet_gpu


def test_the_gpu_path_trains_as_the_cpu_path_does(gpu, digits):
    x, y, xt, yt = digits
    image = np.arange(9, dtype=np.float32).reshape(3, 3)
    assert lenet_gpu.convolve(image, [[0, 1], [2, 3]], device=gpu).tolist() == [[19, 25], [37, 43]]
    models = {}
    for device in ("cpu", gpu):
        m = lenet_gpu.Model(device=device, seed=2)
        m.fit(x, y, epochs=1, batch_size=32, progress=False)
        models[device] = m
    assert models[gpu].device.startswith("GPU")
    a, b = models["cpu"].state_dict(), models[gpu].state_dict()
    for k in a:
        assert np.allclose(a[k], b[k], atol=1e-3), k
    assert np.allclose(models["cpu"].predict(xt), models[gpu].predict(xt), atol=1e-3)
    names = [n for n, _ in models[gpu].activations(xt[0])]
    assert names == [n for n, _ in models["cpu"].activations(xt[0])]
    # The same seed gives the same numbers on the same device, and a second fit continues.
    again = lenet_gpu.Model(device=gpu, seed=2)
    again.fit(x, y, epochs=1, batch_size=32, progress=False)
    assert same_state(again.state_dict(), b)
    assert again.fit(x, y, epochs=1, batch_size=32, progress=False)["epoch"] == [2]


def cli_train(lenet_bin, tmp_path, *args):
    out = tmp_path / "cli.safetensors"
    cmd = [lenet_bin, "train", "--device", "cpu", "--save", str(out), *args]
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    return lenet_gpu.Model.load(out, device="cpu")


def test_fit_equals_lenet_train_on_synthetic_digits(lenet_bin, tmp_path):
    cli = cli_train(lenet_bin, tmp_path, "--dataset", "synthetic", "--limit-train", "600", "--limit-test", "50",
                    "--epochs", "2", "--seed", "9", "--batch-size", "50", "--optimizer", "adam")
    x, y = lenet_gpu.synthetic_digits(600, seed=9)
    model = lenet_gpu.Model(device="cpu", seed=9)
    model.fit(x, y, epochs=2, batch_size=50, optimizer="adam", progress=False)
    assert cli.epochs_done == 2
    assert same_state(model.state_dict(), cli.state_dict())


def test_fit_equals_lenet_train_on_mnist(lenet_bin, tmp_path, mnist_dir, mnist):
    cli = cli_train(lenet_bin, tmp_path, "--data-dir", str(mnist_dir), "--limit-train", "2000",
                    "--limit-test", "100", "--seed", "4")
    x, y = mnist[0][:2000], mnist[1][:2000]
    model = lenet_gpu.Model(device="cpu", seed=4)
    model.fit(x, y, epochs=1, progress=False)
    assert same_state(model.state_dict(), cli.state_dict())


def test_the_gil_is_released_while_training(digits):
    x, y, _, _ = digits
    model = lenet_gpu.Model(device="cpu")
    done, errors = threading.Event(), []

    def train():  # in another thread than the model's: a Model moves between threads
        try:
            model.fit(np.concatenate([x] * 4), np.concatenate([y] * 4), epochs=1, progress=False)
        except BaseException as e:  # noqa: BLE001 (reported below)
            errors.append(e)
        finally:
            done.set()

    thread = threading.Thread(target=train)
    start = time.perf_counter()
    thread.start()
    ticks = 0
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    thread.join()
    assert not errors, errors
    assert model.epochs_done == 1
    elapsed = time.perf_counter() - start
    # A held GIL would leave this thread a handful of ticks at most (one per switch interval).
    assert elapsed < 0.05 or ticks >= 10 * elapsed / 0.05, (ticks, elapsed)
