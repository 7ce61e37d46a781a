"""A final least-squares correction of a trained model by a smooth global basis (Legendre tensor products).

Why: the residual loss weights an error mode by the square of the operator's eigenvalue on it. On a high-frequency
problem the solution's modes carry eigenvalues hundreds of times larger than the smooth ones, so after Adam and
L-BFGS the remaining error is a smooth bump the loss barely sees (measured on Helmholtz (6, 6): 94 % of the error
energy in the modes `m, n ≤ 2`, 78 % in the lowest one alone). A gradient method needs many thousands of steps to
remove it; a linear least-squares solve over a few hundred smooth basis functions removes it in one step
(Gauss–Newton for nonlinear residuals).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._errors import check_int
from ._fields import FieldStack
from ._model import BoxNormaliser, normalise_required

__all__ = ["Correction", "Corrected"]


def _default_degree(ndim: int) -> int:
    """Per-axis degree so that the basis has at most ~625 functions: 1D 48, 2D 24, 3D 7, 4D 4."""
    return {1: 48, 2: 24, 3: 7}.get(ndim, 4 if ndim == 4 else 2)


class Correction(eqx.Module):
    """An opt-in final least-squares correction phase of [`train`][sciml.pig.train] (after Adam and L-BFGS).

    The trained model `u` becomes `u + Σ_k c_k φ_k` with `φ_k` the tensor products of Legendre polynomials of
    degree `≤ degree` per axis on the domain's bounding box, and `c` the least-squares minimiser of the same
    weighted loss the training used, on a fresh fixed point set (one linear solve for a linear problem;
    Gauss–Newton steps for a nonlinear one). A step is kept only if it lowers the loss on a second, held-out
    point set. It removes the smooth error the residual loss hardly sees on high-frequency problems (the loss
    weights an error mode by its eigenvalue squared). The returned model is a [`Corrected`][sciml.pig.Corrected].
    Skipped for tensor-grid (separable) training, causal weighting and inverse problems (`infer=`); with a
    `mesh` the solve runs on one device (training is data-parallel, the correction is not). With `time_limit`
    it runs only if training ended inside the limit, and is not interrupted (it takes 15–50 s in 2D).

    **Arguments:**

    - `degree`: polynomial degree per axis (≥ 0); None (default): 48 in 1D, 24 in 2D, 7 in 3D, 4 in 4D (at most
      ~625 basis functions).
    - `points`: interior points of the solve (and of the held-out check); None (default): 32 per basis function,
      at least 16,384 and at most 32,768. Each boundary condition gets a quarter as many.
    - `iterations`: the most Gauss–Newton steps (≥ 1; default 4; a linear problem stops after the first).

    Not a default: the basis is a spectral least-squares solver in its own right. On smooth problems it alone
    is far more accurate than PIG (Helmholtz (2, 3) from a zero model: 2.6e-7; PIG + correction 2.7e-4), so
    results with it are not the PIG method's. It helps where PIG resolves the oscillation and leaves a smooth
    error (Helmholtz (6, 6) with 400 Gaussians: PIG 0.22, basis alone 0.030, PIG + correction 0.018; with the
    default 1,600: PIG 0.011, PIG + correction 0.0053).

    **Example:** `pig.train(problem, correction=pig.Correction(degree=16))`.
    """

    degree: int | None = eqx.field(static=True, default=None)
    points: int | None = eqx.field(static=True, default=None)
    iterations: int = eqx.field(static=True, default=4)

    def __check_init__(self):
        if self.degree is not None:
            check_int("degree", self.degree, minimum=0)
        if self.points is not None:
            check_int("points", self.points, minimum=1)
        check_int("iterations", self.iterations, minimum=1)

    def resolve(self, ndim: int) -> tuple[int, int]:
        """The degree and point count this phase uses.

        **Arguments:**

        - `ndim`: the problem's dimension (int ≥ 1).

        **Returns:** `(degree, interior points)`.
        """
        deg = _default_degree(ndim) if self.degree is None else self.degree
        k = (deg + 1) ** ndim
        pts = self.points if self.points is not None else int(np.clip(32 * k, 16384, 32768))
        return deg, pts


def _legendre(z, degree: int, order: int):
    """Legendre polynomials scaled to unit mean square on [-1, 1] (`√(2n+1) P_n`) and their first `order`
    derivatives at `z` (P,): a list of (P, degree + 1) arrays."""
    p = [jnp.ones_like(z), z]
    d1 = [jnp.zeros_like(z), jnp.ones_like(z)]
    d2 = [jnp.zeros_like(z), jnp.zeros_like(z)]
    for n in range(1, degree):
        p.append(((2 * n + 1) * z * p[n] - n * p[n - 1]) / (n + 1))
        d1.append(d1[n - 1] + (2 * n + 1) * p[n])
        d2.append(d2[n - 1] + (2 * n + 1) * d1[n])
    scale = jnp.sqrt(2.0 * jnp.arange(degree + 1, dtype=z.dtype) + 1.0)
    out = [jnp.stack(p[: degree + 1], -1) * scale]
    if order >= 1:
        out.append(jnp.stack(d1[: degree + 1], -1) * scale)
    if order >= 2:
        out.append(jnp.stack(d2[: degree + 1], -1) * scale)
    return out


class Corrected(eqx.Module):
    """A scalar model plus a smooth global correction: `u(x) = model(x) + Σ_k coeffs_k φ_k(x)`, with `φ_k` the
    tensor products of (unit mean-square) Legendre polynomials of degree `≤ degree` per axis on the box
    `[lower, upper]`. Built by the [`Correction`][sciml.pig.Correction] phase of [`train`][sciml.pig.train].

    **Arguments:**

    - `model`: the trained scalar model (with `derivatives(xs, required)` and `predict(xs)`).
    - `lower`, `upper`: the box of the basis (the domain's bounding box), `d` floats each, `lower < upper`.
    - `degree`: polynomial degree per axis (≥ 0).
    - `coeffs`: the `(degree + 1)^d` coefficients (default zeros, C order over the axes).

    **Raises:** `TypeError` for a model without `derivatives`/`predict` (or a `FieldStack`); `ValueError` for a
    negative degree, an empty box, a box whose dimension differs from the model's, or `coeffs` of the wrong shape.

    **Example:** `pig.Corrected(res.model, box.lower, box.upper, 8)` (zero correction).
    """

    model: eqx.Module
    coeffs: Float[Array, " K"]
    normaliser: BoxNormaliser
    degree: int = eqx.field(static=True)

    def __init__(self, model, lower, upper, degree: int, coeffs=None):
        check_int("degree", degree, minimum=0)
        if isinstance(model, FieldStack) or not (hasattr(model, "derivatives") and hasattr(model, "predict")):
            raise TypeError("`model` must be a scalar model with `derivatives(xs, required)` and `predict(xs)` "
                            f"(wrap each field of a FieldStack separately), got {type(model).__name__}.")
        self.model = model
        self.normaliser = BoxNormaliser(tuple(float(v) for v in np.atleast_1d(lower)),
                                        tuple(float(v) for v in np.atleast_1d(upper)))
        if hasattr(model, "ndim") and model.ndim != self.normaliser.ndim:
            raise ValueError(f"`lower`/`upper` describe a {self.normaliser.ndim}D box but `model` is "
                             f"{model.ndim}D.")
        self.degree = int(degree)
        k = (self.degree + 1) ** self.normaliser.ndim
        if coeffs is None:
            leaves = jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array))
            coeffs = jnp.zeros((k,), leaves[0].dtype if leaves else jnp.float32)
        if jnp.shape(coeffs) != (k,):
            raise ValueError(f"`coeffs` must have shape ({k},) for degree {degree} in {self.normaliser.ndim}D, "
                             f"got {jnp.shape(coeffs)}.")
        self.coeffs = jnp.asarray(coeffs)

    @property
    def ndim(self) -> int:
        return self.normaliser.ndim

    def basis(self, xs: Float[Array, "P d"], required=()) -> dict:
        """The basis functions and their derivatives.

        **Arguments:**

        - `xs`: points, shape `(P, d)`.
        - `required`: derivative requests `(i,)`, `(i, j)` (the value `()` is always included; default none).

        **Returns:** a dict from `()` and each request to an array of shape `(P, K)`.
        """
        required = normalise_required(required)
        d = self.ndim
        z = self.normaliser(xs)
        s = self.normaliser.scale(xs.dtype)
        order = max((len(r) for r in required), default=0)
        per_axis = [_legendre(z[:, a], self.degree, order) for a in range(d)]
        out = {}
        for r in required:
            counts = [r.count(a) for a in range(d)]
            b = None
            for a in range(d):
                f = per_axis[a][counts[a]] * (s[a] ** counts[a])
                b = f if b is None else (b[:, :, None] * f[:, None, :]).reshape(xs.shape[0], -1)
            out[r] = b
        return out

    def _correction(self, xs, required):
        return {r: b @ self.coeffs.astype(b.dtype) for r, b in self.basis(xs, required).items()}

    def derivatives(self, xs: Float[Array, "P d"], required) -> dict:
        """The model's value and derivatives plus the correction's, at a batch of points.

        **Arguments:**

        - `xs`: points, shape `(P, d)`.
        - `required`: derivative requests `(i,)`, `(i, j)` (the value `()` is always included).

        **Returns:** a dict from each request to an array of shape `(P,)`.
        """
        required = normalise_required(required)
        base = self.model.derivatives(xs, required)
        corr = self._correction(xs, required)
        return {r: base[r] + corr[r].astype(base[r].dtype) for r in base}

    def __call__(self, x: Float[Array, " d"]) -> Float[Array, ""]:
        """The corrected model at one point.

        **Arguments:**

        - `x`: a point, shape `(d,)`.

        **Returns:** a scalar.
        """
        return self.model(x) + self._correction(x[None], ((),))[()][0]

    def predict(self, xs: Float[Array, "P d"], chunk_size: int | None = 4096) -> Float[Array, " P"]:
        """Evaluate at many points in bounded memory.

        **Arguments:**

        - `xs`: points, shape `(P, d)`.
        - `chunk_size`: points per chunk (default 4096); `None` = one chunk.

        **Returns:** shape `(P,)`.
        """
        from .. import nn as _nn

        base = self.model.predict(xs, chunk_size=chunk_size)
        corr = _nn.chunked_map(lambda x: self._correction(x, ((),))[()], xs, chunk_size, batched=True)
        return base + corr.astype(base.dtype)


def _wrap(model, lower, upper, degree):
    if isinstance(model, FieldStack):
        return FieldStack([Corrected(m, lower, upper, degree) for m in model.models])
    return Corrected(model, lower, upper, degree)


def apply_correction(model, residual_vector, fit_batch, check_batch, lower, upper, correction: Correction,
                     ndim: int):
    """Run the correction phase: returns `(model, info)`; `model` is unchanged when no step lowered the held-out
    loss."""
    degree, _ = correction.resolve(ndim)
    wrapped = _wrap(model, lower, upper, degree)
    is_coeff = lambda leaf: isinstance(leaf, Corrected)  # noqa: E731
    coeff_list = [m.coeffs for m in jax.tree.leaves(wrapped, is_leaf=is_coeff) if isinstance(m, Corrected)]
    k = coeff_list[0].shape[0]
    n_fields = len(coeff_list)

    def build(c):
        if isinstance(wrapped, FieldStack):
            return FieldStack([eqx.tree_at(lambda m: m.coeffs, m, c[i * k:(i + 1) * k])
                               for i, m in enumerate(wrapped.models)])
        return eqx.tree_at(lambda m: m.coeffs, wrapped, c)

    def _vj(c, b):
        # the residual vector and its Jacobian in the coefficients in one program (one compilation for the fit
        # and the held-out batch, which share their shapes)
        f = lambda cc: residual_vector(build(cc), b)  # noqa: E731
        v, jvp = jax.linearize(f, c)
        return v, jax.vmap(jvp, out_axes=1)(jnp.eye(c.shape[0], dtype=c.dtype))

    vj = eqx.filter_jit(_vj)
    dtype = coeff_list[0].dtype
    c = jnp.zeros((n_fields * k,), dtype)
    fit, check = vj(c, fit_batch), vj(c, check_batch)
    loss = lambda vJ: float(np.sum(np.asarray(vJ[0], np.float64) ** 2))  # noqa: E731
    loss_fit, best_check = loss(fit), loss(check)
    best_c = None
    info = {"degree": degree, "basis": n_fields * k, "loss_before": best_check, "steps": 0}
    for it in range(correction.iterations):
        v, J = np.asarray(fit[0], np.float64), np.asarray(fit[1], np.float64)
        if not (np.all(np.isfinite(v)) and np.all(np.isfinite(J))):
            info["stopped"] = "non-finite residual or Jacobian"
            break
        # column scaling, then a truncated least-squares solve (float32 Jacobian: relative cut-off 1e-6)
        norms = np.linalg.norm(J, axis=0)
        norms = np.where(norms > 0, norms, 1.0)
        step, *_ = np.linalg.lstsq(J / norms, -v, rcond=1e-6)
        step = step / norms
        predicted = float(np.sum((v + J @ step) ** 2))
        accepted = False
        for damp in (1.0, 0.5, 0.25):
            trial = c + jnp.asarray(damp * step, dtype)
            t_fit, t_check = vj(trial, fit_batch), vj(trial, check_batch)
            new_fit, new_check = loss(t_fit), loss(t_check)
            if np.isfinite(new_check) and new_check < best_check and new_fit < loss_fit:
                prev_check = best_check
                c, fit, loss_fit, best_check, best_c, accepted = trial, t_fit, new_fit, new_check, trial, True
                info["steps"] = it + 1
                break
        if not accepted:
            break
        # a linear residual is solved exactly by the first full step (the loss reached the linear model's
        # prediction); otherwise stop when a step no longer helps
        if damp == 1.0 and abs(loss_fit - predicted) <= 1e-3 * max(loss_fit, 1e-30):
            break
        if prev_check - best_check <= 1e-3 * prev_check:
            break
    info["loss_after"] = best_check
    if best_c is None:
        return model, info
    return build(best_c), info

