"""Training: GNS random-walk noise, normalised-acceleration loss, window batches, decoder fitting."""

from __future__ import annotations

import dataclasses
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import train as _train
from ..train._loop import _fit_options
from .._errors import check_int, check_positive
from ..nn import stop_gradient as _stop_gradient  # stop_gradient on a pytree's inexact arrays
from ._decoder import KernelDecoder
from ._graph import farthest_point_sampling
from ._models import C_WINDOW, GIOROM, integrate
from ._rollout import rollout_window
from .._errors import check_real
from ..nn._checks import check_instance, check_key
from ._checks import check_count, check_dataset, check_positions
from ._models import GNS


def random_walk_noise(key, window_shape, noise_std: float, dtype):
    """GNS random-walk noise for a (C+1, n, d) window: velocity noise N(0, sigma/sqrt(C)) cumulated over
    the window, positions noise its cumulative sum (first frame clean).

    **Arguments:**

    - `key`: a JAX PRNG key.
    - `window_shape`: the window's shape `(C+1, n, d)`, positive ints with `C + 1 >= 2`.
    - `noise_std`: sigma, the std of the velocity noise accumulated by the last frame (>= 0).
    - `dtype`: the floating dtype of the noise.

    **Returns:** noise of shape `window_shape`.

    **Example:** `giorom.random_walk_noise(jax.random.key(0), (6, 100, 2), 3e-4, jnp.float32)`
    """
    check_key("key", key)
    window_shape = tuple(window_shape)
    if len(window_shape) != 3 or window_shape[0] < 2 or any(
            isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in window_shape):
        raise ValueError(f"`window_shape` must be (frames >= 2, n, d) positive ints, got {window_shape}.")
    check_real("noise_std", noise_std, minimum=0.0)
    C = window_shape[0] - 1
    vn = jax.random.normal(key, (C,) + tuple(window_shape[1:]), dtype) * (noise_std / np.sqrt(C))
    vn = jnp.cumsum(vn, 0)
    pn = jnp.cumsum(vn, 0)
    return jnp.concatenate([jnp.zeros_like(pn[:1]), pn], 0)


def acceleration_loss(model, batch, key, noise_std: float | None = None):
    """Mean squared error of normalised accelerations with GNS noise and target correction.

    `batch`: dict(window (B, C+1, n, d), target (B, n, d), particle_type (B, n)), optionally with push-forward
    entries `future` (B, U, n, d: the ground-truth frames after `target`) and `unroll` (() int32, at most U).
    With `unroll` = u > 0 the model is first rolled forward u steps from the noisy window without gradient
    (push-forward, Brandstetter et al. 2022, as in LagrangeBench), and the loss is taken on its next step
    against ground-truth frame u after `target`; every target is shifted by the last input frame's noise.

    **Arguments:**

    - `model`: a [`GNS`][] or [`GIOROM`][] stepper.
    - `batch`: a dict with `window` (B, C+1, n, d), `target` (B, n, d) and `particle_type` (B, n), optionally
      `future` and `unroll` (above), e.g. from [`window_sampler`][].
    - `key`: a JAX PRNG key for the random-walk noise (split per sample).
    - `noise_std`: the random-walk noise std (>= 0); None (default) uses the model's `norm.noise_std`.

    **Returns:** `(loss, {"acc_mse": loss})`.

    **Example:** `loss, _ = giorom.acceleration_loss(model, batch_fn(key), key)`
    """
    if not isinstance(batch, dict) or any(k not in batch for k in ("window", "target", "particle_type")):
        got = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise ValueError(f"`batch` must be a dict with keys window, target, particle_type, got {got}.")
    if noise_std is not None:
        check_real("noise_std", noise_std, minimum=0.0)
    win, tgt, ptype = batch["window"], batch["target"], batch["particle_type"]
    if win.ndim != 4 or tgt.shape != (win.shape[0],) + win.shape[2:] or ptype.shape != win.shape[:1] + win.shape[2:3]:
        raise ValueError(f"`batch`: window (B, C+1, n, d), target (B, n, d), particle_type (B, n) expected, got "
                         f"{win.shape}, {tgt.shape}, {ptype.shape}.")
    sigma = model.norm.noise_std if noise_std is None else noise_std
    keys = jax.random.split(key, win.shape[0])
    noise = jax.vmap(lambda k: random_walk_noise(k, win.shape[1:], sigma, win.dtype))(keys)
    noisy = win + noise
    if "unroll" in batch:
        frozen = _stop_gradient(model)

        def push(_, w):
            x_new = jax.vmap(lambda wi, ti: integrate(frozen, wi, frozen(wi, ti)))(w, ptype)
            return jnp.concatenate([w[:, 1:], x_new[:, None]], 1)

        noisy = jax.lax.stop_gradient(jax.lax.fori_loop(0, batch["unroll"], push, noisy))
        targets = jnp.concatenate([tgt[:, None], batch["future"]], 1)
        tgt = jax.lax.dynamic_index_in_dim(targets, batch["unroll"], 1, keepdims=False)
    tgt_adj = tgt + noise[:, -1]
    acc = tgt_adj - 2 * noisy[:, -1] + noisy[:, -2]
    am, ast = model.norm.acc_scale(win.dtype)
    target = (acc - am) / ast
    pred = jax.vmap(model)(noisy, ptype)
    loss = jnp.mean((pred - target) ** 2)
    return loss, {"acc_mse": loss}


@dataclasses.dataclass(frozen=True)
class PushForward:
    """Push-forward schedule (LagrangeBench defaults): at a training step past `start[i]` (a fraction of the run),
    unroll counts `unrolls[:i+1]` are drawn with weights `probs[:i+1]`. LagrangeBench's steps 0 / 20k / 300k /
    400k of a 500k-step run are the fractions 0 / 0.04 / 0.6 / 0.8.

    **Arguments:**

    - `unrolls`: the unroll counts (ints >= 0; default `(0, 1, 2, 3)`).
    - `probs`: their unnormalised sampling weights (> 0; default `(18, 2, 1, 1)`), one per entry of `unrolls`.
    - `start`: the fraction of the run from which each count is allowed, increasing and starting at 0
      (default `(0, 0.04, 0.6, 0.8)`).

    **Example:** `giorom.train(model, ds, pushforward=giorom.PushForward())`
    """

    unrolls: tuple = (0, 1, 2, 3)
    probs: tuple = (18.0, 2.0, 1.0, 1.0)
    start: tuple = (0.0, 0.04, 0.6, 0.8)

    def __post_init__(self):
        if not (len(self.unrolls) == len(self.probs) == len(self.start)) or not self.unrolls:
            raise ValueError("PushForward: unrolls, probs and start must be non-empty and of equal length, got "
                             f"{len(self.unrolls)}, {len(self.probs)}, {len(self.start)}")
        if any(u < 0 for u in self.unrolls) or any(p <= 0 for p in self.probs):
            raise ValueError(f"PushForward: unrolls must be >= 0 and probs > 0, got {self.unrolls}, {self.probs}")
        if list(self.start) != sorted(self.start) or self.start[0] > 0:
            raise ValueError(f"PushForward: start must be increasing fractions beginning at 0, got {self.start}")

    @property
    def max_unroll(self) -> int:
        return int(max(self.unrolls))

    def sample(self, key, step, total_steps: int):
        """Unroll count (() int32) for training `step` of `total_steps`.

        **Arguments:**

        - `key`: a JAX PRNG key for the draw.
        - `step`: the current training step (int or traced scalar).
        - `total_steps`: the run's total number of steps (scales `start`).

        **Returns:** the drawn unroll count, an () int32 array.
        """
        thresholds = jnp.asarray([s * total_steps for s in self.start], jnp.float32)
        allowed = jnp.asarray(step, jnp.float32) >= thresholds
        logits = jnp.where(allowed, jnp.log(jnp.asarray(self.probs, jnp.float32)), -jnp.inf)
        return jnp.asarray(self.unrolls, jnp.int32)[jax.random.categorical(key, logits)]


@functools.partial(jax.jit, static_argnames=("batch_size", "window", "extra"))
def _sample_windows(positions, particle_type, key, batch_size: int, window: int, extra: int = 0):
    B, T = positions.shape[:2]
    kb, kt = jax.random.split(key)
    b = jax.random.randint(kb, (batch_size,), 0, B)
    t = jax.random.randint(kt, (batch_size,), 0, T - window - extra)

    def one(bi, ti):
        return jax.lax.dynamic_slice_in_dim(positions[bi], ti, window + 1 + extra, 0)

    seq = jax.vmap(one)(b, t)
    out = {"window": seq[:, :window], "target": seq[:, window], "particle_type": particle_type[b]}
    if extra:
        out["future"] = seq[:, window + 1:]
    return out


def window_sampler(positions, particle_type, batch_size: int, window: int = C_WINDOW + 1,
                   pushforward: PushForward | None = None, total_steps: int | None = None):
    """batch_fn(key, step) drawing random (trajectory, time) windows from (B, T, n, d) positions:
    dict(window (batch, window, n, d), target (batch, n, d), particle_type (batch, n)). With a
    [`PushForward`][] schedule (and the run's `total_steps`) the batch also holds `future` (batch, U, n, d)
    ground-truth frames and the step's `unroll` count (see [`acceleration_loss`][]).

    **Arguments:**

    - `positions`: the trajectories, shape `(B, T, N, d)`.
    - `particle_type`: integer type ids, shape `(B, N)`.
    - `batch_size`: windows per batch (int >= 1).
    - `window`: input frames per window (int >= 2; default 6 = C + 1).
    - `pushforward`: a [`PushForward`][] schedule, or None (default) for plain one-step batches.
    - `total_steps`: the run's total steps (int >= 1), required with `pushforward` (None otherwise).

    **Returns:** `batch_fn(key, step=0) -> dict`.

    **Example:** `bf = giorom.window_sampler(pos, ptype, 4); batch = bf(jax.random.key(0))`
    """
    positions = jnp.asarray(check_positions("positions", positions, 4))
    particle_type = jnp.asarray(particle_type, jnp.int32)
    if particle_type.shape != positions.shape[:1] + positions.shape[2:3]:
        raise ValueError(f"`particle_type` must have shape (B, N) = {positions.shape[:1] + positions.shape[2:3]}, got "
                         f"{particle_type.shape}.")
    batch_size = check_int("batch_size", batch_size, minimum=1)
    window = check_int("window", window, minimum=2)
    if pushforward is not None:
        check_instance("pushforward", pushforward, PushForward, "giorom.PushForward")
    if total_steps is not None:
        check_int("total_steps", total_steps, minimum=1)
    T = positions.shape[1]
    extra = 0 if pushforward is None else pushforward.max_unroll
    if T < window + 1 + extra:
        raise ValueError(f"positions: trajectories of {T} frames are too short for windows of {window} frames plus "
                         f"{1 + extra} targets")
    if pushforward is not None and total_steps is None:
        raise ValueError("window_sampler: a pushforward schedule needs total_steps")

    def batch_fn(key, step=0):
        out = _sample_windows(positions, particle_type, key, batch_size, window, extra)
        if pushforward is not None:
            out["unroll"] = pushforward.sample(jax.random.fold_in(key, 1), step, total_steps)
        return out

    return batch_fn


def sparse_subsets(positions, n: int, copies: int = 1, reference_frame: int = 0, key=None):
    """Farthest-point subsets (copies per trajectory, different random start points) of the particles in
    frame `reference_frame`. Returns indices (B * copies, n) and the trajectory of each row.

    **Arguments:**

    - `positions`: the trajectories, shape `(B, T, N, d)`.
    - `n`: the subset size (1 <= n <= N).
    - `copies`: subsets per trajectory (int >= 1; default 1); the first starts at particle 0.
    - `reference_frame`: the frame whose positions are sampled (0 <= reference_frame < T; default 0).
    - `key`: a JAX PRNG key for the random start points of the extra copies (default None: `jax.random.key(0)`).

    **Returns:** `(indices, owner)`: (B * copies, n) particle indices and the (B * copies,) trajectory of each row.

    **Example:** `idx, owner = giorom.sparse_subsets(pos, 200, copies=2)`
    """
    positions = check_positions("positions", positions, 4)
    B, T, N, _ = positions.shape
    n = check_count("n", n, N, "the number of particles N")
    copies = check_int("copies", copies, minimum=1)
    check_int("reference_frame", reference_frame, minimum=0, maximum=T - 1)
    if key is not None:
        check_key("key", key)
    key = jax.random.key(0) if key is None else key
    out, owner = [], []
    for b in range(B):
        for c in range(copies):
            start = 0 if c == 0 else int(jax.random.randint(jax.random.fold_in(key, b * copies + c), (), 0, N))
            out.append(np.asarray(farthest_point_sampling(jnp.asarray(positions[b, reference_frame]), n, start)))
            owner.append(b)
    return np.stack(out), np.asarray(owner)


def _exp_decay_adam(learning_rate, log_rate):
    return optax.chain(optax.scale_by_adam(),
                       optax.scale_by_schedule(lambda count: -learning_rate * jnp.exp(log_rate * count)))


def default_optimizer(learning_rate: float = 1e-3, final_learning_rate: float = 1e-4, steps: int = 1000):
    """Adam with exponential decay from `learning_rate` to `final_learning_rate` over `steps` (GNS's schedule).

    Built with `optax.inject_hyperparams`, so the learning rate and decay rate are optimiser *state*: runs with
    different schedules compile to the same program (the time-budgeted [`train`][] reuses its timing run's
    executable from JAX's compilation cache). `opt_state.hyperparams` holds them.

    **Arguments:**

    - `learning_rate`: the initial learning rate (> 0; default 1e-3).
    - `final_learning_rate`: the learning rate reached after `steps` steps (> 0; default 1e-4).
    - `steps`: the number of steps of the decay (int >= 1; default 1000).

    **Returns:** an `optax.GradientTransformation`.

    **Example:** `opt = giorom.default_optimizer(1e-3, 1e-5, steps=20_000)`
    """
    check_positive("learning_rate", learning_rate)
    check_positive("final_learning_rate", final_learning_rate)
    steps = check_int("steps", steps, minimum=1)
    log_rate = float(np.log(final_learning_rate / learning_rate)) / steps
    return optax.inject_hyperparams(_exp_decay_adam, hyperparam_dtype=jnp.float32)(learning_rate=float(learning_rate),
                                                                                  log_rate=log_rate)


def _steps_for_budget(step_fn_time: float, budget: float) -> int:
    return max(1, int(budget / max(step_fn_time, 1e-6)))


def train(model, dataset, *, steps: int | None = 1000, time_budget: float | None = None, batch_size: int = 2,
          learning_rate: float = 1e-3, optimizer: optax.GradientTransformation | None = None,
          noise_std: float | None = None, copies: int = 4, pushforward: PushForward | None = None, key=None,
          **fit_kwargs) -> _train.TrainResult:
    """Train a [`GNS`][] or [`GIOROM`][] stepper on a `ParticleDataset` (all trajectories of equal shape) through
    [`sciml.train.fit`][] (checkpoints, resume, progress, metrics).

    Loss: MSE of normalised accelerations under GNS random-walk noise, with push-forward unrolls when a
    [`PushForward`][] schedule is given (`pushforward=giorom.PushForward()`: LagrangeBench's). GIOROM trains on
    farthest-point sparse subsets of the particles (`copies` per trajectory, chosen in frame 0).

    **Arguments:**

    - `model`: a `GNS` or `GIOROM`; `dataset`: a `ParticleDataset`.
    - `steps`: optimiser steps (ignored with `time_budget`).
    - `time_budget`: seconds of wall time in total (compilation and a 12-step timing run included); the number of
      steps is set from the measured step time (with JAX's persistent compilation cache enabled the main run
      reuses the timing run's executable: the default optimiser's schedule is state).
    - `batch_size`: windows per step.
    - `learning_rate`: initial learning rate of the default optimiser,
      [`default_optimizer`][]`(learning_rate, 1e-4, steps)` (decay to 1e-4 over the run).
    - `optimizer`: any optax transformation instead (then `learning_rate` is unused).
    - `noise_std`: random-walk noise std (default the model's); `copies`; `pushforward`; `key`.
    - `**fit_kwargs`: passed to `sciml.train.fit` (`log_every` (default 50), `progress` (default False),
      `steps_per_call` (default with `steps`: `min(50, steps, log_every)` steps per compiled call, about 2x faster
      on a CPU core than one call per step; `time_limit` is then checked between calls; 1 with `time_budget`),
      `checkpoint_dir`, `checkpoint_every`, `resume`, `metrics_path`, `time_limit`, `mesh`, `callback`,
      `description`); any other name raises a `TypeError` before anything compiles.

    **Returns:** the `sciml.train.TrainResult` (`.model`, `.losses`, `.history`, `.step`).

    **Example:** `model = giorom.train(model, ds, steps=2000, learning_rate=1e-3).model`
    """
    fit_kwargs = _fit_options("giorom.train", fit_kwargs)
    if steps is None and time_budget is None:
        raise ValueError("`steps`: give a step count or a `time_budget`.")
    if time_budget is None:
        steps = check_int("steps", steps, minimum=1)
    else:
        check_positive("time_budget", time_budget)
    check_int("batch_size", batch_size, minimum=1)
    check_positive("learning_rate", learning_rate)
    check_instance("model", model, (GIOROM, GNS), "giorom.GIOROM or giorom.GNS")
    check_dataset("dataset", dataset)
    check_int("copies", copies, minimum=1)
    if noise_std is not None:
        check_real("noise_std", noise_std, minimum=0.0)
    if pushforward is not None:
        check_instance("pushforward", pushforward, PushForward, "giorom.PushForward")
    if optimizer is not None and not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"`optimizer` must be an optax.GradientTransformation, got {type(optimizer).__name__}.")
    if key is not None:
        check_key("key", key)
    key = jax.random.key(0) if key is None else key
    pos, ptype = dataset.stacked()
    check_positions("dataset.positions", pos, 4, model.norm.dim)
    if isinstance(model, GIOROM) and model.n_sample > pos.shape[2]:
        raise ValueError(f"`dataset` has {pos.shape[2]} particles per trajectory, fewer than the model's "
                         f"n_sample={model.n_sample}.")
    if isinstance(model, GIOROM):
        idx, owner = sparse_subsets(pos, model.n_sample, copies, key=jax.random.fold_in(key, 1))
        pos = np.stack([pos[o][:, i] for o, i in zip(owner, idx)])
        ptype = np.stack([ptype[o][i] for o, i in zip(owner, idx)])
    pos = pos.astype(np.float32)
    loss_fn = lambda m, b, k: acceleration_loss(m, b, k, noise_std)  # noqa: E731
    fit_kwargs.setdefault("log_every", 50)
    fit_kwargs.setdefault("progress", False)
    if time_budget is None:
        # chunked steps (train.fit's steps_per_call): measured on one CPU core, GIOROM 68 -> 34 ms and GNS 415 ->
        # 187 ms per step, same losses. A time budget keeps one call per step, as its timing probe does
        # (at most `log_every`, so logging and callbacks keep their interval)
        le = fit_kwargs["log_every"]
        le = le if isinstance(le, (int, np.integer)) and not isinstance(le, bool) and le >= 1 else 50  # fit validates it
        fit_kwargs.setdefault("steps_per_call", min(50, steps, int(le)))

    if time_budget is not None:
        # the budget is total wall time: this timing run and the main run's compilation count against it.  Both
        # runs use the same optimiser code (the default schedule lives in the optimiser state), so with JAX's
        # persistent compilation cache enabled the main run reuses the timing run's executable.
        t_start = time.perf_counter()
        stamps = []
        probe = window_sampler(pos, ptype, batch_size, pushforward=pushforward, total_steps=12)
        probe_opt = default_optimizer(learning_rate, learning_rate, 12) if optimizer is None else optimizer
        _train.fit(loss_fn, model, probe_opt, probe, steps=12, key=key, log_every=1, progress=False,
                   callback=lambda s, m, r: stamps.append(time.perf_counter()))
        per_step = (stamps[-1] - stamps[3]) / (len(stamps) - 4)
        compile_s = max(stamps[0] - t_start - per_step, 0.0)  # the first step includes compilation
        main_compile = 0.1 * compile_s if jax.config.jax_compilation_cache_dir else compile_s
        remaining = time_budget - (time.perf_counter() - t_start)
        # 5 % margin so the run normally ends by its step count (the decay schedule completes) and the hard
        # stop below only catches an optimistic estimate
        steps = _steps_for_budget(per_step, 0.95 * (remaining - main_compile))
        fit_kwargs.setdefault("time_limit", max(remaining, 0.0))  # a budget spent on compilation: one step
    opt = default_optimizer(learning_rate, 1e-4, steps) if optimizer is None else optimizer
    batch_fn = window_sampler(pos, ptype, batch_size, pushforward=pushforward, total_steps=steps)
    return _train.fit(loss_fn, model, opt, batch_fn, steps=steps, key=key, **fit_kwargs)


def finetune(model: GIOROM, dataset, *, steps: int = 200, horizon: int = 3, batch_size: int = 2,
             learning_rate: float = 1e-4, optimizer: optax.GradientTransformation | None = None, copies: int = 1,
             train_stepper: bool = True, key=None, **fit_kwargs) -> _train.TrainResult:
    """Joint fine-tune of a [`GIOROM`][] stepper and its query decoder on the *dense* particles (spec §5.5: the
    reference trains them separately, so the decoder only ever sees ground-truth sparse inputs).

    For random (subset, start) pairs the stepper rolls `horizon` steps from the window's sparse farthest-point
    nodes (with gradient through the rollout); every predicted frame is decoded to all N particles from the nodes'
    displacements relative to the window's last frame -- exactly what [`rollout`][] does from that window (its
    k-nearest neighbourhoods are found under jit) -- and the loss is the mean squared dense position error divided
    by the acceleration std (a one-step error is an acceleration error). Adam at `learning_rate` (or any optax
    `optimizer`), through `sciml.train.fit` (`**fit_kwargs`: checkpoints, resume, `progress` (default False),
    `log_every` (default 50), metrics). With `train_stepper=False` only the decoder's kernel learns, on the
    stepper's own predictions instead of ground-truth sparse positions.

    **Arguments:**

    - `model`: a [`GIOROM`][] whose query decoder has a learned kernel.
    - `dataset`: a [`ParticleDataset`][] whose trajectories share T and N (T >= 6 + `horizon`).
    - `steps`: optimiser steps (int >= 1; default 200).
    - `horizon`: rollout steps per sample, with gradient through them (int >= 1; default 3).
    - `batch_size`: (subset, start) pairs per step (int >= 1; default 2).
    - `learning_rate`: Adam's learning rate (> 0; default 1e-4); ignored when `optimizer` is given.
    - `optimizer`: any optax transformation (default None: `optax.adam(learning_rate)`).
    - `copies`: farthest-point subsets per trajectory (int >= 1; default 1).
    - `train_stepper`: if True (default) the stepper and the decoder learn; False trains the decoder's kernel only.
    - `key`: a JAX PRNG key for the subsets' start points and the batches (default None: `jax.random.key(0)`).
    - `**fit_kwargs`: passed to `sciml.train.fit` (above).

    **Returns:** the `sciml.train.TrainResult` (`.model` the fine-tuned model).

    **Example:** `model = giorom.finetune(giorom.train(model, ds, steps=2000).model, ds, steps=300).model`
    """
    if not isinstance(model, GIOROM):
        raise TypeError(f"model: finetune needs a GIOROM model, got {type(model).__name__}")
    if model.query_decoder.mlp is None:
        raise ValueError("model: its query decoder has no learned kernel to fine-tune (learned=False)")
    check_dataset("dataset", dataset)
    fit_kwargs = _fit_options("giorom.finetune", fit_kwargs)
    steps = check_int("steps", steps, minimum=1)
    horizon = check_int("horizon", horizon, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    check_positive("learning_rate", learning_rate)
    check_int("copies", copies, minimum=1)
    if key is not None:
        check_key("key", key)
    key = jax.random.key(0) if key is None else key
    pos, ptype = dataset.stacked()
    T, window = pos.shape[1], C_WINDOW + 1
    if horizon < 1 or T < window + horizon:
        raise ValueError(f"horizon: needs 1 <= horizon <= T - {window} (T = {T}), got {horizon}")
    subsets, owner = sparse_subsets(pos, model.n_sample, copies, reference_frame=C_WINDOW, key=jax.random.fold_in(key, 1))
    pos_j = jnp.asarray(pos, jnp.float32)
    ptype_j = jnp.asarray(ptype, jnp.int32)
    subsets_j, owner_j = jnp.asarray(subsets), jnp.asarray(owner)
    n_sub, k = subsets_j.shape[0], min(model.query_decoder.k, model.n_sample)

    def batch_fn(kk, step=0):
        kb, kt = jax.random.split(kk)
        return {"row": jax.random.randint(kb, (batch_size,), 0, n_sub),
                "start": jax.random.randint(kt, (batch_size,), 0, T - window - horizon + 1)}

    def loss_fn(m, batch, kk):
        _, ast = m.norm.acc_scale(jnp.float32)
        stepper = m if train_stepper else _stop_gradient(m)

        def one(row, start):
            traj, sub = pos_j[owner_j[row]], subsets_j[row]
            seq = jax.lax.dynamic_slice_in_dim(traj, start, window + horizon, 0)
            ref = seq[window - 1]
            ref_s = ref[sub]
            _, nb = jax.lax.top_k(-jnp.sum((ref[:, None, :] - ref_s[None]) ** 2, -1), k)  # (N, k) nearest nodes
            pt = ptype_j[owner_j[row]][sub]

            xs = rollout_window(stepper, seq[:window][:, sub], pt, horizon)  # (horizon, n, d), with gradient
            coef = m.query_decoder.coefficients(ref_s, ref, nb)
            dense = ref + jnp.einsum("qk,hqkd->hqd", coef, (xs - ref_s)[:, nb])
            return jnp.mean(((dense - seq[window:]) / ast) ** 2)

        loss = jnp.mean(jax.vmap(one)(batch["row"], batch["start"]))
        return loss, {"dense_mse": loss}

    fit_kwargs.setdefault("log_every", 50)
    fit_kwargs.setdefault("progress", False)
    opt = optax.adam(learning_rate) if optimizer is None else optimizer
    return _train.fit(loss_fn, model, opt, batch_fn, steps=steps, key=key, **fit_kwargs)


def train_decoder(decoder: KernelDecoder, dataset, subsets, owner, *, reference_frame: int = C_WINDOW, steps: int = 300,
                  learning_rate: float = 3e-3, optimizer: optax.GradientTransformation | None = None,
                  batch_frames: int = 8, key=None) -> _train.TrainResult:
    """Fit the learned kernel of a query decoder on ground-truth sparse subsets: for random frames,
    decode all particles from the subset's displacements relative to `reference_frame`, MSE loss; Adam at
    `learning_rate` (or any optax `optimizer`) through `sciml.train.fit`.

    **Returns:** the `sciml.train.TrainResult` (`.model` the decoder; zero steps for a decoder without a learned
    kernel).

    **Arguments:**

    - `decoder`: a [`KernelDecoder`][].
    - `dataset`: a [`ParticleDataset`][] whose trajectories share T and N.
    - `subsets`: (R, n) integer particle indices of the sparse subsets (as from [`sparse_subsets`][]).
    - `owner`: (R,) integer trajectory index of each row of `subsets`.
    - `reference_frame`: the rest frame the displacements are taken from (0 <= reference_frame < T - 1;
      default 5, the last frame of the first input window).
    - `steps`: optimiser steps (int >= 1; default 300).
    - `learning_rate`: Adam's learning rate (> 0; default 3e-3); ignored when `optimizer` is given.
    - `optimizer`: any optax transformation (default None: `optax.adam(learning_rate)`).
    - `batch_frames`: random later frames decoded per step (int >= 1; default 8).
    - `key`: a JAX PRNG key for the frame and subset draws (default None: `jax.random.key(0)`).

    **Example:** `dec = giorom.train_decoder(model.query_decoder, ds, *giorom.sparse_subsets(pos, 200)).model`
    """
    check_instance("decoder", decoder, KernelDecoder, "giorom.KernelDecoder")
    check_dataset("dataset", dataset)
    steps = check_int("steps", steps, minimum=1)
    check_positive("learning_rate", learning_rate)
    check_int("batch_frames", batch_frames, minimum=1)
    if key is not None:
        check_key("key", key)
    if decoder.mlp is None:
        return _train.TrainResult(decoder, None, [], np.zeros((0,)), 0)
    key = jax.random.key(0) if key is None else key
    pos, _ = dataset.stacked()
    pos = jnp.asarray(pos, jnp.float32)
    B, T, N = pos.shape[:3]
    check_int("reference_frame", reference_frame, minimum=0, maximum=T - 2)
    subsets_np, owner_np = np.asarray(subsets), np.asarray(owner)
    if subsets_np.ndim != 2 or subsets_np.size == 0 or subsets_np.dtype.kind not in "iu" or subsets_np.min() < 0 or \
            subsets_np.max() >= N:
        raise ValueError(f"`subsets` must be a (R, n) integer array of particle indices in [0, {N}), got shape "
                         f"{subsets_np.shape}, dtype {subsets_np.dtype}.")
    if owner_np.shape != subsets_np.shape[:1] or owner_np.dtype.kind not in "iu" or owner_np.min() < 0 or \
            owner_np.max() >= B:
        raise ValueError(f"`owner` must be ({subsets_np.shape[0]},) trajectory indices in [0, {B}), got shape "
                         f"{owner_np.shape}.")
    nbr = jnp.stack([decoder.neighbors(np.asarray(pos[o, reference_frame])[i], np.asarray(pos[o, reference_frame]))
                     for o, i in zip(owner, subsets)])
    subsets, owner = jnp.asarray(subsets), jnp.asarray(owner)

    def loss_fn(dec, k):
        kb, kt = jax.random.split(k)
        r = jax.random.randint(kb, (), 0, subsets.shape[0])
        traj = pos[owner[r]]
        ref = traj[reference_frame]
        sub = subsets[r]
        coef = dec.coefficients(ref[sub], ref, nbr[r])
        t = jax.random.randint(kt, (batch_frames,), reference_frame + 1, T)
        disp = traj[t][:, sub] - ref[sub]
        pred = ref + jnp.einsum("qk,bqkd->bqd", coef, disp[:, nbr[r]])
        return jnp.mean(jnp.sum((pred - traj[t]) ** 2, -1))

    opt = optax.adam(learning_rate) if optimizer is None else optimizer
    return _train.fit(lambda dec, batch, k: loss_fn(dec, k), decoder, opt, None, steps=steps, key=key, log_every=50,
                      progress=False)
