"""CG, PCG and the general conjugate-direction loop, jitted with `lax.while_loop` and differentiable by the
adjoint rule (one extra solve) rather than by unrolling."""

from __future__ import annotations

from typing import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np

from .._errors import check_finite, is_concrete
from ._solution import BREAKDOWN, MAX_STEPS_REACHED, SUCCESSFUL, Solution

_HISTORY = 4096


def _structure(op):
    s = op.in_structure()
    if not isinstance(s, jax.ShapeDtypeStruct):
        raise TypeError("sciml solvers need an operator whose input structure is a single array (a grid or a vector).")
    return s


def _check_spd(op, name="operator"):
    if not (lx.is_symmetric(op) or lx.is_positive_semidefinite(op)):
        raise ValueError(
            f"`{name}` must be symmetric positive definite for CG-type solvers, but it is not tagged as such. "
            "If it is SPD, wrap it: `lineax.TaggedLinearOperator(op, lineax.positive_semidefinite_tag)`."
        )


def _check_rhs(op, b, name="b"):
    s = _structure(op)
    if tuple(jnp.shape(b)) != tuple(s.shape):
        raise ValueError(f"`{name}` must have the operator's shape {tuple(s.shape)}, got {tuple(jnp.shape(b))}.")
    dt = jnp.result_type(b)
    if not jnp.issubdtype(dt, jnp.floating):
        raise TypeError(f"`{name}` must be a floating-point array, got dtype {dt}.")
    check_finite(name, b)


def _project(op):
    return getattr(op, "project", None)


def _as_callable(prec, op):
    if prec is None:
        return lambda r: r
    if isinstance(prec, lx.AbstractLinearOperator):
        return prec.mv
    if callable(prec):
        return prec
    raise TypeError(f"`preconditioner` must be a lineax operator or a callable r -> z, got {type(prec).__name__}.")


def jacobi(op) -> Callable:
    """Jacobi preconditioner `r ↦ r / diag(A)` (zero where the diagonal is zero), from `lineax.diagonal`.

    **Example:** `sol = linalg.pcg(op, b, linalg.jacobi(op))`
    """
    d = lx.diagonal(op)
    inv = jnp.where(d != 0, 1.0 / jnp.where(d != 0, d, 1), 0)
    return lambda r: r * inv.astype(r.dtype)


def _vdot_global(a, b):
    return jnp.vdot(a, b).real


_vdot = _vdot_global


def _maxiter(op, maxiter):
    n = int(np.prod(_structure(op).shape))
    if maxiter is None:
        return 10 * n
    if int(maxiter) < 1:
        raise ValueError(f"`maxiter` must be a positive integer, got {maxiter}.")
    return int(maxiter)


def _pcg_loop(op, b, x0, prec, rtol, atol, maxiter, hist_len, dot=None):
    _vdot = dot or _vdot_global
    mv = op.mv
    proj = _project(op)
    P = (lambda v: proj(v)) if proj is not None else (lambda v: v)
    b = P(b)
    bnorm = jnp.sqrt(_vdot(b, b))
    scale = jnp.where(bnorm > 0, bnorm, 1)
    tol = jnp.maximum(rtol * bnorm, atol)
    x = P(x0)
    r = b - mv(x)
    z = P(prec(r))
    p = z
    rz = _vdot(r, z)
    hist = jnp.full((hist_len,), jnp.nan, b.dtype).at[0].set(jnp.sqrt(_vdot(r, r)) / scale)

    def cond(c):
        k, x, r, p, rz, hist, rnorm, brk = c
        return (k < maxiter) & (rnorm > tol) & (~brk)

    def body(c):
        k, x, r, p, rz, hist, rnorm, brk = c
        Ap = mv(p)
        pAp = _vdot(p, Ap)
        brk = ~(pAp > 0)
        alpha = jnp.where(brk, 0, rz / jnp.where(brk, 1, pAp))
        x = x + alpha * p
        r = r - alpha * Ap
        z = P(prec(r))
        rz_new = _vdot(r, z)
        beta = rz_new / jnp.where(rz == 0, 1, rz)
        p = z + beta * p
        rnorm = jnp.sqrt(_vdot(r, r))
        hist = hist.at[jnp.minimum(k + 1, hist_len - 1)].set(rnorm / scale)
        return k + 1, x, r, p, rz_new, hist, rnorm, brk

    init = (jnp.asarray(0, jnp.int32), x, r, p, rz, hist, jnp.sqrt(_vdot(r, r)), jnp.asarray(False))
    k, x, r, p, rz, hist, rnorm, brk = jax.lax.while_loop(cond, body, init)
    conv = rnorm <= tol
    result = jnp.where(conv, SUCCESSFUL, jnp.where(brk, BREAKDOWN, MAX_STEPS_REACHED))
    return Solution(x, k, hist, conv, result.astype(jnp.int32), jnp.asarray(0, jnp.int32))


def _cd_loop(op, b, x0, direction_fn, k_orth, rtol, atol, maxiter, hist_len, refresh_every, safeguard, stall_tol,
             stall_window=0, stall_progress=0.5):
    mv = op.mv
    proj = _project(op)
    P = (lambda v: proj(v)) if proj is not None else (lambda v: v)
    fallback = safeguard
    b = P(b)
    bnorm = jnp.sqrt(_vdot(b, b))
    scale = jnp.where(bnorm > 0, bnorm, 1)
    tol = jnp.maximum(rtol * bnorm, atol)
    x = P(x0)
    r = b - mv(x)
    rnorm0 = jnp.sqrt(_vdot(r, r))
    hist = jnp.full((hist_len,), jnp.nan, b.dtype).at[0].set(rnorm0 / scale)
    W = max(int(k_orth), 1)
    Ps = jnp.zeros((W,) + b.shape, b.dtype)
    APs = jnp.zeros((W,) + b.shape, b.dtype)
    pAps = jnp.ones((W,), b.dtype)
    valid = jnp.zeros((W,), bool)

    def orth(d, Ps, APs, pAps, valid):
        if k_orth == 0:
            return d
        coef = jnp.einsum("w...,...->w", APs, d) / pAps
        coef = jnp.where(valid, coef, 0)
        return d - jnp.einsum("w,w...->...", coef, Ps)

    def cond(c):
        k, x, r, Ps, APs, pAps, valid, hist, rnorm, brk, nsg, anchor, since = c
        return (k < maxiter) & (rnorm > tol) & (~brk)

    def body(c):
        k, x, r, Ps, APs, pAps, valid, hist, rnorm, brk, nsg, anchor, since = c
        d = P(direction_fn(r).astype(b.dtype))
        d = orth(d, Ps, APs, pAps, valid)
        dn = jnp.sqrt(_vdot(d, d))
        dr = _vdot(d, r)
        bad = ~jnp.isfinite(dn) | (jnp.abs(dr) <= stall_tol * dn * rnorm) | (dn == 0)
        if fallback is not None:
            # exact stall (bad) or residual stagnation: no reduction by `stall_progress` within `stall_window`
            # iterations; the fallback is used until progress resumes
            d_fb = orth(P(fallback(r).astype(b.dtype)), Ps, APs, pAps, valid)
            stagnating = (since >= stall_window) if stall_window else jnp.asarray(False)
            use_fb = bad | stagnating
            d = jnp.where(use_fb, d_fb, d)
            nsg = nsg + use_fb.astype(jnp.int32)
            dr = _vdot(d, r)
        Ad = mv(d)
        dAd = _vdot(d, Ad)
        brk = ~(dAd > 0) | ~jnp.isfinite(dAd)
        alpha = jnp.where(brk, 0, dr / jnp.where(brk, 1, dAd))
        x = x + alpha * d
        if refresh_every:
            r = jax.lax.cond(
                (k + 1) % refresh_every == 0, lambda: b - mv(x), lambda: r - alpha * Ad
            )
        else:
            r = r - alpha * Ad
        r = P(r)
        slot = k % W
        Ps = Ps.at[slot].set(d)
        APs = APs.at[slot].set(Ad)
        pAps = pAps.at[slot].set(jnp.where(brk, 1, dAd))
        valid = valid.at[slot].set(~brk)
        rnorm = jnp.sqrt(_vdot(r, r))
        hist = hist.at[jnp.minimum(k + 1, hist_len - 1)].set(rnorm / scale)
        progressed = rnorm < stall_progress * anchor
        anchor = jnp.where(progressed, rnorm, anchor)
        since = jnp.where(progressed, 0, since + 1)
        return k + 1, x, r, Ps, APs, pAps, valid, hist, rnorm, brk, nsg, anchor, since

    init = (jnp.asarray(0, jnp.int32), x, r, Ps, APs, pAps, valid, hist, rnorm0, jnp.asarray(False),
            jnp.asarray(0, jnp.int32), rnorm0, jnp.asarray(0, jnp.int32))
    k, x, r, Ps, APs, pAps, valid, hist, rnorm, brk, nsg, _, _ = jax.lax.while_loop(cond, body, init)
    conv = rnorm <= tol
    result = jnp.where(conv, SUCCESSFUL, jnp.where(brk, BREAKDOWN, MAX_STEPS_REACHED))
    return Solution(x, k, hist, conv, result.astype(jnp.int32), nsg)


# --- implicit differentiation -----------------------------------------------------------------------------
@eqx.filter_custom_vjp
def _implicit(vjp_arg, x, rtol, maxiter, prec=None):
    op, b = vjp_arg
    return x


@_implicit.def_fwd
def _implicit_fwd(perturbed, vjp_arg, x, rtol, maxiter, prec=None):
    return x, None


@_implicit.def_bwd
def _implicit_bwd(residuals, g, perturbed, vjp_arg, x, rtol, maxiter, prec=None):
    op, b = vjp_arg
    g = jnp.zeros_like(x) if g is None else g
    # adjoint solve Aᵀ λ = g (A is symmetric for CG-type solvers), preconditioned like the forward solve
    # (an SPD preconditioner is its own transpose), so a gradient costs about one more forward solve
    lam = _pcg_loop(op.transpose(), g, jnp.zeros_like(g), jacobi(op) if prec is None else prec, rtol, 0.0,
                    maxiter, 2).value
    # d(x)/d(op): x = A⁻¹ b  =>  op̄ = -λ ⊗ x contracted through op.mv
    dyn, static = eqx.partition(op, eqx.is_inexact_array)
    _, vjp = jax.vjp(lambda d: eqx.combine(d, static).mv(x), dyn)
    (op_bar,) = vjp(-lam)
    op_bar = eqx.combine(op_bar, jax.tree.map(lambda _: None, static))
    return op_bar, lam


def _differentiable(sol: Solution, op, b, rtol, maxiter, prec=None) -> Solution:
    """Attach the adjoint rule; `prec` (the forward's SPD preconditioner, or None for Jacobi) is reused by
    the adjoint solve."""
    prec = None if prec is None else _stop(prec)
    val = _implicit((op, b), jax.lax.stop_gradient(sol.value), rtol, maxiter, prec)
    return eqx.tree_at(lambda s: s.value, sol, val)


def _stop(tree):
    dyn, static = eqx.partition(tree, eqx.is_inexact_array)
    return eqx.combine(jax.lax.stop_gradient(dyn), static)


def _prepare(op, b, x0, maxiter, history):
    _check_spd(op)
    _check_rhs(op, b)
    b = jnp.asarray(b)
    if x0 is None:
        x0 = jnp.zeros_like(b)
    else:
        _check_rhs(op, x0, "x0")
        x0 = jnp.asarray(x0, b.dtype)
    maxiter = _maxiter(op, maxiter)
    hist_len = min(maxiter, int(history)) + 1
    return b, x0, maxiter, hist_len


def pcg(op, b, preconditioner=None, *, rtol: float = 1e-6, atol: float = 0.0, maxiter: int | None = None,
        x0=None, history: int = _HISTORY) -> Solution:
    """Preconditioned conjugate gradients for SPD operators, jitted with `lax.while_loop`.

    **Arguments:**

    - `op`: an SPD `lineax` operator (e.g. from [`poisson_operator`][sciml.linalg.poisson_operator] or a
      `KroneckerOperator`), acting on arrays of `b`'s shape.
    - `b`: right-hand side (floating, finite, the operator's shape).
    - `preconditioner`: an SPD operator or a callable `r -> z ≈ A⁻¹ r` (e.g. [`jacobi`][sciml.linalg.jacobi]);
      `None` means plain CG.
    - `rtol`, `atol`: stop when `‖r‖ ≤ max(rtol·‖b‖, atol)`.
    - `maxiter`: iteration cap (default `10·n`).
    - `x0`: initial guess (default zeros).
    - `history`: length of the residual-norm buffer.

    **Returns:** a [`Solution`][sciml.linalg.Solution]. Gradients flow to `b` and to the operator's
    floating-point leaves by the adjoint rule (one extra solve). vmap over `b` works.

    **Example:**

    ```python
    sol = linalg.pcg(op, b, linalg.jacobi(op), rtol=1e-8)
    sol.value, sol.iterations, sol.converged
    ```
    """
    b, x0, maxiter, hist_len = _prepare(op, b, x0, maxiter, history)
    prec = _as_callable(preconditioner, op)
    sol = _pcg_loop(_stop(op), jax.lax.stop_gradient(b), jax.lax.stop_gradient(x0), prec, rtol, atol, maxiter, hist_len)
    return _differentiable(sol, op, b, rtol, maxiter, prec if preconditioner is not None else None)


def cg(op, b, *, rtol: float = 1e-6, atol: float = 0.0, maxiter: int | None = None, x0=None,
       history: int = _HISTORY) -> Solution:
    """Conjugate gradients for SPD operators (`pcg` without a preconditioner). See [`pcg`][sciml.linalg.pcg].

    **Example:**

    ```python
    import numpy as np
    from sciml import linalg
    op = linalg.poisson_operator(np.zeros((64, 64), np.int8))
    sol = linalg.cg(op, np.ones((64, 64), np.float32), rtol=1e-6)
    ```
    """
    return pcg(op, b, None, rtol=rtol, atol=atol, maxiter=maxiter, x0=x0, history=history)


def conjugate_directions(op, b, direction_fn: Callable, k_orth: int = 2, *, rtol: float = 1e-6, atol: float = 0.0,
                         maxiter: int | None = None, x0=None, refresh_every: int = 0, safeguard=None,
                         stall_tol: float = 1e-8, stall_window: int = 0, stall_progress: float = 0.5,
                         history: int = _HISTORY) -> Solution:
    """The general conjugate-direction loop: any callable (a neural network included) proposes a direction.

    Each iteration takes `d = direction_fn(r)`, A-orthogonalises it against the last `k_orth` directions,
    and does an exact line search `α = dᵀr / dᵀAd`. With `direction_fn = identity` and `k_orth ≥ 1` this is CG
    in exact arithmetic; with `direction_fn ≈ A⁻¹` it converges in very few steps (DCDM).

    **Arguments:**

    - `op`, `b`, `rtol`, `atol`, `maxiter`, `x0`, `history`: as in [`pcg`][sciml.linalg.pcg].
    - `direction_fn`: callable `r -> d` (may be nonlinear).
    - `k_orth`: orthogonalisation window (0 = none).
    - `refresh_every`: recompute the true residual `b − A x` every this many iterations (0 = never).
    - `safeguard`: `None`, `"jacobi"`, `"cg"`, or a callable `r -> d`. When the proposed direction is
      useless (`|dᵀr| ≤ stall_tol·‖d‖‖r‖`, zero, or non-finite) the safeguard's direction is used instead,
      so the loop never freezes. With `stall_window > 0` the safeguard also takes over when the residual
      has not dropped below `stall_progress` × its value at the last progress point within `stall_window`
      iterations (slow stagnation), until progress resumes. The count is `Solution.safeguard_steps`.

    **Returns:** a [`Solution`][sciml.linalg.Solution] (differentiable w.r.t. `b` and the operator by the
    adjoint rule; not w.r.t. `direction_fn`'s parameters).
    """
    b, x0, maxiter, hist_len = _prepare(op, b, x0, maxiter, history)
    if not callable(direction_fn):
        raise TypeError(f"`direction_fn` must be a callable r -> d, got {type(direction_fn).__name__}.")
    if int(k_orth) < 0:
        raise ValueError(f"`k_orth` must be >= 0, got {k_orth}.")
    if safeguard == "jacobi":
        safeguard = jacobi(op)
    elif safeguard == "cg":
        safeguard = lambda r: r  # noqa: E731
    elif safeguard is not None and not callable(safeguard):
        raise ValueError(f"`safeguard` must be None, 'jacobi', 'cg' or a callable, got {safeguard!r}.")
    sol = _cd_loop(_stop(op), jax.lax.stop_gradient(b), jax.lax.stop_gradient(x0), direction_fn, int(k_orth), rtol,
                   atol, maxiter, hist_len, int(refresh_every), safeguard, stall_tol, int(stall_window),
                   float(stall_progress))
    return _differentiable(sol, op, b, rtol, maxiter)
