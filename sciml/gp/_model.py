"""Grid GP model: per-axis Kronecker factors, derivative operators and the GP-HM objective.

vec(U) ~ N(0, C), C = C_1 (x) ... (x) C_d, C_j = K_j + eps I. Derivatives on the grid are n-mode products
with D_j^{(a)} = K_j^{(a)} C_j^{-1}. One Cholesky per axis serves the solve, the log-determinant and the
derivative operators. Everything here is pure JAX (jit/grad-safe); the residual of the PDE enters as a
function `residual_fn(derivs, points) -> H` of the derivative grids (see `_problem.py`).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np

from .. import linalg
from ._kernels import AxisKernel, cross_matrices, toeplitz_matrices

DerivKey = tuple  # () | (i,) | (i, j) as in sciml.pde.required_derivatives


def key_orders(key: DerivKey, ndim: int) -> tuple[int, ...]:
    """Per-axis derivative orders of a derivative request, e.g. (0, 0) -> (2, 0) in 2D."""
    orders = [0] * ndim
    for i in key:
        orders[i] += 1
    if max(orders, default=0) > 2:
        raise ValueError(f"derivative {key} needs order > 2 on one axis; only k, k', k'' are implemented")
    return tuple(orders)


@dataclasses.dataclass(frozen=True, eq=False)
class GridSpec:
    """Static description of the tensor collocation grid (every node is a collocation point).

    **Arguments:**

    - `lower`, `upper`: box corners (length d).
    - `shape`: grid points per axis (M_1, ..., M_d).
    - `keys`: derivative requests of the residual, e.g. `((0, 0),)` for u''.
    - `boundary_index`: flat indices of the boundary data nodes (duplicates allowed: corners counted per face).
    - `boundary_values`: g at those nodes.
    - `faces`: the box-face conditions, a tuple of `(axis, side, alpha, beta, values)` with `values` on the face's
      nodes (grid shape without `axis`); `beta != 0` marks a derivative (Neumann/Robin) condition (default `()`).
    """

    lower: tuple
    upper: tuple
    shape: tuple
    keys: tuple
    boundary_index: np.ndarray
    boundary_values: np.ndarray
    faces: tuple = ()  # ((axis, side, alpha, beta, values on the face (grid shape without `axis`)), ...)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def coords(self) -> list[np.ndarray]:
        return [np.linspace(lo, hi, n) for lo, hi, n in zip(self.lower, self.upper, self.shape)]

    @property
    def spacing(self) -> list[float]:
        return [(hi - lo) / (n - 1) for lo, hi, n in zip(self.lower, self.upper, self.shape)]

    @property
    def points(self) -> np.ndarray:
        mesh = np.meshgrid(*self.coords, indexing="ij")
        return np.stack([m.ravel() for m in mesh], axis=-1)

    @property
    def max_orders(self) -> tuple[int, ...]:
        orders = [0] * self.ndim
        for k in self.keys:
            for j, a in enumerate(key_orders(k, self.ndim)):
                orders[j] = max(orders[j], a)
        for face in self.faces:  # derivative conditions need D^{(1)} on their axis
            if face[3] != 0.0:
                orders[face[0]] = max(orders[face[0]], 1)
        return tuple(orders)


def boundary_nodes(shape: Sequence[int], faces: Sequence[tuple[int, int]]) -> np.ndarray:
    """Flat indices of grid nodes on the given faces [(axis, side)], each face listed in full."""
    idx = np.arange(int(np.prod(shape))).reshape(shape)
    out = []
    for axis, side in faces:
        sl = [slice(None)] * len(shape)
        sl[axis] = 0 if side == 0 else shape[axis] - 1
        out.append(idx[tuple(sl)].ravel())
    return np.concatenate(out) if out else np.zeros((0,), dtype=int)


def mode_dot(x, a, axis: int):
    """n-mode product: apply matrix `a` along `axis` of the grid array `x`."""
    return jnp.moveaxis(jnp.tensordot(a, x, axes=(1, axis)), 0, axis)


def kron_apply(mats: Sequence, x):
    """(A_1 (x) ... (x) A_d) vec(x) as a grid array; `None` factors are the identity (skipped)."""
    keep = [j for j, a in enumerate(mats) if a is not None]
    if not keep:
        return x
    if len(keep) == len(mats):
        return linalg.kron_mv(list(mats), x)
    for j in keep:
        x = mode_dot(x, mats[j], j)
    return x


class AxisFactor(eqx.Module):
    """Per-axis factorisation: one Cholesky of C_j reused for solves, log-det and derivative operators.

    - `chol`: lower Cholesky factor L_j of C_j = K_j + eps I.
    - `kmats`: (K, K', K'') up to the needed order.
    - `deriv_ops`: {a: K^{(a)} C^{-1}} for a >= 1.
    - `z_ops`: operators in the whitened variable z = L^{-1} U: {0: L, a: K^{(a)} L^{-T}}.
    """

    chol: jax.Array
    kmats: tuple
    deriv_ops: dict
    z_ops: dict

    def logdet(self):
        return 2.0 * jnp.sum(jnp.log(jnp.diagonal(self.chol)))

    def solve(self, x, axis):
        """C_j^{-1} applied along `axis`."""
        xm = jnp.moveaxis(x, axis, 0)
        sh = xm.shape
        y = jsl.cho_solve((self.chol, True), xm.reshape(sh[0], -1)).reshape(sh)
        return jnp.moveaxis(y, 0, axis)


def axis_factors(kind: str, kernels: Sequence[AxisKernel], spec: GridSpec, jitter: float = 1e-6):
    """Build the per-axis factors (Toeplitz kernel matrices, Cholesky, derivative operators).

    **Arguments:**

    - `kind`: the kernel family, `"gaussian"` or `"student_t"`.
    - `kernels`: per-axis [`AxisKernel`][sciml.gp.AxisKernel]s.
    - `spec`: the [`GridSpec`][sciml.gp.GridSpec] (grid, and which derivative orders are needed).
    - `jitter`: `eps` in `C_j = K_j + eps·I` (default `1e-6`).

    **Returns:** a list of per-axis factor modules (fields `chol`, `kmats`, `deriv_ops`, `z_ops`).
    """
    out = []
    for j, (kp, n, h) in enumerate(zip(kernels, spec.shape, spec.spacing)):
        order = spec.max_orders[j]
        kmats = toeplitz_matrices(kind, kp, n, h, order=max(order, 0))
        c = kmats[0] + jitter * jnp.eye(n, dtype=kmats[0].dtype)
        chol = jnp.linalg.cholesky(c)
        deriv_ops, z_ops = {}, {0: chol}
        for a in range(1, order + 1):
            # D = K^{(a)} C^{-1} = (C^{-1} K^{(a)T})^T ;  E = K^{(a)} L^{-T} = (L^{-1} K^{(a)T})^T
            kt = kmats[a].T
            linv_kt = jsl.solve_triangular(chol, kt, lower=True)
            z_ops[a] = linv_kt.T
            deriv_ops[a] = jsl.solve_triangular(chol.T, linv_kt, lower=False).T
        out.append(AxisFactor(chol, kmats, deriv_ops, z_ops))
    return out


def derivative_grids(u, factors, keys, ndim):
    """{key: D_key U} for every derivative request (grid arrays).

    **Arguments:**

    - `u`: values on the grid.
    - `factors`: from [`axis_factors`][sciml.gp.axis_factors].
    - `keys`: derivative requests, tuples as from `pde.required_derivatives` (e.g. `(0, 0)` for ∂²/∂x₀²).
    - `ndim`: number of grid axes.

    **Returns:** a dict from each key to a grid array of `u`'s shape.
    """
    out = {}
    for k in keys:
        orders = key_orders(k, ndim)
        out[k] = kron_apply([f.deriv_ops[a] if a > 0 else None for f, a in zip(factors, orders)], u)
    return out


def logdet_c(factors, shape):
    m = int(np.prod(shape))
    return sum((m // n) * f.logdet() for f, n in zip(factors, shape))


def quad_c(u, factors):
    """vec(U)^T C^{-1} vec(U) with one Cholesky solve per axis."""
    a = u
    for j, f in enumerate(factors):
        a = f.solve(a, j)
    return jnp.sum(u * a)


def neg_log_joint(u, log_tau1, log_tau2, factors, spec: GridSpec, residual_fn: Callable, lam_b: float):
    """Negative GP-HM log joint (additive constants dropped) and its parts.

    -J = 1/2 log|C| + 1/2 U^T C^{-1} U - lam_b [N_b/2 log tau1 - tau1/2 ||U_b - g||^2]
         - M/2 log tau2 + tau2/2 ||H||^2.

    **Arguments:**

    - `u`: the solution values on the grid, shape `spec.shape`.
    - `log_tau1`, `log_tau2`: log precisions of the boundary and residual likelihoods (scalars).
    - `factors`: from [`axis_factors`][sciml.gp.axis_factors].
    - `spec`: the [`GridSpec`][sciml.gp.GridSpec].
    - `residual_fn`: `(u, derivs) -> H`, the PDE residual on the grid from the derivative grids (as made by
      [`grid_spec_and_residual`][sciml.gp.grid_spec_and_residual]).
    - `lam_b`: the boundary likelihood weight λ_b (paper: 200).

    **Returns:** `(loss, parts)`: the scalar objective and a dict with `prior`, `boundary_sq`, `residual_sq` and
    the selection `criterion`.
    """
    m = spec.size
    nb = len(spec.boundary_index)
    derivs = derivative_grids(u, factors, spec.keys, spec.ndim)
    h = residual_fn(u, derivs)
    ub = u.reshape(-1)[spec.boundary_index]
    bres = jnp.sum((ub - jnp.asarray(spec.boundary_values, u.dtype)) ** 2)
    hres = jnp.sum(h**2)
    t1, t2 = jnp.exp(log_tau1), jnp.exp(log_tau2)
    prior = 0.5 * logdet_c(factors, spec.shape) + 0.5 * quad_c(u, factors)
    bterm = -lam_b * (0.5 * nb * log_tau1 - 0.5 * t1 * bres)
    hterm = -0.5 * m * log_tau2 + 0.5 * t2 * hres
    loss = prior + bterm + hterm
    crit = bres / max(nb, 1) + hres / m
    return loss, {"prior": prior, "boundary_sq": bres, "residual_sq": hres, "criterion": crit}


def dense_neg_log_joint(u, log_tau1, log_tau2, kind, kernels, spec: GridSpec, residual_fn, lam_b, jitter=1e-6):
    """Reference implementation with dense matrices (kron of factors, LU solve, slogdet). Small grids only.

    **Arguments:**

    - `u`: the solution values on the grid, shape `spec.shape`.
    - `log_tau1`, `log_tau2`: log precisions of the boundary and residual likelihoods (scalars).
    - `kind`: the kernel family, `"gaussian"` or `"student_t"`.
    - `kernels`: per-axis [`AxisKernel`][sciml.gp.AxisKernel]s.
    - `spec`: the [`GridSpec`][sciml.gp.GridSpec].
    - `residual_fn`: `(u, derivs) -> H`, the PDE residual on the grid from the derivative grids (as made by
      [`grid_spec_and_residual`][sciml.gp.grid_spec_and_residual]).
    - `lam_b`: the boundary likelihood weight λ_b (paper: 200).
    - `jitter`: `eps` on each factor (default `1e-6`).

    **Returns:** the scalar objective (as `neg_log_joint`'s `loss`).
    """
    m = spec.size
    nb = len(spec.boundary_index)
    mats = []
    for kp, n, h in zip(kernels, spec.shape, spec.spacing):
        x = jnp.arange(n) * h
        mats.append(cross_matrices(kind, kp, x, x, order=2))
    c = mats[0][0] + jitter * jnp.eye(spec.shape[0])
    for j in range(1, spec.ndim):
        c = jnp.kron(c, mats[j][0] + jitter * jnp.eye(spec.shape[j]))
    cinv_u = jnp.linalg.solve(c, u.reshape(-1))
    derivs = {}
    for k in spec.keys:
        orders = key_orders(k, spec.ndim)
        kk = None
        for j, a in enumerate(orders):
            fac = mats[j][a] if a > 0 else (mats[j][0] + jitter * jnp.eye(spec.shape[j]))
            kk = fac if kk is None else jnp.kron(kk, fac)
        derivs[k] = (kk @ cinv_u).reshape(spec.shape)
    h = residual_fn(u, derivs)
    ub = u.reshape(-1)[spec.boundary_index]
    bres = jnp.sum((ub - jnp.asarray(spec.boundary_values, u.dtype)) ** 2)
    hres = jnp.sum(h**2)
    _, logdet = jnp.linalg.slogdet(c)
    prior = 0.5 * logdet + 0.5 * jnp.dot(u.reshape(-1), cinv_u)
    return (
        prior
        - lam_b * (0.5 * nb * log_tau1 - 0.5 * jnp.exp(log_tau1) * bres)
        - 0.5 * m * log_tau2
        + 0.5 * jnp.exp(log_tau2) * hres
    )


def predict(u, kind, kernels, factors, spec: GridSpec, x, chunk: int = 4096):
    """Conditional mean k(x, X)^T C^{-1} vec(U) at scattered points x of shape (n, d)."""
    x = jnp.atleast_2d(jnp.asarray(x, dtype=u.dtype))
    a = u
    for j, f in enumerate(factors):
        a = f.solve(a, j)
    coords = [jnp.asarray(c, dtype=u.dtype) for c in spec.coords]

    def one_chunk(xc):
        t = None
        for j in range(spec.ndim):
            kx = cross_matrices(kind, kernels[j], xc[:, j], coords[j], order=0)[0]  # (n, M_j)
            if t is None:
                t = jnp.tensordot(kx, a, axes=(1, 0))  # (n, M_2, ..., M_d)
            else:
                t = jnp.einsum("ni...,ni->n...", t, kx)
        return t

    outs = [one_chunk(x[i : i + chunk]) for i in range(0, x.shape[0], chunk)]
    return jnp.concatenate(outs, axis=0)


def predict_grid(u, kind, kernels, factors, spec: GridSpec, coords):
    """Conditional mean on a tensor grid given by per-axis coordinate arrays (n-mode products)."""
    a = u
    for j, f in enumerate(factors):
        a = f.solve(a, j)
    mats = [
        cross_matrices(kind, kernels[j], jnp.asarray(c, dtype=u.dtype), jnp.asarray(spec.coords[j], dtype=u.dtype), order=0)[0]
        for j, c in enumerate(coords)
    ]
    return kron_apply(mats, a)


_ = jax


def kernel_factors(kind: str, kernels: Sequence[AxisKernel], spec: GridSpec, jitter: float):
    """Per-axis (Cholesky of C_j, (C_j, K_j', K_j'')) without forming any K^{(a)} C^{-1} operator."""
    out = []
    for j, (kp, n, h) in enumerate(zip(kernels, spec.shape, spec.spacing)):
        kmats = toeplitz_matrices(kind, kp, n, h, order=spec.max_orders[j])
        c = kmats[0] + jitter * jnp.eye(n, dtype=kmats[0].dtype)
        out.append((jnp.linalg.cholesky(c), (c,) + tuple(kmats[1:])))
    return out


@jax.custom_vjp
def _logdet_and_solve(c, b):
    """(log|C|, C^{-1} B) for symmetric positive definite C, by one Cholesky factorisation.

    Hand-written VJP: with Y = C^{-1} Xbar, Bbar = Y and Cbar = ldbar C^{-1} - Y X^T (two more triangular solves
    against [Xbar, I]); autodiff through the factorisation and the solve takes several more triangular solves
    and copies, which dominated the joint-Adam step on small 2D grids."""
    return _logdet_and_solve_fwd(c, b)[0]


def _logdet_and_solve_fwd(c, b):
    chol = jnp.linalg.cholesky(c)
    x = jsl.cho_solve((chol, True), b)
    return (2.0 * jnp.sum(jnp.log(jnp.diagonal(chol))), x), (chol, x)


def _logdet_and_solve_bwd(res, cts):
    chol, x = res
    ld_bar, x_bar = cts
    n = chol.shape[0]
    y = jsl.cho_solve((chol, True), jnp.concatenate([x_bar, jnp.eye(n, dtype=chol.dtype)], axis=1))
    b_bar, c_inv = y[:, : x.shape[1]], y[:, x.shape[1] :]
    return ld_bar * c_inv - b_bar @ x.T, b_bar


_logdet_and_solve.defvjp(_logdet_and_solve_fwd, _logdet_and_solve_bwd)


def neg_log_joint_vec(u, log_tau1, log_tau2, kind, kernels, spec: GridSpec, residual_fn: Callable, lam_b: float,
                      jitter: float):
    """`neg_log_joint` with vector-only algebra: Cholesky solves applied to U only, never to an n x n matrix.
    A derivative request solves along its differentiated axes only, D_key U = (x)_{j: a_j > 0} K_j^{(a_j)}
    C_j^{-1} U, and the quadratic term reuses those partial solves, U^T C^{-1} U = <C_A^{-1} U, C_B^{-1} U> for
    a split A + B of the axes (in 2D: one Cholesky solve per axis in all). No operator K^{(a)} C^{-1} is formed
    (same value and gradients as `neg_log_joint`).

    **Arguments:**

    - `u`: the solution values on the grid, shape `spec.shape`.
    - `log_tau1`, `log_tau2`: log precisions of the boundary and residual likelihoods (scalars).
    - `kind`: the kernel family, `"gaussian"` or `"student_t"`.
    - `kernels`: per-axis [`AxisKernel`][sciml.gp.AxisKernel]s.
    - `spec`: the [`GridSpec`][sciml.gp.GridSpec].
    - `residual_fn`: `(u, derivs) -> H`, the PDE residual on the grid from the derivative grids (as made by
      [`grid_spec_and_residual`][sciml.gp.grid_spec_and_residual]).
    - `lam_b`: the boundary likelihood weight λ_b (paper: 200).
    - `jitter`: `eps` on each factor.

    **Returns:** `(loss, parts)` as [`neg_log_joint`][sciml.gp.neg_log_joint].
    """
    d = spec.ndim
    kmats = [toeplitz_matrices(kind, kp, n, h, order=spec.max_orders[j])
             for j, (kp, n, h) in enumerate(zip(kernels, spec.shape, spec.spacing))]
    orders = {k: key_orders(k, d) for k in spec.keys}
    # (x)_{j in S} C_j^{-1} U is needed for S = the differentiated axes of each request, and for the two halves
    # A, B of the axes in U^T C^{-1} U = <C_A^{-1} U, C_B^{-1} U> (the factors are symmetric and act on different
    # axes; in 1D and 2D both halves are among the derivative solves). Solves run axis by axis in increasing order
    # (S's prefixes first), all right-hand sides of one axis in one factorisation.
    half = (d + 1) // 2
    needed = {tuple(j for j in range(d) if o[j] > 0) for o in orders.values()} | {tuple(range(half)),
                                                                                  tuple(range(half, d))}
    needed = {s[:i] for s in needed for i in range(1, len(s) + 1)}
    solved = {(): u}
    logdet = 0.0
    for j, n in enumerate(spec.shape):
        targets = sorted(s for s in needed if s[-1] == j)
        rhs = [jnp.moveaxis(solved[s[:-1]], j, 0) for s in targets]
        cols = [r.reshape(n, -1) for r in rhs]
        c = kmats[j][0] + jitter * jnp.eye(n, dtype=kmats[j][0].dtype)
        ld, x = _logdet_and_solve(c, jnp.concatenate(cols, axis=1) if len(cols) > 1 else cols[0])
        logdet = logdet + (spec.size // n) * ld
        off = 0
        for s, r, cm in zip(targets, rhs, cols):
            solved[s] = jnp.moveaxis(x[:, off : off + cm.shape[1]].reshape(r.shape), 0, j)
            off += cm.shape[1]
    derivs = {}
    for k, o in orders.items():
        # D_key U = (x)_{j: a_j > 0} K_j^{(a_j)} C_j^{-1} U: solved only along the differentiated axes
        x = solved[tuple(j for j in range(d) if o[j] > 0)]
        derivs[k] = kron_apply([kmats[j][a] if a > 0 else None for j, a in enumerate(o)], x)
    quad = jnp.sum(solved[tuple(range(half))] * solved[tuple(range(half, d))])
    h = residual_fn(u, derivs)
    m = spec.size
    nb = len(spec.boundary_index)
    ub = u.reshape(-1)[spec.boundary_index]
    bres = jnp.sum((ub - jnp.asarray(spec.boundary_values, u.dtype)) ** 2)
    hres = jnp.sum(h**2)
    prior = 0.5 * logdet + 0.5 * quad
    loss = prior - lam_b * (0.5 * nb * log_tau1 - 0.5 * jnp.exp(log_tau1) * bres) - 0.5 * m * log_tau2 \
        + 0.5 * jnp.exp(log_tau2) * hres
    return loss, {"prior": prior, "boundary_sq": bres, "residual_sq": hres, "criterion": bres / max(nb, 1) + hres / m}
