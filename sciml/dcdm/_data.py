"""DCDM training data: Lanczos (full re-orthogonalisation) -> Ritz vectors -> low-spectrum-weighted samples."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .. import linalg


class RitzData(eqx.Module):
    """Ritz pairs of the training operator and the sampling weights (spec §3).

    A sample is ``Σ_j c_j v_j / ‖·‖`` with ``c_j ~ weights_j · N(0, 1)``: the lowest ``n_low`` Ritz vectors
    get ``low_weight`` (9 in the paper), the rest weight 1.

    Built by [`ritz_training_data`][sciml.dcdm.ritz_training_data].

    **Fields:**

    - `values`: `(m,)` ascending Ritz values (null-space ones dropped).
    - `vectors`: `(m, *grid)` the matching Ritz vectors.
    - `weights`: `(m,)` the sampling weights (`low_weight` for the lowest `n_low`, else 1).
    - `samples`: `(n_samples, *grid)` cached samples, or `None` when generated on the fly.
    """

    values: jax.Array
    vectors: jax.Array
    weights: jax.Array
    samples: jax.Array | None

    def sample(self, key, n: int) -> jax.Array:
        """Fresh unit-norm samples.

        **Arguments:**

        - `key`: a JAX PRNG key.
        - `n`: number of samples (static int ≥ 1).

        **Returns:** shape `(n, *grid)`, the vectors' dtype.
        """
        return _draw(self.vectors, self.weights, key, n)

    def batch_fn(self, batch_size: int):
        """A deterministic `batch_fn(key, step)` for [`sciml.train.fit`][sciml.train.fit].

        **Arguments:**

        - `batch_size`: samples per batch (int ≥ 1).

        **Returns:** `batch_fn(key, step) -> (batch_size, *grid)`: minibatches of the cached samples if any
        (with replacement only when there are fewer than `batch_size`), else fresh on-the-fly samples.
        """
        if self.samples is not None:
            samples = self.samples
            n = samples.shape[0]

            @jax.jit
            def take(key):
                idx = jax.random.choice(key, n, (batch_size,), replace=n < batch_size)
                return samples[idx]

            return lambda key, step: take(key)
        vec, w = self.vectors, self.weights
        draw = jax.jit(lambda key: _draw(vec, w, key, batch_size))
        return lambda key, step: draw(key)


def _draw(vectors, weights, key, n):
    m = vectors.shape[0]
    c = jax.random.normal(key, (n, m), vectors.dtype) * weights.astype(vectors.dtype)
    s = jnp.tensordot(c, vectors, axes=1)
    nrm = jnp.sqrt(jnp.sum(s.reshape(n, -1) ** 2, axis=1))
    return s / nrm.reshape((n,) + (1,) * (s.ndim - 1))


def ritz_training_data(
    op,
    *,
    key,
    n_lanczos: int = 300,
    n_samples: int | None = None,
    low_weight: float = 9.0,
    theta: int | None = None,
    n_low: int | None = None,
    null_tol: float = 1e-8,
    dtype=jnp.float32,
) -> RitzData:
    """Build DCDM training data for the operator ``op`` (on the device, jitted Lanczos).

    **Arguments:**

    - `op`: the training operator (``linalg.poisson_operator``).
    - `key`: PRNG key (start vector ``A g``, ``g ~ N(0, I)``, and the samples).
    - `n_lanczos`: Lanczos steps ``m`` (paper: 10,000; 300-2,000 is what fits a CPU/GPU budget).
    - `n_samples`: if given, that many samples are drawn now and cached (paper: 20,000); else ``None``
      and samples are generated on the fly by ``RitzData.batch_fn``.
    - `low_weight`, `theta`, `n_low`: the lowest ``n_low = m/2 + theta`` Ritz vectors get coefficients
      ``low_weight·N(0,1)`` (paper: 9 and θ = 500 of m = 10,000; default θ = m/20).
    - `null_tol`: Ritz values below ``null_tol·max`` (the null space) are dropped.
    - `dtype`: dtype of the stored vectors/samples.

    **Returns:** a [`RitzData`][sciml.dcdm.RitzData].

    **Example:** `data = dcdm.ritz_training_data(op, key=jax.random.key(0), n_lanczos=200, n_samples=1000)`
    """
    from .._errors import check_int, check_positive, check_real
    from ._validate import check_op

    check_op(op)
    n_lanczos = check_int("n_lanczos", n_lanczos, minimum=2)
    if n_samples is not None:
        n_samples = check_int("n_samples", n_samples, minimum=1)
    check_positive("low_weight", low_weight)
    if theta is not None:
        check_int("theta", theta, minimum=0)
    if n_low is not None:
        check_int("n_low", n_low, minimum=0)
    check_real("null_tol", null_tol, minimum=0.0)
    if not jnp.issubdtype(jnp.dtype(dtype), jnp.floating):
        raise TypeError(f"`dtype` must be a floating dtype, got {dtype!r}.")
    kg, ks = jax.random.split(key)
    g = jax.random.normal(kg, op.shape, op.dtype)
    v0 = op.mv(op.project(g))
    m = int(min(n_lanczos, op.n_fluid))
    lam, Y = jax.jit(linalg.ritz_vectors, static_argnums=2)(op, v0, m)
    lam = np.asarray(lam)
    keep = lam > null_tol * lam.max()
    idx = np.nonzero(keep)[0]
    values = jnp.asarray(lam[idx])
    vectors = jnp.asarray(Y)[idx].astype(dtype)
    if n_low is None:
        n_low = m // 2 + (m // 20 if theta is None else int(theta))
    n_kept = len(idx)
    weights = jnp.where(jnp.arange(n_kept) < min(n_low, n_kept), low_weight, 1.0).astype(dtype)
    samples = None if n_samples is None else _draw(vectors, weights, ks, int(n_samples))
    return RitzData(values=values, vectors=vectors, weights=weights, samples=samples)
