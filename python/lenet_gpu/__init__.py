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

import os
import sys
import tempfile

import numpy as np


def _private_runtime_dir() -> None:
    # Mesa's drivers want a private runtime directory and print "error: XDG_RUNTIME_DIR is invalid
    # or not set" at every device they open without one (a notebook cell each time); CI gives
    # them one the same way.
    if not os.environ.get("XDG_RUNTIME_DIR") and sys.platform.startswith("linux"):
        os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="lenet-gpu-runtime-")


_private_runtime_dir()

from . import _arrays  # noqa: E402  (after the runtime directory: the extension may open Mesa)
from ._native import DivergedError, GpuError  # noqa: E402
from . import _native  # noqa: E402
from ._args import device_arg as _device, float_arg as _float, int_arg as _int  # noqa: E402
from ._args import held_out_arg as _held_out, target_arg as _target  # noqa: E402
from ._args import maybe as _maybe, name_arg as _name, with_defaults as _with_defaults  # noqa: E402
from ._functions import convolve, devices, load_cifar10, load_mnist, synthetic_digits  # noqa: E402
from ._progress import EpochProgress as _EpochProgress  # noqa: E402
from ._files import ModelFiles as _ModelFiles  # noqa: E402
# Pickles made before 0.2.0's split name `lenet_gpu._restore`: it stays here for them.
from ._files import restore as _restore  # noqa: E402,F401

#: The history's keys, every ``fit`` filling each (None where a fit had no validation: pandas reads
#: it as NaN, and unlike NaN it equals itself, so a history survives a pickle equal).
_HISTORY_KEYS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds", "images_per_second")

__version__ = "0.2.0"
__all__ = [
    "Model",
    "load_mnist",
    "load_cifar10",
    "synthetic_digits",
    "convolve",
    "devices",
    "GpuError",
    "DivergedError",
]


class Model(_ModelFiles):
    """A network, its parameters, and the engine that trains and runs it.

    Parameters
    ----------
    arch : "lenet5" (default), "lenet5-1998" (tanh, average pooling), a layer list such as
        "conv8k3p1,relu,maxpool2,dense10", or a file holding one. Inputs are 1@28x28 (MNIST), or
        3@32x32 for a colour network ("lenet5-cifar", or a list starting "input3x32x32": train it
        on ``load_cifar10()``); 10 classes.
    device : "auto" (a hardware GPU if wgpu finds one, else the CPU path: it says so), "cpu",
        "gpu" (the best adapter, software ones such as lavapipe included) or an adapter index
        (see ``devices()``).
    seed : initialization and each epoch's shuffle; the same seed gives the same parameters as
        ``lenet train --seed`` on the same data.
    threads : worker threads of the CPU path, for the whole process (once, before any model
        computes; default: one per core).

    Attributes
    ----------
    history : every epoch of every ``fit``, a dict of lists as ``fit`` returns (a loaded model's
        starts empty; a pickle keeps it).
    curve : the training curve, finer than the history: "epoch", "images" (seen so far), "loss"
        and "accuracy" of the steps between two progress updates, about ten a second.
    """

    def __init__(self, arch: str = "lenet5", device: str | int = "auto", seed: int = 1, threads: int | None = None):
        if threads is not None:
            _native.set_threads(_int(threads, "threads", 1))
        if not isinstance(arch, (str, os.PathLike)):
            raise ValueError(f"arch must be a string (a name, a layer list or a file), got {type(arch).__name__}")
        self._device = _device(device)
        self._session = _native.Session.create(os.fspath(arch), self._device, _int(seed, "seed", 0))
        self._init_common({})

    def _init_common(self, history: dict, settings: dict | None = None) -> None:
        self.history = {key: list(history.get(key, [])) for key in _HISTORY_KEYS}
        n = len(self.history["epoch"])
        for values in self.history.values():  # a history pickled before every key was kept
            values.extend([None] * (n - len(values)))
        # What a fit keeps when not told: the last fit's, else what the model's run records, else
        # the library's defaults (decided by the library, as `lenet train --resume` does).
        self._fit_settings = dict(settings) if settings is not None else dict(self._session.fit_settings)
        #: The training curve, finer than the history: the loss and accuracy of the steps
        #: trained between two progress updates (about ten a second), against "images" seen.
        self.curve = {"epoch": [], "images": [], "loss": [], "accuracy": []}
        self._shown = set()
        self._show_notices()

    @classmethod
    def _wrap(cls, session, device: str, history: dict, settings: dict | None = None) -> "Model":
        model = cls.__new__(cls)
        model._device, model._session = device, session
        model._init_common(history, settings)
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
        """The seed of the initialization and of each epoch's shuffle (a loaded model's is the
        one its checkpoint records)."""
        return self._session.seed

    @property
    def epochs_done(self) -> int:
        """Epochs trained so far (those recorded in a loaded checkpoint included)."""
        return self._session.epochs_done

    @property
    def parameter_count(self) -> int:
        """How many numbers the network learns (61706 for LeNet-5): a batch norm's running
        statistics, kept but not learned, are not counted, as in PyTorch's parameters()."""
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
        epochs: int | None = None,
        batch_size: int | None = None,
        lr: float | None = None,
        optimizer: str | None = None,
        validation=None,
        callback=None,
        progress: bool = True,
        momentum: float | None = None,
        augment: int | None = None,
        target_accuracy: float | None = None,
        keep_best: bool = False,
        schedule: str | None = None,
        warmup: int | None = None,
        weight_decay: float | None = None,
        recipe: str | None = None,
    ) -> dict:
        """Trains ``epochs`` epochs on images ``x`` with labels ``y``; returns this call's history.

        A second ``fit`` continues from the current state (parameters and optimizer state: SGD's
        momentum, Adam's moments and update count), its epochs numbered on; with the same
        settings and a constant rate, ``fit(epochs=1)`` twice gives exactly what
        ``fit(epochs=2)`` gives, and so does ``fit(epochs=1)``, a pickle (or ``save`` and
        ``Model.load``) and ``fit(epochs=1)``. A setting left out (None) is the one the last
        ``fit`` used (a loaded model's: the one its checkpoint records), else the recipe's, else
        the library's default shown below; other settings in a later ``fit`` go on from the
        current state (another optimizer from a fresh optimizer state).

        Parameters
        ----------
        x : images, [N, 28, 28] (or [N, 1, 28, 28], [N, 784]), uint8 0..255 or floats in [0, 1];
            for a colour network, [N, 32, 32, 3] or [N, 3, 32, 32] (as ``load_cifar10`` gives).
        y : their labels, [N], integers 0..9.
        epochs : how many epochs this call trains (1 or more; default {default:epochs}, or the
            recipe's).
        batch_size : images per step (1 or more; default {default:batch_size}).
        lr : the learning rate; default {default:lr} for "sgd", {default:adam_lr} for "adam" (a new
            optimizer without ``lr`` takes its own default).
        optimizer : {names:optimizer} (default "{default:optimizer}"; SGD with ``momentum``).
        validation : what to evaluate after each epoch ("val_loss", "val_accuracy"): a pair
            ``(x_val, y_val)``; or a share of ``x`` (a fraction such as 0.1) or a number of its
            images, held out from training (drawn from the seed, the same every epoch), as
            ``lenet train --validation N`` does.
        callback : ``callback(epoch, logs)`` after each epoch, ``logs`` a dict of that epoch's
            figures; returning False stops training.
        progress : show a tqdm bar (``tqdm.auto``: a widget in Jupyter, when tqdm is installed)
            or else one line per epoch; False shows nothing.
        momentum : SGD's momentum, in [0, 1) (default {default:momentum}; Adam ignores it).
        augment : moves each training image by up to this many pixels along each axis as
            batches are assembled, a different shift per image and epoch drawn from the seed
            (the same on the CPU and the GPU), so the network learns digits wherever they sit;
            {default:augment} (the default) trains on the images as they are; 2 is the "best"
            recipe's. Smaller than the images.
        target_accuracy : stop after the first epoch whose validation accuracy (a fraction, e.g.
            0.99) reaches it, as ``lenet train --target-accuracy`` does; needs ``validation``.
        keep_best : end with the parameters of the epoch with the best validation accuracy (the
            optimizer state stays the last epoch's), as ``lenet train --save-best`` keeps them in
            a file; needs ``validation``.
        schedule : how the learning rate moves, updated every step (PyTorch's schedulers stepped
            per update): {names:schedule} (default "{default:schedule}"). All but "constant"
            are drawn over the run's epochs: those trained before this ``fit`` and its own.
        warmup : raise the rate linearly over this many first updates (default {default:warmup});
            with "onecycle", its rise takes them instead of 30% of the run.
        weight_decay : decoupled for Adam (AdamW), added to the gradient (L2) for SGD, as PyTorch
            does (default {default:weight_decay}).
        recipe : {names:recipe}: the settings ``lenet train --recipe`` uses (tuned for LeNet-5
            on MNIST; "fast" reaches 99% in 3 epochs), for those this call does not give.

        Returns
        -------
        A dict of lists: "epoch", "loss", "accuracy" (training, as the epoch went), "val_loss",
        "val_accuracy" (None without ``validation``), "seconds", "images_per_second": the same keys
        every ``fit``, so ``pandas.DataFrame(model.history)`` always works. ``model.history``
        holds every epoch of every ``fit``, and ``model.curve`` the loss and accuracy during
        training, about ten points a second.

        Ctrl-C (a notebook's interrupt) stops training within about a second, mid-epoch, with
        ``KeyboardInterrupt``; the model keeps every step it completed (the interrupted epoch is
        not counted in ``epochs_done``, and the next ``fit`` trains the rest of it).
        """
        xs, _ = _arrays.images(x, "x", shape=self._session.input_shape)
        ys = _arrays.labels(y, len(xs), "y")
        if len(xs) == 0:
            raise ValueError("x is empty: fit needs at least one image")
        given = {
            "batch_size": _maybe(_int, batch_size, "batch_size", 1),
            "optimizer": _name(optimizer, "optimizer", _native.OPTIMIZER_NAMES),
            "lr": _maybe(_float, lr, "lr"),
            "momentum": _maybe(_float, momentum, "momentum"),
            "augment": _maybe(_int, augment, "augment", 0),
            "schedule": _name(schedule, "schedule", _native.SCHEDULE_NAMES),
            "warmup": _maybe(_int, warmup, "warmup", 0),
            "weight_decay": _maybe(_float, weight_decay, "weight_decay"),
        }
        epochs = _maybe(_int, epochs, "epochs", 1)
        recipe = _name(recipe, "recipe", _native.RECIPE_NAMES)
        # The library decides what is not given (the recipe's, the last fit's, its defaults)
        # and checks every range.
        settings = _native.fit_settings(self._fit_settings, given, epochs, recipe)
        epochs = settings.pop("epochs")
        if settings["augment"] >= xs.shape[-1]:
            raise ValueError(
                f"augment must be smaller than the images ({xs.shape[-1]} pixels), got {settings['augment']}"
            )
        if callback is not None and not callable(callback):
            raise ValueError("callback must be callable as callback(epoch, logs)")
        val, held_out = None, _held_out(validation, len(xs))
        if isinstance(validation, (tuple, list)):
            xv, _ = _arrays.images(validation[0], "validation[0]", shape=self._session.input_shape)
            val = _native.Data(xv, _arrays.labels(validation[1], len(xv), "validation[1]"))
            if len(xv) == 0:
                raise ValueError("validation[0] is empty")
        target_accuracy = _target(target_accuracy, keep_best, validation)
        train = _native.Data(xs, ys)
        # Kept for the next fit, unless this one diverges (its rate is then no setting to keep).
        previous, self._fit_settings = self._fit_settings, settings
        history: dict = {key: [] for key in _HISTORY_KEYS}
        last = self.epochs_done + epochs
        self._session.start_goals(target_accuracy, bool(keep_best))
        trained = len(xs) - held_out
        self._fit_epochs(epochs, last, trained, train, val, held_out, progress, callback, history, previous)
        if keep_best:
            self._session.restore_best()
        return history

    def _fit_epochs(self, epochs, last, images, train, val, held_out, progress, callback, history, previous):
        for _ in range(epochs):
            display = _EpochProgress(self.epochs_done + 1, last, images, bool(progress), self.curve)
            logs, note = None, None
            try:
                logs, pending = self._session.train_epoch(
                    train, self._fit_settings, last, display.update, held_out
                )
                epoch = logs.pop("epoch")
                if pending is None and val is not None:
                    result = self._evaluate_data(val)
                    logs["val_loss"], logs["val_accuracy"] = result["loss"], result["accuracy"]
                _append(history, self.history, epoch, logs)
                if isinstance(pending, KeyboardInterrupt):
                    note = f"interrupted: stopped after epoch {epoch}; the model keeps its state"
            except DivergedError:
                self._fit_settings = previous
                raise
            finally:
                display.close(logs, note)
                self._show_notices()
            if pending is not None:
                raise pending
            if callback is not None and callback(epoch, dict(logs)) is False:
                break
            if logs.get("val_accuracy") is not None and self._session.consider(epoch, logs["val_accuracy"])[1]:
                break

    # Running.

    def evaluate(self, x, y) -> dict:
        """Accuracy (a fraction), mean cross-entropy ``loss`` and the ``confusion`` matrix
        ([10, 10], rows the true class, columns the predicted one) on images ``x``, labels ``y``.

        Parameters
        ----------
        x : images, as ``fit`` takes them.
        y : their labels, integers 0..9.
        """
        xs, _ = _arrays.images(x, "x", shape=self._session.input_shape)
        ys = _arrays.labels(y, len(xs), "y")
        if len(xs) == 0:
            raise ValueError("x is empty: evaluate needs at least one image")
        return self._evaluate_data(_native.Data(xs, ys))

    def _evaluate_data(self, data) -> dict:
        accuracy, loss, confusion = self._session.evaluate(data)
        return {"accuracy": accuracy, "loss": loss, "confusion": confusion.astype(np.int64)}

    def predict(self, x):
        """Class probabilities (softmax), float32: [N, 10] for images [N, 28, 28] (a batch of one,
        ``x[300:301]``, gives [1, 10]), or [10] for one image [28, 28] or [784].
        ``predict(x).argmax(-1)`` is the class.

        Parameters
        ----------
        x : images [N, 28, 28] (or [N, 1, 28, 28], [N, 784]; a colour network's as ``fit`` takes
            them) or one image [28, 28] ([784]), uint8
            0..255, floats in [0, 1] or bools (True is ink).
        """
        xs, single = _arrays.images(x, "x", single_ok=True, shape=self._session.input_shape)
        probabilities = self._session.probabilities(_native.Data(xs, np.zeros(len(xs), np.uint8)))
        return probabilities[0] if single else probabilities

    def predict_image(self, image):
        """The probabilities [10] for the digit in a picture of any size, prepared as
        ``lenet predict`` prepares it: grayscale, polarity, cropped, scaled to 20x20 and centred
        by its centre of mass in 28x28.

        Parameters
        ----------
        image : an image file (PNG, JPEG, BMP, GIF; a ``str`` or ``os.PathLike``), a PIL image, or
            an array: gray [H, W], RGB [H, W, 3] or RGBA [H, W, 4], uint8 0..255 or floats in
            [0, 1], dark ink on light paper or light on dark.
        """
        if tuple(self._session.input_shape) != (1, 28, 28):
            raise ValueError(
                f"predict_image prepares a digit for a network of 28x28 gray inputs, but this one takes "
                f"{'x'.join(map(str, self._session.input_shape))} images: give them to predict"
            )
        if isinstance(image, (str, os.PathLike)):
            return self.predict(_native.read_digit(os.fspath(image)))
        return self.predict(_native.prepare_rgba(_arrays.rgba(image, "image")))

    def activations(self, image):
        """What the network computes for one image: ``[(name, array)]`` in layer order, e.g.
        ("conv1+relu", [6, 28, 28]), ("pool1", [6, 14, 14]), ..., ("fc3", [10]). A layer followed
        by a ReLU is shown after it (the outputs the GPU path keeps).

        Parameters
        ----------
        image : one image, [28, 28] (or [1, 28, 28], [784]), uint8 0..255 or floats in [0, 1].
        """
        xs, _ = _arrays.images(image, "image", single_ok=True, shape=self._session.input_shape)
        if len(xs) != 1:
            raise ValueError(f"image must be one image, got {len(xs)}")
        outputs = self._session.activations(_native.Data(xs, np.zeros(1, np.uint8)))
        return [(name, values[0]) for name, values in outputs]

    def kernels(self, layer: str = "conv1"):
        """The weights of a conv layer, [out_channels, in_channels, kh, kw] (conv1 of LeNet-5:
        [6, 1, 5, 5]), to show with matplotlib.

        Parameters
        ----------
        layer : the conv layer's name as ``state_dict()`` names it ("conv1", "conv2", ...).
        """
        state = self.state_dict()
        convs = [k[: -len(".weight")] for k, v in state.items() if k.endswith(".weight") and v.ndim == 4]
        if layer not in convs:
            raise ValueError(f"layer must be one of the conv layers {convs}, got {layer!r}")
        return state[f"{layer}.weight"]


Model.fit.__doc__ = _with_defaults(
    Model.fit.__doc__,
    _native.fit_defaults(),
    {"optimizer": _native.OPTIMIZER_NAMES, "schedule": _native.SCHEDULE_NAMES, "recipe": _native.RECIPE_NAMES},
)


def _append(history: dict, total: dict, epoch: int, logs: dict) -> None:
    for h in (history, total):
        for key in _HISTORY_KEYS:
            h[key].append(epoch if key == "epoch" else logs.get(key))
