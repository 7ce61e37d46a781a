"""GNS baseline and the GIOROM stepper (static-shape graphs, GNS input features)."""

from __future__ import annotations

import dataclasses
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._decoder import KernelDecoder
from ._graph import cell_list_neighbors, radius_neighbors
from ..nn import FNO, MLP
from .._errors import check_choice, check_int, check_positive, check_real
from ..nn._checks import check_dtype, check_key
from ._checks import check_metadata, check_particle_type, check_window

def _mlp(n_in: int, n_out: int, width: int, depth: int, *, key, layer_norm: bool = True, activation: str = "relu",
         out_scale: float = 1.0, dtype=jnp.float32) -> MLP:
    """The GNS-style MLP: fan-in uniform weights, zero biases, LayerNorm on the output by default."""
    return MLP(n_in, n_out, width, depth, key=key, activation=activation, init="fan_in", out_scale=out_scale,
               layer_norm=layer_norm, dtype=dtype)


def _linear(n_in: int, n_out: int, *, key, scale: float = 1.0, dtype=jnp.float32) -> MLP:
    """One fan-in-initialised linear layer (a depth-0 MLP, acting on the last axis)."""
    return _mlp(n_in, n_out, n_out, 0, key=key, layer_norm=False, out_scale=scale, dtype=dtype)


class ConvOperator(eqx.Module):
    """Residual 3x3 conv stack on the latent grid (alternative to the FNO); channels last."""

    lift: MLP
    convs: list
    project: MLP

    def __init__(self, n_in: int, n_out: int, width: int = 32, n_layers: int = 2, *, key, dtype=jnp.float32):
        keys = jax.random.split(key, n_layers + 2)
        self.lift = _linear(n_in, width, key=keys[0], dtype=dtype)
        self.convs = [jax.random.normal(k, (3, 3, width, width), dtype) / math.sqrt(9 * width) for k in keys[1:-1]]
        self.project = _linear(width, n_out, key=keys[-1], dtype=dtype)

    def __call__(self, x):
        v = self.lift(x)
        for w in self.convs:
            y = jax.lax.conv_general_dilated(v[None], w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))[0]
            v = v + jax.nn.gelu(y)
        return self.project(v)


N_TYPES = 9
TYPE_DIM = 16
C_WINDOW = 5  # velocities in the input window (6 positions)


@dataclasses.dataclass(frozen=True)
class Normalisation:
    """Statistics (GNS metadata) and bounds; hashable so it can be a static field.

    **Fields:**

    - `vel_mean`, `vel_std`: per-dimension mean and standard deviation of the per-frame velocities (position
      differences), tuples of `d` floats.
    - `acc_mean`, `acc_std`: the same for the accelerations (second differences).
    - `bounds`: the domain box, a `(lo, hi)` pair per dimension (walls for the wall-distance features).
    - `noise_std`: the training noise std (default 0.0), added in quadrature to `vel_std` and `acc_std`.

    **Example:** `norm = giorom.Normalisation.from_metadata(ds.metadata)`
    """

    vel_mean: tuple
    vel_std: tuple
    acc_mean: tuple
    acc_std: tuple
    bounds: tuple
    noise_std: float = 0.0

    @classmethod
    def from_metadata(cls, md: dict, noise_std: float = 0.0) -> "Normalisation":
        """Build from a GNS metadata dict.

        **Arguments:**

        - `md`: a GNS metadata dict with `vel_mean`, `vel_std`, `acc_mean`, `acc_std` (per dimension) and
          `bounds` (a `(lo, hi)` pair per dimension), e.g. from [`compute_metadata`][].
        - `noise_std`: the training noise std folded into the scales (default 0.0).

        **Returns:** a `Normalisation`.
        """
        t = lambda a: tuple(float(v) for v in a)  # noqa: E731
        return cls(t(md["vel_mean"]), t(md["vel_std"]), t(md["acc_mean"]), t(md["acc_std"]),
                   tuple(t(b) for b in md["bounds"]), float(noise_std))

    def vel_scale(self, dtype):
        """The velocity normalisation `(mean, sqrt(vel_std**2 + noise_std**2))`.

        **Arguments:**

        - `dtype`: the dtype of the returned arrays.

        **Returns:** `(mean, scale)`, two `(d,)` arrays.
        """
        s = np.sqrt(np.square(self.vel_std) + self.noise_std**2)
        return jnp.asarray(self.vel_mean, dtype), jnp.asarray(s, dtype)

    def acc_scale(self, dtype):
        """The acceleration normalisation `(mean, sqrt(acc_std**2 + noise_std**2))`.

        **Arguments:**

        - `dtype`: the dtype of the returned arrays.

        **Returns:** `(mean, scale)`, two `(d,)` arrays.
        """
        s = np.sqrt(np.square(self.acc_std) + self.noise_std**2)
        return jnp.asarray(self.acc_mean, dtype), jnp.asarray(s, dtype)

    @property
    def dim(self) -> int:
        return len(self.bounds)


def node_features(window, type_emb, norm: Normalisation, radius: float):
    """GNS node features from a (C+1, n, d) window: normalised velocities (C d), wall distances
    / R clipped to [-1, 1] (2 d), type embedding (16).

    **Arguments:**

    - `window`: the last `C + 1` positions, shape `(C+1, n, d)` (C = 5 velocities in GNS and GIOROM).
    - `type_emb`: the embedded particle types, shape `(n, 16)`.
    - `norm`: a [`Normalisation`][] (velocity statistics and the walls).
    - `radius`: the wall-distance scale (the connectivity radius), > 0.

    **Returns:** (n, C d + 2 d + 16) node features.

    **Example:** `f = giorom.node_features(w, emb[ptype], model.norm, model.radius)`
    """
    dtype = window.dtype
    vm, vs = norm.vel_scale(dtype)
    vel = (window[1:] - window[:-1] - vm) / vs  # (C, n, d)
    n = window.shape[1]
    vel = jnp.swapaxes(vel, 0, 1).reshape(n, -1)
    last = window[-1]
    lo = jnp.asarray([b[0] for b in norm.bounds], dtype)
    hi = jnp.asarray([b[1] for b in norm.bounds], dtype)
    walls = jnp.clip(jnp.concatenate([(last - lo) / radius, (hi - last) / radius], -1), -1.0, 1.0)
    return jnp.concatenate([vel, walls, type_emb.astype(dtype)], -1)


def edge_geometry(x, idx, radius):
    """Relative positions (x_i - x_j)/R (n, K, d) and their norm (n, K, 1)."""
    rel = (x[:, None, :] - x[idx]) / radius
    return rel, jnp.sqrt(jnp.sum(rel**2, -1, keepdims=True) + 1e-12)


def edge_mlp(mlp: MLP, h, idx, e):
    """mlp([h_i, h_j, e_ij]) over a (n, K) neighbour list, with the first layer split so the node
    parts are multiplied once per node instead of once per edge."""
    W, b = mlp.layers[0].weight.T, mlp.layers[0].bias  # (in, out)
    L = h.shape[-1]
    pre = (h @ W[:L])[:, None, :] + (h @ W[L:2 * L])[idx] + e @ W[2 * L:] + b
    return mlp.tail(pre)


def _masked_sum(m, mask):
    return jnp.sum(jnp.where(mask[..., None], m, 0.0), axis=1)


class GNS(eqx.Module):
    """Encode-process-decode GNS (Sanchez-Gonzalez et al. 2020) on a fixed-K radius graph.

    `__call__(window, particle_type)` maps a (6, N, d) position window to normalised accelerations
    (N, d). The neighbour list is a jit cell list on the last positions (`n_cells`, `cell_capacity`).

    **Arguments:**

    - `metadata`: the GNS metadata dict (`bounds`, `default_connectivity_radius`, `vel_mean`/`vel_std`,
      `acc_mean`/`acc_std`; checked), e.g. `ParticleDataset.metadata`.
    - `latent`: the latent width of nodes, edges and MLP hidden layers (default 32).
    - `n_mp`: the number of message-passing steps (int >= 0; default 3).
    - `mlp_depth`: hidden layers of every MLP (int >= 0; default 2).
    - `k`: the neighbour capacity per particle (default 24).
    - `noise_std`: the training noise std (>= 0; default 3e-4), folded into the normalisation.
    - `radius`: the connectivity radius (> 0); None (default) takes `default_connectivity_radius`.
    - `cell_capacity`: the most particles per cell of the cell list (default 16; more sets `overflow`).
    - `key`: a JAX PRNG key for the initialisation (required, keyword-only).
    - `dtype`: the floating dtype of the weights (default float32).

    **Example:** `gns = giorom.GNS(ds.metadata, key=jax.random.key(0))`
    """

    type_embedding: jax.Array
    node_enc: MLP
    edge_enc: MLP
    edge_mlps: list
    node_mlps: list
    decoder: MLP
    norm: Normalisation = eqx.field(static=True)
    radius: float = eqx.field(static=True)
    k: int = eqx.field(static=True)
    n_cells: tuple = eqx.field(static=True)
    cell_capacity: int = eqx.field(static=True)

    def __init__(self, metadata: dict, *, latent: int = 32, n_mp: int = 3, mlp_depth: int = 2, k: int = 24,
                 noise_std: float = 3e-4, radius: float | None = None, cell_capacity: int = 16, key,
                 dtype=jnp.float32):
        check_metadata(metadata, need_radius=radius is None)
        latent = check_int("latent", latent, minimum=1)
        n_mp = check_int("n_mp", n_mp, minimum=0)
        mlp_depth = check_int("mlp_depth", mlp_depth, minimum=0)
        check_int("k", k, minimum=1)
        check_real("noise_std", noise_std, minimum=0.0)
        if radius is not None:
            check_positive("radius", radius)
        check_int("cell_capacity", cell_capacity, minimum=1)
        check_key("key", key)
        check_dtype("dtype", dtype)
        norm = Normalisation.from_metadata(metadata, noise_std)
        d = norm.dim
        keys = jax.random.split(key, 4 + 2 * n_mp)
        self.type_embedding = 0.1 * jax.random.normal(keys[0], (N_TYPES, TYPE_DIM), dtype)
        self.node_enc = _mlp(TYPE_DIM + (C_WINDOW + 2) * d, latent, latent, mlp_depth, key=keys[1], dtype=dtype)
        self.edge_enc = _mlp(d + 1, latent, latent, mlp_depth, key=keys[2], dtype=dtype)
        self.edge_mlps = [_mlp(3 * latent, latent, latent, mlp_depth, key=keys[4 + i], dtype=dtype) for i in range(n_mp)]
        self.node_mlps = [_mlp(2 * latent, latent, latent, mlp_depth, key=keys[4 + n_mp + i], dtype=dtype)
                          for i in range(n_mp)]
        self.decoder = _mlp(latent, d, latent, mlp_depth, key=keys[3], layer_norm=False, dtype=dtype)
        self.norm = norm
        self.radius = float(radius if radius is not None else metadata["default_connectivity_radius"])
        self.k = int(k)
        self.n_cells = tuple(max(1, int(math.floor((b[1] - b[0]) / self.radius))) for b in norm.bounds)
        self.cell_capacity = int(cell_capacity)

    def neighbors(self, x):
        """The model's neighbour list: a jit cell list with its `radius`, `k` and `cell_capacity`.

        **Arguments:**

        - `x`: particle positions, shape `(N, d)`, inside the metadata's bounds.

        **Returns:** a [`Neighbors`][sciml.giorom.Neighbors] list of shape `(N, k)`.
        """
        return cell_list_neighbors(x, self.radius, self.k, bounds=self.norm.bounds, n_cells=self.n_cells,
                                   cell_capacity=self.cell_capacity)

    def __call__(self, window, particle_type, nbrs=None):
        """Normalised accelerations of the particles from their position window.

        **Arguments:**

        - `window`: the last 6 positions of the particles, shape `(6, N, d)` (oldest first).
        - `particle_type`: integer particle types, shape `(N,)`, in `[0, 9)` (GNS type ids).
        - `nbrs`: a precomputed [`Neighbors`][sciml.giorom.Neighbors] list of the last positions, shape `(N, k)`;
          None (default) builds it with `neighbors(window[-1])`.

        **Returns:** the normalised accelerations, shape `(N, d)` (de-normalise with `norm.acc_scale`).
        """
        check_window("GNS", window, C_WINDOW + 1, self.norm.dim)
        check_particle_type("GNS", particle_type, window.shape[1])
        x = window[-1]
        nbrs = self.neighbors(x) if nbrs is None else nbrs
        idx, mask = nbrs.idx, nbrs.mask
        h = self.node_enc(node_features(window, self.type_embedding[particle_type], self.norm, self.radius))
        rel, dist = edge_geometry(x, idx, self.radius)
        e = self.edge_enc(jnp.concatenate([rel, dist], -1))
        for em, nm in zip(self.edge_mlps, self.node_mlps):
            e = e + edge_mlp(em, h, idx, e)
            h = h + nm(jnp.concatenate([h, _masked_sum(e, mask)], -1))
        return self.decoder(h)


class INLayer(eqx.Module):
    """Interaction-network layer: m_ij = MLP([h_i, h_j, e_ij]); mean of m_ij/(1+|d_ij|/R);
    h <- h + MLP([h, m]) + SSG(h) (one-hop simple spectral graph conv, alpha 0.7); e <- e + m."""

    msg: MLP
    upd: MLP
    ssg: MLP
    alpha: float = eqx.field(static=True)

    def __init__(self, latent: int, depth: int, *, key, alpha: float = 0.7, dtype=jnp.float32):
        k1, k2, k3 = jax.random.split(key, 3)
        self.msg = _mlp(3 * latent, latent, latent, depth, key=k1, dtype=dtype)
        self.upd = _mlp(2 * latent, latent, latent, depth, key=k2, dtype=dtype)
        self.ssg = _linear(latent, latent, key=k3, scale=0.1, dtype=dtype)
        self.alpha = alpha

    def __call__(self, h, e, idx, mask, dist):
        cnt = jnp.maximum(mask.sum(1, keepdims=True), 1).astype(h.dtype)
        hj = h[idx]
        m = edge_mlp(self.msg, h, idx, e)
        agg = _masked_sum(m / (1.0 + dist), mask) / cnt
        hn = _masked_sum(hj, mask) / cnt
        h = h + self.upd(jnp.concatenate([h, agg], -1)) + self.ssg(self.alpha * h + (1 - self.alpha) * hn)
        return h, e + m


def grid_points(bounds, shape, dtype=jnp.float32):
    """Cell-centred points of a regular grid over `bounds`: (H, W, d)."""
    axes = [jnp.asarray(b[0] + (np.arange(s) + 0.5) * (b[1] - b[0]) / s, dtype) for b, s in zip(bounds, shape)]
    return jnp.stack(jnp.meshgrid(*axes, indexing="ij"), -1)


class GIOROM(eqx.Module):
    """GIOROM time-stepper on a sparse sampled graph plus an arbitrary-point decoder.

    Pipeline: GNS features -> encoders -> `n_mp` IN layers -> GNO encoder to a latent grid (kernel on
    y - x, |y - x| and node features; normalised by the in-radius count; a density channel marks empty
    cells) -> FNO (or conv) operator -> GNO decoder back to the nodes (kernel on x - y over the 4^d
    surrounding grid nodes) -> projection added to the pre-grid features -> `n_mp` IN layers ->
    normalised acceleration. `query_decoder` evaluates positions at arbitrary rest positions.

    **Arguments:**

    - `metadata`: the GNS metadata dict of the full data set (bounds, statistics, `default_connectivity_radius`).
    - `n_full`: the full particle count `N` (int >= 1, keyword-only, required).
    - `n_sample`: the sampled (sparse) particle count `n`, 1 <= n <= N (keyword-only, required).
    - `latent`: the latent width of nodes and edges (default 64).
    - `n_mp`: interaction-network layers before and after the latent grid (int >= 0; default 2 each).
    - `mlp_depth`: hidden layers of the interaction-network MLPs (int >= 0; default 1).
    - `grid`: the latent grid shape, `d` positive ints (default `(16, 16)`).
    - `grid_channels`: the latent grid's channels (the operator's width; default 32).
    - `operator`: the latent-grid operator, `"fno"` (default) or `"conv"` (residual 3x3 convolutions).
    - `modes`: Fourier modes per axis of the FNO operator (default 8).
    - `k`: the neighbour capacity of the sparse radius graph (default 16).
    - `k_gno`: the density normaliser of the GNO encoder: the density channel is the in-range count / `k_gno`
      (default 16).
    - `radius`: the sparse-graph radius (> 0); None (default) is `R (N/n)^(1/d)` with R the metadata's.
    - `noise_std`: the training noise std (>= 0; default 3e-4), folded into the normalisation.
    - `sampling`: how [`rollout`][] draws the sparse nodes when it is given no `sparse_index`: `"fps"` (default,
      farthest-point from particle 0) or `"random"`.
    - `decoder_kind`: the query decoder's `kind`, `"mls"` (default) or `"shepard"` ([`KernelDecoder`][]).
    - `decoder_k`: the query decoder's neighbour count (default 12).
    - `key`: a JAX PRNG key for the initialisation (required, keyword-only).
    - `dtype`: the floating dtype of the weights (default float32).

    `model(window (6, n, d), particle_type (n,))` -> normalised accelerations (n, d).

    **Example:** `gio = giorom.GIOROM(ds.metadata, n_full=2000, n_sample=500, key=jax.random.key(0))`
    """

    type_embedding: jax.Array
    node_enc: MLP
    edge_enc: MLP
    proc1: list
    gno_kernel: MLP
    operator: eqx.Module
    dec_kernel: MLP
    dec_value: MLP
    projection: MLP
    proc2: list
    decoder: MLP
    query_decoder: KernelDecoder
    norm: Normalisation = eqx.field(static=True)
    radius: float = eqx.field(static=True)
    k: int = eqx.field(static=True)
    n_sample: int = eqx.field(static=True)
    n_full: int = eqx.field(static=True)
    sampling: str = eqx.field(static=True)
    grid_shape: tuple = eqx.field(static=True)
    r_gno: float = eqx.field(static=True)
    k_gno: int = eqx.field(static=True)

    def __init__(self, metadata: dict, *, n_full: int, n_sample: int, latent: int = 64, n_mp: int = 2,
                 mlp_depth: int = 1, grid: tuple = (16, 16), grid_channels: int = 32, operator: str = "fno",
                 modes: int = 8, k: int = 16, k_gno: int = 16, radius: float | None = None, noise_std: float = 3e-4,
                 sampling: str = "fps", decoder_kind: str = "mls", decoder_k: int = 12, key,
                 dtype=jnp.float32):
        check_metadata(metadata)
        n_full = check_int("n_full", n_full, minimum=1)
        n_sample = check_int("n_sample", n_sample, minimum=1)
        if n_sample > n_full:
            raise ValueError(f"`n_sample` must be <= n_full ({n_full}), got {n_sample}.")
        for name, v, lo in (("latent", latent, 1), ("n_mp", n_mp, 0), ("mlp_depth", mlp_depth, 0),
                            ("grid_channels", grid_channels, 1), ("modes", modes, 1), ("k", k, 1), ("k_gno", k_gno, 1),
                            ("decoder_k", decoder_k, 1)):
            check_int(name, v, minimum=lo)
        check_choice("operator", operator, ("fno", "conv"))
        check_choice("sampling", sampling, ("fps", "random"))
        check_choice("decoder_kind", decoder_kind, ("mls", "shepard"))
        check_real("noise_std", noise_std, minimum=0.0)
        if radius is not None:
            check_positive("radius", radius)
        check_key("key", key)
        check_dtype("dtype", dtype)
        norm = Normalisation.from_metadata(metadata, noise_std)
        d = norm.dim
        if not isinstance(grid, (tuple, list)) or len(grid) != d:
            raise ValueError(f"`grid` must have {d} entries, got {grid}")
        for i, g in enumerate(grid):
            check_int(f"grid[{i}]", g, minimum=1)
        R = float(metadata["default_connectivity_radius"])
        self.radius = float(radius if radius is not None else R * (n_full / n_sample) ** (1.0 / d))
        keys = list(jax.random.split(key, 12 + 2 * n_mp))
        self.type_embedding = 0.1 * jax.random.normal(keys[0], (N_TYPES, TYPE_DIM), dtype)
        self.node_enc = _mlp(TYPE_DIM + (C_WINDOW + 2) * d, latent, latent, 2, key=keys[1], dtype=dtype)
        self.edge_enc = _mlp(d + 1, latent, latent, 2, key=keys[2], dtype=dtype)
        self.proc1 = [INLayer(latent, mlp_depth, key=keys[12 + i], dtype=dtype) for i in range(n_mp)]
        self.proc2 = [INLayer(latent, mlp_depth, key=keys[12 + n_mp + i], dtype=dtype) for i in range(n_mp)]
        self.gno_kernel = _mlp(d + 1 + latent, grid_channels, 64, 2, key=keys[3], layer_norm=False, activation="gelu",
                              dtype=dtype)
        if operator == "fno":
            # two Fourier layers with GELU after each, zero padding 4 against the periodic wrap, one linear
            # projection; the reference's initialisation (fan-in linear maps, normal/C spectral weights)
            self.operator = FNO(grid_channels + 1, grid_channels, ndim=d, width=grid_channels, modes=modes,
                                n_layers=2, hidden=None, coords=False, padding=4, activate_last=True, init="fan_in",
                                spectral_init="normal", key=keys[4], dtype=dtype)
        elif operator == "conv":
            self.operator = ConvOperator(grid_channels + 1, grid_channels, grid_channels, key=keys[4], dtype=dtype)
        else:
            raise ValueError(f"operator must be 'fno' or 'conv', got {operator!r}")
        self.dec_kernel = _mlp(d + 1, latent, 32, 2, key=keys[5], layer_norm=False, activation="gelu", dtype=dtype)
        self.dec_value = _linear(grid_channels, latent, key=keys[6], dtype=dtype)
        self.projection = _mlp(latent, latent, 2 * latent, 1, key=keys[7], layer_norm=False, out_scale=0.1, dtype=dtype)
        self.decoder = _mlp(latent, d, latent, 2, key=keys[8], layer_norm=False, dtype=dtype)
        bw = 0.5 * self.radius
        self.query_decoder = KernelDecoder(bw, k=decoder_k, kind=decoder_kind, key=keys[9], dtype=dtype)
        self.norm = norm
        self.k = int(k)
        self.k_gno = int(k_gno)
        self.n_sample = int(n_sample)
        self.n_full = int(n_full)
        if sampling not in ("fps", "random"):
            raise ValueError(f"sampling must be 'fps' or 'random', got {sampling!r}")
        self.sampling = sampling
        self.grid_shape = tuple(int(g) for g in grid)
        spacing = min((b[1] - b[0]) / g for b, g in zip(norm.bounds, grid))
        self.r_gno = 0.6 * spacing

    def neighbors(self, x):
        """The sparse graph's neighbour list (brute-force radius search with `radius` and `k`).

        **Arguments:**

        - `x`: sparse node positions, shape `(n, d)`.

        **Returns:** a [`Neighbors`][sciml.giorom.Neighbors] list of shape `(n, k)`.
        """
        return radius_neighbors(x, self.radius, self.k)

    def _grid_cells(self, x):
        """Lower-left surrounding cell index (n, d) of each point, grid origin `lo` and spacing `sp` (d,)."""
        lo = jnp.asarray([b[0] for b in self.norm.bounds], x.dtype)
        hi = jnp.asarray([b[1] for b in self.norm.bounds], x.dtype)
        sp = (hi - lo) / jnp.asarray(self.grid_shape, x.dtype)
        return jnp.floor((x - lo) / sp - 0.5).astype(jnp.int32), lo, sp

    def _grid_encode(self, x, h):
        """GNO encoder: every grid point y averages k(y - x_j, |y - x_j|, h_j) over the nodes within `r_gno`
        (no cap on their number), plus a density channel (in-range count / `k_gno`). Evaluated node-centric:
        r_gno < one cell, so the cells in range of a node are among the 2^d cell centres around it -- n 2^d
        kernel evaluations instead of (cells x a padded neighbour list, mostly empty), then a segment sum."""
        d = x.shape[-1]
        shape = self.grid_shape
        base, lo, sp = self._grid_cells(x)
        offs = np.array(np.meshgrid(*[np.arange(2)] * d, indexing="ij")).reshape(d, -1).T  # (2^d, d)
        node = base[:, None, :] + offs[None]  # (n, 2^d, d)
        y = lo + (node.astype(x.dtype) + 0.5) * sp
        rel = (y - x[:, None, :]) / self.r_gno
        d2 = jnp.sum(rel**2, -1, keepdims=True)
        valid = jnp.all((node >= 0) & (node < jnp.asarray(shape)), -1) & (d2[..., 0] <= 1.0)
        # kernel MLP on [rel, dist, h_j] with its first layer split: h @ W_h once per node
        W, b = self.gno_kernel.layers[0].weight.T, self.gno_kernel.layers[0].bias  # (in, out)
        g = d + 1
        f = self.gno_kernel.tail(jnp.concatenate([rel, jnp.sqrt(d2 + 1e-12)], -1) @ W[:g] + (h @ W[g:])[:, None, :] + b)
        cell = jnp.ravel_multi_index(tuple(jnp.clip(node[..., i], 0, shape[i] - 1) for i in range(d)), shape, mode="clip")
        n_cells = int(np.prod(shape))
        f = jax.ops.segment_sum(jnp.where(valid[..., None], f, 0.0).reshape(-1, f.shape[-1]), cell.reshape(-1), n_cells)
        cnt = jax.ops.segment_sum(valid.reshape(-1).astype(x.dtype), cell.reshape(-1), n_cells)[:, None]
        f = jnp.concatenate([f / jnp.maximum(cnt, 1.0), cnt / self.k_gno], -1)
        return f.reshape(*shape, -1)

    def _operate(self, f):
        """The latent-grid operator on a channels-last grid (the FNO works channels first)."""
        if isinstance(self.operator, FNO):
            return jnp.moveaxis(self.operator(jnp.moveaxis(f, -1, 0)), 0, -1)
        return self.operator(f)

    def _grid_decode(self, x, g):
        d = x.shape[-1]
        shape = jnp.asarray(self.grid_shape)
        base, lo, sp = self._grid_cells(x)
        base = base - 1
        offs = np.array(np.meshgrid(*[np.arange(4)] * d, indexing="ij")).reshape(d, -1).T  # (4^d, d)
        node = base[:, None, :] + offs[None]  # (n, 16, d)
        valid = jnp.all((node >= 0) & (node < shape), -1)
        node = jnp.clip(node, 0, shape - 1)
        ypos = lo + (node + 0.5) * sp
        rel = (x[:, None, :] - ypos) / (2 * sp)
        dist = jnp.sqrt(jnp.sum(rel**2, -1, keepdims=True) + 1e-12)
        kern = self.dec_kernel(jnp.concatenate([rel, dist], -1))  # (n, 16, L)
        gv = self.dec_value(g)[tuple(node[..., i] for i in range(d))]  # (n, 16, L): pointwise MLP on the grid, then gathered
        cnt = jnp.maximum(valid.sum(1, keepdims=True), 1).astype(x.dtype)
        return _masked_sum(kern * gv, valid) / cnt

    def __call__(self, window, particle_type, nbrs=None):
        """Normalised accelerations (n, d) of the sparse nodes from their (C+1, n, d) window.

        **Arguments:**

        - `window`: the last 6 positions of the sparse nodes, shape `(6, n, d)` (oldest first).
        - `particle_type`: integer particle types, shape `(n,)`, in `[0, 9)` (GNS type ids).
        - `nbrs`: a precomputed [`Neighbors`][sciml.giorom.Neighbors] list of the last positions, shape `(n, k)`;
          None (default) builds it with `neighbors(window[-1])`.

        **Returns:** the normalised accelerations, shape `(n, d)` (de-normalise with `norm.acc_scale`).
        """
        check_window("GIOROM", window, C_WINDOW + 1, self.norm.dim)
        check_particle_type("GIOROM", particle_type, window.shape[1])
        x = window[-1]
        nbrs = self.neighbors(x) if nbrs is None else nbrs
        idx, mask = nbrs.idx, nbrs.mask
        h = self.node_enc(node_features(window, self.type_embedding[particle_type], self.norm, self.radius))
        rel, dist = edge_geometry(x, idx, self.radius)
        e = self.edge_enc(jnp.concatenate([rel, dist], -1))
        for layer in self.proc1:
            h, e = layer(h, e, idx, mask, dist)
        g = self._operate(self._grid_encode(x, h))
        h = h + self.projection(self._grid_decode(x, g))
        for layer in self.proc2:
            h, e = layer(h, e, idx, mask, dist)
        return self.decoder(h)


def integrate(model, window, acc_norm):
    """Semi-implicit Euler at unit dt: v' = v + a, x' = x + v' (a de-normalised)."""
    am, ast = model.norm.acc_scale(window.dtype)
    acc = acc_norm * ast + am
    v = window[-1] - window[-2] + acc
    return window[-1] + v
