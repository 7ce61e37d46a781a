"""Argument checks of the GIOROM/GNS models, rollouts and training (static shapes only at call time)."""

from __future__ import annotations

import numpy as np

from .._errors import check_finite, check_float, check_int, is_concrete
from ..nn._checks import check_array

METADATA_KEYS = ("bounds", "default_connectivity_radius", "vel_mean", "vel_std", "acc_mean", "acc_std")


def check_metadata(md, need_radius: bool = True) -> int:
    """GNS metadata: a dict with `bounds` ((lo, hi) per dimension, lo < hi), a positive connectivity radius and
    finite velocity/acceleration statistics of one length each (stds >= 0); returns the dimension."""
    if not isinstance(md, dict):
        raise TypeError(f"`metadata` must be a dict (GNS metadata.json), got {type(md).__name__}.")
    missing = [k for k in METADATA_KEYS if k not in md and (need_radius or k != 'default_connectivity_radius')]
    if missing:
        raise ValueError(f"`metadata` is missing the key(s) {missing} (see giorom.compute_metadata).")
    try:
        b = np.asarray(md["bounds"], np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"`metadata['bounds']` must be numeric (lo, hi) pairs, got {md['bounds']!r}.") from None
    if b.ndim != 2 or b.shape[1] != 2 or b.shape[0] < 1 or not np.all(np.isfinite(b)) or np.any(b[:, 1] <= b[:, 0]):
        raise ValueError(f"`metadata['bounds']` must be finite (lo, hi) pairs with lo < hi, got {md['bounds']!r}.")
    d = b.shape[0]
    r = md.get("default_connectivity_radius", 1.0)
    if isinstance(r, bool) or not isinstance(r, (int, float, np.number)) or not np.isfinite(r) or r <= 0:
        raise ValueError(f"`metadata['default_connectivity_radius']` must be a positive number, got {r!r}.")
    for k in ("vel_mean", "vel_std", "acc_mean", "acc_std"):
        try:
            v = np.asarray(md[k], np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"`metadata[{k!r}]` must be {d} numbers, got {md[k]!r}.") from None
        if v.shape != (d,) or not np.all(np.isfinite(v)) or (k.endswith("std") and np.any(v < 0)):
            raise ValueError(f"`metadata[{k!r}]` must be {d} finite numbers{' >= 0' if k.endswith('std') else ''} "
                             f"(one per dimension of `bounds`), got {md[k]!r}.")
    return d


def check_window(who: str, window, frames: int, dim: int, n: int | None = None, name: str = "window") -> None:
    """A position window `(frames, n, dim)` of floats (static shape and dtype)."""
    check_array(name, window)
    s = tuple(window.shape)
    if len(s) != 3 or s[0] != frames or s[2] != dim or (n is not None and s[1] != n) or s[1] < 1:
        want = f"({frames}, {'N' if n is None else n}, {dim})"
        extra = " (one sample: vmap over a batch axis)" if len(s) == 4 else ""
        raise ValueError(f"`{name}` of {who} must have shape {want} (frames, particles, dims), got {s}{extra}.")
    check_float(name, window)


def check_particle_type(who: str, ptype, n: int, name: str = "particle_type", n_types: int = 9) -> None:
    check_array(name, ptype)
    if tuple(ptype.shape) != (n,):
        raise ValueError(f"`{name}` of {who} must have shape ({n},) (one type id per particle), got {tuple(ptype.shape)}.")
    if np.dtype(ptype.dtype).kind not in "iu":
        raise TypeError(f"`{name}` of {who} must hold integer type ids, got dtype {ptype.dtype}.")
    if is_concrete(ptype) and ptype.size and (int(np.min(ptype)) < 0 or int(np.max(ptype)) >= n_types):
        raise ValueError(f"`{name}` of {who} must hold type ids in [0, {n_types}), got values in "
                         f"[{int(np.min(ptype))}, {int(np.max(ptype))}].")


def check_positions(name: str, positions, ndim: int = 4, dim: int | None = None):
    """A concrete float array of `ndim` axes (last one `dim` if given), finite; returns it as NumPy."""
    try:
        p = np.asarray(positions)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a numeric array, got {type(positions).__name__}.") from None
    if p.dtype.kind not in "fiu":
        raise TypeError(f"`{name}` must be a numeric array, got dtype {p.dtype}.")
    if p.ndim != ndim or 0 in p.shape or (dim is not None and p.shape[-1] != dim):
        names = {4: "(B, T, N, d)", 3: "(T, N, d)", 2: "(N, d)"}[ndim]
        raise ValueError(f"`{name}` must be a non-empty array of shape {names}, got {p.shape}.")
    check_finite(name, p)
    return p


def check_dataset(name: str, ds):
    from ._data import ParticleDataset

    if not isinstance(ds, ParticleDataset):
        raise TypeError(f"`{name}` must be a giorom.ParticleDataset, got {type(ds).__name__}.")
    if len(ds) == 0:
        raise ValueError(f"`{name}` must hold at least one trajectory.")


def check_count(name: str, n, maximum: int, what: str) -> int:
    n = check_int(name, n, minimum=1)
    if n > maximum:
        raise ValueError(f"`{name}` must be <= {what} ({maximum}), got {n}.")
    return n
