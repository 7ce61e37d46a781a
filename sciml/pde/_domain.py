"""Domains: boxes, balls, polygons and their set operations, with interior/boundary sampling and normals.

Every domain is a signed-distance-like function `sdf(x)` (negative inside, zero on the boundary; exact for the
primitives, sign-correct for set operations), a bounding box (`lower`, `upper`, used to normalise model inputs)
and a boundary sampler returning points together with outward unit normals. Samplers are pure JAX with static
sizes (jittable): non-box regions draw a fixed multiple of candidates in the bounding box (or on the parts'
boundaries) and keep the first `n` accepted ones after a random permutation, the multiple set from the
acceptance fraction measured once, on the host, when the domain is built.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np



def _default_dtype(dtype):
    return dtype or jnp.zeros(()).dtype


def _take_accepted(key, x, extra, mask, n):
    """`n` rows of `x` (and `extra`) where `mask` holds, uniformly at random; static shapes. If fewer than `n`
    are accepted (rare: the candidate count is sized for ~2x the need) accepted rows repeat."""
    perm = jax.random.permutation(key, x.shape[0])
    x, extra, mask = x[perm], extra[perm], mask[perm]
    order = jnp.argsort(~mask, stable=True)
    count = jnp.maximum(jnp.sum(mask), 1)
    idx = order[jnp.arange(n) % count]
    return x[idx], extra[idx]


def _oversample(fraction: float) -> float:
    """Candidate multiple for an acceptance fraction (2x the expected need plus slack)."""
    return 2.0 / max(fraction, 1e-3) + 0.1


class Domain(eqx.Module):
    """Base class of the domains. Subclasses define `ndim`, `lower`/`upper` (bounding box), `sdf`,
    `_interior_candidates`, `_boundary_candidates` and `boundary_measure`.

    Set operations: `a - b` ([`difference`][sciml.pde.difference]), `a | b` ([`union`][sciml.pde.union]),
    `a & b` ([`intersection`][sciml.pde.intersection]).
    """

    # -- to implement -----------------------------------------------------------------------------------
    @property
    def ndim(self) -> int:
        raise NotImplementedError

    def sdf(self, x):
        """Signed distance to the boundary (exact for primitives, sign-correct for set operations): < 0 inside.

        **Arguments:**

        - `x`: points, shape `(..., d)`.

        **Returns:** the signed distances, shape `(...)`.
        """
        raise NotImplementedError

    def boundary_measure(self) -> float:
        """Length (2D) / area (3D) of the boundary (estimated for set operations)."""
        raise NotImplementedError

    def _boundary_candidates(self, key, m: int, dtype):
        raise NotImplementedError

    def _interior_fraction(self) -> float:
        raise NotImplementedError

    # -- shared -----------------------------------------------------------------------------------------
    @property
    def widths(self):
        return tuple(h - l for l, h in zip(self.lower, self.upper))

    @property
    def is_box(self) -> bool:
        return False

    def contains(self, x, tol: float = 1e-9):
        """Boolean mask of the points inside the closed domain.

        **Arguments:**

        - `x`: points, shape `(..., d)`.
        - `tol`: tolerance in length units: points with signed distance `≤ tol` count as inside (default `1e-9`).

        **Returns:** a boolean array of shape `(...)`.
        """
        x = jnp.asarray(x)
        return self.sdf(x) <= tol

    def bounding_box(self) -> "Box":
        return Box(self.lower, self.upper)

    def sample_interior(self, key, n: int, dtype=None):
        """`n` points uniformly distributed in the domain (rejection sampling in the bounding box; jitted).

        **Arguments:**

        - `key`: a JAX PRNG key.
        - `n`: number of points (static integer ≥ 1).
        - `dtype`: floating dtype of the result (default `None`: JAX's default float, float32 unless x64 is on).

        **Returns:** points of shape `(n, d)`.
        """
        return _jit_interior(self, key, n, _default_dtype(dtype))

    def _sample_interior(self, key, n, dtype):
        m = int(math.ceil(n * _oversample(self._interior_fraction()))) + 8
        k1, k2 = jax.random.split(key)
        x = self.bounding_box()._sample_interior(k1, m, dtype)
        return _take_accepted(k2, x, x, self.contains(x, 0.0), n)[0]

    def sample_boundary_normals(self, key, n: int, dtype=None, faces=None, where: Callable | None = None):
        """`n` boundary points and their outward unit normals, uniform in boundary measure.

        **Arguments:**

        - `key`: a JAX PRNG key.
        - `n`: number of points (static integer ≥ 1).
        - `dtype`: floating dtype of the result (default `None`: JAX's default float, float32 unless x64 is on).
        - `faces`: box only: a list of `(axis, side)` pairs (side 0 = lower, 1 = upper) or `"all"`; `None`
          (default) = the whole boundary.
        - `where`: optional predicate `x (d,) -> bool` (written with `jnp`) restricting to part of the boundary;
          `None` (default) = no restriction.

        **Returns:** `(x, normals)`, each of shape `(n, d)`.

        **Raises:** `ValueError` for `faces` on a non-box domain or a `where` that accepts no boundary point.
        """
        dtype = _default_dtype(dtype)
        if faces is not None and not self.is_box:
            raise ValueError("`faces` applies to a pde.Box only; use `where=` on other domains.")
        if faces is not None:
            faces = tuple(self._resolve_faces(faces))
        frac = None if where is None else _where_fraction(self, where, faces)
        return _jit_boundary(self, key, n, dtype, faces, where, frac)

    def _sample_boundary(self, key, n, dtype, faces=None, where=None, frac=None):
        cand = (lambda k, m: self._boundary_candidates(k, m, dtype, faces)) if self.is_box else (
            lambda k, m: self._boundary_candidates(k, m, dtype))
        if where is None:
            return cand(key, n)
        m = int(math.ceil(n * _oversample(frac))) + 8
        k1, k2 = jax.random.split(key)
        x, nrm = cand(k1, m)
        mask = jnp.asarray(jax.vmap(where)(x), bool).reshape(-1)
        return _take_accepted(k2, x, nrm, mask, n)

    def sample_boundary(self, key, n: int, faces=None, dtype=None, where: Callable | None = None):
        """`n` boundary points, uniform in boundary measure.

        **Arguments:** `key`, `n`, `faces`, `dtype`, `where`: as in
        [`sample_boundary_normals`][sciml.pde.Domain.sample_boundary_normals].

        **Returns:** points of shape `(n, d)`.
        """
        return self.sample_boundary_normals(key, n, dtype, faces, where)[0]

    def grid_points(self, shape: Sequence[int], dtype=None):
        """Points of a uniform grid on the bounding box (end points included, `indexing="ij"`); mask them with
        `contains`.

        **Arguments:**

        - `shape`: number of grid points per axis, `d` integers.
        - `dtype`: floating dtype of the result (default `None`: JAX's default float, float32 unless x64 is on).

        **Returns:** points of shape `(*shape, d)`.
        """
        return self.bounding_box().grid_points(shape, dtype)

    def normalise(self, x):
        """Affine map of the bounding box onto `[-1, 1]^d`.

        **Arguments:**

        - `x`: floating points, shape `(..., d)`.

        **Returns:** the mapped points, same shape and dtype.
        """
        lo = jnp.asarray(self.lower, x.dtype)
        w = jnp.asarray(self.widths, x.dtype)
        return 2 * (x - lo) / w - 1

    def __sub__(self, other):
        return difference(self, other)

    def __or__(self, other):
        return union(self, other)

    def __and__(self, other):
        return intersection(self, other)


_jit_interior = eqx.filter_jit(lambda d, key, n, dtype: d._sample_interior(key, n, dtype))
_jit_boundary = eqx.filter_jit(lambda d, key, n, dtype, faces, where, frac: d._sample_boundary(
    key, n, dtype, faces, where, frac))


@eqx.filter_jit
def _where_mask(domain, where, faces):
    x, _ = domain._sample_boundary(jax.random.key(12345), 4096, jnp.float32, faces)
    return jax.vmap(where)(x)


def _where_fraction(domain, where, faces) -> float:
    """Host estimate of the fraction of boundary candidates accepted by `where` (raises if none are)."""
    try:
        mask = np.asarray(_where_mask(domain, where, None if faces is None else tuple(faces))).reshape(-1)
    except Exception as e:  # noqa: BLE001 - report what the predicate did
        raise TypeError(f"`where` must be a predicate x (d,) -> bool written with jnp; calling it failed: {e}") from e
    if mask.dtype != bool and mask.dtype.kind not in "iu":
        raise TypeError(f"`where` must return a bool, got dtype {mask.dtype}.")
    frac = float(np.mean(mask.astype(bool)))
    if frac == 0.0:
        raise ValueError("`where` selects no part of the boundary (0 of 4,096 sampled boundary points).")
    return frac


def _check_bounds(lower, upper):
    lo = np.atleast_1d(np.asarray(lower, dtype=float))
    hi = np.atleast_1d(np.asarray(upper, dtype=float))
    if lo.ndim != 1 or hi.ndim != 1 or lo.shape != hi.shape:
        raise ValueError(f"`lower` and `upper` must be 1D sequences of equal length, got {lo.shape} and {hi.shape}.")
    if lo.size == 0:
        raise ValueError("`lower` and `upper` must have at least one entry (a domain of dimension >= 1).")
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise ValueError("`lower` and `upper` must be finite.")
    if not np.all(lo < hi):
        raise ValueError(f"`lower` must be < `upper` on every axis, got lower={lo.tolist()} upper={hi.tolist()}.")
    return lo, hi


class Box(Domain):
    """An axis-aligned box `[lower₀, upper₀] × … × [lower_{d−1}, upper_{d−1}]`.

    **Arguments:**

    - `lower`, `upper`: sequences of `d` finite floats with `lower < upper` componentwise.
    - `names`: optional axis names, e.g. `("x", "y", "t")`.

    **Example:**

    ```python
    box = pde.Box(lower=[-1.0, -1.0], upper=[1.0, 1.0])
    x = box.sample_interior(jax.random.key(0), 1000)     # (1000, 2)
    xb = box.sample_boundary(jax.random.key(1), 400)     # (400, 2)
    xb, nb = box.sample_boundary_normals(jax.random.key(2), 400)  # points and outward normals
    ```
    """

    lower: tuple = eqx.field(static=True)
    upper: tuple = eqx.field(static=True)
    names: tuple = eqx.field(static=True)

    def __init__(self, lower: Sequence[float], upper: Sequence[float], names: Sequence[str] | None = None):
        lo, hi = _check_bounds(lower, upper)
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
    def is_box(self) -> bool:
        return True

    def bounding_box(self) -> "Box":
        return self

    def faces(self) -> list[tuple[int, int]]:
        """All faces as `(axis, side)` pairs, side 0 = lower, 1 = upper."""
        return [(a, s) for a in range(self.ndim) for s in (0, 1)]

    def _interior_fraction(self) -> float:
        return 1.0

    def _face_areas(self, faces):
        w = np.asarray(self.widths)
        return np.array([np.prod(np.delete(w, a)) if self.ndim > 1 else 1.0 for a, _ in faces])

    def boundary_measure(self) -> float:
        return float(self._face_areas(self.faces()).sum())

    def sdf(self, x):
        x = jnp.asarray(x)
        lo = jnp.asarray(self.lower, x.dtype)
        hi = jnp.asarray(self.upper, x.dtype)
        q = jnp.maximum(lo - x, x - hi)  # per-axis distance outside (negative inside)
        outside = jnp.linalg.norm(jnp.maximum(q, 0.0), axis=-1)
        inside = jnp.minimum(jnp.max(q, axis=-1), 0.0)
        return outside + inside

    def contains(self, x, tol: float = 1e-9):
        x = jnp.asarray(x)
        return jnp.all((x >= jnp.asarray(self.lower) - tol) & (x <= jnp.asarray(self.upper) + tol), axis=-1)

    def sample_interior(self, key, n: int, dtype=None):
        """`n` points uniformly distributed in the box.

        **Arguments:**

        - `key`: a JAX PRNG key.
        - `n`: number of points (integer ≥ 1).
        - `dtype`: floating dtype of the result (default `None`: JAX's default float, float32 unless x64 is on).

        **Returns:** points of shape `(n, d)`.
        """
        return self._sample_interior(key, n, _default_dtype(dtype))

    def _sample_interior(self, key, n, dtype):
        u = jax.random.uniform(key, (n, self.ndim), dtype)
        return jnp.asarray(self.lower, dtype) + u * jnp.asarray(self.widths, dtype)

    def _resolve_faces(self, faces):
        faces = self.faces() if faces is None or faces == "all" else list(faces)
        for f in faces:
            if not (isinstance(f, tuple) and len(f) == 2 and 0 <= int(f[0]) < self.ndim and f[1] in (0, 1)):
                raise ValueError(f"`faces` entries must be (axis, side) with 0 <= axis < {self.ndim} and side 0/1, "
                                 f"got {f!r}.")
        if not faces:
            raise ValueError("`faces` must name at least one face.")
        return faces

    def _boundary_candidates(self, key, n, dtype, faces=None):
        faces = self._resolve_faces(faces)
        areas = self._face_areas(faces)
        k1, k2 = jax.random.split(key)
        which = jax.random.choice(k1, len(faces), (n,), p=jnp.asarray(areas / areas.sum()))
        x = self._sample_interior(k2, n, dtype)
        axes = jnp.asarray([a for a, _ in faces])[which]
        vals = jnp.asarray([self.upper[a] if s else self.lower[a] for a, s in faces], dtype)[which]
        sign = jnp.asarray([1.0 if s else -1.0 for _, s in faces], dtype)[which]
        onehot = jax.nn.one_hot(axes, self.ndim, dtype=dtype)
        x = jnp.where(onehot > 0, vals[:, None], x)
        return x, onehot * sign[:, None]

    def grid(self, shape: Sequence[int], dtype=None):
        """Per-axis uniform coordinates, both end points included.

        **Arguments:**

        - `shape`: number of points per axis, `d` integers.
        - `dtype`: floating dtype of the result (default `None`: JAX's default float, float32 unless x64 is on).

        **Returns:** a tuple of `d` 1D arrays (`shape[i]` points from `lower[i]` to `upper[i]`).

        **Raises:** `ValueError` when `shape` does not have one entry per axis.
        """
        dtype = _default_dtype(dtype)
        shape = tuple(shape)
        if len(shape) != self.ndim:
            raise ValueError(f"`shape` must have {self.ndim} entries (one per axis), got {shape}.")
        return tuple(jnp.linspace(l, h, n, dtype=dtype) for l, h, n in zip(self.lower, self.upper, shape))

    def grid_points(self, shape: Sequence[int], dtype=None):
        """Grid points of the box (`indexing="ij"`).

        **Arguments:** `shape`, `dtype`: as in [`grid`][sciml.pde.Box.grid].

        **Returns:** points of shape `(*shape, d)`.
        """
        return jnp.stack(jnp.meshgrid(*self.grid(shape, dtype), indexing="ij"), axis=-1)


class Ball(Domain):
    """A ball `{x : |x − center| ≤ radius}` in any dimension (a disc in 2D).

    **Arguments:**

    - `center`: sequence of `d ≥ 1` finite floats.
    - `radius`: positive float.

    **Example:**

    ```python
    disc = pde.Ball([0.0, 0.0], 1.0)
    x = disc.sample_interior(jax.random.key(0), 500)
    xb, normals = disc.sample_boundary_normals(jax.random.key(1), 200)   # normals = xb / 1.0
    ```
    """

    center: tuple = eqx.field(static=True)
    radius: float = eqx.field(static=True)

    def __init__(self, center: Sequence[float], radius: float):
        c = np.atleast_1d(np.asarray(center, dtype=float))
        if c.ndim != 1 or c.size == 0 or not np.all(np.isfinite(c)):
            raise ValueError(f"`center` must be a non-empty 1D sequence of finite floats, got {center!r}.")
        if isinstance(radius, bool) or not np.isscalar(radius) or not np.isfinite(radius) or radius <= 0:
            raise ValueError(f"`radius` must be a positive finite float, got {radius!r}.")
        self.center = tuple(float(v) for v in c)
        self.radius = float(radius)

    @property
    def ndim(self) -> int:
        return len(self.center)

    @property
    def lower(self):
        return tuple(c - self.radius for c in self.center)

    @property
    def upper(self):
        return tuple(c + self.radius for c in self.center)

    def _interior_fraction(self) -> float:
        d = self.ndim
        return math.pi ** (d / 2) / math.gamma(d / 2 + 1) / 2**d

    def boundary_measure(self) -> float:
        d = self.ndim
        return 2 * math.pi ** (d / 2) / math.gamma(d / 2) * self.radius ** (d - 1)

    def sdf(self, x):
        x = jnp.asarray(x)
        return jnp.linalg.norm(x - jnp.asarray(self.center, x.dtype), axis=-1) - self.radius

    def _boundary_candidates(self, key, n, dtype):
        if self.ndim == 1:
            v = jnp.where(jax.random.bernoulli(key, 0.5, (n, 1)), 1.0, -1.0).astype(dtype)
        else:
            v = jax.random.normal(key, (n, self.ndim), dtype)
            v = v / jnp.linalg.norm(v, axis=-1, keepdims=True)
        return jnp.asarray(self.center, dtype) + self.radius * v, v


class Polygon(Domain):
    """A simple polygon in 2D given by its vertices (either orientation; not self-intersecting).

    **Arguments:**

    - `vertices`: `(m, 2)` finite floats, `m ≥ 3`, the closing edge implied.

    **Example:**

    ```python
    L = pde.Polygon([[0, 0], [2, 0], [2, 1], [1, 1], [1, 2], [0, 2]])   # an L-shape
    xb, normals = L.sample_boundary_normals(jax.random.key(0), 300)
    ```
    """

    vertices: tuple = eqx.field(static=True)  # counter-clockwise

    def __init__(self, vertices):
        v = np.asarray(vertices, dtype=float)
        if v.ndim != 2 or v.shape[1] != 2 or v.shape[0] < 3:
            raise ValueError(f"`vertices` must have shape (m, 2) with m >= 3, got {v.shape}.")
        if not np.all(np.isfinite(v)):
            raise ValueError("`vertices` must be finite.")
        e = np.roll(v, -1, axis=0) - v
        if np.any(np.linalg.norm(e, axis=1) == 0):
            raise ValueError("`vertices` has repeated consecutive points (a zero-length edge).")
        area2 = float(np.sum(v[:, 0] * np.roll(v[:, 1], -1) - np.roll(v[:, 0], -1) * v[:, 1]))
        if abs(area2) < 1e-12 * max(1.0, float(np.abs(v).max()) ** 2):
            raise ValueError("`vertices` enclose zero area.")
        if area2 < 0:
            v = v[::-1]
        if _self_intersecting(v):
            raise ValueError("`vertices` describe a self-intersecting polygon; give a simple polygon.")
        self.vertices = tuple(tuple(float(c) for c in p) for p in v)

    @property
    def ndim(self) -> int:
        return 2

    @property
    def lower(self):
        v = np.asarray(self.vertices)
        return tuple(float(c) for c in v.min(0))

    @property
    def upper(self):
        v = np.asarray(self.vertices)
        return tuple(float(c) for c in v.max(0))

    def area(self) -> float:
        v = np.asarray(self.vertices)
        return 0.5 * float(np.sum(v[:, 0] * np.roll(v[:, 1], -1) - np.roll(v[:, 0], -1) * v[:, 1]))

    def _interior_fraction(self) -> float:
        return self.area() / float(np.prod(self.widths))

    def _edges(self):
        v = np.asarray(self.vertices)
        return v, np.roll(v, -1, axis=0) - v

    def boundary_measure(self) -> float:
        return float(np.linalg.norm(self._edges()[1], axis=1).sum())

    def sdf(self, x):
        x = jnp.asarray(x)
        v, e = self._edges()
        a = jnp.asarray(v, x.dtype)
        e = jnp.asarray(e, x.dtype)
        w = x[..., None, :] - a  # (..., m, 2)
        t = jnp.clip(jnp.sum(w * e, -1) / jnp.sum(e * e, -1), 0.0, 1.0)
        dist = jnp.min(jnp.linalg.norm(w - t[..., None] * e, axis=-1), axis=-1)
        # crossing number along +x for the sign
        y = x[..., None, 1]
        y0, y1 = a[:, 1], a[:, 1] + e[:, 1]
        straddle = (y0 <= y) != (y1 <= y)
        xc = a[:, 0] + (y - y0) / jnp.where(e[:, 1] == 0, 1.0, e[:, 1]) * e[:, 0]
        inside = jnp.sum(straddle & (x[..., None, 0] < xc), axis=-1) % 2 == 1
        return jnp.where(inside, -dist, dist)

    def _boundary_candidates(self, key, n, dtype):
        v, e = self._edges()
        lengths = np.linalg.norm(e, axis=1)
        k1, k2 = jax.random.split(key)
        which = jax.random.choice(k1, len(v), (n,), p=jnp.asarray(lengths / lengths.sum()))
        t = jax.random.uniform(k2, (n, 1), dtype)
        x = jnp.asarray(v, dtype)[which] + t * jnp.asarray(e, dtype)[which]
        normals = np.stack([e[:, 1], -e[:, 0]], axis=1) / lengths[:, None]  # outward for counter-clockwise
        return x, jnp.asarray(normals, dtype)[which]


def _self_intersecting(v) -> bool:
    m = len(v)

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    for i in range(m):
        p1, p2 = v[i], v[(i + 1) % m]
        for j in range(i + 1, m):
            if j == i or (j + 1) % m == i or j == (i + 1) % m:
                continue
            q1, q2 = v[j], v[(j + 1) % m]
            d1, d2 = cross(q1, q2, p1), cross(q1, q2, p2)
            d3, d4 = cross(p1, p2, q1), cross(p1, p2, q2)
            if d1 * d2 < 0 and d3 * d4 < 0:
                return True
    return False


_OPS = ("difference", "union", "intersection")


class CSG(Domain):
    """A set operation on two domains (build with `a - b`, `a | b`, `a & b` or
    [`difference`][sciml.pde.difference] / [`union`][sciml.pde.union] /
    [`intersection`][sciml.pde.intersection]).

    Boundary points are those of each part's boundary that lie on the result's boundary (normals of a
    subtracted part are flipped); interior points are drawn in the bounding box and kept when inside.

    **Arguments:**

    - `a`, `b`: the two domains (any sciml.pde domains of one dimension).
    - `op`: `"difference"` (`a - b`), `"union"` or `"intersection"`.

    **Raises:** `TypeError` when `a` or `b` is not a domain; `ValueError` for different dimensions, an unknown
    `op`, or an empty result.
    """

    a: Domain
    b: Domain
    op: str = eqx.field(static=True)
    lower: tuple = eqx.field(static=True)
    upper: tuple = eqx.field(static=True)
    _fractions: tuple = eqx.field(static=True)  # (interior fraction, boundary fraction of a, of b)

    def __init__(self, a: Domain, b: Domain, op: str):
        for name, d in (("a", a), ("b", b)):
            if not isinstance(d, Domain):
                raise TypeError(f"set operations need pde domains; `{name}` is {type(d).__name__}.")
        if a.ndim != b.ndim:
            raise ValueError(f"set operations need domains of equal dimension, got {a.ndim} and {b.ndim}.")
        if op not in _OPS:
            raise ValueError(f"`op` must be one of {_OPS}, got {op!r}.")
        self.a, self.b, self.op = a, b, op
        la, ua, lb, ub = map(np.asarray, (a.lower, a.upper, b.lower, b.upper))
        if op == "difference":
            lo, hi = la, ua
        elif op == "union":
            lo, hi = np.minimum(la, lb), np.maximum(ua, ub)
        else:
            lo, hi = np.maximum(la, lb), np.minimum(ua, ub)
            if not np.all(lo < hi):
                raise ValueError("the intersection of these domains is empty (their bounding boxes do not overlap).")
        self.lower = tuple(float(v) for v in lo)
        self.upper = tuple(float(v) for v in hi)
        self._fractions = (1.0, 1.0, 1.0)
        # host estimates of the accepted fractions (interior of the bounding box, boundary of each part)
        fi, fa, fb = (float(v) for v in _csg_fractions(self))
        if fi == 0.0 or fa + fb == 0.0:
            raise ValueError(f"the {op} of these domains is empty (no sampled point lies inside it).")
        self._fractions = (fi, fa, fb)

    @property
    def ndim(self) -> int:
        return self.a.ndim

    def sdf(self, x):
        sa, sb = self.a.sdf(x), self.b.sdf(x)
        if self.op == "difference":
            return jnp.maximum(sa, -sb)
        if self.op == "union":
            return jnp.minimum(sa, sb)
        return jnp.maximum(sa, sb)

    def _keep_a(self, x, tol=1e-7):
        inside_b = self.b.sdf(x) < -tol
        outside_b = self.b.sdf(x) > tol
        return outside_b if self.op in ("difference", "union") else inside_b

    def _keep_b(self, x, tol=1e-7):
        inside_a = self.a.sdf(x) < -tol
        outside_a = self.a.sdf(x) > tol
        return outside_a if self.op == "union" else inside_a

    def _interior_fraction(self) -> float:
        return self._fractions[0]

    def boundary_measure(self) -> float:
        _, fa, fb = self._fractions
        return self.a.boundary_measure() * fa + self.b.boundary_measure() * fb

    def _boundary_candidates(self, key, n, dtype):
        _, fa, fb = self._fractions
        ma, mb = self.a.boundary_measure(), self.b.boundary_measure()
        accept = (ma * fa + mb * fb) / (ma + mb)
        m = int(math.ceil(n * _oversample(accept))) + 8
        na = int(round(m * ma / (ma + mb)))
        nb = m - na
        k1, k2, k3 = jax.random.split(key, 3)
        xa, na_ = self.a._boundary_candidates(k1, max(na, 1), dtype)
        xb, nb_ = self.b._boundary_candidates(k2, max(nb, 1), dtype)
        if self.op == "difference":
            nb_ = -nb_
        x = jnp.concatenate([xa, xb])
        nrm = jnp.concatenate([na_, nb_])
        mask = jnp.concatenate([self._keep_a(xa), self._keep_b(xb)])
        return _take_accepted(k3, x, nrm, mask, n)


@eqx.filter_jit
def _csg_fractions(dom):
    k1, k2, k3 = jax.random.split(jax.random.key(2024), 3)
    x = Box(dom.lower, dom.upper)._sample_interior(k1, 20000, jnp.float32)
    xa, _ = dom.a._boundary_candidates(k2, 8192, jnp.float32)
    xb, _ = dom.b._boundary_candidates(k3, 8192, jnp.float32)
    return jnp.mean(dom.contains(x, 0.0)), jnp.mean(dom._keep_a(xa)), jnp.mean(dom._keep_b(xb))


def difference(a: Domain, b: Domain) -> CSG:
    """The domain `a` with `b` removed (`a - b`); normals on the cut point out of `a - b` (into `b`).

    **Arguments:** `a`, `b`: domains of one dimension.

    **Returns:** a [`CSG`][sciml.pde.CSG] domain.

    **Example:** `pde.difference(pde.Box([0, 0], [1, 1]), pde.Ball([0.5, 0.5], 0.2))`
    """
    return CSG(a, b, "difference")


def union(a: Domain, b: Domain) -> CSG:
    """The union `a | b`.

    **Arguments:** `a`, `b`: domains of one dimension.

    **Returns:** a [`CSG`][sciml.pde.CSG] domain.
    """
    return CSG(a, b, "union")


def intersection(a: Domain, b: Domain) -> CSG:
    """The intersection `a & b`.

    **Arguments:** `a`, `b`: domains of one dimension whose bounding boxes overlap.

    **Returns:** a [`CSG`][sciml.pde.CSG] domain.
    """
    return CSG(a, b, "intersection")


def check_domain(domain) -> Domain:
    if not isinstance(domain, Domain):
        raise TypeError(f"`domain` must be a sciml.pde domain (Box, Ball, Polygon or a set operation), got "
                        f"{type(domain).__name__}.")
    return domain


__all__ = ["Domain", "Box", "Ball", "Polygon", "CSG", "difference", "union", "intersection", "check_domain"]
