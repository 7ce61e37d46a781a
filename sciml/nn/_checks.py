"""Argument checks shared by the model constructors and calls of `sciml.nn`, `sciml.cape` and `sciml.giorom`
(on top of `sciml._errors`). Call-time checks look at static shapes and dtypes only, so they work under jit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import check_dtype, check_float  # noqa: F401 - check_dtype re-exported for the nn checks


def _describe(x) -> str:
    shape = getattr(x, "shape", None)
    return f"{type(x).__name__}" + (f" of shape {tuple(shape)}" if shape is not None else f" {x!r}")


def check_key(name: str, key) -> None:
    """`key` is a JAX PRNG key: a typed key (`jax.random.key`) of shape `()` or a raw `uint32[2]` key
    (`jax.random.PRNGKey`). Works on tracers (dtype and shape only)."""
    dt = getattr(key, "dtype", None)
    if dt is not None and jnp.issubdtype(dt, jax.dtypes.prng_key):
        if np.shape(key) != ():
            raise ValueError(f"`{name}` must be a single PRNG key (shape ()), got a key array of shape "
                             f"{tuple(np.shape(key))}; index or split it first.")
        return
    if dt is not None and np.dtype(dt) == np.uint32 and tuple(np.shape(key)) == (2,):
        return
    raise TypeError(f"`{name}` must be a JAX PRNG key (e.g. jax.random.key(0)), got {_describe(key)}.")


def check_array(name: str, x):
    """`x` is an array (NumPy or JAX, concrete or traced); returns it (lists/scalars are refused: a model input
    must carry a shape)."""
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise TypeError(f"`{name}` must be an array, got {_describe(x)}.")
    return x


def check_field(who: str, name: str, x, ndim: int, channels: int | None, what: str = "channels") -> None:
    """A channels-first field `x` of shape `(channels, *grid[ndim])` with a floating dtype, from static shape and
    dtype only (safe under jit)."""
    check_array(name, x)
    shape = tuple(x.shape)
    if len(shape) != ndim + 1 or (channels is not None and shape[0] != channels):
        c = "C" if channels is None else f"{what}={channels}"
        batch = (" (one sample: vmap over a batch axis)" if len(shape) == ndim + 2 and
                 (channels is None or shape[1] == channels) else "")
        raise ValueError(f"`{name}` of {who} must have shape ({c}, *grid) with {ndim} grid axes, got {shape}{batch}.")
    if any(n < 1 for n in shape[1:]):
        raise ValueError(f"`{name}` of {who} must have non-empty grid axes, got {shape}.")
    check_float(name, x)


def check_param_dtype(who: str, name: str, x, dtype) -> None:
    """`x` has the model's parameter dtype (its convolutions do not promote): a clear error instead of XLA's."""
    if np.dtype(x.dtype) != np.dtype(dtype):
        raise TypeError(f"`{name}` has dtype {np.dtype(x.dtype)} but the {who}'s parameters are {np.dtype(dtype)}: cast "
                        f"it (`{name}.astype(jnp.{np.dtype(dtype)})`) or build the model with dtype=jnp.{np.dtype(x.dtype)}.")


def check_instance(name: str, x, cls, what: str | None = None) -> None:
    if not isinstance(x, cls):
        want = what or (cls.__name__ if isinstance(cls, type) else " or ".join(c.__name__ for c in cls))
        raise TypeError(f"`{name}` must be a {want}, got {type(x).__name__}.")


def check_bool(name: str, x) -> bool:
    if not isinstance(x, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be True or False, got {x!r} ({type(x).__name__}).")
    return bool(x)
