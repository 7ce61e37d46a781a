"""Exact fast Poisson solves on obstacle-free boxes (DCT / sine-basis fast diagonalisation).

When the FLUID cells of a flag grid form an axis-aligned box, the 5/7-point operator is a Kronecker sum
``A = Σ_a I ⊗ T_a ⊗ I / h²`` of 1D tridiagonal matrices ``T_a`` whose end rows depend on what lies beyond
each side (SOLID: Neumann, diagonal 1; AIR / Dirichlet boundary: diagonal 2).  Its eigenbasis is
separable: a pure-Neumann axis is diagonalised by the orthonormal DCT-II (``jax.scipy.fft.dct``,
O(n log n)); a Dirichlet or mixed axis by the exact eigenvectors of ``T_a`` (DST-I-type sine bases; a
dense ``n×n`` mode product).  The solve is then exact up to rounding:
``x = Q (Λ⁺ ⊙ Qᵀ b)``, with the zero eigenvalue of a pure-Neumann box pseudo-inverted (null space removed).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.fft as jfft
import numpy as np

from .._errors import check_finite
from ._poisson import AIR, FLUID, SOLID, PoissonOperator


def _side_types(flags: np.ndarray, lo: np.ndarray, hi: np.ndarray, boundary: str):
    """For each axis, (lower, upper) boundary type 'N' or 'D' of the FLUID box [lo, hi]."""
    types = []
    outside = "N" if boundary == "neumann" else "D"
    for a in range(flags.ndim):
        pair = []
        for side, idx in ((0, lo[a] - 1), (1, hi[a] + 1)):
            if idx < 0 or idx >= flags.shape[a]:
                pair.append(outside)
                continue
            sl = [slice(l, h + 1) for l, h in zip(lo, hi)]
            sl[a] = idx
            layer = flags[tuple(sl)]
            if (layer == SOLID).all():
                pair.append("N")
            elif (layer == AIR).all():
                pair.append("D")
            else:
                raise ValueError(
                    "`op`: the layer next to the FLUID box mixes SOLID and AIR cells on one side; "
                    "the operator is not separable. Use linalg.pcg with multigrid_preconditioner instead."
                )
        types.append(tuple(pair))
    return types


def _tridiag(n: int, lo: str, hi: str) -> np.ndarray:
    T = 2 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1)
    if lo == "N":
        T[0, 0] -= 1
    if hi == "N":
        T[-1, -1] -= 1
    return T


class DCTPoissonSolver(eqx.Module):
    """Exact solver ``b -> A⁺ b`` for a flag-grid Poisson operator whose FLUID cells form a box.

    Build with [`dct_poisson_solver`][sciml.linalg.dct_poisson_solver]; callable on grid-shaped arrays
    (jit/vmap-safe).  Also an exact preconditioner for `linalg.pcg` on such boxes.

    **Fields:** (set by `dct_poisson_solver`, not passed by hand)

    - `inv_eigs`: inverse eigenvalues of the operator on the FLUID box (zero for the null mode), the box's shape.
    - `bases`: per axis, `None` (a DCT-II diagonalises it) or the dense `(n, n)` eigenvector matrix.
    - `lo`, `hi`: inclusive index bounds of the FLUID box in the grid, per axis.
    - `shape`: the full grid's shape.
    """

    inv_eigs: jax.Array  # (box shape)
    bases: list  # per axis: None (DCT-II) or dense eigenvector matrix (n, n)
    lo: tuple = eqx.field(static=True)
    hi: tuple = eqx.field(static=True)
    shape: tuple = eqx.field(static=True)

    def _forward(self, x):
        for a, Q in enumerate(self.bases):
            if Q is None:
                x = jfft.dct(x, type=2, axis=a, norm="ortho")
            else:
                x = jnp.moveaxis(jnp.tensordot(Q.T.astype(x.dtype), x, axes=([1], [a])), 0, a)
        return x

    def _inverse(self, x):
        for a, Q in enumerate(self.bases):
            if Q is None:
                x = jfft.idct(x, type=2, axis=a, norm="ortho")
            else:
                x = jnp.moveaxis(jnp.tensordot(Q.astype(x.dtype), x, axes=([1], [a])), 0, a)
        return x

    def __call__(self, b):
        """Apply `A⁺`.

        **Arguments:**

        - `b`: finite floating array of the grid's shape (entries off the FLUID box are ignored).

        **Returns:** `A⁺ b`, same shape and dtype, zero off the FLUID box.

        **Raises:** `ValueError` for a wrong shape or non-finite values, `TypeError` for a non-floating `b`.
        """
        b = jnp.asarray(b)
        if tuple(b.shape) != tuple(self.shape):
            raise ValueError(f"`b` must have the grid's shape {self.shape}, got {tuple(b.shape)}.")
        if not jnp.issubdtype(b.dtype, jnp.floating):
            raise TypeError(f"`b` must be a floating-point array, got dtype {b.dtype}.")
        check_finite("b", b)
        sl = tuple(slice(l, h + 1) for l, h in zip(self.lo, self.hi))
        xb = self._inverse(self.inv_eigs.astype(b.dtype) * self._forward(b[sl]))
        return jnp.zeros(self.shape, b.dtype).at[sl].set(xb)


def dct_poisson_solver(op: PoissonOperator) -> DCTPoissonSolver:
    """Exact O(N log N)-type Poisson solver for an obstacle-free box (DCT-II on Neumann axes, exact sine
    eigenbases on Dirichlet/mixed axes).

    **Arguments:**

    - `op`: a [`PoissonOperator`][sciml.linalg.PoissonOperator] whose FLUID cells fill an axis-aligned box
      (e.g. all-FLUID, or a box walled by SOLID and/or AIR layers, one type per side).

    **Returns:** a callable ``DCTPoissonSolver`` ``b -> x`` with ``A x = b`` (minimum-norm solution when the
    box is pure Neumann and ``b`` has zero mean).  Raises ``ValueError`` when FLUID is not a box.

    **Example:**

    ```python
    op = linalg.poisson_operator(np.zeros((64, 64), np.int8))
    x = linalg.dct_poisson_solver(op)(b)   # == linalg.cg(op, b, rtol=1e-12).value
    ```
    """
    if not isinstance(op, PoissonOperator):
        raise TypeError(f"`op` must be a flag-grid PoissonOperator (linalg.poisson_operator), got {type(op).__name__}.")
    flags = np.asarray(op.flags)
    mask = flags == FLUID
    idx = np.argwhere(mask)
    lo, hi = idx.min(axis=0), idx.max(axis=0)
    box = np.zeros_like(mask)
    box[tuple(slice(l, h + 1) for l, h in zip(lo, hi))] = True
    if not np.array_equal(box, mask):
        raise ValueError(
            "`op`: the FLUID cells do not form an axis-aligned box (obstacles present); "
            "use linalg.pcg with linalg.multigrid_preconditioner (or dct_poisson_solver of the empty box as a "
            "preconditioner)."
        )
    types = _side_types(flags, lo, hi, op.boundary)
    h2 = float(op.spacing) ** 2
    eig_axes = []
    bases = []
    for a, (tl, th) in enumerate(types):
        n = int(hi[a] - lo[a] + 1)
        if tl == "N" and th == "N":
            k = np.arange(n)
            eig_axes.append(4 * np.sin(np.pi * k / (2 * n)) ** 2)
            bases.append(None)
        else:
            w, Q = np.linalg.eigh(_tridiag(n, tl, th))
            eig_axes.append(w)
            bases.append(jnp.asarray(Q, op.dtype))
    lam = sum(np.reshape(w, [-1 if i == a else 1 for i in range(len(eig_axes))]) for a, w in enumerate(eig_axes))
    lam = lam / h2
    tiny = 1e-10 * lam.max()
    inv = np.where(lam > tiny, 1.0 / np.where(lam > tiny, lam, 1.0), 0.0)
    return DCTPoissonSolver(
        inv_eigs=jnp.asarray(inv, op.dtype),
        bases=bases,
        lo=tuple(int(v) for v in lo),
        hi=tuple(int(v) for v in hi),
        shape=tuple(flags.shape),
    )


def dct_poisson_solve(op: PoissonOperator, b) -> jax.Array:
    """One-shot exact solve ``A x = b`` on an obstacle-free box; see [`dct_poisson_solver`][].

    **Arguments:** `op`: as in `dct_poisson_solver`; `b`: finite floating grid of the operator's shape.

    **Returns:** the solution grid (zero off the FLUID box).
    """
    return dct_poisson_solver(op)(b)
