"""Checking the scalar arguments a user passes (counts, rates, devices): every message names the
argument. Arrays are `_arrays`'."""

from __future__ import annotations

import math
import operator


def int_arg(value, name: str, minimum: int) -> int:
    """`value` as an int of at least `minimum` (a bool is not one)."""
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


def float_arg(value, name: str) -> float:
    """`value` as a finite float."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(f):
        raise ValueError(f"{name} must be finite, got {f}")
    return f


def device_arg(device) -> str:
    """"auto", "cpu", "gpu" or an adapter index, as the text the extension takes."""
    if isinstance(device, bool):
        raise ValueError(f'device must be "auto", "cpu", "gpu" or an adapter index, got {device!r}')
    if isinstance(device, int):
        if device < 0:
            raise ValueError(f"device must be a non-negative adapter index, got {device}")
        return str(device)
    if not isinstance(device, str):
        raise ValueError(f'device must be "auto", "cpu", "gpu" or an adapter index, got {device!r}')
    return device


def held_out_arg(validation, images: int) -> int:
    """How many of `images` training images `fit`'s `validation` holds out: a share (a float in
    (0, 1)) or a count of them; 0 for a pair (x_val, y_val) or None."""
    if isinstance(validation, (tuple, list)):
        if len(validation) != 2:
            raise ValueError("validation must be a pair (x_val, y_val), a fraction or a count")
        return 0
    if validation is None:
        return 0
    if isinstance(validation, float):
        if not 0.0 < validation < 1.0:
            raise ValueError(f"validation as a share of x must be between 0 and 1, got {validation}")
        held_out = max(1, round(validation * images))
    else:
        held_out = int_arg(validation, "validation", 1)
    if held_out >= images:
        raise ValueError(f"validation holds out {held_out} of the {images} images: leave some to train on")
    return held_out


def target_arg(target_accuracy, keep_best, validation):
    """`fit`'s `target_accuracy` as a float fraction (or None), checked with `keep_best` against
    `validation`, which both judge by."""
    if target_accuracy is not None:
        target_accuracy = float_arg(target_accuracy, "target_accuracy")
        if not 0.0 < target_accuracy <= 1.0:
            raise ValueError(f"target_accuracy is a fraction in (0, 1], e.g. 0.99, got {target_accuracy}")
    if (target_accuracy is not None or keep_best) and validation is None:
        raise ValueError("target_accuracy and keep_best judge epochs by their validation accuracy: give validation")
    return target_accuracy


def maybe(check, value, *args):
    """``check(value, *args)``, or None for None (a setting not given)."""
    return None if value is None else check(value, *args)


def _choices(names) -> str:
    quoted = [f'"{n}"' for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def name_arg(value, name: str, names) -> str | None:
    """`value` if it is one of the library's `names` for `name` (None: not given)."""
    if value is None:
        return None
    if not isinstance(value, str) or value not in names:
        raise ValueError(f"{name} must be {_choices(names)}, got {value!r}")
    return value


def with_defaults(doc: str, defaults: dict, names: dict) -> str:
    """`doc` with each ``{default:KEY}`` the library's default and each ``{names:KEY}`` the
    library's names, so that ``help()`` shows what the library decides, written there alone."""
    for key, value in defaults.items():
        text = f"{value:.7g}" if isinstance(value, float) else str(value)
        doc = doc.replace("{default:%s}" % key, text)
    for key, values in names.items():
        doc = doc.replace("{names:%s}" % key, _choices(values))
    return doc
