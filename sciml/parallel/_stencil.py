"""Domain-decomposed Poisson stencil `mv` and CG with `jax.shard_map`: halo exchange by `ppermute`,
dot products by `psum`. Same answer as one device up to rounding."""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from jaxtyping import Array, ArrayLike, Float

from ..linalg._krylov import _HISTORY, _check_rhs, _check_tols, _maxiter, _pcg_loop
from ..linalg._solution import Solution
from ..linalg._poisson import PoissonOperator


def _check_op_mesh(op, mesh):
    if not isinstance(op, PoissonOperator):
        raise TypeError(f"`op` must be a flag-grid PoissonOperator (linalg.poisson_operator), got {type(op).__name__}.")
    if not isinstance(mesh, Mesh):
        raise TypeError(f"`mesh` must be a jax.sharding.Mesh (parallel.make_mesh(...)), got {type(mesh).__name__}.")


def _normalise_partition(op: PoissonOperator, mesh: Mesh, partition):
    if partition is None:
        partition = (mesh.axis_names[0],) + (None,) * (op.ndim - 1)
    if isinstance(partition, str) or not isinstance(partition, (tuple, list)):
        raise TypeError(f"`partition` must be a tuple of mesh axis names (or None) per grid axis, got {partition!r}.")
    partition = tuple(partition) + (None,) * (op.ndim - len(tuple(partition)))
    if len(partition) != op.ndim:
        raise ValueError(f"`partition` must name one mesh axis (or None) per grid axis ({op.ndim}), got {partition}.")
    for a, name in enumerate(partition):
        if name is None:
            continue
        if name not in mesh.axis_names:
            raise ValueError(f"`partition` names mesh axis {name!r}, but the mesh has axes {mesh.axis_names}.")
        if op.shape[a] % mesh.shape[name]:
            raise ValueError(
                f"`partition`: grid axis {a} of size {op.shape[a]} is not divisible by the {mesh.shape[name]} "
                f"devices of mesh axis {name!r}."
            )
    used = [p for p in partition if p is not None]
    if len(set(used)) != len(used):
        raise ValueError(f"`partition` must not name a mesh axis twice, got {partition}.")
    return partition


def _halo_shift(x, axis, side, mesh_axis, n_dev):
    """Neighbour values along `axis` for a block of a grid sharded over `mesh_axis` (zeros at the global edge)."""
    n = x.shape[axis]
    if mesh_axis is None or n_dev == 1:
        pad = [(0, 0)] * x.ndim
        pad[axis] = (0, 1) if side == 1 else (1, 0)
        xp = jnp.pad(x, pad)
        return jax.lax.slice_in_dim(xp, 1 if side == 1 else 0, n + (1 if side == 1 else 0), axis=axis)
    if side == 1:  # need first slab of the next block
        slab = jax.lax.slice_in_dim(x, 0, 1, axis=axis)
        halo = jax.lax.ppermute(slab, mesh_axis, [(d + 1, d) for d in range(n_dev - 1)])
        return jnp.concatenate([jax.lax.slice_in_dim(x, 1, n, axis=axis), halo], axis=axis)
    slab = jax.lax.slice_in_dim(x, n - 1, n, axis=axis)
    halo = jax.lax.ppermute(slab, mesh_axis, [(d, d + 1) for d in range(n_dev - 1)])
    return jnp.concatenate([halo, jax.lax.slice_in_dim(x, 0, n - 1, axis=axis)], axis=axis)


def _local_apply(x, mask, diag, weights, inv_h2, partition, sizes):
    """The block of `PoissonOperator.mv`: the stencil on FLUID cells, the identity on SOLID/AIR cells."""
    xm = jnp.where(mask, x, 0)
    acc = diag.astype(x.dtype) * xm
    for a in range(x.ndim):
        for s in (0, 1):
            acc = acc - weights[a, s].astype(x.dtype) * _halo_shift(xm, a, s, partition[a], sizes[a])
    return jnp.where(mask, acc * jnp.asarray(inv_h2, x.dtype), x)


def _put(a, mesh, spec):
    """Place `a` with `spec` on `mesh`; arrays already spanning several processes are used as they are, and
    host values are laid out with `make_array_from_callback` so this works across processes too."""
    if isinstance(a, jax.Array) and not a.is_fully_addressable:
        return a
    arr = np.asarray(a)
    return jax.make_array_from_callback(arr.shape, NamedSharding(mesh, spec), lambda idx: arr[idx])


class _LocalOp:
    def __init__(self, mv):
        self.mv = mv


def _specs(partition):
    grid = P(*partition)
    w = P(None, None, *partition)
    return grid, w


def sharded_mv(op: PoissonOperator, x: Float[ArrayLike, "*grid"], mesh: Mesh,
               partition: Sequence | None = None) -> Float[Array, "*grid"]:
    """`op.mv(x)` computed with the grid split over `mesh`. Returns a grid sharded the same way.

    **Arguments:**

    - `op`: a [`PoissonOperator`][sciml.linalg.PoissonOperator].
    - `x`: grid-shaped array of the operator's dtype.
    - `mesh`: a `jax.sharding.Mesh`.
    - `partition`: one mesh axis name (or `None`) per grid axis (default: first grid axis over the first
      mesh axis).

    **Example:**

    ```python
    mesh = parallel.make_mesh((4,), ("x",))
    y = parallel.sharded_mv(op, x, mesh)          # == op.mv(x)
    ```
    """
    _check_op_mesh(op, mesh)
    x = _check_rhs(op, x, "x")
    partition = _normalise_partition(op, mesh, partition)
    sizes = [mesh.shape[p] if p is not None else 1 for p in partition]
    gspec, wspec = _specs(partition)

    def body(x, mask, diag, weights, h):
        return _local_apply(x, mask, diag, weights, 1.0 / h**2, partition, sizes)

    f = jax.shard_map(body, mesh=mesh, in_specs=(gspec, gspec, gspec, wspec, P()), out_specs=gspec)
    return jax.jit(f)(_put(x, mesh, gspec), _put(op.mask, mesh, gspec), _put(op.diag, mesh, gspec),
                      _put(op.weights, mesh, wspec), _put(op.spacing, mesh, P()))


def sharded_cg(op: PoissonOperator, b: Float[ArrayLike, "*grid"], mesh: Mesh, partition: Sequence | None = None, *,
               rtol: float = 1e-6, atol: float = 0.0, maxiter: int | None = None, jacobi: bool = False):
    """CG (optionally Jacobi-PCG) for a Poisson operator with the grid split over `mesh`: each device holds a
    block, exchanges one-cell halos with its neighbours (`ppermute`) and reduces dot products with `psum`.

    **Arguments:**

    - `op`: a [`PoissonOperator`][sciml.linalg.PoissonOperator] without pure-Neumann components.
    - `b`: right-hand side of the grid's shape and the operator's dtype; entries off FLUID cells are ignored
      (as in [`linalg.cg`][sciml.linalg.cg]), so the result equals `linalg.cg(op, b)` for any `b`.
    - `mesh`: a `jax.sharding.Mesh` ([`make_mesh`][sciml.parallel.make_mesh]).
    - `partition`: one mesh axis name (or `None`) per grid axis; default: first grid axis over the first
      mesh axis. Each split grid axis must be divisible by its mesh axis size.
    - `rtol`, `atol`, `maxiter`: as in [`linalg.cg`][sciml.linalg.cg] (`converged` is judged on the true
      residual).
    - `jacobi`: use the Jacobi preconditioner (the diagonal of the stencil).

    **Returns:** a [`linalg.Solution`][sciml.linalg.Solution], as from `linalg.cg` (`value` sharded like the
    grid; `iterations`, `converged`, `residual_norms`, `true_residual`, ...). Works across processes after
    `jax.distributed.initialize` (a global mesh over all processes' devices).

    **Example:**

    ```python
    mesh = parallel.make_mesh((4,), ("x",))                      # 4 devices along the first grid axis
    sol = parallel.sharded_cg(op, b, mesh, ("x", None), jacobi=True)
    sol.value, sol.iterations, sol.converged
    ```
    """
    _check_op_mesh(op, mesh)
    if op.n_null:
        raise ValueError("`op` has pure-Neumann components; sharded_cg does not project null spaces. "
                         "Use linalg.cg or add Dirichlet/AIR cells.")
    _check_rhs(op, b)
    rtol, atol = _check_tols(rtol, atol)
    if not isinstance(jacobi, (bool, np.bool_)):
        raise TypeError(f"`jacobi` must be True or False, got {jacobi!r}.")
    partition = _normalise_partition(op, mesh, partition)
    sizes = [mesh.shape[p] if p is not None else 1 for p in partition]
    names = tuple(p for p in partition if p is not None)
    maxiter = _maxiter(op, maxiter)
    gspec, wspec = _specs(partition)

    def body(b, mask, diag, weights, h):
        inv_h2 = 1.0 / h**2
        mv = lambda v: _local_apply(v, mask, diag, weights, inv_h2, partition, sizes)  # noqa: E731
        dot = lambda u, v: jax.lax.psum(jnp.vdot(u, v).real, names)  # noqa: E731
        if jacobi:
            d = jnp.where(mask, diag.astype(b.dtype) * jnp.asarray(inv_h2, b.dtype), 0)
            inv = jnp.where(d != 0, 1 / jnp.where(d != 0, d, 1), 0)
            prec = lambda r: r * inv  # noqa: E731
        else:
            prec = lambda r: r  # noqa: E731
        b = jnp.where(mask, b, 0)  # off-FLUID entries are ignored, as linalg.cg does (identity rows there)
        sol = _pcg_loop(_LocalOp(mv), b, jnp.zeros_like(b), prec, rtol, atol, maxiter, _hist_len(maxiter), dot=dot)
        return _split(sol)

    f = jax.shard_map(body, mesh=mesh, in_specs=(gspec, gspec, gspec, wspec, P()), out_specs=_out_specs(gspec),
                      check_vma=False)
    return _join(jax.jit(f)(_put(b, mesh, gspec), _put(op.mask, mesh, gspec), _put(op.diag, mesh, gspec),
                            _put(op.weights, mesh, wspec), _put(op.spacing, mesh, P())))


def _hist_len(maxiter: int) -> int:
    return min(maxiter, _HISTORY) + 1  # the residual-norm buffer of `linalg.cg`'s default


def _split(sol: Solution):
    """A per-device `Solution` as (value, the replicated scalar fields): shard_map's outputs."""
    return sol.value, (sol.iterations, sol.residual_norms, sol.converged, sol.result, sol.safeguard_steps,
                       sol.true_residual, sol.rhs_removed)


def _out_specs(gspec):
    return gspec, (P(),) * 7


def _join(out) -> Solution:
    value, (it, hist, conv, result, sg, true, removed) = out
    return Solution(value, it, hist, conv, result, sg, true, removed)
