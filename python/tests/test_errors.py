"""Bad inputs are Python exceptions whose messages name the Python argument (never a command
line flag), and never a crash of the interpreter."""

import numpy as np
import pytest

import lenet_gpu

X = np.zeros((4, 28, 28), np.uint8)
Y = np.array([0, 1, 2, 3])


@pytest.fixture(scope="module")
def model():
    return lenet_gpu.Model(device="cpu")


def check(exc, match, call):
    with pytest.raises(exc, match=match) as info:
        call()
    assert "--" not in str(info.value), f"a flag in: {info.value}"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(x=np.zeros((4, 32, 32), np.uint8)), r"^x must hold 28x28 images.*got shape \[4, 32, 32\]"),
        (dict(x=np.zeros((2, 28, 28), np.uint8)), r"^y holds 4 labels but there are 2 images"),
        (dict(y=np.array([0, 1, 2, 10])), r"^y holds labels outside 0..9"),
        (dict(y=np.array([0.5, 1, 2, 3])), r"^y must hold whole numbers"),
        (dict(x=np.full((4, 28, 28), 2.0)), r"^x is a float array with values in \[2, 2\]"),
        (dict(x=np.full((4, 28, 28), np.nan)), r"^x holds NaN"),
        (dict(x=np.zeros((4, 28, 28), np.int16) - 1), r"^x holds values outside 0..255"),
        (dict(x=X[:0], y=Y[:0]), r"^x is empty"),
        (dict(epochs=0), r"^epochs must be at least 1, got 0"),
        (dict(epochs=1.5), r"^epochs must be an integer"),
        (dict(batch_size=0), r"^batch_size must be at least 1, got 0"),
        (dict(lr=-0.1), r"^lr must be a positive number"),
        (dict(lr=float("nan")), r"^lr must be finite"),
        (dict(momentum=1.0), r"^momentum must be in \[0, 1\)"),
        (dict(optimizer="rmsprop"), r'^optimizer must be "sgd" or "adam"'),
        (dict(validation=(X,)), r"^validation must be a pair"),
        (dict(validation=(X, Y[:3])), r"^validation\[1\] holds 3 labels"),
        (dict(validation=1.5), r"^validation as a share of x must be between 0 and 1, got 1.5"),
        (dict(validation=4), r"^validation holds out 4 of the 4 images: leave some to train on"),
        (dict(validation=0), r"^validation must be at least 1, got 0"),
        (dict(target_accuracy=0.9), r"^target_accuracy and keep_best judge epochs by their validation accuracy"),
        (dict(keep_best=True), r"^target_accuracy and keep_best judge epochs by their validation accuracy"),
        (dict(validation=1, target_accuracy=99), r"^target_accuracy is a fraction in \(0, 1\], e.g. 0.99, got 99"),
        (dict(callback=3), r"^callback must be callable"),
        (dict(augment=-1), r"^augment must be at least 0, got -1"),
        (dict(augment=28), r"^augment must be smaller than the images \(28 pixels\), got 28"),
        (dict(augment=1.5), r"^augment must be an integer"),
        (dict(schedule="linear"), r'^schedule must be "constant", "step", "cosine" or "onecycle", got \'linear\''),
        (dict(recipe="slow"), r'^recipe must be "fast" or "best", got \'slow\''),
        (dict(weight_decay=-0.5), r"^weight_decay must be a finite number of at least 0, got -0.5"),
        (dict(weight_decay=float("inf")), r"^weight_decay must be finite"),
        (dict(warmup=-1), r"^warmup must be at least 0, got -1"),
    ],
)
def test_bad_fit_arguments_are_value_errors_naming_them(model, kwargs, match):
    args = dict(x=X, y=Y, progress=False)
    args.update(kwargs)
    check(ValueError, match, lambda: model.fit(**args))
    assert model.epochs_done == 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(device="tpu"), r'^device: expected auto, cpu, gpu or an adapter index, got "tpu"'),
        (dict(device=-1), r"^device must be a non-negative adapter index"),
        (dict(arch="conv6k5,nonsense"), r'^arch "conv6k5,nonsense"'),
        (dict(arch="dense10,conv6k5"), r"^arch "),
        (dict(seed=-1), r"^seed must be at least 0"),
        (dict(threads=0), r"^threads must be at least 1"),
    ],
)
def test_bad_model_arguments(kwargs, match):
    check(ValueError, match, lambda: lenet_gpu.Model(**kwargs))


def test_bad_inputs_elsewhere(model, tmp_path):
    check(ValueError, r"^x must hold 28x28 images", lambda: model.predict(np.zeros((5, 5))))
    check(ValueError, r"^image must be one image", lambda: model.activations(X))
    check(ValueError, r"^layer must be one of the conv layers \['conv1', 'conv2'\]", lambda: model.kernels("fc1"))
    check(ValueError, r"^kernel \(3x3\) is larger than image \(2x2\) with padding=0",
          lambda: lenet_gpu.convolve(np.ones((2, 2)), np.ones((3, 3))))
    check(ValueError, r"^stride must be at least 1", lambda: lenet_gpu.convolve(np.ones((2, 2)), [[1]], stride=0))
    check(ValueError, r"^image must be a non-empty 2-D array", lambda: lenet_gpu.convolve(np.ones(3), [[1]]))
    check(ValueError, r"^n must be at least 0", lambda: lenet_gpu.synthetic_digits(-1))


def test_bad_state_dicts(model):
    state = model.state_dict()
    missing = {k: v for k, v in state.items() if k != "fc3.bias"}
    check(ValueError, r"missing \['fc3.bias'\], unexpected \[\]", lambda: model.load_state_dict(missing))
    extra = dict(state, **{"fc4.weight": np.zeros(3)})
    check(ValueError, r"unexpected \['fc4.weight'\]", lambda: model.load_state_dict(extra))
    wrong = dict(state, **{"conv1.weight": np.zeros((6, 1, 3, 3))})
    check(ValueError, r"conv1.weight'\] has shape \[6, 1, 3, 3\], but the network's is \[6, 1, 5, 5\]",
          lambda: model.load_state_dict(wrong))
    assert all(np.array_equal(model.state_dict()[k], v) for k, v in state.items())


def test_files(model, tmp_path, mnist_dir):
    check(FileNotFoundError, None, lambda: lenet_gpu.Model.load(tmp_path / "absent.safetensors"))
    check(FileNotFoundError, None, lambda: model.save(tmp_path / "no" / "such" / "dir.safetensors"))
    check(FileNotFoundError, r"MNIST not found here", lambda: lenet_gpu.load_mnist(tmp_path, download=False))
    (tmp_path / "bad.safetensors").write_bytes(b"not a checkpoint")
    check(ValueError, r"not a safetensors checkpoint", lambda: lenet_gpu.Model.load(tmp_path / "bad.safetensors"))
    check(FileNotFoundError, None, lambda: model.predict_image(tmp_path / "absent.png"))
    (tmp_path / "text.png").write_text("not a picture")
    check(ValueError, "text.png", lambda: model.predict_image(tmp_path / "text.png"))
    # A training checkpoint of another network.
    lenet_gpu.Model(arch="lenet5-1998", device="cpu").save(tmp_path / "old.safetensors")
    assert lenet_gpu.Model.load(tmp_path / "old.safetensors", device="cpu").arch == "lenet5-1998"


def test_a_diverging_run_is_an_exception_and_the_interpreter_lives(model):
    x, y = lenet_gpu.synthetic_digits(256, seed=1)
    m = lenet_gpu.Model(device="cpu")
    m.fit(x, y, epochs=1, progress=False)
    before, probabilities = m.state_dict(), m.predict(x[:8])
    with pytest.raises(lenet_gpu.DivergedError, match="try a lower learning rate") as diverged:
        m.fit(x, y, lr=1e30, epochs=3, progress=False)
    assert issubclass(lenet_gpu.DivergedError, ArithmeticError)
    # The model is put back as it was before the diverging epoch, and says so.
    assert "the model is back as it was before epoch 2" in str(diverged.value)
    assert all(np.array_equal(before[k], v) for k, v in m.state_dict().items())
    assert np.array_equal(m.predict(x[:8]), probabilities) and m.epochs_done == 1
    # A plain fit goes on at the rate before (not the one that diverged), and learns.
    m.fit(x, y, epochs=1, progress=False)
    assert m.epochs_done == 2 and np.isfinite(m.predict(x[:8])).all()
