"""The module's functions beside `Model`: MNIST and synthetic digits as arrays, one convolution as
the lesson draws it, and the GPU adapters there are."""

from __future__ import annotations

import os

import numpy as np

from . import _arrays, _native
from ._args import device_arg, int_arg


def load_mnist(dir: str | os.PathLike | None = None, download: bool = True):
    """MNIST as NumPy arrays: ``(x_train, y_train, x_test, y_test)``, images uint8 [N, 28, 28]
    (60000 and 10000 of them) and labels uint8 [N].

    The four files (gzipped or raw IDX) are read from ``dir``, else from the directory in the
    ``LENET_DATA_DIR`` environment variable, else from ``./data/mnist``; when they are missing
    and ``download`` is true they are downloaded there first (MD5-checked). Files are checked
    as the ``lenet`` command checks them: a truncated or foreign file is a ``ValueError`` naming
    it, missing files a ``FileNotFoundError``.

    Parameters
    ----------
    dir : the directory holding (or to hold) MNIST's four files; a ``str`` or ``os.PathLike``.
    download : whether to download missing files (from MNIST's mirrors, MD5-checked).
    """
    path = None if dir is None else os.fspath(dir)
    return _native.load_mnist(path, bool(download))


def load_cifar10(dir: str | os.PathLike | None = None, download: bool = True):
    """CIFAR-10 as NumPy arrays: ``(x_train, y_train, x_test, y_test)``, images uint8
    [N, 32, 32, 3] (channels last, as Keras and torchvision give them; 50000 and 10000 of them)
    and labels uint8 [N], for a colour network such as ``Model("lenet5-cifar")``.

    The six binary files (``data_batch_1.bin`` .. ``data_batch_5.bin``, ``test_batch.bin``) are
    read from ``dir`` (or its ``cifar-10-batches-bin``), else from the directory in the
    ``LENET_CIFAR10_DIR`` environment variable, else from ``./data/cifar10``; when they are
    missing and ``download`` is true the published archive is downloaded there first
    (MD5-checked) and unpacked. Files are checked as ``lenet train --dataset cifar10`` checks
    them.

    Parameters
    ----------
    dir : the directory holding (or to hold) the files; a ``str`` or ``os.PathLike``.
    download : whether to download missing files.
    """
    path = None if dir is None else os.fspath(dir)
    x_train, y_train, x_test, y_test = _native.load_cifar10(path, bool(download))
    channels_last = (0, 2, 3, 1)
    return (
        np.ascontiguousarray(x_train.transpose(channels_last)),
        y_train,
        np.ascontiguousarray(x_test.transpose(channels_last)),
        y_test,
    )


def synthetic_digits(n: int, seed: int = 1):
    """``n`` MNIST-shaped digits drawn from ``seed`` (no download needed): ``(x, y)``, images uint8
    [n, 28, 28] and labels uint8 [n]. The same seed gives the same digits, the ones
    ``lenet train --dataset synthetic --seed SEED`` trains on first.

    Parameters
    ----------
    n : how many digits (0 or more).
    seed : what draws them (0 or more).
    """
    return _native.synthetic_digits(int_arg(n, "n", 0), int_arg(seed, "seed", 0))


def convolve(image, kernel, stride: int = 1, padding: int = 0, device: str = "cpu"):
    """``image`` (2-D) convolved with ``kernel`` (2-D), as in the lesson and PyTorch
    (cross-correlation, no bias), with the engine's own convolution: the CPU op, or the GPU's
    when ``device`` is "gpu" or an adapter index. Returns a float32 2-D array.

    Parameters
    ----------
    image : a 2-D array (or nested lists) of numbers.
    kernel : a 2-D array of numbers, no larger than ``image`` with its padding.
    stride : the step between two positions of the kernel (1 or more).
    padding : zeros added around ``image`` on every side (0 or more).
    device : "cpu" (the default), "gpu" or an adapter index (see ``devices()``).

    >>> convolve([[0, 1, 2], [3, 4, 5], [6, 7, 8]], [[0, 1], [2, 3]])   # the lesson's example
    array([[19., 25.],
           [37., 43.]], dtype=float32)
    """
    image, kernel = _arrays.plane(image, "image"), _arrays.plane(kernel, "kernel")
    stride, padding = int_arg(stride, "stride", 1), int_arg(padding, "padding", 0)
    if kernel.shape[0] > image.shape[0] + 2 * padding or kernel.shape[1] > image.shape[1] + 2 * padding:
        raise ValueError(
            f"kernel ({kernel.shape[0]}x{kernel.shape[1]}) is larger than image "
            f"({image.shape[0]}x{image.shape[1]}) with padding={padding}"
        )
    return _native.convolve(image, kernel, stride, padding, device_arg(device))


def devices():
    """The GPU adapters wgpu finds, as dicts (index, name, backend, type, driver). The index is
    what ``Model(device=...)`` takes; "cpu" is always available."""
    return _native.devices()
