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

from .._errors import check_callable, check_int, check_real
from ._checkpoint import Checkpointer, _say
from ._structure import all_finite


class TrainingError(RuntimeError):
    """Raised by [`fit`][sciml.train.fit] when the loss becomes NaN/Inf.

    **Arguments:**

    - `message`: the error text (what went wrong and what to try).
    - `model`: the last good model (before the failing step), also `.model`; default `None`.
    - `step`: the failing step, also `.step`; default `None`.
    - `checkpoint_step`: the last good checkpoint's step, also `.checkpoint_step`; `None` (default) when there
      is none.
    """

    def __init__(self, message, model=None, step=None, checkpoint_step=None):
        super().__init__(message)
        self.model = model
        self.step = step
        self.checkpoint_step = checkpoint_step


@dataclasses.dataclass
class TrainResult:
    """What `fit` returns: the trained model, optimiser state, logs and losses.

    **Fields:**

    - `model`: the trained model (a pytree, normally an Equinox module).
    - `opt_state`: the optax optimiser state after the last step.
    - `history`: the logged dicts (one per `log_every` steps, with `step`, `loss`, `time` and the loss's metrics).
    - `losses`: the loss of every step this call ran, a float64 NumPy array (on resume, the steps after the
      restored checkpoint only).
    - `step`: the number of steps done in total.

    Methods return a subclass to add their own fields and methods (e.g. `predict`); the subclass is a
    dataclass whose extra fields come after these five, and
    [`from_result`][sciml.train.TrainResult.from_result] builds it from `fit`'s result:

    ```python
    @dataclasses.dataclass
    class MyResult(train.TrainResult):
        scale: float = 1.0

        def predict(self, x):
            return self.scale * jax.vmap(self.model)(x)

    res = MyResult.from_result(train.fit(...), scale=2.0)
    ```
    """

    model: Any
    opt_state: Any
    history: list
    losses: np.ndarray
    step: int

    @classmethod
    def from_result(cls, result: "TrainResult", **fields):
        """This class built from another result's five `TrainResult` fields plus extra fields.

        **Arguments:**

        - `result`: a `TrainResult` (e.g. what `fit` returned).
        - `**fields`: the subclass's extra fields; they may also override `model`, `history`, ...

        **Returns:** an instance of `cls`.

        **Raises:** `TypeError` when `result` is not a `TrainResult`.
        """
        if not isinstance(result, TrainResult):
            raise TypeError(f"`result` must be a TrainResult, got {type(result).__name__}.")
        base = {f.name: getattr(result, f.name) for f in dataclasses.fields(TrainResult)}
        base.update(fields)
        return cls(**base)


def array_batches(arrays, batch_size: int) -> Callable:
    """A deterministic, jax-traceable `batch_fn(key, step)` drawing random minibatches (without replacement).

    **Arguments:**

    - `arrays`: a pytree of arrays (e.g. a dict `{"x": X, "y": Y}`) whose leading axes have one length `n`.
    - `batch_size`: rows per batch, an integer in `[1, n]`.

    **Returns:** a jitted `batch_fn(key, step)` returning a pytree like `arrays` with `batch_size` rows drawn
    uniformly without replacement (the same key gives the same batch, so resumed runs are bitwise equal).

    **Raises:** `ValueError` for an empty pytree, unequal leading axes or `batch_size` outside `[1, n]`.

    **Example:** `batch_fn = train.array_batches({"x": X, "y": Y}, 32)`
    """
    leaves = jax.tree.leaves(arrays)
    if not leaves:
        raise ValueError("`arrays` must contain at least one array.")
    n = leaves[0].shape[0]
    for l in leaves:
        if l.shape[0] != n:
            raise ValueError(f"all arrays must share the leading dimension {n}; got {l.shape[0]}.")
    batch_size = check_int("batch_size", batch_size, minimum=1)
    if batch_size > n:
        raise ValueError(f"`batch_size` must be in [1, {n}], got {batch_size}.")
    arrays = jax.tree.map(jnp.asarray, arrays)

    @jax.jit
    def batch_fn(key, step):
        # the `batch_size` largest of n iid uniforms: a uniformly random subset without replacement (a top-k is
        # about 4x cheaper than a full permutation, which dominated small-model steps)
        idx = jax.lax.top_k(jax.random.uniform(key, (n,)), batch_size)[1]
        return jax.tree.map(lambda a: a[idx], arrays)

    return batch_fn


def _split_loss(out):
    if isinstance(out, tuple):
        if len(out) != 2 or not isinstance(out[1], dict):
            raise TypeError("`loss_fn` must return a scalar or (scalar, dict_of_metrics).")
        return out
    return out, {}


_RESUME = {True: "auto", False: "never", "auto": "auto", "never": "never", "must": "must"}


def _batch_sharder(mesh):
    from jax.sharding import NamedSharding, PartitionSpec as P

    def constrain(batch):
        def one(x):
            if not hasattr(x, "ndim") or x.ndim == 0:
                return x
            return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, P("data")))

        return jax.tree.map(one, batch)

    return constrain


def _check_traceable_batches(batch_fn, key, mesh):
    """`steps_per_call > 1` calls `batch_fn` inside a compiled loop: check it traces (with a traced step)."""
    try:
        shapes = jax.eval_shape(batch_fn, key, jax.ShapeDtypeStruct((), jnp.int32))
    except Exception as e:  # noqa: BLE001 - reported as a clear error
        raise TypeError(
            "`data`: with `steps_per_call` > 1 the batch function is called inside a compiled loop with a traced "
            f"`step`, so it must be jax-traceable; tracing it failed with {type(e).__name__}: "
            f"{str(e).splitlines()[0][:200] if str(e) else ''}. Use `steps_per_call=1` (host-side batches) or "
            "write `batch_fn` with jax.numpy only (`train.array_batches` is traceable)."
        ) from None
    if mesh is not None:
        n = mesh.shape["data"]
        for leaf in jax.tree.leaves(shapes):
            if leaf.ndim and leaf.shape[0] % n:
                raise ValueError(f"`data`: batch leading dimension {leaf.shape[0]} is not divisible by the {n} "
                                 "devices of mesh axis 'data'.")


def _prepare_metrics_file(metrics_path, start, checkpoint_dir):
    """A fresh JSONL file, or when resuming from `start` the old lines up to `start` plus a resume line."""
    path = pathlib.Path(metrics_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = []
    if start > 0 and path.exists():
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and isinstance(rec.get("step"), (int, float)) and rec["step"] <= start:
                kept.append(line)
    f = open(path, "w")
    for line in kept:
        f.write(line + "\n")
    if start > 0:
        f.write(json.dumps({"step": start, "event": "resumed", "checkpoint_dir": str(checkpoint_dir)}) + "\n")
    f.flush()
    return f


def _strong_types(tree):
    """`tree` with every weak-typed array leaf converted to the same dtype, not weak (no other change)."""
    return jax.tree.map(lambda x: jax.lax.convert_element_type(x, x.dtype)
                        if isinstance(x, jax.Array) and x.weak_type else x, tree)


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
    resume: bool | str = "auto",
    metrics_path: str | os.PathLike | None = None,
    log_every: int = 50,
    progress: bool = True,
    mesh=None,
    callback: Callable | None = None,
    filter_spec=eqx.is_inexact_array,
    description: str = "train",
    time_limit: float | None = None,
    steps_per_call: int = 1,
) -> TrainResult:
    """Train `model` by minimising `loss_fn` with an optax optimiser: the one loop every sciml module uses.

    **Arguments:**

    - `loss_fn`: `loss_fn(model, batch, key) -> loss` or `(loss, metrics_dict)`; jitted inside.
    - `model`: an Equinox module (any pytree). Leaves selected by `filter_spec` are trained.
    - `optimizer`: an optax `GradientTransformation`. `update` receives `value=`, `grad=` and `value_fn=`
      as extra arguments, so `optax.lbfgs()` works unchanged.
    - `data`: `None`, a fixed pytree batch, or `batch_fn(key, step) -> batch` (deterministic in its arguments,
      so resuming reproduces the uninterrupted run). With `steps_per_call > 1` it is called inside a compiled
      loop with a traced `step`, so it must be jax-traceable (`train.array_batches` and fixed batches are).
    - `steps`: total number of optimiser steps (a resumed run continues up to this count).
    - `key`: PRNG key; step `s` uses `fold_in(key, s)` (data and loss keys are split from it).
    - `checkpoint_dir`, `checkpoint_every`: orbax checkpoints of params + optimiser state + step every so many
      steps and at the end (also when stopped early). Each records its leaf paths, shapes and dtypes; only
      finite states are written (parameters finite, optimiser state free of NaN).
    - `resume`: `"auto"` (default; `True` is an alias) restores the newest intact checkpoint of
      `checkpoint_dir` if there is one, skipping unreadable ones with a message; `"must"` requires one;
      `"never"` (`False`) starts from step 0 and removes the directory's old checkpoints. A checkpoint of a
      different model or optimiser (leaf paths, shapes or dtypes differ) raises a `ValueError` naming the
      difference. Resuming prints "resuming from step N".
    - `metrics_path`: JSONL file, one line per `log_every` steps. It starts fresh unless the run resumes;
      then the lines up to the restored step are kept and a `{"event": "resumed"}` line is added.
    - `log_every`: logging (and `callback`) interval in steps. The losses are fetched from the device only at
      these points, so the loop does not wait for each step to finish.
    - `progress`: show a tqdm progress bar.
    - `mesh`: a `jax.sharding.Mesh` with a `"data"` axis: batches are sharded along it and parameters
      replicated (data-parallel; results equal a single device up to rounding).
    - `callback`: `callback(step, model, metrics) -> dict | None`, called at each logging point on the host
      (e.g. evaluation); returned entries are logged, and `{"stop": True}` ends training there (a checkpoint
      is written if checkpointing is on). This is the way to stop a run early from outside the loss.
    - `filter_spec`: which leaves are trainable (default: floating-point arrays).
    - `description`: label of the progress bar and of messages.
    - `time_limit`: optional wall-clock budget in seconds; training stops at the first step (chunk) boundary
      past it (a final checkpoint is written if checkpointing is on). `TrainResult.step` tells how far it got.
      The clock starts before the first step, so compiling it counts: seconds on a CPU, but on an H200 a 35 s
      budget gave a 10-layer graph network on 10k particles only 6 steps. For a fixed amount of work, set `steps`.
    - `steps_per_call`: run this many optimiser steps per host call inside one compiled `lax.while_loop`
      (default 1: one call per step). Results equal `steps_per_call=1` up to rounding; small models train
      several times faster. Logging, callbacks, the stop and time checks happen at chunk boundaries (every
      `steps_per_call` steps, and at checkpoint steps); a log record is written at each boundary that passes a
      multiple of `log_every`, so choose `log_every` a multiple of `steps_per_call` for the same log steps.

    **Returns:** a [`TrainResult`][sciml.train.TrainResult].

    **Raises:** [`TrainingError`][sciml.train.TrainingError] if the loss becomes NaN/Inf or an update makes the
    parameters (or optimiser state) non-finite: training stops, the error carries the last good model, and no
    checkpoint of the bad state is written.

    **Example:**

    ```python
    res = train.fit(lambda m, b, k: jnp.mean((jax.vmap(m)(b["x"]) - b["y"]) ** 2), model,
                    optax.adam(1e-3), train.array_batches({"x": X, "y": Y}, 64), steps=2000, key=jax.random.key(0),
                    steps_per_call=50)
    res.model, res.losses[-1]
    ```
    """
    check_callable("loss_fn", loss_fn)
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"`optimizer` must be an optax GradientTransformation, got {type(optimizer).__name__}.")
    steps = check_int("steps", steps, minimum=0)
    checkpoint_every = check_int("checkpoint_every", checkpoint_every, minimum=0)
    log_every = max(check_int("log_every", log_every, minimum=0), 1)
    k_call = check_int("steps_per_call", steps_per_call, minimum=1)
    if time_limit is not None:
        time_limit = check_real("time_limit", time_limit, minimum=0.0)
    if callback is not None:
        check_callable("callback", callback)
    if isinstance(resume, str) or isinstance(resume, bool):
        mode = _RESUME.get(resume)
    else:
        mode = None
    if mode is None:
        raise ValueError(f"`resume` must be one of 'auto', 'never', 'must' (or True/False), got {resume!r}.")
    if checkpoint_every and checkpoint_dir is None:
        raise ValueError("`checkpoint_every` needs a `checkpoint_dir`.")
    if mode == "must" and checkpoint_dir is None:
        raise ValueError("`resume='must'` needs a `checkpoint_dir`.")
    if key is not None:
        from ..nn._checks import check_key

        check_key("key", key)
    key = jax.random.key(0) if key is None else key
    batch_fn = data if callable(data) else (lambda k, s: data)  # noqa: E731
    if k_call > 1:
        _check_traceable_batches(batch_fn, jax.random.split(key)[0], mesh)

    opt = optax.with_extra_args_support(optimizer)
    params, static = eqx.partition(model, filter_spec)
    # weak-typed leaves (optax.lbfgs's scalar state, Python-float parameters) come back strong from the first
    # update, which would compile the step a second time (measured: +8 s per L-BFGS phase of a PIG fit)
    params, opt_state = _strong_types(params), _strong_types(opt.init(params))
    start = 0

    ckpt = Checkpointer(checkpoint_dir) if checkpoint_dir is not None else None
    try:
        if ckpt is not None and mode == "never":
            removed = ckpt.clear()
            if removed:
                _say(f"{description}: resume='never': removed old checkpoints (steps {removed}) from {ckpt.dir}.")
        elif ckpt is not None:
            got = ckpt.restore_newest(params, opt_state)
            if got is not None:
                params, opt_state, start = got
                _say(f"{description}: resuming from step {start} (checkpoint in {ckpt.dir}).")
            elif mode == "must":
                raise FileNotFoundError(f"`resume='must'`: no checkpoint in {ckpt.dir}.")
    except BaseException:
        ckpt.close()
        raise

    if mesh is not None:
        from ..parallel import replicate, shard_batch

        params = replicate(params, mesh)
        opt_state = replicate(opt_state, mesh)

    def _loss(p, batch, k):
        return _split_loss(loss_fn(eqx.combine(p, static), batch, k))

    def _update(params, opt_state, batch, k):
        (loss, metrics), grads = jax.value_and_grad(_loss, has_aux=True)(params, batch, k)
        updates, new_state = opt.update(grads, opt_state, params, value=loss, grad=grads,
                                        value_fn=lambda p: _loss(p, batch, k)[0])
        new_params = eqx.apply_updates(params, updates)
        ok = jnp.isfinite(loss) & all_finite(new_params) & all_finite(new_state, allow_inf=True)
        return new_params, new_state, loss, metrics, ok

    def _keep(ok, new, old):
        # one `lax.cond` on the whole state, not a `where` per leaf: per-leaf selects on a flag reduced over every
        # new leaf made XLA's CPU compiler blow up inside the chunk loop (a GIOROM chunk compiled in 123 s instead
        # of 11 s; per-step mode compiled and ran as fast either way)
        return jax.lax.cond(ok, lambda a: a[0], lambda a: a[1], (new, old))

    @eqx.filter_jit
    def step_fn(params, opt_state, bad, batch, k):
        new_params, new_state, loss, metrics, ok = _update(params, opt_state, batch, k)
        good = ok & ~bad
        params, opt_state = _keep(good, (new_params, new_state), (params, opt_state))
        return params, opt_state, ~good, loss, metrics, ok

    constrain = _batch_sharder(mesh) if mesh is not None else (lambda b: b)

    @eqx.filter_jit
    def chunk_fn(params, opt_state, bad, key, s0, n):
        def draw(s):
            kd, kl = jax.random.split(jax.random.fold_in(key, s))
            return constrain(batch_fn(kd, s)), kl

        b0, kl0 = draw(s0)
        shapes = jax.eval_shape(_update, params, opt_state, b0, kl0)
        metrics0 = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), shapes[3])
        init = (jnp.int32(0), params, opt_state, bad, jnp.zeros((k_call,), shapes[2].dtype),
                jnp.ones((k_call,), bool), metrics0)

        def cond(c):
            return (c[0] < n) & ~c[3]

        def body(c):
            i, params, opt_state, bad, lbuf, obuf, _ = c
            batch, kl = draw(s0 + i)
            new_params, new_state, loss, metrics, ok = _update(params, opt_state, batch, kl)
            params, opt_state = _keep(ok, (new_params, new_state), (params, opt_state))
            return (i + 1, params, opt_state, ~ok, lbuf.at[i].set(loss), obuf.at[i].set(ok), metrics)

        _, params, opt_state, bad, lbuf, obuf, metrics = jax.lax.while_loop(cond, body, init)
        return params, opt_state, bad, lbuf, obuf, metrics

    metrics_file = None
    if metrics_path is not None:
        metrics_file = _prepare_metrics_file(metrics_path, start, checkpoint_dir)

    bar = None
    if progress and steps > start:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, initial=start, desc=description, dynamic_ncols=True, leave=False)

    history, losses = [], []
    pending = []  # (losses, oks, n) on the device, not yet checked
    t0 = time.perf_counter()
    last_ckpt = ckpt.latest() if ckpt is not None else None
    bad = jnp.asarray(False)
    if mesh is not None:
        bad = replicate(bad, mesh)
    metrics = {}
    synced = start  # steps before this one are checked and in `losses`

    def sync():
        nonlocal pending, synced
        got = jax.device_get(pending)
        pending = []
        for ls, oks, n in got:
            ls, oks = np.reshape(ls, -1)[:n], np.reshape(oks, -1)[:n]
            badi = np.flatnonzero(~oks)
            if badi.size:
                i = int(badi[0])
                losses.extend(float(v) for v in ls[:i])
                _fail(synced + i, float(ls[i]))
            losses.extend(float(v) for v in ls)
            synced += n

    def _fail(s, lval):
        where = (f"the last checkpoint (step {last_ckpt}) in {ckpt.dir} was checked finite before writing and is "
                 "intact." if last_ckpt is not None else "no checkpoint was written.")
        if not np.isfinite(lval):
            what = f"loss became {lval} at step {s}"
        else:
            what = (f"the update of step {s} made the parameters or optimiser state non-finite although the loss "
                    f"was finite ({lval:.6g}; a NaN/Inf gradient?)")
        msg = (f"{what}; training stopped. The error carries the model after {s} steps (before the failing one); "
               + where)
        raise TrainingError(msg, model=eqx.combine(params, static), step=s, checkpoint_step=last_ckpt)

    try:
        s = start
        while s < steps:
            if k_call == 1:
                k = jax.random.fold_in(key, s)
                kd, kl = jax.random.split(k)
                batch = batch_fn(kd, s)
                if mesh is not None:
                    batch = shard_batch(batch, mesh)
                params, opt_state, bad, loss, metrics, ok = step_fn(params, opt_state, bad, batch, kl)
                pending.append((loss, ok, 1))
                done = s + 1
            else:
                done = min(steps, (s // k_call + 1) * k_call)
                if ckpt is not None and checkpoint_every:
                    done = min(done, (s // checkpoint_every + 1) * checkpoint_every)
                params, opt_state, bad, lbuf, obuf, metrics = chunk_fn(
                    params, opt_state, bad, key, jnp.int32(s), jnp.int32(done - s))
                pending.append((lbuf, obuf, done - s))
            if len(pending) > 2:  # keep at most two calls in flight: bounded lag for time limits and memory
                pending[-3][0].block_until_ready()
            if bar is not None:
                bar.update(done - s)
            log_now = done // log_every > s // log_every or done == steps
            ckpt_now = ckpt is not None and ((checkpoint_every and done % checkpoint_every == 0) or done == steps)
            out_of_time = time_limit is not None and time.perf_counter() - t0 > time_limit
            s = done
            if not (log_now or ckpt_now or out_of_time):
                continue
            sync()
            stop_requested = False
            if log_now:
                rec = {"step": done, "loss": losses[-1], "time": time.perf_counter() - t0}
                rec.update({k_: float(v) for k_, v in metrics.items()})
                if callback is not None:
                    extra = callback(done, eqx.combine(params, static), rec)
                    if extra:
                        extra = dict(extra)
                        stop_requested = bool(extra.pop("stop", False))
                        rec.update({k_: (float(v) if np.ndim(v) == 0 else v) for k_, v in extra.items()})
                history.append(rec)
                if bar is not None:
                    bar.set_postfix(loss=f"{rec['loss']:.3e}")
                if metrics_file is not None:
                    metrics_file.write(json.dumps(rec) + "\n")
                    metrics_file.flush()
            stop = out_of_time or stop_requested
            if ckpt is not None and (ckpt_now or stop):
                ckpt.save(done, params, opt_state)
                last_ckpt = done
            if stop:
                break
        if pending:
            sync()
    finally:
        if bar is not None:
            bar.close()
        if metrics_file is not None:
            metrics_file.close()
        if ckpt is not None:
            ckpt.close()
    return TrainResult(eqx.combine(params, static), opt_state, history, np.asarray(losses, dtype=np.float64),
                       start + len(losses))


def _fit_options(owner: str, options: dict, *, sets=(), moved=None) -> dict:
    """Check the keyword arguments a trainer passes on to `fit` (its `**fit_kwargs`), before anything compiles.

    `sets`: `fit` arguments the trainer chooses itself (a user value is refused, not silently overridden);
    `moved`: former parameters of the trainer, mapped to where they live now (the error says so). Returns a copy.
    """
    import inspect

    moved = moved or {}
    allowed = [p.name for p in inspect.signature(fit).parameters.values()
               if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in ("steps", "key")]
    for name in options:
        if name in moved:
            raise TypeError(f"`{owner}` no longer takes `{name}`: {moved[name]}")
        if name in sets:
            raise TypeError(f"`{owner}` sets `{name}` itself; it cannot be passed on to `sciml.train.fit`.")
        if name not in allowed:
            ok = ", ".join(n for n in allowed if n not in sets)
            raise TypeError(f"`{owner}` got an unexpected keyword argument `{name}`; the keywords it passes on "
                            f"to `sciml.train.fit` are: {ok}.")
    return dict(options)


def restore(model, optimizer: optax.GradientTransformation, checkpoint_dir, step: int | None = None,
            filter_spec=eqx.is_inexact_array):
    """Restore `(model, opt_state, step)` from a `fit` checkpoint directory onto the structure of `model`.

    **Arguments:**

    - `model`, `optimizer`, `filter_spec`: as given to [`fit`][sciml.train.fit]; they define the expected leaf
      paths, shapes and dtypes.
    - `checkpoint_dir`: the `fit` checkpoint directory.
    - `step`: which checkpoint; default the newest intact one (unreadable newer ones are skipped with a message).

    **Returns:** `(model, opt_state, step)`.

    **Raises:** `FileNotFoundError` if there is no checkpoint, `ValueError` if the checkpoint was written for a
    different model or optimiser (the message names the differing leaves).

    **Example:** `model, opt_state, step = train.restore(model, optax.adam(1e-3), "ckpt")`
    """
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"`optimizer` must be an optax GradientTransformation, got {type(optimizer).__name__}.")
    if step is not None:
        step = check_int("step", step, minimum=0)
    if not pathlib.Path(checkpoint_dir).is_dir():
        raise FileNotFoundError(f"`checkpoint_dir` {str(checkpoint_dir)!r} is not a directory.")
    opt = optax.with_extra_args_support(optimizer)
    params, static = eqx.partition(model, filter_spec)
    opt_state = opt.init(params)
    ck = Checkpointer(checkpoint_dir)
    try:
        if step is None:
            got = ck.restore_newest(params, opt_state, set_aside=False)
            if got is None:
                raise FileNotFoundError(f"no checkpoint in {checkpoint_dir}")
        else:
            if step not in ck.steps():
                raise FileNotFoundError(f"`step`: no checkpoint {step} in {checkpoint_dir} (have {ck.steps()}).")
            got = ck.restore(step, params, opt_state)
    finally:
        ck.close()
    params, opt_state, step = got
    return eqx.combine(params, static), opt_state, step
