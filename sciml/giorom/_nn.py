"""Small neural-network building blocks acting on arrays with arbitrary leading dimensions."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp

_ACT = {"relu": jax.nn.relu, "gelu": jax.nn.gelu, "silu": jax.nn.silu, "tanh": jnp.tanh}


class Linear(eqx.Module):
    weight: jax.Array  # (in, out)
    bias: jax.Array

    def __init__(self, n_in: int, n_out: int, *, key, scale: float = 1.0, dtype=jnp.float32):
        lim = scale / math.sqrt(n_in)
        self.weight = jax.random.uniform(key, (n_in, n_out), dtype, -lim, lim)
        self.bias = jnp.zeros((n_out,), dtype)

    def __call__(self, x):
        return x @ self.weight + self.bias


class LayerNorm(eqx.Module):
    gamma: jax.Array
    beta: jax.Array

    def __init__(self, n: int, dtype=jnp.float32):
        self.gamma = jnp.ones((n,), dtype)
        self.beta = jnp.zeros((n,), dtype)

    def __call__(self, x):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) * jax.lax.rsqrt(var + 1e-5) * self.gamma + self.beta


class MLP(eqx.Module):
    """MLP with `depth` hidden layers of width `width`, optional LayerNorm on the output (GNS style)."""

    layers: list
    norm: LayerNorm | None
    activation: str = eqx.field(static=True)

    def __init__(self, n_in: int, n_out: int, width: int, depth: int, *, key, layer_norm: bool = True,
                 activation: str = "relu", out_scale: float = 1.0, dtype=jnp.float32):
        sizes = [n_in] + [width] * depth + [n_out]
        keys = jax.random.split(key, len(sizes) - 1)
        self.layers = [Linear(a, b, key=k, dtype=dtype, scale=(out_scale if i == len(sizes) - 2 else 1.0))
                       for i, (a, b, k) in enumerate(zip(sizes[:-1], sizes[1:], keys))]
        self.norm = LayerNorm(n_out, dtype) if layer_norm else None
        self.activation = activation

    def tail(self, pre):
        """Continue from the first layer's pre-activation `pre`."""
        act = _ACT[self.activation]
        x = pre
        for layer in self.layers[1:]:
            x = layer(act(x))
        return self.norm(x) if self.norm is not None else x

    def __call__(self, x):
        act = _ACT[self.activation]
        for layer in self.layers[:-1]:
            x = act(layer(x))
        x = self.layers[-1](x)
        return self.norm(x) if self.norm is not None else x


class SpectralConv2d(eqx.Module):
    """Fourier layer: keep `modes` x `modes` low frequencies (both signs in the first axis)."""

    w1: jax.Array
    w2: jax.Array
    modes: int = eqx.field(static=True)

    def __init__(self, channels: int, modes: int, *, key, dtype=jnp.float32):
        k1, k2, k3, k4 = jax.random.split(key, 4)
        s = 1.0 / channels
        shape = (modes, modes, channels, channels)
        self.w1 = s * jax.random.normal(k1, shape + (2,), dtype)
        self.w2 = s * jax.random.normal(k3, shape + (2,), dtype)
        self.modes = modes

    def __call__(self, x):  # x: (H, W, C)
        H, W, C = x.shape
        m = self.modes
        xf = jnp.fft.rfft2(x, axes=(0, 1))
        w1 = self.w1[..., 0] + 1j * self.w1[..., 1]
        w2 = self.w2[..., 0] + 1j * self.w2[..., 1]
        out = jnp.zeros_like(xf)
        out = out.at[:m, :m].set(jnp.einsum("xyi,xyio->xyo", xf[:m, :m], w1))
        out = out.at[-m:, :m].set(jnp.einsum("xyi,xyio->xyo", xf[-m:, :m], w2))
        return jnp.fft.irfft2(out, s=(H, W), axes=(0, 1)).astype(x.dtype)


class FNO2d(eqx.Module):
    """Two-layer (default) FNO on a regular grid; zero padding against the periodic wrap."""

    lift: Linear
    spectral: list
    pointwise: list
    project: Linear
    pad: int = eqx.field(static=True)

    def __init__(self, n_in: int, n_out: int, width: int = 32, modes: int = 8, n_layers: int = 2, pad: int = 4, *,
                 key, dtype=jnp.float32):
        keys = jax.random.split(key, 2 * n_layers + 2)
        self.lift = Linear(n_in, width, key=keys[0], dtype=dtype)
        self.spectral = [SpectralConv2d(width, modes, key=keys[1 + i], dtype=dtype) for i in range(n_layers)]
        self.pointwise = [Linear(width, width, key=keys[1 + n_layers + i], dtype=dtype) for i in range(n_layers)]
        self.project = Linear(width, n_out, key=keys[-1], dtype=dtype)
        self.pad = pad

    def __call__(self, x):  # (H, W, C_in)
        H, W, _ = x.shape
        v = self.lift(x)
        p = self.pad
        v = jnp.pad(v, ((0, p), (0, p), (0, 0)))
        for sc, pw in zip(self.spectral, self.pointwise):
            v = jax.nn.gelu(sc(v) + pw(v))
        return self.project(v[:H, :W])


class ConvOperator(eqx.Module):
    """Residual 3x3 conv stack on the latent grid (alternative to the FNO)."""

    lift: Linear
    convs: list
    project: Linear

    def __init__(self, n_in: int, n_out: int, width: int = 32, n_layers: int = 2, *, key, dtype=jnp.float32):
        keys = jax.random.split(key, n_layers + 2)
        self.lift = Linear(n_in, width, key=keys[0], dtype=dtype)
        self.convs = [jax.random.normal(k, (3, 3, width, width), dtype) / math.sqrt(9 * width) for k in keys[1:-1]]
        self.project = Linear(width, n_out, key=keys[-1], dtype=dtype)

    def __call__(self, x):
        v = self.lift(x)
        for w in self.convs:
            y = jax.lax.conv_general_dilated(v[None], w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))[0]
            v = v + jax.nn.gelu(y)
        return self.project(v)
