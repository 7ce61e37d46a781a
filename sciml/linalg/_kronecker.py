"""Kronecker-product and Kronecker-sum operators acting on grids without materialising the product."""

from __future__ import annotations

from typing import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._errors import check_finite, check_real, is_concrete


def kron_mv(factors: Sequence[Float[Array, "m n"]], X: Float[ArrayLike, "*grid"]) -> Float[Array, "*out"]:
    """n-mode products: `(F1 ⊗ … ⊗ Fd) vec(X)` for a grid `X` of shape `(n1, …, nd)`, returned grid-shaped
    `(m1, …, md)`. In 2D this is `F1 X F2ᵀ`. Cost `O(N Σ nᵢ)`.

    **Arguments:**

    - `factors`: non-empty list of finite floating 2D arrays `Fᵢ` of shape `(mᵢ, nᵢ)`, one dtype.
    - `X`: grid of shape `(n1, …, nd)`, one axis per factor.

    **Returns:** the grid `(m1, …, md)`.

    **Raises:** `ValueError` when `X` does not have one axis per factor or a factor's column count differs from
    `X`'s axis length.

    **Example:** `Y = linalg.kron_mv([A1, A2], X)  # == (A1 @ X @ A2.T)`
    """
    factors = _check_factors(list(factors) if isinstance(factors, (list, tuple)) else factors)
    X = jnp.asarray(X)
    if X.ndim != len(factors):
        raise ValueError(f"`X` must have one axis per factor ({len(factors)}), got shape {X.shape}.")
    for i, F in enumerate(factors):
        if F.shape[1] != X.shape[i]:
            raise ValueError(f"`factors[{i}]` has {F.shape[1]} columns but `X` has {X.shape[i]} entries on axis {i}.")
    for i, F in enumerate(factors):
        X = jnp.moveaxis(jnp.tensordot(F, X, axes=(1, i)), 0, i)
    return X


def _check_factors(factors, name="factors"):
    if not isinstance(factors, (list, tuple)):
        raise TypeError(f"`{name}` must be a list of 2D arrays, got {type(factors).__name__}.")
    if len(factors) == 0:
        raise ValueError(f"`{name}` must be a non-empty list of 2D arrays.")
    out = []
    for i, F in enumerate(factors):
        try:
            F = jnp.asarray(F)
        except (TypeError, ValueError):
            raise TypeError(f"`{name}[{i}]` must be a 2D array, got {type(F).__name__}.") from None
        if F.ndim != 2:
            raise ValueError(f"`{name}[{i}]` must be a 2D matrix, got shape {F.shape}.")
        if not jnp.issubdtype(F.dtype, jnp.inexact):
            raise TypeError(f"`{name}[{i}]` must be floating-point, got dtype {F.dtype}.")
        if 0 in F.shape:
            raise ValueError(f"`{name}[{i}]` must not be empty, got shape {F.shape}.")
        check_finite(f"{name}[{i}]", F)
        out.append(F)
    dts = {F.dtype for F in out}
    if len(dts) > 1:
        raise TypeError(f"`{name}` must share one dtype, got {sorted(str(d) for d in dts)}; cast them explicitly.")
    return out


def _check_tags(tags):
    try:
        tags = frozenset(tags)
    except TypeError:
        raise TypeError(f"`tags` must be a collection of lineax tags (e.g. [lx.positive_semidefinite_tag]), "
                        f"got {tags!r}.") from None
    return tags


def _check_shift(shift):
    """A real `shift ≥ 0` (checked when concrete; a traced scalar, e.g. a learned noise variance, passes)."""
    if isinstance(shift, jax.core.Tracer):
        if jnp.shape(shift) != ():
            raise ValueError(f"`shift` must be a scalar, got shape {jnp.shape(shift)}.")
        return shift
    return check_real("shift", shift, minimum=0.0)


def _check_symmetric(factors, name):
    for i, F in enumerate(factors):
        if F.shape[0] != F.shape[1]:
            raise ValueError(f"`{name}[{i}]` must be square for a solve/logdet, got shape {F.shape}.")
        if is_concrete(F):
            Fn = np.asarray(F)
            if not np.allclose(Fn, Fn.T, rtol=1e-6, atol=1e-8 * max(np.abs(Fn).max(), 1e-300)):
                raise ValueError(f"`{name}[{i}]` must be symmetric (SPD) for the eigen-based solve/logdet.")


def _vec_in(x, shape, name="x"):
    x = jnp.asarray(x)
    N = int(np.prod(shape))
    if x.shape == tuple(shape):
        return x, False
    if x.shape == (N,):
        return x.reshape(shape), True
    raise ValueError(f"`{name}` must have the grid shape {tuple(shape)} or be flat ({N},), got {x.shape}.")


class KroneckerOperator(lx.AbstractLinearOperator):
    """`K = K1 ⊗ K2 ⊗ … ⊗ Kd` acting on grids of shape `(n1, …, nd)` (C-order `vec`) without forming `K`.

    `mv` costs `O(N Σ nᵢ)`; `solve((⊗Kᵢ) + σ² I)` and `logdet` use one `eigh` per (symmetric) factor.

    **Arguments:**

    - `factors`: non-empty list of finite floating 2D arrays `Kᵢ` of shape `(mᵢ, nᵢ)`, one dtype.
    - `tags`: lineax tags (e.g. `[lineax.positive_semidefinite_tag]`) answering `lineax.is_*` queries; CG-type
      solvers need symmetric or positive-semidefinite.

    `solve(b, shift)` / `logdet(shift)` need square symmetric factors and a real `shift ≥ 0`.

    **Example:**

    ```python
    K = linalg.KroneckerOperator([K1, K2])
    y = K.mv(X)                     # == (K1 @ X @ K2.T)
    x = K.solve(y, shift=1e-6)      # (K1⊗K2 + 1e-6 I)⁻¹ y
    ld = K.logdet(shift=1e-6)
    ```
    """

    factors: list
    tags: frozenset = eqx.field(static=True, default=frozenset())

    def __init__(self, factors, tags=frozenset()):
        self.factors = _check_factors(factors)
        self.tags = _check_tags(tags)

    @property
    def shape(self):
        return tuple(F.shape[1] for F in self.factors)

    @property
    def out_shape(self):
        return tuple(F.shape[0] for F in self.factors)

    def mv(self, vector):
        X, flat = _vec_in(vector, self.shape)
        Y = kron_mv(self.factors, X)
        return Y.reshape(-1) if flat else Y

    def as_matrix(self):
        M = self.factors[0]
        for F in self.factors[1:]:
            M = jnp.kron(M, F)
        return M

    def transpose(self):
        return KroneckerOperator([F.T for F in self.factors], self.tags)

    def in_structure(self):
        return jax.ShapeDtypeStruct(self.shape, self.factors[0].dtype)

    def out_structure(self):
        return jax.ShapeDtypeStruct(self.out_shape, self.factors[0].dtype)

    def eigh(self):
        """Per-factor eigendecompositions: `(eigenvalues list, eigenvectors list)`."""
        _check_symmetric(self.factors, "factors")
        ws, vs = zip(*[jnp.linalg.eigh(F) for F in self.factors])
        return list(ws), list(vs)

    def eigenvalues(self) -> Float[Array, "*grid"]:
        """All eigenvalues of `⊗Kᵢ` as a grid (outer product of the factor eigenvalues)."""
        ws, _ = self.eigh()
        lam = ws[0]
        for w in ws[1:]:
            lam = jnp.multiply.outer(lam, w)
        return lam

    def solve(self, b, shift=0.0):
        """Solve `(⊗Kᵢ + shift·I) x = b` exactly via per-factor `eigh` (factors square and symmetric).

        **Arguments:**

        - `b`: right-hand side, grid-shaped `(n1, …, nd)` or flat `(N,)`.
        - `shift`: real `≥ 0` added to the diagonal (e.g. a noise variance; a traced scalar is allowed), default 0.

        **Returns:** `x`, in `b`'s layout (grid or flat).
        """
        shift = _check_shift(shift)
        X, flat = _vec_in(b, self.shape, "b")
        check_finite("b", X)
        ws, vs = self.eigh()
        lam = ws[0]
        for w in ws[1:]:
            lam = jnp.multiply.outer(lam, w)
        Y = kron_mv([V.T for V in vs], X) / (lam + shift)
        Y = kron_mv(vs, Y)
        return Y.reshape(-1) if flat else Y

    def logdet(self, shift=0.0):
        """`log det(⊗Kᵢ + shift·I)` from the factor eigenvalues (factors SPD).

        **Arguments:**

        - `shift`: real `≥ 0` added to the diagonal (a traced scalar is allowed), default 0.

        **Returns:** a scalar.
        """
        shift = _check_shift(shift)
        lam = self.eigenvalues()
        return jnp.sum(jnp.log(lam + shift))


class KroneckerSumOperator(lx.AbstractLinearOperator):
    """`A1 ⊕ A2 ⊕ … = A1⊗I⊗… + I⊗A2⊗… + …` on grids (e.g. separable Laplacians), solved exactly by fast
    diagonalisation (one `eigh` per factor).

    **Arguments:**

    - `factors`: non-empty list of finite, square floating 2D arrays `Aᵢ` (symmetric for `solve`).
    - `tags`: lineax tags, as for [`KroneckerOperator`][sciml.linalg.KroneckerOperator].

    **Example:** `L = linalg.KroneckerSumOperator([D2x, D2y]); u = L.solve(f)`
    """

    factors: list
    tags: frozenset = eqx.field(static=True, default=frozenset())

    def __init__(self, factors, tags=frozenset()):
        fs = _check_factors(factors)
        for i, F in enumerate(fs):
            if F.shape[0] != F.shape[1]:
                raise ValueError(f"`factors[{i}]` must be square for a Kronecker sum, got shape {F.shape}.")
        self.factors = fs
        self.tags = _check_tags(tags)

    @property
    def shape(self):
        return tuple(F.shape[0] for F in self.factors)

    def mv(self, vector):
        X, flat = _vec_in(vector, self.shape)
        Y = jnp.zeros_like(X)
        for i, F in enumerate(self.factors):
            Y = Y + jnp.moveaxis(jnp.tensordot(F, X, axes=(1, i)), 0, i)
        return Y.reshape(-1) if flat else Y

    def as_matrix(self):
        n = self.shape
        M = 0
        for i, F in enumerate(self.factors):
            term = jnp.eye(1, dtype=F.dtype)
            for j in range(len(n)):
                term = jnp.kron(term, F if j == i else jnp.eye(n[j], dtype=F.dtype))
            M = M + term
        return M

    def transpose(self):
        return KroneckerSumOperator([F.T for F in self.factors], self.tags)

    def in_structure(self):
        return jax.ShapeDtypeStruct(self.shape, self.factors[0].dtype)

    def out_structure(self):
        return self.in_structure()

    def solve(self, b, shift=0.0):
        """Solve `(⊕Aᵢ + shift·I) x = b` exactly by fast diagonalisation (factors symmetric).

        **Arguments:**

        - `b`: right-hand side, grid-shaped `(n1, …, nd)` or flat `(N,)`.
        - `shift`: real `≥ 0` added to the diagonal (a traced scalar is allowed), default 0.

        **Returns:** `x`, in `b`'s layout (grid or flat).
        """
        shift = _check_shift(shift)
        _check_symmetric(self.factors, "factors")
        X, flat = _vec_in(b, self.shape, "b")
        check_finite("b", X)
        ws, vs = zip(*[jnp.linalg.eigh(F) for F in self.factors])
        lam = ws[0]
        for w in ws[1:]:
            lam = jnp.add.outer(lam, w)
        Y = kron_mv([V.T for V in vs], X) / (lam + shift)
        Y = kron_mv(list(vs), Y)
        return Y.reshape(-1) if flat else Y


def _register(cls):
    lx.linearise.register(cls)(lambda op: op)
    lx.materialise.register(cls)(lambda op: op)
    lx.diagonal.register(cls)(lambda op: jnp.diag(op.as_matrix()))
    for q, tag in [
        (lx.is_symmetric, lx.symmetric_tag),
        (lx.is_positive_semidefinite, lx.positive_semidefinite_tag),
        (lx.is_negative_semidefinite, lx.negative_semidefinite_tag),
        (lx.is_diagonal, lx.diagonal_tag),
        (lx.is_tridiagonal, lx.tridiagonal_tag),
        (lx.has_unit_diagonal, lx.unit_diagonal_tag),
        (lx.is_lower_triangular, lx.lower_triangular_tag),
        (lx.is_upper_triangular, lx.upper_triangular_tag),
    ]:
        q.register(cls)(lambda op, tag=tag: tag in op.tags)


_register(KroneckerOperator)
_register(KroneckerSumOperator)


@lx.diagonal.register(KroneckerOperator)
def _(op):
    d = jnp.diag(op.factors[0])
    for F in op.factors[1:]:
        d = jnp.multiply.outer(d, jnp.diag(F))
    return d.reshape(-1)  # lineax's contract: flat, C order (= diag(as_matrix()))
