"""Separable PIG (our design; the paper's SPIG has no released code or description).

Each axis ``a`` carries a 1-D Gaussian mixture giving an r-vector ``phi_a(x_a)``,
``phi_a^(r)(s) = sum_n W_a[n, r] exp(-1/2 ((s - mu_a[n]) / sigma_a[n])^2)``, and the solution is the
rank-r canonical-polyadic combination used by SPINN, ``u(x) = sum_r prod_a phi_a^(r)(x_a) + b``.
On a tensor grid of ``n_c`` points per axis this costs ``d * n_c * N`` Gaussian evaluations for
``n_c^d`` points, and every derivative is a per-axis (forward, closed-form) derivative of ``phi_a``
placed into the same contraction.
"""

from __future__ import annotations

import math
import string

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ..nn import chunked_map
from ._model import BoxNormaliser, normalise_required


class SeparablePIG(eqx.Module):
    """Separable Physics-Informed Gaussians for tensor-grid collocation (e.g. (2+1)-D problems).

    **Arguments:**

    - `lower`, `upper`: the input box.
    - `n_gaussians`: 1-D Gaussians per axis (default 64).
    - `rank`: r, the number of separable terms (default 16).
    - `sigma0`: initial scale in normalised units (default 0.1).
    - `sigma_min`: hard floor of the scales, so sigma > 0 always (default `1e-4`, `< sigma0`).
    - `weight_std`: initial weight std (default `None`: chosen so each per-axis factor is O(1)).
    - `key`: a JAX PRNG key.
    - `dtype`: parameter dtype (default float32).

    **Raises:** `ValueError` when `sigma0 ≤ sigma_min`.
    """

    normaliser: BoxNormaliser
    means: Float[Array, "d N"]
    log_sigma: Float[Array, "d N"]
    weights: Float[Array, "d N r"]
    bias: Float[Array, ""]
    sigma_min: float = eqx.field(static=True)

    def __init__(
        self,
        lower,
        upper,
        n_gaussians: int = 64,
        rank: int = 16,
        *,
        sigma0: float = 0.1,
        sigma_min: float = 1e-4,
        weight_std: float | None = None,
        key: PRNGKeyArray,
        dtype=jnp.float32,
    ):
        self.normaliser = BoxNormaliser(tuple(float(v) for v in lower), tuple(float(v) for v in upper))
        d = self.normaliser.ndim
        if sigma0 <= sigma_min:
            raise ValueError(f"sigma0={sigma0} must exceed sigma_min={sigma_min}")
        k1, k2 = jax.random.split(key)
        # evenly spread centres with a small jitter: a 1-D mixture needs coverage of its axis
        base = jnp.linspace(-1.0, 1.0, n_gaussians, dtype=dtype)
        jitter = jax.random.uniform(k1, (d, n_gaussians), dtype, -0.5, 0.5) * (2.0 / max(n_gaussians - 1, 1))
        self.means = base[None, :] + jitter
        self.log_sigma = jnp.full((d, n_gaussians), math.log(sigma0 - sigma_min), dtype)
        if weight_std is None:
            overlap = max(1.0, n_gaussians * sigma0 * math.sqrt(2 * math.pi) / 2.0)
            weight_std = 1.0 / math.sqrt(overlap)
        self.weights = weight_std * jax.random.normal(k2, (d, n_gaussians, rank), dtype)
        self.bias = jnp.zeros((), dtype)
        self.sigma_min = float(sigma_min)

    @property
    def ndim(self) -> int:
        return self.normaliser.ndim

    @property
    def sigma(self):
        return self.sigma_min + jnp.exp(self.log_sigma)

    def _axis_features(self, a: int, s: Float[Array, " n"], order: int):
        """phi_a and its first/second derivative w.r.t. the *unnormalised* coordinate, each (n, r)."""
        scale = self.normaliser.scale(s.dtype)[a]
        lo = self.normaliser.lower[a]
        z = (s - lo) * scale - 1.0
        sig = self.sigma[a]
        dd = (z[:, None] - self.means[a][None, :]) / sig  # (n, N)
        G = jnp.exp(-0.5 * dd * dd)
        W = self.weights[a]
        out = [G @ W]
        if order >= 1:
            out.append(((G * (-dd / sig)) @ W) * scale)
        if order >= 2:
            out.append(((G * (dd * dd - 1.0) / (sig * sig)) @ W) * scale**2)
        return out

    def _orders(self, required):
        order = [0] * self.ndim
        for r in required:
            for a in r:
                order[a] = max(order[a], r.count(a) if len(set(r)) == 1 else 1)
        return order

    def grid_derivatives(self, axes: list[Float[Array, " n"]], required) -> tuple[dict, Array]:
        """Value and derivatives on the tensor grid ``axes[0] x axes[1] x ...`` (flattened, ij order).

        **Arguments:**

        - `axes`: one 1D coordinate array per axis.
        - `required`: derivative requests `(i,)`, `(i, j)` (the value `()` is always included).

        **Returns:** ``(derivs, points)`` with ``derivs[r]`` of shape ``(prod n_a,)`` and ``points`` ``(prod n_a, d)``.
        """
        required = normalise_required(required)
        if len(axes) != self.ndim:
            raise ValueError(f"need {self.ndim} coordinate arrays, got {len(axes)}")
        order = self._orders(required)
        feats = [self._axis_features(a, jnp.asarray(axes[a]), order[a]) for a in range(self.ndim)]
        letters = string.ascii_lowercase[: self.ndim]
        spec = ",".join(f"{c}z" for c in letters) + "->" + letters

        def combine(which):  # which[a] = derivative order of axis a
            return jnp.einsum(spec, *[feats[a][which[a]] for a in range(self.ndim)]).reshape(-1)

        out = {}
        for r in required:
            which = [0] * self.ndim
            for a in r:
                which[a] += 1
            val = combine(which)
            out[r] = val + self.bias if r == () else val
        pts = jnp.stack(jnp.meshgrid(*axes, indexing="ij"), -1).reshape(-1, self.ndim)
        return out, pts

    def derivatives(self, xs: Float[Array, "P d"], required) -> dict:
        """Value and derivatives at scattered points.

        **Arguments:**

        - `xs`: points, shape `(P, d)`.
        - `required`: derivative requests, as in `grid_derivatives`.

        **Returns:** a dict from each request to an array of shape `(P,)`.
        """
        required = normalise_required(required)
        order = self._orders(required)
        feats = [self._axis_features(a, xs[:, a], order[a]) for a in range(self.ndim)]
        out = {}
        for r in required:
            which = [0] * self.ndim
            for a in r:
                which[a] += 1
            prod = feats[0][which[0]]
            for a in range(1, self.ndim):
                prod = prod * feats[a][which[a]]
            val = jnp.sum(prod, axis=-1)
            out[r] = val + self.bias if r == () else val
        return out

    def __call__(self, x: Float[Array, " d"]) -> Float[Array, ""]:
        """The solution at one point.

        **Arguments:**

        - `x`: a point, shape `(d,)`.

        **Returns:** a scalar.
        """
        return self.derivatives(x[None, :], ((),))[()][0]

    def predict(self, xs, chunk_size: int | None = 65536):
        """Evaluate at many points.

        **Arguments:**

        - `xs`: points, shape `(P, d)`.
        - `chunk_size`: points per chunk (default 65536); `None` = one chunk.

        **Returns:** shape `(P,)`.
        """
        xs = jnp.asarray(xs)
        if chunk_size is None or xs.shape[0] <= chunk_size:
            return self.derivatives(xs, ((),))[()]
        return chunked_map(self, xs, chunk_size)
