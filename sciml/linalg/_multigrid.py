"""Geometric multigrid V-cycle preconditioner for flag-grid Poisson operators (MG-PCG).

Cell-centred geometric multigrid in the spirit of McAdams, Sifakis & Teran (2010):

* **Coarse flags**: a coarse cell (a 2^d block of fine cells) is FLUID if any child is FLUID, else AIR if
  any child is AIR, else SOLID (``coarsening="fluid"``); or AIR as soon as any child is AIR
  (``coarsening="dirichlet"``, McAdams' rule).  Odd sizes are padded with the operator's outside type.
* **Coarse operators**: re-discretised ``-Δ`` on the coarse flags with spacing ``2^l h``.
* **Transfers**: cell-centred (bi/tri)linear prolongation ``P`` (weights 3/4, 1/4 per axis) and
  restriction ``R = P^T / 2^d`` (the [1 3 3 1]/8 stencil per axis).
* **Smoother**: red-black Gauss-Seidel on a colour-split layout: the last grid axis is split into the
  red and the black half-grids (each with a ghost layer), so a colour update evaluates its stencil
  once, on its own cells only, and is written in place (a dynamic-update-slice: XLA materialises it
  once instead of fusing it, recomputed, into the six neighbour reads of the next update).
  Pre-smoothing is (red, black)^ν from x = 0, post-smoothing (black, red)^ν; after the pre-smoother the
  black residual is zero, so only the red half of the residual is computed; restriction and prolongation
  act on the colour-split layout directly, and the smoothing sweeps run in ``fori_loop``s.  Written for
  a short XLA:CPU compile (nearly all of it is LLVM codegen, per fused kernel): each colour has its own
  tables so one kernel serves both colours, neighbours are static slices of ghost-padded arrays (no pads
  or concatenates inside fused expressions), and about 7 kernels are compiled per level.  Optional extra
  Gauss-Seidel sweeps on the FLUID cells next to a wall/air face (``boundary_sweeps``, McAdams' boundary
  smoothing) run on a gathered list of those cells only.
* **Coarsest level**: a dense pseudo-inverse (handles pure-Neumann null spaces); it is the only dense work.

The V-cycle is a fixed symmetric linear map (pre/post smoothers are adjoint, ``R ∝ P^T``, the coarse
solve is symmetric) and positive definite on the FLUID cells (the range of ``A``), so it is a valid
preconditioner for `sciml.linalg.pcg` and, as a lineax operator, for ``lineax.CG``.

Cost: see ``benchmarks/linalg.py`` (V-cycle in fine ``mv`` units, iterations, time to tolerance).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
from jaxtyping import Array, Float

from .._errors import check_choice, check_int
from ._poisson import (AIR, FLUID, SOLID, PoissonOperator, _dense_columns, _np_shift, _register_spd, _stencil_tables,
                       poisson_operator)


def coarsen_flags(flags: np.ndarray, *, outside: int = AIR, rule: str = "fluid") -> np.ndarray:
    """Coarsen a flag grid by 2 in every axis (odd sizes padded with ``outside``).

    **Arguments:**

    - `flags`: integer flag grid (FLUID=0, SOLID=1, AIR=2).
    - `outside`: the flag used to pad odd sizes.
    - `rule`: ``"fluid"`` (a block with any FLUID child is FLUID, else AIR if any child is AIR) or
      ``"dirichlet"`` (AIR wins over FLUID).

    **Returns:** the coarse ``int8`` flag grid of shape ``ceil(n / 2)`` per axis.
    """
    f = np.asarray(flags)
    if rule not in ("fluid", "dirichlet"):
        raise ValueError(f"`rule` must be 'fluid' or 'dirichlet', got {rule!r}")
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
    else:
        out[any_fluid] = FLUID
        out[any_air] = AIR
    return out


# --- shifts and transfers (parameterised by a shift so the sharded version can pass halo exchanges) -------
# No concatenates or lane interleaves: XLA:CPU compiles those into large kernels (the interleaving stack +
# reshape of a prolongation step or of the colour merge cost 3-4x the LLVM time of a stencil update).
# Interleaving is written as "repeat each sample twice" (a broadcast + reshape, i.e. index i -> i // 2) and a
# parity select, which fuses into the consumer.
def _shift(x, axis, side):
    """Neighbour value on `side` (0 lower, 1 upper) along `axis`, zero outside."""
    n = x.shape[axis]
    pad = [(0, 0)] * x.ndim
    if side == 1:
        pad[axis] = (0, 1)
        return jax.lax.slice_in_dim(jnp.pad(x, pad), 1, n + 1, axis=axis)
    pad[axis] = (1, 0)
    return jax.lax.slice_in_dim(jnp.pad(x, pad), 0, n, axis=axis)


def _rep(x, axis):
    """`y[i] = x[i // 2]` along `axis` (length doubled)."""
    shape = list(x.shape)
    y = jnp.broadcast_to(jnp.expand_dims(x, axis + 1), tuple(shape[:axis + 1]) + (2,) + tuple(shape[axis + 1:]))
    shape[axis] *= 2
    return y.reshape(shape)


def _odd(n, axis, ndim):
    """Boolean `(1, .., n, .., 1)`: True at the odd indices along `axis` (a constant: an iota would be a
    kernel of its own)."""
    shape = [1] * ndim
    shape[axis] = n
    return np.arange(n).reshape(shape) % 2 == 1


def _prolong_axis(c, axis, shift=_shift):
    # fine 2i: 3/4 c[i] + 1/4 c[i-1]; fine 2i+1: 3/4 c[i] + 1/4 c[i+1]
    lo, hi = shift(c, axis, 0), shift(c, axis, 1)
    odd = _odd(2 * c.shape[axis], axis, c.ndim)
    return 0.75 * _rep(c, axis) + 0.25 * jnp.where(odd, _rep(hi, axis), _rep(lo, axis))


def _restrict_axis(f, axis, shift=_shift):
    # adjoint of _prolong_axis, divided by 2
    n = f.shape[axis]
    fe = jax.lax.slice_in_dim(f, 0, n, 2, axis=axis)
    fo = jax.lax.slice_in_dim(f, 1, n, 2, axis=axis)
    c = 0.75 * (fe + fo) + 0.25 * shift(fe, axis, 1) + 0.25 * shift(fo, axis, 0)
    return 0.5 * c


def _mask_coarse(r, cmask):
    return r if cmask is None else jnp.where(_crop(cmask, r.shape), r, 0)


def _pad_to(x, shape):
    if tuple(x.shape) == tuple(shape):
        return x
    return jnp.pad(x, [(0, t - s) for s, t in zip(x.shape, shape)])


def _crop(x, shape):
    if tuple(x.shape) == tuple(shape):
        return x
    return x[tuple(slice(0, s) for s in shape)]


# --- colour-split layout -------------------------------------------------------------------------------------
# The last axis (even length 2m) is split: colour c's array holds, at (..., j), the cell (..., 2j + q_c) where
# q_red = parity of the other indices, q_black = 1 - q_red.  Neighbours along the other axes have the other
# colour at the same j; along the last axis they sit at j (and j + 1 or j - 1, depending on q).
# Each colour has its own tables (diag, w, q), so the red and the black update (and split, and correction)
# are the same computation on different buffers: XLA:CPU compiles one kernel for both.
def _split_colour(x, q):
    """The samples of the colour with parity `q` (`(..., 1)` bool) of `x` (last axis even)."""
    s = x.reshape(x.shape[:-1] + (x.shape[-1] // 2, 2))
    return jnp.where(q, s[..., 1], s[..., 0])


def _merge(red, black, q_red):
    a = red.ndim - 1
    kodd = _odd(2 * red.shape[-1], a, red.ndim)
    return jnp.where(kodd == q_red, _rep(red, a), _rep(black, a))


class _Level(eqx.Module):
    """One level's tables in the colour-split layout, one array per colour (``_r`` red, ``_b`` black)."""

    diag_r: jax.Array  # (*split) int8
    diag_b: jax.Array
    w_r: jax.Array  # (2*ndim, *split) int8 face weights (1: FLUID neighbour across the face)
    w_b: jax.Array
    q_r: jax.Array  # (*split[:-1], 1) bool: parity of the red cells' last index (q_b = ~q_r)
    q_b: jax.Array
    mask: jax.Array  # (*pshape) bool, full layout
    h2: jax.Array  # scalar h^2
    band_idx: jax.Array | None  # (2, nb) flat indices of boundary-band cells per colour (into the split array)
    band_nb: jax.Array | None  # (2, 2*ndim, nb) flat index of each neighbour in the other colour
    band_w: jax.Array | None  # (2, 2*ndim, nb) int8 face weights of the band cells
    band_inv: jax.Array | None  # (2, nb) 1/diag of the band cells
    shape: tuple = eqx.field(static=True)  # logical grid shape
    pshape: tuple = eqx.field(static=True)  # padded (even) grid shape

    def colour(self, c):
        return (self.diag_r, self.w_r, self.q_r) if c == 0 else (self.diag_b, self.w_b, self.q_b)


def _interior(xp, offsets):
    """Static slice of a ghost-padded array `xp` shifted by `offsets` (one of -1, 0, 1 per axis)."""
    return xp[tuple(slice(1 + o, xp.shape[a] - 1 + o) for a, o in enumerate(offsets))]


def _ghost_neighbour_sum(w, q, op_):
    """Σ_faces w_face · neighbour for one colour, reading the other colour's ghost-padded array `op_`."""
    nd = op_.ndim
    acc = None
    for a in range(nd - 1):
        for s in (0, 1):
            off = [0] * nd
            off[a] = 1 if s else -1
            t = w[2 * a + s].astype(op_.dtype) * _interior(op_, off)
            acc = t if acc is None else acc + t
    c0 = _interior(op_, [0] * nd)
    up = jnp.where(q, _interior(op_, [0] * (nd - 1) + [1]), c0)
    lo = jnp.where(q, c0, _interior(op_, [0] * (nd - 1) + [-1]))
    t = w[2 * nd - 1].astype(op_.dtype) * up + w[2 * nd - 2].astype(op_.dtype) * lo
    return t if acc is None else acc + t


def _colour_update(lev, c, Xp, B, halo):
    """Gauss-Seidel update of colour `c` in place: x_c = (h²b + Σ w x_nb) / diag on FLUID cells.

    Colour arrays carry a ghost layer and the update is written with a dynamic-update-slice into the
    colour's own buffer, so XLA materialises it once rather than fusing (recomputing) it into each of
    the six neighbour reads of the next colour update.
    """
    d, w, q = lev.colour(c)
    op_ = halo(Xp[1 - c])
    s = lev.h2 * B[c] + _ghost_neighbour_sum(w, q, op_)
    new = jnp.where(d > 0, s / jnp.where(d > 0, d, 1).astype(s.dtype), 0)
    Xp = list(Xp)
    Xp[c] = jax.lax.dynamic_update_slice(Xp[c], new, (1,) * new.ndim)
    return tuple(Xp)


def _sweep(lev, Xp, B, order, halo):
    for c in order:
        Xp = _colour_update(lev, c, Xp, B, halo)
    return Xp


def _unghost(xp):
    return _interior(xp, [0] * xp.ndim)


def _band_sweep(lev, X, B, order):
    """Gauss-Seidel on the boundary-band cells only (gather the neighbours, scatter the update)."""
    x = list(X)
    for c in order:
        xo = x[1 - c].reshape(-1)
        s = jnp.sum(lev.band_w[c].astype(xo.dtype) * xo[lev.band_nb[c]], axis=0)
        new = (lev.h2 * B[c].reshape(-1)[lev.band_idx[c]] + s) * lev.band_inv[c]
        x[c] = x[c].reshape(-1).at[lev.band_idx[c]].set(new, indices_are_sorted=True).reshape(x[c].shape)
    return tuple(x)


def _repeat(fn, n, X):
    # Unrolled: n is small (the band sweep counts). A plain `fori_loop` lets XLA:CPU hoist the tables'
    # int8 -> float conversion out of the loop (much slower); see `_sweep_loop` for the barrier that stops it.
    for _ in range(n):
        X = fn(X)
    return X


def _sweep_loop(lev, Xp, B, order, halo, n):
    """`n` sweeps in a `fori_loop` (compiled once, whatever `n`). The level's tables pass through an
    optimization barrier with the loop state, so XLA does not hoist their int8 -> float conversion out of
    the loop (8x the memory traffic)."""
    dyn, static = eqx.partition((lev, B), eqx.is_array)

    def body(k, Xp):
        d, Xp = jax.lax.optimization_barrier((dyn, Xp))
        lv, Bv = eqx.combine(d, static)
        return _sweep(lv, Xp, Bv, order, halo)

    return jax.lax.fori_loop(0, n, body, Xp)


class _Ctx:
    """What differs between the single-device and the domain-decomposed V-cycle."""

    def __init__(self, shift=_shift, halo=lambda xp: xp, stop=None, on_stop=None, materialise=True):
        self.shift = shift
        self.materialise = materialise  # False inside shard_map: a per-device `cond` around ppermutes
        self.halo = halo
        self.stop = stop
        self.on_stop = on_stop


def _ghost(x):
    return jnp.pad(x, 1)


def _restrict_ghost(fp, axis):
    """`_restrict_axis` along `axis` of a ghost-padded `fp` (ghosts: the neighbours' values or 0); the other
    axes keep their ghost layer."""
    n = fp.shape[axis] - 2
    s = lambda k: jax.lax.slice_in_dim(fp, k, k + n - 1, 2, axis=axis)  # noqa: E731
    fe, fo, fe_next, fo_prev = s(1), s(2), s(3), s(0)
    return 0.5 * (0.75 * (fe + fo) + 0.25 * fe_next + 0.25 * fo_prev)


def _prolong_ghost(cp, axis):
    """`_prolong_axis` along `axis` of a ghost-padded `cp` (no ghost along `axis` in the result)."""
    n = cp.shape[axis] - 2
    c, lo, hi = (jax.lax.slice_in_dim(cp, k, k + n, axis=axis) for k in (1, 0, 2))
    odd = _odd(2 * n, axis, cp.ndim)
    return 0.75 * _rep(c, axis) + 0.25 * jnp.where(odd, _rep(hi, axis), _rep(lo, axis))


def _keep(x, lev):
    """`x` (exactly), computed once: XLA:CPU fuses cheap producers into every consumer, recomputing them (the
    transfers read each value 3-4 times per axis), but never an expensive op (a divide) into a consumer that
    reads its elements more than once. So divide by 1 (a runtime 1 = h²/h², not a constant XLA would fold)."""
    return x / (lev.h2 / lev.h2)


def _vcycle(levels, coarse_pinv, i, b, nu, band_sweeps, ctx: _Ctx):
    """One V-cycle from level `i` for a right-hand side `b` of level i's logical shape (zero off FLUID).

    About 7 kernels per level (XLA:CPU compiles each fused kernel with LLVM; that is nearly all of the compile
    time): the colour split of `b` and the colour update (one kernel each for both colours), the residual fused
    with the last-axis restriction, the other axes' restriction fused into the coarse split, the prolongation
    along the leading axes, and the coarse correction of a colour (one kernel for both)."""
    if ctx.stop is not None and i == ctx.stop:
        return ctx.on_stop(i, b)
    if i == len(levels):
        return (coarse_pinv @ b.reshape(-1)).reshape(b.shape)
    lev = levels[i]
    bp = _pad_to(b, lev.pshape)
    B = (_split_colour(bp, lev.q_r), _split_colour(bp, lev.q_b))
    use_band = band_sweeps > 0 and lev.band_idx is not None
    halo = ctx.halo
    nd = bp.ndim
    gshape = tuple(s + 2 for s in B[0].shape)

    # pre-smoothing from x = 0: band sweeps (red, black)^k, then (red, black)^nu
    Xp = (jnp.zeros(gshape, bp.dtype), jnp.zeros(gshape, bp.dtype))
    if use_band:
        X = (jnp.zeros_like(B[0]), jnp.zeros_like(B[1]))
        X = _repeat(lambda X: _band_sweep(lev, X, B, (0, 1)), band_sweeps, X)
        Xp = (jax.lax.dynamic_update_slice(Xp[0], X[0], (1,) * nd),
              jax.lax.dynamic_update_slice(Xp[1], X[1], (1,) * nd))
    Xp = _sweep_loop(lev, Xp, B, (0, 1), halo, nu)

    # residual: zero on black cells after a black update; on red cells (h²b + Σ w x_b - diag x_r) / h².  The
    # transfers read neighbours as static slices of ghost-padded arrays (a pad inside a fused expression
    # makes XLA:CPU materialise it, recomputing its producer for each one); the ghost rows are the halo in
    # the domain-decomposed V-cycle.
    xr = _unghost(Xp[0])
    d, w, q = lev.colour(0)
    num = lev.h2 * B[0] + _ghost_neighbour_sum(w, q, halo(Xp[1])) - d.astype(xr.dtype) * xr
    Np = _ghost(num / lev.h2)
    # restriction along the last axis straight from the colour-split layout (black residual = 0)
    t = _interior(Np, [0] * nd)
    nxt = _interior(Np, [0] * (nd - 1) + [1])
    prv = _interior(Np, [0] * (nd - 1) + [-1])
    t = 0.5 * (0.75 * t + 0.25 * jnp.where(q, 0, nxt) + 0.25 * jnp.where(q, prv, 0))
    r = halo(_ghost(t))
    for a in range(nd - 1):
        r = _restrict_ghost(r, a)
    r = jax.lax.slice_in_dim(r, 1, r.shape[-1] - 1, axis=nd - 1)
    cmask = levels[i + 1].mask if i + 1 < len(levels) else None
    r = _mask_coarse(r, cmask)
    e = _vcycle(levels, coarse_pinv, i + 1, r, nu, band_sweeps, ctx)
    # prolongation: axis 0 computed once (`_keep`), the other axes fused into the correction of each colour
    e = halo(_ghost(e))
    for a in range(nd - 1):
        e = _prolong_ghost(e, a)
        if a == 0:
            e = _keep(e, lev)
    last = nd - 1
    m = e.shape[last] - 2
    c0, lo, hi = (jax.lax.slice_in_dim(e, k, k + m, axis=last) for k in (1, 0, 2))
    even, odd = 0.75 * c0 + 0.25 * lo, 0.75 * c0 + 0.25 * hi
    Xp = tuple(jax.lax.dynamic_update_slice(
        Xp[c], _unghost(Xp[c]) + jnp.where(lev.colour(c)[2], odd, even), (1,) * nd) for c in (0, 1))

    # post-smoothing: (black, red)^nu then the band sweeps, the adjoint of the pre-smoother
    Xp = _sweep_loop(lev, Xp, B, (1, 0), halo, nu)
    X = (_unghost(Xp[0]), _unghost(Xp[1]))
    if use_band:
        X = _repeat(lambda X: _band_sweep(lev, X, B, (1, 0)), band_sweeps, X)
    return _crop(_merge(X[0], X[1], lev.q_r), lev.shape)


# --- Chebyshev smoother on the natural layout ----------------------------------------------------------------
class _ChebLevel(eqx.Module):
    """One level's tables in the natural layout for the Chebyshev smoother (padded to even sizes)."""

    inv_diag: jax.Array  # (*pshape) float: 1/diag on FLUID cells, 0 elsewhere (padding included)
    diag: jax.Array  # (*pshape) int8
    mask: jax.Array  # (*pshape) bool
    h2: jax.Array  # scalar h^2
    shape: tuple = eqx.field(static=True)
    pshape: tuple = eqx.field(static=True)


def _cheb_coeffs(k, rho=2.0):
    """4th-kind Chebyshev smoother (Lottes 2022): d_i = beta_i d_{i-1} + alpha_i D^-1 r_i, x += d_i.

    ``rho`` bounds the spectrum of D^-1 A: Gershgorin gives 1 + sum_faces w / diag <= 2 for the flag-grid
    stencil, so no eigenvalue estimate is needed. The error polynomial is bounded by 1 on [0, rho]."""
    i = np.arange(k, dtype=np.float64)
    beta = (2 * i - 1) / (2 * i + 3)
    beta[0] = 0.0
    alpha = (8 * i + 4) / ((2 * i + 3) * rho)
    return alpha, beta


def _nb_sum(x, shift):
    """Σ over the 2d faces of the neighbour value (x is zero off FLUID, so this is Σ_faces w · x_nb)."""
    acc = None
    for a in range(x.ndim):
        for s in (0, 1):
            t = shift(x, a, s)
            acc = t if acc is None else acc + t
    return acc


def _cheb_loop(lev, x, s, d, n, alpha, beta, shift, last_residual=True):
    """`n` Chebyshev steps on (x, s = D^-1 r, d) in a `fori_loop`; `s` is updated after every step
    (also after the last one when `last_residual`)."""
    dt = x.dtype
    al, be = jnp.asarray(alpha, dt), jnp.asarray(beta, dt)

    def step(k, x, s, d):
        d = be[k] * d + al[k] * s
        return x + d, d

    def body(k, carry):
        x, s, d = carry
        x, d = step(k, x, s, d)
        s = s - (d - lev.inv_diag * _nb_sum(d, shift))
        return x, s, d

    m = n if last_residual else n - 1
    if m > 0:
        x, s, d = jax.lax.fori_loop(0, m, body, (x, s, d))
    if not last_residual:
        x, d = step(n - 1, x, s, d)
    return x, s, d


def _vcycle_cheb(levels, coarse_pinv, i, b, nu, ctx: _Ctx):
    """The V-cycle of `_vcycle` with a degree-`nu` Chebyshev pre- and post-smoother (the same polynomial,
    so the cycle is symmetric) on the natural layout: one stencil per smoothing step, no colour split."""
    if ctx.stop is not None and i == ctx.stop:
        return ctx.on_stop(i, b)
    if i == len(levels):
        return (coarse_pinv @ b.reshape(-1)).reshape(b.shape)
    lev = levels[i]
    shift = ctx.shift
    alpha, beta = _cheb_coeffs(nu)
    bp = _pad_to(b, lev.pshape)
    g = lev.h2 * lev.inv_diag * bp  # D^-1 b
    zero = jnp.zeros_like(g)
    x, s, _ = _cheb_loop(lev, zero, g, zero, nu, alpha, beta, shift)
    # residual r = D s on FLUID cells, restricted (odd sizes were padded to even) to the coarse grid
    r = s * lev.diag.astype(s.dtype) / lev.h2
    cmask = levels[i + 1].mask if i + 1 < len(levels) else None

    def restrict(r):
        for a in range(r.ndim):
            r = _restrict_axis(r, a, shift)
        return _mask_coarse(r, cmask)

    if ctx.materialise:
        out = jax.eval_shape(restrict, r)
        rc = jax.lax.cond(jnp.isnan(r.reshape(-1)[0]), lambda r: jnp.full(out.shape, jnp.nan, out.dtype), restrict, r)
    else:
        rc = restrict(r)
    e = _vcycle_cheb(levels, coarse_pinv, i + 1, rc, nu, ctx)
    for a in range(e.ndim):
        e = _prolong_axis(e, a, shift)
    e = jnp.where(lev.mask, _pad_to(e, lev.pshape), 0)
    x = x + e
    s = s - (e - lev.inv_diag * _nb_sum(e, shift))
    x, _, _ = _cheb_loop(lev, x, s, zero, nu, alpha, beta, shift, last_residual=False)
    return _crop(x, lev.shape)


def _build_cheb_level(mask, diag, h, dtype):
    shape = mask.shape
    pshape = tuple(s + s % 2 for s in shape)
    pad = [(0, p - s) for s, p in zip(shape, pshape)]
    mask_p = np.pad(mask, pad)
    diag_p = np.pad(diag.astype(np.int8), pad)
    inv = np.where(mask_p & (diag_p > 0), 1.0 / np.where(diag_p > 0, diag_p, 1), 0.0)
    return _ChebLevel(inv_diag=jnp.asarray(inv, dtype), diag=jnp.asarray(diag_p), mask=jnp.asarray(mask_p),
                      h2=jnp.asarray(h * h, dtype), shape=tuple(shape), pshape=pshape)


def _vcycle_any(levels, coarse_pinv, i, b, nu, band_sweeps, ctx: _Ctx):
    if levels and isinstance(levels[0], _ChebLevel):
        return _vcycle_cheb(levels, coarse_pinv, i, b, nu, ctx)
    return _vcycle(levels, coarse_pinv, i, b, nu, band_sweeps, ctx)


class MultigridPreconditioner(lx.AbstractLinearOperator):
    """A geometric-multigrid V-cycle ``r -> z ≈ A^{-1} r`` for a flag-grid `PoissonOperator`.

    Build it with [`multigrid_preconditioner`][sciml.linalg.multigrid_preconditioner]. It is both a
    callable (``M(r)``, for [`pcg`][sciml.linalg.pcg]) and a symmetric positive semi-definite
    ``lineax.AbstractLinearOperator`` (``M.mv(r)``, for ``lineax.CG``'s ``preconditioner`` option).
    Works under ``jit``/``vmap``.

    **Fields:** (set by `multigrid_preconditioner`, not passed by hand)

    - `op`: the finest-level `PoissonOperator`.
    - `levels`: the per-level smoother/transfer data, finest first.
    - `coarse_pinv`: dense pseudo-inverse of the coarsest operator.
    - `pre`, `post`, `boundary_sweeps`: as in `multigrid_preconditioner`.
    - `shapes`: grid shape of every level, finest first.
    """

    op: PoissonOperator
    levels: list
    coarse_pinv: jax.Array
    pre: int = eqx.field(static=True)
    post: int = eqx.field(static=True)
    boundary_sweeps: int = eqx.field(static=True)
    shapes: tuple = eqx.field(static=True)

    @property
    def n_levels(self) -> int:
        return len(self.levels) + 1

    def __call__(self, r):
        """One V-cycle `z ≈ A⁻¹ r` (the same as `mv`).

        **Arguments:**

        - `r`: a residual of the grid's shape (any floating dtype; the result has `r`'s dtype).

        **Returns:** `z`, same shape and dtype, zero off FLUID cells and without null-space component.
        """
        return self.mv(r)

    def mv(self, vector: Float[Array, "*grid"]) -> Float[Array, "*grid"]:
        r = jnp.asarray(vector)
        top = self.op
        if r.shape != top.shape:
            raise ValueError(f"`r` must have the grid's shape {top.shape}, got {r.shape}.")
        dt = r.dtype
        b = top.project(r.astype(top.dtype))
        z = _vcycle_any(self.levels, self.coarse_pinv, 0, b, self.pre, self.boundary_sweeps, _Ctx())
        z = top.project(z)
        return z.astype(dt)

    def as_matrix(self):
        n = int(np.prod(self.op.shape))
        eye = jnp.eye(n, dtype=self.op.dtype).reshape((n,) + self.op.shape)
        return _dense_columns(self, eye).reshape(n, n).T  # one compiled program, not an eager vmap

    def transpose(self):
        return self

    def in_structure(self):
        return jax.ShapeDtypeStruct(self.op.shape, self.op.dtype)

    def out_structure(self):
        return jax.ShapeDtypeStruct(self.op.shape, self.op.dtype)


_register_spd(MultigridPreconditioner)
# lineax's contract: the diagonal is a flat vector of in_size() entries (dense: only for small grids)
lx.diagonal.register(MultigridPreconditioner)(lambda op: jnp.diagonal(op.as_matrix()))


def _boundary_band(mask: np.ndarray, diag: np.ndarray, width: int) -> np.ndarray:
    """FLUID cells within ``width`` cells of a non-FLUID face (a wall, AIR, or the grid boundary)."""
    nd = mask.ndim
    near = mask & (diag < 2 * nd)  # FLUID cells with a Dirichlet face; walls handled below
    touch = ~mask
    for a in range(nd):
        for s in (0, 1):
            near |= mask & _np_shift(touch, a, s, True)
    band = near.copy()
    cur = near
    for _ in range(width - 1):
        grown = cur.copy()
        for a in range(nd):
            for s in (0, 1):
                grown |= _np_shift(cur, a, s, False)
        cur = grown & mask
        band |= cur
    return band


def _split_np(x, par):
    s = x.reshape(x.shape[:-1] + (x.shape[-1] // 2, 2))
    e, o = s[..., 0], s[..., 1]
    return np.where(par, o, e), np.where(par, e, o)


def _build_level(mask, diag, weights, h, dtype, band_width):
    shape = mask.shape
    nd = mask.ndim
    pshape = tuple(s + s % 2 for s in shape)
    pad = [(0, p - s) for s, p in zip(shape, pshape)]
    mask_p = np.pad(mask, pad)
    diag_p = np.pad(diag.astype(np.int8), pad)
    w_p = np.pad(weights.astype(np.int8), [(0, 0), (0, 0)] + pad)
    idx = np.indices(pshape[:-1]).sum(axis=0) % 2 == 1
    par = idx[..., None]
    d_r, d_b = _split_np(diag_p, par)
    inv = [np.where(d > 0, 1.0 / np.where(d > 0, d, 1), 0.0) for d in (d_r, d_b)]
    w_split = [[], []]
    for a in range(nd):
        for s in (0, 1):
            r_, b_ = _split_np(w_p[a, s], par)
            w_split[0].append(r_)
            w_split[1].append(b_)
    band_idx = band_nb = band_w = band_inv = None
    if band_width > 0:
        band = _boundary_band(mask_p, diag_p, band_width)
        bands = _split_np(band, par)
        sshape = pshape[:-1] + (pshape[-1] // 2,)
        flat = np.arange(int(np.prod(sshape))).reshape(sshape)
        nb_max = max(int(bd.sum()) for bd in bands)
        cols = []
        for c in (0, 1):
            q = np.broadcast_to(par if c == 0 else ~par, sshape)
            cells = np.nonzero(bands[c].reshape(-1))[0]
            # neighbour indices in the other colour's array; outside the grid -> 0 (its face weight is 0)
            rows = [_np_shift(flat, a, s, 0).reshape(-1)[cells] for a in range(nd - 1) for s in (0, 1)]
            last = nd - 1
            rows.append(np.where(q, flat, _np_shift(flat, last, 0, 0)).reshape(-1)[cells])
            rows.append(np.where(q, _np_shift(flat, last, 1, 0), flat).reshape(-1)[cells])
            nb = np.stack(rows)
            wc = np.stack(w_split[c]).reshape(2 * nd, -1)[:, cells]
            ic = inv[c].reshape(-1)[cells]
            # pad to a common length by repeating the last cell (the same update, written twice)
            k = nb_max - cells.size
            if cells.size == 0:
                cells, nb, wc, ic = np.zeros(1, np.int64), np.zeros((2 * nd, 1), np.int64), np.zeros((2 * nd, 1)), np.zeros(1)
                k = nb_max - 1
            cols.append((np.concatenate([cells, np.repeat(cells[-1:], k)]),
                         np.concatenate([nb, np.repeat(nb[:, -1:], k, axis=1)], axis=1),
                         np.concatenate([wc, np.repeat(wc[:, -1:], k, axis=1)], axis=1),
                         np.concatenate([ic, np.repeat(ic[-1:], k)])))
        if nb_max > 0:
            band_idx = jnp.asarray(np.stack([c[0] for c in cols]).astype(np.int32))
            band_nb = jnp.asarray(np.stack([c[1] for c in cols]).astype(np.int32))
            band_w = jnp.asarray(np.stack([c[2] for c in cols]).astype(np.int8))
            band_inv = jnp.asarray(np.stack([c[3] for c in cols]), dtype)
    return _Level(
        diag_r=jnp.asarray(d_r),
        diag_b=jnp.asarray(d_b),
        w_r=jnp.asarray(np.stack(w_split[0])),
        w_b=jnp.asarray(np.stack(w_split[1])),
        q_r=jnp.asarray(par),
        q_b=jnp.asarray(~par),
        mask=jnp.asarray(mask_p),
        h2=jnp.asarray(h * h, dtype),
        band_idx=band_idx,
        band_nb=band_nb,
        band_w=band_w,
        band_inv=band_inv,
        shape=tuple(shape),
        pshape=pshape,
    )


def _edge_cells(flags: np.ndarray) -> np.ndarray:
    parts = []
    for a in range(flags.ndim):
        parts += [np.take(flags, 0, axis=a).ravel(), np.take(flags, -1, axis=a).ravel()]
    return np.concatenate(parts)


def _hierarchy(op: PoissonOperator, coarsening: str, coarsest_size: int, max_levels: int | None):
    """Flag grids, spacings and the coarse boundary type of every level (host-side)."""
    flags = np.asarray(op.flags)
    # What coarse cells on the grid boundary see outside: the operator's own boundary if FLUID touches it;
    # if the fine grid is walled in (no FLUID on its boundary layer), the wall type (SOLID -> Neumann).
    coarse_boundary = op.boundary
    edge = _edge_cells(flags)
    if not (edge == FLUID).any():
        coarse_boundary = "dirichlet" if (edge == AIR).mean() > 0.5 else "neumann"
    outside = SOLID if coarse_boundary == "neumann" else AIR
    h = float(op.spacing)
    grids = [(flags, h)]
    while True:
        if max_levels is not None and len(grids) >= max_levels:
            break
        if int(np.prod(flags.shape)) <= coarsest_size or min(flags.shape) < 4:
            break
        cf = coarsen_flags(flags, outside=outside, rule=coarsening)
        if not (cf == FLUID).any():
            break
        flags = cf
        h *= 2
        grids.append((flags, h))
    return grids, coarse_boundary


def multigrid_preconditioner(
    op: PoissonOperator,
    *,
    smoother: str = "rbgs",
    pre: int = 3,
    post: int = 3,
    boundary_sweeps: int = 0,
    boundary_width: int = 2,
    coarsening: str = "fluid",
    coarsest_size: int = 512,
    max_levels: int | None = None,
) -> MultigridPreconditioner:
    """Geometric multigrid V-cycle preconditioner for `linalg.pcg` (or ``lineax.CG``) on a flag-grid Poisson operator.

    **Arguments:**

    - `op`: a [`PoissonOperator`][sciml.linalg.PoissonOperator] (concrete flags; built on the host).
    - `smoother`: ``"rbgs"`` (red-black Gauss-Seidel on a colour-split layout) or ``"chebyshev"`` (a
      4th-kind Chebyshev polynomial in ``D⁻¹A`` on the natural layout, spectrum bound 2 from Gershgorin:
      one stencil per step, fewer kernels to compile; `boundary_sweeps` does not apply to it). Measured on
      CPU (``benchmarks/extra/mg_smoothers.py``, 128³): degree 4 keeps iterations <= 15 and compiles 12-24% faster
      than ``"rbgs"``, but solves about 1.5x slower, so ``"rbgs"`` stays the default.
    - `pre`, `post`: red-black sweeps (``"rbgs"``) or the polynomial degree (``"chebyshev"``) before/after
      the coarse correction (equal, ≥ 1: the V-cycle must be
      symmetric to precondition CG). The default 3 keeps iterations ≤ 15 up to 128³ on obstacle + air
      geometries (2 is ~20% cheaper per V-cycle; 16 iterations on the held-out 128³ geometry).
    - `boundary_sweeps`, `boundary_width`: extra Gauss-Seidel sweeps, before and after (symmetric), on the
      FLUID cells within ``boundary_width`` cells of a wall/air/grid-boundary face (McAdams' boundary
      smoothing); they gather/scatter those cells only. Off by default: full sweeps keep the
      iteration counts flat for less time on CPU (measured in ``benchmarks/linalg.py``).
    - `coarsening`: coarse-flag rule, ``"fluid"`` (FLUID wins) or ``"dirichlet"`` (AIR wins).
    - `coarsest_size`: coarsen until the grid has at most this many cells; then a dense pseudo-inverse. A grid
      that is already this small gets a single level: the preconditioner is then an exact (pseudo-inverse) solve.
    - `max_levels`: optional cap on the number of levels (≥ 2).

    **Returns:** a [`MultigridPreconditioner`][sciml.linalg.MultigridPreconditioner] ``r -> z``, also a
    symmetric positive semi-definite lineax operator.

    **Example:**

    ```python
    op = linalg.poisson_operator(flags)
    M = linalg.multigrid_preconditioner(op)
    sol = linalg.pcg(op, b, M, rtol=1e-6)
    sol = lineax.linear_solve(op, b, lineax.CG(rtol=1e-6, atol=0.0), options={"preconditioner": M})
    ```
    """
    if not isinstance(op, PoissonOperator):
        raise TypeError(
            f"`op` must be a flag-grid PoissonOperator (linalg.poisson_operator), got {type(op).__name__}."
        )
    check_choice("smoother", smoother, ("rbgs", "chebyshev"))
    check_int("pre", pre, minimum=1)
    check_int("post", post, minimum=1)
    if pre != post:
        raise ValueError(f"`pre` and `post` must be equal (symmetric V-cycle for CG), got pre={pre}, post={post}.")
    check_int("boundary_sweeps", boundary_sweeps, minimum=0)
    check_int("boundary_width", boundary_width, minimum=1)
    check_choice("coarsening", coarsening, ("fluid", "dirichlet"))
    check_int("coarsest_size", coarsest_size, minimum=1)
    if max_levels is not None:
        check_int("max_levels", max_levels, minimum=2)
    grids, coarse_boundary = _hierarchy(op, coarsening, int(coarsest_size), max_levels)
    dtype = op.dtype
    levels = []
    for lvl, (f, h) in enumerate(grids[:-1]):
        if lvl == 0:
            mask, diag, weights = np.asarray(op.mask), np.asarray(op.diag), np.asarray(op.weights)
        else:
            mask, diag, weights = _stencil_tables(f, coarse_boundary)
        if smoother == "chebyshev":
            levels.append(_build_cheb_level(mask, diag, h, dtype))
            continue
        levels.append(_build_level(mask, diag, weights, h, dtype, boundary_width if boundary_sweeps else 0))
    if len(grids) < 2:
        # a grid of at most `coarsest_size` cells is the coarsest level itself: the "V-cycle" is the dense
        # pseudo-inverse of the operator (an exact solve on FLUID; PCG then converges in one iteration)
        A = np.asarray(op.to_scipy(full=True).toarray())
    else:
        cf, ch = grids[-1]
        coarse = poisson_operator(cf, spacing=ch, boundary=coarse_boundary, dtype=dtype)
        A = np.asarray(coarse.to_scipy(full=True).toarray())
    pinv = np.linalg.pinv(A, hermitian=True)
    return MultigridPreconditioner(
        op=op,
        levels=levels,
        coarse_pinv=jnp.asarray(pinv, dtype),
        pre=int(pre),
        post=int(post),
        boundary_sweeps=int(boundary_sweeps),
        shapes=tuple(f.shape for f, _ in grids),
    )
