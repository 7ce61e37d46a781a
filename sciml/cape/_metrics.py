"""Autoregressive rollout and PDEBench-style error metrics (nRMSE, RMSE, per-parameter tables)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._errors import check_callable, check_choice, check_int
from ._checks import check_dataset, check_t_init
from ._data import Dataset

__all__ = ["rollout", "predict", "nrmse", "rmse", "evaluate", "persistence_nrmse", "frame_errors"]


def rollout(model, window, lam, n_steps: int):
    """Autoregressive rollout of a one-step model from ``window`` (t_init, c, *grid): returns the ``n_steps``
    predicted frames (n_steps, c, *grid).

    **Arguments:**

    - `model`: a one-step model `model(window, lam) -> (u_next, aux)`.
    - `window`: the initial states, shape `(t_init, c, *grid)`; each step drops its oldest frame and appends the
      prediction.
    - `lam`: the PDE parameters, shape `(n_params,)`, passed unchanged to every step.
    - `n_steps`: the number of steps to predict (int >= 1).

    **Returns:** the predicted frames, (n_steps, c, *grid).

    **Example:** `frames = cape.rollout(model, ds.u[0, :1], ds.params[0], 20)`
    """
    check_callable("model", model)
    n_steps = check_int("n_steps", n_steps, minimum=1)

    def body(win, _):
        nxt, _aux = model(win, lam)
        return jnp.concatenate([win[1:], nxt[None]], axis=0), nxt

    _, preds = jax.lax.scan(body, window, None, length=n_steps)
    return preds


@eqx.filter_jit
def _predict_batch(model, u, lam, t_init, n_steps):
    return jax.vmap(lambda w, p: rollout(model, w, p, n_steps))(u[:, :t_init], lam)


def predict(model, ds: Dataset, *, batch_size: int = 256) -> jax.Array:
    """Roll ``model`` out on every trajectory of ``ds`` from its first ``t_init`` frames; returns the full
    predicted trajectories (n, n_frames, c, *grid) with the given initial frames in front.

    **Arguments:**

    - `model`: a one-step model `model(window, lam) -> (u_next, aux)` (e.g. from [`make_model`][]); its
      `t_init` attribute (default 1) sets the number of given frames.
    - `ds`: a [`Dataset`][] with at least one trajectory and more than `t_init` frames.
    - `batch_size`: trajectories rolled out per compiled call (int >= 1; default 256; bounds memory).

    **Returns:** (n, n_frames, c, *grid) predictions.

    **Example:** `pred = cape.predict(model, test_ds)`
    """
    check_callable("model", model)
    check_dataset("ds", ds)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    t_init = check_t_init("model.t_init", getattr(model, "t_init", 1), ds.n_frames)
    n_steps = ds.n_frames - t_init
    outs = []
    for i in range(0, len(ds), batch_size):
        u = ds.u[i : i + batch_size]
        outs.append(jnp.concatenate([u[:, :t_init], _predict_batch(model, u, ds.params[i : i + batch_size],
                                                                  t_init, n_steps)], axis=1))
    return jnp.concatenate(outs)


def frame_errors(pred, true, t_init: int = 1, normalise: str = "frame"):
    """Per sample, channel and predicted frame: ``||pred_t - u_t||_2 / ||u_t||_2`` over space
    (``normalise="frame"``, PDEBench's nRMSE), divided by the trajectory's RMS frame norm instead
    (``"trajectory"``: robust when a frame decays to ~0), or the plain RMSE (``"none"``).
    Returns (n, n_frames - t_init, c).

    **Arguments:**

    - `pred`: the predicted trajectories, shape `(n, n_frames, c, *grid)`.
    - `true`: the reference trajectories, the same shape as `pred`.
    - `t_init`: the number of given leading frames, skipped (1 <= t_init < n_frames; default 1).
    - `normalise`: `"frame"` (default), `"trajectory"` or `"none"` (see above).

    **Example:** `e = cape.frame_errors(cape.predict(model, ds), ds.u)`
    """
    check_choice("normalise", normalise, ("frame", "trajectory", "none"))
    if np.shape(pred) != np.shape(true):
        raise ValueError(f"`pred` and `true` must have the same shape, got {np.shape(pred)} and {np.shape(true)}.")
    if np.ndim(true) < 4:
        raise ValueError(f"`true` must have shape (n, n_frames, c, *grid), got {np.shape(true)}.")
    t_init = check_t_init("t_init", t_init, np.shape(true)[1])
    pred = jnp.asarray(pred)[:, t_init:]
    true = jnp.asarray(true)[:, t_init:]
    axes = tuple(range(3, pred.ndim))
    npts = int(np.prod(pred.shape[3:]))
    err = jnp.sqrt(jnp.sum((pred - true) ** 2, axis=axes) / npts)
    if normalise == "none":
        return err
    norm = jnp.sqrt(jnp.sum(true**2, axis=axes) / npts)
    if normalise == "trajectory":
        norm = jnp.sqrt(jnp.mean(norm**2, axis=1, keepdims=True))
    elif normalise != "frame":
        raise ValueError(f"normalise must be frame | trajectory | none, got {normalise!r}")
    return err / norm


def nrmse(model, ds: Dataset, *, normalise: str = "frame", per_param: bool = False, batch_size: int = 256):
    """nRMSE (PDEBench): mean over samples, channels and predicted frames ``t_init..T-1`` of
    ``||pred_t - u_t|| / ||u_t||`` with a fully autoregressive rollout from the first ``t_init`` frames.
    ``per_param=True`` returns ``{param tuple: nRMSE}``.

    **Arguments:**

    - `model`: a one-step model `model(window, lam) -> (u_next, aux)` (e.g. from [`make_model`][]); its
      `t_init` attribute (default 1) sets the number of given frames.
    - `ds`: a [`Dataset`][] with at least one trajectory and more than `t_init` frames.
    - `normalise`: `"frame"` (default), `"trajectory"` or `"none"`: see [`frame_errors`][].
    - `per_param`: if True, return one nRMSE per distinct parameter vector of `ds` (default False).
    - `batch_size`: trajectories rolled out per compiled call (int >= 1; default 256; bounds memory).

    **Returns:** a float (or a dict with `per_param=True`).

    **Example:** `err = cape.nrmse(model, test_ds)`
    """
    check_choice("normalise", normalise, ("frame", "trajectory", "none"))
    pred = predict(model, ds, batch_size=batch_size)
    e = np.asarray(frame_errors(pred, ds.u, int(getattr(model, "t_init", 1)), normalise)).mean(axis=(1, 2))
    if not per_param:
        return float(e.mean())
    return _per_param(e, ds)


def rmse(model, ds: Dataset, *, per_param: bool = False, batch_size: int = 256):
    """RMSE over space, averaged over samples, channels and predicted frames (autoregressive rollout).

    **Arguments:**

    - `model`: a one-step model `model(window, lam) -> (u_next, aux)` (e.g. from [`make_model`][]); its
      `t_init` attribute (default 1) sets the number of given frames.
    - `ds`: a [`Dataset`][] with at least one trajectory and more than `t_init` frames.
    - `per_param`: if True, return one RMSE per distinct parameter vector of `ds` (default False).
    - `batch_size`: trajectories rolled out per compiled call (int >= 1; default 256; bounds memory).

    **Returns:** a float (or `{param: RMSE}`).

    **Example:** `cape.rmse(model, test_ds)`
    """
    return nrmse(model, ds, normalise="none", per_param=per_param, batch_size=batch_size)


def _per_param(e, ds):
    params = np.asarray(ds.params)
    out = {}
    for val in np.unique(params, axis=0):
        sel = np.all(params == val[None], axis=1)
        out[tuple(float(v) for v in val)] = float(e[sel].mean())
    return out


def persistence_nrmse(ds: Dataset, t_init: int = 1, normalise: str = "frame") -> float:
    """nRMSE of the trivial predictor ``u^t = u^{t_init - 1}`` (a floor every model must beat).

    **Arguments:**

    - `ds`: a [`Dataset`][].
    - `t_init`: the number of given frames; frame `t_init - 1` is repeated (1 <= t_init < n_frames; default 1).
    - `normalise`: `"frame"` (default), `"trajectory"` or `"none"` (see [`frame_errors`][]).

    **Returns:** a float.

    **Example:** `cape.persistence_nrmse(test_ds)`
    """
    check_dataset("ds", ds)
    t_init = check_t_init("t_init", t_init, ds.n_frames)
    pred = jnp.broadcast_to(ds.u[:, t_init - 1 : t_init], ds.u.shape)
    return float(np.asarray(frame_errors(pred, ds.u, t_init, normalise)).mean())


def evaluate(model, ds: Dataset, *, batch_size: int = 256) -> dict:
    """All metrics from one rollout: ``nrmse``, ``nrmse_traj`` (trajectory-normalised), ``rmse`` and
    ``per_param`` (``{param: nRMSE}``).

    **Arguments:**

    - `model`: a one-step model `model(window, lam) -> (u_next, aux)` (e.g. from [`make_model`][]); its
      `t_init` attribute (default 1) sets the number of given frames.
    - `ds`: a [`Dataset`][] with at least one trajectory and more than `t_init` frames.
    - `batch_size`: trajectories rolled out per compiled call (int >= 1; default 256; bounds memory).

    **Returns:** a dict of the metrics.

    **Example:** `cape.evaluate(model, test_ds)["nrmse"]`
    """
    pred = predict(model, ds, batch_size=batch_size)
    t_init = int(getattr(model, "t_init", 1))
    e = np.asarray(frame_errors(pred, ds.u, t_init, "frame")).mean(axis=(1, 2))
    return {
        "nrmse": float(e.mean()),
        "nrmse_traj": float(np.asarray(frame_errors(pred, ds.u, t_init, "trajectory")).mean()),
        "rmse": float(np.asarray(frame_errors(pred, ds.u, t_init, "none")).mean()),
        "per_param": _per_param(e, ds),
    }
