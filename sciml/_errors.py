"""Input checks shared by all modules: each raises before compiling with a message naming the argument."""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
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
    dt = np.dtype(x.dtype) if hasattr(x, "dtype") else np.asarray(x).dtype  # tracers have a dtype
    if dt.kind not in "f":
        raise TypeError(f"`{name}` must be a floating-point array (float32 or float64), got dtype {dt}.")


def check_dtype(name: str, dtype) -> None:
    """`dtype` names a floating-point dtype (float16/bfloat16/float32/float64); TypeError otherwise."""
    try:
        dt = jnp.dtype(dtype)
    except TypeError:
        raise TypeError(f"`{name}` must be a floating-point dtype such as jnp.float32, got {dtype!r}.") from None
    if not jnp.issubdtype(dt, jnp.floating):
        raise TypeError(f"`{name}` must be a floating-point dtype such as jnp.float32, got {dt}.")


def _describe(x) -> str:
    return f"{x!r} ({type(x).__name__})"


def check_int(name: str, x, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """`x` is an integer (not bool, not float) within `[minimum, maximum]`; returns it as `int`."""
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
        raise TypeError(f"`{name}` must be an integer, got {_describe(x)}.")
    x = int(x)
    if minimum is not None and x < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {x}.")
    if maximum is not None and x > maximum:
        raise ValueError(f"`{name}` must be <= {maximum}, got {x}.")
    return x


def check_real(name: str, x, *, minimum: float | None = None, maximum: float | None = None,
               strict_min: bool = False, strict_max: bool = False) -> float:
    """`x` is a finite real scalar within the given bounds (strict or not); returns it as `float`."""
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)) and not (
            hasattr(x, "shape") and np.shape(x) == () and is_concrete(x)):
        raise TypeError(f"`{name}` must be a real number, got {_describe(x)}.")
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a real number, got {_describe(x)}.") from None
    if not np.isfinite(v):
        raise ValueError(f"`{name}` must be finite, got {v}.")
    if minimum is not None and (v <= minimum if strict_min else v < minimum):
        raise ValueError(f"`{name}` must be {'>' if strict_min else '>='} {minimum}, got {v}.")
    if maximum is not None and (v >= maximum if strict_max else v > maximum):
        raise ValueError(f"`{name}` must be {'<' if strict_max else '<='} {maximum}, got {v}.")
    return v


def check_positive(name: str, x) -> float:
    """`x` is a finite real scalar > 0."""
    return check_real(name, x, minimum=0.0, strict_min=True)


def check_choice(name: str, x, choices: Sequence) -> None:
    """`x` is one of `choices`."""
    if x not in tuple(choices):
        raise ValueError(f"`{name}` must be one of {tuple(choices)}, got {x!r}.")


def check_ndim(name: str, x, ndim, what: str = "") -> None:
    """`x` has `ndim` dimensions (an int or a tuple of allowed ints)."""
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if np.ndim(x) not in allowed:
        extra = f" ({what})" if what else ""
        want = " or ".join(str(a) for a in allowed)
        raise ValueError(f"`{name}` must have {want} dimensions{extra}, got shape {tuple(np.shape(x))}.")


def check_callable(name: str, x) -> None:
    if not callable(x):
        raise TypeError(f"`{name}` must be callable, got {_describe(x)}.")


def check_increasing(name: str, x, strict: bool = True) -> None:
    """A concrete 1-D array `x` is (strictly) increasing."""
    if is_concrete(x):
        d = np.diff(np.asarray(x))
        if (np.any(d <= 0) if strict else np.any(d < 0)):
            raise ValueError(f"`{name}` must be {'strictly ' if strict else ''}increasing.")


def check_safe_name(name: str, x) -> str:
    """`x` is a plain file or model name: no path separators, no `..`, not empty; returns it."""
    if not isinstance(x, str):
        raise TypeError(f"`{name}` must be a string, got {_describe(x)}.")
    if not x or x in (".", "..") or "/" in x or "\\" in x or "\x00" in x or x.startswith("."):
        raise ValueError(f"`{name}` must be a plain name without path separators or leading dots, got {x!r}.")
    return x


def safe_join(name: str, folder, *parts) -> "os.PathLike":
    """`folder / parts...`, refusing any result that escapes `folder` (after resolving `..` and links)."""
    import os
    import pathlib

    base = pathlib.Path(folder).resolve()
    out = base.joinpath(*[str(p) for p in parts]).resolve()
    if out != base and base not in out.parents:
        raise ValueError(f"`{name}` must stay inside {str(base)!r}; {os.path.join(*map(str, parts))!r} escapes it.")
    return out
