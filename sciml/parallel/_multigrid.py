"""Domain-decomposed MG-PCG with `jax.shard_map`: the fine levels of the V-cycle are split along grid axis 0
(halo exchange by `ppermute`, as in `sharded_cg`), the coarse levels are gathered onto every device once they
are small, and the CG dot products are reduced with `psum`. Same answer as one device up to rounding."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, PartitionSpec as P

from .._errors import check_choice
from ..linalg._krylov import _check_rhs, _maxiter, _pcg_loop
from ..linalg._multigrid import (MultigridPreconditioner, _ChebLevel, _Ctx, _Level, _vcycle_any,
                                 multigrid_preconditioner)
from ..linalg._poisson import PoissonOperator
from ._stencil import (_LocalOp, _halo_shift, _hist_len, _join, _local_apply, _normalise_partition, _out_specs, _put,
                       _specs, _split)

_FIELDS = ("diag_r", "diag_b", "w_r", "w_b", "q_r", "q_b", "mask", "h2")
_CHEB_FIELDS = ("inv_diag", "diag", "mask", "h2")


def _n_sharded_levels(M: MultigridPreconditioner, n_dev: int, min_rows: int) -> int:
    """How many leading levels stay split over the devices (axis-0 blocks even, so transfers stay local)."""
    g = 0
    for lev in M.levels:
        n0 = lev.shape[0]
        if lev.pshape[0] != n0 or n0 % (2 * n_dev) or n0 // n_dev < max(2, min_rows):
            break
        g += 1
    return g


def _ghost_halo(xp, axis_name, n_dev):
    """Fill the axis-0 ghost rows of a ghost-padded block with the neighbouring blocks' edge rows."""
    if n_dev == 1:
        return xp
    lo = jax.lax.ppermute(xp[-2:-1], axis_name, [(d, d + 1) for d in range(n_dev - 1)])
    hi = jax.lax.ppermute(xp[1:2], axis_name, [(d + 1, d) for d in range(n_dev - 1)])
    return jnp.concatenate([lo, xp[1:-1], hi], axis=0)


def sharded_mg_pcg(op: PoissonOperator, b, mesh: Mesh, axis: str | None = None, *, rtol: float = 1e-6,
                   atol: float = 0.0, maxiter: int | None = None, preconditioner: MultigridPreconditioner | None = None,
                   min_rows: int = 4):
    """MG-PCG for a Poisson operator with the grid split along its first axis over the mesh axis `axis`.

    Each device holds a slab of every fine level of the V-cycle (the red-black smoother exchanges one-cell
    halos with its neighbours by `ppermute`, restriction and prolongation too); once a level is too small to
    split evenly (fewer than `min_rows` rows per device, or an odd block) its right-hand side is gathered and
    the rest of the V-cycle runs replicated on every device. Dot products are reduced with `psum`.

    **Arguments:**

    - `op`: a [`PoissonOperator`][sciml.linalg.PoissonOperator] without pure-Neumann components.
    - `b`: right-hand side of the grid's shape.
    - `mesh`: a `jax.sharding.Mesh`; `axis`: the mesh axis to split grid axis 0 over (default: its first).
      Grid axis 0 must be divisible by twice the number of devices on `axis`.
    - `rtol`, `atol`, `maxiter`: as in [`pcg`][sciml.linalg.pcg].
    - `preconditioner`: a [`MultigridPreconditioner`][sciml.linalg.MultigridPreconditioner] for `op`
      (default: `multigrid_preconditioner(op, boundary_sweeps=0)`); its boundary-band sweeps are not
      supported across devices.
    - `min_rows`: smallest per-device block (rows of grid axis 0) of a level that stays split.

    **Returns:** a [`linalg.Solution`][sciml.linalg.Solution], as from `linalg.pcg` (`value` sharded like the
    grid).

    **Example:**

    ```python
    mesh = parallel.make_mesh((4,), ("x",))
    sol = parallel.sharded_mg_pcg(op, b, mesh)           # == linalg.pcg(op, b, M) on one device
    sol.value, sol.iterations, sol.converged
    ```
    """
    if not isinstance(op, PoissonOperator):
        raise TypeError(f"`op` must be a PoissonOperator (linalg.poisson_operator), got {type(op).__name__}.")
    if op.n_null:
        raise ValueError("`op` has pure-Neumann components; sharded_mg_pcg does not project null spaces. "
                         "Use linalg.pcg or add Dirichlet/AIR cells.")
    _check_rhs(op, b)
    if not isinstance(mesh, Mesh):
        raise TypeError(f"`mesh` must be a jax.sharding.Mesh, got {type(mesh).__name__}.")
    axis = mesh.axis_names[0] if axis is None else axis
    check_choice("axis", axis, mesh.axis_names)
    n_dev = mesh.shape[axis]
    if op.shape[0] % (2 * n_dev):
        raise ValueError(f"grid axis 0 (size {op.shape[0]}) must be divisible by 2 x the {n_dev} devices of {axis!r}.")
    if isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 1:
        raise ValueError(f"`min_rows` must be a positive integer, got {min_rows!r}.")
    M = multigrid_preconditioner(op, boundary_sweeps=0) if preconditioner is None else preconditioner
    if not isinstance(M, MultigridPreconditioner) or M.op.shape != op.shape:
        raise ValueError("`preconditioner` must be a MultigridPreconditioner built for `op`.")
    if M.boundary_sweeps and any(getattr(lev, "band_idx", None) is not None for lev in M.levels):
        raise ValueError("`preconditioner` uses boundary-band sweeps, which sharded_mg_pcg does not split; "
                         "build it with boundary_sweeps=0.")
    maxiter = _maxiter(op, maxiter)
    partition = _normalise_partition(op, mesh, (axis,))
    sizes = [n_dev] + [1] * (op.ndim - 1)
    gspec, wspec = _specs(partition)
    g = _n_sharded_levels(M, n_dev, int(min_rows))
    cheb = bool(M.levels) and isinstance(M.levels[0], _ChebLevel)
    fields = _CHEB_FIELDS if cheb else _FIELDS
    if cheb:  # natural layout: every table is split along grid axis 0
        spec_of = {"inv_diag": P(axis), "diag": P(axis), "mask": P(axis), "h2": P()}
    else:
        spec_of = {"diag_r": P(axis), "diag_b": P(axis), "w_r": P(None, axis), "w_b": P(None, axis),
                   "q_r": P(axis), "q_b": P(axis), "mask": P(axis), "h2": P()}
    lev_args = [getattr(lev, f) for lev in M.levels[:g] for f in fields]
    lev_specs = [spec_of[f] for _ in M.levels[:g] for f in fields]
    rest = (M.levels[g:], M.coarse_pinv)
    nu, bs = M.pre, 0

    def local_level(lev, arrays):
        loc = lambda s: (s[0] // n_dev,) + tuple(s[1:])  # noqa: E731
        if cheb:
            return _ChebLevel(*arrays, shape=loc(lev.shape), pshape=loc(lev.pshape))
        return _Level(*arrays, band_idx=None, band_nb=None, band_w=None, band_inv=None,
                      shape=loc(lev.shape), pshape=loc(lev.pshape))

    def body(b, mask, diag, weights, h, rest, *lev_arrays):
        inv_h2 = 1.0 / h**2
        mv = lambda v: _local_apply(v, mask, diag, weights, inv_h2, partition, sizes)  # noqa: E731
        dot = lambda u, v: jax.lax.psum(jnp.vdot(u, v).real, axis)  # noqa: E731
        k = len(fields)
        levels = [local_level(lev, lev_arrays[j * k:(j + 1) * k]) for j, lev in enumerate(M.levels[:g])]
        levels += list(rest[0])
        pinv = rest[1]
        shift = lambda x, a, s: _halo_shift(x, a, s, axis if a == 0 else None, n_dev)  # noqa: E731

        def gather(i, r):
            full = jax.lax.all_gather(r, axis, axis=0, tiled=True)
            z = _vcycle_any(levels, pinv, i, full, nu, bs, _Ctx())
            n = r.shape[0]
            return jax.lax.dynamic_slice_in_dim(z, jax.lax.axis_index(axis) * n, n, axis=0)

        ctx = _Ctx(shift=shift, halo=lambda xp: _ghost_halo(xp, axis, n_dev), stop=g, on_stop=gather,
                   materialise=False)

        def prec(r):
            r = jnp.where(mask, r.astype(b.dtype), 0)
            return jnp.where(mask, _vcycle_any(levels, pinv, 0, r, nu, bs, ctx), 0)

        sol = _pcg_loop(_LocalOp(mv), b, jnp.zeros_like(b), prec, rtol, atol, maxiter, _hist_len(maxiter), dot=dot)
        return _split(sol)

    rest_spec = jax.tree.map(lambda _: P(), rest)
    f = jax.shard_map(body, mesh=mesh, in_specs=(gspec, gspec, gspec, wspec, P(), rest_spec, *lev_specs),
                      out_specs=_out_specs(gspec), check_vma=False)
    return _join(jax.jit(f)(_put(jnp.asarray(b, op.dtype), mesh, gspec), _put(op.mask, mesh, gspec),
                      _put(op.diag, mesh, gspec), _put(op.weights, mesh, wspec), _put(op.spacing, mesh, P()),
                      rest, *[_put(a, mesh, s) for a, s in zip(lev_args, lev_specs)]))
