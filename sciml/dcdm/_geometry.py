"""Flag-grid geometry generators and smooth right-hand sides for pressure-Poisson test problems.

Flags follow ``sciml.linalg``: FLUID = 0 (unknown), SOLID = 1 (Neumann wall), AIR = 2 (Dirichlet p = 0).
Generators return ``int8`` NumPy arrays (host-side set-up; pass them to ``linalg.poisson_operator``).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np
import scipy.ndimage as ndi

from ..linalg import AIR, FLUID, SOLID
from ._validate import check_flags


def _shape(shape) -> tuple[int, ...]:
    from .._errors import check_int

    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape, shape)
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"`shape` must be an int or a tuple of 2 or 3 ints, got {shape!r}.")
    if len(shape) not in (2, 3):
        raise ValueError(f"`shape` must be 2D or 3D, got {tuple(shape)}.")
    return tuple(check_int("shape", s, minimum=1) for s in shape)


def _check_box_coords(name, x, d):
    try:
        x = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        x = None
    if x is None or x.shape != (d,):
        raise ValueError(f"`{name}` must be a sequence of {d} numbers (units of the box side).")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"`{name}` must be finite, got {x.tolist()}.")
    return x


def _centres(shape):
    """Cell-centre coordinates in [0, 1] per axis, broadcastable to ``shape``."""
    out = []
    for ax, n in enumerate(shape):
        c = (np.arange(n) + 0.5) / n
        sh = [1] * len(shape)
        sh[ax] = n
        out.append(c.reshape(sh))
    return out


def empty_box(shape, *, wall: bool = True) -> np.ndarray:
    """Closed box: an outer layer of SOLID cells around FLUID (pure Neumann, like ``smoke_plume``).

    **Arguments:**

    - `shape`: grid size, an int `n` (a square `n × n` grid) or a tuple of 2 or 3 positive ints.
    - `wall`: `True` (default) puts the SOLID layer; `False` gives an all-FLUID grid (the operator's own
      domain boundary condition then applies).

    **Returns:** an `int8` NumPy flag grid.

    **Example:** `flags = dcdm.empty_box((64, 64))`
    """
    shape = _shape(shape)
    flags = np.full(shape, FLUID, np.int8)
    if wall:
        for ax in range(len(shape)):
            idx = [slice(None)] * len(shape)
            idx[ax] = 0
            flags[tuple(idx)] = SOLID
            idx[ax] = -1
            flags[tuple(idx)] = SOLID
    return flags


def sphere_obstacle(shape, *, centre=None, radius: float = 0.2, wall: bool = True,
                    flags: np.ndarray | None = None) -> np.ndarray:
    """Box with a SOLID sphere (disk in 2D).

    **Arguments:**

    - `shape`: grid size, an int `n` (a square `n × n` grid) or a tuple of 2 or 3 positive ints (ignored when `flags` is given).
    - `centre`: sphere centre, one coordinate per axis in units of the box side `[0, 1]` (default `None`: the
      middle of the box).
    - `radius`: sphere radius in units of the box side (positive, default `0.2`).
    - `wall`: surround the grid with one layer of SOLID cells (default `True`; `False` leaves the operator's own boundary condition at the grid edge).
    - `flags`: an existing flag grid to add the sphere to (copied, not modified); default `None`: a new
      [`empty_box`][sciml.dcdm.empty_box].

    **Returns:** an `int8` NumPy flag grid.
    """
    from .._errors import check_positive

    shape = _shape(shape) if flags is None else check_flags("flags", flags).shape
    check_positive("radius", radius)
    flags = empty_box(shape, wall=wall) if flags is None else np.array(flags, np.int8)
    centre = (0.5,) * len(shape) if centre is None else tuple(_check_box_coords("centre", centre, len(shape)))
    xs = _centres(shape)
    d2 = sum((x - c) ** 2 for x, c in zip(xs, centre))
    flags[np.broadcast_to(d2 <= radius**2, shape)] = SOLID
    return flags


def box_obstacle(shape, *, lower: Sequence[float], upper: Sequence[float], wall: bool = True,
                 flags: np.ndarray | None = None) -> np.ndarray:
    """Box with an axis-aligned SOLID box obstacle `[lower, upper]`.

    **Arguments:**

    - `shape`: grid size, an int `n` (a square `n × n` grid) or a tuple of 2 or 3 positive ints (ignored when `flags` is given).
    - `lower`, `upper`: the obstacle's corners, one coordinate per axis in units of the box side `[0, 1]`,
      `lower ≤ upper`.
    - `wall`: surround the grid with one layer of SOLID cells (default `True`; `False` leaves the operator's own boundary condition at the grid edge).
    - `flags`: an existing flag grid to add the obstacle to (copied); default `None`: a new
      [`empty_box`][sciml.dcdm.empty_box].

    **Returns:** an `int8` NumPy flag grid.

    **Raises:** `ValueError` for corners of the wrong length, non-finite or with `lower > upper`.
    """
    shape = _shape(shape) if flags is None else check_flags("flags", flags).shape
    lower = _check_box_coords("lower", lower, len(shape))
    upper = _check_box_coords("upper", upper, len(shape))
    if np.any(lower > upper):
        raise ValueError(f"`lower` must be <= `upper` on every axis, got {lower.tolist()} and {upper.tolist()}.")
    flags = empty_box(shape, wall=wall) if flags is None else np.array(flags, np.int8)
    xs = _centres(shape)
    inside = np.ones(shape, bool)
    for x, lo, hi in zip(xs, lower, upper):
        inside &= np.broadcast_to((x >= lo) & (x <= hi), shape)
    flags[inside] = SOLID
    return flags


def add_air_layer(flags: np.ndarray, *, thickness: float | int = 0.125, axis: int = -1) -> np.ndarray:
    """Turn the FLUID cells of the top layer (high end of `axis`) into AIR (a free surface, Dirichlet `p = 0`).

    **Arguments:**

    - `flags`: a 2D or 3D flag grid (not modified).
    - `thickness`: a fraction of the axis length in `(0, 1]` (float, default `0.125`, at least one cell) or a
      number of cells (int in `[0, n]`).
    - `axis`: the vertical axis (default `-1`, the last).

    **Returns:** a new `int8` NumPy flag grid.
    """
    from .._errors import check_int, check_real

    flags = np.array(check_flags("flags", flags), np.int8, copy=True)
    axis = check_int("axis", axis, minimum=-flags.ndim, maximum=flags.ndim - 1)
    n = flags.shape[axis]
    if isinstance(thickness, (int, np.integer)) and not isinstance(thickness, bool):
        k = check_int("thickness", thickness, minimum=0, maximum=n)
    else:
        k = max(1, round(check_real("thickness", thickness, minimum=0.0, maximum=1.0, strict_min=True) * n))
    idx = [slice(None)] * flags.ndim
    idx[axis] = slice(n - k, n)
    top = flags[tuple(idx)]
    top[top == FLUID] = AIR
    flags[tuple(idx)] = top
    return flags


def random_obstacles(key, shape, *, n_obstacles: int = 4, radius_range=(0.06, 0.18),
                     wall: bool = True, air: float | int | None = None) -> np.ndarray:
    """Box with random SOLID spheres and boxes (half each on average) and an optional AIR layer.

    **Arguments:**

    - `key`: a JAX PRNG key (the geometry is a deterministic function of it).
    - `shape`: grid size, an int `n` (a square `n × n` grid) or a tuple of 2 or 3 positive ints.
    - `n_obstacles`: number of obstacles (integer ≥ 0, default 4), centres uniform in `[0.2, 0.8]` per axis.
    - `radius_range`: `(low, high)` obstacle radius (half-width for boxes, times a random aspect in
      `[0.6, 1.4]`) in units of the box side, `0 < low ≤ high` (default `(0.06, 0.18)`).
    - `wall`: surround the grid with one layer of SOLID cells (default `True`; `False` leaves the operator's own boundary condition at the grid edge).
    - `air`: thickness of a top AIR layer as in [`add_air_layer`][sciml.dcdm.add_air_layer]; `None` (default)
      = none.

    **Returns:** an `int8` NumPy flag grid.
    """
    from .._errors import check_int

    shape = _shape(shape)
    n_obstacles = check_int("n_obstacles", n_obstacles, minimum=0)
    _check_range("radius_range", radius_range)
    flags = empty_box(shape, wall=wall)
    d = len(shape)
    k1, k2, k3, k4 = jax.random.split(key, 4)
    centres = np.asarray(jax.random.uniform(k1, (n_obstacles, d), minval=0.2, maxval=0.8))
    radii = np.asarray(jax.random.uniform(k2, (n_obstacles,), minval=radius_range[0],
                                          maxval=radius_range[1]))
    kinds = np.asarray(jax.random.bernoulli(k3, 0.5, (n_obstacles,)))
    aspect = np.asarray(jax.random.uniform(k4, (n_obstacles, d), minval=0.6, maxval=1.4))
    for c, r, is_box, a in zip(centres, radii, kinds, aspect):
        if is_box:
            flags = box_obstacle(shape, lower=c - r * a, upper=c + r * a, flags=flags)
        else:
            flags = sphere_obstacle(shape, centre=c, radius=float(r), flags=flags)
    if air is not None:
        flags = add_air_layer(flags, thickness=air)
    return flags


def _check_range(name, r):
    try:
        lo, hi = (float(v) for v in r)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a pair (low, high) of numbers, got {r!r}.") from None
    if not (0 < lo <= hi < np.inf):
        raise ValueError(f"`{name}` must satisfy 0 < low <= high (finite), got {r!r}.")


def disk_air(n: int = 32, ndim: int = 2, *, radius: float = 0.2, air: float = 0.125) -> np.ndarray:
    """The spec's standard "disk+air" (2D) / "sphere+air" (3D) problem: closed box, a centred solid
    disk/sphere, and a top AIR layer.

    **Arguments:**

    - `n`: cells per axis (integer ≥ 3, default 32).
    - `ndim`: 2 (default) or 3.
    - `radius`: the obstacle's radius in units of the box side (default `0.2`).
    - `air`: the AIR layer's thickness as a fraction of the height (default `0.125`).

    **Returns:** an `int8` NumPy flag grid of shape `(n,) * ndim`.

    **Example:** `op = linalg.poisson_operator(dcdm.disk_air(64))`
    """
    from .._errors import check_int

    n = check_int("n", n, minimum=3)
    if isinstance(ndim, bool) or ndim not in (2, 3):
        raise ValueError(f"`ndim` must be 2 or 3, got {ndim!r}.")
    flags = sphere_obstacle((n,) * ndim, radius=radius)
    return add_air_layer(flags, thickness=air)


def singular_components(flags: np.ndarray, *, dirichlet_boundary: bool = False) -> list[np.ndarray]:
    """Masks of the FLUID connected components without any Dirichlet contact (constant null space).

    A component is non-singular if it touches an AIR cell or, when ``dirichlet_boundary``, the
    domain boundary.
    """
    flags = np.asarray(flags)
    fluid = flags == FLUID
    labels, n = ndi.label(fluid)  # face connectivity
    if n == 0:
        return []
    air_near = ndi.binary_dilation(flags == AIR) & fluid
    touched = set(np.unique(labels[air_near]).tolist())
    if dirichlet_boundary:
        for ax in range(flags.ndim):
            for side in (0, -1):
                sl = [slice(None)] * flags.ndim
                sl[ax] = side
                touched |= set(np.unique(labels[tuple(sl)]).tolist())
    return [labels == i for i in range(1, n + 1) if i not in touched]


def project_range(b: np.ndarray, flags: np.ndarray, *, dirichlet_boundary: bool = False) -> np.ndarray:
    """Zero `b` off the FLUID cells and remove its mean on every pure-Neumann component, so that
    `b` lies in the range of the (possibly singular) Poisson operator.

    **Arguments:**

    - `b`: array of the flag grid's shape.
    - `flags`: the flag grid.
    - `dirichlet_boundary`: whether the grid edge is a Dirichlet boundary (a component touching it is then not
      pure Neumann); default `False`, matching `poisson_operator(..., boundary="neumann")`.

    **Returns:** a float64 NumPy array of the grid's shape.

    **Raises:** `ValueError` when `b`'s shape differs from the grid's.
    """
    flags = check_flags("flags", flags)
    if np.shape(b) != flags.shape:
        raise ValueError(f"`b` must have the flag grid's shape {flags.shape}, got {np.shape(b)}.")
    b = np.where(flags == FLUID, np.asarray(b, np.float64), 0.0)
    for comp in singular_components(flags, dirichlet_boundary=dirichlet_boundary):
        b[comp] -= b[comp].mean()
    return b


def plume_rhs(flags: np.ndarray, key=None, *, n_blobs: int = 3, width_range=(0.07, 0.18),
              dirichlet_boundary: bool = False, dtype=np.float64) -> np.ndarray:
    """A smooth plume-like right-hand side in the range of A, unit 2-norm.

    ``key=None`` gives the deterministic standard plume: ``d/dz`` of a Gaussian source low in the box
    (the divergence of a buoyant upward velocity blob).  With a key, ``n_blobs`` random Gaussian blobs
    (random sign, centre, width) plus a random vertical-derivative plume.  The result is zero on
    non-FLUID cells, has zero mean on every pure-Neumann component and is normalised.

    **Arguments:**

    - `flags`: a 2D or 3D flag grid.
    - `key`: a JAX PRNG key for a random right-hand side, or `None` (default) for the standard plume.
    - `n_blobs`: number of random Gaussian blobs (integer ≥ 0, default 3; with a key only).
    - `width_range`: `(low, high)` blob widths in units of the box side (default `(0.07, 0.18)`).
    - `dirichlet_boundary`: as in [`project_range`][sciml.dcdm.project_range] (default `False`).
    - `dtype`: NumPy dtype of the result (default float64).

    **Returns:** a NumPy array of the grid's shape with unit 2-norm.

    **Raises:** `ValueError` when the result vanishes (no FLUID cell) or `width_range` is not `0 < low ≤ high`;
    `TypeError` when it is not a pair of numbers.
    """
    from .._errors import check_int

    flags = check_flags("flags", flags)
    n_blobs = check_int("n_blobs", n_blobs, minimum=0)
    _check_range("width_range", width_range)
    shape = flags.shape
    d = len(shape)
    xs = _centres(shape)

    def gauss(c, w):
        return np.exp(-sum((x - ci) ** 2 for x, ci in zip(xs, c)) / (2 * w**2))

    def plume(c, w):
        # d/dz of a Gaussian (z = last axis), i.e. the divergence of an upward velocity blob
        return -(xs[-1] - c[-1]) / w**2 * gauss(c, w)

    if key is None:
        c = (0.5,) * (d - 1) + (0.3,)
        b = plume(c, 0.1)
    else:
        k1, k2, k3, k4 = jax.random.split(key, 4)
        cs = np.asarray(jax.random.uniform(k1, (n_blobs + 1, d), minval=0.15, maxval=0.85))
        ws = np.asarray(jax.random.uniform(k2, (n_blobs + 1,), minval=width_range[0],
                                           maxval=width_range[1]))
        signs = np.asarray(jax.random.rademacher(k3, (n_blobs,)), np.float64)
        amps = np.asarray(jax.random.uniform(k4, (n_blobs + 1,), minval=0.5, maxval=1.5))
        b = amps[-1] * ws[-1] * plume(cs[-1], ws[-1])
        for i in range(n_blobs):
            b = b + signs[i] * amps[i] * gauss(cs[i], ws[i])
    b = np.broadcast_to(b, shape)
    b = project_range(b, flags, dirichlet_boundary=dirichlet_boundary)
    nrm = np.linalg.norm(b)
    if nrm == 0:
        raise ValueError("plume_rhs: the right-hand side vanished on the FLUID cells (no fluid?).")
    return (b / nrm).astype(dtype)


def _ball_block_air(n: int) -> np.ndarray:
    """The held-out geometry of the fast-variant benchmark (never used in training): a closed box with a solid
    ball and a solid block and a top air layer (``n³``)."""
    f = sphere_obstacle((n,) * 3, centre=(0.35, 0.5, 0.4), radius=0.15)
    f = box_obstacle(f.shape, lower=(0.55, 0.3, 0.2), upper=(0.8, 0.7, 0.5), flags=f)
    return add_air_layer(f, thickness=0.125)
