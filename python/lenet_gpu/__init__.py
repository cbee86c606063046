"""lenet_gpu: train LeNet-5 (or any network of its layers) on MNIST from NumPy arrays.

The engine is Rust: the GPU path through wgpu (Vulkan, Metal, DX12) when it finds a GPU, the fast
CPU path otherwise, with the same numbers for the same seed. Images are uint8 0..255 or floats in
[0, 1], shaped [N, 28, 28]; labels are integers 0..9.

    >>> import lenet_gpu
    >>> x_train, y_train, x_test, y_test = lenet_gpu.load_mnist()
    >>> model = lenet_gpu.Model()                    # device="auto": a GPU if any, else the CPU path
    >>> history = model.fit(x_train, y_train, epochs=1, validation=(x_test, y_test))
    >>> model.evaluate(x_test, y_test)["accuracy"]
    >>> model.predict(x_test[:3])                    # [3, 10] probabilities
"""

from __future__ import annotations

import math
import operator
import os
import sys

import numpy as np

from . import _arrays
from ._native import DivergedError, GpuError
from . import _native
from ._progress import EpochProgress

__version__ = "0.1.0"
__all__ = [
    "Model",
    "load_mnist",
    "synthetic_digits",
    "convolve",
    "devices",
    "GpuError",
    "DivergedError",
]


def load_mnist(dir: str | os.PathLike | None = None, download: bool = True):
    """MNIST as NumPy arrays: ``(x_train, y_train, x_test, y_test)``, images uint8 [N, 28, 28]
    (60000 and 10000 of them) and labels uint8 [N].

    The four files (gzipped or raw IDX) are read from ``dir``, else from the directory in the
    ``LENET_DATA_DIR`` environment variable, else from ``./data/mnist``; when they are missing
    and ``download`` is true they are downloaded there first (MD5-checked). Files are checked
    as the ``lenet`` command checks them: a truncated or foreign file is a ``ValueError`` naming
    it, missing files a ``FileNotFoundError``."""
    path = None if dir is None else os.fspath(dir)
    return _native.load_mnist(path, bool(download))


def synthetic_digits(n: int, seed: int = 1):
    """``n`` MNIST-shaped digits drawn from ``seed`` (no download needed): ``(x, y)``, images uint8
    [n, 28, 28] and labels uint8 [n]. The same seed gives the same digits, the ones
    ``lenet train --dataset synthetic --seed SEED`` trains on first."""
    return _native.synthetic_digits(_int(n, "n", 0), _int(seed, "seed", 0))


def convolve(image, kernel, stride: int = 1, padding: int = 0, device: str = "cpu"):
    """``image`` (2-D) convolved with ``kernel`` (2-D), as in the lesson and PyTorch
    (cross-correlation, no bias), with the engine's own convolution: the CPU op, or the GPU's
    when ``device`` is "gpu" or an adapter index. Returns a float32 2-D array.

    >>> convolve([[0, 1, 2], [3, 4, 5], [6, 7, 8]], [[0, 1], [2, 3]])   # the lesson's example
    array([[19., 25.],
           [37., 43.]], dtype=float32)
    """
    image, kernel = _arrays.plane(image, "image"), _arrays.plane(kernel, "kernel")
    stride, padding = _int(stride, "stride", 1), _int(padding, "padding", 0)
    if kernel.shape[0] > image.shape[0] + 2 * padding or kernel.shape[1] > image.shape[1] + 2 * padding:
        raise ValueError(
            f"kernel ({kernel.shape[0]}x{kernel.shape[1]}) is larger than image "
            f"({image.shape[0]}x{image.shape[1]}) with padding={padding}"
        )
    return _native.convolve(image, kernel, stride, padding, _device(device))


def devices():
    """The GPU adapters wgpu finds, as dicts (index, name, backend, type, driver). The index is
    what ``Model(device=...)`` takes; "cpu" is always available."""
    return _native.devices()


class Model:
    """A network, its parameters, and the engine that trains and runs it.

    Parameters
    ----------
    arch : "lenet5" (default), "lenet5-1998" (tanh, average pooling), a layer list such as
        "conv8k3p1,relu,maxpool2,dense10", or a file holding one. Inputs are 1@28x28, 10 classes.
    device : "auto" (a hardware GPU if wgpu finds one, else the CPU path: it says so), "cpu",
        "gpu" (the best adapter, software ones such as lavapipe included) or an adapter index
        (see ``devices()``).
    seed : initialization and each epoch's shuffle; the same seed gives the same parameters as
        ``lenet train --seed`` on the same data.
    threads : worker threads of the CPU path, for the whole process (once, before any model
        computes; default: one per core).
    """

    def __init__(self, arch: str = "lenet5", device: str | int = "auto", seed: int = 1, threads: int | None = None):
        if threads is not None:
            _native.set_threads(_int(threads, "threads", 1))
        if not isinstance(arch, (str, os.PathLike)):
            raise ValueError(f"arch must be a string (a name, a layer list or a file), got {type(arch).__name__}")
        self._device = _device(device)
        self._session = _native.Session.create(os.fspath(arch), self._device, _int(seed, "seed", 0))
        self._init_common({})

    def _init_common(self, history: dict) -> None:
        self.history = {k: list(v) for k, v in history.items()}
        #: The training curve, finer than the history: the loss and accuracy of the steps
        #: trained between two progress updates (about ten a second), against "images" seen.
        self.curve = {"epoch": [], "images": [], "loss": [], "accuracy": []}
        self._shown = set()
        self._show_notices()

    @classmethod
    def _wrap(cls, session, device: str, history: dict) -> "Model":
        model = cls.__new__(cls)
        model._device, model._session = device, session
        model._init_common(history)
        return model

    def _show_notices(self) -> None:
        for notice in self._session.take_notices():
            if notice not in self._shown:
                self._shown.add(notice)
                print(f"lenet_gpu: {notice}", file=sys.stderr, flush=True)

    # What it is.

    @property
    def device(self) -> str:
        """What runs the arithmetic, e.g. "CPU (2 threads)" or "GPU: llvmpipe (...)"."""
        return self._session.device_name

    @property
    def arch(self) -> str:
        """The network's name ("lenet5") if it has one, else its layer list."""
        return self._session.arch_name or self._session.arch

    @property
    def seed(self) -> int:
        return self._session.seed

    @property
    def epochs_done(self) -> int:
        """Epochs trained so far (those recorded in a loaded checkpoint included)."""
        return self._session.epochs_done

    @property
    def parameter_count(self) -> int:
        return self._session.parameter_count

    def __repr__(self) -> str:
        return (
            f"<lenet_gpu.Model {self.arch}: {self.parameter_count} parameters, "
            f"{self.epochs_done} epoch{'' if self.epochs_done == 1 else 's'} trained, on {self.device}>"
        )

    # Training.

    def fit(
        self,
        x,
        y,
        epochs: int = 1,
        batch_size: int = 64,
        lr: float | None = None,
        optimizer: str = "sgd",
        validation=None,
        callback=None,
        progress: bool = True,
        momentum: float = 0.9,
    ) -> dict:
        """Trains ``epochs`` epochs on images ``x`` with labels ``y``; returns this call's history.

        A second ``fit`` continues from the current state (parameters and optimizer state), its
        epochs numbered on; with the same settings, ``fit(epochs=1)`` twice gives exactly what
        ``fit(epochs=2)`` gives. ``lr`` defaults to 0.01 for "sgd" (with ``momentum``) and 0.001
        for "adam". ``validation=(x_val, y_val)`` is evaluated after each epoch.
        ``callback(epoch, logs)`` is called after each epoch; returning False stops training.
        ``progress`` shows a tqdm bar (when tqdm is installed) or one line per epoch.

        The history is a dict of lists: "epoch", "loss", "accuracy" (training, as the epoch went),
        "val_loss", "val_accuracy" (with ``validation``), "seconds", "images_per_second";
        ``model.history`` holds every epoch of every ``fit``, and ``model.curve`` the loss and
        accuracy during training, about ten points a second.

        Ctrl-C (a notebook's interrupt) stops training within about a second, mid-epoch, with
        ``KeyboardInterrupt``; the model keeps every step it completed (the interrupted epoch is
        not counted in ``epochs_done``).
        """
        xs, _ = _arrays.images(x, "x")
        ys = _arrays.labels(y, len(xs), "y")
        if len(xs) == 0:
            raise ValueError("x is empty: fit needs at least one image")
        epochs, batch_size = _int(epochs, "epochs", 1), _int(batch_size, "batch_size", 1)
        if optimizer not in ("sgd", "adam"):
            raise ValueError(f'optimizer must be "sgd" or "adam", got {optimizer!r}')
        if lr is not None:
            lr = _float(lr, "lr")
            if not lr > 0:
                raise ValueError(f"lr must be a positive number, got {lr}")
        momentum = _float(momentum, "momentum")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if callback is not None and not callable(callback):
            raise ValueError("callback must be callable as callback(epoch, logs)")
        val = None
        if validation is not None:
            if not (isinstance(validation, (tuple, list)) and len(validation) == 2):
                raise ValueError("validation must be a pair (x_val, y_val)")
            xv, _ = _arrays.images(validation[0], "validation[0]")
            val = _native.Data(xv, _arrays.labels(validation[1], len(xv), "validation[1]"))
            if len(xv) == 0:
                raise ValueError("validation[0] is empty")
        train = _native.Data(xs, ys)
        history: dict = {}
        last = self.epochs_done + epochs
        for _ in range(epochs):
            display = EpochProgress(self.epochs_done + 1, last, len(xs), bool(progress), self.curve)
            logs, note = None, None
            try:
                logs, pending = self._session.train_epoch(
                    train, batch_size, optimizer, lr, momentum, display.update
                )
                epoch = logs.pop("epoch")
                _append(history, self.history, epoch, logs)
                if pending is None and val is not None:
                    result = self._evaluate_data(val)
                    logs["val_loss"], logs["val_accuracy"] = result["loss"], result["accuracy"]
                    for key in ("val_loss", "val_accuracy"):
                        for h in (history, self.history):
                            h.setdefault(key, []).append(logs[key])
                if isinstance(pending, KeyboardInterrupt):
                    note = f"interrupted: stopped after epoch {epoch}; the model keeps its state"
            finally:
                display.close(logs, note)
                self._show_notices()
            if pending is not None:
                raise pending
            if callback is not None and callback(epoch, dict(logs)) is False:
                break
        return history

    # Running.

    def evaluate(self, x, y) -> dict:
        """Accuracy (a fraction), mean cross-entropy ``loss`` and the ``confusion`` matrix
        ([10, 10], rows the true class, columns the predicted one) on images ``x``, labels ``y``."""
        xs, _ = _arrays.images(x, "x")
        ys = _arrays.labels(y, len(xs), "y")
        if len(xs) == 0:
            raise ValueError("x is empty: evaluate needs at least one image")
        return self._evaluate_data(_native.Data(xs, ys))

    def _evaluate_data(self, data) -> dict:
        accuracy, loss, confusion = self._session.evaluate(data)
        return {"accuracy": accuracy, "loss": loss, "confusion": confusion.astype(np.int64)}

    def predict(self, x):
        """Class probabilities (softmax), float32: [N, 10] for images [N, 28, 28], or [10] for one
        image [28, 28]. uint8 0..255 or float in [0, 1]; ``predict(x).argmax(-1)`` is the class."""
        xs, single = _arrays.images(x, "x", single_ok=True)
        probabilities = self._session.probabilities(_native.Data(xs, np.zeros(len(xs), np.uint8)))
        return probabilities[0] if single else probabilities

    def predict_image(self, path):
        """The probabilities [10] for the digit in an image file (PNG, JPEG, BMP, GIF), prepared
        as ``lenet predict`` prepares it: grayscale, polarity, cropped, scaled to 20x20 and
        centred by its centre of mass in 28x28."""
        return self.predict(_native.read_digit(os.fspath(path)))

    def activations(self, image):
        """What the network computes for one image: ``[(name, array)]`` in layer order, e.g.
        ("conv1+relu", [6, 28, 28]), ("pool1", [6, 14, 14]), ..., ("fc3", [10]). A layer followed
        by a ReLU is shown after it (the outputs the GPU path keeps)."""
        xs, _ = _arrays.images(image, "image", single_ok=True)
        if len(xs) != 1:
            raise ValueError(f"image must be one image ([28, 28]), got {len(xs)}")
        outputs = self._session.activations(_native.Data(xs, np.zeros(1, np.uint8)))
        return [(name, values[0]) for name, values in outputs]

    def kernels(self, layer: str = "conv1"):
        """The weights of a conv layer, [out_channels, in_channels, kh, kw] (conv1 of LeNet-5:
        [6, 1, 5, 5]), to show with matplotlib."""
        state = self.state_dict()
        convs = [k[: -len(".weight")] for k, v in state.items() if k.endswith(".weight") and v.ndim == 4]
        if layer not in convs:
            raise ValueError(f"layer must be one of the conv layers {convs}, got {layer!r}")
        return state[f"{layer}.weight"]

    # Parameters and files.

    def state_dict(self) -> dict:
        """The parameters as NumPy arrays (float32 copies) with PyTorch's names and shapes, so
        ``torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in d.items()})`` works."""
        return dict(self._session.state())

    def load_state_dict(self, state_dict) -> None:
        """Replaces every parameter from a dict of arrays (NumPy, or CPU PyTorch tensors) with
        PyTorch's names and shapes. The optimizer state starts afresh."""
        if not hasattr(state_dict, "keys"):
            raise ValueError("state_dict must be a dict of arrays named as state_dict() names them")
        shapes = dict(self._session.state_shapes())
        missing = [k for k in shapes if k not in state_dict]
        unexpected = [k for k in state_dict.keys() if k not in shapes]
        if missing or unexpected:
            raise ValueError(
                f"state_dict does not fit the network: missing {missing}, unexpected {unexpected}"
            )
        tensors = []
        for name, shape in shapes.items():
            value = state_dict[name]
            if hasattr(value, "detach"):  # a PyTorch tensor
                value = value.detach().cpu().numpy()
            a = np.asarray(value)
            if list(a.shape) != list(shape):
                raise ValueError(f"state_dict[{name!r}] has shape {list(a.shape)}, but the network's is {list(shape)}")
            if a.dtype.kind not in "fiu":
                raise ValueError(f"state_dict[{name!r}] must be numeric, got dtype {a.dtype}")
            a = np.ascontiguousarray(a, dtype=np.float32)
            if not np.isfinite(a).all():
                raise ValueError(f"state_dict[{name!r}] holds NaN or infinite values")
            tensors.append((name, a))
        self._session.load_state(tensors)
        self._show_notices()

    def save(self, path) -> None:
        """Writes the model to ``path`` as the command line does (safetensors, PyTorch's names,
        the run recorded in its metadata), atomically: ``lenet eval``, ``lenet predict`` and
        ``safetensors.torch.load_file`` read it."""
        self._session.save(os.fspath(path))

    @classmethod
    def load(cls, path, device: str | int = "auto") -> "Model":
        """A model from a checkpoint saved by ``save``, ``lenet train --save`` or PyTorch
        (``safetensors.torch.save_file`` of a LeNet-5 state_dict)."""
        path = os.fspath(path)
        with open(path, "rb") as f:
            data = f.read()
        device = _device(device)
        return cls._wrap(_native.Session.from_bytes(data, device, path), device, {})

    def to_bytes(self) -> bytes:
        """The checkpoint ``save`` would write, as bytes."""
        return self._session.to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes, device: str | int = "auto") -> "Model":
        """A model from checkpoint bytes (``to_bytes``)."""
        device = _device(device)
        return cls._wrap(_native.Session.from_bytes(bytes(data), device, "<bytes>"), device, {})

    def __reduce__(self):
        # Pickled as its checkpoint: parameters, network and run record (not the optimizer state).
        return (_restore, (self.to_bytes(), self._device, self.history))


def _restore(data: bytes, device: str, history: dict) -> Model:
    return Model._wrap(_native.Session.from_bytes(data, device, "<pickle>"), device, history)


def _append(history: dict, total: dict, epoch: int, logs: dict) -> None:
    for h in (history, total):
        h.setdefault("epoch", []).append(epoch)
        for key, value in logs.items():
            h.setdefault(key, []).append(value)


def _int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    try:
        n = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if n < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {n}")
    if n >= 2**63:
        raise ValueError(f"{name} is too large: {n}")
    return n


def _float(value, name: str) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(f):
        raise ValueError(f"{name} must be finite, got {f}")
    return f


def _device(device) -> str:
    if isinstance(device, bool):
        raise ValueError(f'device must be "auto", "cpu", "gpu" or an adapter index, got {device!r}')
    if isinstance(device, int):
        if device < 0:
            raise ValueError(f"device must be a non-negative adapter index, got {device}")
        return str(device)
    if not isinstance(device, str):
        raise ValueError(f'device must be "auto", "cpu", "gpu" or an adapter index, got {device!r}')
    return device
