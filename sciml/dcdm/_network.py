"""The DCDM network (Kaneda et al., ICML 2023), written from the layer description in the spec.

Fully convolutional: 3x3(x3) convolutions with 16 channels and ``same`` zero padding, the first one
linear and every other one followed by a ReLU, residual adds on every second convolution, one
average-pool-2x level, nearest up-sampling with an additive skip from the last fine-level map and a
linear 1x1(x1) output convolution.  Variants (number of fine / coarse / post-upsampling convolutions):

* ``"64"``:  5 / 6 / 4  -> 97,457 parameters in 3D
* ``"128"``: 7 / 10 / 6 -> 152,881 parameters in 3D
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp

VARIANTS: dict[str, tuple[int, int, int]] = {
    "64": (5, 6, 4),
    "128": (7, 10, 6),
}

_DIMNUMS = {
    2: ("NHWC", "HWIO", "NHWC"),
    3: ("NDHWC", "DHWIO", "NDHWC"),
}


class Conv(eqx.Module):
    """A ``same``-padded convolution acting on channels-last batched input ``(B, *spatial, C)``."""

    weight: jax.Array  # (*kernel, C_in, C_out)
    bias: jax.Array  # (C_out,)
    ndim: int = eqx.field(static=True)

    def __init__(self, ndim: int, c_in: int, c_out: int, kernel: int, *, key, dtype=jnp.float32):
        # Keras defaults: Glorot-uniform kernel, zero bias.
        shape = (kernel,) * ndim + (c_in, c_out)
        fan_in = kernel**ndim * c_in
        fan_out = kernel**ndim * c_out
        lim = math.sqrt(6.0 / (fan_in + fan_out))
        self.weight = jax.random.uniform(key, shape, dtype, -lim, lim)
        self.bias = jnp.zeros((c_out,), dtype)
        self.ndim = ndim

    def __call__(self, x: jax.Array) -> jax.Array:
        w = self.weight.astype(x.dtype)
        y = jax.lax.conv_general_dilated(
            x,
            w,
            window_strides=(1,) * self.ndim,
            padding="SAME",
            dimension_numbers=_DIMNUMS[self.ndim],
        )
        return y + self.bias.astype(x.dtype)


def _avg_pool2(x: jax.Array, ndim: int) -> jax.Array:
    # x: (B, *spatial, C) with even spatial sizes -> mean over 2^d blocks
    b, c = x.shape[0], x.shape[-1]
    sp = x.shape[1:-1]
    shape = (b,) + sum(((s // 2, 2) for s in sp), ()) + (c,)
    return x.reshape(shape).mean(axis=tuple(range(2, 2 + 2 * ndim, 2)))


def _upsample2(x: jax.Array, ndim: int) -> jax.Array:
    for ax in range(1, ndim + 1):
        x = jnp.repeat(x, 2, axis=ax)
    return x


class DCDMNet(eqx.Module):
    """Faithful DCDM network (2D or 3D) approximating ``c * A^{-1} r`` up to an unknown scale ``c``.

    **Arguments:**

    - `ndim`: 2 or 3 (3x3 or 3x3x3 convolutions).
    - `variant`: ``"64"`` (5/6/4 convolutions) or ``"128"`` (7/10/6).
    - `channels`: hidden channels (16 in the paper).
    - `key`: PRNG key for the initialisation.
    - `dtype`: parameter dtype (float32 default).
    - `compute_dtype`: dtype of the convolutions (e.g. ``jnp.bfloat16``); ``None`` = parameter dtype.
      The output is returned in the input's dtype.

    Call it on one grid-shaped residual ``r`` of shape ``(n1, ..., nd)``, or on a batch
    ``(B, n1, ..., nd)`` via ``jax.vmap``.  Any grid size works (odd sizes are zero-padded for the
    pooling level and cropped back).

    ```python
    net = DCDMNet(ndim=3, variant="64", key=jax.random.key(0))
    q = net(r)  # r.shape == q.shape == (32, 32, 32)
    ```
    """

    first: Conv
    fine: list[Conv]
    coarse: list[Conv]
    post: list[Conv]
    out: Conv
    ndim: int = eqx.field(static=True)
    variant: str = eqx.field(static=True)
    compute_dtype: str | None = eqx.field(static=True)

    def __init__(
        self,
        ndim: int = 3,
        variant: str = "64",
        *,
        key,
        channels: int = 16,
        dtype=jnp.float32,
        compute_dtype=None,
    ):
        if ndim not in (2, 3):
            raise ValueError(f"DCDMNet supports ndim=2 or 3, got {ndim}.")
        if variant not in VARIANTS:
            raise ValueError(f"Unknown DCDM variant {variant!r}; choose one of {sorted(VARIANTS)}.")
        n_fine, n_coarse, n_post = VARIANTS[variant]
        keys = iter(jax.random.split(key, n_fine + n_coarse + n_post + 1))
        c = channels
        self.first = Conv(ndim, 1, c, 3, key=next(keys), dtype=dtype)
        self.fine = [Conv(ndim, c, c, 3, key=next(keys), dtype=dtype) for _ in range(n_fine - 1)]
        self.coarse = [Conv(ndim, c, c, 3, key=next(keys), dtype=dtype) for _ in range(n_coarse)]
        self.post = [Conv(ndim, c, c, 3, key=next(keys), dtype=dtype) for _ in range(n_post)]
        self.out = Conv(ndim, c, 1, 1, key=next(keys), dtype=dtype)
        self.ndim = ndim
        self.variant = variant
        self.compute_dtype = None if compute_dtype is None else jnp.dtype(compute_dtype).name

    @staticmethod
    def _pairs(convs, x):
        # residual add on every second convolution: x <- relu(c2(relu(c1(x)))) + x
        for c1, c2 in zip(convs[0::2], convs[1::2]):
            y = jax.nn.relu(c1(x))
            x = jax.nn.relu(c2(y)) + x
        return x

    def __call__(self, r: jax.Array) -> jax.Array:
        nd = self.ndim
        if r.ndim != nd:
            raise ValueError(
                f"DCDMNet(ndim={nd}) expects one grid-shaped input of rank {nd}, got shape {r.shape}; "
                "use jax.vmap for batches."
            )
        in_dtype = r.dtype
        cdt = self.compute_dtype or self.first.weight.dtype
        shape = r.shape
        pad = [(0, s % 2) for s in shape]
        x = jnp.pad(r, pad)[None, ..., None].astype(cdt)
        la = self.first(x)  # linear
        la = self._pairs(self.fine, la)
        ap = _avg_pool2(la, nd)
        ap = self._pairs(self.coarse, ap)
        up = _upsample2(ap, nd) + la
        up = self._pairs(self.post, up)
        q = self.out(up)[0, ..., 0]
        q = q[tuple(slice(0, s) for s in shape)]
        return q.astype(in_dtype)


def count_parameters(model) -> int:
    """Number of scalar parameters (floating array leaves) of a model; also works on the
    ``jax.ShapeDtypeStruct`` skeleton from ``eqx.filter_eval_shape`` (no allocation)."""
    leaves = jax.tree_util.tree_leaves(model)
    return int(sum(x.size for x in leaves if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.inexact)))


class IdentityNet(eqx.Module):
    """``q = r``: turns DCDM into (windowed) CG; used for exactness checks."""

    def __call__(self, r):
        return r


class MatrixNet(eqx.Module):
    """``q = M r`` for a dense matrix ``M`` acting on the flattened grid (e.g. an exact inverse)."""

    matrix: jax.Array

    def __call__(self, r):
        return (self.matrix @ r.reshape(-1)).reshape(r.shape)
