"""Finite-difference Poisson operators on FLUID/SOLID/AIR flag grids (matrix-free, lineax-compatible)."""

from __future__ import annotations

from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from .._errors import check_choice, check_dtype, check_positive

FLUID = 0
SOLID = 1
AIR = 2
# up to this many pure-Neumann components, `project` uses one masked reduction per component (GPU-friendly);
# above it, one segment_sum
_MASKED_PROJECT_MAX = 8


def _shift(x: Array, axis: int, side: int) -> Array:
    """Value of the neighbour on `side` (0 = lower, 1 = upper) along `axis`, zero outside the grid."""
    n = x.shape[axis]
    pad = [(0, 0)] * x.ndim
    if side == 1:  # neighbour at i+1
        pad[axis] = (0, 1)
        return jax.lax.slice_in_dim(jnp.pad(x, pad), 1, n + 1, axis=axis)
    pad[axis] = (1, 0)
    return jax.lax.slice_in_dim(jnp.pad(x, pad), 0, n, axis=axis)


def _np_shift(x: np.ndarray, axis: int, side: int, fill) -> np.ndarray:
    out = np.full_like(x, fill)
    src = [slice(None)] * x.ndim
    dst = [slice(None)] * x.ndim
    if side == 1:
        src[axis], dst[axis] = slice(1, None), slice(0, -1)
    else:
        src[axis], dst[axis] = slice(0, -1), slice(1, None)
    out[tuple(dst)] = x[tuple(src)]
    return out


def stencil_apply(x: Array, mask: Array, diag: Array, weights: Array, inv_h2: Array) -> Array:
    """Apply the 5/7-point stencil: `mask * (diag*x - sum_faces w_face * x_neighbour) / h^2`.

    `weights` has shape `(ndim, 2, *grid)`: 1 where the neighbour across that face is FLUID.
    Used by `PoissonOperator.mv` and by the domain-decomposed version in `sciml.parallel`. Unlike
    `PoissonOperator.mv` (identity rows there) the result is zero off the mask.

    **Arguments:** `x`: grid-shaped floating array; `mask`: boolean FLUID mask of the same shape; `diag`:
    diagonal counts, same shape; `weights`: `(ndim, 2, *grid)`; `inv_h2`: `1/h²`.

    **Returns:** the grid-shaped product.
    """
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        raise TypeError(f"`x` must be a floating-point array, got dtype {x.dtype}.")
    for name, arr in (("mask", mask), ("diag", diag)):
        if tuple(jnp.shape(arr)) != tuple(x.shape):
            raise ValueError(f"`{name}` must have `x`'s shape {tuple(x.shape)}, got {tuple(jnp.shape(arr))}.")
    if tuple(jnp.shape(weights)) != (x.ndim, 2) + tuple(x.shape):
        raise ValueError(f"`weights` must have shape {(x.ndim, 2) + tuple(x.shape)}, got {tuple(jnp.shape(weights))}.")
    xm = jnp.where(mask, x, 0)
    acc = diag.astype(x.dtype) * xm
    for a in range(x.ndim):
        for s in (0, 1):
            acc = acc - weights[a, s].astype(x.dtype) * _shift(xm, a, s)
    return jnp.where(mask, acc * jnp.asarray(inv_h2, x.dtype), 0)


def _stencil_tables(flags: np.ndarray, boundary: str):
    """Host-side: FLUID mask, diagonal counts and neighbour weights from a concrete flag grid."""
    mask = flags == FLUID
    nd = flags.ndim
    diag = np.zeros(flags.shape, np.int8)
    weights = np.zeros((nd, 2) + flags.shape, np.int8)
    outside = SOLID if boundary == "neumann" else AIR
    for a in range(nd):
        for s in (0, 1):
            nb = _np_shift(flags, a, s, outside)
            weights[a, s] = mask & (nb == FLUID)
            diag += (mask & (nb != SOLID)).astype(np.int8)
    return mask, diag, weights


def _floating_components(flags: np.ndarray, mask: np.ndarray, diag: np.ndarray, weights: np.ndarray, boundary: str):
    """Label FLUID components without any Dirichlet contact (their operator block is singular)."""
    import scipy.ndimage as ndi

    structure = ndi.generate_binary_structure(flags.ndim, 1)
    labels, n = ndi.label(mask, structure=structure)
    if n == 0:
        return np.zeros(flags.shape, np.int32), 0
    # Dirichlet contact: a FLUID cell whose diagonal exceeds its number of FLUID neighbours.
    n_fluid_nb = weights.sum(axis=(0, 1))
    dirichlet = mask & (diag > n_fluid_nb)
    has_dirichlet = np.zeros(n + 1, bool)
    has_dirichlet[np.unique(labels[dirichlet])] = True
    floating_ids = np.nonzero(~has_dirichlet[1:])[0] + 1
    out = np.zeros(flags.shape, np.int32)
    for new_id, old in enumerate(floating_ids, start=1):
        out[labels == old] = new_id
    return out, len(floating_ids)


@eqx.filter_jit
def _dense_columns(op, eye):
    """``vmap(op.mv)`` over the unit vectors as one compiled program (`as_matrix` of the grid operators). Eager
    ``vmap`` dispatches and compiles every primitive separately (measured: the 8³ multigrid V-cycle's dense matrix
    10.4 s -> 3.6 s CPU; identical values)."""
    return jax.vmap(op.mv)(eye)


class PoissonOperator(lx.AbstractLinearOperator):
    """The SPD operator `A = -Δ_h` on the FLUID cells of a flag grid (5-point in 2D, 7-point in 3D).

    Vectors are grid-shaped arrays. A SOLID neighbour is a homogeneous Neumann face (the coupling is dropped
    and the diagonal reduced); an AIR neighbour, or the outside of the grid when `boundary="dirichlet"`, is
    homogeneous Dirichlet. Build it with [`sciml.linalg.poisson_operator`][].

    **On the full grid** (what lineax sees) the operator is `A_FF ⊕ I`: the stencil couples FLUID cells
    only (a FLUID row never reads a non-FLUID entry), and every SOLID/AIR cell is an identity row,
    `(A x)_c = x_c`. This keeps the full-grid matrix symmetric and, unless a FLUID component is pure
    Neumann, nonsingular, so lineax's own solvers work on it directly: `lx.linear_solve(op, b)` (Cholesky),
    `lx.CG`, `jax.grad` through them, `lx.diagonal(op)` (a flat vector of `op.in_size()` entries),
    `op + lx.IdentityLinearOperator(op.in_structure())`. lineax's solution on a SOLID/AIR cell is
    `b` there; sciml's own solvers ([`cg`][sciml.linalg.cg], ...) solve for the FLUID unknowns only,
    ignore `b` off FLUID cells and return zeros there. A pure-Neumann component makes the matrix singular:
    use `lx.CG` with `op.project(b)`, `lx.AutoLinearSolver(well_posed=False)` (the minimum-norm solution,
    equal to sciml's), or sciml's solvers (which refuse an incompatible `b`). `AutoLinearSolver(well_posed=True)`
    assumes a nonsingular matrix (lineax's contract): there it returns one of the solutions or raises lineax's
    "non-finite output ... well_posed=False" error for a compatible `b`, and meaningless huge values for an
    incompatible one.

    **Fields:** (set by [`poisson_operator`][sciml.linalg.poisson_operator], not passed by hand)

    - `flags`: the int8 flag grid (`FLUID`/`SOLID`/`AIR`).
    - `mask`: boolean grid, `True` on FLUID cells.
    - `diag`: integer grid, the stencil's diagonal in units of `1/h²` (the number of non-SOLID neighbours).
    - `weights`: integer array `(ndim, 2, *grid)`, 1 where a FLUID cell couples to its lower/upper neighbour
      along each axis.
    - `spacing`: the grid spacing `h` (0-d array of `dtype`).
    - `null_labels`: integer grid labelling the pure-Neumann FLUID components (1…`n_null`, 0 elsewhere), or
      `None` when there are none.
    - `n_null`: number of pure-Neumann components (the null-space dimension).
    - `boundary`: `"dirichlet"` or `"neumann"`, what lies outside the grid.
    - `shape`: the grid's shape.
    - `dtype`: the floating dtype of vectors.
    """

    flags: Int[Array, "*grid"]
    mask: Bool[Array, "*grid"]
    diag: Int[Array, "*grid"]
    weights: Int[Array, "ndim 2 *grid"]
    spacing: Float[Array, ""]
    null_labels: Int[Array, "*grid"] | None
    n_null: int = eqx.field(static=True)
    boundary: str = eqx.field(static=True)
    shape: tuple = eqx.field(static=True)
    dtype: np.dtype = eqx.field(static=True)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def n_fluid(self) -> int:
        return int(np.asarray(self.mask).sum())

    def mv(self, vector):
        x = jnp.asarray(vector)
        if x.shape != self.shape:
            raise ValueError(f"`vector` must have the grid's shape {self.shape}, got {x.shape}.")
        if not jnp.issubdtype(x.dtype, jnp.inexact):
            raise TypeError(f"`vector` must be a floating-point array, got dtype {x.dtype}.")
        y = stencil_apply(x, self.mask, self.diag, self.weights, 1.0 / self.spacing**2)
        return jnp.where(self.mask, y, x)  # identity rows on SOLID/AIR cells (see the class docstring)

    def as_matrix(self) -> Float[Array, "n n"]:
        """Dense matrix on the full grid (C order): the stencil on FLUID rows/columns, identity rows on
        SOLID/AIR cells (`A_FF ⊕ I`, what lineax factorises). Small grids only."""
        n = int(np.prod(self.shape))
        eye = jnp.eye(n, dtype=self.dtype).reshape((n,) + self.shape)
        return _dense_columns(self, eye).reshape(n, n).T

    def to_scipy(self, full: bool = False):
        """The operator as a SciPy sparse matrix.

        **Arguments:**

        - `full`: `False` (default): the `n_fluid × n_fluid` block on the FLUID cells (C order); `True`: that block
          embedded in the full grid with zero rows/columns at SOLID/AIR cells (unlike `as_matrix`, which has
          identity rows there).

        **Returns:** a `scipy.sparse.csr_matrix` (float64).
        """
        import scipy.sparse as sp

        mask = np.asarray(self.mask)
        diag = np.asarray(self.diag).astype(float)
        w = np.asarray(self.weights)
        h2 = float(self.spacing) ** 2
        n = mask.size
        idx = np.arange(n).reshape(self.shape)
        rows, cols, vals = [idx[mask]], [idx[mask]], [diag[mask] / h2]
        for a in range(self.ndim):
            for s in (0, 1):
                sel = w[a, s].astype(bool)
                nb = _np_shift(idx, a, s, -1)
                rows.append(idx[sel])
                cols.append(nb[sel])
                vals.append(np.full(sel.sum(), -1.0 / h2))
        A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
        if full:
            return A
        keep = idx[mask]
        return A[keep][:, keep].tocsr()

    def transpose(self):
        return self

    def in_structure(self):
        return jax.ShapeDtypeStruct(self.shape, self.dtype)

    def out_structure(self):
        return jax.ShapeDtypeStruct(self.shape, self.dtype)

    def project(self, x: Array) -> Array:
        """Remove the null space (the constant on each pure-Neumann FLUID component) and zero non-FLUID cells.

        **Arguments:**

        - `x`: array of the grid's shape.

        **Returns:** the projected array, same shape and dtype.
        """
        x = self._grid(x, "x")
        x = jnp.where(self.mask, x, 0)
        if self.n_null == 0:
            return x
        if self.n_null <= _MASKED_PROJECT_MAX:
            # one masked reduction per component, not a scatter: on a GPU, segment_sum into a handful of bins
            # serialises on atomic adds (the likely cause of float64 CG on a closed 128^3 box taking 7.4 ms per
            # iteration on an H200, where an all-Dirichlet grid took 0.08 ms in float32; on the CPU the masked
            # form made closed-box CG 1.9-2.6x faster)
            for k in range(1, self.n_null + 1):
                on = self.null_labels == k
                mean = jnp.sum(jnp.where(on, x, 0)) / jnp.maximum(jnp.sum(on), 1).astype(x.dtype)
                x = x - jnp.where(on, mean, 0).astype(x.dtype)
            return x
        lab = self.null_labels.reshape(-1)
        flat = x.reshape(-1)
        sums = jax.ops.segment_sum(flat, lab, num_segments=self.n_null + 1)
        counts = jax.ops.segment_sum(jnp.ones_like(flat), lab, num_segments=self.n_null + 1)
        means = (sums / jnp.maximum(counts, 1)).at[0].set(0)
        return (flat - means[lab]).reshape(x.shape)

    def fluid_values(self, x: Array) -> Array:
        """The FLUID entries of a grid vector, in C order (the unknowns of `to_scipy()`).

        **Arguments:**

        - `x`: array of the grid's shape.

        **Returns:** a flat array of `n_fluid` entries.
        """
        return self._grid(x, "x")[np.asarray(self.mask)]

    def from_fluid_values(self, v: Array) -> Array:
        """Scatter FLUID-ordered values back onto the grid (zeros elsewhere); inverse of `fluid_values`.

        **Arguments:**

        - `v`: flat array of the `n_fluid` FLUID values.

        **Returns:** an array of the grid's shape and `v`'s dtype.
        """
        mask = np.asarray(self.mask)
        v = jnp.asarray(v)
        if tuple(v.shape) != (int(mask.sum()),):
            raise ValueError(f"`v` must be a flat vector of the {int(mask.sum())} FLUID values, got shape {v.shape}.")
        return jnp.zeros(self.shape, v.dtype).at[mask].set(v)

    def _grid(self, x, name):
        x = jnp.asarray(x)
        if tuple(x.shape) != tuple(self.shape):
            raise ValueError(f"`{name}` must have the grid's shape {self.shape}, got {tuple(x.shape)}.")
        return x


def poisson_operator(
    flags,
    spacing: float = 1.0,
    boundary: Literal["dirichlet", "neumann"] = "dirichlet",
    pure_neumann: Literal["project", "error"] = "project",
    dtype=None,
) -> PoissonOperator:
    """Build the SPD finite-difference operator `-Δ_h` on the FLUID cells of a 2D or 3D flag grid.

    **Arguments:**

    - `flags`: integer array of shape `(nx, ny)` or `(nx, ny, nz)` with values `FLUID` (0), `SOLID` (1),
      `AIR` (2). Must be concrete (not traced): the stencil tables are built once on the host.
    - `spacing`: grid spacing `h` (the stencil is scaled by `1/h²`).
    - `boundary`: what lies outside the grid: `"dirichlet"` (like AIR, the default) or `"neumann"` (like SOLID).
    - `pure_neumann`: FLUID components that touch no Dirichlet face make the operator singular. With
      `"project"` (default) their constant null space is projected out by the solvers; with `"error"`,
      building such an operator raises `ValueError`.
    - `dtype`: floating dtype of vectors (default: JAX's default float). Solvers require right-hand sides of
      this dtype (no silent down-casting).

    **Returns:** a [`PoissonOperator`][sciml.linalg.PoissonOperator] (a `lineax.AbstractLinearOperator`).

    **Example:**

    ```python
    import numpy as np
    from sciml import linalg
    flags = np.zeros((32, 32), np.int8); flags[10:20, 10:20] = linalg.SOLID
    op = linalg.poisson_operator(flags, spacing=1 / 32)
    sol = linalg.cg(op, op.project(np.ones((32, 32), np.float32)))
    ```
    """
    if isinstance(flags, jax.core.Tracer):
        raise TypeError("`flags` must be a concrete array (numpy or jax), not a traced value: build the operator outside jit.")
    f = np.asarray(flags)
    if f.dtype.kind not in "iu" or f.dtype == np.bool_:
        raise TypeError(f"`flags` must be an integer array (int8 FLUID=0/SOLID=1/AIR=2), got dtype {f.dtype}.")
    if f.ndim not in (2, 3):
        raise ValueError(f"`flags` must be a 2D or 3D grid, got an array of rank {f.ndim} with shape {f.shape}.")
    bad = ~np.isin(f, (FLUID, SOLID, AIR))
    if bad.any():
        raise ValueError(f"`flags` values must be FLUID=0, SOLID=1 or AIR=2; found {np.unique(f[bad]).tolist()}.")
    if not (f == FLUID).any():
        raise ValueError("`flags` has no FLUID cell (all SOLID/AIR): there are no unknowns to solve for.")
    check_choice("boundary", boundary, ("dirichlet", "neumann"))
    check_choice("pure_neumann", pure_neumann, ("project", "error"))
    try:
        spacing = check_positive("spacing", spacing)
    except ValueError:
        raise ValueError(f"`spacing` must be a positive finite number, got {spacing!r}.") from None
    if dtype is not None:
        check_dtype("dtype", dtype)
    f = f.astype(np.int8)
    mask, diag, weights = _stencil_tables(f, boundary)
    labels, n_null = _floating_components(f, mask, diag, weights, boundary)
    if n_null and pure_neumann == "error":
        raise ValueError(
            f"`flags` has {n_null} FLUID component(s) with no AIR/Dirichlet contact (pure Neumann: singular operator); "
            "add AIR cells, use boundary='dirichlet', or pass pure_neumann='project'."
        )
    dtype = jnp.dtype(dtype) if dtype is not None else jnp.zeros(()).dtype
    return PoissonOperator(
        flags=jnp.asarray(f),
        mask=jnp.asarray(mask),
        diag=jnp.asarray(diag),
        weights=jnp.asarray(weights),
        spacing=jnp.asarray(spacing, dtype),
        null_labels=jnp.asarray(labels) if n_null else None,
        n_null=int(n_null),
        boundary=boundary,
        shape=tuple(f.shape),
        dtype=dtype,
    )


# --- lineax queries ------------------------------------------------------------------------------------
@lx.diagonal.register(PoissonOperator)
def _(op):
    # lineax's contract: a flat vector of op.in_size() entries, C order; 1 on the identity rows off FLUID
    d = jnp.where(op.mask, op.diag.astype(op.spacing.dtype) / op.spacing**2, 1).astype(op.dtype)
    return d.reshape(-1)


def _register_spd(cls) -> None:
    """Register lineax's structural queries for a symmetric positive (semi)definite, non-diagonal, non-triangular
    operator class that is already linear and matrix-free (shared by the Poisson and multigrid operators)."""
    for q, v in [
        (lx.is_symmetric, True),
        (lx.is_positive_semidefinite, True),
        (lx.is_negative_semidefinite, False),
        (lx.is_diagonal, False),
        (lx.is_tridiagonal, False),
        (lx.has_unit_diagonal, False),
        (lx.is_lower_triangular, False),
        (lx.is_upper_triangular, False),
    ]:
        q.register(cls)(lambda op, _v=v: _v)
    lx.linearise.register(cls)(lambda op: op)
    lx.materialise.register(cls)(lambda op: op)


_register_spd(PoissonOperator)
