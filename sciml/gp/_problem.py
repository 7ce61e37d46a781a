"""Adapter from a `sciml.pde.Problem` to the grid model: GridSpec + residual on derivative grids."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._model import GridSpec, boundary_nodes


def _faces_of(cond, box, time_axis):
    from .. import pde

    if isinstance(cond, pde.Periodic):
        raise ValueError(
            "gp.solve supports Dirichlet (and Initial) conditions only; pde.Periodic is not supported yet. "
            "Use Dirichlet data on those faces instead."
        )
    return [(int(a), int(s)) for a, s in cond.resolve(box, time_axis)]


def grid_spec_and_residual(problem, shape, dtype):
    """Build the static GridSpec (boundary data from the problem's Dirichlet conditions, every face node
    listed per face) and `residual_fn(u, derivs) -> H` on the grid (vmapped `problem.residual` on jets)."""
    from .. import pde

    box = problem.domain
    lower = tuple(float(v) for v in np.asarray(box.lower))
    upper = tuple(float(v) for v in np.asarray(box.upper))
    ndim = len(lower)
    if len(shape) != ndim:
        raise ValueError(f"grid must give one size per axis ({ndim}), got {shape}")
    if min(shape) < 3:
        raise ValueError(f"grid needs at least 3 points per axis, got {shape}")
    keys = tuple(sorted((k for k in pde.required_derivatives(problem) if len(k) > 0), key=lambda k: (len(k), k)))
    time_axis = getattr(problem, "time_axis", None)
    bidx, bval = [], []
    coords = [np.linspace(lo, hi, n) for lo, hi, n in zip(lower, upper, shape)]
    mesh = np.stack([m.ravel() for m in np.meshgrid(*coords, indexing="ij")], axis=-1)
    for cond in getattr(problem, "conditions", []) or []:
        faces = _faces_of(cond, box, time_axis)
        idx = boundary_nodes(shape, faces)
        fn = cond.g
        vals = np.asarray(jax.vmap(fn)(jnp.asarray(mesh[idx], dtype)), dtype=np.float64)
        bidx.append(idx)
        bval.append(vals.reshape(-1))
    bidx = np.concatenate(bidx) if bidx else np.zeros((0,), int)
    bval = np.concatenate(bval) if bval else np.zeros((0,))
    spec = GridSpec(lower=lower, upper=upper, shape=tuple(shape), keys=keys, boundary_index=bidx,
                    boundary_values=bval)
    points = jnp.asarray(mesh, dtype)

    def residual_fn(u, derivs):
        first = {k[0]: derivs[k].reshape(-1) for k in derivs if len(k) == 1}
        second = {k: derivs[k].reshape(-1) for k in derivs if len(k) == 2}
        jet = pde.ArrayJet(u.reshape(-1), first=first, second=second)
        return jax.vmap(problem.residual)(jet, points)

    return spec, residual_fn
