"""CG, PCG and the general conjugate-direction loop, jitted with `lax.while_loop` and differentiable by the
adjoint rule (one extra solve) rather than by unrolling."""

from __future__ import annotations

from typing import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
from jaxtyping import ArrayLike, Float

from .._errors import check_callable, check_finite, check_int, check_real, is_concrete
from ._poisson import PoissonOperator
from ._solution import BREAKDOWN, INCOMPATIBLE_RHS, MAX_STEPS_REACHED, STAGNATED, SUCCESSFUL, Solution

_HISTORY = 4096


def _structure(op, name="op"):
    if not isinstance(op, lx.AbstractLinearOperator):
        raise TypeError(f"`{name}` must be a lineax.AbstractLinearOperator (e.g. linalg.poisson_operator(...)), "
                        f"got {type(op).__name__}.")
    s = op.in_structure()
    if not isinstance(s, jax.ShapeDtypeStruct):
        raise TypeError(f"`{name}` must have a single-array input structure (a grid or a vector); sciml solvers "
                        "do not take pytree-structured operators.")
    return s


def _check_spd(op, name="op"):
    _structure(op, name)
    if not (lx.is_symmetric(op) or lx.is_positive_semidefinite(op)):
        raise ValueError(
            f"`{name}` must be symmetric positive definite for CG-type solvers, but it is not tagged as such. "
            "If it is SPD, wrap it: `lineax.TaggedLinearOperator(op, lineax.positive_semidefinite_tag)`."
        )


def _check_rhs(op, b, name="b"):
    """`b` has the operator's shape and floating dtype (exactly: no silent down-cast), and is finite."""
    s = _structure(op)
    try:
        arr = b if isinstance(b, jax.Array) else jnp.asarray(b)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be an array of the operator's shape {tuple(s.shape)}, got "
                        f"{type(b).__name__}.") from None
    if tuple(arr.shape) != tuple(s.shape):
        raise ValueError(f"`{name}` must have the operator's shape {tuple(s.shape)}, got {tuple(arr.shape)}.")
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        raise TypeError(f"`{name}` must be a floating-point array, got dtype {arr.dtype}.")
    if arr.dtype != s.dtype:
        raise TypeError(
            f"`{name}` has dtype {arr.dtype} but the operator works in {s.dtype}; sciml solvers never mix them "
            f"(a silent down-cast would lose accuracy). Cast it (`{name}.astype({s.dtype})`) or build the "
            "operator with the dtype you want (e.g. poisson_operator(..., dtype=...))."
        )
    check_finite(name, arr)
    return arr


def _check_tols(rtol, atol):
    rtol = check_real("rtol", rtol, minimum=0.0, maximum=1.0, strict_max=True)
    atol = check_real("atol", atol, minimum=0.0)
    return rtol, atol


def _project(op):
    return getattr(op, "project", None)


def _as_callable(prec, op):
    if prec is None:
        return lambda r: r
    if isinstance(prec, lx.AbstractLinearOperator):
        ps, s = prec.in_structure(), _structure(op)
        if not isinstance(ps, jax.ShapeDtypeStruct) or tuple(ps.shape) != tuple(s.shape):
            raise ValueError(f"`preconditioner` must act on arrays of the operator's shape {tuple(s.shape)}, "
                             f"got input structure {ps}.")
        return prec.mv
    if callable(prec):
        return prec
    raise TypeError(f"`preconditioner` must be a lineax operator or a callable r -> z, or None; got "
                    f"{type(prec).__name__}.")


def jacobi(op) -> Callable:
    """Jacobi preconditioner `r ↦ r / diag(A)` (zero where the diagonal is zero), from `lineax.diagonal`.

    **Arguments:**

    - `op`: a lineax operator with a single-array input structure whose `lineax.diagonal` is defined (e.g. a
      `PoissonOperator`, or a sum of one with a lineax operator).

    **Returns:** a callable `r -> z` (an Equinox module, so it can pass through `jax.grad`).

    **Example:** `sol = linalg.pcg(op, b, linalg.jacobi(op))`
    """
    s = _structure(op)
    d = jnp.asarray(lx.diagonal(op)).reshape(s.shape)  # lineax returns the diagonal flat
    inv = jnp.where(d != 0, 1.0 / jnp.where(d != 0, d, 1), 0)
    return _Jacobi(inv)


class _Jacobi(eqx.Module):
    """`r ↦ r · inv`: a pytree (not a closure), so the adjoint solve can reuse it under `jax.grad`."""

    inv: jax.Array

    def __call__(self, r):
        return r * self.inv.astype(r.dtype)


def _vdot_global(a, b):
    return jnp.vdot(a, b).real


_vdot = _vdot_global


def _maxiter(op, maxiter):
    n = int(np.prod(_structure(op).shape))
    if maxiter is None:
        return 10 * n
    if isinstance(maxiter, (int, np.integer)) and not isinstance(maxiter, bool) and maxiter < 1:
        raise ValueError(f"`maxiter` must be a positive integer (or None for 10·n), got {maxiter}.")
    return check_int("maxiter", maxiter, minimum=1)


def _rhs_setup(op, b, project_rhs, dot):
    """The right-hand side the loop iterates on (projected), the one `converged` is judged against, and the
    size of the removed null-space part. Off-FLUID entries of a `PoissonOperator` rhs are ignored."""
    proj = _project(op)
    P = proj if proj is not None else (lambda v: v)
    bf = jnp.where(op.mask, b, 0) if isinstance(op, PoissonOperator) else b
    pb = P(b)
    removed = jnp.sqrt(dot(bf - pb, bf - pb))
    bfn = jnp.sqrt(dot(bf, bf))
    target = pb if project_rhs else bf
    tnorm = jnp.sqrt(dot(pb, pb)) if project_rhs else bfn
    rel_removed = removed / jnp.where(bfn > 0, bfn, 1)
    return P, pb, target, tnorm, removed, rel_removed


def _finish(op, dot, x, target, tnorm, tol, k, rnorm, brk, removed, rel_removed, project_rhs):
    """Decide `converged` on the true residual ‖target − A x‖ (one extra mv) and pick the result code."""
    rt = target - op.mv(x)
    true = jnp.sqrt(dot(rt, rt))
    conv = true <= tol
    incompatible = (removed > tol) if not project_rhs else jnp.asarray(False)
    result = jnp.where(
        conv, SUCCESSFUL,
        jnp.where(brk, BREAKDOWN,
                  jnp.where(incompatible, INCOMPATIBLE_RHS, jnp.where(rnorm <= tol, STAGNATED, MAX_STEPS_REACHED))))
    scale = jnp.where(tnorm > 0, tnorm, 1)
    return conv, result.astype(jnp.int32), (true / scale).astype(x.dtype), rel_removed.astype(x.dtype)


def _loop_variant(tree, carry):
    """Pass the arrays of `tree` (an operator or preconditioner) through an optimization barrier together
    with the loop-carried `carry`, so XLA sees them as loop-variant and does not hoist work on them out of a
    `while_loop` body. (Hoisted, e.g. the int8 -> float conversion of stencil weights becomes a
    loop-invariant float array that every iteration then reads: 8x the memory traffic; measured ~1.5x
    slower CG and ~1.4x slower multigrid V-cycles per iteration on XLA:CPU.)

    Only traced arrays (an operator passed into `jit` as an argument) go through the barrier. Constants (an
    operator closed over by the jitted function) stay constants, which XLA can fold and specialise on
    (an all-FLUID grid's mask and unit weights). Measured on one CPU core, float32 CG,
    closed over: 64³ all-FLUID 1.00 -> 0.36 ms per iteration, 256² 0.17 -> 0.07 ms; passed as an argument:
    unchanged (0.61 ms at 64³)."""
    dyn, static = eqx.partition(tree, lambda x: isinstance(x, jax.core.Tracer) and jnp.ndim(x) > 0)
    if not jax.tree.leaves(dyn):  # nothing traced to protect (a closed-over operator): no barrier at all
        return tree, carry
    dyn, carry = jax.lax.optimization_barrier((dyn, carry))
    return eqx.combine(dyn, static), carry


_MAX_REPLACE = 4  # residual replacements per pcg solve (see `_pcg_loop`)


def _pcg_loop(op, b, x0, prec, rtol, atol, maxiter, hist_len, dot=None, project_rhs=True):
    _vdot = dot or _vdot_global
    P, b, target, bnorm, removed, rel_removed = _rhs_setup(op, b, project_rhs, _vdot)
    scale = jnp.where(bnorm > 0, bnorm, 1)
    tol = jnp.maximum(rtol * bnorm, atol)
    x = P(x0)
    r = b - op.mv(x)
    hist = jnp.full((hist_len,), jnp.nan, b.dtype).at[0].set(jnp.sqrt(_vdot(r, r)) / scale)

    def cond(c):
        k, x, r, p, rz, hist, rnorm, brk, nrep = c
        return (k < maxiter) & (rnorm > tol) & (~brk)

    def body(c):
        # one iteration: z = M r, p = z + beta p, then the step along p.  The preconditioner is applied only
        # here (not once more before the loop), so it is traced and compiled once.
        k, x, r, p, rz, hist, rnorm, brk, nrep = c
        (o, pr), r = _loop_variant((op, prec), r)
        z = P(pr(r))
        rz_new = _vdot(r, z)
        # restart (beta = 0) at the first step and after a residual replacement (rz < 0 marks it)
        beta = jnp.where((k == 0) | (rz < 0), 0, rz_new / jnp.where(rz == 0, 1, rz))
        p = z + beta * p
        Ap = o.mv(p)
        pAp = _vdot(p, Ap)
        brk = ~(pAp > 0)
        alpha = jnp.where(brk, 0, rz_new / jnp.where(brk, 1, pAp))
        x = x + alpha * p
        r = r - alpha * Ap
        rnorm = jnp.sqrt(_vdot(r, r))
        # residual replacement: the recursively updated r drifts from b - A x by rounding (in float32 often
        # by more than rtol); when it claims convergence, replace it by the true residual and restart CG from
        # there unless that one meets the tolerance too (at most _MAX_REPLACE times; then `_finish` says
        # STAGNATED: the tolerance is below what the precision can attain)
        replace = (rnorm <= tol) & (nrep < _MAX_REPLACE) & (~brk)

        def true_residual(_):
            rt = P(b - o.mv(x))  # projected: rounding puts a null-space part in A x that CG cannot remove
            return rt, jnp.sqrt(_vdot(rt, rt))

        r, rnorm = jax.lax.cond(replace, true_residual, lambda _: (r, rnorm), None)
        nrep = nrep + replace.astype(jnp.int32)
        rz_new = jnp.where(replace, -1, rz_new)
        hist = hist.at[jnp.minimum(k + 1, hist_len - 1)].set(rnorm / scale)
        return k + 1, x, r, p, rz_new, hist, rnorm, brk, nrep

    init = (jnp.asarray(0, jnp.int32), x, r, jnp.zeros_like(r), jnp.asarray(1, r.dtype), hist,
            jnp.sqrt(_vdot(r, r)), jnp.asarray(False), jnp.asarray(0, jnp.int32))
    k, x, r, p, rz, hist, rnorm, brk, _ = jax.lax.while_loop(cond, body, init)
    conv, result, true, rel_removed = _finish(op, _vdot, x, target, bnorm, tol, k, rnorm, brk, removed,
                                              rel_removed, project_rhs)
    return Solution(x, k, hist, conv, result, jnp.asarray(0, jnp.int32), true, rel_removed)


def _cd_loop(op, b, x0, direction_fn, k_orth, rtol, atol, maxiter, hist_len, refresh_every, safeguard, stall_tol,
             stall_window=0, stall_progress=0.5, project_rhs=True):
    mv = op.mv
    fallback = safeguard
    P, b, target, bnorm, removed, rel_removed = _rhs_setup(op, b, project_rhs, _vdot)
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
    conv, result, true, rel_removed = _finish(op, _vdot, x, target, bnorm, tol, k, rnorm, brk, removed,
                                              rel_removed, project_rhs)
    return Solution(x, k, hist, conv, result, nsg, true, rel_removed)


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
    # Only a pytree preconditioner (an Equinox module such as `jacobi(op)` or the multigrid operator) can be
    # carried into the custom VJP: a plain closure may hide tracers of the forward pass. Others fall back to
    # Jacobi for the adjoint solve.
    if prec is not None and not isinstance(prec, eqx.Module):
        prec = None
    prec = None if prec is None else _stop(prec)
    val = _implicit((op, b), jax.lax.stop_gradient(sol.value), rtol, maxiter, prec)
    return eqx.tree_at(lambda s: s.value, sol, val)


from ..nn._util import stop_gradient as _stop  # noqa: E402  (moved to sciml.nn)


def _prepare(op, b, x0, maxiter, history, rtol, atol, project_rhs):
    _check_spd(op)
    b = _check_rhs(op, b)
    if x0 is None:
        x0 = jnp.zeros_like(b)
    else:
        x0 = _check_rhs(op, x0, "x0")
    rtol, atol = _check_tols(rtol, atol)
    maxiter = _maxiter(op, maxiter)
    history = check_int("history", history, minimum=1)
    if not isinstance(project_rhs, (bool, np.bool_)):
        raise TypeError(f"`project_rhs` must be True or False, got {project_rhs!r}.")
    if not project_rhs:
        _check_compatible(op, b, rtol, atol)
    hist_len = min(maxiter, history) + 1
    return b, x0, maxiter, hist_len, rtol, atol


def _check_compatible(op, b, rtol, atol):
    """Refuse (for a concrete `b`) a right-hand side whose null-space part alone exceeds the tolerance: the
    system then has no solution and the projection would silently change the problem."""
    if not (isinstance(op, PoissonOperator) and op.n_null and is_concrete(b)):
        return
    bf = jnp.where(op.mask, b, 0)
    removed = float(jnp.linalg.norm(bf - op.project(b)))
    bfn = float(jnp.linalg.norm(bf))
    if removed > max(rtol * bfn, atol):
        raise ValueError(
            f"`b` has a component of relative size {removed / max(bfn, 1e-300):.3g} in the null space of `op` "
            f"(the constant on each of its {op.n_null} pure-Neumann FLUID component(s)), so A x = b has no "
            "solution (b must have zero mean on each such component). Pass project_rhs=True to solve the "
            "projected (least-squares) system, reported in Solution.rhs_removed, or project b yourself: "
            "b = op.project(b)."
        )


def pcg(op: lx.AbstractLinearOperator, b: Float[ArrayLike, "*grid"], preconditioner=None, *, rtol: float = 1e-6,
        atol: float = 0.0, maxiter: int | None = None, x0: Float[ArrayLike, "*grid"] | None = None,
        history: int = _HISTORY, project_rhs: bool = False) -> Solution:
    """Preconditioned conjugate gradients for SPD operators, jitted with `lax.while_loop`.

    **Arguments:**

    - `op`: an SPD `lineax` operator (e.g. from [`poisson_operator`][sciml.linalg.poisson_operator] or a
      `KroneckerOperator`), acting on arrays of `b`'s shape.
    - `b`: right-hand side (floating, finite, the operator's shape).
    - `preconditioner`: an SPD operator or a callable `r -> z ≈ A⁻¹ r` (e.g. [`jacobi`][sciml.linalg.jacobi]);
      `None` means plain CG.
    - `rtol`, `atol`: stop when `‖r‖ ≤ max(rtol·‖b‖, atol)`; `0 ≤ rtol < 1`, `atol ≥ 0`. `converged` is
      decided on the true residual `‖b − A x‖` recomputed at the end, so a tolerance below what the dtype
      can resolve (e.g. `rtol=1e-10` in float32) gives `converged=False` with result `STAGNATED`, not a
      false success. When the recursively updated residual meets the tolerance but the true one does not
      (rounding drift, common in float32), the true residual replaces it and CG restarts from there, up to
      4 times per solve.
    - `maxiter`: iteration cap, an integer ≥ 1 (default `10·n`).
    - `x0`: initial guess (default zeros), same shape and dtype as `b`.
    - `history`: length of the residual-norm buffer (integer ≥ 1).
    - `project_rhs`: for an operator with pure-Neumann components (singular), whether a right-hand side
      with a component in the null space may be projected (the least-squares solution; the removed
      relative size is `Solution.rhs_removed`). With the default `False` such a `b` raises `ValueError` when
      it is concrete and the removed part exceeds the tolerance, and gives `converged=False` (result
      `INCOMPATIBLE_RHS`) when traced (under `jit`/`vmap`).

    `b` must have the operator's dtype exactly (`TypeError` otherwise: no silent down-cast). For a
    `PoissonOperator`, entries of `b` off FLUID cells are ignored and the solution is zero there.

    **Returns:** a [`Solution`][sciml.linalg.Solution]. Gradients flow to `b` and to the operator's
    floating-point leaves by the adjoint rule (one extra solve). vmap over `b` works.

    **Example:**

    ```python
    sol = linalg.pcg(op, b, linalg.jacobi(op), rtol=1e-8)
    sol.value, sol.iterations, sol.converged
    ```
    """
    b, x0, maxiter, hist_len, rtol, atol = _prepare(op, b, x0, maxiter, history, rtol, atol, project_rhs)
    prec = _as_callable(preconditioner, op)
    sol = _pcg_loop(_stop(op), jax.lax.stop_gradient(b), jax.lax.stop_gradient(x0), prec, rtol, atol, maxiter,
                    hist_len, project_rhs=bool(project_rhs))
    return _differentiable(sol, op, b, rtol, maxiter, prec if preconditioner is not None else None)


def cg(op: lx.AbstractLinearOperator, b: Float[ArrayLike, "*grid"], *, rtol: float = 1e-6, atol: float = 0.0,
       maxiter: int | None = None, x0: Float[ArrayLike, "*grid"] | None = None, history: int = _HISTORY,
       project_rhs: bool = False) -> Solution:
    """Conjugate gradients for SPD operators (`pcg` without a preconditioner).

    **Arguments:** `op`, `b`, `rtol`, `atol`, `maxiter`, `x0`, `history`, `project_rhs`: as in
    [`pcg`][sciml.linalg.pcg].

    **Returns:** a [`Solution`][sciml.linalg.Solution].

    **Example:**

    ```python
    import numpy as np
    from sciml import linalg
    op = linalg.poisson_operator(np.zeros((64, 64), np.int8))
    sol = linalg.cg(op, np.ones((64, 64), np.float32), rtol=1e-6)
    ```
    """
    return pcg(op, b, None, rtol=rtol, atol=atol, maxiter=maxiter, x0=x0, history=history, project_rhs=project_rhs)


def conjugate_directions(op: lx.AbstractLinearOperator, b: Float[ArrayLike, "*grid"], direction_fn: Callable,
                         k_orth: int = 2, *, rtol: float = 1e-6, atol: float = 0.0, maxiter: int | None = None,
                         x0: Float[ArrayLike, "*grid"] | None = None, refresh_every: int = 0, safeguard=None,
                         stall_tol: float = 1e-8, stall_window: int = 0, stall_progress: float = 0.5,
                         history: int = _HISTORY, project_rhs: bool = False) -> Solution:
    """The general conjugate-direction loop: any callable (a neural network included) proposes a direction.

    Each iteration takes `d = direction_fn(r)`, A-orthogonalises it against the last `k_orth` directions,
    and does an exact line search `α = dᵀr / dᵀAd`. With `direction_fn = identity` and `k_orth ≥ 1` this is CG
    in exact arithmetic; with `direction_fn ≈ A⁻¹` it converges in very few steps (DCDM).

    **Arguments:**

    - `op`, `b`, `rtol`, `atol`, `maxiter`, `x0`, `history`, `project_rhs`: as in [`pcg`][sciml.linalg.pcg].
    - `direction_fn`: callable `r -> d` (may be nonlinear).
    - `k_orth`: orthogonalisation window, an integer ≥ 0 (0 = none).
    - `refresh_every`: recompute the true residual `b − A x` every this many iterations (integer ≥ 0;
      0 = never).
    - `safeguard`: `None`, `"jacobi"`, `"cg"`, or a callable `r -> d`. When the proposed direction is
      useless (`|dᵀr| ≤ stall_tol·‖d‖‖r‖`, zero, or non-finite) the safeguard's direction is used instead,
      so the loop never freezes. With `stall_window > 0` the safeguard also takes over when the residual
      has not dropped below `stall_progress` × its value at the last progress point within `stall_window`
      iterations (slow stagnation), until progress resumes. The count is `Solution.safeguard_steps`.
    - `stall_tol`: threshold of the stall test (real ≥ 0).
    - `stall_window`: slow-stagnation window in iterations (integer ≥ 0; 0 disables).
    - `stall_progress`: the reduction factor that counts as progress, in `(0, 1]`.

    **Returns:** a [`Solution`][sciml.linalg.Solution] (differentiable w.r.t. `b` and the operator by the
    adjoint rule; not w.r.t. `direction_fn`'s parameters).

    **Example:**

    ```python
    M = linalg.multigrid_preconditioner(op)
    sol = linalg.conjugate_directions(op, b, M, k_orth=2, safeguard="cg")   # any r -> d map, here a V-cycle
    ```
    """
    b, x0, maxiter, hist_len, rtol, atol = _prepare(op, b, x0, maxiter, history, rtol, atol, project_rhs)
    check_callable("direction_fn", direction_fn)
    k_orth = check_int("k_orth", k_orth, minimum=0)
    refresh_every = check_int("refresh_every", refresh_every, minimum=0)
    stall_tol = check_real("stall_tol", stall_tol, minimum=0.0)
    stall_window = check_int("stall_window", stall_window, minimum=0)
    stall_progress = check_real("stall_progress", stall_progress, minimum=0.0, maximum=1.0, strict_min=True)
    if isinstance(safeguard, str) and safeguard == "jacobi":
        safeguard = jacobi(op)
    elif isinstance(safeguard, str) and safeguard == "cg":
        safeguard = lambda r: r  # noqa: E731
    elif safeguard is not None and not callable(safeguard):
        raise ValueError(f"`safeguard` must be None, 'jacobi', 'cg' or a callable r -> d, got {safeguard!r}.")
    sol = _cd_loop(_stop(op), jax.lax.stop_gradient(b), jax.lax.stop_gradient(x0), direction_fn, k_orth, rtol,
                   atol, maxiter, hist_len, refresh_every, safeguard, stall_tol, stall_window, stall_progress,
                   project_rhs=bool(project_rhs))
    return _differentiable(sol, op, b, rtol, maxiter)
