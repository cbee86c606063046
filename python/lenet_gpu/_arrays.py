"""Checking and converting what a user passes: images as uint8 0..255 or floats in [0, 1], one
image or many; labels as integers 0..9. Every message names the argument."""

from __future__ import annotations

import numpy as np

SIDE = 28
CLASSES = 10


def images(x, name: str = "x", single_ok: bool = False, shape=(1, SIDE, SIDE)):
    """`x` as a C-contiguous uint8 array of the network's input `shape` (channels, height,
    width): [N, H, W] for gray images, [N, C, H, W] for colour ones (each channel a plane, as the
    engine keeps them); and whether it was one image.

    Gray 28x28: accepts [N, 28, 28], [N, 1, 28, 28] or [N, 784] (and [28, 28] or [784] for one
    image when `single_ok`: an input with a batch dimension, [1, 28, 28] included, is a batch).
    Colour: [N, H, W, C] (channels last, as ``load_cifar10`` gives them) or [N, C, H, W] (and
    one image without N when `single_ok`). Values: uint8 0..255, other integers in 0..255,
    floats in [0, 1] (scaled by 255 and rounded: the engine keeps images as bytes, as the data
    sets' files hold them), or bools (True is full ink, 255)."""
    channels, rows, cols = shape
    if channels != 1:
        return _colour_images(x, name, single_ok, shape)
    a = np.asarray(x)
    single = False
    got = a.shape
    if a.ndim == 4 and got[1:] == (1, rows, cols):
        a = a.reshape(got[0], rows, cols)
    elif a.ndim == 2 and got[1] == rows * cols and got != (rows, cols):
        a = a.reshape(got[0], rows, cols)
    elif single_ok and a.shape in ((rows, cols), (rows * cols,)):
        a, single = a.reshape(1, rows, cols), True
    if a.ndim != 3 or a.shape[1:] != (rows, cols):
        one = f" (or one image: [{rows}, {cols}])" if single_ok else ""
        raise ValueError(
            f"{name} must hold {rows}x{cols} images, shaped [N, {rows}, {cols}], [N, 1, {rows}, {cols}] "
            f"or [N, {rows * cols}]{one}; got shape {list(got)}"
        )
    return _bytes(a, name), single


def _colour_images(x, name: str, single_ok: bool, shape):
    channels, rows, cols = shape
    a = np.asarray(x)
    got, single = a.shape, False
    if single_ok and a.ndim == 3:
        a, single = a[np.newaxis], True
    if a.ndim == 4 and a.shape[1:] == (rows, cols, channels):
        a = a.transpose(0, 3, 1, 2)
    if a.ndim != 4 or a.shape[1:] != (channels, rows, cols):
        one = f" (or one image: [{rows}, {cols}, {channels}])" if single_ok else ""
        raise ValueError(
            f"{name} must hold the network's {channels}x{rows}x{cols} images, shaped "
            f"[N, {rows}, {cols}, {channels}] or [N, {channels}, {rows}, {cols}]{one}; got shape {list(got)}"
        )
    return _bytes(a, name), single


def _bytes(a, name: str):
    """`a` as C-contiguous uint8 0..255, from bytes, other integers, floats in [0, 1] or bools."""
    if a.dtype == np.uint8:
        pass
    elif a.dtype == np.bool_:
        a = a.astype(np.uint8) * np.uint8(255)  # ink or no ink, not 1 out of 255
    elif a.dtype.kind == "f":
        if a.size and not np.isfinite(a).all():
            raise ValueError(f"{name} holds NaN or infinite values")
        if a.size and (a.min() < 0.0 or a.max() > 1.0):
            raise ValueError(
                f"{name} is a float array with values in [{a.min():g}, {a.max():g}]: float images "
                "must be in [0, 1] (or pass uint8 0..255)"
            )
        a = np.rint(a * 255.0).astype(np.uint8)
    elif a.dtype.kind in "iub":
        if a.size and (a.min() < 0 or a.max() > 255):
            raise ValueError(f"{name} holds values outside 0..255 ({a.min()}..{a.max()})")
        a = a.astype(np.uint8)
    else:
        raise ValueError(f"{name} must be a numeric array (uint8 0..255 or float in [0, 1]), got dtype {a.dtype}")
    return np.ascontiguousarray(a)


def rgba(image, name: str = "image"):
    """A picture (a PIL image, or an array: gray [H, W], RGB [H, W, 3], RGBA [H, W, 4]; uint8
    0..255, floats in [0, 1] or bools) as C-contiguous uint8 RGBA [H, W, 4], for the preprocessing
    a file gets."""
    if hasattr(image, "convert") and hasattr(image, "size"):  # a PIL image, without importing PIL
        image = image.convert("RGBA")
    a = np.asarray(image)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)) or 0 in a.shape:
        raise ValueError(
            f"{name} must be an image file, a PIL image or an array [H, W], [H, W, 3] or [H, W, 4]; "
            f"got shape {list(a.shape)}"
        )
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * np.uint8(255)
    elif a.dtype.kind == "f":
        if not np.isfinite(a).all() or a.min() < 0.0 or a.max() > 1.0:
            raise ValueError(f"{name} is a float array: its values must be finite and in [0, 1]")
        a = np.rint(a * 255.0).astype(np.uint8)
    elif a.dtype.kind in "iu":
        if a.min() < 0 or a.max() > 255:
            raise ValueError(f"{name} holds values outside 0..255 ({a.min()}..{a.max()})")
        a = a.astype(np.uint8)
    else:
        raise ValueError(f"{name} must be numeric, got dtype {a.dtype}")
    if a.ndim == 2:
        a = np.stack([a, a, a], axis=-1)
    if a.shape[2] == 3:
        a = np.concatenate([a, np.full(a.shape[:2] + (1,), 255, np.uint8)], axis=-1)
    return np.ascontiguousarray(a)


def labels(y, n: int, name: str = "y"):
    """`y` as a C-contiguous uint8 array [n] of classes 0..9."""
    a = np.asarray(y)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a.reshape(-1)
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of labels, got shape {list(a.shape)}")
    if len(a) != n:
        raise ValueError(f"{name} holds {len(a)} labels but there are {n} images")
    if a.dtype.kind == "f":
        if a.size and not (np.isfinite(a).all() and (a == np.rint(a)).all()):
            raise ValueError(f"{name} must hold whole numbers 0..9 (class labels)")
    elif a.dtype.kind not in "iub":
        raise ValueError(f"{name} must be an integer array of class labels 0..9, got dtype {a.dtype}")
    if a.size and (a.min() < 0 or a.max() >= CLASSES):
        raise ValueError(f"{name} holds labels outside 0..{CLASSES - 1} ({a.min()}..{a.max()})")
    return np.ascontiguousarray(a.astype(np.uint8))


def plane(a, name: str):
    """A 2-D float32 array for `convolve`."""
    a = np.asarray(a)
    if a.ndim != 2 or 0 in a.shape:
        raise ValueError(f"{name} must be a non-empty 2-D array, got shape {list(a.shape)}")
    if a.dtype.kind not in "iubf":
        raise ValueError(f"{name} must be numeric, got dtype {a.dtype}")
    a = a.astype(np.float32)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return np.ascontiguousarray(a)
