"""U-Net (PDEBench layout) in 1D, 2D or 3D, channels first."""

from __future__ import annotations

from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._errors import check_choice, check_int
from ._checks import check_dtype, check_field, check_key, check_param_dtype
from ._util import _conv, _upsample

__all__ = ["UNet"]


class _Block(eqx.Module):
    c1: eqx.nn.Conv
    c2: eqx.nn.Conv

    def __init__(self, ndim, cin, cout, key, padding_mode, dtype):
        k1, k2 = jax.random.split(key)
        self.c1 = _conv(ndim, cin, cout, 3, k1, padding_mode=padding_mode, dtype=dtype)
        self.c2 = _conv(ndim, cout, cout, 3, k2, padding_mode=padding_mode, dtype=dtype)

    def __call__(self, x):
        return jax.nn.gelu(self.c2(jax.nn.gelu(self.c1(x))))


def _pool(x, ndim):
    """2x max pooling of every spatial axis."""
    shape = [x.shape[0]]
    for n in x.shape[1:]:
        shape += [n // 2, 2]
    return x.reshape(shape).max(tuple(range(2, 2 * ndim + 1, 2)))


class UNet(eqx.Module):
    """U-Net in the PDEBench layout: encoder blocks of `features`, 2f, 4f, ... (`levels` of them, each two
    3-point convolutions with GELU, then 2x max pooling), a bottleneck of twice the last width, a mirrored decoder
    (nearest upsampling, a convolution, concatenation with the skip, a block) and a final pointwise convolution.
    GELU instead of BatchNorm + tanh, and circular padding by default (`padding_mode="ZEROS"` for the reference
    behaviour). Grid sizes must be divisible by `2**levels`.

    **Arguments:**

    - `in_channels`, `out_channels`: channels of the input and output fields.
    - `ndim`: 1, 2 or 3 spatial axes.
    - `features`: channels of the first level; `levels`: number of down/up-sampling levels.
    - `padding_mode`: `"CIRCULAR"` (periodic data), `"ZEROS"`, `"REFLECT"` or `"REPLICATE"`.
    - `key`, `dtype`.

    `unet(x)`: `x` of shape `(in_channels, *grid)` -> `(out_channels, *grid)`.

    **Example:** `y = nn.UNet(1, 1, features=8, levels=2, key=jax.random.key(0))(jnp.ones((1, 64)))`
    """

    encoders: tuple[_Block, ...]
    bottleneck: _Block
    ups: tuple[eqx.nn.Conv, ...]
    decoders: tuple[_Block, ...]
    out: eqx.nn.Conv
    ndim: int = eqx.field(static=True)
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    levels: int = eqx.field(static=True)

    def __init__(self, in_channels: int, out_channels: int, *, ndim: int = 1, features: int = 32, levels: int = 4,
                 padding_mode: Literal["CIRCULAR", "ZEROS", "REFLECT", "REPLICATE"] = "CIRCULAR",
                 key: PRNGKeyArray, dtype=jnp.float32):
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        self.out_channels = check_int("out_channels", out_channels, minimum=1)
        self.ndim = check_int("ndim", ndim, minimum=1, maximum=3)
        features = check_int("features", features, minimum=1)
        self.levels = check_int("levels", levels, minimum=1)
        check_choice("padding_mode", padding_mode, ("CIRCULAR", "ZEROS", "REFLECT", "REPLICATE"))
        check_key("key", key)
        check_dtype("dtype", dtype)
        keys = iter(jax.random.split(key, 3 * levels + 3))
        chans = [features * 2**i for i in range(levels)]
        encoders, cin = [], in_channels
        for c in chans:
            encoders.append(_Block(ndim, cin, c, next(keys), padding_mode, dtype))
            cin = c
        self.encoders = tuple(encoders)
        self.bottleneck = _Block(ndim, cin, 2 * cin, next(keys), padding_mode, dtype)
        cin = 2 * cin
        ups, decoders = [], []
        for c in reversed(chans):
            ups.append(_conv(ndim, cin, c, 3, next(keys), padding_mode=padding_mode, dtype=dtype))
            decoders.append(_Block(ndim, 2 * c, c, next(keys), padding_mode, dtype))
            cin = c
        self.ups, self.decoders = tuple(ups), tuple(decoders)
        self.out = _conv(ndim, cin, out_channels, 1, next(keys), dtype=dtype)

    def __call__(self, x: Float[Array, "cin *grid"], film=None) -> Float[Array, "cout *grid"]:
        """Apply the U-Net to one channels-first field (`jax.vmap` it over a batch).

        **Arguments:**

        - `x`: the input field, shape `(in_channels, *grid)`; every grid size must be divisible by `2**levels`,
          and its dtype must match the weights'.
        - `film`: must be `None`; accepted only so that a U-Net and an FNO share one call signature (the U-Net
          has no FiLM hooks, anything else raises `ValueError`).

        **Returns:** the output field, shape `(out_channels, *grid)`.
        """
        if film is not None:
            raise ValueError("`film`: UNet has no FiLM hooks; use an FNO base (or the CAPE block's film=True).")
        check_field("UNet", "x", x, self.ndim, self.in_channels, "in_channels")
        div = 2**self.levels
        if any(n % div for n in x.shape[1:]):
            raise ValueError(f"`x`: UNet with levels={self.levels} needs grid sizes divisible by {div}, got {x.shape[1:]}.")
        check_param_dtype("UNet", "x", x, self.out.weight.dtype)
        skips = []
        for enc in self.encoders:
            x = enc(x)
            skips.append(x)
            x = _pool(x, self.ndim)
        x = self.bottleneck(x)
        for up, dec, s in zip(self.ups, self.decoders, reversed(skips)):
            x = up(_upsample(x, self.ndim))
            x = dec(jnp.concatenate([x, s], axis=0))
        return self.out(x)
