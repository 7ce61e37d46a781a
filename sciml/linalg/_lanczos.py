"""Lanczos tridiagonalisation with full re-orthogonalisation, and Ritz pairs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._errors import check_finite, check_int, is_concrete


def _matvec(op):
    if isinstance(op, lx.AbstractLinearOperator):
        return op.mv
    if callable(op):
        return op
    raise TypeError(f"`op` must be a lineax operator or a callable v -> A v, got {type(op).__name__}.")


def lanczos(op, v0: Float[ArrayLike, "*shape"], k: int) -> tuple[Float[Array, "k k"], Float[Array, "k *shape"]]:
    """k steps of Lanczos with full re-orthogonalisation (two Gram–Schmidt passes per step).

    **Arguments:**

    - `op`: symmetric operator (lineax operator or callable `v -> A v`) acting on arrays of `v0`'s shape.
    - `v0`: start vector (any shape; normalised internally).
    - `k`: number of steps, an integer with `1 ≤ k ≤ v0.size`.

    **Returns:** `(T, V)`: the `k×k` symmetric tridiagonal matrix and the orthonormal basis, shape
    `(k, *v0.shape)`, with `V A Vᵀ = T` (flattened). An invariant subspace (breakdown) is padded with
    zero basis vectors.

    **Example:** `T, V = linalg.lanczos(op, b, 50)`
    """
    mv = _matvec(op)
    try:
        v0 = jnp.asarray(v0)
    except (TypeError, ValueError):
        raise TypeError(f"`v0` must be a floating-point array, got {type(v0).__name__}.") from None
    if not jnp.issubdtype(v0.dtype, jnp.floating):
        raise TypeError(f"`v0` must be floating-point, got dtype {v0.dtype}.")
    if v0.size == 0:
        raise ValueError(f"`v0` must not be empty, got shape {v0.shape}.")
    if isinstance(op, lx.AbstractLinearOperator):
        s = op.in_structure()
        if isinstance(s, jax.ShapeDtypeStruct) and tuple(s.shape) != tuple(v0.shape):
            raise ValueError(f"`v0` must have the operator's input shape {tuple(s.shape)}, got {v0.shape}.")
    check_finite("v0", v0)
    if is_concrete(v0) and not np.any(np.asarray(v0)):
        raise ValueError("`v0` must be nonzero (Lanczos normalises it).")
    shape = v0.shape
    n = v0.size
    k = check_int("k", k, minimum=1)
    if k > n:
        raise ValueError(f"`k` ({k}) cannot exceed the dimension of `v0` ({n}).")
    V = jnp.zeros((k, n), v0.dtype)
    v = v0.reshape(-1)
    v = v / jnp.linalg.norm(v)
    tiny = jnp.finfo(v0.dtype).eps

    def body(i, c):
        V, v, alphas, betas = c
        V = V.at[i].set(v)
        w = mv(v.reshape(shape)).reshape(-1)
        a = jnp.vdot(v, w)
        for _ in range(2):  # full re-orthogonalisation (rows beyond i are zero)
            w = w - V.T @ (V @ w)
        bnorm = jnp.linalg.norm(w)
        ok = bnorm > tiny * 100 * jnp.maximum(jnp.abs(a), 1)
        v_next = jnp.where(ok, w / jnp.where(ok, bnorm, 1), 0)
        return V, v_next, alphas.at[i].set(a), betas.at[i].set(jnp.where(ok, bnorm, 0))

    alphas = jnp.zeros((k,), v0.dtype)
    betas = jnp.zeros((k,), v0.dtype)
    V, _, alphas, betas = jax.lax.fori_loop(0, k, body, (V, v, alphas, betas))
    T = jnp.diag(alphas) + jnp.diag(betas[:-1], 1) + jnp.diag(betas[:-1], -1)
    return T, V.reshape((k,) + shape)


def ritz_vectors(op, v0: Float[ArrayLike, "*shape"], k: int) -> tuple[Float[Array, " k"], Float[Array, "k *shape"]]:
    """Ritz pairs from `k` Lanczos steps: `(eigenvalues ascending (k,), vectors (k, *v0.shape))`.

    **Arguments:** `op`, `v0`, `k`: as in [`lanczos`][sciml.linalg.lanczos].

    **Example:** `lam, Y = linalg.ritz_vectors(op, b, 100)  # Y[0] approximates the smallest eigenvector`
    """
    T, V = lanczos(op, v0, k)
    w, S = jnp.linalg.eigh(T)
    Y = jnp.tensordot(S.T, V, axes=1)
    return w, Y
