"""Argument checks shared by the public DCDM entry points (raised before anything is traced or compiled)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np


def check_op(op, name: str = "op") -> None:
    """`op` is a flag-grid Poisson operator (``linalg.poisson_operator``)."""
    from ..linalg import PoissonOperator

    if not isinstance(op, PoissonOperator):
        raise TypeError(f"`{name}` must be a sciml.linalg PoissonOperator (linalg.poisson_operator(flags)), "
                        f"got {type(op).__name__}.")


def _check_floating(name, x):
    dt = getattr(x, "dtype", None)
    if dt is None or not jnp.issubdtype(dt, jnp.floating):
        raise TypeError(f"`{name}` must be a floating-point array, got {getattr(dt, 'name', type(x).__name__)}.")


def check_grid(name: str, x, op) -> None:
    """`x` is one floating grid-shaped array of the operator's shape."""
    _check_floating(name, x)
    if tuple(np.shape(x)) != tuple(op.shape):
        raise ValueError(f"`{name}` must have the operator's grid shape {tuple(op.shape)}, got {tuple(np.shape(x))}.")


def check_samples(name: str, x, op) -> None:
    """`x` is a floating batch of grid-shaped rows ``(B, *op.shape)``."""
    _check_floating(name, x)
    if tuple(np.shape(x)[1:]) != tuple(op.shape) or np.ndim(x) != op.ndim + 1:
        raise ValueError(f"`{name}` must have shape (B, *{tuple(op.shape)}) (a batch of grid-shaped rows), "
                         f"got {tuple(np.shape(x))}.")


def check_flags(name: str, flags) -> np.ndarray:
    """A concrete 2D/3D integer flag grid."""
    a = np.asarray(flags)
    if a.ndim not in (2, 3):
        raise ValueError(f"`{name}` must be a 2D or 3D flag grid, got shape {a.shape}.")
    if not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"`{name}` must be an integer flag grid (FLUID=0, SOLID=1, AIR=2), got dtype {a.dtype}.")
    return a
