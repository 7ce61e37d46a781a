"""Rectangular domains: sampling, grids, normalisation."""

from __future__ import annotations

from typing import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np


class Box(eqx.Module):
    """An axis-aligned box `[lower₀, upper₀] × … × [lower_{d−1}, upper_{d−1}]`.

    **Arguments:**

    - `lower`, `upper`: sequences of `d` finite floats with `lower < upper` componentwise.
    - `names`: optional axis names, e.g. `("x", "y", "t")`.

    **Example:**

    ```python
    box = pde.Box(lower=[-1.0, -1.0], upper=[1.0, 1.0])
    x = box.sample_interior(jax.random.key(0), 1000)     # (1000, 2)
    xb = box.sample_boundary(jax.random.key(1), 400)     # (400, 2)
    ```
    """

    lower: tuple = eqx.field(static=True)
    upper: tuple = eqx.field(static=True)
    names: tuple = eqx.field(static=True)

    def __init__(self, lower: Sequence[float], upper: Sequence[float], names: Sequence[str] | None = None):
        lo = np.atleast_1d(np.asarray(lower, dtype=float))
        hi = np.atleast_1d(np.asarray(upper, dtype=float))
        if lo.ndim != 1 or hi.ndim != 1 or lo.shape != hi.shape:
            raise ValueError(f"`lower` and `upper` must be 1D sequences of equal length, got {lo.shape} and {hi.shape}.")
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            raise ValueError("`lower` and `upper` must be finite.")
        if not np.all(lo < hi):
            raise ValueError(f"`lower` must be < `upper` on every axis, got lower={lo.tolist()} upper={hi.tolist()}.")
        self.lower = tuple(float(v) for v in lo)
        self.upper = tuple(float(v) for v in hi)
        if names is None:
            names = ("x", "y", "z", "w")[: len(lo)] if len(lo) <= 4 else tuple(f"x{i}" for i in range(len(lo)))
        if len(names) != len(lo):
            raise ValueError(f"`names` must have {len(lo)} entries, got {len(names)}.")
        self.names = tuple(names)

    @property
    def ndim(self) -> int:
        return len(self.lower)

    @property
    def widths(self):
        return tuple(h - l for l, h in zip(self.lower, self.upper))

    def faces(self) -> list[tuple[int, int]]:
        """All faces as `(axis, side)` pairs, side 0 = lower, 1 = upper."""
        return [(a, s) for a in range(self.ndim) for s in (0, 1)]

    def sample_interior(self, key, n: int, dtype=None):
        """`n` points uniformly in the box, shape `(n, d)`."""
        dtype = dtype or jnp.zeros(()).dtype
        u = jax.random.uniform(key, (n, self.ndim), dtype)
        return jnp.asarray(self.lower, dtype) + u * jnp.asarray(self.widths, dtype)

    def sample_boundary(self, key, n: int, faces=None, dtype=None):
        """`n` points on the given faces (default all), faces chosen with probability ∝ their area."""
        faces = self.faces() if faces is None else list(faces)
        dtype = dtype or jnp.zeros(()).dtype
        w = np.asarray(self.widths)
        areas = np.array([np.prod(np.delete(w, a)) if self.ndim > 1 else 1.0 for a, _ in faces])
        k1, k2 = jax.random.split(key)
        which = jax.random.choice(k1, len(faces), (n,), p=jnp.asarray(areas / areas.sum()))
        x = self.sample_interior(k2, n, dtype)
        axes = jnp.asarray([a for a, _ in faces])[which]
        vals = jnp.asarray([self.upper[a] if s else self.lower[a] for a, s in faces], dtype)[which]
        onehot = jax.nn.one_hot(axes, self.ndim, dtype=bool)
        return jnp.where(onehot, vals[:, None], x)

    def grid(self, shape: Sequence[int], dtype=None):
        """Per-axis uniform coordinates including both end points: a tuple of 1D arrays."""
        dtype = dtype or jnp.zeros(()).dtype
        shape = tuple(shape)
        if len(shape) != self.ndim:
            raise ValueError(f"`shape` must have {self.ndim} entries (one per axis), got {shape}.")
        return tuple(jnp.linspace(l, h, n, dtype=dtype) for l, h, n in zip(self.lower, self.upper, shape))

    def grid_points(self, shape: Sequence[int], dtype=None):
        """Grid points of shape `(*shape, d)` (`indexing="ij"`)."""
        return jnp.stack(jnp.meshgrid(*self.grid(shape, dtype), indexing="ij"), axis=-1)

    def normalise(self, x):
        """Affine map of the box onto `[-1, 1]^d`."""
        lo = jnp.asarray(self.lower, x.dtype)
        w = jnp.asarray(self.widths, x.dtype)
        return 2 * (x - lo) / w - 1

    def contains(self, x, tol: float = 1e-9):
        x = jnp.asarray(x)
        return jnp.all((x >= jnp.asarray(self.lower) - tol) & (x <= jnp.asarray(self.upper) + tol), axis=-1)
