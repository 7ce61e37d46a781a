"""Training PIG / SPIG / MLP-PINN models on any `sciml.pde.Problem` through `sciml.train.fit`."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Callable, Literal, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import PRNGKeyArray

from .. import pde as _pde
from .. import nn as _nn
from .. import train as _train
from ._model import MLPPINN, PIG, normalise_required
from ._separable import SeparablePIG

__all__ = ["PINNResult", "train", "train_mlp_pinn", "train_separable", "fit_model", "rel_l2", "eval_points"]


@dataclasses.dataclass
class PINNResult:
    """Result of [`train`][sciml.pig.train] / [`train_mlp_pinn`][sciml.pig.train_mlp_pinn].

    - `model`: the trained model (final parameters, not the best-over-training ones).
    - `history`: list of logged dicts (`step`, `loss`, loss terms, `rel_l2` when an error is available,
      `phase` = ``"adam"``/``"lbfgs"``).
    - `final_error`: rel-L2 of the final model on the evaluation grid (or `None`).
    - `best_error`: the minimum rel-L2 seen during training (test-set early stopping, reported only for
      comparison with the paper's numbers).
    - `seconds`: wall time of training; `n_params`: trainable parameter count.
    """

    model: Any
    history: list
    final_error: float | None
    best_error: float | None
    seconds: float
    n_params: int
    config: dict

    def predict(self, x, chunk_size: int | None = 4096):
        """Evaluate the trained model at points `x` of shape (n, d) in bounded memory."""
        dtype = jax.tree.leaves(eqx.filter(self.model, eqx.is_inexact_array))[0].dtype
        return self.model.predict(jnp.asarray(x, dtype), chunk_size=chunk_size)


def rel_l2(pred, ref) -> float:
    """Relative L2 error ``||pred - ref|| / ||ref||`` over all points, as a float ([`sciml.nn.rel_l2`][])."""
    return float(_nn.rel_l2(np.ravel(pred), np.ravel(ref)))


def eval_points(problem, shape: Sequence[int] | None = None, dtype=jnp.float32):
    """Evaluation grid and exact values: 250^2 in 2-D, 41^3 in 3-D unless `shape` is given."""
    d = problem.ndim
    if shape is None:
        shape = {1: (1001,), 2: (250, 250), 3: (41, 41, 41)}.get(d, (12,) * d)
    x = problem.domain.grid_points(tuple(shape), jnp.float64 if jax.config.jax_enable_x64 else dtype)
    x = x.reshape(-1, d)
    u = problem.exact_at(x)
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


def _residuals(problem, model, batch, required, dtype, chunk_size=None):
    if "axes" in batch:  # separable model on a tensor grid
        derivs, xs = model.grid_derivatives(batch["axes"], required)
    else:
        xs = batch["res"]
        derivs = chunked_derivatives(model, xs, required, chunk_size)
    r = jax.vmap(problem.residual)(_as_jet(derivs), xs)
    return jnp.asarray(r, dtype), xs


def _causal_mse(r2, t, t0, t1, n_chunks, tol):
    """Causal weighting (Wang, Sankaran & Perdikaris 2022): chunk i weighted by exp(-tol * sum_{j<i} L_j)."""
    idx = jnp.clip(jnp.floor((t - t0) / (t1 - t0) * n_chunks).astype(jnp.int32), 0, n_chunks - 1)
    sums = jax.ops.segment_sum(r2, idx, n_chunks)
    counts = jax.ops.segment_sum(jnp.ones_like(r2), idx, n_chunks)
    L = sums / jnp.maximum(counts, 1.0)
    cum = jnp.concatenate([jnp.zeros((1,), L.dtype), jnp.cumsum(L)[:-1]])
    w = jax.lax.stop_gradient(jnp.exp(-tol * cum))
    return jnp.mean(w * L), jnp.min(w)


def make_loss(
    problem,
    *,
    residual_weight: float = 1.0,
    condition_weights: float | Sequence[float] = 1.0,
    periodic_weight: float = 1.0,
    causal: bool = False,
    causal_chunks: int = 16,
    causal_tol: float = 1.0,
    chunk_size: int | None = None,
    dtype=jnp.float32,
) -> Callable:
    """The PINN loss ``w_r * MSE(residual) + sum_c w_c * MSE(u - g_c) + w_p * MSE(periodic mismatch)``.

    Works for any model with `derivatives(xs, required)` (and `grid_derivatives` for tensor-grid batches).
    `chunk_size` evaluates the points in rematerialised chunks so memory stays bounded for large
    points x Gaussians (same value and gradient; single device -- with a `mesh` the points are already split).
    """
    required = normalise_required(_pde.required_derivatives(problem))
    n_cond = len(problem.dirichlet_conditions())
    cw = [float(condition_weights)] * n_cond if np.ndim(condition_weights) == 0 else list(condition_weights)
    if len(cw) != n_cond:
        raise ValueError(f"`condition_weights` needs {n_cond} entries (one per Dirichlet/Initial condition)")
    if causal and problem.time_axis is None:
        raise ValueError("`causal=True` needs a time-dependent problem (Problem.time_axis set)")
    ta = problem.time_axis

    def loss_fn(model, batch, key):
        r, xs = _residuals(problem, model, batch, required, dtype, chunk_size)
        metrics = {}
        if causal:
            lo, hi = problem.domain.lower[ta], problem.domain.upper[ta]
            l_res, wmin = _causal_mse(r * r, xs[:, ta], lo, hi, causal_chunks, causal_tol)
            metrics["causal_min_weight"] = wmin
        else:
            l_res = jnp.mean(r * r)
        metrics["loss_res"] = l_res
        total = residual_weight * l_res
        for i, (xb, gb) in enumerate(batch["cond"]):
            u = chunked_derivatives(model, xb, ((),), chunk_size)[()]
            l = jnp.mean((u - gb.astype(dtype)) ** 2)
            metrics[f"loss_cond{i}"] = l
            total = total + cw[i] * l
        for j, (xl, xh) in enumerate(batch["periodic"]):
            a = problem.periodic_axes()[j]
            dl = chunked_derivatives(model, xl, ((), (a,)), chunk_size)
            dh = chunked_derivatives(model, xh, ((), (a,)), chunk_size)
            l = jnp.mean((dl[()] - dh[()]) ** 2) + jnp.mean((dl[(a,)] - dh[(a,)]) ** 2)
            metrics[f"loss_periodic{j}"] = l
            total = total + periodic_weight * l
        return total, metrics

    return loss_fn


def make_sampler(
    problem,
    *,
    n_collocation: int,
    n_boundary: int,
    key: PRNGKeyArray,
    resample_every: int = 1,
    grid_points_per_axis: int | None = None,
    dtype=jnp.float32,
) -> Callable:
    """`batch_fn(key, step)` drawing fresh collocation/boundary points every `resample_every` steps.

    The draw depends only on `(key, step // resample_every)`, so training is deterministic and resumable.
    With `grid_points_per_axis` the residual batch is a per-axis set of coordinates (tensor grid, for
    separable models).
    """
    box = problem.domain
    resample_every = max(int(resample_every), 1)

    @jax.jit
    def draw(block):
        k = jax.random.fold_in(key, block)
        k1, k2, k3 = jax.random.split(k, 3)
        batch = {
            "cond": problem.sample_conditions(k2, n_boundary, dtype),
            "periodic": problem.periodic_pairs(k3, n_boundary, dtype),
        }
        if grid_points_per_axis:
            ks = jax.random.split(k1, box.ndim)
            batch["axes"] = [
                jnp.sort(jax.random.uniform(ks[a], (grid_points_per_axis,), dtype, box.lower[a], box.upper[a]))
                for a in range(box.ndim)
            ]
        else:
            batch["res"] = box.sample_interior(k1, n_collocation, dtype)
        return batch

    cache = {}

    def batch_fn(_key, step):
        block = int(step) // resample_every
        if block not in cache:
            cache.clear()
            cache[block] = draw(block)
        return cache[block]

    return batch_fn


def lr_groups(model, lr_gauss, lr_mlp, *, decay_rate: float = 0.9, decay_every: int = 300,
              warmup: int = 0) -> optax.GradientTransformation:
    """Adam with separate learning rates for the Gaussian parameters and the MLP (`optax.multi_transform`).

    Leaves whose path mentions ``embedding`` (or any top-level Gaussian array of a separable model) are
    ``"gauss"``; the rest ``"mlp"``. Each group decays by `decay_rate` every `decay_every` steps.
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
            if p.startswith(".mlp"):
                return "mlp"
            return "gauss" if any(n in p for n in gauss_names) else "mlp"

        return jax.tree_util.tree_map_with_path(lab, params)

    return optax.multi_transform({"gauss": optax.adam(sched(lr_gauss)), "mlp": optax.adam(sched(lr_mlp))}, labels)


class _Stop(Exception):
    pass


def fit_model(
    problem,
    model,
    *,
    steps: int = 3000,
    key: PRNGKeyArray | None = None,
    optimizer: optax.GradientTransformation | None = None,
    lr: float = 1e-2,
    lr_gauss: float | None = None,
    decay_rate: float = 0.9,
    decay_every: int = 300,
    n_collocation: int = 1000,
    n_boundary: int = 1000,
    resample_every: int = 1,
    grid_points_per_axis: int | None = None,
    residual_weight: float = 1.0,
    condition_weights: float | Sequence[float] = 1.0,
    causal: bool = False,
    causal_chunks: int = 16,
    causal_tol: float = 1.0,
    lbfgs_steps: int = 0,
    lbfgs_points: int | None = None,
    lbfgs_memory: int = 20,
    time_limit: float | None = None,
    lbfgs_time_limit: float | None = None,
    chunk_size: int | None = None,
    eval_shape: Sequence[int] | None = None,
    reference: tuple | None = None,
    eval_every: int = 250,
    log_every: int | None = None,
    progress: bool = False,
    mesh=None,
    checkpoint_dir=None,
    metrics_path=None,
    dtype=jnp.float32,
) -> PINNResult:
    """Train any model with `derivatives(xs, required)` on `problem`: Adam (LR groups) then optional L-BFGS.

    See [`train`][sciml.pig.train] for the arguments. `reference=(points, values)` supplies the error
    target for problems without an exact solution.
    """
    key = jax.random.key(0) if key is None else key
    k_data, k_fit, k_lb = jax.random.split(key, 3)
    lr_gauss = 0.2 * lr if lr_gauss is None else lr_gauss
    if mesh is not None and grid_points_per_axis:
        raise ValueError("data-parallel `mesh` training needs scattered collocation (not a tensor grid)")
    loss_fn = make_loss(
        problem, residual_weight=residual_weight, condition_weights=condition_weights, causal=causal,
        causal_chunks=causal_chunks, causal_tol=causal_tol, chunk_size=chunk_size, dtype=dtype,
    )
    sampler = make_sampler(
        problem, n_collocation=n_collocation, n_boundary=n_boundary, key=k_data, resample_every=resample_every,
        grid_points_per_axis=grid_points_per_axis, dtype=dtype,
    )
    if optimizer is None:
        optimizer = lr_groups(model, lr_gauss, lr, decay_rate=decay_rate, decay_every=decay_every)

    # evaluation
    if reference is not None:
        ex, eu = jnp.asarray(reference[0], dtype), np.asarray(reference[1], np.float64)
    elif problem.exact is not None:
        ex, eu = eval_points(problem, eval_shape, dtype)
    else:
        ex = eu = None
    predict = eqx.filter_jit(lambda m, x: m.predict(x))

    def error(m):
        return None if ex is None else rel_l2(predict(m, ex), eu)

    log_every = log_every or (eval_every if ex is not None else 100)
    state = {"model": model, "t0": time.perf_counter()}

    def make_cb(limit, t_start, phase, offset=0):
        state["hist"] = []

        def cb(step, m, rec):
            state["model"] = m
            out = {}
            if ex is not None and (step % eval_every == 0 or step == steps):
                out["rel_l2"] = error(m)
            state["hist"].append(dict(rec, **out, step=step + offset, phase=phase))
            if limit is not None and time.perf_counter() - t_start > limit:
                state["hist"][-1]["stopped"] = "time_limit"
                raise _Stop
            return out

        return cb

    history: list = []
    t0 = time.perf_counter()
    try:
        res = _train.fit(
            loss_fn, model, optimizer, sampler, steps=steps, key=k_fit, log_every=log_every, progress=progress,
            mesh=mesh, callback=make_cb(time_limit, t0, "adam"), checkpoint_dir=checkpoint_dir,
            metrics_path=metrics_path, description="pig-adam",
        )
        model = res.model
    except _Stop:
        model = state["model"]
    history += state["hist"]
    adam_steps = history[-1]["step"] if history else 0

    if lbfgs_steps > 0:
        fixed = make_sampler(
            problem, n_collocation=lbfgs_points or n_collocation, n_boundary=lbfgs_points or n_boundary, key=k_lb,
            resample_every=10**9, grid_points_per_axis=grid_points_per_axis, dtype=dtype,
        )(None, 0)
        t1 = time.perf_counter()
        state["model"] = model
        try:
            res2 = _train.fit(
                loss_fn, model, optax.lbfgs(memory_size=lbfgs_memory), fixed, steps=lbfgs_steps, key=k_lb,
                log_every=max(1, min(log_every, 50)), progress=progress, mesh=mesh,
                callback=make_cb(lbfgs_time_limit, t1, "lbfgs", adam_steps), description="pig-lbfgs",
            )
            model = res2.model
            history += state["hist"]
        except _Stop:
            model = state["model"]
            history += state["hist"]
        except _train.TrainingError as e:  # keep the last good L-BFGS iterate
            model = e.model
            history += state["hist"]
            history.append({"step": adam_steps + (e.step or 0), "phase": "lbfgs", "stopped": str(e)})
    seconds = time.perf_counter() - t0
    final = error(model)
    errs = [h["rel_l2"] for h in history if h.get("rel_l2") is not None] + ([final] if final is not None else [])
    config = dict(steps=steps, lr=lr, lr_gauss=lr_gauss, n_collocation=n_collocation, n_boundary=n_boundary,
                  resample_every=resample_every, residual_weight=residual_weight, lbfgs_steps=lbfgs_steps,
                  causal=causal, dtype=str(jnp.dtype(dtype)))
    return PINNResult(model, history, final, min(errs) if errs else None, seconds, _nn.count_params(model), config)


def train(
    problem,
    n_gaussians: int = 400,
    steps: int = 3000,
    key: PRNGKeyArray | None = None,
    *,
    n_features: int = 4,
    layout: Literal["shared", "per_channel"] = "shared",
    covariance: Literal["diagonal", "full"] = "diagonal",
    sigma0: float = 0.1,
    width: int = 16,
    depth: int = 1,
    separable: bool = False,
    rank: int = 16,
    dtype=jnp.float32,
    model=None,
    **fit_kwargs,
) -> PINNResult:
    """Train Physics-Informed Gaussians on any `sciml.pde.Problem`.

    **Arguments:**

    - `problem`: a `sciml.pde.Problem` (the model's input box is `problem.domain`).
    - `n_gaussians`: N (per channel with `layout="per_channel"`; per axis with `separable=True`).
    - `steps`: Adam steps. `key`: PRNG key (model init, sampling).
    - Model: `n_features` (k), `layout`, `covariance` (`"diagonal"` via log-sigma, or `"full"`), `sigma0`
      (normalised units), `width`/`depth` of the tanh MLP; `separable=True` builds a
      [`SeparablePIG`][sciml.pig.SeparablePIG] of rank `rank` trained on tensor grids; `model=` trains a
      given model instead.
    - Training (`**fit_kwargs`): `lr` (MLP, default 1e-2) and `lr_gauss` (Gaussians; default `0.2 * lr`:
      Adam moves every centre by about the learning rate per step whatever its gradient, and a smaller
      Gaussian rate gives smoother short Adam-only runs -- Helmholtz (1,4): 2.1e-2 after 1k steps vs
      5.6e-2-1.4e-1 with `lr_gauss = lr`. For Adam followed by L-BFGS use `lr_gauss = lr`: 3k Adam + 600
      L-BFGS reached 1.5e-3 / 2.0e-3 (two seeds) vs 1.7e-2 with `0.2 * lr`), `decay_rate` per
      `decay_every` steps, `n_collocation`, `n_boundary` (per condition), `resample_every`,
      `grid_points_per_axis` (separable), `residual_weight`, `condition_weights`, `causal`,
      `causal_chunks`, `causal_tol`, `chunk_size` (evaluate collocation points in rematerialised chunks:
      memory bounded by chunk_size x Gaussians), `lbfgs_steps` (optax L-BFGS on `lbfgs_points` fixed points after
      Adam), `time_limit`/`lbfgs_time_limit` (seconds), `eval_shape`/`reference`/`eval_every`, `mesh`
      (data-parallel over collocation points), `progress`, `checkpoint_dir`, `metrics_path`.

    **Returns:** [`PINNResult`][sciml.pig.PINNResult] with `model`, `predict(x)`, `history`,
    `final_error`, `best_error`.

    ```python
    res = pig.train(pde.helmholtz_2d(1, 4), n_gaussians=400, steps=1000, key=jax.random.key(0),
                    residual_weight=1e-3)
    res.final_error, res.predict(x)
    ```
    """
    key = jax.random.key(0) if key is None else key
    k_model, k_fit = jax.random.split(key)
    box = problem.domain
    if model is None:
        if separable:
            model = SeparablePIG(box.lower, box.upper, n_gaussians, rank, sigma0=sigma0, key=k_model, dtype=dtype)
            fit_kwargs.setdefault("grid_points_per_axis", 32)
        else:
            model = PIG(
                box.lower, box.upper, n_gaussians, n_features, layout=layout, covariance=covariance, sigma0=sigma0,
                width=width, depth=depth, key=k_model, dtype=dtype,
            )
    res = fit_model(problem, model, steps=steps, key=k_fit, dtype=dtype, **fit_kwargs)
    res.config.update(n_gaussians=n_gaussians, layout=layout, covariance=covariance, sigma0=sigma0,
                      separable=separable)
    return res


def train_separable(problem, n_gaussians: int = 64, steps: int = 3000, key=None, *, rank: int = 16, **kw):
    """[`train`][sciml.pig.train] with `separable=True` (our SPIG design; tensor-grid collocation)."""
    return train(problem, n_gaussians, steps, key, separable=True, rank=rank, **kw)


def train_mlp_pinn(
    problem,
    steps: int = 6000,
    key: PRNGKeyArray | None = None,
    *,
    width: int = 128,
    depth: int = 4,
    lr: float = 1e-3,
    dtype=jnp.float32,
    **fit_kwargs,
) -> PINNResult:
    """Baseline: a plain tanh MLP PINN trained in the same harness, loss and sampling as [`train`][sciml.pig.train].

    Keyword arguments are those of `train` (e.g. `residual_weight`, `lbfgs_steps`); a single learning rate
    `lr` (default 1e-3) applies to all weights.
    """
    key = jax.random.key(0) if key is None else key
    k_model, k_fit = jax.random.split(key)
    box = problem.domain
    model = MLPPINN(box.lower, box.upper, width=width, depth=depth, key=k_model, dtype=dtype)
    fit_kwargs.setdefault("lr_gauss", lr)
    res = fit_model(problem, model, steps=steps, key=k_fit, lr=lr, dtype=dtype, **fit_kwargs)
    res.config.update(model="mlp", width=width, depth=depth)
    return res
