"""Autoregressive rollout (lax.scan), dense decoding at query points, metrics."""

from __future__ import annotations

import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._graph import farthest_point_sampling
from ._models import C_WINDOW, GIOROM, GNS, integrate
from .._errors import check_finite, check_int
from ..nn._checks import check_instance, check_key
from ._checks import check_particle_type, check_positions, check_window


@eqx.filter_jit
def rollout_window(model, window, particle_type, n_steps: int):
    """Roll `model` forward `n_steps` from a (C+1, n, d) window with `lax.scan`; -> (n_steps, n, d).

    **Arguments:**

    - `model`: a [`GIOROM`][] or [`GNS`][] stepper.
    - `window`: the last 6 positions of the nodes the model steps (GIOROM: its sparse nodes), shape `(6, n, d)`.
    - `particle_type`: (n,) integer GNS type ids of those nodes.
    - `n_steps`: the number of predicted frames (int >= 1, static).

    **Returns:** the predicted positions, shape `(n_steps, n, d)`.

    **Example:** `xs = giorom.rollout_window(model, window, ptype, 10)`
    """
    check_int("n_steps", n_steps, minimum=1)

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
    - `return_sparse`: if True, also return GIOROM's sparse trajectory `(n_steps, n, d)` and the sparse indices
      `(n,)` (default False; GNS ignores it).

    **Returns:** (n_steps, Q, d) positions (and the sparse trajectory and indices with `return_sparse`).
    """
    check_instance("model", model, (GIOROM, GNS), "giorom.GIOROM or giorom.GNS")
    n_steps = check_int("n_steps", n_steps, minimum=1)
    window = jnp.asarray(check_positions("initial_window", initial_window, 3, model.norm.dim))
    if window.dtype.kind != "f":
        window = window.astype(jnp.float32)
    check_window("rollout", window, C_WINDOW + 1, model.norm.dim, name="initial_window")
    N = window.shape[1]
    if particle_type is not None:
        pt = np.asarray(particle_type)
        check_particle_type("rollout", pt, N)
    ptype = jnp.full((N,), 7, jnp.int32) if particle_type is None else jnp.asarray(particle_type, jnp.int32)
    if query_points is not None and isinstance(model, GIOROM):
        check_positions("query_points", query_points, 2, model.norm.dim)
    if isinstance(model, GIOROM) and sparse_index is None and model.n_sample > N:
        raise ValueError(f"`initial_window` has {N} particles, fewer than the model's n_sample={model.n_sample}.")
    if sparse_index is not None:
        si = np.asarray(sparse_index)
        if si.ndim != 1 or si.size == 0 or si.dtype.kind not in "iu" or si.min() < 0 or si.max() >= N:
            raise ValueError(f"`sparse_index` must be a non-empty 1-D integer array of indices in [0, {N}), got "
                             f"shape {si.shape}, dtype {si.dtype}.")
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
    """Positions at the queries: rest position + decoded displacement, for every frame of `disp`.

    **Arguments:**

    - `decoder`: a [`KernelDecoder`][].
    - `plan`: its [`DecodePlan`][] for these queries, `decoder.plan(ref_sparse, query_points)`.
    - `disp`: the sparse nodes' displacements from their rest positions, shape `(..., n, d)` (e.g. one per frame).
    - `query_points`: the queries' rest positions, shape `(Q, d)`.

    **Returns:** the query positions, shape `(..., Q, d)`.

    **Example:** `xs = giorom.decode_frames(dec, dec.plan(ref_s, q), disp, q)`
    """
    return query_points + decoder(plan, disp)


def rollout_mse(pred, truth, horizons=(1, 5, 10, 20)):
    """GNS/LagrangeBench-style errors: squared position error summed over dimensions, averaged over
    particles and over the first h steps, for each horizon h, plus the full rollout (`mse_full`).

    **Arguments:**

    - `pred`: the predicted trajectory, shape `(S, N, d)`.
    - `truth`: the reference trajectory of the same frames, the same shape as `pred`.
    - `horizons`: positive ints (or one int), the horizons `h` to report (default `(1, 5, 10, 20)`); those longer
      than S are left out.

    **Returns:** a dict `{"mse1": ..., "mse5": ..., "mse_full": ...}`.

    **Example:** `giorom.rollout_mse(pred, truth[6:6 + len(pred)])["mse_full"]`
    """
    pred = check_positions("pred", pred, 3).astype(np.float64)
    truth = check_positions("truth", truth, 3).astype(np.float64)
    if pred.shape != truth.shape:
        raise ValueError(f"`pred` and `truth` must have the same shape (S, N, d), got {pred.shape} and {truth.shape}.")
    horizons = tuple(horizons) if isinstance(horizons, (list, tuple)) else (horizons,)
    for h in horizons:
        check_int("horizons", h, minimum=1)
    err = np.sum((pred - truth) ** 2, -1).mean(-1)  # (S,)
    out = {f"mse{h}": float(err[:h].mean()) for h in horizons if h <= len(err)}
    out["mse_full"] = float(err.mean())
    return out


def constant_velocity(initial_window, n_steps: int):
    """Baseline: keep the last velocity. -> (n_steps, N, d).

    **Arguments:**

    - `initial_window`: positions, shape `(frames >= 2, N, d)`; its last two frames give the velocity.
    - `n_steps`: the number of predicted frames (int >= 1).

    **Returns:** (n_steps, N, d) positions `x_T + k v_T`.

    **Example:** `giorom.constant_velocity(traj[:6], 20)`
    """
    n_steps = check_int("n_steps", n_steps, minimum=1)
    w = check_positions("initial_window", initial_window, 3)
    if w.shape[0] < 2:
        raise ValueError(f"`initial_window` needs at least 2 frames (a velocity), got shape {w.shape}.")
    v = w[-1] - w[-2]
    return w[-1][None] + v[None] * np.arange(1, n_steps + 1)[:, None, None]


def time_per_step(model, window, particle_type, n_steps: int = 20, repeats: int = 3):
    """Wall seconds per rollout step (compiled; best of `repeats`).

    **Arguments:**

    - `model`: a [`GIOROM`][] or [`GNS`][] stepper.
    - `window`: the last 6 positions of the stepped nodes, shape `(6, n, d)`.
    - `particle_type`: (n,) integer GNS type ids.
    - `n_steps`: steps per timed rollout (int >= 1; default 20).
    - `repeats`: timed rollouts after one compiling run; the best is kept (int >= 1; default 3).

    **Returns:** seconds per step (float).

    **Example:** `giorom.time_per_step(model, window, ptype)`
    """
    check_instance("model", model, (GIOROM, GNS), "giorom.GIOROM or giorom.GNS")
    check_int("n_steps", n_steps, minimum=1)
    check_int("repeats", repeats, minimum=1)
    window = jnp.asarray(window)
    check_window("time_per_step", window, C_WINDOW + 1, model.norm.dim)
    check_particle_type("time_per_step", jnp.asarray(particle_type), window.shape[1])
    particle_type = jnp.asarray(particle_type)
    jax.block_until_ready(rollout_window(model, window, particle_type, n_steps))
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(rollout_window(model, window, particle_type, n_steps))
        best = min(best, time.perf_counter() - t)
    return best / n_steps
