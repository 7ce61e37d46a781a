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
    def d(self, i: int): ...

    @abc.abstractmethod
    def d2(self, i: int, j: int | None = None): ...

    def laplacian(self, axes):
        """Sum of `d2(i)` over `axes`."""
        return sum(self.d2(i) for i in axes)


def _unit(x, i):
    return jnp.zeros_like(x).at[i].set(1)


class FunctionJet(AbstractJet):
    """Jet of a scalar function `fn: (d,) -> ()` at a point `x`, by forward-mode autodiff (lazily per request).

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
    `i ≤ j`. A pytree, so it can be vmapped over points."""

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

    @property
    def value(self):
        self.log.append(())
        return jnp.zeros((), self.x.dtype)

    def d(self, i):
        self.log.append((int(i),))
        return jnp.zeros((), self.x.dtype)

    def d2(self, i, j=None):
        self.log.append(tuple(sorted((int(i), int(i if j is None else j)))))
        return jnp.zeros((), self.x.dtype)


def required_derivatives(problem) -> set:
    """The derivatives a problem's residual asks for: a set of `()`, `(i,)`, `(i, j)` tuples."""
    log: list = []
    x = jnp.asarray([(l + h) / 2 for l, h in zip(problem.domain.lower, problem.domain.upper)])
    jax.eval_shape(lambda x: problem.residual(_RecordingJet(log, x), x), x)
    return set(log)
