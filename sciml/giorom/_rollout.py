"""Autoregressive rollout (lax.scan), dense decoding at query points, metrics."""

from __future__ import annotations

import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._graph import farthest_point_sampling
from ._models import GIOROM, integrate


@eqx.filter_jit
def rollout_window(model, window, particle_type, n_steps: int):
    """Roll `model` forward `n_steps` from a (C+1, n, d) window with `lax.scan`; -> (n_steps, n, d)."""

    def step(win, _):
        x_new = integrate(model, win, model(win, particle_type))
        return jnp.concatenate([win[1:], x_new[None]], 0), x_new

    _, xs = jax.lax.scan(step, window, None, length=n_steps)
    return xs


def sparse_subset(model: GIOROM, reference, key=None):
    """Indices of the model's sparse nodes in a full (N, d) reference configuration."""
    n = model.n_sample
    if model.sampling == "fps":
        return farthest_point_sampling(jnp.asarray(reference), n, 0)
    key = jax.random.key(0) if key is None else key
    return jnp.sort(jax.random.choice(key, reference.shape[0], (n,), replace=False)).astype(jnp.int32)


def rollout(model, initial_window, n_steps: int, query_points=None, *, particle_type=None, sparse_index=None,
            return_sparse: bool = False):
    """Autoregressive rollout.

    **Arguments:**
    - `model`: a [`GIOROM`][] or [`GNS`][].
    - `initial_window`: (6, N, d) positions of all particles (the last frame is the reference configuration
      for GIOROM's query decoder).
    - `n_steps`: number of predicted frames.
    - `query_points`: (Q, d) rest positions (in the window's last frame) at which to evaluate the GIOROM
      output; default all N particles. Not accepted for GNS (it predicts its particles only).
    - `particle_type`: (N,) GNS particle-type ids (5 water, 6 sand, 7 jelly/goop); default all 7.
    - `sparse_index`: (n,) indices of GIOROM's sparse nodes (default: farthest-point sample).

    **Returns:** (n_steps, Q, d) positions (and the sparse trajectory and indices with `return_sparse`).
    """
    window = jnp.asarray(initial_window)
    N = window.shape[1]
    ptype = jnp.full((N,), 7, jnp.int32) if particle_type is None else jnp.asarray(particle_type, jnp.int32)
    if not isinstance(model, GIOROM):
        if query_points is not None:
            raise ValueError("query_points needs a GIOROM model; GNS predicts its own particles only")
        return rollout_window(model, window, ptype, int(n_steps))
    ref = window[-1]
    idx = sparse_subset(model, ref) if sparse_index is None else jnp.asarray(sparse_index, jnp.int32)
    xs = rollout_window(model, window[:, idx], ptype[idx], int(n_steps))
    qp = ref if query_points is None else jnp.asarray(query_points, window.dtype)
    plan = model.query_decoder.plan(ref[idx], qp)
    dense = decode_frames(model.query_decoder, plan, xs - ref[idx], qp)
    return (dense, xs, idx) if return_sparse else dense


@eqx.filter_jit
def decode_frames(decoder, plan, disp, query_points):
    """Positions at the queries: rest position + decoded displacement, for every frame of `disp`."""
    return query_points + decoder(plan, disp)


def rollout_mse(pred, truth, horizons=(1, 5, 10, 20)):
    """GNS/LagrangeBench-style errors: squared position error summed over dimensions, averaged over
    particles and over the first h steps, for each horizon h, plus the full rollout (`mse_full`)."""
    pred, truth = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    err = np.sum((pred - truth) ** 2, -1).mean(-1)  # (S,)
    out = {f"mse{h}": float(err[:h].mean()) for h in horizons if h <= len(err)}
    out["mse_full"] = float(err.mean())
    return out


def constant_velocity(initial_window, n_steps: int):
    """Baseline: keep the last velocity. -> (n_steps, N, d)."""
    w = np.asarray(initial_window)
    v = w[-1] - w[-2]
    return w[-1][None] + v[None] * np.arange(1, n_steps + 1)[:, None, None]


def time_per_step(model, window, particle_type, n_steps: int = 20, repeats: int = 3):
    """Wall seconds per rollout step (compiled; best of `repeats`)."""
    window = jnp.asarray(window)
    jax.block_until_ready(rollout_window(model, window, particle_type, n_steps))
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(rollout_window(model, window, particle_type, n_steps))
        best = min(best, time.perf_counter() - t)
    return best / n_steps
