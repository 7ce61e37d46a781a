"""Curriculum (teacher forcing -> autoregressive) training of one-step models, through ``sciml.train.fit``."""

from __future__ import annotations

import dataclasses
import math
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import train as _train
from ._data import Dataset
from ._metrics import nrmse as _nrmse
from ._models import CAPEModel

__all__ = ["curriculum_t_ar", "rollout_loss", "warmup_loss", "train", "TrainReport", "param_stats",
           "warmup_filter"]


def curriculum_t_ar(epoch, n_frames: int, epochs: int, warmup: int = 0, mode="tanh") -> int:
    """Autoregressive prefix length for ``epoch`` (spec §2): ``s = (e - W)/(E - W)``,
    ``tau = (1 + tanh((s - 0.5)/0.2))/2``, ``t_AR = clip(floor(T tau), 1, T)``. ``mode="tf"`` -> 1 (pure teacher
    forcing), ``"ar"`` -> T (fully autoregressive)."""
    if mode in (False, "tf"):
        return 1
    if mode == "ar":
        return n_frames
    if mode not in (True, "tanh"):
        raise ValueError(f"curriculum must be True/'tanh', 'tf' (False) or 'ar', got {mode!r}")
    s = (epoch - warmup) / max(epochs - warmup, 1)
    tau = 0.5 * (1.0 + math.tanh((s - 0.5) / 0.2))
    return int(min(max(math.floor(n_frames * tau), 1), n_frames))


def param_stats(ds: Dataset, transform: str = "log"):
    """Mean and standard deviation of ``log lam`` (or ``lam`` for ``transform="raw"``) over the distinct
    parameter values of ``ds``: the statistics for standardised parameter inputs."""
    vals = ds.unique_params().astype(np.float64)
    if transform == "log":
        vals = np.log(vals)
    mean = vals.mean(0)
    std = vals.std(0)
    return mean, np.where(std > 0, std, 1.0)


def _rel(pred, true, norm):
    axes = tuple(range(1, pred.ndim))
    return jnp.sqrt(jnp.sum((pred - true) ** 2, axis=axes)) / norm


def _norms(u, t, loss_norm):
    """Per-sample normaliser for frame t: its own L2 norm, or the trajectory's RMS frame norm."""
    axes = tuple(range(2, u.ndim))
    if loss_norm == "trajectory":
        return jnp.sqrt(jnp.mean(jnp.sum(u**2, axis=axes), axis=1)) + 1e-8
    return jnp.sqrt(jnp.sum(u[:, t] ** 2, axis=tuple(range(1, u.ndim - 1)))) + 1e-8


def rollout_loss(model, batch, key, *, noise: float = 1e-3, loss_norm: str = "frame", aux_weight: float = 0.0,
                 aux_cumulative: bool = False):
    """Curriculum rollout loss (a ``lax.scan`` with a ``where`` mask, so the AR prefix length is data).

    ``batch = {"u": (B, T, c, *grid), "lam": (B, p), "t_ar": int}``. Frame ``t`` (``t_init <= t < T``) is
    predicted from the current window; the next window takes the prediction if ``t < t_ar`` (autoregressive,
    gradients flow through it: full BPTT) else the true frame (teacher forcing). Loss
    ``sum_t mean_b relL2(pred_t, u_t)`` plus ``aux_weight * sum_t mean_b relL2(u_cape_t, u_t)`` for CAPE models
    (``aux_cumulative=True``: the reference's quirk of adding the running sum at every step). Inputs get
    Gaussian noise of std ``noise``. Returns ``(loss, {"main": ..., "aux": ...})``.
    """
    u, lam, t_ar = batch["u"], batch["lam"], batch["t_ar"]
    t_init = int(getattr(model, "t_init", 1))
    T = u.shape[1]
    is_cape = isinstance(model, CAPEModel)
    ell = model.cape.ell if is_cape else 1
    step_model = jax.vmap(model)
    traj_norm = _norms(u, 0, "trajectory") if loss_norm == "trajectory" else None

    def body(carry, t):
        win, main, aux, aux_run = carry
        k = jax.random.fold_in(key, t)
        w_in = win + noise * jax.random.normal(k, win.shape, win.dtype) if noise else win
        pred, u_cape = step_model(w_in, lam)
        true = jax.lax.dynamic_index_in_dim(u, t, axis=1, keepdims=False)
        norm = traj_norm if traj_norm is not None else _norms(u, t, "frame")
        main = main + jnp.mean(_rel(pred, true, norm))
        if is_cape and aux_weight:
            a = 0.0
            for j in range(ell):
                tj = jnp.minimum(t + j, T - 1)
                tr = jax.lax.dynamic_index_in_dim(u, tj, axis=1, keepdims=False)
                nj = traj_norm if traj_norm is not None else _norms(u, tj, "frame")
                a = a + jnp.where(t + j < T, jnp.mean(_rel(u_cape[:, j], tr, nj)), 0.0)
            aux_run = aux_run + a
            aux = aux + (aux_run if aux_cumulative else a)
        nxt = jnp.where(t < t_ar, pred, true)
        win = jnp.concatenate([win[:, 1:], nxt[:, None]], axis=1)
        return (win, main, aux, aux_run), None

    zero = jnp.zeros((), u.dtype)
    (_, main, aux, _), _ = jax.lax.scan(body, (u[:, :t_init], zero, zero, zero), jnp.arange(t_init, T))
    return main + aux_weight * aux, {"main": main, "aux": aux}


def warmup_loss(model, batch, key, *, noise: float = 1e-3, loss_norm: str = "frame"):
    """Teacher-forced one-step loss of the CAPE block alone (warm-up), all frames in one parallel batch."""
    u, lam = batch["u"], batch["lam"]
    t_init = int(model.t_init)
    T = u.shape[1]
    wins = jnp.stack([u[:, i : T - t_init + i] for i in range(t_init)], axis=2)  # (B, T-t_init, t_init, c, *g)
    if noise:
        wins = wins + noise * jax.random.normal(key, wins.shape, wins.dtype)
    target = u[:, t_init:]
    B, S = target.shape[:2]
    lam_rep = jnp.repeat(lam, S, axis=0)
    u_cape = jax.vmap(model.cape)(wins.reshape((B * S,) + wins.shape[2:]), lam_rep)[:, 0]
    tgt = target.reshape((B * S,) + target.shape[2:])
    if loss_norm == "trajectory":
        norm = jnp.repeat(_norms(u, 0, "trajectory"), S)
    else:
        norm = jnp.sqrt(jnp.sum(tgt**2, axis=tuple(range(1, tgt.ndim)))) + 1e-8
    return jnp.mean(_rel(u_cape, tgt, norm)) * S


def warmup_filter(model: CAPEModel):
    """``filter_spec`` selecting only the CAPE block's floating-point leaves (the warm-up phase's trainables)."""
    spec = jax.tree_util.tree_map(lambda _: False, model)
    return eqx.tree_at(lambda m: m.cape, spec, replace=jax.tree_util.tree_map(eqx.is_inexact_array, model.cape))


@dataclasses.dataclass
class TrainReport:
    """What ``train(..., return_report=True)`` returns: the (best) model, per-epoch mean losses, the
    curriculum's ``t_ar`` per epoch, validation nRMSE per epoch (if ``val``), wall seconds, step count."""

    model: eqx.Module
    epoch_loss: list
    t_ar: list
    val_nrmse: list
    seconds: float
    steps: int
    warmup_loss: list


def _batcher(ds: Dataset, batch_size: int, spe: int, key, epoch_of, t_ar_of):
    u, lam = jnp.asarray(ds.u), jnp.asarray(ds.params)
    n = u.shape[0]

    @jax.jit
    def take(epoch, i):
        perm = jax.random.permutation(jax.random.fold_in(key, epoch), n)
        idx = jax.lax.dynamic_slice_in_dim(perm, i * batch_size, batch_size)
        return u[idx], lam[idx]

    def batch_fn(_key, step):
        e = epoch_of(step)
        ub, lb = take(e, step % spe)
        return {"u": ub, "lam": lb, "t_ar": jnp.asarray(t_ar_of(e), jnp.int32)}

    return batch_fn


def train(model, ds: Dataset, *, epochs: int = 100, batch_size: int = 50, lr: float = 3e-3,
          weight_decay: float = 1e-4, lr_step_epochs: int = 20, lr_decay: float = 0.5, warmup_epochs: int = 3,
          warmup_lr: float | None = None, curriculum=True, noise: float = 1e-3, loss_norm: str = "frame",
          aux_weight: float = 5.7e-5, aux_cumulative: bool = False, val: Dataset | None = None, key=None,
          checkpoint_dir=None, checkpoint_every: int = 0, metrics_path=None, progress: bool = True, mesh=None,
          clip_norm: float | None = None, return_report: bool = False):
    """Train a one-step model (``CAPEModel``, ``Base``, ``Conditional``, ``FiLM``) on trajectories ``ds`` with the
    CAPE recipe (spec §2) via :func:`sciml.train.fit` (progress bar, JSONL metrics, orbax checkpoints/resume,
    data-parallel over ``mesh``).

    1. CAPE models only: ``warmup_epochs`` epochs train the CAPE block alone (own Adam) on its one-step loss.
    2. ``epochs - warmup_epochs`` epochs of the curriculum rollout loss (:func:`rollout_loss`) with
       ``t_ar = curriculum_t_ar(epoch)``; Adam with coupled L2 ``weight_decay``, learning rate ``lr`` halved
       (``lr_decay``) every ``lr_step_epochs`` epochs. Baselines get the same main phase.
    With ``val`` the model with the best validation nRMSE (checked every epoch) is returned. ``clip_norm``
    (not in the reference) clips the global gradient norm, which steadies short runs.

    **Returns:** the trained model, or a :class:`TrainReport` with ``return_report=True``.
    """
    key = jax.random.key(0) if key is None else key
    n = len(ds)
    batch_size = min(batch_size, n)
    spe = n // batch_size
    T = ds.n_frames
    is_cape = isinstance(model, CAPEModel)
    W = warmup_epochs if is_cape else 0
    main_epochs = epochs - warmup_epochs
    if main_epochs < 1:
        raise ValueError(f"epochs={epochs} must exceed warmup_epochs={warmup_epochs}")
    t0 = time.perf_counter()
    kw, km, kd = jax.random.split(key, 3)
    warm_hist = []
    sub = lambda name: None if checkpoint_dir is None else f"{checkpoint_dir}/{name}"  # noqa: E731

    if W:
        spec = warmup_filter(model)
        bf = _batcher(ds, batch_size, spe, jax.random.fold_in(kd, 0), lambda s: s // spe, lambda e: 1)
        res = _train.fit(lambda m, b, k: warmup_loss(m, b, k, noise=noise, loss_norm=loss_norm), model,
                         optax.adam(warmup_lr or lr), bf, steps=W * spe, key=kw, progress=progress,
                         log_every=spe, filter_spec=spec, checkpoint_dir=sub("warmup"),
                         checkpoint_every=checkpoint_every, description="cape warm-up", mesh=mesh)
        model = res.model
        warm_hist = [float(np.mean(res.losses[i * spe : (i + 1) * spe])) for i in range(W)]

    sched = optax.exponential_decay(lr, transition_steps=max(lr_step_epochs * spe, 1), decay_rate=lr_decay,
                                    staircase=True)
    opt = optax.chain(optax.add_decayed_weights(weight_decay), optax.adam(sched))
    if clip_norm:
        opt = optax.chain(optax.clip_by_global_norm(clip_norm), opt)
    t_ar_of = lambda e: curriculum_t_ar(e, T, main_epochs, 0, curriculum)  # noqa: E731
    bf = _batcher(ds, batch_size, spe, jax.random.fold_in(kd, 1), lambda s: s // spe, t_ar_of)

    best = {"score": np.inf, "model": None}
    val_hist = []

    def callback(step, m, rec):
        if val is None:
            return None
        score = _nrmse(m, val)
        val_hist.append(score)
        if score < best["score"]:
            best["score"], best["model"] = score, m
        return {"val_nrmse": score}

    res = _train.fit(lambda m, b, k: rollout_loss(m, b, k, noise=noise, loss_norm=loss_norm,
                                                   aux_weight=aux_weight if is_cape else 0.0,
                                                   aux_cumulative=aux_cumulative),
                     model, opt, bf, steps=main_epochs * spe, key=km, progress=progress, log_every=spe,
                     callback=callback, checkpoint_dir=sub("main"), checkpoint_every=checkpoint_every,
                     metrics_path=metrics_path, description="cape train", mesh=mesh)
    final = best["model"] if best["model"] is not None else res.model
    if not return_report:
        return final
    losses = res.losses
    ep_loss = [float(np.mean(losses[i * spe : (i + 1) * spe])) for i in range(len(losses) // spe)]
    return TrainReport(final, ep_loss, [t_ar_of(e) for e in range(main_epochs)], val_hist,
                       time.perf_counter() - t0, int(res.step), warm_hist)
