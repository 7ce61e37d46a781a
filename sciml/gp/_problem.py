"""Adapter from a `sciml.pde.Problem` to the grid model: GridSpec + residual on derivative grids.

Everything that depends on the problem's data (source, boundary values, `params`) is computed with pure
JAX here (`face_values`, `residual_fn`), so the posterior solve can be traced and differentiated; the
static layout (which faces carry which condition) is read on the host.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._model import GridSpec, boundary_nodes


def _condition_kind(cond):
    """(alpha, beta) of a box-face condition: alpha u + beta du/dn = g; raises for unsupported ones."""
    from .. import pde

    if isinstance(cond, pde.Periodic):
        raise ValueError(
            "gp.solve supports Dirichlet, Initial, Neumann and Robin conditions on box faces; pde.Periodic is "
            "not supported. Use Dirichlet data on those faces instead."
        )
    neumann = getattr(pde, "Neumann", None)
    robin = getattr(pde, "Robin", None)
    if neumann is not None and isinstance(cond, neumann):
        return 0.0, 1.0
    if robin is not None and isinstance(cond, robin):
        return float(cond.alpha), float(cond.beta)
    if isinstance(cond, (pde.Dirichlet, pde.Initial)):
        if getattr(cond, "where", None) is not None:
            raise ValueError("gp.solve supports conditions on whole box faces only (no `where=`).")
        return 1.0, 0.0
    raise ValueError(f"gp.solve does not support the condition {type(cond).__name__}.")


def _faces_of(cond, box, time_axis):
    if getattr(cond, "where", None) is not None:
        raise ValueError("gp.solve supports conditions on whole box faces only (no `where=`).")
    return [(int(a), int(s)) for a, s in cond.resolve(box, time_axis)]


def _box(problem):
    from .. import pde

    if not isinstance(problem, pde.Problem):
        raise TypeError(f"problem must be a sciml.pde.Problem, got {type(problem).__name__}")
    if getattr(problem, "n_fields", 1) != 1:
        raise ValueError(f"gp.solve supports one unknown field; the problem has n_fields={problem.n_fields}")
    box = getattr(problem, "domain", None)
    if not isinstance(box, pde.Box):
        raise TypeError(f"gp.solve needs a pde.Problem on a pde.Box, got domain {type(box).__name__}.")
    lower = tuple(float(v) for v in np.asarray(box.lower))
    upper = tuple(float(v) for v in np.asarray(box.upper))
    return box, lower, upper


def _mesh(lower, upper, shape):
    coords = [np.linspace(lo, hi, n) for lo, hi, n in zip(lower, upper, shape)]
    return np.stack([m.ravel() for m in np.meshgrid(*coords, indexing="ij")], axis=-1)


def face_layout(problem, shape):
    """Static list of (condition, [(axis, side), ...], alpha, beta) of the problem's box-face conditions."""
    box, _, _ = _box(problem)
    time_axis = getattr(problem, "time_axis", None)
    out, seen = [], set()
    for cond in getattr(problem, "conditions", []) or []:
        alpha, beta = _condition_kind(cond)
        faces = _faces_of(cond, box, time_axis)
        for f in faces:
            if f in seen:
                raise ValueError(f"gp.solve: two conditions on the same face (axis {f[0]}, side {f[1]}).")
            seen.add(f)
        out.append((cond, faces, alpha, beta))
    return out


def face_values(problem, shape, dtype):
    """Pure-JAX boundary data: [(axis, side, alpha, beta, g on the face (shape without `axis`)), ...]."""
    _, lower, upper = _box(problem)
    mesh = _mesh(lower, upper, shape)
    out = []
    for cond, faces, alpha, beta in face_layout(problem, shape):
        for axis, side in faces:
            idx = boundary_nodes(shape, [(axis, side)])
            fshape = tuple(n for k, n in enumerate(shape) if k != axis)
            vals = jax.vmap(cond.g)(jnp.asarray(mesh[idx], dtype))
            out.append((axis, side, alpha, beta, jnp.asarray(vals, dtype).reshape(fshape)))
    return out


def make_residual_fn(problem, shape, dtype, params=None):
    """`residual_fn(u, derivs) -> H` on the grid (vmapped `problem.residual` on jets); pure JAX. `params`
    (a dict, may hold traced values) overrides `problem.params` for residuals written `(u, x, params)`."""
    from .. import pde

    _, lower, upper = _box(problem)
    if params is not None:
        if not isinstance(params, dict):
            raise TypeError(f"`params` must be a dict or None, got {type(params).__name__}")
        if not getattr(problem, "takes_params", False):
            raise ValueError("`params` given, but the problem's residual does not take params (write it as "
                             "residual(u, x, params))")
        unknown = set(params) - set(problem.params)
        if unknown:
            raise ValueError(f"`params` has keys {sorted(unknown)} that are not in problem.params {sorted(problem.params)}")
    points = jnp.asarray(_mesh(lower, upper, shape), dtype)

    def residual_fn(u, derivs):
        first = {k[0]: derivs[k].reshape(-1) for k in derivs if len(k) == 1}
        second = {k: derivs[k].reshape(-1) for k in derivs if len(k) == 2}
        jet = pde.ArrayJet(u.reshape(-1), first=first, second=second)
        if params is not None:
            return jax.vmap(lambda jt, x: problem.residual_with(jt, x, params))(jet, points)
        return jax.vmap(problem.residual)(jet, points)

    return residual_fn


def grid_spec_and_residual(problem, shape, dtype):
    """Build the static GridSpec (boundary data from the problem's box-face conditions, every face node
    listed per face) and `residual_fn(u, derivs) -> H` on the grid (vmapped `problem.residual` on jets).

    **Arguments:**

    - `problem`: a [`sciml.pde.Problem`][] on a [`Box`][sciml.pde.Box].
    - `shape`: grid points per axis, one integer ≥ 3 per axis.
    - `dtype`: floating dtype of the boundary data and residual.

    **Returns:** `(spec, residual_fn)`: a [`GridSpec`][sciml.gp.GridSpec] and the grid residual.

    **Raises:** `ValueError` for a wrong number of axes or fewer than 3 points on one.
    """
    from .. import pde

    _, lower, upper = _box(problem)
    ndim = len(lower)
    shape = tuple(int(n) for n in shape)
    if len(shape) != ndim:
        raise ValueError(f"grid must give one size per axis ({ndim}), got {shape}")
    if min(shape) < 3:
        raise ValueError(f"grid needs at least 3 points per axis, got {shape}")
    keys = tuple(sorted((k for k in pde.required_derivatives(problem) if len(k) > 0), key=lambda k: (len(k), k)))
    faces = [(a, s, al, be, np.asarray(v, np.float64)) for a, s, al, be, v in face_values(problem, shape, dtype)]
    bidx, bval = [], []
    for axis, side, alpha, beta, vals in faces:
        if beta == 0.0:  # value observations (Dirichlet / Initial) enter the GP-HM boundary likelihood
            bidx.append(boundary_nodes(shape, [(axis, side)]))
            bval.append(vals.reshape(-1) / alpha)
    bidx = np.concatenate(bidx) if bidx else np.zeros((0,), int)
    bval = np.concatenate(bval) if bval else np.zeros((0,))
    spec = GridSpec(lower=lower, upper=upper, shape=shape, keys=keys, boundary_index=bidx,
                    boundary_values=bval, faces=tuple(faces))
    return spec, make_residual_fn(problem, shape, dtype)
