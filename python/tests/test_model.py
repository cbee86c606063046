"""The module from NumPy in to NumPy out, on the CPU path: shapes, dtypes, training, the
state_dict, files, pickling."""

import pickle
import sys

import numpy as np
import pytest
from conftest import same_state

import lenet_gpu

LENET5_STATE = {
    "conv1.weight": [6, 1, 5, 5],
    "conv1.bias": [6],
    "conv2.weight": [16, 6, 5, 5],
    "conv2.bias": [16],
    "fc1.weight": [120, 400],
    "fc1.bias": [120],
    "fc2.weight": [84, 120],
    "fc2.bias": [84],
    "fc3.weight": [10, 84],
    "fc3.bias": [10],
}


def test_convolve_the_lessons_example():
    image = np.arange(9, dtype=np.float32).reshape(3, 3)
    out = lenet_gpu.convolve(image, [[0, 1], [2, 3]])
    assert out.dtype == np.float32
    assert out.tolist() == [[19, 25], [37, 43]]
    assert lenet_gpu.convolve(image, [[1]], stride=2).tolist() == [[0, 2], [6, 8]]
    assert lenet_gpu.convolve(image, [[1]], padding=1).shape == (5, 5)


def test_synthetic_digits_are_seeded():
    x, y = lenet_gpu.synthetic_digits(20, seed=3)
    assert x.shape == (20, 28, 28) and x.dtype == np.uint8
    assert y.shape == (20,) and y.dtype == np.uint8 and y.max() <= 9
    x2, y2 = lenet_gpu.synthetic_digits(10, seed=3)
    assert np.array_equal(x[:10], x2) and np.array_equal(y[:10], y2)
    assert not np.array_equal(lenet_gpu.synthetic_digits(10, seed=4)[0], x2)


def test_predict_takes_one_image_or_many_as_bytes_or_floats(digits):
    x = digits[0][:8]
    model = lenet_gpu.Model(device="cpu")
    p = model.predict(x)
    assert p.shape == (8, 10) and p.dtype == np.float32
    assert np.allclose(p.sum(axis=1), 1, atol=1e-5)
    assert np.array_equal(model.predict(x[0]), p[0])
    assert np.array_equal(model.predict(x / 255.0), p)
    assert np.array_equal(model.predict(x.reshape(8, 784)), p)
    assert np.array_equal(model.predict(x.reshape(8, 1, 28, 28).astype(np.int64)), p)
    assert model.predict(x[:0]).shape == (0, 10)


def test_fit_learns_and_reports_its_history(digits):
    x, y, xt, yt = digits
    model = lenet_gpu.Model(device="cpu", seed=1)
    before = model.evaluate(xt, yt)
    seen = []
    history = model.fit(
        x, y, epochs=2, batch_size=32, optimizer="adam", validation=(xt, yt),
        callback=lambda epoch, logs: seen.append((epoch, sorted(logs))), progress=False,
    )
    assert history["epoch"] == [1, 2]
    assert [e for e, _ in seen] == [1, 2]
    assert seen[0][1] == sorted(["loss", "accuracy", "val_loss", "val_accuracy", "seconds", "images_per_second"])
    after = model.evaluate(xt, yt)
    assert after["loss"] < before["loss"] and history["val_loss"][-1] == after["loss"]
    assert after["accuracy"] == history["val_accuracy"][-1] > before["accuracy"]
    confusion = after["confusion"]
    assert confusion.shape == (10, 10) and confusion.sum() == len(xt)
    assert after["accuracy"] == np.trace(confusion) / len(xt)
    predicted = model.predict(xt).argmax(axis=1)
    assert np.array_equal(np.bincount(predicted, minlength=10), confusion.sum(axis=0))
    assert model.epochs_done == 2 and model.history["epoch"] == [1, 2]


def test_a_second_fit_continues_the_run(digits):
    x, y, _, _ = digits
    straight = lenet_gpu.Model(device="cpu", seed=5)
    straight.fit(x, y, epochs=2, progress=False)
    twice = lenet_gpu.Model(device="cpu", seed=5)
    twice.fit(x, y, epochs=1, progress=False)
    second = twice.fit(x, y, epochs=1, progress=False)
    assert second["epoch"] == [2] and twice.history["epoch"] == [1, 2]
    assert same_state(straight.state_dict(), twice.state_dict())
    # Through a checkpoint and other settings too: the run goes on (epoch 3), from the state.
    reopened = pickle.loads(pickle.dumps(twice))
    assert reopened.fit(x, y, epochs=1, batch_size=16, lr=0.005, progress=False)["epoch"] == [3]


def test_validation_may_be_a_share_or_a_count_of_x_held_out(digits):
    x, y, _, _ = digits
    share, count, none = (lenet_gpu.Model(device="cpu", seed=2) for _ in range(3))
    a = share.fit(x, y, epochs=2, validation=0.125, progress=False)
    b = count.fit(x, y, epochs=2, validation=64, progress=False)
    c = none.fit(x, y, epochs=2, progress=False)
    # An eighth of 512 is 64: the same images held out, the same run.
    assert a["val_accuracy"] == b["val_accuracy"] and a["val_loss"] == b["val_loss"]
    assert same_state(share.state_dict(), count.state_dict())
    assert all(0.0 <= v <= 1.0 for v in a["val_accuracy"]) and c["val_accuracy"] == [None, None]
    # Trained on 448 images, not 512: another run.
    assert not same_state(share.state_dict(), none.state_dict())


def test_target_accuracy_stops_and_keep_best_ends_on_the_best_epoch(digits):
    x, y, xt, yt = digits
    settings = dict(batch_size=32, lr=0.05, validation=(xt, yt), progress=False)
    reference = lenet_gpu.Model(device="cpu", seed=3)
    accuracies = reference.fit(x, y, epochs=5, **settings)["val_accuracy"]
    # Stops after the first epoch reaching the third's accuracy.
    target = accuracies[2]
    first = next(i for i, a in enumerate(accuracies) if a >= target) + 1
    stopped = lenet_gpu.Model(device="cpu", seed=3)
    history = stopped.fit(x, y, epochs=5, target_accuracy=target, **settings)
    assert history["epoch"] == list(range(1, first + 1)) and stopped.epochs_done == first
    # Ends on the best epoch's parameters: those of a run stopped there.
    best = accuracies.index(max(accuracies)) + 1
    kept = lenet_gpu.Model(device="cpu", seed=3)
    kept.fit(x, y, epochs=5, keep_best=True, **settings)
    until_best = lenet_gpu.Model(device="cpu", seed=3)
    until_best.fit(x, y, epochs=best, **settings)
    assert same_state(kept.state_dict(), until_best.state_dict())
    assert kept.evaluate(xt, yt)["accuracy"] == max(accuracies) and kept.epochs_done == 5


def test_augment_shifts_the_training_images_by_the_seed(digits):
    x, y, _, _ = digits
    shifted, again, plain = (lenet_gpu.Model(device="cpu", seed=2) for _ in range(3))
    shifted.fit(x, y, epochs=1, augment=2, progress=False)
    again.fit(x, y, epochs=1, augment=2, progress=False)
    plain.fit(x, y, epochs=1, progress=False)
    assert same_state(shifted.state_dict(), again.state_dict())
    assert not same_state(shifted.state_dict(), plain.state_dict())
    # Continued with the same shifts, one epoch then another equal two straight.
    straight = lenet_gpu.Model(device="cpu", seed=2)
    straight.fit(x, y, epochs=2, augment=2, progress=False)
    shifted.fit(x, y, epochs=1, augment=2, progress=False)
    assert same_state(straight.state_dict(), shifted.state_dict())


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_pickle_save_and_load_keep_the_optimizer_state(tmp_path, digits, optimizer):
    # One epoch, a pickle (or a save and a load), one more: bit for bit two straight epochs, as
    # `lenet train --save` then `--resume` give (momentum or Adam's moments and the update count).
    x, y, _, _ = digits
    settings = dict(batch_size=32, optimizer=optimizer, progress=False)
    straight = lenet_gpu.Model(device="cpu", seed=8)
    straight.fit(x, y, epochs=2, **settings)
    first = lenet_gpu.Model(device="cpu", seed=8)
    first.fit(x, y, epochs=1, **settings)
    path = tmp_path / "run.safetensors"
    first.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.safetensors", "run.safetensors.optim.safetensors"]
    continued = {
        "pickle": pickle.loads(pickle.dumps(first)),
        "load": lenet_gpu.Model.load(path, device="cpu"),
        # A loaded model that has not trained again keeps the state through a pickle too.
        "load+pickle": pickle.loads(pickle.dumps(lenet_gpu.Model.load(path, device="cpu"))),
    }
    for how, model in continued.items():
        assert model.epochs_done == 1, how
        assert model.fit(x, y, epochs=1, **settings)["epoch"] == [2], how
        assert same_state(model.state_dict(), straight.state_dict()), how
    # And the straight model, saved, loaded and pickled after its second epoch, goes on with them.
    third = pickle.loads(pickle.dumps(continued["load"]))
    straight.fit(x, y, epochs=1, **settings)
    third.fit(x, y, epochs=1, **settings)
    assert same_state(third.state_dict(), straight.state_dict())


def test_a_stale_optimizer_file_is_reported_and_the_model_loads(tmp_path, digits, capfd):
    x, y, _, _ = digits
    path = tmp_path / "m.safetensors"
    trained = lenet_gpu.Model(device="cpu", seed=2)
    trained.fit(x[:64], y[:64], progress=False)
    trained.save(path)
    untrained = lenet_gpu.Model(device="cpu", seed=3)
    untrained.save(path)  # the model alone: the optimizer file beside it is another run's
    capfd.readouterr()
    loaded = lenet_gpu.Model.load(path, device="cpu")
    assert same_state(loaded.state_dict(), untrained.state_dict())
    err = capfd.readouterr().err
    assert "m.safetensors.optim.safetensors" in err and "optimizer state afresh" in err, err
    assert "--" not in err, err
    assert loaded.fit(x[:64], y[:64], progress=False)["epoch"] == [1]


def test_a_callback_returning_false_stops(digits):
    x, y, _, _ = digits
    model = lenet_gpu.Model(device="cpu")
    history = model.fit(x, y, epochs=5, callback=lambda epoch, logs: epoch < 2, progress=False)
    assert history["epoch"] == [1, 2]


def test_state_dict_has_pytorchs_names_and_shapes_and_round_trips(digits):
    model = lenet_gpu.Model(device="cpu", seed=1)
    state = model.state_dict()
    assert {k: list(v.shape) for k, v in state.items()} == LENET5_STATE
    assert list(state) == list(LENET5_STATE)  # PyTorch's order
    assert all(v.dtype == np.float32 for v in state.values())
    other = lenet_gpu.Model(device="cpu", seed=2)
    assert not same_state(other.state_dict(), state)
    other.load_state_dict(state)
    assert same_state(other.state_dict(), state)
    assert np.array_equal(other.predict(digits[2]), model.predict(digits[2]))
    assert other.kernels().shape == (6, 1, 5, 5)
    assert np.array_equal(other.kernels("conv2"), state["conv2.weight"])


def test_to_torch_without_pytorch_says_how_to_install_it(monkeypatch):
    # As if PyTorch were absent (test_torch.py checks the module where it is installed).
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.delitem(sys.modules, "lenet_gpu._torch", raising=False)
    monkeypatch.delattr(lenet_gpu, "_torch", raising=False)
    with pytest.raises(ImportError, match="pip install torch"):
        lenet_gpu.Model(device="cpu").to_torch()


def test_activations_name_every_layer_the_engine_keeps(digits):
    model = lenet_gpu.Model(device="cpu")
    acts = model.activations(digits[0][0])
    assert [(name, a.shape) for name, a in acts] == [
        ("conv1+relu", (6, 28, 28)),
        ("pool1", (6, 14, 14)),
        ("conv2+relu", (16, 10, 10)),
        ("pool2", (16, 5, 5)),
        ("fc1+relu", (120,)),
        ("fc2+relu", (84,)),
        ("fc3", (10,)),
    ]
    logits = acts[-1][1]
    softmax = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    assert np.allclose(softmax, model.predict(digits[0][0]), atol=1e-6)


def test_save_load_and_pickle_keep_the_model(tmp_path, digits):
    x, y, xt, _ = digits
    model = lenet_gpu.Model(arch="lenet5-1998", device="cpu", seed=3)
    model.fit(x, y, epochs=1, progress=False)
    path = tmp_path / "m.safetensors"
    model.save(path)
    loaded = lenet_gpu.Model.load(path, device="cpu")
    assert loaded.arch == "lenet5-1998" and loaded.epochs_done == 1 and loaded.seed == 3
    assert np.array_equal(loaded.predict(xt), model.predict(xt))
    assert lenet_gpu.Model.from_bytes(model.to_bytes(), device="cpu").arch == "lenet5-1998"
    clone = pickle.loads(pickle.dumps(model))
    assert clone.history == model.history and clone.epochs_done == 1
    assert np.array_equal(clone.predict(xt), model.predict(xt))
    # An untrained model keeps its network through a pickle too.
    assert pickle.loads(pickle.dumps(lenet_gpu.Model(arch="lenet5-1998", device="cpu"))).arch == "lenet5-1998"


def test_predict_image_prepares_a_file_as_lenet_predict_does(tmp_path, digits):
    from conftest import REPO

    samples = sorted((REPO / "assets").rglob("*.png"))
    if not samples:
        pytest.skip("no sample digits in assets/")
    p = lenet_gpu.Model(device="cpu").predict_image(samples[0])
    assert p.shape == (10,) and abs(p.sum() - 1) < 1e-5


def test_predict_keeps_the_batch_dimension_and_reads_bools_as_ink(digits):
    x = digits[0][:4]
    model = lenet_gpu.Model(device="cpu")
    assert model.predict(x[1:2]).shape == (1, 10), "a batch of one stays a batch"
    assert model.predict(x[1:2].reshape(1, 1, 28, 28)).shape == (1, 10)
    assert model.predict(x[1]).shape == (10,) and model.predict(x[1].reshape(784)).shape == (10,)
    ink = x > 127
    assert np.array_equal(model.predict(ink), model.predict(ink.astype(np.uint8) * 255)), "True is full ink"


def test_settings_given_to_one_fit_carry_to_the_next(digits):
    x, y, _, _ = digits
    # adam at 0.002, batch 32 for one epoch, then a plain fit(): the same as two epochs straight.
    straight = lenet_gpu.Model(device="cpu", seed=3)
    straight.fit(x, y, epochs=2, optimizer="adam", lr=0.002, batch_size=32, progress=False)
    carried = lenet_gpu.Model(device="cpu", seed=3)
    carried.fit(x, y, epochs=1, optimizer="adam", lr=0.002, batch_size=32, progress=False)
    carried.fit(x, y, epochs=1, progress=False)
    assert same_state(straight.state_dict(), carried.state_dict())
    # And through a pickle, and a save and load (the settings the checkpoint records).
    twice = lenet_gpu.Model(device="cpu", seed=3)
    twice.fit(x, y, epochs=1, optimizer="adam", lr=0.002, batch_size=32, progress=False)
    clone = pickle.loads(pickle.dumps(twice))
    clone.fit(x, y, epochs=1, progress=False)
    assert same_state(straight.state_dict(), clone.state_dict())


def test_every_fit_fills_the_same_history_keys(digits):
    x, y, xt, yt = digits
    model = lenet_gpu.Model(device="cpu")
    model.fit(x[:128], y[:128], epochs=1, progress=False)
    model.fit(x[:128], y[:128], epochs=1, validation=(xt, yt), progress=False)
    lengths = {key: len(values) for key, values in model.history.items()}
    assert set(lengths.values()) == {2}, lengths
    assert model.history["val_loss"][0] is None and model.history["val_loss"][1] > 0
    pd = pytest.importorskip("pandas")
    assert pd.DataFrame(model.history)["val_loss"].isna().tolist() == [True, False]


def test_predict_image_takes_pil_images_and_arrays(tmp_path):
    from conftest import REPO

    PIL = pytest.importorskip("PIL.Image")
    sample = REPO / "assets" / "2-rgba.png"
    if not sample.exists():
        pytest.skip("no sample digits in assets/")
    model = lenet_gpu.Model(device="cpu")
    from_file = model.predict_image(sample)
    image = PIL.open(sample)
    assert np.array_equal(model.predict_image(image), from_file)
    assert np.array_equal(model.predict_image(np.asarray(image.convert("RGBA"))), from_file)
    gray = np.asarray(PIL.open(REPO / "assets" / "0-gray.png").convert("L"))
    assert np.array_equal(model.predict_image(gray), model.predict_image(gray / 255.0))
    with pytest.raises(ValueError, match="image"):
        model.predict_image(np.zeros((4, 4, 2)))


def test_a_colour_network_takes_colour_images():
    model = lenet_gpu.Model("lenet5-cifar", device="cpu")
    assert model.predict(np.zeros((2, 32, 32, 3), np.uint8)).shape == (2, 10)
    with pytest.raises(ValueError, match=r"^x must hold the network's 3x32x32 images"):
        model.fit(np.zeros((2, 28, 28), np.uint8), [0, 1])


def test_exceptions_survive_a_pickle():
    for error in (lenet_gpu.GpuError("no adapter"), lenet_gpu.DivergedError("nan")):
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error) and str(again) == str(error)
