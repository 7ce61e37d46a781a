"""U-solves of the grid GP for fixed kernel parameters (pure JAX; jittable and differentiable).

* `collocation_solve` -- exact Kronecker-eigenbasis solve of the collocation system (PDE at the nodes off the
  constrained faces, box-face conditions exactly) for separable constant-coefficient linear operators.
* `dense_solve` -- exact minimiser of the GP-HM quadratic model (whitened stacked least squares by QR).
* `cg_solve` -- the same model matrix-free (PCG on the normal equations in a per-axis spectral basis).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import lineax as lx
import numpy as np

from .. import linalg
from . import _kron_solve as ks
from ._model import derivative_grids, key_orders, kron_apply


def pointwise_coefficients(residual_fn, u, derivs):
    """c_value and {key: c_key}: pointwise partial derivatives of the residual w.r.t. each jet entry."""
    ones = jnp.ones_like(u)
    c_val = jax.jvp(lambda uu: residual_fn(uu, derivs), (u,), (ones,))[1].reshape(u.shape)
    cs = {}
    for k in derivs:
        def h_k(v, k=k):
            d = dict(derivs)
            d[k] = v
            return residual_fn(u, d)

        cs[k] = jax.jvp(h_k, (derivs[k],), (ones,))[1].reshape(u.shape)
    return c_val, cs


def is_linear(residual_fn, spec, dtype):
    """Whether the residual is affine in the jet (coefficients independent of U): checked numerically."""
    rng = np.random.default_rng(0)
    outs = []
    for scale in (0.0, 1.0):
        u = jnp.asarray(scale * rng.standard_normal(spec.shape), dtype)
        derivs = {k: jnp.asarray(scale * rng.standard_normal(spec.shape), dtype) for k in spec.keys}
        c_val, cs = pointwise_coefficients(residual_fn, u, derivs)
        outs.append(jnp.concatenate([c_val.ravel()] + [cs[k].ravel() for k in spec.keys]))
    return bool(jnp.allclose(outs[0], outs[1], rtol=1e-10, atol=1e-12))


def affine_residual(residual_fn, spec, dtype):
    """For a linear residual: the same function as `c0 U + sum_k c_k D_k U + h(0)` with the coefficient grids
    and h(0) evaluated once (concrete arrays), so jitted fits do not re-trace the problem's source."""
    zero = jnp.zeros(spec.shape, dtype)
    derivs0 = {k: zero for k in spec.keys}
    h0 = jax.jit(lambda: residual_fn(zero, derivs0).reshape(spec.shape))()
    c_val, cs = jax.jit(lambda: pointwise_coefficients(residual_fn, zero, derivs0))()

    def fn(u, derivs):
        out = c_val * u.reshape(spec.shape) + h0
        for k in spec.keys:
            out = out + cs[k] * derivs[k].reshape(spec.shape)
        return out.reshape(-1)

    return fn


def separable_structure(spec) -> bool:
    """Static part of the separability test: single-axis derivatives only (no mixed u_xy)."""
    return all(len(set(k)) == 1 for k in spec.keys)


def coefficients_constant(residual_fn, spec, dtype, rtol=1e-10) -> bool:
    """Host check that a linear residual's coefficients do not vary over the grid."""
    zero = jnp.zeros(spec.shape, dtype)
    c_val, cs = pointwise_coefficients(residual_fn, zero, {k: zero for k in spec.keys})
    for c in [c_val] + list(cs.values()):
        c = np.asarray(c)
        if np.ptp(c) > rtol * max(np.max(np.abs(c)), 1e-300):
            return False
    return True


def _axis_constraints(spec, faces):
    cons, data = [], []
    for j in range(spec.ndim):
        fj = sorted([f for f in faces if f[0] == j], key=lambda f: f[1])
        cons.append(ks.AxisConstraint(tuple(f[1] for f in fj), tuple((float(f[2]), float(f[3])) for f in fj)))
        data.append(jnp.stack([jnp.asarray(f[4]) for f in fj]) if fj else None)
    return cons, data


def collocation_solve(factors, spec, residual_fn, faces, dtype):
    """Exact Kronecker-sum collocation solve (see `_kron_solve`). `faces`: [(axis, side, alpha, beta, g)].

    The residual must be linear with constant coefficients and single-axis derivatives; a coefficient that
    varies over the grid raises at run time (`eqx.error_if`), so a traced call never returns a wrong result.
    """
    zero = jnp.zeros(spec.shape, dtype)
    derivs0 = {k: zero for k in spec.keys}
    f = -residual_fn(zero, derivs0).reshape(spec.shape)
    c_val, cs = pointwise_coefficients(residual_fn, zero, derivs0)
    c0 = c_val.reshape(-1)[0]
    dev = jnp.max(jnp.abs(c_val - c0))
    scale = jnp.abs(c0)
    mats = [None] * spec.ndim
    for k in spec.keys:
        j = k[0]
        ck = cs[k].reshape(-1)[0]
        dev = jnp.maximum(dev, jnp.max(jnp.abs(cs[k] - ck)))
        scale = jnp.maximum(scale, jnp.abs(ck))
        term = ck * factors[j].deriv_ops[len(k)]
        mats[j] = term if mats[j] is None else mats[j] + term
    cons, data = _axis_constraints(spec, faces)
    systems = []
    for j, fac in enumerate(factors):
        n = spec.shape[j]
        p = mats[j] if mats[j] is not None else jnp.zeros((n, n), dtype)
        b = ks.constraint_rows(fac.deriv_ops.get(1), n, cons[j], dtype)
        systems.append(ks.axis_system(p, b, cons[j]))
    u = ks.kron_sum_solve(systems, c0, f, data)
    return eqx.error_if(u, dev > 1e-8 * scale + 1e-300,
                        "gp: the exact Kronecker collocation solve needs constant PDE coefficients; this problem's "
                        "coefficients vary over the grid")


def _dense_kron(mats):
    out = mats[0]
    for m in mats[1:]:
        out = jnp.kron(out, m)
    return out


def linearise(residual_fn, factors, spec, u):
    derivs = derivative_grids(u, factors, spec.keys, spec.ndim)
    h0 = residual_fn(u, derivs).reshape(spec.shape)
    c_val, cs = pointwise_coefficients(residual_fn, u, derivs)
    return c_val, cs, h0


def dense_solve(factors, spec, c_val, cs, h0, u_k, g, log_tau1, log_tau2, lam_b):
    """Exact minimiser of the quadratic GP-HM model in whitened z (U = L_C z), stacked least squares by QR."""
    lc = _dense_kron([f.chol for f in factors])
    jl = c_val.reshape(-1)[:, None] * lc
    for k in spec.keys:
        orders = key_orders(k, spec.ndim)
        jl = jl + cs[k].reshape(-1)[:, None] * _dense_kron([f.z_ops[a] for f, a in zip(factors, orders)])
    sl = lc[spec.boundary_index]
    m = spec.size
    t1 = jnp.sqrt(lam_b * jnp.exp(log_tau1))
    t2 = jnp.sqrt(jnp.exp(log_tau2))
    z_k = jsl.solve_triangular(lc, u_k.reshape(-1), lower=True)
    r = jl @ z_k - h0.reshape(-1)
    a = jnp.concatenate([jnp.eye(m, dtype=lc.dtype), t1 * sl, t2 * jl], axis=0)
    b = jnp.concatenate([jnp.zeros(m, lc.dtype), t1 * g, t2 * r])
    q, rr = jnp.linalg.qr(a)
    z = jsl.solve_triangular(rr, q.T @ b, lower=False)
    return (lc @ z).reshape(spec.shape)


def _spectral_basis(factors, spec):
    """Per-axis basis V_j = C_j^{1/2} Q_j (Q_j: eigenvectors of C_j^{-1/2} K_j'' C_j^{-1/2}) in which the prior is
    the identity and D_j^{(2)} V_j = V_j Lam_j. Returns (V list, {key: per-axis W with D_key U = (x) W_j w})."""
    vs, ws = [], []
    for f in factors:
        c = f.chol @ f.chol.T
        sig, p = jnp.linalg.eigh(c)
        sig = jnp.maximum(sig, jnp.finfo(c.dtype).tiny)
        c_half = (p * jnp.sqrt(sig)) @ p.T
        c_mhalf = (p / jnp.sqrt(sig)) @ p.T
        q = p
        if 2 in f.deriv_ops:
            s2 = c_mhalf @ f.kmats[2] @ c_mhalf
            _, q = jnp.linalg.eigh(0.5 * (s2 + s2.T))
        ops = {0: c_half @ q}
        for a in f.deriv_ops:
            ops[a] = f.kmats[a] @ c_mhalf @ q
        vs.append(ops[0])
        ws.append(ops)
    zops = {k: [w[a] for w, a in zip(ws, key_orders(k, spec.ndim))] for k in spec.keys}
    return vs, zops


def cg_solve(factors, spec, c_val, cs, h0, u_k, g, log_tau1, log_tau2, lam_b, rtol, maxiter, boundary_ratio=1e3):
    """The quadratic GP-HM model solved matrix-free: PCG on the normal equations in the spectral basis with
    Kronecker matvecs, the exact Jacobi diagonal and a Woodbury correction for the boundary rows."""
    vs, zops = _spectral_basis(factors, spec)
    vop = linalg.KroneckerOperator(vs)
    bidx = jnp.asarray(spec.boundary_index)
    w1 = lam_b * jnp.exp(log_tau1)
    w2 = jnp.exp(log_tau2)
    terms = [(c_val, vs)] + [(cs[k], zops[k]) for k in spec.keys]

    def jl(z):
        return sum(c * kron_apply(mats, z) for c, mats in terms)

    def jlt(h):
        return sum(kron_apply([mm.T for mm in mats], c * h) for c, mats in terms)

    def sl(z):
        return vop.mv(z).reshape(-1)[bidx]

    def slt(v):
        return vop.transpose().mv(jnp.zeros(spec.size, v.dtype).at[bidx].add(v).reshape(spec.shape))

    def normal(z):
        return z + w1 * slt(sl(z)) + w2 * jlt(jl(z))

    diag_j = jnp.zeros(spec.shape, u_k.dtype)
    for ca, ma in terms:
        for cb, mb in terms:
            diag_j = diag_j + kron_apply([(x * y).T for x, y in zip(ma, mb)], ca * cb)
    uniq, count = np.unique(spec.boundary_index, return_counts=True)
    multi = np.stack(np.unravel_index(uniq, spec.shape), axis=-1)
    brows = vs[0][multi[:, 0]]
    for j in range(1, spec.ndim):
        brows = (brows[:, :, None] * vs[j][multi[:, j]][:, None, :]).reshape(len(uniq), -1)
    cnt = jnp.asarray(count, u_k.dtype)
    # a boundary row weighs at most `boundary_ratio` times a mean equation row (a 1e20 range breaks CG)
    row_eq = jnp.sum(diag_j) / spec.size
    row_b = jnp.sum(cnt * jnp.sum(brows**2, axis=1)) / jnp.sum(cnt)
    w1 = jnp.minimum(w1, boundary_ratio * w2 * row_eq / row_b)
    diag = 1.0 + w2 * diag_j
    dinv = 1.0 / diag.reshape(-1)
    schur = (brows * dinv) @ brows.T + jnp.diag(1.0 / (w1 * cnt))
    schur_chol = jnp.linalg.cholesky(schur)

    def precond(r):
        y = dinv * r.reshape(-1)
        t = jsl.cho_solve((schur_chol, True), brows @ y)
        return (y - dinv * (brows.T @ t)).reshape(spec.shape)

    z_k = kron_apply([jnp.linalg.inv(v) for v in vs], u_k)
    rhs = w1 * slt(g) + w2 * jlt(jl(z_k) - h0)
    op = lx.FunctionLinearOperator(normal, jax.ShapeDtypeStruct(spec.shape, u_k.dtype), lx.positive_semidefinite_tag)
    sol = linalg.pcg(op, rhs, precond, rtol=rtol, maxiter=maxiter, x0=z_k)
    return vop.mv(sol.value), sol.iterations


def closed_form_taus(u, factors, spec, residual_fn, g, max_log_tau):
    """tau1 = N_b/||U_b - g||^2, tau2 = M/||H||^2 (log, capped at `max_log_tau`)."""
    derivs = derivative_grids(u, factors, spec.keys, spec.ndim)
    h = residual_fn(u, derivs)
    nb = max(len(spec.boundary_index), 1)
    bres = jnp.sum((u.reshape(-1)[spec.boundary_index] - g) ** 2)
    tiny = jnp.finfo(u.dtype).tiny
    lt1 = jnp.minimum(jnp.log(nb) - jnp.log(bres + tiny), max_log_tau)
    lt2 = jnp.minimum(jnp.log(spec.size) - jnp.log(jnp.sum(h**2) + tiny), max_log_tau)
    return lt1, lt2
