"""Training PIG / SPIG / MLP-PINN models on any `sciml.pde.Problem` through `sciml.train.fit`."""

from __future__ import annotations

import dataclasses
import math
import os
import time
from typing import Any, Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from .. import pde as _pde
from .. import nn as _nn
from .. import train as _train
from ..pde._problem import default_eval_shape
from .._errors import check_int, check_real
from ._correction import Correction, apply_correction
from ._fields import FieldStack, WithParams, field_models, unwrap
from ._model import MLPPINN, PIG, normalise_required
from ._separable import SeparablePIG

__all__ = ["PINNResult", "Sampler", "LossWeights", "AdamGroups", "LBFGS", "train", "train_mlp_pinn", "train_separable",
           "fit_model", "rel_l2", "eval_points", "make_loss", "make_sampler", "lr_groups"]


# ---------------------------------------------------------------------------------------------------
# option groups
class Sampler(eqx.Module):
    """Where the loss is evaluated: collocation and boundary points, redrawn every `resample_every` steps.

    **Arguments:**

    - `n_collocation`: interior points per step (default: from the problem's frequency content, see
      [`train`][sciml.pig.train]; 1,000 when it cannot be estimated).
    - `n_boundary`: points per boundary condition per step (default 1,000 in 2D+, 16 in 1D).
    - `resample_every`: draw fresh points every so many steps (default 1).
    - `grid_points_per_axis`: tensor-grid collocation (separable models) with this many points per axis.

    **Example:** `pig.train(problem, sampler=pig.Sampler(n_collocation=4000, resample_every=10))`
    """

    n_collocation: int | None = eqx.field(static=True, default=None)
    n_boundary: int | None = eqx.field(static=True, default=None)
    resample_every: int = eqx.field(static=True, default=1)
    grid_points_per_axis: int | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        if self.n_collocation is not None:
            check_int("n_collocation", self.n_collocation, minimum=1)
        if self.n_boundary is not None:
            check_int("n_boundary", self.n_boundary, minimum=1)
        check_int("resample_every", self.resample_every, minimum=1)
        if self.grid_points_per_axis is not None:
            check_int("grid_points_per_axis", self.grid_points_per_axis, minimum=2)


class LossWeights(eqx.Module):
    """Weights of the loss terms `w_r·MSE(residual) + Σ_c w_c·MSE(condition c) + w_p·MSE(periodic) + w_o·MSE(obs)`.

    **Arguments:**

    - `residual`, `periodic`, `observations`: fixed weights (reals ≥ 0, default 1) of the residual, periodic and
      observation terms, multiplied with the automatic scales below.
    - `conditions`: fixed weight of the boundary-condition terms: one real ≥ 0 (default 1) or one per boundary
      condition.
    - `balance`: `"source"` (default) divides each term by the mean square of its data when that exceeds 1:
      the residual by that of the residual of `u = 0` (the source term, per equation), each condition by that
      of its target `g`. A fixed weight cannot suit every problem: the Helmholtz source grows like
      `π²(a₁² + a₂²)`, and with weight 1 the residual drowns the boundary terms (measured in
      docs/pig.md). `None` uses the fixed weights only.
    - `causal`: causal weighting of the residual along the time axis (Wang, Sankaran & Perdikaris 2022); default
      `False`.
    - `causal_chunks`: number of time chunks of the causal weighting (default 16).
    - `causal_tol`: its tolerance ε: chunk `i` is weighted by `exp(−ε Σ_{j<i} L_j)` (default 1.0).

    **Example:** `pig.train(problem, weights=pig.LossWeights(balance=None, residual=1e-3))`
    """

    residual: float = eqx.field(static=True, default=1.0)
    conditions: float | tuple = eqx.field(static=True, default=1.0)
    periodic: float = eqx.field(static=True, default=1.0)
    observations: float = eqx.field(static=True, default=1.0)
    balance: str | None = eqx.field(static=True, default="source")
    causal: bool = eqx.field(static=True, default=False)
    causal_chunks: int = eqx.field(static=True, default=16)
    causal_tol: float = eqx.field(static=True, default=1.0)

    def __check_init__(self):
        check_real("residual", self.residual, minimum=0.0)
        check_real("periodic", self.periodic, minimum=0.0)
        check_real("observations", self.observations, minimum=0.0)
        for c in np.atleast_1d(np.asarray(self.conditions, dtype=object)):
            check_real("conditions", c, minimum=0.0)
        if self.balance not in (None, "source"):
            raise ValueError(f"`balance` must be 'source' or None, got {self.balance!r}.")
        check_int("causal_chunks", self.causal_chunks, minimum=1)
        check_real("causal_tol", self.causal_tol, minimum=0.0)


class AdamGroups(eqx.Module):
    """The default Adam phase's optimiser: Adam with one learning rate for the Gaussian parameters and one for the
    MLP (and identified coefficients), each decayed by `decay_rate` every `decay_every` steps, after an optional
    linear warm-up ([`lr_groups`][sciml.pig.lr_groups], built for the model being trained). Pass it as
    `optimizer=`; any optax transformation can be passed there instead.

    **Arguments:**

    - `learning_rate`: the MLP's learning rate (default `None`: the trainer's `learning_rate`, 1e-2 if unset).
    - `gaussians`: the Gaussian parameters' learning rate (default `None`: the MLP's).
    - `decay_rate`: staircase decay factor in (0, 1] (default 0.9).
    - `decay_every`: steps between decays (default 300).
    - `warmup`: steps of linear warm-up from 0 (default 0: none).

    **Example:** `pig.train(problem, optimizer=pig.AdamGroups(learning_rate=1e-2, gaussians=2e-3, decay_every=500))`
    """

    learning_rate: float | None = eqx.field(static=True, default=None)
    gaussians: float | None = eqx.field(static=True, default=None)
    decay_rate: float = eqx.field(static=True, default=0.9)
    decay_every: int = eqx.field(static=True, default=300)
    warmup: int = eqx.field(static=True, default=0)

    def __check_init__(self):
        if self.learning_rate is not None:
            check_real("learning_rate", self.learning_rate, minimum=0.0, strict_min=True)
        if self.gaussians is not None:
            check_real("gaussians", self.gaussians, minimum=0.0, strict_min=True)
        check_real("decay_rate", self.decay_rate, minimum=0.0, maximum=1.0, strict_min=True)
        check_int("decay_every", self.decay_every, minimum=1)
        check_int("warmup", self.warmup, minimum=0)


class LBFGS(eqx.Module):
    """The L-BFGS phase after Adam (optax L-BFGS with zoom line search on fixed points).

    **Arguments:**

    - `steps`: L-BFGS iterations (0 switches the phase off).
    - `points`: fixed collocation (and per-condition boundary) points (default 2,000, 256 in 1D, or the
      Adam sampler's collocation count when that is larger).
    - `memory`: history size.
    - `time_limit`: optional wall-clock budget in seconds for this phase.

    **Example:** `pig.train(problem, lbfgs=pig.LBFGS(steps=1000, points=4000))`
    """

    steps: int = eqx.field(static=True, default=500)
    points: int | None = eqx.field(static=True, default=None)
    memory: int = eqx.field(static=True, default=20)
    time_limit: float | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        check_int("steps", self.steps, minimum=0)
        if self.points is not None:
            check_int("points", self.points, minimum=1)
        check_int("memory", self.memory, minimum=1)
        if self.time_limit is not None:
            check_real("time_limit", self.time_limit, minimum=0.0, strict_min=True)


# ---------------------------------------------------------------------------------------------------
# result
@dataclasses.dataclass
class PINNResult(_train.TrainResult):
    """Result of [`train`][sciml.pig.train] / [`train_mlp_pinn`][sciml.pig.train_mlp_pinn]: a
    [`train.TrainResult`][sciml.train.TrainResult] with extra fields.

    **Fields:**

    - `model`, `opt_state`, `history`, `losses`, `step`: as in [`train.TrainResult`][sciml.train.TrainResult].
    - `final_error`: rel-L2 of the final model on the evaluation grid (or `None`).
    - `best_error`: the minimum rel-L2 seen during training (test-set early stopping, reported only for
      comparison with the paper's numbers).
    - `seconds`: wall time of training; `n_params`: trainable parameter count; `config`: the settings used.
    - `params`: the problem's coefficients, with the identified values for those in `infer`.

    `predict(x)` evaluates the model at points `(n, d)` (`(n, n_fields)` for systems).
    """

    final_error: float | None = None
    best_error: float | None = None
    seconds: float = 0.0
    n_params: int = 0
    config: dict = dataclasses.field(default_factory=dict)
    params: dict = dataclasses.field(default_factory=dict)

    def predict(self, x, chunk_size: int | None = 4096):
        """Evaluate the trained model in bounded memory.

        **Arguments:**

        - `x`: points, shape `(n, d)` (cast to the model's dtype).
        - `chunk_size`: points per chunk (default 4096); `None` = one chunk.

        **Returns:** shape `(n,)` (`(n, n_fields)` for systems).
        """
        dtype = jax.tree.leaves(eqx.filter(self.model, eqx.is_inexact_array))[0].dtype
        return self.model.predict(jnp.asarray(x, dtype), chunk_size=chunk_size)


def rel_l2(pred, ref) -> float:
    """Relative L2 error ``||pred - ref|| / ||ref||`` over all points, as a float ([`sciml.nn.rel_l2`][]).

    **Arguments:**

    - `pred`, `ref`: arrays of one size (flattened before comparing).

    **Returns:** a Python float.
    """
    return float(_nn.rel_l2(np.ravel(pred), np.ravel(ref)))


def eval_points(problem, shape: Sequence[int] | None = None, dtype=jnp.float32):
    """Evaluation points and exact values on a grid of the domain.

    **Arguments:**

    - `problem`: a [`pde.Problem`][sciml.pde.Problem] with an exact solution.
    - `shape`: grid points per axis (default `None`: 1001 / 250² / 41³ in 1D / 2D / 3D, 12 per axis above);
      restricted to the domain for non-box domains.
    - `dtype`: dtype of the returned points (default float32).

    **Returns:** `(x, u)`: points `(n, d)` in `dtype` and the exact values as a float64 NumPy array.

    **Raises:** `ValueError` when the problem has no exact solution.
    """
    d = problem.ndim
    if shape is None:
        shape = default_eval_shape(d)
    if len(tuple(shape)) != d or any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1
                                     for n in shape):
        raise ValueError(f"`shape` must be {d} positive ints (points per axis), got {shape!r}.")
    x = problem.domain.grid_points(tuple(shape), jnp.float64 if jax.config.jax_enable_x64 else dtype)
    x = np.asarray(x.reshape(-1, d))
    if not problem.domain.is_box:
        x = x[np.asarray(problem.domain.contains(jnp.asarray(x), 1e-9))]
    u = problem.exact_at(jnp.asarray(x))
    return jnp.asarray(x, dtype), np.asarray(u, np.float64)


# ---------------------------------------------------------------------------------------------------
# losses
def _as_jet(derivs: dict) -> "_pde.ArrayJet":
    first = {r[0]: v for r, v in derivs.items() if len(r) == 1}
    second = {r: v for r, v in derivs.items() if len(r) == 2}
    return _pde.ArrayJet(derivs[()], first, second)


def chunked_derivatives(model, xs, required, chunk_size: int | None):
    """``model.derivatives(xs, required)`` in chunks of ``chunk_size`` points (``lax.map`` over rematerialised
    chunks: forward and backward memory ~ chunk_size x total Gaussians instead of points x Gaussians)."""
    return _nn.chunked_map(lambda x: model.derivatives(x, required), xs, chunk_size, batched=True, checkpoint=True)


def _causal_mse(r2, t, t0, t1, n_chunks, tol):
    """Causal weighting (Wang, Sankaran & Perdikaris 2022): chunk i weighted by exp(-tol * sum_{j<i} L_j)."""
    idx = jnp.clip(jnp.floor((t - t0) / (t1 - t0) * n_chunks).astype(jnp.int32), 0, n_chunks - 1)
    sums = jax.ops.segment_sum(r2, idx, n_chunks)
    counts = jax.ops.segment_sum(jnp.ones_like(r2), idx, n_chunks)
    L = sums / jnp.maximum(counts, 1.0)
    cum = jnp.concatenate([jnp.zeros((1,), L.dtype), jnp.cumsum(L)[:-1]])
    w = jax.lax.stop_gradient(jnp.exp(-tol * cum))
    return jnp.mean(w * L), jnp.min(w)


def _zero_field(problem, dtype):
    if problem.n_fields == 1:
        return lambda x: jnp.zeros((), x.dtype)
    return lambda x: jnp.zeros((problem.n_fields,), x.dtype)


def _data_term_scale(problem, x) -> float:
    """Mean square of the residual's largest derivative term on the Dirichlet/Initial data: for every
    condition target `g` and every derivative `D` the residual reads, the residual of the jet holding only
    `D g` minus that of `u = 0`. A source-free (homogeneous) equation — heat, wave, ... — has no source to set
    the residual's scale, but its terms still scale like `D u` (e.g. `π² u` for the heat equation). 0 for
    systems or when it cannot be evaluated."""
    if problem.n_fields != 1:
        return 0.0
    d = problem.ndim
    req = [r for r in normalise_required(_pde.required_derivatives(problem)) if r != ()]
    conds = [c for c in problem.boundary_conditions() if isinstance(c, (_pde.Dirichlet, _pde.Initial))]
    if not req or not conds:
        return 0.0

    def jet(r, v):
        z = jnp.zeros((), v.dtype)
        first = {i: v if r == (i,) else z for i in range(d)}
        second = {(i, j): v if r == (i, j) else z for i in range(d) for j in range(i, d)}
        return _pde.ArrayJet(z, first, second)

    best = 0.0
    try:
        for c in conds:
            g = lambda y, c=c: jnp.asarray(c.g(y), y.dtype).reshape(())  # noqa: E731
            for r in req:
                def term(xi, r=r, g=g):
                    fj = _pde.FunctionJet(g, xi)
                    v = fj.d(r[0]) if len(r) == 1 else fj.d2(*r)
                    return (problem.residual_with(jet(r, v), xi)
                            - problem.residual_with(jet(r, jnp.zeros((), xi.dtype)), xi))
                t = np.asarray(jax.vmap(term)(x), np.float64)
                best = max(best, float(np.mean(t**2)))
    except Exception:  # noqa: BLE001 - data that cannot be differentiated: no term scale
        return 0.0
    return best if np.isfinite(best) else 0.0


def _mode_scale(problem, x, amp2) -> np.ndarray:
    """Per equation: the mean square of `Σ |T|` over the residual's terms `T` (every derivative it reads, of
    every field, one at a time, minus the residual of `u = 0`) evaluated on the smoothest function the box
    admits with the data's amplitude: field `f` as `A_f Π_i sin(π (x_i − lower_i) / width_i)`, each derivative
    taken at its peak `A_f Π π / width_i` (`A_f² = amp2[f]`). This is the residual scale of the coarsest
    solution the problem can have; a source smaller than it (`u = x y² + 1`: `Δu = 2x`) would otherwise leave
    the residual term so strong that Adam cannot move the boundary values (measured in docs/pig.md). 0 when it
    cannot be evaluated."""
    d, nf = problem.ndim, problem.n_fields
    c = np.pi / np.asarray(problem.domain.widths, np.float64)
    try:
        reqs = [normalise_required(r) for r in _pde.required_derivatives(problem, by_field=True)]

        def jets(xi, f=None, r=None, v=None):
            z = jnp.zeros((), xi.dtype)
            out = []
            for j in range(nf):
                put = (lambda q: v if (j == f and q == r) else z)  # noqa: E731
                out.append(_pde.ArrayJet(put(()), {i: put((i,)) for i in range(d)},
                                         {(i, k): put((i, k)) for i in range(d) for k in range(i, d)}))
            return out if nf > 1 else out[0]

        total = 0.0
        for f, req in enumerate(reqs):
            for r in req:
                mag = float(np.sqrt(amp2[f]) * np.prod([c[i] for i in r]))

                def term(xi, f=f, r=r, mag=mag):
                    v = jnp.asarray(mag, xi.dtype)
                    return problem.residual_with(jets(xi, f, r, v), xi) - problem.residual_with(jets(xi), xi)

                total = total + np.abs(np.asarray(jax.vmap(term)(x), np.float64).reshape(x.shape[0], -1))
        out = np.mean(np.asarray(total) ** 2, axis=0)
    except Exception:  # noqa: BLE001 - a residual that cannot take these jets: no floor
        return np.zeros(())
    return np.where(np.isfinite(out), out, 0.0)


def auto_scales(problem, key=None, n: int = 2048, dtype=jnp.float32) -> dict:
    """The `"source"` balance: mean squares (floored at 1) of the residual of `u = 0` (per equation) and of
    each boundary condition's target, on `n` sampled points. Terms are divided by these. When the source is
    below that floor (a source-free equation: heat, wave, ...), the residual is scaled by its largest derivative
    term on the Dirichlet/Initial data instead (`_data_term_scale`). The residual's scale is never below that of
    the smoothest solution the box admits with the data's amplitude (`_mode_scale`)."""
    key = jax.random.key(7) if key is None else key
    k1, k2 = jax.random.split(key)
    x = problem.domain.sample_interior(k1, n, jnp.float32)
    r0 = np.asarray(problem.residual_at(_zero_field(problem, dtype), x), np.float64).reshape(n, -1)
    src = np.mean(r0**2, axis=0)
    if np.all(src < 1.0):  # no source to set the scale (a source-free equation): use its terms on the data
        src = np.maximum(src, _data_term_scale(problem, x[:512]))
    bcs = problem.boundary_conditions()
    samples = problem.sample_boundary_conditions(k2, min(n, 512), jnp.float32)
    ms = [float(np.mean(np.asarray(b["g"], np.float64) ** 2)) for b in samples]
    amp2 = [max([1.0] + [m for c, m in zip(bcs, ms) if getattr(c, "field", 0) == f
                         and isinstance(c, (_pde.Dirichlet, _pde.Initial))]) for f in range(problem.n_fields)]
    src = np.maximum(src, _mode_scale(problem, x[:512], amp2))
    res = np.maximum(src, 1.0)
    conds = [max(m, 1.0) for m in ms]
    return {"residual": res, "conditions": conds}


def _bc_required(cond, ndim):
    if isinstance(cond, (_pde.Neumann, _pde.Robin)):
        return normalise_required([(i,) for i in range(ndim)])
    return ((),)


def _bc_residual(cond, d, normal, g, dtype):
    u = d[()]
    if isinstance(cond, (_pde.Dirichlet, _pde.Initial)):
        return u - g
    dn = sum(d[(i,)] * normal[:, i] for i in range(normal.shape[-1]))
    if isinstance(cond, _pde.Neumann):
        return dn - g
    return cond.alpha * u + cond.beta * dn - g


def make_loss(
    problem,
    *,
    residual_weight: float = 1.0,
    condition_weights: float | Sequence[float] = 1.0,
    periodic_weight: float = 1.0,
    observation_weight: float = 1.0,
    causal: bool = False,
    causal_chunks: int = 16,
    causal_tol: float = 1.0,
    chunk_size: int | None = None,
    dtype=jnp.float32,
) -> Callable:
    """The PINN loss `w_r·MSE(residual) + Σ_c w_c·MSE(condition c) + w_p·MSE(periodic) + w_o·MSE(observations)`.

    Conditions: Dirichlet/Initial `u − g`, Neumann `∂u/∂n − g`, Robin `α u + β ∂u/∂n − g` (normals from the
    batch). `residual_weight` may be one weight per equation (systems). Works for any model with
    `derivatives(xs, required)` (and `grid_derivatives` for tensor-grid batches), a
    [`FieldStack`][sciml.pig.FieldStack] for systems, and a `WithParams` wrapper (identified coefficients).
    `chunk_size` evaluates the points in rematerialised chunks so memory stays bounded.

    **Arguments:**

    - `problem`: a [`pde.Problem`][sciml.pde.Problem].
    - `residual_weight`: weight of the residual term, a real or one per equation (default 1).
    - `condition_weights`: one real or one per boundary condition (default 1).
    - `periodic_weight`, `observation_weight`: weights of the periodic and observation terms (default 1).
    - `causal`, `causal_chunks`, `causal_tol`: causal weighting, as in [`LossWeights`][sciml.pig.LossWeights].
    - `chunk_size`: points per rematerialised chunk (default `None`: all at once).
    - `dtype`: dtype of the loss (default float32).

    **Raises:** `ValueError` for a wrong number of condition weights or `causal=True` on a steady problem.

    **Returns:** `loss_fn(model, batch, key) -> (loss, metrics)` for `sciml.train.fit`; its attribute
    `loss_fn.residual_vector(model, batch)` gives the flat vector `v` with `‖v‖² = loss` (least-squares solvers;
    `ValueError` with causal weighting).
    """
    nf = problem.n_fields
    req_fields = [normalise_required(r) for r in _pde.required_derivatives(problem, by_field=True)]
    bcs = problem.boundary_conditions()
    n_cond = len(bcs)
    cw = [float(condition_weights)] * n_cond if np.ndim(condition_weights) == 0 else list(condition_weights)
    if len(cw) != n_cond:
        raise ValueError(f"`condition_weights` needs {n_cond} entries (one per boundary condition), got {len(cw)}.")
    rw = jnp.asarray(residual_weight, dtype)
    if causal and problem.time_axis is None:
        raise ValueError("`causal=True` needs a time-dependent problem (Problem.time_axis set)")
    ta = problem.time_axis
    d = problem.ndim

    def residual_fn(u, x, params):
        return jnp.asarray(problem.residual_with(u if nf > 1 else u[0], x, params), dtype)

    def evaluate(state, batch):
        """The unweighted pieces of the loss: residuals (P, m), one error vector per condition, per periodic axis
        the (value, derivative) differences of every field, and the observation misfit (or None)."""
        model, params = unwrap(state)
        models = field_models(model, nf)
        if "axes" in batch:  # separable model on a tensor grid
            out = [m.grid_derivatives(batch["axes"], req_fields[j]) for j, m in enumerate(models)]
            derivs, xs = [o[0] for o in out], out[0][1]
        else:
            xs = batch["res"]
            derivs = [chunked_derivatives(m, xs, req_fields[j], chunk_size) for j, m in enumerate(models)]
        jets = [_as_jet(dv) for dv in derivs]
        r = jax.vmap(residual_fn, in_axes=(0, 0, None))(jets, xs, params).reshape(xs.shape[0], -1)  # (P, m)
        conds = []
        for c, b in zip(bcs, batch["cond"]):
            xb, nb, gb = b
            dv = chunked_derivatives(models[c.field], xb, _bc_required(c, d), chunk_size)
            conds.append(_bc_residual(c, dv, nb.astype(dtype), gb.astype(dtype), dtype))
        periodic = []
        for j, (xl, xh) in enumerate(batch["periodic"]):
            a = problem.periodic_axes()[j]
            diffs = []
            for m in models:
                dl = chunked_derivatives(m, xl, ((), (a,)), chunk_size)
                dh = chunked_derivatives(m, xh, ((), (a,)), chunk_size)
                diffs.append((dl[()] - dh[()], dl[(a,)] - dh[(a,)]))
            periodic.append(diffs)
        obs = None
        if batch.get("obs") is not None:
            xo, uo = batch["obs"]
            pred = jnp.stack([chunked_derivatives(m, xo, ((),), chunk_size)[()] for m in models], -1)
            obs = pred - uo.reshape(pred.shape).astype(dtype)
        return xs, r, conds, periodic, obs

    def loss_fn(state, batch, key):
        xs, r, conds, periodic, obs = evaluate(state, batch)
        r2 = r * r  # (P, m)
        metrics = {}
        if causal:
            lo, hi = problem.domain.lower[ta], problem.domain.upper[ta]
            l_res, wmin = _causal_mse(jnp.sum(r2 * rw, -1), xs[:, ta], lo, hi, causal_chunks, causal_tol)
            metrics["causal_min_weight"] = wmin
            total = l_res
            metrics["loss_res"] = l_res
        else:
            per_eq = jnp.mean(r2, axis=0)
            metrics["loss_res"] = jnp.sum(per_eq)
            total = jnp.sum(rw * per_eq)
        for i, e in enumerate(conds):
            l = jnp.mean(e**2)
            metrics[f"loss_cond{i}"] = l
            total = total + cw[i] * l
        for j, diffs in enumerate(periodic):
            l = 0.0
            for dv, dd in diffs:
                l = l + jnp.mean(dv**2) + jnp.mean(dd**2)
            metrics[f"loss_periodic{j}"] = l
            total = total + periodic_weight * l
        if obs is not None:
            l = jnp.mean(obs**2)
            metrics["loss_obs"] = l
            total = total + observation_weight * l
        return total, metrics

    def residual_vector(state, batch):
        """The loss as a sum of squares: the flat vector `v` with `‖v‖² = loss` (no causal weighting)."""
        if causal:
            raise ValueError("the residual vector has no causal weighting; use the loss itself")
        _, r, conds, periodic, obs = evaluate(state, batch)
        sw = jnp.sqrt(jnp.broadcast_to(rw, (r.shape[1],)) / r.shape[0])
        parts = [(r * sw).reshape(-1)]
        parts += [jnp.sqrt(cw[i] / e.shape[0]) * e.reshape(-1) for i, e in enumerate(conds)]
        for diffs in periodic:
            for dv, dd in diffs:
                parts += [jnp.sqrt(periodic_weight / dv.shape[0]) * dv, jnp.sqrt(periodic_weight / dd.shape[0]) * dd]
        if obs is not None:
            parts.append(jnp.sqrt(observation_weight / obs.size) * obs.reshape(-1))
        return jnp.concatenate(parts)

    loss_fn.residual_vector = residual_vector
    return loss_fn


def make_sampler(
    problem,
    *,
    n_collocation: int,
    n_boundary: int,
    key: PRNGKeyArray,
    resample_every: int = 1,
    grid_points_per_axis: int | None = None,
    observations: tuple | None = None,
    dtype=jnp.float32,
) -> Callable:
    """`batch_fn(key, step)` drawing fresh collocation/boundary points every `resample_every` steps.

    The draw depends only on `(key, step // resample_every)`, so training is deterministic and resumable.
    A batch holds `res` (collocation points), `cond` (one `(x, normal, g)` per boundary condition),
    `periodic` pairs and the fixed `obs`. With `grid_points_per_axis` the residual batch is a per-axis set of
    coordinates (tensor grid, for separable models; box domains only).

    **Arguments:**

    - `problem`: a [`pde.Problem`][sciml.pde.Problem].
    - `n_collocation`: interior points per draw.
    - `n_boundary`: points per boundary condition (and per periodic axis) per draw.
    - `key`: a JAX PRNG key; the draws are functions of it and of `step // resample_every` only.
    - `resample_every`: redraw every so many steps (default 1).
    - `grid_points_per_axis`: tensor-grid collocation with this many points per axis (default `None`: scattered).
    - `observations`: fixed `(x_obs (n, d), u_obs (n,))` data included in every batch (default `None`).
    - `dtype`: dtype of the points (default float32).

    **Returns:** `batch_fn(key, step) -> dict` for [`sciml.train.fit`][sciml.train.fit].

    **Raises:** `ValueError` for tensor-grid collocation on a non-box domain.
    """
    dom = problem.domain
    resample_every = max(int(resample_every), 1)
    if not grid_points_per_axis:
        check_int("n_collocation", n_collocation, minimum=1)
    check_int("n_boundary", n_boundary, minimum=0)
    if grid_points_per_axis and not dom.is_box:
        raise ValueError("tensor-grid collocation (`grid_points_per_axis`, separable models) needs a pde.Box domain.")
    obs = None if observations is None else (jnp.asarray(observations[0], dtype), jnp.asarray(observations[1], dtype))

    @jax.jit
    def draw(block):
        k = jax.random.fold_in(key, block)
        k1, k2, k3 = jax.random.split(k, 3)
        batch = {
            "cond": [(b["x"], b["normal"], b["g"]) for b in problem.sample_boundary_conditions(k2, n_boundary, dtype)],
            "periodic": problem.periodic_pairs(k3, n_boundary, dtype),
        }
        if grid_points_per_axis:
            ks = jax.random.split(k1, dom.ndim)
            batch["axes"] = [
                jnp.sort(jax.random.uniform(ks[a], (grid_points_per_axis,), dtype, dom.lower[a], dom.upper[a]))
                for a in range(dom.ndim)
            ]
        else:
            batch["res"] = dom.sample_interior(k1, n_collocation, dtype)
        return batch

    cache = {}

    def batch_fn(_key, step):
        if isinstance(step, jax.core.Tracer):  # inside train.fit's compiled chunk (steps_per_call > 1): same draws
            b = draw(step // resample_every)
            return b if obs is None else dict(b, obs=obs)
        block = int(step) // resample_every
        if block not in cache:
            cache.clear()
            b = draw(block)
            if obs is not None:
                b = dict(b, obs=obs)
            cache[block] = b
        return cache[block]

    return batch_fn


def lr_groups(model, lr_gauss, lr_mlp, *, decay_rate: float = 0.9, decay_every: int = 300,
              warmup: int = 0) -> optax.GradientTransformation:
    """Adam with separate learning rates for the Gaussian parameters and the MLP (`optax.multi_transform`).

    Leaves whose path mentions ``embedding`` (or any top-level Gaussian array of a separable model) are
    ``"gauss"``; the rest (MLP, identified coefficients) ``"mlp"``. Each group decays by `decay_rate` every
    `decay_every` steps (optax schedules).

    **Arguments:**

    - `model`: the model whose parameters are labelled.
    - `lr_gauss`: learning rate of the Gaussian parameters.
    - `lr_mlp`: learning rate of the MLP (and identified coefficients).
    - `decay_rate`: staircase decay factor (default 0.9).
    - `decay_every`: steps between decays (default 300).
    - `warmup`: steps of linear warm-up from 0 (default 0: none).

    **Returns:** an `optax.GradientTransformation`.
    """

    def sched(lr):
        s = optax.exponential_decay(lr, transition_steps=max(decay_every, 1), decay_rate=decay_rate, staircase=True)
        if warmup:
            s = optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), s], [warmup])
        return s

    gauss_names = ("embedding", ".means", ".log_sigma", ".weights", ".offdiag")

    def labels(params):
        def lab(path, leaf):
            p = jax.tree_util.keystr(path)
            if ".mlp" in p or "['params']" in p or ".params" in p:
                return "mlp"
            return "gauss" if any(n in p for n in gauss_names) else "mlp"

        return jax.tree_util.tree_map_with_path(lab, params)

    return optax.multi_transform({"gauss": optax.adam(sched(lr_gauss)), "mlp": optax.adam(sched(lr_mlp))}, labels)


# ---------------------------------------------------------------------------------------------------
# the harness
_LEGACY = {"lr", "lr_gauss", "decay_rate", "decay_every", "n_collocation", "n_boundary", "resample_every",
           "grid_points_per_axis", "residual_weight", "condition_weights", "causal", "causal_chunks", "causal_tol",
           "lbfgs_steps", "lbfgs_points", "lbfgs_memory", "lbfgs_time_limit"}
# where each flat legacy name lives now (the DeprecationWarning says so)
_LEGACY_HOME = {
    "lr": "learning_rate=", "lr_gauss": "optimizer=pig.AdamGroups(gaussians=...)",
    "decay_rate": "optimizer=pig.AdamGroups(decay_rate=...)",
    "decay_every": "optimizer=pig.AdamGroups(decay_every=...)",
    "n_collocation": "sampler=pig.Sampler(n_collocation=...)", "n_boundary": "sampler=pig.Sampler(n_boundary=...)",
    "resample_every": "sampler=pig.Sampler(resample_every=...)",
    "grid_points_per_axis": "sampler=pig.Sampler(grid_points_per_axis=...)",
    "residual_weight": "weights=pig.LossWeights(residual=..., balance=None)",
    "condition_weights": "weights=pig.LossWeights(conditions=..., balance=None)",
    "causal": "weights=pig.LossWeights(causal=...)", "causal_chunks": "weights=pig.LossWeights(causal_chunks=...)",
    "causal_tol": "weights=pig.LossWeights(causal_tol=...)", "lbfgs_steps": "lbfgs=pig.LBFGS(steps=...)",
    "lbfgs_points": "lbfgs=pig.LBFGS(points=...)", "lbfgs_memory": "lbfgs=pig.LBFGS(memory=...)",
    "lbfgs_time_limit": "lbfgs=pig.LBFGS(time_limit=...)",
}


def _warn_legacy(who: str, options: dict) -> None:
    """One DeprecationWarning, at the caller's line, naming each flat legacy keyword and its option object."""
    used = [k for k in options if k in _LEGACY_HOME]
    if used:
        import warnings

        warnings.warn(f"{who}: flat keywords {used} are deprecated; use "
                      + "; ".join(f"{k} -> {_LEGACY_HOME[k]}" for k in used) + ".", DeprecationWarning, stacklevel=3)


_OPTIONS = {"time_limit", "checkpoint_dir", "chunk_size", "eval_shape", "reference", "eval_every", "log_every",
            "progress", "mesh", "metrics_path", "dtype", "steps_per_call"}


def _source_frequency(problem) -> np.ndarray:
    """Per-axis dominant frequency of the source (the residual of `u = 0`), in radians per unit of the
    normalised [-1, 1] box: `k_i = ‖∂_i f‖ / ‖f‖` on 1,024 sampled points; zeros when it cannot be estimated."""
    d = problem.ndim
    try:
        x = problem.domain.sample_interior(jax.random.key(11), 1024, jnp.float32)
        zero = _zero_field(problem, jnp.float32)
        f = lambda y: jnp.sum(problem.residual_at(zero, y[None])[0])  # noqa: E731
        val = jax.vmap(f)(x)
        grad = jax.vmap(jax.grad(f))(x) * jnp.asarray(problem.domain.widths, x.dtype) / 2
        fn = float(jnp.sqrt(jnp.mean(val**2)))
        k = np.sqrt(np.mean(np.asarray(grad, np.float64) ** 2, axis=0)) / fn if fn > 1e-12 else np.zeros(d)
    except Exception:  # noqa: BLE001 - any failure: plain defaults
        k = np.zeros(d)
    return np.where(np.isfinite(k), k, 0.0)


def _default_sizes(problem):
    """Collocation/boundary counts from the problem: the residual of `u = 0` (the source) is sampled and its
    dominant frequency estimated by the ratio `‖∇f‖ / ‖f‖` (in normalised [-1, 1] units); the interior gets
    about 25 points per wavelength² in 2D (at least 1,000, at most 8,000)."""
    d = problem.ndim
    if d == 1:
        return 128, 16
    k = float(np.sqrt(np.sum(_source_frequency(problem) ** 2)))
    waves = max(k / np.pi, 1.0)  # half-wavelengths across the normalised box per axis
    n = int(np.clip(1000 * (waves / 4.0) ** 2, 1000, 8000)) if d == 2 else 2000
    return n, 1000 if d >= 2 else 16


GAUSSIANS_CAP = 1600


def _default_gaussians(problem) -> int:
    """Gaussian count from the problem's frequency content, like the collocation count: 400, and in 2D
    `400 · (waves / 4)²` (rounded to 100, at most `GAUSSIANS_CAP`) when the source has more than 4 half-wavelengths
    per axis (`waves` as in `_default_sizes`). Measured at 2,000 steps with 400 Gaussians: Helmholtz (2, 6) 0.028,
    (5, 5) 0.093 (targets 2e-2); with 900: 0.0095 and 0.0103 (4,000 steps with 400 instead: 0.012 and 0.069)."""
    if problem.ndim != 2:
        return 400
    k = float(np.sqrt(np.sum(_source_frequency(problem) ** 2)))
    waves = max(k / np.pi, 1.0)
    return int(np.clip(round(400 * (waves / 4.0) ** 2 / 100) * 100, 400, GAUSSIANS_CAP))


def _check_options(options):
    """Validate the harness options before anything compiles."""
    if options.get("time_limit") is not None:
        check_real("time_limit", options["time_limit"], minimum=0.0, strict_min=True)
    if options.get("chunk_size") is not None:
        check_int("chunk_size", options["chunk_size"], minimum=1)
    if options.get("eval_every") is not None:
        check_int("eval_every", options["eval_every"], minimum=1)
    if options.get("log_every") is not None:
        check_int("log_every", options["log_every"], minimum=1)
    if options.get("steps_per_call") is not None:
        check_int("steps_per_call", options["steps_per_call"], minimum=1)
    ckpt = options.get("checkpoint_dir")
    if ckpt is not None and not isinstance(ckpt, (str, os.PathLike)):
        raise TypeError(f"`checkpoint_dir` must be a path (str or os.PathLike), got {type(ckpt).__name__}.")
    if "dtype" in options and jnp.dtype(options["dtype"]) not in (jnp.dtype(jnp.float32), jnp.dtype(jnp.float64)):
        raise ValueError(f"`dtype` must be float32 or float64, got {options['dtype']!r}.")
    ref = options.get("reference")
    if ref is not None:
        try:
            rx, ru = ref
        except (TypeError, ValueError):
            raise TypeError("`reference` must be a pair (points (n, d), values (n,)).") from None
        if np.ndim(rx) != 2 or np.shape(rx)[0] != np.shape(ru)[0]:
            raise ValueError(f"`reference` points (n, d) and values (n, ...) disagree: {np.shape(rx)} vs "
                             f"{np.shape(ru)}.")


def fit_model(
    problem,
    model,
    *,
    steps: int = 2000,
    key: PRNGKeyArray | None = None,
    optimizer: optax.GradientTransformation | None = None,
    learning_rate: float | None = None,
    sampler: Sampler | None = None,
    weights: LossWeights | None = None,
    lbfgs: LBFGS | None = None,
    correction: Correction | None = None,
    observations: tuple | None = None,
    infer: Sequence[str] = (),
    **options,
) -> PINNResult:
    """Train any model with `derivatives(xs, required)` on `problem`: Adam (LR groups) then L-BFGS.

    `reference=(points, values)` (an option) supplies the error target for problems without an exact solution.

    **Arguments:**

    - `problem`: a [`pde.Problem`][sciml.pde.Problem].
    - `model`: the model to train (`PIG`, `MLPPINN`, `SeparablePIG`, a `FieldStack`, ...).
    - `steps`: Adam steps (default 2000), then the L-BFGS phase.
    - `key`: a JAX PRNG key (default `None`: `jax.random.key(0)`).
    - `optimizer`, `learning_rate`, `sampler`, `weights`, `lbfgs`, `observations`, `infer`, `**options`: as in
      [`train`][sciml.pig.train].
    - `correction`: a [`Correction`][sciml.pig.Correction] phase after L-BFGS (default `None`: none).

    **Returns:** a [`PINNResult`][sciml.pig.PINNResult].

    **Example:** `res = pig.fit_model(problem, pig.SeparablePIG(lo, hi, key=key), sampler=pig.Sampler(grid_points_per_axis=32))`
    """
    if not options.pop("_warned", False):
        _warn_legacy("pig.fit_model", options)
    unknown = set(options) - _LEGACY - _OPTIONS
    if unknown:
        raise TypeError(f"unknown option(s) {sorted(unknown)}; options are {sorted(_OPTIONS)} (legacy: "
                        f"{sorted(_LEGACY)}).")
    steps = check_int("steps", steps, minimum=1)
    _check_options(options)
    key = jax.random.key(0) if key is None else key
    k_data, k_fit, k_lb = jax.random.split(key, 3)
    dtype = options.get("dtype", jnp.float32)
    lr = options.pop("lr", None)
    if learning_rate is not None and lr is not None:
        raise TypeError("pass `learning_rate` only (`lr` is its old name).")
    learning_rate = lr if learning_rate is None else learning_rate
    legacy_groups = [k for k in ("lr_gauss", "decay_rate", "decay_every") if k in options]
    if optimizer is None:
        optimizer = AdamGroups(gaussians=options.get("lr_gauss"), decay_rate=options.get("decay_rate", 0.9),
                               decay_every=options.get("decay_every", 300))
    elif isinstance(optimizer, AdamGroups):
        if legacy_groups:
            raise TypeError(f"{legacy_groups} cannot be combined with `optimizer=pig.AdamGroups(...)`: set them there.")
    elif not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"`optimizer` must be a pig.AdamGroups or an optax GradientTransformation, got "
                        f"{type(optimizer).__name__}.")
    groups = optimizer if isinstance(optimizer, AdamGroups) else None
    if groups is not None and groups.learning_rate is not None and learning_rate is not None:
        raise ValueError("give the MLP learning rate once: `learning_rate=` or `pig.AdamGroups(learning_rate=...)`.")
    if groups is not None and groups.learning_rate is not None:
        learning_rate = groups.learning_rate
    learning_rate = check_real("learning_rate", learning_rate if learning_rate is not None else 1e-2,
                               minimum=0.0, strict_min=True)
    lr_gauss = None
    if groups is not None:
        lr_gauss = groups.gaussians if groups.gaussians is not None else learning_rate
    # option groups (objects), with the flat legacy names mapped onto them
    if sampler is None:
        n_c, n_b = _default_sizes(problem)
        sampler = Sampler(options.get("n_collocation", n_c), options.get("n_boundary", n_b),
                          options.get("resample_every", 1), options.get("grid_points_per_axis"))
    elif not isinstance(sampler, Sampler):
        raise TypeError(f"`sampler` must be a pig.Sampler, got {type(sampler).__name__}.")
    elif sampler.n_collocation is None or sampler.n_boundary is None:
        n_c, n_b = _default_sizes(problem)
        sampler = dataclasses.replace(sampler, n_collocation=sampler.n_collocation or n_c,
                                      n_boundary=sampler.n_boundary or n_b)
    if weights is None:
        legacy_w = "residual_weight" in options or "condition_weights" in options
        weights = LossWeights(options.get("residual_weight", 1.0), options.get("condition_weights", 1.0),
                              balance=None if legacy_w else "source", causal=options.get("causal", False),
                              causal_chunks=options.get("causal_chunks", 16), causal_tol=options.get("causal_tol", 1.0))
    elif not isinstance(weights, LossWeights):
        raise TypeError(f"`weights` must be a pig.LossWeights, got {type(weights).__name__}.")
    if lbfgs is None:
        lbfgs = LBFGS(options.get("lbfgs_steps", 0), options.get("lbfgs_points"), options.get("lbfgs_memory", 20),
                      options.get("lbfgs_time_limit"))
    elif not isinstance(lbfgs, LBFGS):
        raise TypeError(f"`lbfgs` must be a pig.LBFGS, got {type(lbfgs).__name__}.")
    if correction is not None and not isinstance(correction, Correction):
        raise TypeError(f"`correction` must be a pig.Correction or None, got {type(correction).__name__}.")
    mesh = options.get("mesh")
    if mesh is not None and sampler.grid_points_per_axis:
        raise ValueError("data-parallel `mesh` training needs scattered collocation (not a tensor grid)")
    infer = _check_infer(problem, infer, observations)
    if observations is not None:
        observations = _check_observations(problem, observations)

    # loss weights: fixed x automatic scales
    n_cond = len(problem.boundary_conditions())
    cw = np.broadcast_to(np.asarray(weights.conditions, float), (n_cond,)) if np.ndim(weights.conditions) == 0 \
        else np.asarray(weights.conditions, float)
    if cw.shape != (n_cond,):
        raise ValueError(f"`weights.conditions` needs {n_cond} entries (one per boundary condition), got {cw.shape}.")
    rw = np.asarray(weights.residual, float)
    scales = None
    if weights.balance == "source":
        scales = auto_scales(problem, dtype=dtype)
        rw = rw / scales["residual"]
        cw = cw / np.asarray(scales["conditions"], float).reshape(cw.shape)
    rw = float(rw.reshape(-1)[0]) if rw.size == 1 else rw
    loss_fn = make_loss(
        problem, residual_weight=rw, condition_weights=[float(c) for c in cw], periodic_weight=weights.periodic,
        observation_weight=weights.observations, causal=weights.causal, causal_chunks=weights.causal_chunks,
        causal_tol=weights.causal_tol, chunk_size=options.get("chunk_size"), dtype=dtype,
    )
    batch_fn = make_sampler(
        problem, n_collocation=sampler.n_collocation, n_boundary=sampler.n_boundary, key=k_data,
        resample_every=sampler.resample_every, grid_points_per_axis=sampler.grid_points_per_axis,
        observations=observations, dtype=dtype,
    )
    if infer:
        model = WithParams(model, {n: jnp.asarray(float(problem.params[n]), dtype) for n in infer})
    if groups is not None:
        optimizer = lr_groups(model, lr_gauss, learning_rate, decay_rate=groups.decay_rate,
                              decay_every=groups.decay_every, warmup=groups.warmup)

    # evaluation
    reference = options.get("reference")
    if reference is not None:
        ex, eu = jnp.asarray(reference[0], dtype), np.asarray(reference[1], np.float64)
    elif problem.exact is not None:
        ex, eu = eval_points(problem, options.get("eval_shape"), dtype)
    else:
        ex = eu = None
    predict = eqx.filter_jit(lambda m, x: m.predict(x))
    eval_every = check_int("eval_every", options.get("eval_every", 250), minimum=1)

    def error(m):
        return None if ex is None else rel_l2(predict(unwrap(m)[0], ex), eu)

    log_every = options.get("log_every") or (eval_every if ex is not None else 100)

    def make_cb(last):
        def cb(step, m, rec):
            if ex is not None and (step % eval_every == 0 or step == last):
                return {"rel_l2": error(m)}
            return None

        return cb

    # Adam steps per compiled call (train.fit's chunked mode): the host no longer waits on every step, measured
    # 14x faster on a 1D problem (24 Gaussians) and 1.3x on Helmholtz (1,4) with 400 Gaussians on one CPU core, with
    # the same draws (losses equal to float rounding). A divisor of `log_every`, so logs and evaluations keep
    # their steps; one per call when data-parallel over a mesh.
    k_call = options.get("steps_per_call")
    if k_call is None:
        k_call = 1 if mesh is not None else max(1, min(math.gcd(int(log_every), 50), steps))
    fit_kw = dict(progress=options.get("progress", False), mesh=mesh, metrics_path=options.get("metrics_path"))
    time_limit = options.get("time_limit")
    ckpt = options.get("checkpoint_dir")
    t0 = time.perf_counter()
    res = _train.fit(loss_fn, model, optimizer, batch_fn, steps=steps, key=k_fit, log_every=log_every,
                     callback=make_cb(steps), checkpoint_dir=ckpt, time_limit=time_limit,
                     description="pig-adam", steps_per_call=k_call, **fit_kw)
    model, history, losses = res.model, [dict(h, phase="adam") for h in res.history], list(res.losses)
    adam_steps = res.step
    opt_state = res.opt_state
    remaining = None if time_limit is None else time_limit - (time.perf_counter() - t0)
    lb_limit = lbfgs.time_limit if remaining is None else min(lbfgs.time_limit or remaining, remaining)
    if lbfgs.steps > 0 and (lb_limit is None or lb_limit > 0) and adam_steps >= steps:
        # never fewer fixed points than Adam saw per step: on fewer, L-BFGS overfits them (measured on the
        # steady Allen-Cahn case: 2,000 fixed points after 8,000 per Adam step, held-out residual x3.8 in 500
        # iterations while the training loss fell 4x)
        pts = lbfgs.points or max(256 if problem.ndim == 1 else 2000, sampler.n_collocation or 0)
        fixed = make_sampler(
            problem, n_collocation=pts, n_boundary=pts, key=k_lb, resample_every=10**9,
            grid_points_per_axis=sampler.grid_points_per_axis, observations=observations, dtype=dtype,
        )(None, 0)
        try:
            res2 = _train.fit(
                loss_fn, model, optax.lbfgs(memory_size=lbfgs.memory), fixed, steps=lbfgs.steps, key=k_lb,
                log_every=max(1, min(log_every, 50)), callback=make_cb(lbfgs.steps),
                time_limit=lb_limit, description="pig-lbfgs", **fit_kw,
            )
            model = res2.model
            history += [dict(h, phase="lbfgs", step=h["step"] + adam_steps) for h in res2.history]
            losses += list(res2.losses)
            opt_state = res2.opt_state
        except _train.TrainingError as e:  # keep the last good L-BFGS iterate
            model = e.model
            history.append({"step": adam_steps + (e.step or 0), "phase": "lbfgs", "stopped": str(e)})
    cinfo = None
    if correction is not None:
        skip = ("tensor-grid collocation" if sampler.grid_points_per_axis else "causal weighting" if weights.causal
                else "identified coefficients (infer=)" if infer else None)
        if skip is None and (time_limit is None or time.perf_counter() - t0 < time_limit):
            _, pts = correction.resolve(problem.ndim)
            k_c1, k_c2 = jax.random.split(jax.random.fold_in(k_lb, 7))
            batches = [make_sampler(problem, n_collocation=pts, n_boundary=max(pts // 4, 256), key=kk,
                                    resample_every=10**9, observations=observations, dtype=dtype)(None, 0)
                       for kk in (k_c1, k_c2)]
            model, cinfo = apply_correction(model, loss_fn.residual_vector, batches[0], batches[1],
                                            problem.domain.lower, problem.domain.upper, correction, problem.ndim)
            if cinfo["steps"]:
                history.append({"step": len(losses), "phase": "correction", "loss": cinfo["loss_after"],
                                "rel_l2": error(model) if ex is not None else None})
        elif skip is not None:
            cinfo = {"skipped": skip}
    seconds = time.perf_counter() - t0
    final = error(model)
    errs = [h["rel_l2"] for h in history if h.get("rel_l2") is not None] + ([final] if final is not None else [])
    net, found = unwrap(model)
    params = dict(problem.params)
    params.update({k: float(v) for k, v in found.items()})
    config = dict(steps=steps, learning_rate=learning_rate, lr_gauss=lr_gauss, sampler=sampler, weights=weights,
                  lbfgs=lbfgs, residual_weight=rw if np.ndim(rw) == 0 else list(np.asarray(rw)),
                  condition_weights=[float(c) for c in cw], infer=tuple(infer), dtype=str(jnp.dtype(dtype)),
                  correction=cinfo)
    return PINNResult(net, opt_state, history, np.asarray(losses), len(losses), final_error=final,
                      best_error=min(errs) if errs else None, seconds=seconds, n_params=_nn.count_params(net),
                      config=config, params=params)


def _check_infer(problem, infer, observations):
    if isinstance(infer, str):
        infer = (infer,)
    infer = tuple(infer or ())
    for n in infer:
        if not isinstance(n, str) or n not in problem.params:
            raise ValueError(f"`infer` names {n!r}, which is not in problem.params ({sorted(problem.params)}).")
        v = problem.params[n]
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) and np.ndim(v) != 0:
            raise TypeError(f"`infer` needs scalar coefficients; problem.params[{n!r}] is {type(v).__name__}.")
    if infer and not problem.takes_params:
        raise ValueError("`infer` needs a residual written as residual(u, x, params) that reads the coefficients.")
    if infer and observations is None:
        raise ValueError("`infer` needs `observations=(x_obs, u_obs)` to identify the coefficients.")
    return infer


def _check_observations(problem, observations):
    try:
        x, u = observations
    except (TypeError, ValueError):
        raise TypeError("`observations` must be a pair (x_obs (n, d), u_obs (n,) or (n, n_fields)).") from None
    x, u = np.asarray(x), np.asarray(u)
    if x.ndim != 2 or x.shape[1] != problem.ndim:
        raise ValueError(f"`observations` points must have shape (n, {problem.ndim}), got {x.shape}.")
    want = (x.shape[0],) if problem.n_fields == 1 else (x.shape[0], problem.n_fields)
    if u.shape != want:
        raise ValueError(f"`observations` values must have shape {want}, got {u.shape}.")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(u))):
        raise ValueError("`observations` must be finite.")
    return x, u


def train(
    problem,
    n_gaussians: int | None = None,
    steps: int = 2000,
    key: PRNGKeyArray | None = None,
    *,
    model=None,
    learning_rate: float | None = None,
    optimizer: optax.GradientTransformation | None = None,
    sampler: Sampler | None = None,
    weights: LossWeights | None = None,
    lbfgs: LBFGS | None = None,
    correction: Correction | None = None,
    observations: tuple | None = None,
    infer: Sequence[str] = (),
    **options,
) -> PINNResult:
    """Train Physics-Informed Gaussians on any `sciml.pde.Problem` (any domain, condition type, systems,
    inverse problems).

    **Arguments:**

    - `problem`: a [`pde.Problem`][sciml.pde.Problem]; the model's input box is the domain's bounding box.
    - `n_gaussians`: N shared Gaussians (k = 4 features, MLP 4-16-1, σ₀ = 0.1; per field for systems). Default
      `None`: 400, and in 2D more for oscillatory sources, `400 · (w/4)²` rounded to 100 and at most 1,600, with
      `w` the source's half-wavelengths per axis (the estimate that also sets the collocation count; measured at
      400 Gaussians: Helmholtz (5, 5) 0.093, at 900: 0.010); 400 1D Gaussians per axis with `separable=True`, and
      unused with `model=`.
    - `steps`: Adam steps (default [`AdamGroups`][sciml.pig.AdamGroups]`()`: lr `learning_rate` for every
      parameter, ×0.9 every 300 steps), followed by the L-BFGS phase.
    - `key`: PRNG key (model init, sampling).
    - `model`: a model to train instead (e.g. `pig.PIG(..., covariance="full")`, `pig.SeparablePIG`,
      `pig.FieldStack([...])` for systems).
    - `learning_rate`: Adam learning rate (default 1e-2).
    - `optimizer`: a [`pig.AdamGroups`][sciml.pig.AdamGroups] (Adam with a Gaussian and an MLP learning rate and
      step decay, built for the model; default `AdamGroups()`), or any optax transformation instead.
    - `sampler`: a [`Sampler`][sciml.pig.Sampler] (default: collocation count from the source's frequency).
    - `weights`: a [`LossWeights`][sciml.pig.LossWeights] (default: source-scaled balance).
    - `lbfgs`: an [`LBFGS`][sciml.pig.LBFGS] phase (default 500 iterations on 2,000 fixed points, or as many
      as Adam's collocation count when that is larger; `pig.LBFGS(steps=0)` skips it).
    - `correction`: a [`Correction`][sciml.pig.Correction]: a final least-squares solve for a smooth global
      correction (Legendre basis) that removes the low-frequency error the residual loss hardly sees (default
      `None`: off, the model is the method's own; see docs/pig.md: on smooth problems the basis alone is a
      spectral solver more accurate than PIG, so it is opt-in, not a default).
    - `observations`: `(x_obs (n, d), u_obs (n,))` data added to the loss (inverse problems, data
      assimilation).
    - `infer`: names in `problem.params` to identify from the observations (residual written as
      `residual(u, x, params)`); recovered values in `result.params`.
    - `options`: `time_limit` (seconds, whole run; a checkpoint is written when it stops), `checkpoint_dir`,
      `dtype`, `chunk_size` (rematerialised chunks: memory bounded by chunk_size × Gaussians), `eval_shape` /
      `reference` / `eval_every` (error tracking), `log_every`, `progress`, `mesh` (data-parallel over points),
      `metrics_path`, `steps_per_call` (Adam steps per compiled call, default the largest divisor of `log_every`
      up to 50, 1 with `mesh`: the host no longer waits on each step, 14x faster on a small 1D problem;
      `time_limit` is then checked between chunks, so pass `steps_per_call=1` for a to-the-step stop); and
      for model building `n_features`, `layout`, `covariance`, `sigma0`, `width`, `depth`, `separable`, `rank`.
      The older flat names (`lr`, `lr_gauss`, `decay_every`, `n_collocation`, `residual_weight`, `lbfgs_steps`,
      ...) still work but are deprecated: a `DeprecationWarning` names the option object each belongs to
      (`residual_weight`/`condition_weights` mean `LossWeights(..., balance=None)`).

    **Returns:** a [`PINNResult`][sciml.pig.PINNResult] (a `train.TrainResult`) with `model`, `predict(x)`,
    `history`, `final_error`, `best_error`, `params`.

    **Example:**

    ```python
    res = pig.train(pde.helmholtz_2d(2, 3), key=jax.random.key(0))      # defaults: balanced loss, Adam + L-BFGS
    res.final_error, res.predict(x)
    inv = pig.train(problem, observations=(x_obs, u_obs), infer=("k",))
    inv.params["k"]
    ```
    """
    if not isinstance(problem, _pde.Problem):
        raise TypeError(f"`problem` must be a sciml.pde.Problem, got {type(problem).__name__}.")
    if not options.pop("_warned", False):
        _warn_legacy("pig.train", options)
    steps = check_int("steps", steps, minimum=1)
    _check_options(options)
    key = jax.random.key(0) if key is None else key
    k_model, k_fit = jax.random.split(key)
    model_opts = {k: options.pop(k) for k in ("n_features", "layout", "covariance", "sigma0", "width", "depth",
                                              "separable", "rank") if k in options}
    n_features = check_int("n_features", model_opts.get("n_features", 4), minimum=1)
    sigma0 = check_real("sigma0", model_opts.get("sigma0", 0.1), minimum=0.0, strict_min=True)
    separable = bool(model_opts.get("separable", False))
    if n_gaussians is None:
        n_gaussians = 400 if (separable or model is not None) else _default_gaussians(problem)
    else:
        n_gaussians = check_int("n_gaussians", n_gaussians, minimum=1)
    dtype = options.get("dtype", jnp.float32)
    box = problem.domain
    if lbfgs is None and not any(k in options for k in ("lbfgs_steps", "lbfgs_points", "lbfgs_time_limit")):
        lbfgs = LBFGS()
    if model is None:
        keys = [k_model] if problem.n_fields == 1 else list(jax.random.split(k_model, problem.n_fields))
        if separable:
            if not box.is_box:
                raise ValueError("`separable=True` needs a pde.Box domain (tensor-grid collocation).")
            rank = check_int("rank", model_opts.get("rank", 16), minimum=1)
            models = [SeparablePIG(box.lower, box.upper, n_gaussians, rank, sigma0=sigma0, key=k, dtype=dtype)
                      for k in keys]
            if sampler is None:
                options.setdefault("grid_points_per_axis", 32)
        else:
            models = [PIG(box.lower, box.upper, n_gaussians, n_features, layout=model_opts.get("layout", "shared"),
                          covariance=model_opts.get("covariance", "diagonal"), sigma0=sigma0,
                          width=check_int("width", model_opts.get("width", 16), minimum=1),
                          depth=check_int("depth", model_opts.get("depth", 1), minimum=1), key=k, dtype=dtype)
                      for k in keys]
        model = models[0] if problem.n_fields == 1 else FieldStack(models)
    elif model_opts:
        raise TypeError(f"model options {sorted(model_opts)} cannot be combined with `model=`.")
    res = fit_model(problem, model, steps=steps, key=k_fit, learning_rate=learning_rate, optimizer=optimizer,
                    sampler=sampler, weights=weights, lbfgs=lbfgs, correction=correction, observations=observations,
                    infer=infer, _warned=True, **options)
    res.config.update({**model_opts, "n_gaussians": n_gaussians, "sigma0": sigma0, "separable": separable})
    return res


def train_separable(problem, n_gaussians: int = 64, steps: int = 3000, key=None, *, rank: int = 16, **kw):
    """[`train`][sciml.pig.train] with `separable=True` (our SPIG design; tensor-grid collocation).

    **Arguments:**

    - `problem`: a [`pde.Problem`][sciml.pde.Problem] on a [`Box`][sciml.pde.Box].
    - `n_gaussians`: 1D Gaussians per axis (default 64).
    - `steps`: Adam steps (default 3000).
    - `key`: a JAX PRNG key (default `None`: `jax.random.key(0)`).
    - `rank`: number of separable terms (default 16).
    - `**kw`: every other keyword of [`train`][sciml.pig.train].

    **Returns:** a [`PINNResult`][sciml.pig.PINNResult].
    """
    _warn_legacy("pig.train_separable", kw)
    return train(problem, n_gaussians, steps, key, separable=True, rank=rank, _warned=True, **kw)


def train_mlp_pinn(
    problem,
    steps: int = 4000,
    key: PRNGKeyArray | None = None,
    *,
    width: int = 64,
    depth: int = 4,
    learning_rate: float = 1e-3,
    **kwargs,
) -> PINNResult:
    """Baseline: a plain tanh MLP PINN trained in the same harness, loss and sampling as [`train`][sciml.pig.train].

    **Arguments:**

    - `problem`: a [`pde.Problem`][sciml.pde.Problem].
    - `steps`: Adam steps (default 4000), then the default L-BFGS phase.
    - `key`: a JAX PRNG key (default `None`: `jax.random.key(0)`).
    - `width`, `depth`: hidden width (default 64) and number of hidden tanh layers (default 4).
    - `learning_rate`: one rate for all weights (default 1e-3, ×0.9 every 300 steps).
    - `**kwargs`: every other keyword of `train` (`sampler`, `weights`, `lbfgs`, `observations`, `infer`,
      `optimizer`, options).

    **Example:** `base = pig.train_mlp_pinn(pde.helmholtz_2d(), steps=3000, key=jax.random.key(0))`

    **Returns:** a [`PINNResult`][sciml.pig.PINNResult].
    """
    if not isinstance(problem, _pde.Problem):
        raise TypeError(f"`problem` must be a sciml.pde.Problem, got {type(problem).__name__}.")
    key = jax.random.key(0) if key is None else key
    k_model, k_fit = jax.random.split(key)
    width = check_int("width", width, minimum=1)
    depth = check_int("depth", depth, minimum=1)
    _warn_legacy("pig.train_mlp_pinn", kwargs)
    _check_options(kwargs)
    if "lr" in kwargs:
        learning_rate = kwargs.pop("lr")
    learning_rate = check_real("learning_rate", learning_rate, minimum=0.0, strict_min=True)
    dtype = kwargs.get("dtype", jnp.float32)
    box = problem.domain
    keys = [k_model] if problem.n_fields == 1 else list(jax.random.split(k_model, problem.n_fields))
    models = [MLPPINN(box.lower, box.upper, width=width, depth=depth, key=k, dtype=dtype) for k in keys]
    model = models[0] if problem.n_fields == 1 else FieldStack(models)
    if kwargs.get("optimizer") is None:  # one Adam group: the Gaussian rate (unused by an MLP) set to the MLP's
        kwargs["optimizer"] = AdamGroups(gaussians=kwargs.pop("lr_gauss", learning_rate),
                                         decay_rate=kwargs.pop("decay_rate", 0.9),
                                         decay_every=kwargs.pop("decay_every", 300))
    elif isinstance(kwargs["optimizer"], AdamGroups) and kwargs["optimizer"].learning_rate is not None:
        learning_rate = None  # the object's rate wins over this function's default
    if kwargs.get("lbfgs") is None and not any(k in kwargs for k in ("lbfgs_steps", "lbfgs_points")):
        kwargs["lbfgs"] = LBFGS()
    res = fit_model(problem, model, steps=check_int("steps", steps, minimum=1), key=k_fit,
                    learning_rate=learning_rate, _warned=True, **kwargs)
    res.config.update(model="mlp", width=width, depth=depth)
    return res
