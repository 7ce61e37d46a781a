"""Arbitrary-point decoder in the reference configuration.

Neighbourhoods are found once per trajectory (k nearest sparse nodes of every query's rest
position); the decoder is linear in the sparse displacements, u(X_q) = sum_j c_qj u_j, with
coefficients c that depend on the rest positions only. So a frame costs one (Q, k) gather.
Kinds: "shepard" (normalised kernel weights) and "mls" (kernel-weighted moving least squares
with a linear basis: reproduces constant displacement fields exactly, and affine ones exactly only with
`ridge=0`; the default ridge trades a small affine bias for stability on flat or degenerate neighbourhoods). The kernel is a Gaussian
exp(-|dX|^2/h^2) times exp(MLP(dX/h, |dX|/h)) with the MLP's output initialised to zero, so the
learned decoder starts from the Gaussian one.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..nn import MLP
from .._errors import check_int, check_positive, check_real
from ..nn._checks import check_dtype, check_key


class DecodePlan(eqx.Module):
    """Precomputed query neighbourhoods (from [`KernelDecoder.plan`][sciml.giorom.KernelDecoder.plan]).

    **Fields:**

    - `idx`: (Q, k) int32 indices of each query's nearest sparse nodes.
    - `coef`: (Q, k) decoding coefficients: a query's displacement is `sum_j coef[q, j] disp[idx[q, j]]`.
    """

    idx: jax.Array
    coef: jax.Array


class KernelDecoder(eqx.Module):
    """Arbitrary-point decoder (module docstring above): displacements at query rest positions from the sparse
    nodes' displacements, linear in them.

    **Arguments:**

    - `bandwidth`: the kernel length `h` (> 0), in position units.
    - `k`: nearest sparse nodes per query (int >= 1; default 12; capped at the number of sparse nodes).
    - `kind`: `"mls"` (default, moving least squares with a linear basis) or `"shepard"` (normalised weights).
    - `learned`: if True (default), add a kernel MLP on `(dX/h, |dX|/h)` to the Gaussian's log (initialised to
      zero, so it starts as the Gaussian decoder); False uses the plain Gaussian.
    - `ridge`: the MLS regularisation of the linear terms, relative to the total weight (>= 0; default 1e-2).
    - `width`: the kernel MLP's hidden width (default 32).
    - `key`: a JAX PRNG key for the MLP (default None: `jax.random.key(0)`).
    - `dtype`: the floating dtype of the MLP's weights (default float32).

    **Example:** `dec = giorom.KernelDecoder(0.02, k=12)`
    """

    mlp: MLP | None
    bandwidth: float = eqx.field(static=True)
    k: int = eqx.field(static=True)
    kind: str = eqx.field(static=True)
    ridge: float = eqx.field(static=True)

    def __init__(self, bandwidth: float, *, k: int = 12, kind: str = "mls", learned: bool = True, ridge: float = 1e-2,
                 width: int = 32, key=None, dtype=jnp.float32):
        if kind not in ("mls", "shepard"):
            raise ValueError(f"`kind` must be 'mls' or 'shepard', got {kind!r}")
        check_positive("bandwidth", bandwidth)
        check_int("k", k, minimum=1)
        check_real("ridge", ridge, minimum=0.0)
        check_int("width", width, minimum=1)
        if key is not None:
            check_key("key", key)
        check_dtype("dtype", dtype)
        self.bandwidth = float(bandwidth)
        self.k = int(k)
        self.kind = kind
        self.ridge = float(ridge)
        if learned:
            key = jax.random.key(0) if key is None else key
            self.mlp = MLP(3, 1, width, 2, key=key, activation="gelu", init="fan_in", out_scale=0.0, dtype=dtype)
        else:
            self.mlp = None

    def neighbors(self, ref_sparse, ref_query):
        """(Q, k) indices of the k nearest sparse rest positions (host cKDTree; one-off).

        **Arguments:**

        - `ref_sparse`: rest positions of the sparse nodes, shape `(n, d)`.
        - `ref_query`: rest positions of the queries, shape `(Q, d)`.

        **Returns:** (Q, min(k, n)) int32 indices into `ref_sparse`.
        """
        from scipy.spatial import cKDTree

        k = min(self.k, len(ref_sparse))
        _, idx = cKDTree(np.asarray(ref_sparse, np.float64)).query(np.asarray(ref_query, np.float64), k=k)
        return jnp.asarray(idx.reshape(len(ref_query), k), jnp.int32)

    def coefficients(self, ref_sparse, ref_query, idx):
        """The decoding coefficients of every query from its neighbourhood (differentiable in the kernel MLP).

        **Arguments:**

        - `ref_sparse`: rest positions of the sparse nodes, shape `(n, d)`.
        - `ref_query`: rest positions of the queries, shape `(Q, d)`.
        - `idx`: (Q, k) indices into `ref_sparse` of each query's neighbours (from `neighbors`).

        **Returns:** (Q, k) coefficients; each row sums to 1 (with `kind="mls"` and `ridge=0` they also reproduce
        affine displacement fields exactly).
        """
        h = self.bandwidth
        dX = (ref_sparse[idx] - ref_query[:, None, :]) / h  # (Q, k, d)
        r2 = jnp.sum(dX**2, -1)
        logit = -r2
        if self.mlp is not None:
            feat = jnp.concatenate([dX, jnp.sqrt(r2 + 1e-12)[..., None]], -1)
            logit = logit + self.mlp(feat)[..., 0]
        logit = logit - jax.lax.stop_gradient(logit.max(-1, keepdims=True))
        w = jnp.exp(logit)
        if self.kind == "shepard":
            return w / w.sum(-1, keepdims=True)
        d = dX.shape[-1]
        p = jnp.concatenate([jnp.ones_like(dX[..., :1]), dX], -1)  # (Q, k, 1+d)
        M = jnp.einsum("qk,qki,qkj->qij", w, p, p)
        reg = jnp.diag(jnp.concatenate([jnp.zeros((1,)), jnp.ones((d,))]).astype(M.dtype))
        M = M + self.ridge * w.sum(-1)[:, None, None] * reg
        e1 = jnp.zeros((1 + d,), M.dtype).at[0].set(1.0)
        a = jnp.linalg.solve(M, jnp.broadcast_to(e1, M.shape[:-1])[..., None])[..., 0]  # (Q, 1+d)
        return w * jnp.einsum("qkj,qj->qk", p, a)

    def plan(self, ref_sparse, ref_query, idx=None) -> DecodePlan:
        """Neighbourhoods + coefficients for queries at rest positions `ref_query` (Q, d).

        **Arguments:**

        - `ref_sparse`: rest positions of the sparse nodes, shape `(n, d)`.
        - `ref_query`: rest positions of the queries, shape `(Q, d)`.
        - `idx`: optional (Q, k) neighbour indices; None (default) finds them with `neighbors` (host).

        **Returns:** a [`DecodePlan`][sciml.giorom.DecodePlan].
        """
        idx = self.neighbors(ref_sparse, ref_query) if idx is None else idx
        # one compiled program (eager, the coefficient algebra dispatched and compiled ~40 small ops per new shape)
        return DecodePlan(idx, _coefficients(self, jnp.asarray(ref_sparse), jnp.asarray(ref_query), jnp.asarray(idx)))

    def __call__(self, plan: DecodePlan, disp):
        """Displacements at the queries from sparse displacements `disp` (..., n, d) -> (..., Q, d).

        **Arguments:**

        - `plan`: a [`DecodePlan`][sciml.giorom.DecodePlan] for these queries and sparse nodes.
        - `disp`: displacements of the sparse nodes from their rest positions, shape `(..., n, d)`.

        **Returns:** the displacements at the queries, shape `(..., Q, d)`.
        """
        return jnp.einsum("qk,...qkd->...qd", plan.coef.astype(disp.dtype), disp[..., plan.idx, :])


@eqx.filter_jit
def _coefficients(decoder, ref_sparse, ref_query, idx):
    return decoder.coefficients(ref_sparse, ref_query, idx)
