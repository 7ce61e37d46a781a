"""The CAPE block and the conditioned one-step models (base networks: `sciml.nn.FNO` / `sciml.nn.UNet`).

Conventions: every network acts on ONE sample, channels first: ``x`` of shape (channels, *grid); vmap for
batches. One-step models are called as ``model(window, lam) -> (u_next, aux)`` with ``window`` of shape
(t_init, channels, *grid), ``lam`` (n_params,), ``u_next`` (channels, *grid) and ``aux`` the CAPE block's own
prediction (ell, channels, *grid) or ``None``.
"""

from __future__ import annotations

from typing import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..nn import FNO, MLP, SpectralConv, UNet
from ..nn._util import _conv, _upsample
from .._errors import check_choice, check_int
from ..nn._checks import check_bool, check_dtype, check_instance, check_key, check_param_dtype
from ._checks import TRANSFORMS, check_grid, check_lam, check_stats, check_window

__all__ = [
    "CAPE",
    "CAPEModel",
    "Base",
    "Conditional",
    "FiLM",
    "make_model",
    "CAPEBlockNNX",
]


def fourier_resample(x, shape: Sequence[int]):
    """Band-limited (trigonometric) resampling of a periodic field ``x`` of shape ``(channels, *grid)`` to
    ``(channels, *shape)``: exact for fields whose spectrum fits both grids; the Nyquist bin of an even input
    grid is split symmetrically when upsampling."""
    shape = tuple(int(n) for n in shape)
    if len(shape) != x.ndim - 1:
        raise ValueError(f"shape {shape} must give one size per spatial axis of x {x.shape}")
    for ax, n_out in enumerate(shape, start=1):
        n_in = x.shape[ax]
        if n_in == n_out:
            continue
        X = jnp.fft.rfft(x, axis=ax)
        if n_out > n_in and n_in % 2 == 0:
            idx = [slice(None)] * x.ndim
            idx[ax] = n_in // 2
            X = X.at[tuple(idx)].multiply(0.5)
        x = (jnp.fft.irfft(X, n=n_out, axis=ax) * (n_out / n_in)).astype(x.dtype)
    return x


# ----------------------------------------------------------------------------------------------------------
# Parameter embedding
# ----------------------------------------------------------------------------------------------------------
def _stats(v, n=None):
    """Parameter statistics as a static tuple of floats (never trained, never weight-decayed)."""
    v = [float(a) for a in np.ravel(np.asarray(v, dtype=np.float64))]
    if n is not None and len(v) == 1:
        v = v * n
    return tuple(v)


def _transform_params(lam, transform: str, mean, std):
    lam = jnp.asarray(lam)
    mean, std = jnp.asarray(mean, lam.dtype), jnp.asarray(std, lam.dtype)
    if transform == "raw":
        return lam
    if transform == "sigmoid_log":  # reference 2D: sigmoid(log lam) = lam / (1 + lam); fails for lam <= 0
        return lam / (1.0 + lam)
    if transform == "standardized_log":
        return (jnp.log(jnp.maximum(lam, 1e-30)) - mean) / std
    if transform == "standardized":
        return (lam - mean) / std
    raise ValueError(f"unknown param_transform {transform!r}: raw | sigmoid_log | standardized_log | standardized")


def _mlp2(cin, hidden, cout, key, dtype):
    """The CAPE/FiLM parameter MLP: one hidden GELU layer, Equinox's default initialisation."""
    return MLP(cin, cout, hidden, 1, activation="gelu", key=key, dtype=dtype)


# ----------------------------------------------------------------------------------------------------------
# CAPE block
# ----------------------------------------------------------------------------------------------------------
_VARIANTS = {
    "faithful": dict(padding_mode="ZEROS", pooling="avg4", norm="layer_grid", gate="none", film=False),
    "improved": dict(padding_mode="CIRCULAR", pooling="spectral", norm="instance", gate="none", film=False),
}


class CAPE(eqx.Module):
    """The CAPE block (spec cape.md §1): parameter-guided channel attention producing a one-step guess
    ``u_cape`` of the next state from the current one.

    ``a_j = MLP_j(lam')`` (three 2-layer MLPs, p -> h -> w, GELU); trunk ``y = GELU(Conv_k(u))`` (c -> h, no bias);
    branches (h -> w): spectral (pool, Fourier conv, ``* a_spec``, unpool), 1x1 conv (``* a_1x1``), depthwise conv
    (groups=h, ``* a_dw``), plus an unmodulated 1x1 skip; ``GELU`` -> 1x1 conv (w -> c*ell); a norm over the spatial
    axes; output ``u + N(y)`` (``combine="add"``, reference 1D) or ``u * (1 + N(y))`` (``"mul"``, reference 2D).

    ``variant="faithful"``: zero padding, AvgPool(4) + Fourier conv on N/4 points + nearest upsampling, LayerNorm
    with a per-grid-point affine (locked to ``grid_shape``), unbounded weights, raw parameters (1D) or
    ``lam/(1+lam)`` (2D). ``variant="improved"``: circular padding, the Fourier conv at full resolution (spectral
    pooling: exact FFT truncation instead of average pooling + blocky upsampling), a resolution-agnostic
    instance norm with per-channel affine, standardised log-parameters (``param_mean``/``param_std`` of
    ``log lam``). Any field can be overridden: ``padding_mode``, ``pooling`` (avg4|spectral|none), ``norm``
    (layer_grid|instance|none), ``gate`` (none|sigmoid: ``2 sigmoid(a)``|tanh: ``1 + tanh(a)``), ``film``
    (adds a parameter-dependent shift per branch), ``param_transform``. ``ref_grid`` (e.g. the training grid):
    inputs on another grid are Fourier-resampled to ``ref_grid`` for the block and its output resampled back,
    so the grid-point stencils of the trunk and depthwise convolutions keep their physical size (resolution
    transfer); ``None`` runs the block at the input's own resolution.

    **Arguments:**

    - `n_channels`: the field channels `c` (int >= 1; default 1).
    - `n_params`: the number of PDE parameters `p` (int >= 1; default 1).
    - `ndim`: 1, 2 or 3 spatial axes (default 1).
    - `grid_shape`: the training grid, `ndim` positive ints (needed by `norm="layer_grid"`; default None).
    - `width`: channels of the branches (the trunk has `width // 2`; default 64).
    - `kernel_size`: odd stencil (in grid points) of the trunk and depthwise convolutions (default 5).
    - `modes`: Fourier modes per axis of the spectral branch (default None: 16 in 1D, 9 otherwise).
    - `ell`: frames the block predicts (default 1).
    - `t_init`: input frames (default 1); the trunk sees `t_init * c` channels.
    - `variant`: `"faithful"` (default) or `"improved"`, which sets the defaults of the five options below.
    - `padding_mode`: padding of the trunk and depthwise convolutions, `"CIRCULAR"`, `"ZEROS"`, `"REFLECT"` or
      `"REPLICATE"` (None: the variant's).
    - `pooling`: the spectral branch's resolution, `"avg4"` (1D/2D only, grid sizes divisible by 4),
      `"spectral"` or `"none"` (None: the variant's).
    - `norm`: the output norm, `"layer_grid"`, `"instance"` or `"none"` (None: the variant's).
    - `gate`: the attention-weight gate, `"none"`, `"sigmoid"` or `"tanh"` (None: the variant's, `"none"`).
    - `film`: if True each branch also gets a parameter-dependent shift (None: the variant's, False).
    - `combine`: `"add"` (`u + N(y)`) or `"mul"` (`u * (1 + N(y))`); None: `"add"` in 1D, `"mul"` otherwise.
    - `param_transform`: how `lam` is fed to the MLPs: `"raw"`, `"sigmoid_log"`, `"standardized_log"` or
      `"standardized"` (None: `"raw"` (1D) / `"sigmoid_log"` (2D, 3D) for `"faithful"`, `"standardized_log"` for
      `"improved"`).
    - `param_mean`: the mean subtracted by the standardised transforms (of `log lam` for `"standardized_log"`), a
      finite scalar or one value per parameter (default 0.0).
    - `param_std`: the matching standard deviation, > 0, scalar or one per parameter (default 1.0).
    - `ref_grid`: the grid the block runs at (`ndim` ints; inputs are Fourier-resampled to it and back), or None
      (default) to run at the input's resolution; see above.
    - `key`: a JAX PRNG key for the initialisation (required, keyword-only).
    - `dtype`: the floating dtype of the weights (default float32).

    Called as `block(window, lam)` with `window` (t_init, c, *grid) and `lam` (n_params,); returns `u_cape`
    (ell, c, *grid). Shapes are checked against the block (statically, also under jit).

    **Example:** `blk = cape.CAPE(1, 1, variant="improved", width=16, key=jax.random.key(0))`
    """

    mlps: list  # [spec, 1x1, dw]; each outputs w (or 2w with film)
    trunk: eqx.nn.Conv
    spec: SpectralConv
    conv1x1: eqx.nn.Conv
    dw: eqx.nn.Conv
    skip: eqx.nn.Conv
    out: eqx.nn.Conv
    norm_weight: jax.Array | None
    norm_bias: jax.Array | None
    param_mean: tuple = eqx.field(static=True)
    param_std: tuple = eqx.field(static=True)
    ndim: int = eqx.field(static=True)
    in_channels: int = eqx.field(static=True)
    n_channels: int = eqx.field(static=True)
    ell: int = eqx.field(static=True)
    width: int = eqx.field(static=True)
    pooling: str = eqx.field(static=True)
    norm: str = eqx.field(static=True)
    gate: str = eqx.field(static=True)
    film: bool = eqx.field(static=True)
    combine: str = eqx.field(static=True)
    param_transform: str = eqx.field(static=True)
    variant: str = eqx.field(static=True)
    dtype_name: str = eqx.field(static=True)
    ref_grid: tuple | None = eqx.field(static=True)

    def __init__(self, n_channels: int = 1, n_params: int = 1, *, ndim: int = 1, grid_shape: Sequence[int] | None = None,
                 width: int = 64, kernel_size: int = 5, modes: int | None = None, ell: int = 1, t_init: int = 1,
                 variant: str = "faithful", padding_mode: str | None = None, pooling: str | None = None,
                 norm: str | None = None, gate: str | None = None, film: bool | None = None,
                 combine: str | None = None, param_transform: str | None = None, param_mean=0.0, param_std=1.0,
                 ref_grid: Sequence[int] | None = None, key, dtype=jnp.float32):
        if variant not in _VARIANTS:
            raise ValueError(f"`variant` must be one of {sorted(_VARIANTS)}, got {variant!r}")
        n_channels = check_int("n_channels", n_channels, minimum=1)
        n_params = check_int("n_params", n_params, minimum=1)
        ndim = check_int("ndim", ndim, minimum=1, maximum=3)
        width = check_int("width", width, minimum=2)
        kernel_size = check_int("kernel_size", kernel_size, minimum=1)
        if kernel_size % 2 == 0:
            raise ValueError(f"`kernel_size` must be odd ('SAME' padding), got {kernel_size}.")
        if modes is not None:
            check_int("modes", modes, minimum=1)
        ell = check_int("ell", ell, minimum=1)
        t_init = check_int("t_init", t_init, minimum=1)
        for name, val, ok in (("padding_mode", padding_mode, ("CIRCULAR", "ZEROS", "REFLECT", "REPLICATE")),
                              ("pooling", pooling, ("avg4", "spectral", "none")),
                              ("norm", norm, ("layer_grid", "instance", "none")),
                              ("gate", gate, ("none", "sigmoid", "tanh")), ("combine", combine, ("add", "mul")),
                              ("param_transform", param_transform, TRANSFORMS)):
            if val is not None:
                check_choice(name, val, ok)
        if film is not None:
            check_bool("film", film)
        if grid_shape is not None:
            grid_shape = check_grid("grid_shape", grid_shape, ndim)
        if ref_grid is not None:
            ref_grid = check_grid("ref_grid", ref_grid, ndim)
        check_stats("param_mean", param_mean, n_params)
        check_stats("param_std", param_std, n_params, positive=True)
        check_key("key", key)
        check_dtype("dtype", dtype)
        cfg = dict(_VARIANTS[variant])
        for name, val in dict(padding_mode=padding_mode, pooling=pooling, norm=norm, gate=gate, film=film).items():
            if val is not None:
                cfg[name] = val
        if param_transform is None:
            param_transform = ("raw" if ndim == 1 else "sigmoid_log") if variant == "faithful" else "standardized_log"
        if combine is None:
            combine = "add" if ndim == 1 else "mul"
        if modes is None:
            modes = 16 if ndim == 1 else 9
        if cfg["pooling"] == "avg4" and ndim == 3:
            raise ValueError("`pooling`: 'avg4' (faithful CAPE) is 1D/2D only; use pooling='spectral' in 3D.")
        if cfg["norm"] == "layer_grid" and grid_shape is None:
            raise ValueError("norm='layer_grid' (faithful CAPE) has a per-grid-point affine: pass grid_shape=(N,...) "
                             "or use variant='improved' / norm='instance' for a resolution-agnostic block")
        if cfg["pooling"] == "avg4" and grid_shape is not None and any(n % 4 for n in grid_shape):
            raise ValueError(f"pooling='avg4' needs grid sizes divisible by 4, got {grid_shape}")
        h = width // 2
        keys = jax.random.split(key, 9)
        self.ndim, self.n_channels, self.ell, self.width = ndim, n_channels, ell, width
        self.in_channels = n_channels * t_init
        self.pooling, self.norm, self.gate, self.film = cfg["pooling"], cfg["norm"], cfg["gate"], bool(cfg["film"])
        self.combine, self.param_transform, self.variant = combine, param_transform, variant
        pm = cfg["padding_mode"]
        mult = 2 if self.film else 1
        self.mlps = [_mlp2(n_params, h, mult * width, keys[i], dtype) for i in range(3)]
        self.trunk = _conv(ndim, self.in_channels, h, kernel_size, keys[3], bias=False, padding_mode=pm, dtype=dtype)
        self.spec = SpectralConv(h, width, modes, ndim, key=keys[4], dtype=dtype)
        self.conv1x1 = _conv(ndim, h, width, 1, keys[5], dtype=dtype)
        self.dw = _conv(ndim, h, width, kernel_size, keys[6], bias=False, groups=h, padding_mode=pm, dtype=dtype)
        self.skip = _conv(ndim, h, width, 1, keys[7], dtype=dtype)
        self.out = _conv(ndim, width, n_channels * ell, 1, keys[8], dtype=dtype)
        if self.norm == "layer_grid":
            self.norm_weight = jnp.ones(tuple(grid_shape), dtype)
            self.norm_bias = jnp.zeros(tuple(grid_shape), dtype)
        elif self.norm == "instance":
            self.norm_weight = jnp.ones((n_channels * ell,), dtype)
            self.norm_bias = jnp.zeros((n_channels * ell,), dtype)
        elif self.norm == "none":
            self.norm_weight = self.norm_bias = None
        else:
            raise ValueError(f"norm must be layer_grid | instance | none, got {self.norm!r}")
        self.param_mean, self.param_std = _stats(param_mean, n_params), _stats(param_std, n_params)
        self.dtype_name = jnp.dtype(dtype).name
        if ref_grid is not None and len(tuple(ref_grid)) != ndim:
            raise ValueError(f"ref_grid needs {ndim} sizes, got {ref_grid}")
        self.ref_grid = None if ref_grid is None else tuple(int(n) for n in ref_grid)

    def weights(self, lam):
        """The channel-attention weights (and FiLM shifts) for parameters ``lam``: 3 x (scale, shift|None).

        **Arguments:**

        - `lam`: the raw PDE parameters, shape `(n_params,)` (the block's `param_transform` is applied here).

        **Returns:** a list of three `(scale, shift)` pairs, for the spectral, 1x1 and depthwise branches in that
        order; each `scale` has shape `(width,)` (gated by `gate`), each `shift` is `(width,)` with `film=True`
        and `None` otherwise.
        """
        lp = _transform_params(lam, self.param_transform, self.param_mean, self.param_std).astype(self.dtype_name)
        res = []
        for mlp in self.mlps:
            a = mlp(lp)
            b = None
            if self.film:
                a, b = a[: self.width], a[self.width :]
            if self.gate == "sigmoid":
                a = 2.0 * jax.nn.sigmoid(a)
            elif self.gate == "tanh":
                a = 1.0 + jnp.tanh(a)
            elif self.gate != "none":
                raise ValueError(f"gate must be none | sigmoid | tanh, got {self.gate!r}")
            res.append((a, b))
        return res

    def _spectral_branch(self, y):
        if self.pooling == "avg4":
            shp = y.shape
            if self.ndim == 1:
                yp = y.reshape(shp[0], shp[1] // 4, 4).mean(-1)
            else:
                yp = y.reshape(shp[0], shp[1] // 4, 4, shp[2] // 4, 4).mean((2, 4))
            return yp, lambda z: _upsample(z, self.ndim, 4)
        if self.pooling in ("spectral", "none"):
            return y, lambda z: z
        raise ValueError(f"pooling must be avg4 | spectral | none, got {self.pooling!r}")

    def __call__(self, window, lam):
        """The block's one-step guess of the next `ell` states.

        **Arguments:**

        - `window`: the input states, shape `(t_init, c, *grid)` (or `(c, *grid)` when `t_init == 1`), in the
          weights' dtype; one sample (vmap over a batch axis). With `norm="layer_grid"` the grid (or `ref_grid`)
          must equal `grid_shape`.
        - `lam`: the raw PDE parameters, shape `(n_params,)`.

        **Returns:** ``u_cape``, shape `(ell, c, *grid)`: the last input state combined (`combine`) with the
        block's normalised output.
        """
        check_window("CAPE", window, self.ndim, self.in_channels, self.n_channels)
        check_lam("CAPE", lam, self.mlps[0].in_size)
        grid = tuple(window.shape[-self.ndim:])
        run_grid = grid if self.ref_grid is None else self.ref_grid
        if self.norm == "layer_grid" and run_grid != tuple(self.norm_weight.shape):
            raise ValueError(f"`window`: this CAPE block (norm='layer_grid') was built for grid_shape "
                             f"{tuple(self.norm_weight.shape)}, got grid {grid}; pass ref_grid= or use norm='instance'.")
        if self.pooling == "avg4" and any(n % 4 for n in run_grid):
            raise ValueError(f"`window`: pooling='avg4' needs grid sizes divisible by 4, got {run_grid}.")
        check_param_dtype("CAPE block", "window", window, self.trunk.weight.dtype)
        u = window.reshape((-1,) + window.shape[-self.ndim :])
        last = u[-self.n_channels :]
        native = u.shape[1:]
        if self.ref_grid is not None and native != self.ref_grid:
            # the local convolutions (trunk, depthwise) have stencils in grid points: run the block at the
            # resolution it was trained at, with exact band-limited resampling in and out
            u = fourier_resample(u, self.ref_grid)
        (a_s, b_s), (a_1, b_1), (a_d, b_d) = self.weights(lam)
        ex = (slice(None),) + (None,) * self.ndim
        y = jax.nn.gelu(self.trunk(u))
        yp, unpool = self._spectral_branch(y)
        branches = [(unpool(self.spec(yp)), a_s, b_s), (self.conv1x1(y), a_1, b_1), (self.dw(y), a_d, b_d)]
        z = self.skip(y)
        for v, a, b in branches:
            v = v * a[ex]
            if b is not None:
                v = v + b[ex]
            z = z + v
        z = self.out(jax.nn.gelu(z))
        axes = tuple(range(1, self.ndim + 1))
        if self.norm != "none":
            mu = z.mean(axes, keepdims=True)
            var = z.var(axes, keepdims=True)
            z = (z - mu) / jnp.sqrt(var + 1e-5)
            if self.norm == "layer_grid":
                z = z * self.norm_weight[None] + self.norm_bias[None]
            else:
                z = z * self.norm_weight[ex] + self.norm_bias[ex]
        if z.shape[1:] != native:
            z = fourier_resample(z, native)
        z = z.reshape((self.ell, self.n_channels) + z.shape[1:])
        if self.combine == "add":
            return last[None] + z
        if self.combine == "mul":
            return last[None] * (1.0 + z)
        raise ValueError(f"combine must be add | mul, got {self.combine!r}")


# ----------------------------------------------------------------------------------------------------------
# One-step models
# ----------------------------------------------------------------------------------------------------------
def _check_net(net):
    if not isinstance(net, eqx.Module) or not all(hasattr(net, a) for a in ("in_channels", "out_channels", "ndim")):
        raise TypeError(f"`net` must be a channels-first network with in_channels/out_channels/ndim (nn.FNO, nn.UNet), "
                        f"got {type(net).__name__}.")


def _check_net_window(who, model, window, extra, lam=None):
    """`window` (t_init, c, *grid) for a Base/Conditional/FiLM model whose net takes `t_init * c + extra` channels
    (`extra=None`: the parameters' count, read from `lam`); returns the number of parameters."""
    net, nd = model.net, model.net.ndim
    if lam is not None:
        check_lam(who, lam, None)
        extra = lam.shape[0]
    cin = net.in_channels - extra
    c = cin // model.t_init if cin % model.t_init == 0 else -1
    check_window(who, window, nd, cin, c if c > 0 else window.shape[-nd - 1])
    return extra


def _flatten_window(window, ndim):
    return window.reshape((-1,) + window.shape[-ndim:])


class CAPEModel(eqx.Module):
    """CAPE coupled to a base network (spec §1.5): the base net sees ``[window, u_cape]`` as channels and outputs
    as many channels, a final 1x1 conv maps them to the next state. ``base`` must have
    ``in_channels == out_channels == (t_init + ell) * c``.

    **Arguments:**

    - `base`: the base network, an `nn.FNO` / `nn.UNet` with `in_channels == out_channels == (t_init + ell) * c`.
    - `cape`: a [`CAPE`][] block (its `n_channels`, `ell` and `ndim` set the model's).
    - `t_init`: input frames, equal to the block's (default 1).
    - `key`: a JAX PRNG key for the 1x1 output head's initialisation (default None: `jax.random.key(0)`).
    - `dtype`: the floating dtype of the head's weights (default float32).

    `model(window, lam)` -> `(u_next (c, *grid), u_cape (ell, c, *grid))`.

    **Example:** `m = cape.CAPEModel(cape.FNO(2, 2, width=8, key=k1), cape.CAPE(1, 1, variant="improved", key=k2))`
    """

    base: eqx.Module
    cape: CAPE
    head: eqx.nn.Conv
    t_init: int = eqx.field(static=True)
    n_channels: int = eqx.field(static=True)

    def __init__(self, base, cape: CAPE, *, t_init: int = 1, key=None, dtype=jnp.float32):
        check_instance("cape", cape, CAPE, "cape.CAPE block")
        check_instance("base", base, eqx.Module, "Equinox module (e.g. cape.FNO / cape.UNet)")
        if not all(hasattr(base, a) for a in ("in_channels", "out_channels")):
            raise TypeError(f"`base` must have `in_channels` and `out_channels` (an nn.FNO or nn.UNet), got "
                            f"{type(base).__name__}.")
        t_init = check_int("t_init", t_init, minimum=1)
        if key is not None:
            check_key("key", key)
        check_dtype("dtype", dtype)
        c, ell = cape.n_channels, cape.ell
        need = (t_init + ell) * c
        if base.in_channels != need or base.out_channels != need:
            raise ValueError(f"`base`: CAPEModel: base must map (t_init + ell) * c = {need} channels to {need}; got "
                             f"{base.in_channels} -> {base.out_channels}. Build it e.g. as FNO({need}, {need}, ...)")
        if cape.in_channels != t_init * c:
            raise ValueError(f"`t_init`: CAPE block built for t_init={cape.in_channels // c}, model has t_init={t_init}")
        self.base, self.cape, self.t_init, self.n_channels = base, cape, t_init, c
        key = jax.random.key(0) if key is None else key
        self.head = _conv(cape.ndim, need, c, 1, key, dtype=dtype)

    def __call__(self, window, lam):
        """One step of the CAPE-conditioned model.

        **Arguments:**

        - `window`: the last `t_init` states, shape `(t_init, c, *grid)` (one sample: vmap over a batch axis), in
          the weights' floating dtype.
        - `lam`: the PDE parameters, shape `(n_params,)` (raw values; the model applies its `param_transform`).

        **Returns:** `(u_next, u_cape)`: the next state `(c, *grid)` and the block's own guess `(ell, c, *grid)`.
        """
        nd = self.cape.ndim
        u_cape = self.cape(window, lam)
        x = jnp.concatenate([_flatten_window(window, nd), _flatten_window(u_cape, nd)], axis=0)
        return self.head(self.base(x)), u_cape


class Base(eqx.Module):
    """The base network alone (parameter-blind); ``net`` maps ``t_init * c`` channels to ``c``.

    **Arguments:**

    - `net`: a channels-first network (`nn.FNO` / `nn.UNet`) with `in_channels == t_init * c` and
      `out_channels == c`.
    - `t_init`: input frames (int >= 1; default 1).

    `model(window, lam)` -> `(u_next, None)`.

    **Example:** `m = cape.Base(cape.FNO(1, 1, width=36, key=jax.random.key(0)))`
    """

    net: eqx.Module
    t_init: int = eqx.field(static=True, default=1)

    def __check_init__(self):
        _check_net(self.net)
        check_int("t_init", self.t_init, minimum=1)

    def __call__(self, window, lam):
        """One step of the parameter-blind base network.

        **Arguments:**

        - `window`: the last `t_init` states, shape `(t_init, c, *grid)` (one sample: vmap over a batch axis), in
          the weights' floating dtype.
        - `lam`: the PDE parameters, shape `(n_params,)` (ignored: the model is parameter-blind).

        **Returns:** `(u_next, None)` with `u_next` of shape `(c, *grid)`.
        """
        _check_net_window("Base", self, window, 0)
        return self.net(_flatten_window(window, self.net.ndim)), None


class Conditional(eqx.Module):
    """Parameters as extra constant input channels (transformed like CAPE's: ``param_transform``);
    ``net`` maps ``t_init * c + n_params`` channels to ``c``.

    **Arguments:**

    - `net`: a channels-first network (`nn.FNO` / `nn.UNet`) with `in_channels == t_init * c + n_params` and
      `out_channels == c`.
    - `t_init`: input frames (int >= 1; default 1).
    - `param_transform`: how `lam` becomes channels, as [`CAPE`][]'s (default `"standardized_log"`).
    - `param_mean`: mean for the standardised transforms, a finite scalar or one value per parameter (default 0.0).
    - `param_std`: standard deviation for the standardised transforms, > 0, scalar or per parameter (default 1.0).
    - `dtype`: unused (the channels take the window's dtype); kept for a uniform signature.

    **Example:** `m = cape.Conditional(cape.FNO(2, 1, width=36, key=jax.random.key(0)))`
    """

    net: eqx.Module
    param_mean: tuple = eqx.field(static=True)
    param_std: tuple = eqx.field(static=True)
    t_init: int = eqx.field(static=True)
    param_transform: str = eqx.field(static=True)

    def __init__(self, net, *, t_init: int = 1, param_transform: str = "standardized_log", param_mean=0.0,
                 param_std=1.0, dtype=jnp.float32):
        _check_net(net)
        t_init = check_int("t_init", t_init, minimum=1)
        check_choice("param_transform", param_transform, TRANSFORMS)
        check_stats("param_mean", param_mean, None)
        check_stats("param_std", param_std, None, positive=True)
        self.net, self.t_init, self.param_transform = net, t_init, param_transform
        self.param_mean, self.param_std = _stats(param_mean), _stats(param_std)

    def __call__(self, window, lam):
        """One step with the transformed parameters appended as constant channels.

        **Arguments:**

        - `window`: the last `t_init` states, shape `(t_init, c, *grid)` (one sample: vmap over a batch axis), in
          the weights' floating dtype.
        - `lam`: the PDE parameters, shape `(n_params,)` (raw values; the model applies its `param_transform`).

        **Returns:** `(u_next, None)` with `u_next` of shape `(c, *grid)`.
        """
        n_params = _check_net_window("Conditional", self, window, None, lam)
        x = _flatten_window(window, self.net.ndim)
        lp = _transform_params(lam, self.param_transform, self.param_mean, self.param_std).astype(x.dtype)
        if x.shape[0] + n_params != self.net.in_channels:
            raise ValueError(f"`lam`: Conditional's net takes {self.net.in_channels} channels = window channels "
                             f"{x.shape[0]} + n_params, got lam of shape {tuple(lam.shape)}.")
        chans = jnp.broadcast_to(lp.reshape((-1,) + (1,) * self.net.ndim), (lp.shape[0],) + x.shape[1:])
        return self.net(jnp.concatenate([x, chans], axis=0)), None


class FiLM(eqx.Module):
    """FiLM conditioning of an FNO: an MLP maps transformed parameters to a per-layer (scale, shift) of the
    Fourier layers' channels (``v * (1 + s) + b``; zero-initialised last layer, so it starts as the base FNO).

    **Arguments:**

    - `net`: an `nn.FNO` with `in_channels == t_init * c` and `out_channels == c`.
    - `n_params`: the number of PDE parameters (int >= 1; default 1).
    - `hidden`: the hidden width of the one-hidden-layer GELU MLP (default 32).
    - `t_init`: input frames (int >= 1; default 1).
    - `param_transform`: how `lam` is fed to the MLP, as [`CAPE`][]'s (default `"standardized_log"`).
    - `param_mean`: mean for the standardised transforms, a finite scalar or one value per parameter (default 0.0).
    - `param_std`: standard deviation for the standardised transforms, > 0, scalar or per parameter (default 1.0).
    - `key`: a JAX PRNG key for the MLP's initialisation (required, keyword-only).
    - `dtype`: the floating dtype of the MLP's weights (default float32).

    **Example:** `m = cape.FiLM(cape.FNO(1, 1, width=36, key=k1), 1, key=k2)`
    """

    net: FNO
    mlp: MLP
    param_mean: tuple = eqx.field(static=True)
    param_std: tuple = eqx.field(static=True)
    t_init: int = eqx.field(static=True)
    param_transform: str = eqx.field(static=True)

    def __init__(self, net: FNO, n_params: int = 1, *, hidden: int = 32, t_init: int = 1,
                 param_transform: str = "standardized_log", param_mean=0.0, param_std=1.0, key, dtype=jnp.float32):
        if not isinstance(net, FNO):
            raise ValueError("`net`: FiLM needs an FNO base (it modulates the Fourier layers)")
        n_params = check_int("n_params", n_params, minimum=1)
        hidden = check_int("hidden", hidden, minimum=1)
        t_init = check_int("t_init", t_init, minimum=1)
        check_choice("param_transform", param_transform, TRANSFORMS)
        check_stats("param_mean", param_mean, n_params)
        check_stats("param_std", param_std, n_params, positive=True)
        check_key("key", key)
        check_dtype("dtype", dtype)
        n = len(net.spectral)
        mlp = _mlp2(n_params, hidden, 2 * n * net.width, key, dtype)
        mlp = eqx.tree_at(lambda m: (m.layers[-1].weight, m.layers[-1].bias), mlp,
                          (jnp.zeros_like(mlp.layers[-1].weight), jnp.zeros_like(mlp.layers[-1].bias)))
        self.net, self.mlp, self.t_init, self.param_transform = net, mlp, t_init, param_transform
        self.param_mean, self.param_std = _stats(param_mean), _stats(param_std)

    def __call__(self, window, lam):
        """One step of the FiLM-modulated FNO.

        **Arguments:**

        - `window`: the last `t_init` states, shape `(t_init, c, *grid)` (one sample: vmap over a batch axis), in
          the weights' floating dtype.
        - `lam`: the PDE parameters, shape `(n_params,)` (raw values; the model applies its `param_transform`).

        **Returns:** `(u_next, None)` with `u_next` of shape `(c, *grid)`.
        """
        _check_net_window("FiLM", self, window, 0)
        check_lam("FiLM", lam, self.mlp.in_size)
        x = _flatten_window(window, self.net.ndim)
        lp = _transform_params(lam, self.param_transform, self.param_mean, self.param_std).astype(x.dtype)
        sb = self.mlp(lp).reshape(len(self.net.spectral), 2, self.net.width)
        return self.net(x, film=[(sb[i, 0], sb[i, 1]) for i in range(sb.shape[0])]), None


def make_model(kind: str = "cape", *, base: str = "fno", ndim: int = 1, n_channels: int = 1, n_params: int = 1,
               t_init: int = 1, width: int | None = None, modes: int = 12, cape_width: int = 64,
               cape_variant: str = "improved", grid_shape=None, param_mean=0.0, param_std=1.0, key,
               dtype=jnp.float32, **cape_kw):
    """Build one of the paper's model families with the reference sizes (spec §1.7).

    ``kind``: ``"cape"`` (base width 20 FNO / 32-feature U-Net + CAPE block), ``"base"`` (parameter-matched width
    36 in 1D, 28 in 2D), ``"conditional"``, ``"film"``. ``width`` overrides the FNO width / U-Net features.
    ``param_mean``/``param_std``: statistics of ``log lam`` of the training set (for standardised transforms).

    **Arguments:**

    - `kind`: `"cape"` (default), `"base"`, `"conditional"` or `"film"` (see above).
    - `base`: the base network, `"fno"` (default) or `"unet"` (`kind="film"` needs `"fno"`).
    - `ndim`: 1, 2 or 3 spatial axes (default 1).
    - `n_channels`: the field channels `c` (default 1).
    - `n_params`: the number of PDE parameters (default 1).
    - `t_init`: input frames (default 1).
    - `width`: the FNO width / U-Net features (default None: the reference sizes above).
    - `modes`: Fourier modes per axis of the FNO base (default 12; unused by the U-Net).
    - `cape_width`: the CAPE block's `width` (default 64; `kind="cape"` only).
    - `cape_variant`: the CAPE block's `variant` (default `"improved"`).
    - `grid_shape`: the CAPE block's `grid_shape` (needed by `norm="layer_grid"`, e.g. the faithful variant).
    - `param_mean`: mean of `log lam` over the training set for the standardised transforms (default 0.0).
    - `param_std`: standard deviation of `log lam`, > 0 (default 1.0).
    - `key`: a JAX PRNG key for the initialisation (required, keyword-only).
    - `dtype`: the floating dtype of the weights (default float32).
    - `**cape_kw`: further [`CAPE`][] options (`ell`, `gate`, `ref_grid`, ...).

    **Returns:** a [`CAPEModel`][], [`Base`][], [`Conditional`][] or [`FiLM`][].

    **Example:** `m = cape.make_model("cape", n_params=1, key=jax.random.key(0))`
    """
    check_choice("kind", kind, ("cape", "base", "conditional", "film"))
    check_choice("base", base, ("fno", "unet"))
    if kind == "film" and base != "fno":
        raise ValueError("`base`: kind='film' needs base='fno'")
    ndim = check_int("ndim", ndim, minimum=1, maximum=3)
    n_channels = check_int("n_channels", n_channels, minimum=1)
    n_params = check_int("n_params", n_params, minimum=1)
    t_init = check_int("t_init", t_init, minimum=1)
    if width is not None:
        check_int("width", width, minimum=1)
    check_int("modes", modes, minimum=1)
    check_int("cape_width", cape_width, minimum=2)
    check_key("key", key)
    k1, k2, k3 = jax.random.split(key, 3)
    c = n_channels

    def net(cin, cout, w):
        if base == "fno":
            return FNO(cin, cout, ndim=ndim, width=w, modes=modes, key=k1, dtype=dtype)
        if base == "unet":
            return UNet(cin, cout, ndim=ndim, features=w, key=k1, dtype=dtype)
        raise ValueError(f"base must be 'fno' or 'unet', got {base!r}")

    if kind == "cape":
        w = width or (20 if base == "fno" else 32)
        block = CAPE(c, n_params, ndim=ndim, grid_shape=grid_shape, width=cape_width, t_init=t_init,
                     variant=cape_variant, param_mean=param_mean, param_std=param_std, key=k2, dtype=dtype, **cape_kw)
        need = (t_init + block.ell) * c
        return CAPEModel(net(need, need, w), block, t_init=t_init, key=k3, dtype=dtype)
    w = width or ((36 if ndim == 1 else 28) if base == "fno" else 32)
    if kind == "base":
        return Base(net(t_init * c, c, w), t_init=t_init)
    if kind == "conditional":
        return Conditional(net(t_init * c + n_params, c, w), t_init=t_init, param_mean=param_mean,
                           param_std=param_std, dtype=dtype)
    if kind == "film":
        if base != "fno":
            raise ValueError("kind='film' needs base='fno'")
        return FiLM(net(t_init * c, c, w), n_params, t_init=t_init, param_mean=param_mean, param_std=param_std,
                    key=k2, dtype=dtype)
    raise ValueError(f"kind must be cape | base | conditional | film, got {kind!r}")


def CAPEBlockNNX(n_channels: int = 1, n_params: int = 1, *, block: CAPE | None = None, rngs=None, **kwargs):
    """A `flax.nnx` CAPE block: `sciml.nn.NNXModule` around the Equinox [`CAPE`][] computation (`nnx.Param`
    leaves, identical outputs and gradients; trains with `nnx.Optimizer`). Needs the optional flax extra.

    **Arguments:**

    - `n_channels`, `n_params`, `**kwargs`: as for [`CAPE`][], used with `rngs` to build a new block.
    - `block`: an existing Equinox `CAPE` block to wrap instead (same outputs).
    - `rngs`: `nnx.Rngs(seed)` for a new block.

    **Returns:** an `nnx.Module` called as `wrapped(u, lam)` with `u` (..., c, *grid) (leading batch axes
    allowed) and `lam` (..., n_params), returning `u_cape` (..., ell, c, *grid); `to_eqx()` gives the block back.

    **Example:** `w = cape.CAPEBlockNNX(1, 1, rngs=nnx.Rngs(0), variant="improved", width=8)`
    """
    from .. import nn

    if block is None:
        if rngs is None:
            raise ValueError("`rngs`: pass rngs=nnx.Rngs(seed) (or an existing block=CAPE(...)).")
        block = CAPE(n_channels, n_params, key=rngs.params(), **kwargs)
    elif not isinstance(block, CAPE):
        raise TypeError(f"`block` must be a cape.CAPE block, got {type(block).__name__}.")
    return nn.NNXModule(block, sample_ndim=block.ndim + 1)
