"""Jets: what a residual function sees of the solution at a point (value and derivatives)."""

from __future__ import annotations

import abc
from typing import Callable

import equinox as eqx
import jax
import jax.numpy as jnp


class AbstractJet(eqx.Module):
    """The solution `u` at a point: `value`, `d(i)` = ∂u/∂xᵢ, `d2(i)` = ∂²u/∂xᵢ², `d2(i, j)` = ∂²u/∂xᵢ∂xⱼ."""

    @property
    @abc.abstractmethod
    def value(self): ...

    @abc.abstractmethod
    def d(self, i: int):
        """First derivative `∂u/∂xᵢ` at the jet's point.

        **Arguments:**

        - `i`: the axis (Python int, `0 ≤ i < d`).

        **Returns:** a scalar.
        """

    @abc.abstractmethod
    def d2(self, i: int, j: int | None = None):
        """Second derivative `∂²u/∂xᵢ∂xⱼ` at the jet's point.

        **Arguments:**

        - `i`: the first axis (Python int).
        - `j`: the second axis; `None` (default) means `j = i`, i.e. `∂²u/∂xᵢ²`.

        **Returns:** a scalar.
        """

    def laplacian(self, axes):
        """Sum of the pure second derivatives `d2(i)` over `axes`.

        **Arguments:**

        - `axes`: an iterable of axes, e.g. `range(2)` for the spatial Laplacian of a 2D problem.

        **Returns:** a scalar.
        """
        return sum(self.d2(i) for i in axes)


def _unit(x, i):
    return jnp.zeros_like(x).at[i].set(1)


class FunctionJet(AbstractJet):
    """Jet of a scalar function `fn: (d,) -> ()` at a point `x`, by forward-mode autodiff (lazily per request).

    **Arguments:**

    - `fn`: callable `x (d,) -> scalar` (differentiable with JAX).
    - `x`: the point, shape `(d,)`.

    **Example:** `u = pde.FunctionJet(lambda x: jnp.sin(x[0]), jnp.array([0.3])); u.d2(0)`
    """

    fn: Callable
    x: jax.Array

    @property
    def value(self):
        return self.fn(self.x)

    def d(self, i):
        return jax.jvp(self.fn, (self.x,), (_unit(self.x, i),))[1]

    def d2(self, i, j=None):
        j = i if j is None else j
        first = lambda y: jax.jvp(self.fn, (y,), (_unit(y, i),))[1]  # noqa: E731
        return jax.jvp(first, (self.x,), (_unit(self.x, j),))[1]


class ArrayJet(AbstractJet):
    """Precomputed jet values (e.g. on a grid): `value`, `first = {i: ∂ᵢu}`, `second = {(i, j): ∂ᵢ∂ⱼu}` with
    `i ≤ j`. A pytree, so it can be vmapped over points.

    **Arguments:**

    - `value`: the value of `u` (scalar, or an array when the jet is vmapped over points).
    - `first`: dict `{axis: ∂u/∂x_axis}` (default `None`: no first derivatives).
    - `second`: dict `{(i, j): ∂²u/∂xᵢ∂xⱼ}`; keys are sorted so `(1, 0)` and `(0, 1)` are one entry, and an int
      key `i` means `(i, i)` (default `None`: none). Asking for a missing derivative raises `KeyError`.

    **Example:** `pde.ArrayJet(u, first={0: ux}, second={(0, 0): uxx})`
    """

    val: jax.Array
    first: dict
    second: dict

    def __init__(self, value, first=None, second=None):
        self.val = value
        self.first = dict(first or {})
        self.second = {tuple(sorted(k)) if isinstance(k, tuple) else (k, k): v for k, v in (second or {}).items()}

    @property
    def value(self):
        return self.val

    def d(self, i):
        if i not in self.first:
            raise KeyError(f"this ArrayJet has no first derivative along axis {i}; it has {sorted(self.first)}.")
        return self.first[i]

    def d2(self, i, j=None):
        key = tuple(sorted((i, i if j is None else j)))
        if key not in self.second:
            raise KeyError(f"this ArrayJet has no second derivative {key}; it has {sorted(self.second)}.")
        return self.second[key]


class _RecordingJet(AbstractJet):
    log: list = eqx.field(static=True)
    x: jax.Array
    field: int = eqx.field(static=True, default=0)

    def _axis(self, i, what):
        d = self.x.shape[0]
        if isinstance(i, bool) or not isinstance(i, (int,)) and not (hasattr(i, "__index__") and jnp.ndim(i) == 0):
            raise TypeError(f"the residual calls u.{what} with a non-integer axis {i!r}; axes are Python ints.")
        i = int(i)
        if not 0 <= i < d:
            raise ValueError(f"the residual calls u.{what} with axis {i}, but the problem has {d} axis/axes "
                             f"(valid: 0..{d - 1}).")
        return i

    @property
    def value(self):
        self.log.append((self.field, ()))
        return jnp.zeros((), self.x.dtype)

    def d(self, i):
        self.log.append((self.field, (self._axis(i, f"d({i!r})"),)))
        return jnp.zeros((), self.x.dtype)

    def d2(self, i, j=None):
        j = i if j is None else j
        what = f"d2({i!r}, {j!r})"
        self.log.append((self.field, tuple(sorted((self._axis(i, what), self._axis(j, what))))))
        return jnp.zeros((), self.x.dtype)


def trace_residual(problem):
    """Trace `problem.residual` with recording jets: `(log of (field, derivative) requests, output shape)`."""
    log: list = []
    lo, hi = problem.domain.lower, problem.domain.upper
    x = jnp.asarray([(l + h) / 2 for l, h in zip(lo, hi)])
    n_fields = getattr(problem, "n_fields", 1)

    def f(x):
        u = _RecordingJet(log, x) if n_fields == 1 else [_RecordingJet(log, x, j) for j in range(n_fields)]
        return jnp.asarray(problem.residual(u, x))

    shape = jax.eval_shape(f, x).shape
    return log, shape


def required_derivatives(problem, by_field: bool = False):
    """The derivatives a problem's residual asks for: a set of `()`, `(i,)`, `(i, j)` tuples.

    **Arguments:**

    - `problem`: a [`Problem`][sciml.pde.Problem].
    - `by_field`: with `True`, a list with one such set per field (systems, `n_fields > 1`); otherwise the
      union over fields.

    **Returns:** a set (or list of sets) of derivative index tuples, e.g. `{(0, 0), (1, 1)}` for a Laplacian.

    **Example:** `pde.required_derivatives(pde.helmholtz_2d())  # {(), (0, 0), (1, 1)}`
    """
    log, _ = trace_residual(problem)
    if by_field:
        return [{r for f, r in log if f == j} for j in range(getattr(problem, "n_fields", 1))]
    return {r for _, r in log}
