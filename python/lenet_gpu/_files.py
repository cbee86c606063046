"""`Model`'s parameters and files: ``state_dict`` and ``load_state_dict``, ``to_torch``, ``save``
and ``load``, bytes and pickling, as a mixin the class takes (the methods are `Model`'s; they
live here so that each file keeps one job)."""

from __future__ import annotations

import os
import sys

import numpy as np

from . import _native
from ._args import device_arg as _device
from ._native import GpuError


class ModelFiles:
    """The parameters and files half of `Model` (see there)."""

    def state_dict(self) -> dict:
        """The parameters as NumPy arrays (float32 copies) with PyTorch's names and shapes, so
        ``torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in d.items()})`` works."""
        return dict(self._session.state())

    def load_state_dict(self, state_dict) -> None:
        """Replaces every parameter from a dict of arrays (NumPy, or CPU PyTorch tensors) with
        PyTorch's names and shapes. The optimizer state starts afresh; the epoch count stays.

        Parameters
        ----------
        state_dict : a dict (or mapping) naming every parameter as ``state_dict()`` does.
        """
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

    def to_torch(self):
        """The network as a PyTorch module (``torch.nn.Module``, in evaluation mode) holding a copy
        of the current parameters: the same layers, parameter names and numbers, so
        ``module.load_state_dict(..., strict=True)`` takes this model's ``state_dict()`` or a file
        ``save`` wrote (``safetensors.torch.load_file``). Needs PyTorch (``pip install torch``);
        ``import lenet_gpu`` does not.

        Returns
        -------
        A ``torch.nn.Module`` whose forward takes normalized float32 images [N, C, H, W] and
        returns the logits [N, classes] (``softmax`` of them is what ``predict`` gives). Its
        ``prepare(x)`` turns the images ``predict`` takes into that input, normalized as the engine
        does (its ``mean`` and ``std`` per channel, after scaling to [0, 1]); ``arch`` and
        ``input_shape`` say what it is. Layers are named as ``state_dict()`` names them: conv1,
        conv2, ... (a residual block's in place, its 1x1 shortcut ``shortcutK``), fc1, ..., bn1,
        ... (``BatchNorm2d``, or ``BatchNorm1d`` on a dense layer's output), with each batch
        norm's ``num_batches_tracked`` an int64 as PyTorch keeps it. Dropout is off in evaluation
        mode, as in ``predict``; ``module.train()`` turns it and the batch statistics on.
        """
        from . import _torch  # imports torch, or says how to install it

        return _torch.from_model(self)

    def save(self, path) -> None:
        """Writes the model to ``path`` as ``lenet train --save`` does, atomically: safetensors with
        PyTorch's names and the run recorded in its metadata, which ``lenet eval``,
        ``lenet predict`` and ``safetensors.torch.load_file`` read. Once the model has trained,
        its optimizer state (momentum or Adam's moments, the update count) goes beside it in
        ``<path>.optim.safetensors``, so ``Model.load(path)`` continues the run exactly.

        Parameters
        ----------
        path : where to write (a ``str`` or ``os.PathLike``); its directory must exist.
        """
        self._session.save(os.fspath(path))

    @classmethod
    def load(cls, path, device: str | int = "auto") -> "Model":
        """A model from a checkpoint saved by ``save``, ``lenet train --save`` or PyTorch
        (``safetensors.torch.save_file`` of a LeNet-5 state_dict). When the optimizer file that
        ``save`` and ``lenet train --save`` write is beside it, the next ``fit`` continues the run
        with its optimizer state, exactly as if it had not stopped (an unreadable one is
        reported, and the optimizer then starts afresh).

        Parameters
        ----------
        path : the checkpoint (a ``str`` or ``os.PathLike``).
        device : where the model runs, as for ``Model(device=...)``; a GPU device absent here
            falls back to the CPU path, saying so.
        """
        path = os.fspath(path)
        session, device = on_device(_device(device), lambda d: _native.Session.load(path, d))
        return cls._wrap(session, device, {})

    def to_bytes(self) -> bytes:
        """The model checkpoint ``save`` writes to ``path``, as bytes (without the optimizer
        state; a pickle keeps both)."""
        return self._session.to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes, device: str | int = "auto") -> "Model":
        """A model from checkpoint bytes (``to_bytes``).

        Parameters
        ----------
        data : the bytes of a checkpoint (``to_bytes``, or a file's).
        device : where the model runs, as for ``Model(device=...)``; a GPU device absent here
            falls back to the CPU path, saying so.
        """
        data = bytes(data)
        session, device = on_device(_device(device), lambda d: _native.Session.from_bytes(data, d, "<bytes>"))
        return cls._wrap(session, device, {})

    def __reduce__(self):
        # Pickled as its two checkpoint files' bytes: the model, and once it has trained the
        # optimizer state, so an unpickled model continues the run exactly.
        model, optimizer = self._session.training_bytes()
        return (restore, (model, self._device, self.history, optimizer, self._fit_settings))


def restore(
    data: bytes, device: str, history: dict, optimizer: bytes | None = None, settings: dict | None = None
) -> "Model":
    from . import Model  # the class that takes this mixin, defined after it

    session, device = on_device(device, lambda d: _native.Session.from_bytes(data, d, "<pickle>", optimizer))
    return Model._wrap(session, device, history, settings)


def on_device(device: str, open_on):
    """``open_on(device)``, or where that device is absent here (a model pickled or saved on a
    machine with a GPU, opened on one without), ``open_on("cpu")`` with a notice: the numbers are
    the same within float32 rounding."""
    try:
        return open_on(device), device
    except GpuError as e:
        if device in ("cpu", "auto"):
            raise
        print(f"lenet_gpu: device={device!r} is not available here ({e}): running on the CPU path",
              file=sys.stderr, flush=True)
        return open_on("cpu"), "cpu"
