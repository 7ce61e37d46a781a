"""`Problem`: one PDE definition (domain, residual, conditions, exact solution) for every sciml solver."""

from __future__ import annotations

from typing import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp

from ._domain import Box
from ._jet import FunctionJet


class Dirichlet(eqx.Module):
    """`u = g(x)` on the given faces of the domain.

    **Arguments:**

    - `g`: callable `x (d,) -> scalar`.
    - `faces`: `"all"` or a list of `(axis, side)` pairs (side 0 = lower, 1 = upper).
    """

    g: Callable = eqx.field(static=True)
    faces: object = eqx.field(static=True, default="all")

    def __check_init__(self):
        if not callable(self.g):
            raise TypeError(f"`g` must be a callable x -> value, got {type(self.g).__name__}.")
        if self.faces != "all":
            for f in self.faces:
                if not (isinstance(f, tuple) and len(f) == 2 and f[1] in (0, 1)):
                    raise ValueError(f"`faces` must be 'all' or a list of (axis, side) with side 0/1, got {f!r}.")

    def resolve(self, domain: Box, time_axis=None):
        if self.faces == "all":
            return [(a, s) for a in range(domain.ndim) for s in (0, 1) if a != time_axis]
        for a, _ in self.faces:
            if not 0 <= a < domain.ndim:
                raise ValueError(f"`faces` names axis {a}, but the domain has {domain.ndim} axes.")
        return list(self.faces)


class Initial(eqx.Module):
    """`u = g(x)` at the start of the time axis (the lower face of `Problem.time_axis`)."""

    g: Callable = eqx.field(static=True)

    def resolve(self, domain: Box, time_axis=None):
        if time_axis is None:
            raise ValueError("an `Initial` condition needs a Problem with `time_axis` set.")
        return [(time_axis, 0)]


class Periodic(eqx.Module):
    """Periodicity of `u` along `axis` (values at the lower and upper faces agree)."""

    axis: int = eqx.field(static=True)


def _as_list(conditions):
    if conditions is None:
        return []
    if isinstance(conditions, (Dirichlet, Initial, Periodic)):
        return [conditions]
    return list(conditions)


class Problem(eqx.Module):
    """A PDE on a box: `residual(u, x) = 0` inside, `conditions` on the boundary.

    **Arguments:**

    - `domain`: a [`Box`][sciml.pde.Box].
    - `residual`: callable `(u, x) -> scalar` where `u` is a jet (`u.value`, `u.d(i)`, `u.d2(i)`,
      `u.d2(i, j)`) at the point `x` of shape `(d,)`. Write it with `jnp` functions so it works for any jet.
    - `conditions`: list of [`Dirichlet`][sciml.pde.Dirichlet], [`Initial`][sciml.pde.Initial],
      [`Periodic`][sciml.pde.Periodic].
    - `exact`: optional exact solution `x (d,) -> scalar`.
    - `params`: dict of coefficients (recorded; used by reference solvers).
    - `name`: identifier.
    - `time_axis`: index of the time axis for evolution problems (else `None`).

    **Example:**

    ```python
    box = pde.Box([0.0], [1.0])
    f = lambda x: -jnp.pi**2 * jnp.sin(jnp.pi * x[0])
    problem = pde.Problem(box, lambda u, x: u.d2(0) - f(x), [pde.Dirichlet(lambda x: 0.0)],
                          exact=lambda x: jnp.sin(jnp.pi * x[0]))
    problem.residual_at(problem.exact, box.sample_interior(jax.random.key(0), 10))  # ≈ 0
    ```
    """

    domain: Box
    residual: Callable = eqx.field(static=True)
    conditions: list = eqx.field(static=True)
    exact: Callable | None = eqx.field(static=True, default=None)
    params: dict = eqx.field(static=True, default_factory=dict)
    name: str = eqx.field(static=True, default="problem")
    time_axis: int | None = eqx.field(static=True, default=None)

    def __init__(self, domain, residual, conditions=(), exact=None, params=None, name="problem", time_axis=None):
        if not isinstance(domain, Box):
            raise TypeError(f"`domain` must be a sciml.pde.Box, got {type(domain).__name__}.")
        if not callable(residual):
            raise TypeError("`residual` must be a callable (u, x) -> scalar.")
        if exact is not None and not callable(exact):
            raise TypeError("`exact` must be a callable x -> scalar or None.")
        if time_axis is not None and not 0 <= int(time_axis) < domain.ndim:
            raise ValueError(f"`time_axis` must be in [0, {domain.ndim}), got {time_axis}.")
        conds = _as_list(conditions)
        for c in conds:
            if not isinstance(c, (Dirichlet, Initial, Periodic)):
                raise TypeError(f"`conditions` must hold Dirichlet/Initial/Periodic, got {type(c).__name__}.")
            if isinstance(c, Initial) and time_axis is None:
                raise ValueError("an `Initial` condition needs `time_axis`.")
        self.domain = domain
        self.residual = residual
        self.conditions = conds
        self.exact = exact
        self.params = dict(params or {})
        self.name = name
        self.time_axis = None if time_axis is None else int(time_axis)

    @property
    def ndim(self) -> int:
        return self.domain.ndim

    def residual_at(self, fn: Callable, x):
        """Residual of a scalar function `fn: (d,) -> ()` at points `x` of shape `(n, d)`, by autodiff."""
        x = jnp.asarray(x)
        if x.ndim != 2 or x.shape[-1] != self.ndim:
            raise ValueError(f"`x` must have shape (n, {self.ndim}), got {x.shape}.")
        return jax.vmap(lambda xi: self.residual(FunctionJet(fn, xi), xi))(x)

    def exact_at(self, x):
        """The exact solution at points `(n, d)` (raises if the problem has none)."""
        if self.exact is None:
            raise ValueError(f"problem {self.name!r} has no exact solution; use pde.reference_solution.")
        return jax.vmap(self.exact)(jnp.asarray(x))

    def dirichlet_conditions(self):
        """List of `(faces, g)` for every Dirichlet/Initial condition, faces resolved."""
        return [(c.resolve(self.domain, self.time_axis), c.g) for c in self.conditions if not isinstance(c, Periodic)]

    def periodic_axes(self) -> list[int]:
        return [c.axis for c in self.conditions if isinstance(c, Periodic)]

    def sample_conditions(self, key, n: int, dtype=None):
        """Sample `n` points per Dirichlet/Initial condition: a list of `(x (n,d), g(x) (n,))`."""
        out = []
        keys = jax.random.split(key, max(len(self.conditions), 1))
        for k, (faces, g) in zip(keys, self.dirichlet_conditions()):
            x = self.domain.sample_boundary(k, n, faces, dtype)
            out.append((x, jax.vmap(g)(x).astype(x.dtype)))
        return out

    def periodic_pairs(self, key, n: int, dtype=None):
        """For each periodic axis, `(x_lower, x_upper)` point pairs `(n, d)` that must agree."""
        out = []
        for k, a in zip(jax.random.split(key, max(len(self.periodic_axes()), 1)), self.periodic_axes()):
            x = self.domain.sample_interior(k, n, dtype)
            lo = x.at[:, a].set(self.domain.lower[a])
            hi = x.at[:, a].set(self.domain.upper[a])
            out.append((lo, hi))
        return out


def manufactured(operator: Callable, exact: Callable) -> Callable:
    """Residual `operator(u, x) − operator(u*, x)` with the source made by autodiff from the exact solution `u*`."""

    def residual(u, x):
        return operator(u, x) - operator(FunctionJet(exact, x), x)

    return residual
