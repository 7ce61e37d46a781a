"""Spectral convolution and the Fourier neural operator in 1D, 2D and 3D (channels first)."""

from __future__ import annotations

import itertools
from typing import Literal, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._errors import check_choice, check_int
from ._checks import check_bool, check_dtype, check_field, check_key
from ._mlp import _linear

__all__ = ["SpectralConv", "FNO"]


def _modes(modes, ndim) -> tuple[int, ...]:
    modes = (modes,) * ndim if isinstance(modes, int) else tuple(modes)
    if len(modes) != ndim or any(isinstance(m, bool) or not isinstance(m, int) or m < 1 for m in modes):
        raise ValueError(f"`modes` must be a positive int or {ndim} positive ints (one per axis), got {modes!r}.")
    return modes


class SpectralConv(eqx.Module):
    """Fourier layer `x -> irfft(W * rfft(x)[low modes])` in 1D, 2D or 3D.

    The lowest `modes` frequencies of every axis are kept: both signs on all axes but the last (the real FFT's
    half axis), i.e. `2**(ndim - 1)` corner blocks of weights. Modes beyond a grid's Nyquist frequency are
    dropped, so one layer runs on any resolution. The complex weights are stored as a real array with a
    trailing (re, im) axis: `jax.grad` of a real loss w.r.t. a complex leaf is the *conjugate* of the
    steepest-ascent direction, so an optimiser applied to complex leaves would train the imaginary parts
    uphill; real pairs avoid that.

    **Arguments:**

    - `in_channels`, `out_channels`: channels of the input and output fields.
    - `modes`: kept frequencies per axis (an int for all axes, or one per axis).
    - `ndim`: 1, 2 or 3 spatial axes.
    - `init`: `"uniform"` (`U[0, 1) / (in * out)`, the PDEBench FNO's) or `"normal"`
      (`N(0, 1) / in_channels` per corner, corner `c` drawn from subkey `2c` of `split(key, 2 * corners)`).
    - `key`, `dtype`: PRNG key and parameter dtype.

    Call on one field `x` of shape `(in_channels, *grid)`; returns `(out_channels, *grid)`.

    **Example:** `sc = nn.SpectralConv(2, 4, modes=8, key=jax.random.key(0)); y = sc(jnp.ones((2, 64)))`
    """

    weight: Array  # 1D: (in, out, m, 2); nD: (2**(n-1) corners, in, out, *modes, 2)
    modes: tuple[int, ...] = eqx.field(static=True)
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)

    def __init__(self, in_channels: int, out_channels: int, modes: int | Sequence[int], ndim: int = 1, *,
                 key: PRNGKeyArray, init: Literal["uniform", "normal"] = "uniform", dtype=jnp.float32):
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        self.out_channels = check_int("out_channels", out_channels, minimum=1)
        ndim = check_int("ndim", ndim, minimum=1, maximum=3)
        check_choice("init", init, ("uniform", "normal"))
        self.modes = _modes(modes, ndim)
        check_key("key", key)
        check_dtype("dtype", dtype)
        corners = 2 ** (ndim - 1)
        core = (in_channels, out_channels, *self.modes, 2)
        if init == "uniform":
            shape = core if ndim == 1 else (corners,) + core
            self.weight = (1.0 / (in_channels * out_channels)) * jax.random.uniform(key, shape, dtype)
        else:
            keys = jax.random.split(key, 2 * corners)
            perm = tuple(range(ndim, ndim + 2)) + tuple(range(ndim)) + (ndim + 2,)
            ws = [(1.0 / in_channels) * jax.random.normal(keys[2 * c], (*self.modes, in_channels, out_channels, 2),
                                                          dtype).transpose(perm) for c in range(corners)]
            self.weight = ws[0] if ndim == 1 else jnp.stack(ws)

    @property
    def ndim(self) -> int:
        return len(self.modes)

    def __call__(self, x: Float[Array, "cin *grid"]) -> Float[Array, "cout *grid"]:
        """Apply the spectral convolution to one channels-first field.

        **Arguments:**

        - `x`: the input field, shape `(in_channels, *grid)` with `ndim` grid axes of any size (modes beyond a
          grid's Nyquist frequency are dropped), floating point; the output is cast to `x`'s dtype.

        **Returns:** the output field, shape `(out_channels, *grid)`, in `x`'s dtype.
        """
        d = self.ndim
        check_field("SpectralConv", "x", x, d, self.in_channels, "in_channels")
        w = jax.lax.complex(self.weight[..., 0], self.weight[..., 1])
        if d == 1:
            w = w[None]
        grid = x.shape[1:]
        axes = tuple(range(1, d + 1))
        half = grid[-1] // 2 + 1
        m = [min(mi, n // 2) for mi, n in zip(self.modes[:-1], grid[:-1])] + [min(self.modes[-1], half)]
        xf = jnp.fft.rfftn(x, axes=axes)
        out = jnp.zeros((self.out_channels, *grid[:-1], half), xf.dtype)
        sub = "xyz"[:d]
        for c, sides in enumerate(itertools.product((0, 1), repeat=d - 1)):
            idx = tuple(slice(0, mi) if s == 0 else slice(n - mi, n) for s, mi, n in zip(sides, m, grid))
            idx = (slice(None),) + idx + (slice(0, m[-1]),)
            wc = w[(c, slice(None), slice(None)) + tuple(slice(0, mi) for mi in m)]
            out = out.at[idx].set(jnp.einsum(f"i{sub},io{sub}->o{sub}", xf[idx], wc))
        return jnp.fft.irfftn(out, s=grid, axes=axes).astype(x.dtype)


def _check_film(film, n_layers: int, width: int) -> None:
    """`film` is a sequence of `n_layers` `(scale, shift)` pairs of shape `(width,)` (static shapes only)."""
    if not isinstance(film, (list, tuple)) or len(film) != n_layers:
        got = f"{type(film).__name__} of length {len(film)}" if isinstance(film, (list, tuple)) else type(film).__name__
        raise ValueError(f"`film` must be a list of {n_layers} (scale, shift) pairs (one per Fourier layer), got {got}.")
    for i, pair in enumerate(film):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ValueError(f"`film[{i}]` must be a (scale, shift) pair, got {type(pair).__name__}.")
        for part, a in zip(("scale", "shift"), pair):
            if tuple(getattr(a, "shape", (None,))) != (width,):
                raise ValueError(f"`film[{i}]` {part} must have shape ({width},) (the FNO width), got "
                                 f"{getattr(a, 'shape', type(a).__name__)}.")


def _grid_coords(shape, dtype):
    axes = [jnp.linspace(0.0, 1.0, n, dtype=dtype) for n in shape]
    return jnp.stack(jnp.meshgrid(*axes, indexing="ij"), axis=0)


def _pointwise(layer: eqx.nn.Linear, v):
    """A 1x1 convolution of a channels-first field by an `eqx.nn.Linear`'s weights, as one einsum (its backward
    pass is ~1.2-1.3x faster on CPU than `eqx.nn.Conv`'s with kernel size 1; see docs/nn.md)."""
    y = jnp.einsum("oi,i...->o...", layer.weight, v)
    return y + layer.bias.reshape((-1,) + (1,) * (v.ndim - 1))


class FNO(eqx.Module):
    """Fourier neural operator (Li et al. 2021; PDEBench layout) in 1D, 2D or 3D, on any resolution.

    Grid coordinates in [0, 1] appended to the input channels (`coords=True`), a pointwise lifting to `width`,
    `n_layers` Fourier layers `v <- act(SpectralConv(v) + W v)` (no activation after the last unless
    `activate_last`), then a pointwise projection `width -> hidden -> out_channels` (GELU between; a single
    linear map with `hidden=None`). `padding` zero-pads the trailing end of every axis after the lifting and
    crops before the projection (for non-periodic data). All pointwise maps are `eqx.nn.Linear` layers applied
    as einsums over the channel axis.

    **Arguments:**

    - `in_channels`, `out_channels`: channels of the input and output fields.
    - `ndim`: 1, 2 or 3 spatial axes.
    - `width`, `modes`, `n_layers`, `hidden`: channel width, Fourier modes per axis, Fourier layers,
      projection hidden width (`None`: one linear projection).
    - `coords`: append the grid coordinates as input channels.
    - `padding`: zero padding (grid points) per axis.
    - `activate_last`: GELU after the last Fourier layer too.
    - `init`: initialisation of the pointwise layers (see [`MLP`][sciml.nn.MLP]); `spectral_init`: see
      [`SpectralConv`][sciml.nn.SpectralConv].
    - `key`, `dtype`.

    `fno(x, film=None)`: `x` of shape `(in_channels, *grid)` -> `(out_channels, *grid)`; `film` an optional
    list of per-layer `(scale, shift)` pairs of shape `(width,)`, applied as `v * (1 + scale) + shift` after
    each Fourier layer (FiLM conditioning).

    **Example:**

    ```python
    fno = nn.FNO(1, 1, ndim=1, width=64, modes=16, n_layers=4, key=jax.random.key(0))
    y = jax.vmap(fno)(jnp.ones((32, 1, 256)))   # (32, 1, 256)
    ```
    """

    lift: eqx.nn.Linear
    spectral: tuple[SpectralConv, ...]
    pointwise: tuple[eqx.nn.Linear, ...]
    projection: tuple[eqx.nn.Linear, ...]
    ndim: int = eqx.field(static=True)
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    width: int = eqx.field(static=True)
    coords: bool = eqx.field(static=True)
    padding: int = eqx.field(static=True)
    activate_last: bool = eqx.field(static=True)

    def __init__(self, in_channels: int, out_channels: int, *, ndim: int = 1, width: int = 20,
                 modes: int | Sequence[int] = 12, n_layers: int = 4, hidden: int | None = 128, coords: bool = True,
                 padding: int = 0, activate_last: bool = False,
                 init: Literal["uniform", "glorot_normal", "fan_in"] = "uniform",
                 spectral_init: Literal["uniform", "normal"] = "uniform", key: PRNGKeyArray, dtype=jnp.float32):
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        self.out_channels = check_int("out_channels", out_channels, minimum=1)
        self.ndim = check_int("ndim", ndim, minimum=1, maximum=3)
        self.width = check_int("width", width, minimum=1)
        n_layers = check_int("n_layers", n_layers, minimum=1)
        if hidden is not None:
            hidden = check_int("hidden", hidden, minimum=1)
        self.padding = check_int("padding", padding, minimum=0)
        check_choice("init", init, ("uniform", "glorot_normal", "fan_in"))
        check_choice("spectral_init", spectral_init, ("uniform", "normal"))
        modes = _modes(modes, ndim)
        self.coords = check_bool("coords", coords)
        self.activate_last = check_bool("activate_last", activate_last)
        check_key("key", key)
        check_dtype("dtype", dtype)
        sizes = [width, out_channels] if hidden is None else [width, hidden, out_channels]
        keys = jax.random.split(key, 2 * n_layers + len(sizes))
        lin = lambda k, a, b: _linear(k, a, b, init, 1.0, dtype)  # noqa: E731
        self.lift = lin(keys[0], in_channels + (ndim if coords else 0), width)
        self.spectral = tuple(SpectralConv(width, width, modes, ndim, key=keys[1 + i], init=spectral_init, dtype=dtype)
                              for i in range(n_layers))
        self.pointwise = tuple(lin(keys[1 + n_layers + i], width, width) for i in range(n_layers))
        self.projection = tuple(lin(k, a, b) for k, a, b in zip(keys[2 * n_layers + 1:], sizes[:-1], sizes[1:]))

    def __call__(self, x: Float[Array, "cin *grid"], film=None) -> Float[Array, "cout *grid"]:
        """Apply the FNO to one channels-first field (`jax.vmap` it over a batch).

        **Arguments:**

        - `x`: the input field, shape `(in_channels, *grid)` with `ndim` grid axes of any size.
        - `film`: optional FiLM conditioning: a list of `n_layers` `(scale, shift)` pairs, each of shape
          `(width,)`; after Fourier layer `i` the hidden field becomes `v * (1 + scale_i) + shift_i` (per channel,
          before the activation). `None` (default) applies none.

        **Returns:** the output field, shape `(out_channels, *grid)`.
        """
        check_field("FNO", "x", x, self.ndim, self.in_channels, "in_channels")
        if film is not None:
            _check_film(film, len(self.spectral), self.width)
        grid = x.shape[1:]
        if self.coords:
            x = jnp.concatenate([x, _grid_coords(grid, x.dtype)], axis=0)
        v = _pointwise(self.lift, x)
        if self.padding:
            v = jnp.pad(v, ((0, 0),) + ((0, self.padding),) * self.ndim)
        n = len(self.spectral)
        ex = (-1,) + (1,) * self.ndim
        for i, (sc, pw) in enumerate(zip(self.spectral, self.pointwise)):
            v = sc(v) + _pointwise(pw, v)
            if film is not None:
                s, b = film[i]
                v = v * (1.0 + s.reshape(ex)) + b.reshape(ex)
            if i < n - 1 or self.activate_last:
                v = jax.nn.gelu(v)
        if self.padding:
            v = v[(slice(None),) + tuple(slice(0, g) for g in grid)]
        for j, layer in enumerate(self.projection):
            v = _pointwise(layer, jax.nn.gelu(v) if j else v)
        return v
