"""DCDM training: the scale-invariant one-step loss, trained with the shared `sciml.train.fit` loop."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from .. import linalg
from .. import train as _train
from ._data import ritz_training_data
from ._network import DCDMNet


_LOSSES = ("residual", "energy")


def dcdm_loss(net, op, b, *, norm: str = "residual", rtol: float = 1e-4, maxiter: int | None = None):
    """The scale-invariant one-step DCDM loss, batch-averaged over unit-norm rows ``b`` of shape ``(B, *grid)``.

    ``q = f(b)`` is masked to FLUID and line-searched exactly from zero (``α = qᵀb / qᵀAq``); the loss is
    invariant to the scale (and sign) of ``q``.

    - ``norm="residual"`` (the paper): ``‖b − α A q‖²``, the 2-norm of the residual after the step.
    - ``norm="energy"`` (our design): ``1 − (qᵀb)² / (qᵀAq · bᵀA⁻¹b)``, the squared relative A-norm
      error after the step, i.e. ``1 − cos²`` of the A-angle between ``q`` and ``A⁻¹b``; in [0, 1].
      This is what the solver's energy-optimal line search actually reduces.  The 2-norm loss demands
      a relative accuracy of ≈ λ_min/λ_max of the network on smooth inputs (a white output error of
      1e-3 already gives loss 2.7 on the lowest eigenvector of the 32² disk+air problem), so a network
      trained on it fails on smooth residuals; the energy loss tolerates such errors.
      ``bᵀA⁻¹b`` comes from a CG solve (``rtol``, ``maxiter``; no gradient flows through it).
    """
    if norm not in _LOSSES:
        raise ValueError(f"`norm` must be one of {_LOSSES}, got {norm!r}.")
    mask = op.mask
    proj = getattr(op, "project", None)

    def one(bi):
        q = jnp.where(mask, net(bi), 0).astype(bi.dtype)
        # remove the null space (pure-Neumann constants) and the scale, as the solver does: otherwise the
        # network can drive qᵀAq into float32 round-off with a huge constant and the loss below zero
        # (seen: energy loss -2e4 after 12,000 steps on the 32³ closed box)
        q = proj(q) if proj is not None else q
        qn = jnp.sqrt(jnp.vdot(q, q))
        q = q / jnp.where(qn > 0, qn, 1)
        Aq = op.mv(q)
        qAq = jnp.vdot(q, Aq)
        qb = jnp.vdot(q, bi)
        denom = jnp.where(qAq > 0, qAq, 1)
        if norm == "energy":
            z = jax.lax.stop_gradient(linalg.cg(op, bi, rtol=rtol, maxiter=maxiter).value)
            bz = jnp.vdot(bi, z)
            return 1 - qb**2 / (denom * jnp.where(bz > 0, bz, 1))
        res = bi - (qb / denom) * Aq
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
    loss: str = "residual",
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
    - `loss`: ``"residual"`` (the paper's 2-norm one-step loss) or ``"energy"`` (our design: the relative
      A-norm error after one step; trains networks that also work on smooth residuals), see
      [`dcdm_loss`][sciml.dcdm.dcdm_loss].
    - `net`: a network to start from (default: ``DCDMNet(ndim=op.ndim, variant=variant)``, float32).
    - `data`: a [`RitzData`][sciml.dcdm.RitzData]; default ``ritz_training_data(op, n_lanczos=...,
      n_samples=..., low_weight=..., theta=...)`` (on the fly when ``n_samples`` is None).
    - `checkpoint_dir`, `checkpoint_every`, `resume`, `metrics_path`, `log_every`, `progress`, `mesh`,
      `callback`: passed to [`sciml.train.fit`][] (orbax checkpoints, resume, JSONL metrics, data-parallel).
    - `return_result`: return the full ``TrainResult`` (model, history, losses) instead of the network.

    **Returns:** the trained network (or the ``TrainResult``).
    """
    if loss not in _LOSSES:
        raise ValueError(f"`loss` must be one of {_LOSSES}, got {loss!r}.")
    kn, kd, kt = jax.random.split(key, 3)
    if net is None:
        net = DCDMNet(ndim=ndim or op.ndim, variant=variant, key=kn)
    if data is None:
        data = ritz_training_data(op, key=kd, n_lanczos=n_lanczos, n_samples=n_samples,
                                  low_weight=low_weight, theta=theta)
    opt = optimizer if optimizer is not None else optax.adam(learning_rate)

    def loss_fn(model, batch, k):
        return dcdm_loss(model, op, batch, norm=loss)

    res = _train.fit(
        loss_fn, net, opt, data.batch_fn(batch_size), steps=steps, key=kt,
        checkpoint_dir=checkpoint_dir, checkpoint_every=checkpoint_every, resume=resume,
        metrics_path=metrics_path, log_every=log_every, progress=progress, mesh=mesh, callback=callback,
        description="dcdm",
    )
    return res if return_result else res.model
