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
