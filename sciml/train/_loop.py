"""The one training loop of sciml: optax + jitted step + tqdm + JSONL metrics + orbax checkpoints."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import time
from typing import Any, Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax


class TrainingError(RuntimeError):
    """Raised when the loss becomes NaN/Inf. `.model` holds the last good model, `.step` the failing step,
    `.checkpoint_step` the last good checkpoint's step (or `None`)."""

    def __init__(self, message, model=None, step=None, checkpoint_step=None):
        super().__init__(message)
        self.model = model
        self.step = step
        self.checkpoint_step = checkpoint_step


@dataclasses.dataclass
class TrainResult:
    """What `fit` returns: the trained `model`, `opt_state`, `history` (logged dicts), `losses` (every step's
    loss, as a NumPy array) and the final `step`."""

    model: Any
    opt_state: Any
    history: list
    losses: np.ndarray
    step: int


def array_batches(arrays, batch_size: int) -> Callable:
    """A deterministic `batch_fn(key, step)` drawing random minibatches (without replacement) from arrays
    whose leading axes have equal length.

    **Example:** `batch_fn = train.array_batches({"x": X, "y": Y}, 32)`
    """
    leaves = jax.tree.leaves(arrays)
    if not leaves:
        raise ValueError("`arrays` must contain at least one array.")
    n = leaves[0].shape[0]
    for l in leaves:
        if l.shape[0] != n:
            raise ValueError(f"all arrays must share the leading dimension {n}; got {l.shape[0]}.")
    if not 1 <= batch_size <= n:
        raise ValueError(f"`batch_size` must be in [1, {n}], got {batch_size}.")
    arrays = jax.tree.map(jnp.asarray, arrays)

    @jax.jit
    def batch_fn(key, step):
        idx = jax.random.permutation(key, n)[:batch_size]
        return jax.tree.map(lambda a: a[idx], arrays)

    return batch_fn


def _split_loss(out):
    if isinstance(out, tuple):
        if len(out) != 2 or not isinstance(out[1], dict):
            raise TypeError("`loss_fn` must return a scalar or (scalar, dict_of_metrics).")
        return out
    return out, {}


class _Checkpointer:
    def __init__(self, directory, every, max_to_keep=3):
        import orbax.checkpoint as ocp

        self.ocp = ocp
        self.dir = pathlib.Path(directory).absolute()
        self.every = every
        self.mgr = ocp.CheckpointManager(
            self.dir, options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
        )

    def latest(self):
        return self.mgr.latest_step()

    def save(self, step, leaves, meta):
        ocp = self.ocp
        state = {f"leaf{i:05d}": np.asarray(l) for i, l in enumerate(leaves)}
        self.mgr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
                      force=True)

    def restore(self, step, leaves):
        ocp = self.ocp
        target = {f"leaf{i:05d}": np.asarray(l) for i, l in enumerate(leaves)}
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        out = self.mgr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract),
                                                              meta=ocp.args.JsonRestore()))
        st = out["state"]
        return [jnp.asarray(st[f"leaf{i:05d}"], dtype=jnp.asarray(l).dtype) for i, l in enumerate(leaves)], out["meta"]

    def wait(self):
        self.mgr.wait_until_finished()

    def close(self):
        self.mgr.wait_until_finished()
        self.mgr.close()


def fit(
    loss_fn: Callable,
    model,
    optimizer: optax.GradientTransformation,
    data=None,
    *,
    steps: int = 1000,
    key=None,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 0,
    resume: bool = True,
    metrics_path: str | os.PathLike | None = None,
    log_every: int = 50,
    progress: bool = True,
    mesh=None,
    callback: Callable | None = None,
    filter_spec=eqx.is_inexact_array,
    description: str = "train",
    time_limit: float | None = None,
) -> TrainResult:
    """Train `model` by minimising `loss_fn` with an optax optimiser: the one loop every sciml module uses.

    **Arguments:**

    - `loss_fn`: `loss_fn(model, batch, key) -> loss` or `(loss, metrics_dict)`; jitted inside.
    - `model`: an Equinox module (any pytree). Leaves selected by `filter_spec` are trained.
    - `optimizer`: an optax `GradientTransformation`. `update` receives `value=`, `grad=` and `value_fn=`
      as extra arguments, so `optax.lbfgs()` works unchanged.
    - `data`: `None`, a fixed pytree batch, or `batch_fn(key, step) -> batch` (deterministic in its arguments,
      so resuming reproduces the uninterrupted run).
    - `steps`: total number of optimiser steps (a resumed run continues up to this count).
    - `key`: PRNG key; step `s` uses `fold_in(key, s)` (data and loss keys are split from it).
    - `checkpoint_dir`, `checkpoint_every`: orbax checkpoints of params + optimiser state + step every so many
      steps and at the end; with `resume=True` an existing checkpoint is restored first.
    - `metrics_path`: JSONL file; one line per `log_every` steps.
    - `progress`: show a tqdm progress bar.
    - `mesh`: a `jax.sharding.Mesh` with a `"data"` axis: batches are sharded along it and parameters
      replicated (data-parallel; results equal a single device up to rounding).
    - `callback`: `callback(step, model, metrics) -> dict | None`, called every `log_every` steps on the host
      (e.g. evaluation); returned entries are logged, and `{"stop": True}` ends training after this step.
    - `filter_spec`: which leaves are trainable (default: floating-point arrays).
    - `time_limit`: optional wall-clock budget in seconds; training stops after the first step that ends past
      it (a final checkpoint is written if checkpointing is on). `TrainResult.step` tells how far it got.

    **Returns:** a [`TrainResult`][sciml.train.TrainResult].

    **Raises:** [`TrainingError`][sciml.train.TrainingError] if the loss becomes NaN/Inf: training stops, the
    error carries the last good model, and no checkpoint of the bad state is written.

    **Example:**

    ```python
    res = train.fit(lambda m, b, k: jnp.mean((jax.vmap(m)(b["x"]) - b["y"]) ** 2), model,
                    optax.adam(1e-3), train.array_batches({"x": X, "y": Y}, 64), steps=2000, key=jax.random.key(0))
    res.model, res.losses[-1]
    ```
    """
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"`optimizer` must be an optax GradientTransformation, got {type(optimizer).__name__}.")
    steps = int(steps)
    if steps < 0:
        raise ValueError(f"`steps` must be >= 0, got {steps}.")
    if checkpoint_every and checkpoint_dir is None:
        raise ValueError("`checkpoint_every` needs a `checkpoint_dir`.")
    key = jax.random.key(0) if key is None else key
    opt = optax.with_extra_args_support(optimizer)
    params, static = eqx.partition(model, filter_spec)
    opt_state = opt.init(params)
    start = 0

    ckpt = _Checkpointer(checkpoint_dir, checkpoint_every) if checkpoint_dir is not None else None
    treedef = jax.tree.structure((params, opt_state))
    if ckpt is not None and resume and ckpt.latest() is not None:
        leaves, meta = ckpt.restore(ckpt.latest(), jax.tree.leaves((params, opt_state)))
        params, opt_state = jax.tree.unflatten(treedef, leaves)
        start = int(meta["step"])

    if mesh is not None:
        from ..parallel import replicate, shard_batch

        params = replicate(params, mesh)
        opt_state = replicate(opt_state, mesh)

    def _loss(p, batch, k):
        return _split_loss(loss_fn(eqx.combine(p, static), batch, k))

    @eqx.filter_jit
    def step_fn(params, opt_state, batch, k):
        (loss, metrics), grads = jax.value_and_grad(_loss, has_aux=True)(params, batch, k)
        updates, new_state = opt.update(grads, opt_state, params, value=loss, grad=grads,
                                        value_fn=lambda p: _loss(p, batch, k)[0])
        new_params = eqx.apply_updates(params, updates)
        return new_params, new_state, loss, metrics

    if callable(data):
        batch_fn = data
    else:
        batch_fn = lambda k, s: data  # noqa: E731

    metrics_file = None
    if metrics_path is not None:
        pathlib.Path(metrics_path).parent.mkdir(parents=True, exist_ok=True)
        metrics_file = open(metrics_path, "a")

    bar = None
    if progress and steps > start:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, initial=start, desc=description, dynamic_ncols=True, leave=False)

    history, losses = [], []
    t0 = time.perf_counter()
    last_ckpt = ckpt.latest() if ckpt is not None else None
    try:
        for s in range(start, steps):
            k = jax.random.fold_in(key, s)
            kd, kl = jax.random.split(k)
            batch = batch_fn(kd, s)
            if mesh is not None:
                batch = shard_batch(batch, mesh)
            new_params, new_state, loss, metrics = step_fn(params, opt_state, batch, kl)
            lval = float(loss)
            if not np.isfinite(lval):
                msg = (f"loss became {lval} at step {s}; training stopped. The returned error carries the model of "
                       f"step {s}; " + (f"the last good checkpoint (step {last_ckpt}) in {ckpt.dir} is intact."
                                        if last_ckpt is not None else "no checkpoint was written."))
                raise TrainingError(msg, model=eqx.combine(params, static), step=s, checkpoint_step=last_ckpt)
            params, opt_state = new_params, new_state
            losses.append(lval)
            done = s + 1
            if bar is not None:
                bar.update(1)
            stop_requested = False
            if done % max(log_every, 1) == 0 or done == steps:
                rec = {"step": done, "loss": lval, "time": time.perf_counter() - t0}
                rec.update({k_: float(v) for k_, v in metrics.items()})
                if callback is not None:
                    extra = callback(done, eqx.combine(params, static), rec)
                    if extra:
                        extra = dict(extra)
                        stop_requested = bool(extra.pop("stop", False))
                        rec.update({k_: (float(v) if np.ndim(v) == 0 else v) for k_, v in extra.items()})
                history.append(rec)
                if bar is not None:
                    bar.set_postfix(loss=f"{lval:.3e}")
                if metrics_file is not None:
                    metrics_file.write(json.dumps(rec) + "\n")
                    metrics_file.flush()
            out_of_time = (time_limit is not None and time.perf_counter() - t0 > time_limit) or stop_requested
            if ckpt is not None and ((checkpoint_every and done % checkpoint_every == 0) or done == steps
                                     or out_of_time):
                ckpt.save(done, jax.tree.leaves((params, opt_state)), {"step": done})
                ckpt.wait()
                last_ckpt = done
            if out_of_time:
                break
    finally:
        if bar is not None:
            bar.close()
        if metrics_file is not None:
            metrics_file.close()
        if ckpt is not None:
            ckpt.close()
    return TrainResult(eqx.combine(params, static), opt_state, history, np.asarray(losses), start + len(losses))


def restore(model, optimizer: optax.GradientTransformation, checkpoint_dir, step: int | None = None,
            filter_spec=eqx.is_inexact_array):
    """Restore `(model, opt_state, step)` from a `fit` checkpoint directory onto the structure of `model`."""
    opt = optax.with_extra_args_support(optimizer)
    params, static = eqx.partition(model, filter_spec)
    opt_state = opt.init(params)
    ck = _Checkpointer(checkpoint_dir, 0)
    try:
        step = ck.latest() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint in {checkpoint_dir}")
        leaves, meta = ck.restore(step, jax.tree.leaves((params, opt_state)))
    finally:
        ck.close()
    params, opt_state = jax.tree.unflatten(jax.tree.structure((params, opt_state)), leaves)
    return eqx.combine(params, static), opt_state, int(meta["step"])
