"""Argument checks of the CAPE models, metrics and training (static shapes only at call time: safe under jit)."""

from __future__ import annotations

import numpy as np

from .._errors import check_choice, check_finite, check_float, check_int, check_ndim
from ..nn._checks import check_array

TRANSFORMS = ("raw", "sigmoid_log", "standardized_log", "standardized")


def check_stats(name: str, v, n_params: int | None, positive: bool = False) -> None:
    """`param_mean` / `param_std`: a finite scalar or one value per parameter (`param_std` > 0)."""
    try:
        arr = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a number or an array of numbers, got {type(v).__name__}.") from None
    if arr.ndim > 1 or (n_params is not None and arr.size not in (1, n_params)):
        raise ValueError(f"`{name}` must be a scalar or have n_params={n_params} values, got shape {arr.shape}.")
    if arr.size == 0:
        raise ValueError(f"`{name}` must not be empty.")
    check_finite(name, arr)
    if positive and np.any(arr <= 0):
        raise ValueError(f"`{name}` must be > 0 (it divides the parameters), got {arr.tolist()}.")


def check_grid(name: str, grid, ndim: int) -> tuple:
    """A tuple of `ndim` positive ints."""
    try:
        g = tuple(grid)
    except TypeError:
        raise TypeError(f"`{name}` must be a sequence of {ndim} positive ints, got {grid!r}.") from None
    if len(g) != ndim:
        raise ValueError(f"`{name}` must have {ndim} sizes (one per spatial axis), got {grid!r}.")
    return tuple(check_int(f"{name}[{i}]", n, minimum=1) for i, n in enumerate(g))


def check_window(who: str, window, ndim: int, in_channels: int, n_channels: int) -> None:
    """`window` of shape `(t_init, c, *grid)` (or `(c, *grid)`) holding `in_channels = t_init * c` channels."""
    check_array("window", window)
    shape = tuple(window.shape)
    if len(shape) not in (ndim + 1, ndim + 2):
        raise ValueError(f"`window` of {who} must have shape (t_init, c, *grid) with {ndim} grid axes, got {shape} "
                         "(one sample: vmap over a batch axis).")
    chans = int(np.prod(shape[: len(shape) - ndim]))
    if chans != in_channels or shape[-ndim - 1] != n_channels:
        raise ValueError(f"`window` of {who} must hold t_init * c = {in_channels} channels as (t_init, c={n_channels}, "
                         f"*grid), got shape {shape}.")
    if any(n < 1 for n in shape[-ndim:]):
        raise ValueError(f"`window` of {who} must have non-empty grid axes, got {shape}.")
    check_float("window", window)


def check_lam(who: str, lam, n_params: int | None) -> None:
    """`lam` of shape `(n_params,)`."""
    check_array("lam", lam)
    if len(lam.shape) != 1 or (n_params is not None and lam.shape[0] != n_params):
        raise ValueError(f"`lam` of {who} must have shape (n_params={n_params},) (one sample: vmap over a batch "
                         f"axis), got {tuple(lam.shape)}.")


def check_dataset(name: str, ds) -> None:
    from ._data import Dataset

    if not isinstance(ds, Dataset):
        raise TypeError(f"`{name}` must be a cape.Dataset, got {type(ds).__name__}.")
    if len(ds) == 0:
        raise ValueError(f"`{name}` must hold at least one trajectory.")


def check_t_init(name: str, t_init, n_frames: int | None = None) -> int:
    t_init = check_int(name, t_init, minimum=1)
    if n_frames is not None and t_init >= n_frames:
        raise ValueError(f"`{name}` must be < the number of frames ({n_frames}), got {t_init}.")
    return t_init


__all__ = ["TRANSFORMS", "check_stats", "check_grid", "check_window", "check_lam", "check_dataset", "check_t_init",
           "check_choice", "check_ndim"]
