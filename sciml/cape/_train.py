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
from ..train._loop import _fit_options
from ._data import Dataset
from .._errors import check_callable, check_choice, check_int, check_positive, check_real
from ._metrics import nrmse as _nrmse
from ._metrics import predict as _predict
from ._models import CAPEModel
from ._checks import check_dataset, check_t_init
from ..nn._checks import check_instance, check_key

__all__ = ["curriculum_t_ar", "rollout_loss", "warmup_loss", "train", "TrainReport", "param_stats",
           "warmup_filter", "Warmup", "RolloutLoss", "default_optimizer"]


def curriculum_t_ar(epoch, n_frames: int, epochs: int, warmup: int = 0, mode="tanh") -> int:
    """Autoregressive prefix length for ``epoch`` (spec §2): ``s = (e - W)/(E - W)``,
    ``tau = (1 + tanh((s - 0.5)/0.2))/2``, ``t_AR = clip(floor(T tau), 1, T)``. ``mode="tf"`` -> 1 (pure teacher
    forcing), ``"ar"`` -> T (fully autoregressive).

    **Arguments:**

    - `epoch`: the current epoch `e`, 0-based (int >= 0), counting the `warmup` epochs.
    - `n_frames`: the number of frames `T` of a trajectory (int >= 1).
    - `epochs`: the total number of epochs `E` (int >= 1).
    - `warmup`: `W`, the epochs before the curriculum starts (int >= 0; default 0).
    - `mode`: `"tanh"` or `True` (default: the schedule above), `"tf"` or `False` (always 1), `"ar"` (always T).

    **Returns:** `t_AR`, an int in [1, T].

    **Example:** `cape.curriculum_t_ar(10, 41, 50)`
    """
    check_choice("mode", mode, (True, False, "tanh", "tf", "ar"))
    check_int("epoch", epoch, minimum=0)
    n_frames = check_int("n_frames", n_frames, minimum=1)
    check_int("epochs", epochs, minimum=1)
    check_int("warmup", warmup, minimum=0)
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
    parameter values of ``ds``: the statistics for standardised parameter inputs.

    **Arguments:**

    - `ds`: a [`Dataset`][] with finite parameters (positive ones for `transform="log"`).
    - `transform`: `"log"` (default: statistics of `log lam`) or `"raw"` (statistics of `lam`).

    **Returns:** `(mean, std)` arrays of shape (n_params,) (a zero std is returned as 1).

    **Example:** `mean, std = cape.param_stats(train_ds)`
    """
    check_dataset("ds", ds)
    check_choice("transform", transform, ("log", "raw"))
    vals = ds.unique_params().astype(np.float64)
    if not np.all(np.isfinite(vals)):
        raise ValueError("`ds`: its parameters must be finite.")
    if transform == "log" and np.any(vals <= 0):
        raise ValueError(f"`ds`: transform='log' needs positive parameters, got min {vals.min()}; use transform='raw'.")
    if transform == "log":
        vals = np.log(vals)
    mean = vals.mean(0)
    std = vals.std(0)
    return mean, np.where(std > 0, std, 1.0)


def _check_batch(batch, keys):
    if not isinstance(batch, dict) or any(k not in batch for k in keys):
        got = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise ValueError(f"`batch` must be a dict with keys {list(keys)}, got {got}.")
    u, lam = batch["u"], batch["lam"]
    if len(getattr(u, "shape", ())) < 4 or len(getattr(lam, "shape", ())) != 2 or lam.shape[0] != u.shape[0]:
        raise ValueError(f"`batch`: u must be (B, T, c, *grid) and lam (B, n_params), got "
                         f"{getattr(u, 'shape', None)} and {getattr(lam, 'shape', None)}.")


def _rel(pred, true, norm):
    """Per-sample ||pred - true|| / norm (norm: the frame's or the trajectory's L2 norm, + 1e-8)."""
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

    **Arguments:**

    - `model`: a one-step model `model(window, lam) -> (u_next, aux)` (its `t_init` attribute, default 1, sets
      the given frames; a [`CAPEModel`][] also contributes its block's loss).
    - `batch`: a dict with `"u"` of shape `(B, T, c, *grid)`, `"lam"` of shape `(B, n_params)` and `"t_ar"`, the
      autoregressive prefix length (an int or a traced scalar; frames `t < t_ar` feed back the prediction).
    - `key`: a JAX PRNG key for the input noise (folded with the frame index).
    - `noise`: the standard deviation of the Gaussian noise added to every input window (>= 0; default 1e-3).
    - `loss_norm`: `"frame"` (default: each frame's L2 norm) or `"trajectory"` (the trajectory's RMS frame norm)
      as the denominator of the relative L2 error.
    - `aux_weight`: the weight of the CAPE block's own loss (>= 0; default 0.0; ignored for other models).
    - `aux_cumulative`: if True, add the running sum of the block's loss at every step (the reference's quirk);
      default False.

    **Example:** `loss, parts = cape.rollout_loss(model, {"u": u, "lam": lam, "t_ar": 1}, key)`
    """
    _check_batch(batch, ("u", "lam", "t_ar"))
    check_real("noise", noise, minimum=0.0)
    check_choice("loss_norm", loss_norm, ("frame", "trajectory"))
    check_real("aux_weight", aux_weight, minimum=0.0)
    u, lam, t_ar = batch["u"], batch["lam"], batch["t_ar"]
    t_init = int(getattr(model, "t_init", 1))
    if t_init >= u.shape[1]:
        raise ValueError(f"`batch`: u has {u.shape[1]} frames, the model needs more than t_init={t_init}.")
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
    """Teacher-forced one-step loss of the CAPE block alone (warm-up), all frames in one parallel batch.

    **Arguments:**

    - `model`: a [`CAPEModel`][]; only its CAPE block is evaluated.
    - `batch`: a dict with `"u"` of shape `(B, T, c, *grid)` and `"lam"` of shape `(B, n_params)` (`T > t_init`).
    - `key`: a JAX PRNG key for the input noise.
    - `noise`: the standard deviation of the Gaussian noise added to the input windows (>= 0; default 1e-3).
    - `loss_norm`: `"frame"` (default) or `"trajectory"`, the denominator of the relative L2 error.

    **Returns:** the scalar loss.

    **Example:** `cape.warmup_loss(model, {"u": u, "lam": lam}, key)`
    """
    check_instance("model", model, CAPEModel, "cape.CAPEModel (the warm-up trains its CAPE block)")
    _check_batch(batch, ("u", "lam"))
    check_real("noise", noise, minimum=0.0)
    check_choice("loss_norm", loss_norm, ("frame", "trajectory"))
    u, lam = batch["u"], batch["lam"]
    t_init = int(model.t_init)
    if t_init >= u.shape[1]:
        raise ValueError(f"`batch`: u has {u.shape[1]} frames, the model needs more than t_init={t_init}.")
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
    """``filter_spec`` selecting only the CAPE block's floating-point leaves (the warm-up phase's trainables).

    **Arguments:**

    - `model`: a [`CAPEModel`][].

    **Returns:** a pytree of bools shaped like `model`.

    **Example:** `spec = cape.warmup_filter(model)`
    """
    check_instance("model", model, CAPEModel, "cape.CAPEModel")
    spec = jax.tree_util.tree_map(lambda _: False, model)
    return eqx.tree_at(lambda m: m.cape, spec, replace=jax.tree_util.tree_map(eqx.is_inexact_array, model.cape))


@dataclasses.dataclass(frozen=True)
class Warmup:
    """The CAPE warm-up phase (spec §2): `epochs` epochs training the CAPE block alone on its teacher-forced
    one-step loss ([`warmup_loss`][]), with Adam at `learning_rate` (`None`: the main learning rate). Ignored for
    models without a CAPE block. `Warmup(epochs=0)` skips it.

    **Arguments:**

    - `epochs`: the number of warm-up epochs (int >= 0; default 3; 0 skips the phase).
    - `learning_rate`: Adam's learning rate for the warm-up, > 0, or `None` (default) for the main learning rate.
    """

    epochs: int = 3
    learning_rate: float | None = None

    def __post_init__(self):
        check_int("Warmup.epochs", self.epochs, minimum=0)
        if self.learning_rate is not None:
            check_positive("Warmup.learning_rate", self.learning_rate)


@dataclasses.dataclass(frozen=True)
class RolloutLoss:
    """Options of the main phase's curriculum rollout loss ([`rollout_loss`][]): `curriculum` (`"tanh"`/`True`:
    teacher forcing -> autoregressive, [`curriculum_t_ar`][]; `"tf"`/`False`: teacher forcing; `"ar"`: fully
    autoregressive), input `noise` std, `loss_norm` (`"frame"` or `"trajectory"`), `aux_weight` of the CAPE
    block's own loss and `aux_cumulative` (the reference's running-sum quirk).

    **Arguments:**

    - `curriculum`: `"tanh"` or `True` (default: teacher forcing -> autoregressive by [`curriculum_t_ar`][]),
      `"tf"` or `False` (teacher forcing throughout), `"ar"` (fully autoregressive throughout).
    - `noise`: the standard deviation of the Gaussian noise on the input windows (>= 0; default 1e-3).
    - `loss_norm`: `"frame"` (default) or `"trajectory"`, the denominator of the relative L2 error.
    - `aux_weight`: the weight of the CAPE block's own loss (>= 0; default 5.7e-5; ignored without a CAPE block).
    - `aux_cumulative`: if True, add the running sum of the block's loss at every step (the reference's quirk);
      default False.
    """

    curriculum: bool | str = True
    noise: float = 1e-3
    loss_norm: str = "frame"
    aux_weight: float = 5.7e-5
    aux_cumulative: bool = False

    def __post_init__(self):
        check_choice("RolloutLoss.curriculum", self.curriculum, (True, False, "tanh", "tf", "ar"))
        check_real("RolloutLoss.noise", self.noise, minimum=0.0)
        check_choice("RolloutLoss.loss_norm", self.loss_norm, ("frame", "trajectory"))
        check_real("RolloutLoss.aux_weight", self.aux_weight, minimum=0.0)


@dataclasses.dataclass
class TrainReport(_train.TrainResult):
    """What [`train`][sciml.cape.train] returns: a [`sciml.train.TrainResult`][] of the main phase (`model` is the
    best model by validation nRMSE when `val` was given, else the last) plus per-epoch mean losses `epoch_loss`,
    the curriculum's `t_ar` per epoch, validation nRMSE per epoch `val_nrmse` (if `val`), the warm-up phase's
    per-epoch losses `warmup_loss` and wall `seconds`. `predict(ds)` rolls the model out on a data set.

    **Fields:**

    - `model`, `opt_state`, `history`, `losses`, `step`: as in `sciml.train.TrainResult` (main phase).
    - `epoch_loss`: list of the mean main-phase loss of each epoch.
    - `t_ar`: list of the curriculum's autoregressive prefix length of each epoch.
    - `val_nrmse`: list of the validation nRMSE after each epoch (empty without `val`).
    - `warmup_loss`: list of the mean warm-up loss of each warm-up epoch (empty without a warm-up).
    - `seconds`: the wall-clock time of the whole training, in seconds.

    **Example:** `rep = cape.train(model, ds, epochs=10); rep.epoch_loss[-1]`
    """

    epoch_loss: list = dataclasses.field(default_factory=list)
    t_ar: list = dataclasses.field(default_factory=list)
    val_nrmse: list = dataclasses.field(default_factory=list)
    warmup_loss: list = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    @property
    def steps(self) -> int:
        return int(self.step)

    def predict(self, ds: Dataset):
        """Full predicted trajectories of `ds` (n, n_frames, c, *grid) from its first `t_init` frames.

        **Arguments:**

        - `ds`: a [`Dataset`][sciml.cape.Dataset] on a grid the model accepts.

        **Returns:** the predictions, shape `(n, n_frames, c, *grid)`, the given frames in front (as
        [`predict`][sciml.cape.predict]).
        """
        return _predict(self.model, ds)


def default_optimizer(learning_rate: float, steps_per_epoch: int, *, weight_decay: float = 1e-4,
                      step_epochs: int = 20, decay: float = 0.5, clip_norm: float | None = None):
    """The CAPE reference optimiser: Adam with coupled L2 `weight_decay`, learning rate `learning_rate` multiplied
    by `decay` every `step_epochs` epochs (optax staircase exponential decay); `clip_norm` (not in the reference)
    clips the global gradient norm first, which steadies short runs.

    **Arguments:**

    - `learning_rate`: the initial learning rate (> 0).
    - `steps_per_epoch`: optimiser steps per epoch (int >= 1), to express the schedule in epochs.
    - `weight_decay`: the coupled L2 coefficient added to the gradients (>= 0; default 1e-4).
    - `step_epochs`: epochs between learning-rate decays (int >= 1; default 20).
    - `decay`: the factor applied to the learning rate every `step_epochs` epochs (in (0, 1]; default 0.5).
    - `clip_norm`: the global gradient-norm clip (> 0), or `None` (default) for no clipping.

    **Returns:** an `optax.GradientTransformation`.

    **Example:** `opt = cape.default_optimizer(3e-3, steps_per_epoch=len(ds) // 50, clip_norm=1.0)`
    """
    check_positive("learning_rate", learning_rate)
    steps_per_epoch = check_int("steps_per_epoch", steps_per_epoch, minimum=1)
    check_real("weight_decay", weight_decay, minimum=0.0)
    check_int("step_epochs", step_epochs, minimum=1)
    check_real("decay", decay, minimum=0.0, maximum=1.0, strict_min=True)
    if clip_norm is not None:
        check_positive("clip_norm", clip_norm)
    sched = optax.exponential_decay(learning_rate, transition_steps=max(step_epochs * steps_per_epoch, 1),
                                    decay_rate=decay, staircase=True)
    opt = optax.chain(optax.add_decayed_weights(weight_decay), optax.adam(sched))
    if clip_norm:
        opt = optax.chain(optax.clip_by_global_norm(clip_norm), opt)
    return opt


def _batcher(ds: Dataset, batch_size: int, spe: int, key, epoch_of, t_ar_of, n_epochs: int):
    u, lam = jnp.asarray(ds.u), jnp.asarray(ds.params)
    n = u.shape[0]
    # the curriculum per epoch as a table, so the batches can also be drawn inside a compiled chunk of steps
    # (train.fit's steps_per_call, where `step` is traced)
    t_table = jnp.asarray([t_ar_of(e) for e in range(max(n_epochs, 1))], jnp.int32)

    @jax.jit
    def take(epoch, i):
        perm = jax.random.permutation(jax.random.fold_in(key, epoch), n)
        idx = jax.lax.dynamic_slice_in_dim(perm, i * batch_size, batch_size)
        return u[idx], lam[idx]

    def batch_fn(_key, step):
        e = epoch_of(step)
        ub, lb = take(e, step % spe)
        if isinstance(step, jax.core.Tracer):
            return {"u": ub, "lam": lb, "t_ar": t_table[jnp.minimum(e, t_table.shape[0] - 1)]}
        return {"u": ub, "lam": lb, "t_ar": jnp.asarray(t_ar_of(e), jnp.int32)}

    return batch_fn


def train(model, ds: Dataset, *, steps: int | None = None, epochs: int | None = None, batch_size: int = 50,
          learning_rate: float = 3e-3,
          optimizer: optax.GradientTransformation | None = None, warmup: Warmup | None = Warmup(),
          loss: RolloutLoss = RolloutLoss(), val: Dataset | None = None, key=None, **fit_kwargs) -> TrainReport:
    """Train a one-step model ([`CAPEModel`][], [`Base`][], [`Conditional`][], [`FiLM`][]) on trajectories `ds`
    with the CAPE recipe (spec §2) through [`sciml.train.fit`][] (progress bar, JSONL metrics, orbax
    checkpoints/resume, data-parallel over a mesh).

    1. CAPE models only: the [`Warmup`][] phase trains the CAPE block alone on its one-step loss.
    2. the remaining epochs (or steps) of the curriculum rollout loss ([`rollout_loss`][], options in
       [`RolloutLoss`][]) with `t_ar = curriculum_t_ar(epoch)`. Baselines get the same main phase.

    **Arguments:**

    - `model`: the one-step model; `ds`: training trajectories ([`Dataset`][]).
    - `steps`: optimiser steps in total, warm-up included (an epoch is `len(ds) // batch_size` steps; a last
      partial epoch is run as such). Give `steps` or `epochs`, not both.
    - `epochs`: passes over `ds` in total, warm-up included (default 100 when `steps` is not given). The
      curriculum and the default schedule are per epoch either way.
    - `batch_size`: trajectories per step (capped at `len(ds)`).
    - `learning_rate`: the main phase's initial learning rate (default optimiser) and the warm-up's default.
    - `optimizer`: any optax transformation for the main phase; default
      [`default_optimizer`][]`(learning_rate, steps_per_epoch)` (Adam, weight decay 1e-4, halved every 20 epochs).
    - `warmup`: a [`Warmup`][] (or `None` for none); `loss`: a [`RolloutLoss`][].
    - `val`: validation trajectories: the model with the best validation nRMSE (checked every epoch) is returned.
    - `key`: PRNG key (batches, noise).
    - `**fit_kwargs`: passed to `sciml.train.fit` (`checkpoint_dir` (phases in `warmup/` and `main/`
      subfolders), `checkpoint_every`, `resume`, `metrics_path`, `progress`, `mesh`, `time_limit`,
      `steps_per_call`, and `callback`, called once per epoch of the main phase after the validation; its
      `{"stop": True}` ends training). `log_every` is one epoch, set by `train`; any other name raises a
      `TypeError` before anything compiles.

    **Returns:** a [`TrainReport`][] (a `sciml.train.TrainResult`).

    **Example:** `res = cape.train(model, ds, epochs=30, batch_size=16, learning_rate=1e-3); res.model`
    """
    if steps is not None and epochs is not None:
        raise ValueError(f"give `steps` or `epochs`, not both (got steps={steps!r}, epochs={epochs!r}).")
    if steps is not None:
        check_int("steps", steps, minimum=1)
    else:
        epochs = 100 if epochs is None else epochs
        check_int("epochs", epochs, minimum=1)
    check_int("batch_size", batch_size, minimum=1)
    fit_kwargs = _fit_options("cape.train", fit_kwargs, sets=("description", "filter_spec", "log_every"))
    user_callback = fit_kwargs.pop("callback", None)
    if user_callback is not None:
        check_callable("callback", user_callback)
    check_positive("learning_rate", learning_rate)
    check_callable("model", model)
    check_dataset("ds", ds)
    check_t_init("model.t_init", getattr(model, "t_init", 1), ds.n_frames)
    if val is not None:
        check_dataset("val", val)
        if val.u.shape[2:] != ds.u.shape[2:] or val.params.shape[1] != ds.params.shape[1]:
            raise ValueError(f"`val` must match `ds` in channels, grid and parameters, got u {val.u.shape} / params "
                             f"{val.params.shape} vs {ds.u.shape} / {ds.params.shape}.")
    if optimizer is not None and not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"`optimizer` must be an optax.GradientTransformation, got {type(optimizer).__name__}.")
    if key is not None:
        check_key("key", key)
    if not isinstance(loss, RolloutLoss):
        raise TypeError(f"`loss` must be a cape.RolloutLoss, got {type(loss).__name__}.")
    if warmup is not None and not isinstance(warmup, Warmup):
        raise TypeError(f"`warmup` must be a cape.Warmup or None, got {type(warmup).__name__}.")
    warmup = Warmup(0) if warmup is None else warmup
    key = jax.random.key(0) if key is None else key
    n = len(ds)
    batch_size = min(batch_size, n)
    spe = n // batch_size
    T = ds.n_frames
    is_cape = isinstance(model, CAPEModel)
    W = warmup.epochs if is_cape else 0
    if steps is not None:
        main_steps = steps - warmup.epochs * spe
        if main_steps < 1:
            raise ValueError(f"`steps`={steps} must exceed the warm-up's {warmup.epochs} epochs of {spe} steps "
                             f"({warmup.epochs * spe} steps); pass more steps or a shorter `warmup`.")
        main_epochs = -(-main_steps // spe)
    else:
        main_epochs = epochs - warmup.epochs
        if main_epochs < 1:
            raise ValueError(f"`epochs`={epochs} must exceed the warm-up's {warmup.epochs} epochs.")
        main_steps = main_epochs * spe
    t0 = time.perf_counter()
    kw, km, kd = jax.random.split(key, 3)
    warm_hist = []
    fit_kwargs.setdefault("progress", True)
    checkpoint_dir = fit_kwargs.pop("checkpoint_dir", None)
    metrics_path = fit_kwargs.pop("metrics_path", None)
    sub = lambda name: None if checkpoint_dir is None else f"{checkpoint_dir}/{name}"  # noqa: E731
    noise, loss_norm = loss.noise, loss.loss_norm

    if W:
        spec = warmup_filter(model)
        bf = _batcher(ds, batch_size, spe, jax.random.fold_in(kd, 0), lambda s: s // spe, lambda e: 1, W)
        res = _train.fit(lambda m, b, k: warmup_loss(m, b, k, noise=noise, loss_norm=loss_norm), model,
                         optax.adam(warmup.learning_rate or learning_rate), bf, steps=W * spe, key=kw, log_every=spe,
                         filter_spec=spec, checkpoint_dir=sub("warmup"), description="cape warm-up", **fit_kwargs)
        model = res.model
        warm_hist = [float(np.mean(res.losses[i * spe : (i + 1) * spe])) for i in range(W)]

    opt = default_optimizer(learning_rate, spe) if optimizer is None else optimizer
    t_ar_of = lambda e: curriculum_t_ar(e, T, main_epochs, 0, loss.curriculum)  # noqa: E731
    bf = _batcher(ds, batch_size, spe, jax.random.fold_in(kd, 1), lambda s: s // spe, t_ar_of, main_epochs)

    best = {"score": np.inf, "model": None}
    val_hist = []

    def callback(step, m, rec):
        out = {}
        if val is not None:
            score = _nrmse(m, val)
            val_hist.append(score)
            if score < best["score"]:
                best["score"], best["model"] = score, m
            out["val_nrmse"] = score
        if user_callback is not None:
            out.update(user_callback(step, m, rec) or {})
        return out or None

    aux_weight = loss.aux_weight if is_cape else 0.0
    res = _train.fit(lambda m, b, k: rollout_loss(m, b, k, noise=noise, loss_norm=loss_norm, aux_weight=aux_weight,
                                                   aux_cumulative=loss.aux_cumulative),
                     model, opt, bf, steps=main_steps, key=km, log_every=spe, callback=callback,
                     checkpoint_dir=sub("main"), metrics_path=metrics_path, description="cape train", **fit_kwargs)
    final = best["model"] if best["model"] is not None else res.model
    losses = res.losses
    ep_loss = [float(np.mean(losses[i * spe : (i + 1) * spe])) for i in range(-(-len(losses) // spe))]
    return TrainReport(final, res.opt_state, res.history, res.losses, res.step, epoch_loss=ep_loss,
                       t_ar=[t_ar_of(e) for e in range(main_epochs)], val_nrmse=val_hist, warmup_loss=warm_hist,
                       seconds=time.perf_counter() - t0)
