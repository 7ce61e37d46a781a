"""DCDM training: the scale-invariant one-step loss, trained with the shared `sciml.train.fit` loop."""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
import optax

from .. import linalg
from .. import train as _train
from ..train._loop import _fit_options
from ._data import RitzData, ritz_training_data
from ._network import DCDMNet
from ._validate import check_op, check_samples

_LOSSES = ("residual", "energy")


def dcdm_loss(net, op, b, *, norm: str = "residual", rtol: float = 1e-4, maxiter: int | None = None,
              energy_norms=None):
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
      ``bᵀA⁻¹b`` comes from `energy_norms` (shape ``(B,)``) when given, else from a CG solve
      (``rtol``, ``maxiter``, default ``20·max(grid) + 100``; no gradient flows through it).

    **Arguments:**

    - `net`: the network, a callable grid -> grid.
    - `op`: the flag-grid Poisson operator (``linalg.poisson_operator``).
    - `b`: unit-norm right-hand sides, shape ``(B, *grid)`` in the operator's dtype.
    - `norm`: ``"residual"`` (default) or ``"energy"``, as above.
    - `rtol`, `maxiter`: the reference CG solve of the energy loss (defaults `1e-4` and ``20·max(grid) + 100``).
    - `energy_norms`: precomputed ``bᵢᵀA⁻¹bᵢ``, shape ``(B,)`` (energy loss only); `None` (default) solves for them.

    **Returns:** the batch-mean loss (a scalar; differentiable w.r.t. the network).

    **Raises:** `ValueError` for an unknown `norm` or `b` not of shape ``(B, *grid)``.
    """
    if norm not in _LOSSES:
        raise ValueError(f"`norm` must be one of {_LOSSES}, got {norm!r}.")
    check_op(op)
    check_samples("b", b, op)
    mask = op.mask
    proj = getattr(op, "project", None)

    def one(bi, bz):
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
            if bz is None:
                cap = 20 * max(op.shape) + 100 if maxiter is None else maxiter  # float32 CG may stagnate
                z = jax.lax.stop_gradient(linalg.cg(op, bi, rtol=rtol, maxiter=cap).value)
                bz = jnp.vdot(bi, z)
            return 1 - qb**2 / (denom * jnp.where(bz > 0, bz, 1))
        res = bi - (qb / denom) * Aq
        return jnp.vdot(res, res)

    if energy_norms is None:
        return jnp.mean(jax.vmap(lambda bi: one(bi, None))(b))
    return jnp.mean(jax.vmap(one)(b, jnp.asarray(energy_norms, b.dtype)))


def energy_norms(op, b, *, rtol: float = 1e-4, maxiter: int | None = None, chunk: int = 64):
    """``bᵢᵀA⁻¹bᵢ`` for the rows of ``b`` by batched CG: the reference of the energy loss, computed once for
    cached samples instead of at every training step.

    **Arguments:**

    - `op`: the flag-grid Poisson operator.
    - `b`: right-hand sides, shape ``(B, *grid)`` in the operator's dtype.
    - `rtol`: CG's relative tolerance (default `1e-4`, as in the per-step loss).
    - `maxiter`: CG's iteration cap; default ``20·max(grid) + 100`` (CG in float32 can stagnate above a tight
      `rtol`, and a vmapped CG runs until its slowest row stops).
    - `chunk`: rows per vmapped CG call (default 64; bounds memory).

    **Returns:** shape ``(B,)``.
    """
    check_op(op)
    check_samples("b", b, op)
    maxiter = 20 * max(op.shape) + 100 if maxiter is None else maxiter
    f = jax.jit(jax.vmap(lambda bi: jnp.vdot(bi, linalg.cg(op, bi, rtol=rtol, maxiter=maxiter).value)))
    return jnp.concatenate([f(b[i : i + chunk]) for i in range(0, b.shape[0], chunk)])


_MOVED = {
    "ndim": "pass `net=dcdm.DCDMNet(ndim=..., variant=..., channels=..., key=...)`.",
    "variant": "pass `net=dcdm.DCDMNet(ndim=..., variant=..., channels=..., key=...)`.",
    "channels": "pass `net=dcdm.DCDMNet(ndim=..., variant=..., channels=..., key=...)`.",
    "n_lanczos": "pass `data=dcdm.ritz_training_data(op, key=..., n_lanczos=..., n_samples=..., low_weight=..., "
                 "theta=...)`.",
    "n_samples": "pass `data=dcdm.ritz_training_data(op, key=..., n_samples=...)`.",
    "low_weight": "pass `data=dcdm.ritz_training_data(op, key=..., low_weight=...)`.",
    "theta": "pass `data=dcdm.ritz_training_data(op, key=..., theta=...)`.",
}


def train(
    op,
    *,
    key,
    steps: int = 1000,
    net=None,
    data: RitzData | None = None,
    batch_size: int = 16,
    learning_rate: float = 1e-3,
    optimizer: optax.GradientTransformation | None = None,
    loss: Literal["residual", "energy"] = "residual",
    **fit_kwargs,
) -> _train.TrainResult:
    """Train a DCDM network on Ritz data of ``op`` with the scale-invariant loss.

    **Arguments:**

    - `op`: training operator (the paper: the empty closed box at the training resolution).
    - `key`: PRNG key (the default network's initialisation, the default data's Lanczos start, batches).
    - `steps`: optimiser steps.
    - `net`: the network to train (any callable pytree mapping a grid-shaped residual to a direction), e.g.
      ``dcdm.DCDMNet(ndim=3, variant="fast", key=k)``. Default: the paper's
      ``DCDMNet(ndim=op.ndim, variant="64")`` in float32, initialised from `key`.
    - `data`: a [`RitzData`][sciml.dcdm.RitzData] from [`ritz_training_data`][sciml.dcdm.ritz_training_data]
      (Lanczos steps, cached samples, the low-frequency weighting are chosen there). Default:
      ``ritz_training_data(op, key=...)`` with its defaults (300 Lanczos steps, samples drawn on the fly).
    - `batch_size`: right-hand sides per step.
    - `learning_rate`: Adam's step size (the paper used 1e-4, batch 10), used when `optimizer` is None.
    - `optimizer`: any optax ``GradientTransformation`` (default ``optax.adam(learning_rate)``); pass e.g.
      ``optax.adam(optax.cosine_decay_schedule(1e-3, steps))`` for a schedule.
    - `loss`: ``"residual"`` (the paper's 2-norm one-step loss) or ``"energy"`` (our design: the relative
      A-norm error after one step; trains networks that also work on smooth residuals), see
      [`dcdm_loss`][sciml.dcdm.dcdm_loss].  With cached samples (``data.samples``) the energy reference
      ``bᵀA⁻¹b`` is computed once per sample ([`energy_norms`][sciml.dcdm.energy_norms]), not at every step.
    - `**fit_kwargs`: passed to [`sciml.train.fit`][]: `checkpoint_dir`, `checkpoint_every`, `resume`,
      `metrics_path`, `log_every`, `progress`, `mesh`, `callback`, `time_limit`, `steps_per_call` (orbax
      checkpoints, resume, JSONL metrics, data-parallel, a wall-clock budget in seconds). Any other name
      raises a `TypeError` before anything compiles.

    **Returns:** a [`sciml.train.TrainResult`][] (``.model`` is the trained network, ``.losses`` every
    step's loss).

    **Example:**

    ```python
    op = linalg.poisson_operator(dcdm.disk_air(32, 2), dtype=jnp.float32)
    data = dcdm.ritz_training_data(op, key=jax.random.key(1), n_lanczos=200)
    res = dcdm.train(op, key=jax.random.key(0), steps=500, data=data, loss="energy", progress=False)
    sol = dcdm.solve(res.model, op, b, rtol=1e-6)
    ```
    """
    from .._errors import check_choice, check_int, check_positive
    from ..nn._checks import check_key

    check_op(op)
    fit_kwargs = _fit_options("dcdm.train", fit_kwargs, sets=("description", "filter_spec"), moved=_MOVED)
    check_key("key", key)
    check_choice("loss", loss, _LOSSES)
    steps = check_int("steps", steps, minimum=0)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    if optimizer is None:
        learning_rate = check_positive("learning_rate", learning_rate)
        optimizer = optax.adam(learning_rate)
    elif not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"`optimizer` must be an optax GradientTransformation, got {type(optimizer).__name__}.")
    if data is not None and not isinstance(data, RitzData):
        raise TypeError(f"`data` must be a dcdm.RitzData (see ritz_training_data), got {type(data).__name__}.")
    if net is not None and not callable(net):
        raise TypeError(f"`net` must be a callable network, got {type(net).__name__}.")
    if isinstance(net, DCDMNet) and net.ndim != op.ndim:
        raise ValueError(f"`net` is a {net.ndim}D DCDMNet but the operator's grid is {op.ndim}D; build it with "
                         f"DCDMNet(ndim={op.ndim}, ...).")
    kn, kd, kt = jax.random.split(key, 3)
    if net is None:
        net = DCDMNet(ndim=op.ndim, variant="64", key=kn)
    if data is None:
        data = ritz_training_data(op, key=kd)
    elif tuple(data.vectors.shape[1:]) != tuple(op.shape):
        raise ValueError(f"`data` was built for grid {tuple(data.vectors.shape[1:])}, not the operator's "
                         f"{tuple(op.shape)}.")

    if loss == "energy" and data.samples is not None:
        # cached samples: the energy reference once per sample (a CG solve each), not per step
        samples = data.samples
        refs = energy_norms(op, samples.astype(op.dtype))
        batches = _train.array_batches({"b": samples, "bz": refs}, min(batch_size, samples.shape[0]))

        def loss_fn(model, batch, k):
            return dcdm_loss(model, op, batch["b"], norm=loss, energy_norms=batch["bz"])
    else:
        batches = data.batch_fn(batch_size)

        def loss_fn(model, batch, k):
            return dcdm_loss(model, op, batch, norm=loss)

    return _train.fit(loss_fn, net, optimizer, batches, steps=steps, key=kt, description="dcdm", **fit_kwargs)
