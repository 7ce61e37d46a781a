"""DCDM training: the scale-invariant one-step loss, trained with the shared `sciml.train.fit` loop."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from .. import train as _train
from ._data import ritz_training_data
from ._network import DCDMNet


def dcdm_loss(net, op, b):
    """Batch-mean of ``‖b − (qᵀb / qᵀAq)·A q‖²`` with ``q = f(b)`` masked to FLUID (``b``: ``(B, *grid)``,
    unit-norm rows).  Invariant to the scale (and sign) of ``q``: the residual after one exact line search
    from zero along ``q``."""
    mask = op.mask

    def one(bi):
        q = jnp.where(mask, net(bi), 0).astype(bi.dtype)
        Aq = op.mv(q)
        qAq = jnp.vdot(q, Aq)
        alpha = jnp.vdot(q, bi) / jnp.where(qAq > 0, qAq, 1)
        res = bi - alpha * Aq
        return jnp.vdot(res, res)

    return jnp.mean(jax.vmap(one)(b))


def train(
    op,
    *,
    key,
    steps: int = 1000,
    net=None,
    ndim: int | None = None,
    variant: str = "64",
    data=None,
    n_lanczos: int = 300,
    n_samples: int | None = None,
    low_weight: float = 9.0,
    theta: int | None = None,
    batch_size: int = 16,
    learning_rate: float = 1e-3,
    optimizer=None,
    checkpoint_dir=None,
    checkpoint_every: int = 0,
    resume: bool = True,
    metrics_path=None,
    log_every: int = 50,
    progress: bool = True,
    mesh=None,
    callback=None,
    return_result: bool = False,
):
    """Train a DCDM network on Ritz data of ``op`` with the scale-invariant loss.

    **Arguments:**

    - `op`: training operator (the paper: the empty closed box at the training resolution).
    - `key`: PRNG key (network init, Lanczos, batches).
    - `steps`: optimiser steps; `batch_size`; `learning_rate` (Adam; the paper used 1e-4, batch 10) or
      `optimizer` (any optax transformation).
    - `net`: a network to start from (default: ``DCDMNet(ndim=op.ndim, variant=variant)``, float32).
    - `data`: a [`RitzData`][sciml.dcdm.RitzData]; default ``ritz_training_data(op, n_lanczos=...,
      n_samples=..., low_weight=..., theta=...)`` (on the fly when ``n_samples`` is None).
    - `checkpoint_dir`, `checkpoint_every`, `resume`, `metrics_path`, `log_every`, `progress`, `mesh`,
      `callback`: passed to [`sciml.train.fit`][] (orbax checkpoints, resume, JSONL metrics, data-parallel).
    - `return_result`: return the full ``TrainResult`` (model, history, losses) instead of the network.

    **Returns:** the trained network (or the ``TrainResult``).
    """
    kn, kd, kt = jax.random.split(key, 3)
    if net is None:
        net = DCDMNet(ndim=ndim or op.ndim, variant=variant, key=kn)
    if data is None:
        data = ritz_training_data(op, key=kd, n_lanczos=n_lanczos, n_samples=n_samples,
                                  low_weight=low_weight, theta=theta)
    opt = optimizer if optimizer is not None else optax.adam(learning_rate)

    def loss_fn(model, batch, k):
        return dcdm_loss(model, op, batch)

    res = _train.fit(
        loss_fn, net, opt, data.batch_fn(batch_size), steps=steps, key=kt,
        checkpoint_dir=checkpoint_dir, checkpoint_every=checkpoint_every, resume=resume,
        metrics_path=metrics_path, log_every=log_every, progress=progress, mesh=mesh, callback=callback,
        description="dcdm",
    )
    return res if return_result else res.model
