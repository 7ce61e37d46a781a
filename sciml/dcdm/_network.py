"""The DCDM network (Kaneda et al., ICML 2023), written from the layer description in the spec.

Fully convolutional: 3x3(x3) convolutions with 16 channels and ``same`` zero padding, the first one
linear and every other one followed by a ReLU, residual adds on every second convolution, one
average-pool-2x level, nearest up-sampling with an additive skip from the last fine-level map and a
linear 1x1(x1) output convolution.  Variants (number of fine / coarse / post-upsampling convolutions):

* ``"64"``:  5 / 6 / 4  -> 97,457 parameters in 3D
* ``"128"``: 7 / 10 / 6 -> 152,881 parameters in 3D

``"fast"`` is our CPU-cheap learned multilevel cycle (spec §9): no convolution at full resolution.  The
residual is folded 2x per axis into channels (space-to-depth, a free reshape), then a U-Net over four
coarser levels with widths ``c, 4c, 8c, 16c`` (``c = channels``, default 4) whose 3x3(x3) convolutions are
factorised along the axes (three 3-tap convolutions with channel mixing, each an ``(n, 3c) @ (3c, c)``
matmul), and unfolded back (depth-to-space) through a linear 1x1 layer that also sees the input itself.
XLA's CPU convolution is slow for few channels (a 1->1 3x3x3 conv at 64³ costs ~200 fine ``op.mv``); the
matmul form costs about one ``mv`` per factorised conv at half resolution, so one evaluation of the whole
net is ~10-15 ``mv`` at 64³ (measured: `benchmarks/dcdm.py`).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

VARIANTS: dict[str, tuple[int, int, int] | None] = {
    "64": (5, 6, 4),
    "128": (7, 10, 6),
    "fast": None,  # the multilevel factorised net, see FAST_LEVELS
}

# fast variant: (width multiplier of `channels`, residual factorised convs on the way down, on the way up)
# per level below the fine grid; the last level is the bottom of the U.
FAST_LEVELS: tuple[tuple[int, int, int], ...] = ((1, 1, 1), (4, 2, 2), (8, 2, 2), (16, 4, 0))

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
        if w.shape[: self.ndim] == (1,) * self.ndim:  # 1x1: a matmul over the channel axis
            return x @ w.reshape(w.shape[-2:]) + self.bias.astype(x.dtype)
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


class AxisConv(eqx.Module):
    """A 3x3(x3) convolution factorised along the axes: a 3-tap convolution with ``c -> c`` channel mixing
    along each axis in turn (each one ``(n, 3c) @ (3c, c)`` matmul on unbatched ``(*spatial, c)`` input),
    zero ``same`` padding, one bias at the end.  Cheap on CPU where XLA's small-channel convolution is not."""

    weight: jax.Array  # (ndim, 3 * c, c)
    bias: jax.Array  # (c,)
    ndim: int = eqx.field(static=True)

    def __init__(self, ndim: int, c: int, *, key, dtype=jnp.float32):
        lim = 1.0 / math.sqrt(c)  # variance 1/(3c) per factor: unit gain through the chain
        self.weight = jax.random.uniform(key, (ndim, 3 * c, c), dtype, -lim, lim)
        self.bias = jnp.zeros((c,), dtype)
        self.ndim = ndim

    def __call__(self, x: jax.Array) -> jax.Array:
        c = x.shape[-1]
        for ax in range(self.ndim):
            n = x.shape[ax]
            # one matmul x @ [W_-1 | W_0 | W_+1], then shift the outer two outputs (keeps the matmul's operand a
            # plain array: XLA:CPU fuses an im2col concatenate into the dot and runs it ~3x slower)
            w = self.weight[ax].astype(x.dtype).reshape(3, c, -1).transpose(1, 0, 2).reshape(c, -1)
            z = x @ w
            co = z.shape[-1] // 3
            lo, mid, hi = z[..., :co], z[..., co : 2 * co], z[..., 2 * co :]
            pad = [(0, 0)] * x.ndim
            pad[ax] = (1, 0)
            y = mid + jax.lax.slice_in_dim(jnp.pad(lo, pad), 0, n, axis=ax)  # tap i-1 reads x[i-1]
            pad[ax] = (0, 1)
            x = y + jax.lax.slice_in_dim(jnp.pad(hi, pad), 1, n + 1, axis=ax)  # tap i+1 reads x[i+1]
        return x + self.bias.astype(x.dtype)


def _space_to_depth(x: jax.Array, ndim: int) -> jax.Array:
    """``(*spatial, c) -> (*spatial/2, 2^ndim * c)``: each 2x2(x2) block becomes channels."""
    sp, c = x.shape[:ndim], x.shape[-1]
    x = x.reshape(sum(((s // 2, 2) for s in sp), ()) + (c,))
    perm = tuple(range(0, 2 * ndim, 2)) + tuple(range(1, 2 * ndim, 2)) + (2 * ndim,)
    return x.transpose(perm).reshape(tuple(s // 2 for s in sp) + (2**ndim * c,))


def _depth_to_space(x: jax.Array, ndim: int) -> jax.Array:
    """Inverse of `_space_to_depth`: ``(*spatial, 2^ndim * c) -> (*2 spatial, c)``."""
    sp, c = x.shape[:ndim], x.shape[-1] // 2**ndim
    x = x.reshape(sp + (2,) * ndim + (c,))
    perm = sum(((i, ndim + i) for i in range(ndim)), ()) + (2 * ndim,)
    return x.transpose(perm).reshape(tuple(2 * s for s in sp) + (c,))


class _Level(eqx.Module):
    """One level of the fast U-Net: an optional linear 1x1 layer (entry after space-to-depth, or lift before
    depth-to-space) and residual factorised convolutions ``x <- x + relu(conv(x))``."""

    linear: Conv | None
    blocks: list[AxisConv]

    def __call__(self, x):
        if self.linear is not None:
            x = self.linear(x)
        for blk in self.blocks:
            x = x + jax.nn.relu(blk(x))
        return x


class DCDMNet(eqx.Module):
    """Faithful DCDM network (2D or 3D) approximating ``c * A^{-1} r`` up to an unknown scale ``c``.

    **Arguments:**

    - `ndim`: 2 or 3 (3x3 or 3x3x3 convolutions).
    - `variant`: ``"64"`` (5/6/4 convolutions) or ``"128"`` (7/10/6), the paper's nets; or ``"fast"``, our
      multilevel net with no full-resolution convolution (module docstring; shipped as ``dcdm-fast-3d``).
    - `channels`: hidden channels (16 in the paper); for ``"fast"`` the width of the first coarse level
      (default 4; the coarser levels use 4x, 8x, 16x that).
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
        channels: int | None = None,
        dtype=jnp.float32,
        compute_dtype=None,
    ):
        _check_net_args(ndim, variant, channels)
        self.ndim = ndim
        self.variant = variant
        self.compute_dtype = None if compute_dtype is None else jnp.dtype(compute_dtype).name
        if variant == "fast":
            self._init_fast(ndim, 4 if channels is None else int(channels), key, dtype)
            return
        channels = 16 if channels is None else int(channels)
        n_fine, n_coarse, n_post = VARIANTS[variant]
        keys = iter(jax.random.split(key, n_fine + n_coarse + n_post + 1))
        c = channels
        self.first = Conv(ndim, 1, c, 3, key=next(keys), dtype=dtype)
        self.fine = [Conv(ndim, c, c, 3, key=next(keys), dtype=dtype) for _ in range(n_fine - 1)]
        self.coarse = [Conv(ndim, c, c, 3, key=next(keys), dtype=dtype) for _ in range(n_coarse)]
        self.post = [Conv(ndim, c, c, 3, key=next(keys), dtype=dtype) for _ in range(n_post)]
        self.out = Conv(ndim, c, 1, 1, key=next(keys), dtype=dtype)

    def _init_fast(self, ndim, c, key, dtype):
        # fields reused: `first` = entry 1x1 after the first space-to-depth, `fine` = the down levels,
        # `coarse` = [bottom level], `post` = the up levels (finest last), `out` = the final 1x1 that sees
        # the coarse features and the folded input and unfolds to the fine grid.
        fold = 2**ndim
        widths = [m * c for m, _, _ in FAST_LEVELS]
        keys = iter(jax.random.split(key, 64))
        self.first = Conv(ndim, fold, widths[0], 1, key=next(keys), dtype=dtype)
        levels = []
        for i, (_, n_down, _) in enumerate(FAST_LEVELS):
            lin = None if i == 0 else Conv(ndim, fold * widths[i - 1], widths[i], 1, key=next(keys), dtype=dtype)
            levels.append(_Level(lin, [AxisConv(ndim, widths[i], key=next(keys), dtype=dtype) for _ in range(n_down)]))
        self.fine, self.coarse = levels[:-1], levels[-1:]
        self.post = [
            _Level(Conv(ndim, widths[i + 1], fold * widths[i], 1, key=next(keys), dtype=dtype),
                   [AxisConv(ndim, widths[i], key=next(keys), dtype=dtype) for _ in range(FAST_LEVELS[i][2])])
            for i in reversed(range(len(FAST_LEVELS) - 1))
        ]
        self.out = Conv(ndim, widths[0] + fold, fold, 1, key=next(keys), dtype=dtype)

    def _fast(self, x):
        # x: (*spatial, 1), spatial divisible by 2^len(FAST_LEVELS)
        nd = self.ndim
        x0 = _space_to_depth(x, nd)
        h = self.first(x0)
        skips = []
        for lvl in self.fine:
            h = lvl(h)
            skips.append(h)
            h = _space_to_depth(h, nd)
        h = self.coarse[0](h)
        for lvl, skip in zip(self.post, reversed(skips)):
            h = _depth_to_space(lvl.linear(h), nd) + skip
            for blk in lvl.blocks:
                h = h + jax.nn.relu(blk(h))
        return _depth_to_space(self.out(jnp.concatenate([h, x0], axis=-1)), nd)

    @staticmethod
    def _pairs(convs, x):
        # residual add on every second convolution: x <- relu(c2(relu(c1(x)))) + x
        for c1, c2 in zip(convs[0::2], convs[1::2]):
            y = jax.nn.relu(c1(x))
            x = jax.nn.relu(c2(y)) + x
        return x

    def __call__(self, r: jax.Array) -> jax.Array:
        """The proposed search direction `q ≈ c·A⁻¹ r`.

        **Arguments:**

        - `r`: one grid-shaped residual of rank `ndim` (vmap for batches), any floating dtype.

        **Returns:** `q`, same shape and dtype as `r`.

        **Raises:** `ValueError` when `r`'s rank is not `ndim`.
        """
        nd = self.ndim
        if r.ndim != nd:
            raise ValueError(
                f"DCDMNet(ndim={nd}) expects one grid-shaped input of rank {nd}, got shape {r.shape}; "
                "use jax.vmap for batches."
            )
        in_dtype = r.dtype
        cdt = self.compute_dtype or self.first.weight.dtype
        shape = r.shape
        if self.variant == "fast":
            m = 2 ** len(FAST_LEVELS)
            x = jnp.pad(r, [(0, -s % m) for s in shape])[..., None].astype(cdt)
            q = self._fast(x)[..., 0]
            return q[tuple(slice(0, s) for s in shape)].astype(in_dtype)
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


def _check_net_args(ndim, variant, channels):
    from .._errors import check_choice, check_int

    if isinstance(ndim, bool) or ndim not in (2, 3):
        raise ValueError(f"`ndim` must be 2 or 3, got {ndim!r}.")
    check_choice("variant", variant, sorted(VARIANTS))
    if channels is not None:
        check_int("channels", channels, minimum=1)


def count_parameters(model) -> int:
    """Number of scalar parameters (floating array leaves) of a model; also works on the
    ``jax.ShapeDtypeStruct`` skeleton from ``eqx.filter_eval_shape`` (no allocation).

    **Arguments:**

    - `model`: any pytree, normally a [`DCDMNet`][sciml.dcdm.DCDMNet].

    **Returns:** a Python `int`.
    """
    leaves = jax.tree_util.tree_leaves(model)
    return int(sum(x.size for x in leaves if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.inexact)))


class IdentityNet(eqx.Module):
    """``q = r``: turns DCDM into (windowed) CG; used for exactness checks."""

    def __call__(self, r):
        """Return the residual unchanged.

        **Arguments:**

        - `r`: a grid-shaped residual.

        **Returns:** `r`.
        """
        return r


class MatrixNet(eqx.Module):
    """``q = M r`` for a dense matrix ``M`` acting on the flattened grid (e.g. an exact inverse).

    **Arguments:**

    - `matrix`: a square floating `(n, n)` array, `n` the number of grid cells (C order).

    **Raises:** `ValueError` for a non-square matrix, `TypeError` for a non-floating one.
    """

    matrix: jax.Array

    def __init__(self, matrix):
        from .._errors import check_float

        check_float("matrix", matrix)
        if np.ndim(matrix) != 2 or np.shape(matrix)[0] != np.shape(matrix)[1]:
            raise ValueError(f"`matrix` must be a square 2D array (n x n, n = grid size), got shape {np.shape(matrix)}.")
        self.matrix = jnp.asarray(matrix)

    def __call__(self, r):
        """`M r`, reshaped to the grid.

        **Arguments:**

        - `r`: a grid-shaped residual with `n` cells.

        **Returns:** an array of `r`'s shape.
        """
        return (self.matrix @ r.reshape(-1)).reshape(r.shape)
