"""`MLP` on `eqx.nn.Linear` layers, acting on arrays with any leading axes."""

from __future__ import annotations

import math
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._errors import check_choice, check_int, check_real
from ._checks import check_array, check_bool, check_dtype, check_float, check_key

__all__ = ["MLP"]

_ACTIVATIONS = {"relu": jax.nn.relu, "gelu": jax.nn.gelu, "silu": jax.nn.silu, "tanh": jnp.tanh}
_INITS = ("uniform", "glorot_normal", "fan_in")


def _linear(key, n_in: int, n_out: int, init: str = "uniform", scale: float = 1.0, dtype=jnp.float32,
            use_bias: bool = True) -> eqx.nn.Linear:
    """One `eqx.nn.Linear` (weight (n_out, n_in)) with the initialisation `init`:

    - `"uniform"`: Equinox's default, weight and bias `U(-1/sqrt(n_in), 1/sqrt(n_in))` (PyTorch's);
    - `"glorot_normal"`: weight `N(0, 2/(n_in + n_out))`, zero bias (the PINN literature's);
    - `"fan_in"`: weight `U(-1/sqrt(n_in), 1/sqrt(n_in))` drawn input-major, zero bias (GNS codes').

    `scale` multiplies the weights' spread."""
    layer = eqx.nn.Linear(n_in, n_out, use_bias=use_bias, dtype=dtype, key=key)
    if init == "uniform":
        if scale != 1.0:
            layer = eqx.tree_at(lambda l: l.weight, layer, scale * layer.weight)
        return layer
    if init == "glorot_normal":
        w = scale * math.sqrt(2.0 / (n_in + n_out)) * jax.random.normal(key, (n_out, n_in), dtype)
    else:  # fan_in
        lim = scale / math.sqrt(n_in)
        w = jax.random.uniform(key, (n_in, n_out), dtype, -lim, lim).T
    if not use_bias:
        return eqx.tree_at(lambda l: l.weight, layer, w)
    return eqx.tree_at(lambda l: (l.weight, l.bias), layer, (w, jnp.zeros((n_out,), dtype)))


def _dense(layer: eqx.nn.Linear, x):
    """Apply an `eqx.nn.Linear` to the last axis of `x` (any leading axes): `x @ W^T + b` (`W @ x + b`, as
    `eqx.nn.Linear` itself, for a single vector)."""
    y = layer.weight @ x if x.ndim == 1 else x @ layer.weight.T
    return y if layer.bias is None else y + layer.bias


def _layer_norm(x, weight, bias):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) * jax.lax.rsqrt(var + 1e-5) * weight + bias


class MLP(eqx.Module):
    """Multi-layer perceptron `in_size -> width x depth -> out_size` of `eqx.nn.Linear` layers, applied to the
    last axis of its input (any leading axes), with an optional LayerNorm on the output (GNS style).

    **Arguments:**

    - `in_size`, `out_size`: input and output features.
    - `width`: hidden width; `depth`: number of hidden layers (`depth=0` is a single linear layer).
    - `activation`: `"relu"`, `"gelu"`, `"silu"`, `"tanh"` (between layers, none after the last).
    - `init`: `"uniform"` (Equinox/PyTorch default), `"glorot_normal"` (normal weights, zero biases) or
      `"fan_in"` (uniform weights with zero biases).
    - `out_scale`: multiplies the last layer's initial weights (`0.0` starts a residual branch at zero).
    - `layer_norm`: LayerNorm (per-feature affine, eps 1e-5) on the output.
    - `key`: PRNG key; the layers use `jax.random.split(key, depth + 1)`, a single layer `key` itself.
    - `dtype`: parameter dtype.

    `mlp(x)` maps `(..., in_size)` to `(..., out_size)`; `mlp.tail(pre)` continues from the first layer's
    pre-activation (for callers that assemble the first layer's product themselves, e.g. per-node parts of an
    edge MLP computed once per node).

    **Example:**

    ```python
    mlp = nn.MLP(2, 1, width=32, depth=2, activation="tanh", key=jax.random.key(0))
    y = mlp(jnp.ones((100, 2)))   # (100, 1)
    ```
    """

    layers: tuple[eqx.nn.Linear, ...]
    norm: eqx.nn.LayerNorm | None
    activation: str = eqx.field(static=True)

    def __init__(self, in_size: int, out_size: int, width: int, depth: int, *, key: PRNGKeyArray,
                 activation: Literal["relu", "gelu", "silu", "tanh"] = "relu",
                 init: Literal["uniform", "glorot_normal", "fan_in"] = "uniform", out_scale: float = 1.0,
                 layer_norm: bool = False, dtype=jnp.float32):
        in_size = check_int("in_size", in_size, minimum=1)
        out_size = check_int("out_size", out_size, minimum=1)
        width = check_int("width", width, minimum=1)
        depth = check_int("depth", depth, minimum=0)
        check_choice("activation", activation, tuple(_ACTIVATIONS))
        check_choice("init", init, _INITS)
        out_scale = check_real("out_scale", out_scale, minimum=0.0)
        layer_norm = check_bool("layer_norm", layer_norm)
        check_key("key", key)
        check_dtype("dtype", dtype)
        sizes = [in_size] + [width] * depth + [out_size]
        n = len(sizes) - 1
        keys = [key] if n == 1 else list(jax.random.split(key, n))
        self.layers = tuple(_linear(k, a, b, init, out_scale if i == n - 1 else 1.0, dtype)
                            for i, (a, b, k) in enumerate(zip(sizes[:-1], sizes[1:], keys)))
        self.norm = eqx.nn.LayerNorm(out_size, dtype=dtype) if layer_norm else None
        self.activation = activation

    @property
    def in_size(self) -> int:
        return self.layers[0].in_features

    @property
    def out_size(self) -> int:
        return self.layers[-1].out_features

    def _finish(self, x):
        return x if self.norm is None else _layer_norm(x, self.norm.weight, self.norm.bias)

    def tail(self, pre: Float[Array, "... width"]) -> Float[Array, "... out"]:
        """The rest of the network after the first layer's pre-activation `pre` (`x @ W0^T + b0`).

        **Arguments:**

        - `pre`: the first layer's pre-activation (before its activation), shape `(..., width)` where `width` is
          the first hidden layer's size; leading axes are batch axes.

        **Returns:** the network output `MLP(x)`, shape `(..., out_size)` (layer-normalised if `layer_norm`).
        """
        act = _ACTIVATIONS[self.activation]
        x = pre
        for layer in self.layers[1:]:
            x = _dense(layer, act(x))
        return self._finish(x)

    def __call__(self, x: Float[Array, "... in"]) -> Float[Array, "... out"]:
        """Apply the MLP to the last axis of `x`.

        **Arguments:**

        - `x`: floating-point input of shape `(..., in_size)`; any leading axes are batch axes.

        **Returns:** the output, shape `(..., out_size)`.
        """
        check_array("x", x)
        if x.shape[-1:] != (self.in_size,):
            raise ValueError(f"`x` of MLP must have shape (..., {self.in_size}) (last axis: in_size), got {x.shape}.")
        check_float("x", x)
        return self.tail(_dense(self.layers[0], x))
