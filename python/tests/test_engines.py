"""The GPU path (lavapipe will do) against the CPU path, `fit` against `lenet train`, and the GIL
released while the engine computes."""

import pickle
import subprocess
import threading
import time

import numpy as np
import pytest
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


def test_fit_with_a_recipe_or_a_schedule_equals_lenet_train_with_it(lenet_bin, tmp_path):
    x, y = lenet_gpu.synthetic_digits(600, seed=5)
    data = ("--dataset", "synthetic", "--limit-train", "600", "--limit-test", "50", "--seed", "5")
    # The "fast" recipe (SGD at 0.1, onecycle, weight decay 5e-4, batch 128), for 2 epochs with a
    # warmup of its own.
    (tmp_path / "recipe").mkdir()
    (tmp_path / "schedule").mkdir()
    cli = cli_train(lenet_bin, tmp_path / "recipe", *data, "--recipe", "fast", "--epochs", "2", "--warmup", "3")
    model = lenet_gpu.Model(device="cpu", seed=5)
    history = model.fit(x, y, recipe="fast", epochs=2, warmup=3, progress=False)
    assert history["epoch"] == [1, 2] and cli.epochs_done == 2
    assert same_state(model.state_dict(), cli.state_dict())
    # Without a recipe: a cosine schedule and AdamW's weight decay.
    cli = cli_train(lenet_bin, tmp_path / "schedule", *data, "--optimizer", "adam", "--schedule", "cosine",
                    "--weight-decay", "0.01", "--batch-size", "100", "--epochs", "2")
    model = lenet_gpu.Model(device="cpu", seed=5)
    model.fit(x, y, epochs=2, optimizer="adam", schedule="cosine", weight_decay=0.01, batch_size=100,
              progress=False)
    assert same_state(model.state_dict(), cli.state_dict())
    # A recipe's epochs when a fit gives none.
    assert lenet_gpu.Model(device="cpu").fit(x[:200], y[:200], recipe="fast", progress=False)["epoch"] == [1, 2, 3]


def write_cifar10(directory, train_per_file: int, test: int, seed: int = 3):
    """CIFAR-10's six binary files, of random pixels whose mean brightness follows the label (so
    that a network can learn something), in `directory`."""
    rng = np.random.default_rng(seed)
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    for name, n in zip(names, [train_per_file] * 5 + [test]):
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        pixels = rng.integers(0, 80, (n, 3 * 32 * 32), dtype=np.uint8) + (labels[:, None] * 17).astype(np.uint8)
        (directory / name).write_bytes(np.concatenate([labels[:, None], pixels], axis=1).tobytes())


def test_colour_networks_train_on_load_cifar10_as_lenet_train_does(lenet_bin, tmp_path):
    cifar = tmp_path / "cifar10"
    cifar.mkdir()
    write_cifar10(cifar, train_per_file=40, test=30)
    x, y, xt, yt = lenet_gpu.load_cifar10(cifar, download=False)
    assert x.shape == (200, 32, 32, 3) and xt.shape == (30, 32, 32, 3) and y.shape == (200,)
    record = np.frombuffer((cifar / "data_batch_1.bin").read_bytes(), np.uint8).reshape(40, 3073)
    assert np.array_equal(x[0].transpose(2, 0, 1).reshape(-1), record[0, 1:]), "channels last, as Keras gives them"
    cli = cli_train(lenet_bin, tmp_path, "--dataset", "cifar10", "--data-dir", str(cifar), "--arch", "lenet5-cifar",
                    "--epochs", "2", "--batch-size", "32", "--seed", "6", "--lr", "0.02")
    model = lenet_gpu.Model("lenet5-cifar", device="cpu", seed=6)
    history = model.fit(x, y, epochs=2, batch_size=32, lr=0.02, validation=(xt, yt), progress=False)
    assert same_state(model.state_dict(), cli.state_dict())
    assert 0.0 <= history["val_accuracy"][-1] <= 1.0
    # Channels first (PyTorch's layout) and floats in [0, 1] are the same images.
    p = model.predict(xt)
    assert p.shape == (30, 10)
    assert np.array_equal(model.predict(xt.transpose(0, 3, 1, 2)), p)
    assert np.array_equal(model.predict(xt / 255.0), p)
    assert np.array_equal(model.predict(xt[0]), p[0])
    assert model.evaluate(xt, yt)["confusion"].sum() == 30
    # And it survives a pickle.
    assert np.array_equal(pickle.loads(pickle.dumps(model)).predict(xt), p)
    with pytest.raises(ValueError, match=r"^x must hold the network's 3x32x32 images"):
        model.predict(np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(ValueError, match=r"^predict_image prepares a digit"):
        model.predict_image(np.zeros((28, 28), np.uint8))


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
