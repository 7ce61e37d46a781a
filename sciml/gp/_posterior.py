"""The fitted GP as a pure-JAX object: posterior mean on the grid, prediction anywhere, and re-solving other
problems (sources, boundary data, `params`) with the fitted kernel -- jittable, vmappable, differentiable."""

from __future__ import annotations

import contextlib
from typing import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from . import _usolve as us
from ._kernels import cross_matrices, toeplitz_matrices
from ._model import GridSpec, axis_factors, kron_apply
from ._problem import face_layout, face_values, make_residual_fn

STRATEGIES = ("collocation", "dense", "cg")


def layout_spec(problem, shape, faces=None) -> GridSpec:
    """Static GridSpec of `problem` on `shape` (boundary values left out: they are data)."""
    from .. import pde
    from ._model import boundary_nodes
    from ._problem import _box

    _, lower, upper = _box(problem)
    if len(shape) != len(lower):
        raise ValueError(f"the problem has {len(lower)} dimensions but the fitted grid is {shape}")
    keys = tuple(sorted((k for k in pde.required_derivatives(problem) if len(k) > 0), key=lambda k: (len(k), k)))
    lay = face_layout(problem, shape)
    flist, bidx = [], []
    for _, fs, alpha, beta in lay:
        for a, s in fs:
            flist.append((a, s, alpha, beta, None))
            if beta == 0.0:
                bidx.append(boundary_nodes(shape, [(a, s)]))
    bidx = np.concatenate(bidx) if bidx else np.zeros((0,), int)
    return GridSpec(lower=lower, upper=upper, shape=tuple(shape), keys=keys, boundary_index=bidx,
                    boundary_values=np.zeros(len(bidx)), faces=tuple(flist))


def flat_boundary(faces, dtype):
    """Value observations (Dirichlet/Initial faces) flattened in `boundary_index` order."""
    vals = [jnp.asarray(f[4], dtype).reshape(-1) / f[2] for f in faces if f[3] == 0.0]
    return jnp.concatenate(vals) if vals else jnp.zeros((0,), dtype)


def latent_eigs(kind, kernels, spec, dtype):
    """Per-axis eigendecompositions (lam_j >= 0, Q_j) of the noise-free kernel matrices K_j on the grid."""
    out = []
    for kp, n, h in zip(kernels, spec.shape, spec.spacing):
        k = toeplitz_matrices(kind, kp, n, jnp.asarray(h, dtype), order=0)[0]
        lam, q = jnp.linalg.eigh(0.5 * (k + k.T))
        out.append((jnp.maximum(lam, 0.0), q))
    return out


def latent_coefficients(u, eigs, jitter):
    """C^{-1} vec(U) in the per-axis eigenbases, (x)Q_j^T U / (x)(lam_j + eps): every mode is divided once by its
    own (lam + eps) >= eps. Sequential Cholesky solves instead mix the rounding of the first axis's solve into
    the other axes' near-null directions (2D condition number ~ (k(0)/eps)^2 ~ 1e21), which made the
    interpolant miss its own grid values by O(1) when U carries jitter-level components."""
    a = kron_apply([q.T for _, q in eigs], u)
    d = len(eigs)
    for j, (lam, _) in enumerate(eigs):
        shape = [1] * d
        shape[j] = -1
        a = a / (lam + jitter).reshape(shape)
    return a


def latent_grid(u, eigs, jitter):
    """The posterior mean of the noise-free latent function at the nodes, (x)_j K_j C_j^{-1} U (a filter with
    factors lam / (lam + eps) in [0, 1] per axis; computed stably in the eigenbases)."""
    a = latent_coefficients(u, eigs, jitter)
    d = len(eigs)
    for j, (lam, _) in enumerate(eigs):
        shape = [1] * d
        shape[j] = -1
        a = a * lam.reshape(shape)
    return kron_apply([q for _, q in eigs], a)


def u_step(strategy, factors, spec, residual_fn, faces, u_k, log_tau1, log_tau2, lam_b, cg=(1e-10, 200)):
    """One U update for fixed kernel and precisions. Returns (U, cg iterations)."""
    dtype = u_k.dtype
    if strategy == "collocation":
        return us.collocation_solve(factors, spec, residual_fn, faces, dtype), jnp.asarray(0)
    if any(f[3] != 0.0 for f in faces):
        raise ValueError("gp: Neumann/Robin faces need the exact collocation solve (a linear PDE with constant "
                         "coefficients and no mixed derivatives).")
    g = flat_boundary(faces, dtype)
    c_val, cs, h0 = us.linearise(residual_fn, factors, spec, u_k)
    if strategy == "dense":
        return us.dense_solve(factors, spec, c_val, cs, h0, u_k, g, log_tau1, log_tau2, lam_b), jnp.asarray(0)
    return us.cg_solve(factors, spec, c_val, cs, h0, u_k, g, log_tau1, log_tau2, lam_b, cg[0], cg[1])


class Posterior(eqx.Module):
    """A fitted grid GP (the `model` of a [`GPResult`][sciml.gp.GPResult]); pure JAX.

    **Fields:**

    - `u_grid`: the posterior mean on the grid (the grid's shape).
    - `kernels`: tuple of per-axis [`AxisKernel`][sciml.gp.AxisKernel]s.
    - `log_tau1`, `log_tau2`: log precisions of the boundary and residual likelihoods (scalars).
    - `kind`: the kernel family, `"gaussian"` or `"student_t"` (static).
    - `spec`: the [`GridSpec`][sciml.gp.GridSpec] of the fit (static).
    - `jitter`: the `eps` added to each per-axis covariance (static).
    - `lam_b`: the boundary likelihood weight (default 200).
    - `strategy`: the U solve used by `resolve`: `"collocation"` (exact Kronecker-eigenbasis collocation),
      `"dense"` (default) or `"cg"` (GP-HM quadratic model).
    - `newton_steps`: Gauss-Newton iterations for nonlinear residuals (default 4).
    - `cg`: `(rtol, maxiter)` of the `"cg"` strategy (default `(1e-10, 200)`).
    - `u_nodes`: the U solve's node values when they differ from `u_grid` (default `None`: `u_grid`). The exact
      collocation solve (no prior term) returns node values U = f + e whose jitter part e (prior variance
      `jitter`) is not part of the smooth solution; `u_grid` is then the latent posterior mean
      K C^{-1} U at the nodes and `predict` conditions on U, so `predict` at the nodes equals `u_grid`.
    """

    u_grid: jax.Array
    kernels: tuple
    log_tau1: jax.Array
    log_tau2: jax.Array
    kind: str = eqx.field(static=True)
    spec: GridSpec = eqx.field(static=True)
    jitter: float = eqx.field(static=True)
    lam_b: float = eqx.field(static=True, default=200.0)
    strategy: str = eqx.field(static=True, default="dense")
    newton_steps: int = eqx.field(static=True, default=4)
    cg: tuple = eqx.field(static=True, default=(1e-10, 200))
    u_nodes: jax.Array | None = None

    def factors(self, spec: GridSpec | None = None):
        """The per-axis factors (Cholesky, kernel matrices, derivative operators) of the fitted kernel.

        **Arguments:**

        - `spec`: the grid to build them on (default `None`: the fit's `spec`).

        **Returns:** a list of per-axis factors, as [`axis_factors`][sciml.gp.axis_factors].
        """
        return axis_factors(self.kind, self.kernels, spec or self.spec, self.jitter)

    def _x64(self):
        if self.u_grid.dtype == jnp.float64 and not jax.config.jax_enable_x64:
            return jax.enable_x64(True)
        return contextlib.nullcontext()

    def _coefficients(self):
        """(C^{-1} vec(U) in the per-axis eigenbases, the eigendecompositions)."""
        eigs = latent_eigs(self.kind, self.kernels, self.spec, self.u_grid.dtype)
        u = self.u_grid if self.u_nodes is None else self.u_nodes
        return latent_coefficients(u, eigs, self.jitter), eigs

    def _points(self, x):
        d = self.spec.ndim
        if isinstance(x, jax.core.Tracer):
            xa = x
        else:
            xa = np.asarray(x)
        if xa.ndim != 2 or xa.shape[1] != d:
            raise ValueError(f"`x` must have shape (n, {d}) (one point per row), got {tuple(xa.shape)}"
                             + (f"; for n points of a 1D problem pass x.reshape(-1, 1)" if xa.ndim == 1 else ""))
        return xa

    def predict(self, x: Float[Array, "n d"]) -> Float[Array, " n"]:
        """Posterior mean u(x) = k(x, X)^T C^{-1} vec(U) at points `x` of shape `(n, d)`.

        **Arguments:** `x`: points, one per row (a 1-D array raises; reshape to `(n, 1)` for 1D problems).
        **Returns:** `(n,)` values in the fit's dtype.
        """
        xa = self._points(x)
        with self._x64():
            dtype = self.u_grid.dtype
            xa = jnp.asarray(xa, dtype)
            a, eigs = self._coefficients()
            coords = [jnp.asarray(c, dtype) for c in self.spec.coords]
            outs = []
            for i in range(0, xa.shape[0], 4096):
                xc = xa[i: i + 4096]
                t = None
                for j in range(self.spec.ndim):
                    phi = cross_matrices(self.kind, self.kernels[j], xc[:, j], coords[j], order=0)[0] @ eigs[j][1]
                    t = jnp.tensordot(phi, a, axes=(1, 0)) if t is None else jnp.einsum("ni...,ni->n...", t, phi)
                outs.append(t)
            return jnp.concatenate(outs, axis=0)

    def predict_grid(self, coords: Sequence):
        """Posterior mean on a tensor grid (n-mode products, no scattered evaluation).

        **Arguments:**

        - `coords`: one 1D coordinate array per axis.

        **Returns:** the grid of values, shape `(len(coords[0]), ..., len(coords[d-1]))`, the fit's dtype.

        **Raises:** `ValueError` when `coords` does not hold one 1D array per axis.
        """
        if len(coords) != self.spec.ndim:
            raise ValueError(f"`coords` must hold one 1-D array per axis ({self.spec.ndim}), got {len(coords)}")
        with self._x64():
            cs = [jnp.asarray(c, self.u_grid.dtype) for c in coords]
            for c in cs:
                if c.ndim != 1:
                    raise ValueError(f"each entry of `coords` must be 1-D, got shape {c.shape}")
            a, eigs = self._coefficients()
            mats = [cross_matrices(self.kind, self.kernels[j], c, jnp.asarray(self.spec.coords[j], c.dtype),
                                   order=0)[0] @ eigs[j][1] for j, c in enumerate(cs)]
            return kron_apply(mats, a)

    def resolve(self, problem, *, params: dict | None = None, newton_steps: int | None = None) -> "Posterior":
        """Posterior mean of another problem on the same box and grid with the fitted kernel and precisions.

        Pure JAX: jit, vmap and grad work through it w.r.t. anything the problem's source, boundary data or
        coefficients close over (the posterior mean is linear in the data). The box, grid and the layout of
        the face conditions are read on the host.

        **Arguments:**

        - `problem`: a [`sciml.pde.Problem`][] on the fitted box (any source, boundary data, coefficients).
        - `params`: coefficients overriding `problem.params` (may be traced, e.g. `jax.grad` w.r.t. `params["k"]`)
          for residuals written `residual(u, x, params)`.
        - `newton_steps`: Gauss-Newton iterations for a nonlinear residual (default: the fit's).

        **Returns:** a [`Posterior`][sciml.gp.Posterior] with `u_grid` and `predict`.

        **Example:**

        ```python
        res = gp.solve(problem, grid=(64, 64))
        du = jax.grad(lambda a: res.resolve(make_problem(a)).predict(x0)[0])(1.0)
        ```
        """
        from ._problem import _box

        _, lower, upper = _box(problem)
        if not (np.allclose(lower, self.spec.lower) and np.allclose(upper, self.spec.upper)):
            raise ValueError(f"resolve: the problem's box {lower}-{upper} differs from the fitted box "
                             f"{self.spec.lower}-{self.spec.upper}")
        dtype = self.u_grid.dtype
        if dtype == jnp.float64 and not jax.config.jax_enable_x64:
            raise ValueError("resolve: the fit is float64; enable jax_enable_x64 (or call inside "
                             "`with jax.enable_x64(True):`) so the solve runs in float64")
        spec = layout_spec(problem, self.spec.shape)
        strategy = self.strategy
        if strategy == "collocation" and not us.separable_structure(spec):
            raise ValueError("resolve: this fit uses the exact Kronecker collocation solve, which needs single-axis "
                             "derivatives only (no mixed u_xy terms)")
        faces = face_values(problem, spec.shape, dtype)
        residual_fn = make_residual_fn(problem, spec.shape, dtype, params)
        facs = self.factors(spec)
        u = jnp.zeros(spec.shape, dtype)
        steps = 1 if strategy == "collocation" else (newton_steps or self.newton_steps)
        for _ in range(steps):
            u, _ = u_step(strategy, facs, spec, residual_fn, faces, u, self.log_tau1, self.log_tau2, self.lam_b,
                          self.cg)
        return make_posterior(u, self.kernels, self.log_tau1, self.log_tau2, self.kind, spec, self.jitter, self.lam_b,
                              strategy, self.newton_steps, self.cg)


def make_posterior(u, kernels, log_tau1, log_tau2, kind, spec, jitter, lam_b, strategy, newton_steps, cg):
    """A [`Posterior`][sciml.gp.Posterior] from the node values of a U solve. After the exact collocation solve
    (no prior term: its U carries jitter-level components e, measured up to 1e-3 relative with Neumann data on
    both faces of an axis) `u_grid` is the latent posterior mean K C^{-1} U and `u_nodes` keeps U; the GP-HM
    solves (prior included, so U is already the MAP of the latent values) keep U as `u_grid`."""
    nodes = None
    if strategy == "collocation":
        nodes, u = u, latent_grid(u, latent_eigs(kind, kernels, spec, u.dtype), jitter)
    return Posterior(u, kernels, log_tau1, log_tau2, kind, spec, jitter, lam_b, strategy, newton_steps, cg, nodes)
