"""Geometric multigrid V-cycle preconditioner for flag-grid Poisson operators (MG-PCG).

Cell-centred geometric multigrid in the spirit of McAdams, Sifakis & Teran (2010):

* **Coarse flags**: a coarse cell (a 2^d block of fine cells) is FLUID if any child is FLUID, else AIR if
  any child is AIR, else SOLID (``coarsening="fluid"``); or AIR as soon as any child is AIR
  (``coarsening="dirichlet"``, McAdams' rule).  Odd sizes are padded with the operator's outside type.
* **Coarse operators**: re-discretised ``poisson_operator(coarse_flags, spacing=2^l h)``.
* **Transfers**: cell-centred (bi/tri)linear prolongation ``P`` (weights 3/4, 1/4 per axis) and
  restriction ``R = P^T / 2^d`` (the [1 3 3 1]/8 stencil per axis), both masked to FLUID cells.
* **Smoother**: red-black Gauss-Seidel (pre: red then black; post: black then red) or damped Jacobi;
  extra sweeps on the cells next to a non-FLUID face (``boundary_sweeps``) as McAdams recommend.
* **Coarsest level**: a dense pseudo-inverse (handles pure-Neumann null spaces).

The V-cycle is a fixed symmetric linear map (pre/post smoothers are adjoint, ``R ∝ P^T``, the coarse
solve is symmetric), so it is a valid preconditioner for `sciml.linalg.pcg`.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._poisson import AIR, FLUID, SOLID, PoissonOperator, _np_shift, poisson_operator


def coarsen_flags(flags: np.ndarray, *, outside: int = AIR, rule: str = "fluid") -> np.ndarray:
    """Coarsen a flag grid by 2 in every axis (odd sizes padded with ``outside``)."""
    f = np.asarray(flags)
    pad = [(0, s % 2) for s in f.shape]
    f = np.pad(f, pad, constant_values=outside)
    nd = f.ndim
    blocks = f.reshape(sum(((s // 2, 2) for s in f.shape), ()))
    axes = tuple(range(1, 2 * nd, 2))
    any_fluid = (blocks == FLUID).any(axis=axes)
    any_air = (blocks == AIR).any(axis=axes)
    out = np.full(any_fluid.shape, SOLID, np.int8)
    if rule == "fluid":
        out[any_air] = AIR
        out[any_fluid] = FLUID
    elif rule == "dirichlet":
        out[any_fluid] = FLUID
        out[any_air] = AIR
    else:
        raise ValueError(f"coarsening rule must be 'fluid' or 'dirichlet', got {rule!r}")
    return out


def _shift(x, axis, side):
    n = x.shape[axis]
    pad = [(0, 0)] * x.ndim
    if side == 1:
        pad[axis] = (0, 1)
        return jax.lax.slice_in_dim(jnp.pad(x, pad), 1, n + 1, axis=axis)
    pad[axis] = (1, 0)
    return jax.lax.slice_in_dim(jnp.pad(x, pad), 0, n, axis=axis)


def _prolong_axis(c, axis):
    lo, hi = _shift(c, axis, 0), _shift(c, axis, 1)
    even = 0.75 * c + 0.25 * lo
    odd = 0.75 * c + 0.25 * hi
    y = jnp.stack([even, odd], axis=axis + 1)
    shape = list(c.shape)
    shape[axis] *= 2
    return y.reshape(shape)


def _restrict_axis(f, axis):
    # adjoint of _prolong_axis, divided by 2
    n = f.shape[axis]
    fe = jax.lax.slice_in_dim(f, 0, n, 2, axis=axis)
    fo = jax.lax.slice_in_dim(f, 1, n, 2, axis=axis)
    c = 0.75 * (fe + fo) + 0.25 * _shift(fe, axis, 1) + 0.25 * _shift(fo, axis, 0)
    return 0.5 * c


def _pad_to(x, shape):
    return jnp.pad(x, [(0, t - s) for s, t in zip(x.shape, shape)])


def _crop(x, shape):
    return x[tuple(slice(0, s) for s in shape)]


def _boundary_band(flags: np.ndarray, boundary: str, width: int) -> np.ndarray:
    """FLUID cells within ``width`` cells of a non-FLUID cell (or the grid boundary)."""
    fluid = flags == FLUID
    near = ~fluid
    band = np.zeros_like(fluid)
    cur = near
    for _ in range(width):
        grown = cur.copy()
        for a in range(flags.ndim):
            for s in (0, 1):
                grown |= _np_shift(cur, a, s, True)
        band |= grown & fluid
        cur = grown
    return band


def _edge_cells(flags: np.ndarray) -> np.ndarray:
    parts = []
    for a in range(flags.ndim):
        parts += [np.take(flags, 0, axis=a).ravel(), np.take(flags, -1, axis=a).ravel()]
    return np.concatenate(parts)


class _Level(eqx.Module):
    op: PoissonOperator
    inv_diag: jax.Array
    red: jax.Array
    band: jax.Array


class MultigridPreconditioner(eqx.Module):
    """A geometric-multigrid V-cycle ``r -> z ≈ A^{-1} r`` for a flag-grid `PoissonOperator`.

    Build it with [`multigrid_preconditioner`][sciml.linalg.multigrid_preconditioner]; call it on a
    grid-shaped residual.  Works under ``jit``/``vmap``.
    """

    op: PoissonOperator
    levels: list[_Level]
    coarse_pinv: jax.Array
    smoother: str = eqx.field(static=True)
    pre: int = eqx.field(static=True)
    post: int = eqx.field(static=True)
    omega: float = eqx.field(static=True)
    boundary_sweeps: int = eqx.field(static=True)
    shapes: tuple = eqx.field(static=True)

    @property
    def n_levels(self) -> int:
        return len(self.levels) + 1

    def _smooth(self, lev: _Level, x, b, colours):
        if self.smoother == "jacobi":
            for _ in colours:
                x = x + self.omega * lev.inv_diag * (b - lev.op.mv(x))
            return x
        for c in colours:
            sel = lev.red if c == 0 else ~lev.red
            x = x + jnp.where(sel, lev.inv_diag * (b - lev.op.mv(x)), 0)
        return x

    def _band_smooth(self, lev: _Level, x, b, colours):
        for _ in range(self.boundary_sweeps):
            for c in colours:
                sel = (lev.red if c == 0 else ~lev.red) & lev.band
                x = x + jnp.where(sel, lev.inv_diag * (b - lev.op.mv(x)), 0)
        return x

    def _vcycle(self, i: int, b):
        if i == len(self.levels):
            flat = b.reshape(-1)
            return (self.coarse_pinv @ flat).reshape(b.shape)
        lev = self.levels[i]
        fwd = (0, 1) * self.pre
        bwd = (1, 0) * self.post
        x = jnp.zeros_like(b)
        x = self._band_smooth(lev, x, b, (0, 1))
        x = self._smooth(lev, x, b, fwd)
        r = jnp.where(lev.op.mask, b - lev.op.mv(x), 0)
        nd = r.ndim
        cshape = self.shapes[i + 1]
        rp = _pad_to(r, tuple(2 * s for s in cshape))
        for a in range(nd):
            rp = _restrict_axis(rp, a)
        cmask = self.levels[i + 1].op.mask if i + 1 < len(self.levels) else None
        rc = rp if cmask is None else jnp.where(cmask, rp, 0)
        ec = self._vcycle(i + 1, rc)
        for a in range(nd):
            ec = _prolong_axis(ec, a)
        e = jnp.where(lev.op.mask, _crop(ec, r.shape), 0)
        x = x + e
        x = self._smooth(lev, x, b, bwd)
        x = self._band_smooth(lev, x, b, (1, 0))
        return x

    def __call__(self, r):
        top = self.op
        dt = r.dtype
        b = top.project(r.astype(top.dtype)) if top.n_null else jnp.where(top.mask, r.astype(top.dtype), 0)
        z = self._vcycle(0, b)
        z = top.project(z) if top.n_null else z
        return z.astype(dt)


def multigrid_preconditioner(
    op: PoissonOperator,
    *,
    smoother: str = "rbgs",
    pre: int = 1,
    post: int = 1,
    omega: float = 2.0 / 3.0,
    boundary_sweeps: int = 2,
    boundary_width: int = 1,
    coarsening: str = "fluid",
    coarsest_size: int = 512,
    max_levels: int | None = None,
) -> MultigridPreconditioner:
    """Geometric multigrid V-cycle preconditioner for `linalg.pcg` on a flag-grid Poisson operator.

    **Arguments:**

    - `op`: a [`PoissonOperator`][sciml.linalg.PoissonOperator] (concrete flags; built on the host).
    - `smoother`: ``"rbgs"`` (red-black Gauss-Seidel, default) or ``"jacobi"`` (damped, ``omega``).
    - `pre`, `post`: smoothing sweeps before/after the coarse correction (keep equal for symmetry).
    - `boundary_sweeps`, `boundary_width`: extra RBGS sweeps on FLUID cells within ``boundary_width``
      cells of a wall/air/boundary face, before and after (symmetric); 0 disables them.
    - `coarsening`: coarse-flag rule, ``"fluid"`` (FLUID wins) or ``"dirichlet"`` (AIR wins).
    - `coarsest_size`: coarsen until the grid has at most this many cells; then a dense pseudo-inverse.
    - `max_levels`: optional cap on the number of levels.

    **Returns:** a callable ``MultigridPreconditioner`` ``r -> z``.

    **Example:**

    ```python
    op = linalg.poisson_operator(flags)
    sol = linalg.pcg(op, b, linalg.multigrid_preconditioner(op), rtol=1e-6)
    ```
    """
    if not isinstance(op, PoissonOperator):
        raise TypeError("multigrid_preconditioner needs a flag-grid PoissonOperator (linalg.poisson_operator).")
    if smoother not in ("rbgs", "jacobi"):
        raise ValueError(f"smoother must be 'rbgs' or 'jacobi', got {smoother!r}")
    if pre != post:
        raise ValueError("use pre == post: the V-cycle must be symmetric to precondition CG.")
    flags = np.asarray(op.flags)
    # What coarse cells on the grid boundary see outside: the operator's own boundary if FLUID touches it;
    # if the fine grid is walled in (no FLUID on its boundary layer), the wall type (SOLID -> Neumann).
    coarse_boundary = op.boundary
    edge = _edge_cells(flags)
    if not (edge == FLUID).any():
        coarse_boundary = "dirichlet" if (edge == AIR).mean() > 0.5 else "neumann"
    outside = SOLID if coarse_boundary == "neumann" else AIR
    h = float(op.spacing)
    ops = [op]
    shapes = [flags.shape]
    while True:
        if max_levels is not None and len(ops) >= max_levels:
            break
        if int(np.prod(flags.shape)) <= coarsest_size or min(flags.shape) < 4:
            break
        cf = coarsen_flags(flags, outside=outside, rule=coarsening)
        if not (cf == FLUID).any():
            break
        flags = cf
        h *= 2
        ops.append(poisson_operator(flags, spacing=h, boundary=coarse_boundary, dtype=op.dtype))
        shapes.append(flags.shape)

    levels = []
    for o in ops[:-1]:
        f = np.asarray(o.flags)
        d = np.asarray(o.diag).astype(np.float64) / float(o.spacing) ** 2
        inv = np.where(np.asarray(o.mask) & (d > 0), 1.0 / np.where(d > 0, d, 1.0), 0.0)
        idx = np.indices(f.shape).sum(axis=0)
        levels.append(
            _Level(
                op=o,
                inv_diag=jnp.asarray(inv, o.dtype),
                red=jnp.asarray(idx % 2 == 0),
                band=jnp.asarray(_boundary_band(f, o.boundary, boundary_width)),
            )
        )
    coarse = ops[-1]
    A = np.asarray(coarse.to_scipy(full=True).toarray())
    pinv = np.linalg.pinv(A, hermitian=True)
    return MultigridPreconditioner(
        op=op,
        levels=levels,
        coarse_pinv=jnp.asarray(pinv, op.dtype),
        smoother=smoother,
        pre=pre,
        post=post,
        omega=omega,
        boundary_sweeps=boundary_sweeps,
        shapes=tuple(shapes),
    )
