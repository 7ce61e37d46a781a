"""Shared utilities: parameter counting, relative L2 error, chunked evaluation, pytree stop-gradient."""

from __future__ import annotations

from typing import Any, Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, PyTree

from .._errors import check_callable, check_int, check_real

__all__ = ["count_params", "rel_l2", "chunked_map", "stop_gradient"]


def _inexact(x) -> bool:
    return eqx.is_inexact_array(x) or (isinstance(x, jax.ShapeDtypeStruct) and jnp.issubdtype(x.dtype, jnp.inexact))


def count_params(module: PyTree) -> int:
    """Number of trainable scalars of `module`: the total size of its floating-point (or complex) array leaves.

    Works on abstract models too (`eqx.filter_eval_shape(...)` skeletons of `jax.ShapeDtypeStruct` leaves), so a
    model's size can be read without allocating it. Integer arrays and static fields are not counted.

    **Arguments:**

    - `module`: any pytree, normally an Equinox module.

    **Returns:** the number of scalars, as a Python `int`.

    **Example:** `nn.count_params(nn.MLP(2, 1, width=16, depth=2, key=jax.random.key(0)))  # 337`
    """
    return int(sum(x.size for x in jax.tree_util.tree_leaves(eqx.filter(module, _inexact))))


def _numeric(name, x):
    """`x` as a JAX array of numbers (refusing strings, objects and booleans with a message naming `name`)."""
    try:
        arr = jnp.asarray(x)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a numeric array, got {type(x).__name__}.") from None
    if not (jnp.issubdtype(arr.dtype, jnp.number)):
        raise TypeError(f"`{name}` must be a numeric array, got dtype {arr.dtype}.")
    return arr


def rel_l2(pred: ArrayLike, ref: ArrayLike, *, axis: int | tuple[int, ...] | None = None,
           eps: float = 0.0) -> Array:
    """Relative L2 error `||pred - ref|| / (||ref|| + eps)`.

    **Arguments:**

    - `pred`, `ref`: arrays of one shape (broadcasting is refused: a silently broadcast reference is a wrong
      metric).
    - `axis`: the axes the norms run over; `None` (default) takes all of them and returns a scalar.
    - `eps`: added to the reference norm (guards all-zero references, e.g. decayed frames).

    **Returns:** a JAX array, scalar for `axis=None`; traceable (usable inside a loss).

    **Example:** `float(nn.rel_l2(u_pred, u_exact))`
    """
    eps = check_real("eps", eps, minimum=0.0)
    pred, ref = _numeric("pred", pred), _numeric("ref", ref)
    if pred.shape != ref.shape:
        raise ValueError(f"`pred` and `ref` must have the same shape, got {pred.shape} and {ref.shape}.")
    dtype = jnp.result_type(pred, ref)
    pred, ref = pred.astype(dtype), ref.astype(dtype)
    num = jnp.sqrt(jnp.sum((pred - ref) ** 2, axis=axis))
    return num / (jnp.sqrt(jnp.sum(ref**2, axis=axis)) + eps)


def chunked_map(fn: Callable, xs: PyTree[Array], chunk_size: int | None, *, batched: bool = False,
                checkpoint: bool = False) -> PyTree[Array]:
    """Evaluate `fn` over the leading axis of `xs` in chunks of `chunk_size`, bounding peak memory.

    **Arguments:**

    - `fn`: with `batched=False` a function of ONE point (`xs[i]`), vmapped over each chunk; with
      `batched=True` a function of a batch `(B, ...)` returning a pytree of `(B, ...)` arrays.
    - `xs`: an array (or pytree of arrays with one leading length) of `n` points.
    - `chunk_size`: points per chunk; `None` (or `n <= chunk_size`) evaluates everything in one call.
    - `batched`: see `fn`. Batched chunks are run with `lax.map` over a padded `(n_chunks, chunk_size, ...)`
      stack (the pad repeats the first point and is dropped); per-point `fn` uses `lax.map(..., batch_size=)`.
    - `checkpoint`: rematerialise each chunk in the backward pass (`eqx.filter_checkpoint`), so a gradient
      through the map also needs only one chunk's intermediates.

    **Returns:** `fn`'s outputs stacked over all `n` points (same pytree structure as one call's).

    **Example:** `u = nn.chunked_map(model, xs, 4096)  # model(x) -> scalar; u has shape (n,)`
    """
    check_callable("fn", fn)
    leaves = jax.tree_util.tree_leaves(xs)
    if not leaves:
        raise ValueError("`xs` must contain at least one array.")
    xs = jax.tree_util.tree_map(jnp.asarray, xs)
    n = jnp.shape(leaves[0])[0] if jnp.ndim(leaves[0]) else None
    if n is None or any(jnp.ndim(l) == 0 or jnp.shape(l)[0] != n for l in leaves):
        raise ValueError("`xs` must be arrays with one common leading (points) axis.")
    if chunk_size is not None:
        chunk_size = check_int("chunk_size", chunk_size, minimum=1)
    if chunk_size is None or n <= chunk_size:
        return fn(xs) if batched else jax.vmap(fn)(xs)
    f = eqx.filter_checkpoint(fn) if checkpoint else fn
    if not batched:
        return jax.lax.map(f, xs, batch_size=chunk_size)
    n_chunks = -(-n // chunk_size)
    pad = n_chunks * chunk_size - n

    def stack(a):
        if pad:
            a = jnp.concatenate([a, jnp.broadcast_to(a[:1], (pad,) + a.shape[1:])])
        return a.reshape((n_chunks, chunk_size) + a.shape[1:])

    out = jax.lax.map(f, jax.tree_util.tree_map(stack, xs))
    return jax.tree_util.tree_map(lambda v: v.reshape((-1,) + v.shape[2:])[:n], out)


def stop_gradient(tree: Any) -> Any:
    """`jax.lax.stop_gradient` on every floating-point array leaf of a pytree (an Equinox module, an operator),
    leaving non-array leaves and static fields untouched; e.g. a frozen copy of a model inside a loss.

    **Arguments:**

    - `tree`: any pytree.

    **Returns:** the same pytree, with gradients blocked through its inexact arrays.

    **Example:** `frozen = nn.stop_gradient(model)`
    """
    dyn, static = eqx.partition(tree, eqx.is_inexact_array)
    return eqx.combine(jax.lax.stop_gradient(dyn), static)


# ------------------------------------------------------------------------------------------------------------
# private helpers shared by the layers (and by cape's CAPE block)
# ------------------------------------------------------------------------------------------------------------
def _conv(ndim, cin, cout, k, key, *, bias=True, groups=1, padding_mode="CIRCULAR", dtype=jnp.float32):
    """`eqx.nn.Conv` with "SAME" padding (circular by default) for odd `k`, no padding for `k = 1`."""
    return eqx.nn.Conv(ndim, cin, cout, k, padding="SAME" if k > 1 else 0, groups=groups, use_bias=bias,
                       padding_mode=padding_mode if k > 1 else "ZEROS", dtype=dtype, key=key)


def _upsample(x, ndim, factor=2):
    """Nearest-neighbour upsampling of the `ndim` trailing axes of a channels-first field."""
    for ax in range(1, ndim + 1):
        x = jnp.repeat(x, factor, axis=ax)
    return x
