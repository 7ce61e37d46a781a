"""Input checks shared by all modules: each raises before compiling with a message naming the argument."""

from __future__ import annotations

from typing import Sequence

import jax
import numpy as np


def is_concrete(x) -> bool:
    """True when `x` holds concrete values (not a tracer), so host-side checks may look at it."""
    if isinstance(x, jax.core.Tracer):
        return False
    return getattr(x, "is_fully_addressable", True)


def check_shape(name: str, x, shape: Sequence[int], what: str = "") -> None:
    if tuple(np.shape(x)) != tuple(shape):
        extra = f" ({what})" if what else ""
        raise ValueError(f"`{name}` must have shape {tuple(shape)}{extra}, got {tuple(np.shape(x))}.")


def check_finite(name: str, x) -> None:
    if is_concrete(x):
        arr = np.asarray(x)
        if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
            n = int(np.size(arr) - np.isfinite(arr).sum())
            raise ValueError(f"`{name}` must be finite; it has {n} NaN/Inf entries.")


def check_float(name: str, x) -> None:
    dt = np.dtype(getattr(x, "dtype", np.asarray(x).dtype))
    if dt.kind not in "f":
        raise TypeError(f"`{name}` must be a floating-point array (float32 or float64), got dtype {dt}.")
