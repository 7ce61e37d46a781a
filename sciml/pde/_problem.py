"""`Problem`: one PDE definition (domain, residual, conditions, exact solution) for every sciml solver."""

from __future__ import annotations

import inspect
import math
from typing import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._errors import check_int, check_real
from ._domain import Box, Domain, _where_fraction, check_domain
from ._jet import FunctionJet, trace_residual


def _check_faces(faces):
    if isinstance(faces, str):
        if faces != "all":
            raise ValueError(f"`faces` must be 'all' or a list of (axis, side) pairs, got {faces!r}.")
        return "all"
    try:
        faces = [tuple(f) for f in faces]
    except TypeError:
        raise TypeError(f"`faces` must be 'all' or a list of (axis, side) pairs, got {faces!r}.") from None
    if not faces:
        raise ValueError("`faces` must name at least one (axis, side) pair (or be 'all').")
    for f in faces:
        if not (len(f) == 2 and isinstance(f[0], (int, np.integer)) and not isinstance(f[0], bool)
                and f[1] in (0, 1) and f[0] >= 0):
            raise ValueError(f"`faces` must be 'all' or a list of (axis, side) with axis >= 0 and side 0/1, got {f!r}.")
    return tuple((int(a), int(s)) for a, s in faces)


def _check_where(where):
    if where is not None and not callable(where):
        raise TypeError(f"`where` must be a predicate x (d,) -> bool or None, got {type(where).__name__}.")
    return where


def _check_g(g):
    if not callable(g):
        raise TypeError(f"`g` must be a callable x (d,) -> scalar, got {type(g).__name__}.")
    return g


class _BoundaryCondition(eqx.Module):
    """Shared parts of Dirichlet / Neumann / Robin: the target `g`, the boundary part (`faces` and/or `where`) and
    `field`, validated once here."""

    g: Callable = eqx.field(static=True)
    faces: object = eqx.field(static=True, default="all")
    where: Callable | None = eqx.field(static=True, default=None)
    field: int = eqx.field(static=True, default=0)

    def __init__(self, g, faces="all", where=None, field: int = 0):
        self.g = _check_g(g)
        self.faces = _check_faces(faces)
        self.where = _check_where(where)
        self.field = check_int("field", field, minimum=0)

    def resolve(self, domain: Domain, time_axis=None):
        """The faces of a box this condition applies to.

        **Arguments:**

        - `domain`: the problem's domain.
        - `time_axis`: the problem's time axis (its faces are left out of `faces="all"`), or `None`.

        **Returns:** a list of `(axis, side)` pairs on a [`Box`][sciml.pde.Box]; `None` on other domains.

        **Raises:** `ValueError` when `faces` names an axis the domain lacks, or is not `"all"` on a non-box
        domain.
        """
        if not isinstance(domain, Box):
            if self.faces != "all":
                raise ValueError(f"`faces` of a {type(self).__name__} condition applies to a pde.Box only; "
                                 "use `where=` on other domains.")
            return None
        if self.faces == "all":
            return [(a, s) for a in range(domain.ndim) for s in (0, 1) if a != time_axis]
        for a, _ in self.faces:
            if not 0 <= a < domain.ndim:
                raise ValueError(f"`faces` names axis {a}, but the domain has {domain.ndim} axes.")
        return list(self.faces)


class Dirichlet(_BoundaryCondition):
    """`u = g(x)` on part of the boundary.

    **Arguments:**

    - `g`: callable `x (d,) -> scalar`, the prescribed value.
    - `faces`: `"all"` (default) or a list of `(axis, side)` pairs (side 0 = lower, 1 = upper) of a
      [`Box`][sciml.pde.Box] (on a box, `"all"` leaves out the faces of the time axis). On other domains only
      `"all"` is allowed (select a part with `where`).
    - `where`: optional predicate `x (d,) -> bool` (written with `jnp`) selecting part of the boundary, as an
      alternative to `faces` (with both, the faces are filtered by the predicate); `None` (default) = all of
      `faces`.
    - `field`: which unknown the condition applies to (integer ≥ 0, default 0; systems, `Problem(n_fields > 1)`).

    **Raises:** `TypeError` for a non-callable `g` or `where`; `ValueError` for malformed `faces` or a negative
    `field`.

    **Example:** `pde.Dirichlet(lambda x: 0.0, where=lambda x: x[0] < 0.5)`
    """


class Neumann(_BoundaryCondition):
    """`∂u/∂n = g(x)` (outward normal derivative) on part of the boundary.

    **Arguments:**

    - `g`: callable `x (d,) -> scalar`, the prescribed outward normal derivative.
    - `faces`, `where`, `field`: as in [`Dirichlet`][sciml.pde.Dirichlet].

    **Raises:** as [`Dirichlet`][sciml.pde.Dirichlet].

    **Example:** `pde.Neumann(lambda x: 0.0, faces=[(0, 1)])` (insulated right face)
    """


class Robin(_BoundaryCondition):
    """`alpha·u + beta·∂u/∂n = g(x)` (outward normal) on part of the boundary.

    **Arguments:**

    - `alpha`, `beta`: real coefficients, not both zero.
    - `g`: callable `x (d,) -> scalar`.
    - `faces`, `where`, `field`: as in [`Dirichlet`][sciml.pde.Dirichlet].

    **Raises:** `TypeError` when `alpha` or `beta` is not a real number; `ValueError` when one is not finite or
    both are zero; otherwise as [`Dirichlet`][sciml.pde.Dirichlet].

    **Example:** `pde.Robin(1.0, 0.5, lambda x: jnp.sin(x[1]), faces=[(0, 0)])`
    """

    alpha: float = eqx.field(static=True)
    beta: float = eqx.field(static=True)

    def __init__(self, alpha, beta, g, faces="all", where=None, field: int = 0):
        self.alpha = check_real("alpha", alpha)
        self.beta = check_real("beta", beta)
        if self.alpha == 0 and self.beta == 0:
            raise ValueError("`alpha` and `beta` of a Robin condition must not both be zero.")
        super().__init__(g, faces, where, field)


class Initial(eqx.Module):
    """`u = g(x)` at the start of the time axis (the lower face of `Problem.time_axis`).

    **Arguments:**

    - `g`: callable `x (d,) -> scalar` (`x` includes the time coordinate).
    - `field`: which unknown (integer ≥ 0, default 0; systems).

    **Raises:** `TypeError` for a non-callable `g`; `ValueError` for a negative `field`.

    **Example:** `pde.Initial(lambda x: jnp.sin(jnp.pi * x[0]))`
    """

    g: Callable = eqx.field(static=True)
    field: int = eqx.field(static=True, default=0)

    def __init__(self, g, field: int = 0):
        self.g = _check_g(g)
        self.field = check_int("field", field, minimum=0)

    @property
    def where(self):
        return None

    def resolve(self, domain: Domain, time_axis=None):
        """The face this condition applies to: the lower face of the time axis.

        **Arguments:**

        - `domain`: the problem's domain.
        - `time_axis`: the problem's time axis (required).

        **Returns:** `[(time_axis, 0)]`.

        **Raises:** `ValueError` when `time_axis` is `None`.
        """
        if time_axis is None:
            raise ValueError("an `Initial` condition needs a Problem with `time_axis` set.")
        return [(time_axis, 0)]


class Periodic(eqx.Module):
    """Periodicity of `u` (value and first derivative) along `axis` of a box: the lower and upper faces agree.

    **Arguments:**

    - `axis`: the periodic axis (integer ≥ 0, less than the domain's dimension).

    **Example:** `pde.Periodic(0)`
    """

    axis: int = eqx.field(static=True)

    def __init__(self, axis: int):
        self.axis = check_int("axis", axis, minimum=0)


_CONDITIONS = (Dirichlet, Neumann, Robin, Initial, Periodic)


def _as_list(conditions):
    if conditions is None:
        return []
    if isinstance(conditions, _CONDITIONS):
        return [conditions]
    try:
        return list(conditions)
    except TypeError:
        raise TypeError(f"`conditions` must be a list of pde conditions, got {type(conditions).__name__}.") from None


def _n_positional(fn) -> int | None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    n = 0
    for p in sig.parameters.values():
        if p.kind == p.VAR_POSITIONAL:
            return None
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            n += 1
    return n



def default_eval_shape(ndim: int) -> tuple[int, ...]:
    """Points per axis of the evaluation grid the solvers report `final_error` on (pig and gp share it):
    1001 / 250² / 41³ in 1D / 2D / 3D, 12 per axis above."""
    return {1: (1001,), 2: (250, 250), 3: (41, 41, 41)}.get(ndim, (12,) * ndim)


class Problem(eqx.Module):
    """A PDE: `residual(u, x) = 0` inside `domain`, `conditions` on its boundary.

    **Arguments:**

    - `domain`: a [`Box`][sciml.pde.Box], [`Ball`][sciml.pde.Ball], [`Polygon`][sciml.pde.Polygon] or a set
      operation of them (`a - b`, `a | b`, `a & b`). gp needs a box; pig and the PINN baseline take any.
    - `residual`: callable `(u, x) -> scalar`, or `(u, x, params) -> scalar` when it uses `params`, where `u`
      is a jet (`u.value`, `u.d(i)`, `u.d2(i)`, `u.d2(i, j)`) at the point `x` of shape `(d,)`. Write it with
      `jnp` functions so it works for any jet. With `n_fields > 1`, `u[j]` is field `j`'s jet and the residual
      returns an array of shape `(m,)` (one entry per equation).
    - `conditions`: list of [`Dirichlet`][sciml.pde.Dirichlet], [`Neumann`][sciml.pde.Neumann],
      [`Robin`][sciml.pde.Robin], [`Initial`][sciml.pde.Initial], [`Periodic`][sciml.pde.Periodic].
    - `exact`: optional exact solution `x (d,) -> scalar` (or `(n_fields,)`).
    - `params`: dict of coefficients, passed as the residual's third argument (and used by reference solvers);
      float entries can be identified from data (`pig.train(..., infer=("k",))`).
    - `name`: identifier (default `"problem"`).
    - `time_axis`: index of the time axis for evolution problems (default `None`: a steady problem).
    - `n_fields`: number of unknown fields (default 1).

    The residual is traced once with a recording jet on construction: a wrong output shape or a derivative
    along a missing axis raises here, before any solver compiles.

    **Raises:** `TypeError` for a non-domain, non-callable `residual`/`exact`, non-dict `params` or foreign
    condition objects; `ValueError` for conditions that do not fit the domain (faces, `Initial` without
    `time_axis`, `Periodic` off a box, a `field` ≥ `n_fields`) or a residual of the wrong shape.

    **Example:**

    ```python
    box = pde.Box([0.0], [1.0])
    f = lambda x: -jnp.pi**2 * jnp.sin(jnp.pi * x[0])
    problem = pde.Problem(box, lambda u, x: u.d2(0) - f(x), [pde.Dirichlet(lambda x: 0.0)],
                          exact=lambda x: jnp.sin(jnp.pi * x[0]))
    problem.residual_at(problem.exact, box.sample_interior(jax.random.key(0), 10))  # ≈ 0

    # a coefficient in params, a Neumann face
    p = pde.Problem(box, lambda u, x, prm: prm["k"] * u.d2(0) - f(x),
                    [pde.Dirichlet(lambda x: 0.0, faces=[(0, 0)]), pde.Neumann(lambda x: -jnp.pi, faces=[(0, 1)])],
                    params={"k": 1.0})
    ```
    """

    domain: Domain
    residual: Callable = eqx.field(static=True)
    conditions: list = eqx.field(static=True)
    exact: Callable | None = eqx.field(static=True, default=None)
    params: dict = eqx.field(static=True, default_factory=dict)
    name: str = eqx.field(static=True, default="problem")
    time_axis: int | None = eqx.field(static=True, default=None)
    n_fields: int = eqx.field(static=True, default=1)
    raw_residual: Callable = eqx.field(static=True, default=None)
    takes_params: bool = eqx.field(static=True, default=False)
    n_equations: int = eqx.field(static=True, default=1)
    _where_fractions: tuple = eqx.field(static=True, default=())

    def __init__(self, domain, residual, conditions=(), exact=None, params=None, name="problem", time_axis=None,
                 n_fields: int = 1):
        check_domain(domain)
        if not callable(residual):
            raise TypeError("`residual` must be a callable (u, x) -> scalar or (u, x, params) -> scalar.")
        if exact is not None and not callable(exact):
            raise TypeError("`exact` must be a callable x -> scalar or None.")
        if time_axis is not None:
            time_axis = check_int("time_axis", time_axis, minimum=0, maximum=domain.ndim - 1)
        self.n_fields = check_int("n_fields", n_fields, minimum=1)
        if params is not None and not isinstance(params, dict):
            raise TypeError(f"`params` must be a dict of coefficients or None, got {type(params).__name__}.")
        if not isinstance(name, str):
            raise TypeError(f"`name` must be a str, got {type(name).__name__}.")
        conds = _as_list(conditions)
        fractions = []
        for c in conds:
            if not isinstance(c, _CONDITIONS):
                raise TypeError("`conditions` must hold pde.Dirichlet/Neumann/Robin/Initial/Periodic, got "
                                f"{type(c).__name__}.")
            if isinstance(c, Initial) and time_axis is None:
                raise ValueError("an `Initial` condition needs `time_axis`.")
            if isinstance(c, Periodic):
                if not isinstance(domain, Box):
                    raise ValueError("`Periodic` conditions need a pde.Box domain.")
                if c.axis >= domain.ndim:
                    raise ValueError(f"`Periodic(axis={c.axis})` but the domain has {domain.ndim} axes.")
                fractions.append(None)
                continue
            if c.field >= self.n_fields:
                raise ValueError(f"a {type(c).__name__} condition names field {c.field}, but the problem has "
                                 f"n_fields={self.n_fields}.")
            faces = c.resolve(domain, time_axis)
            fractions.append(None if c.where is None else _where_fraction(domain, c.where, faces))
        self.domain = domain
        self.conditions = conds
        self.exact = exact
        self.params = dict(params or {})
        self.name = name
        self.time_axis = time_axis
        self._where_fractions = tuple(fractions)
        n_pos = _n_positional(residual)
        self.takes_params = n_pos is not None and n_pos >= 3
        self.raw_residual = residual
        prm = self.params
        self.residual = (lambda u, x: residual(u, x, prm)) if self.takes_params else residual
        try:
            _, shape = trace_residual(self)
        except (ValueError, TypeError, KeyError, IndexError) as e:
            raise type(e)(f"`residual` failed when traced with a jet: {e}") from e
        if self.n_fields == 1 and shape != ():
            raise ValueError(f"`residual` must return a scalar for a problem with one field, got shape {shape} "
                             "(for a system pass n_fields > 1).")
        if self.n_fields > 1 and len(shape) > 1:
            raise ValueError(f"`residual` of a system must return shape () or (m,), got {shape}.")
        self.n_equations = 1 if shape == () else int(shape[0])

    @property
    def ndim(self) -> int:
        return self.domain.ndim

    def residual_with(self, u, x, params: dict | None = None):
        """The residual at one point with the given coefficients; traced values are allowed, which is how inverse
        problems train coefficients.

        **Arguments:**

        - `u`: a jet at `x` (a list of jets for systems).
        - `x`: the point, shape `(d,)`.
        - `params`: coefficients overriding entries of `problem.params` (default `None`: `problem.params`).
          Ignored when the residual takes no `params`.

        **Returns:** a scalar (shape `(m,)` for systems of `m` equations).
        """
        if not self.takes_params:
            return self.raw_residual(u, x)
        return self.raw_residual(u, x, self.params if params is None else {**self.params, **params})

    def _jets(self, fn, x):
        if self.n_fields == 1:
            return FunctionJet(fn, x)
        return [FunctionJet(lambda y, j=j: fn(y)[j], x) for j in range(self.n_fields)]

    def residual_at(self, fn: Callable, x, params: dict | None = None):
        """The residual of a function at many points, by autodiff.

        **Arguments:**

        - `fn`: callable `x (d,) -> scalar` (or `(n_fields,)` for systems).
        - `x`: points, shape `(n, d)`.
        - `params`: coefficients overriding `problem.params` (default `None`).

        **Returns:** shape `(n,)` (or `(n, m)` for systems of `m` equations).

        **Raises:** `ValueError` when `x` is not `(n, d)`.
        """
        x = jnp.asarray(x)
        if x.ndim != 2 or x.shape[-1] != self.ndim:
            raise ValueError(f"`x` must have shape (n, {self.ndim}), got {x.shape}.")
        return jax.vmap(lambda xi: self.residual_with(self._jets(fn, xi), xi, params))(x)

    def exact_at(self, x):
        """The exact solution at many points.

        **Arguments:**

        - `x`: points, shape `(n, d)`.

        **Returns:** shape `(n,)` (or `(n, n_fields)` for systems).

        **Raises:** `ValueError` when the problem has no exact solution.
        """
        if self.exact is None:
            raise ValueError(f"problem {self.name!r} has no exact solution; use pde.reference_solution.")
        return jax.vmap(self.exact)(jnp.asarray(x))

    def boundary_conditions(self) -> list:
        """The Dirichlet / Neumann / Robin / Initial conditions (everything but `Periodic`), in order."""
        return [c for c in self.conditions if not isinstance(c, Periodic)]

    def dirichlet_conditions(self):
        """List of `(faces, g)` for every Dirichlet/Initial condition on box faces (faces resolved).

        Raises `ValueError` for a Dirichlet condition given by `where=` or on a non-box domain (solvers built on
        box faces cannot use those)."""
        out = []
        for c in self.conditions:
            if isinstance(c, (Dirichlet, Initial)):
                faces = c.resolve(self.domain, self.time_axis)
                if faces is None or c.where is not None:
                    raise ValueError("this solver needs Dirichlet conditions on box faces; the problem has one "
                                     "given by `where=` or on a non-box domain.")
                out.append((faces, c.g))
        return out

    def periodic_axes(self) -> list[int]:
        """The axes of the `Periodic` conditions, in order."""
        return [c.axis for c in self.conditions if isinstance(c, Periodic)]

    def _sample_condition(self, i, key, n, dtype):
        c = self.conditions[i]
        faces = c.resolve(self.domain, self.time_axis)
        x, nrm = _sample_part(self.domain, key, n, dtype, faces, c.where, self._where_fractions[i])
        return x, nrm, jnp.asarray(jax.vmap(c.g)(x), x.dtype).reshape(n)

    def sample_conditions(self, key, n: int, dtype=None):
        """Sample points on every Dirichlet / Initial condition.

        **Arguments:**

        - `key`: a JAX PRNG key.
        - `n`: points per condition (integer ≥ 1).
        - `dtype`: floating dtype (default `None`: JAX's default float).

        **Returns:** a list, one entry per Dirichlet/Initial condition in order, of `(x (n, d), g(x) (n,))`.
        """
        out = []
        keys = jax.random.split(key, max(len(self.conditions), 1))
        for i, c in enumerate(self.conditions):
            if isinstance(c, (Dirichlet, Initial)):
                x, _, g = self._sample_condition(i, keys[i], n, dtype)
                out.append((x, g))
        return out

    def sample_boundary_conditions(self, key, n: int, dtype=None):
        """Sample points on every boundary condition (all but `Periodic`).

        **Arguments:** `key`, `n`, `dtype`: as in [`sample_conditions`][sciml.pde.Problem.sample_conditions].

        **Returns:** a list in `boundary_conditions()` order of dicts with `x (n, d)`, outward unit
        `normal (n, d)` and target `g (n,)`.
        """
        out = []
        keys = jax.random.split(key, max(len(self.conditions), 1))
        for i, c in enumerate(self.conditions):
            if not isinstance(c, Periodic):
                x, nrm, g = self._sample_condition(i, keys[i], n, dtype)
                out.append({"x": x, "normal": nrm, "g": g})
        return out

    def periodic_pairs(self, key, n: int, dtype=None):
        """Point pairs on opposite faces of each periodic axis, where the solution must agree.

        **Arguments:** `key`, `n`, `dtype`: as in [`sample_conditions`][sciml.pde.Problem.sample_conditions].

        **Returns:** a list, one per periodic axis, of `(x_lower, x_upper)`, each of shape `(n, d)`.
        """
        out = []
        for k, a in zip(jax.random.split(key, max(len(self.periodic_axes()), 1)), self.periodic_axes()):
            x = self.domain.sample_interior(k, n, dtype)
            lo = x.at[:, a].set(self.domain.lower[a])
            hi = x.at[:, a].set(self.domain.upper[a])
            out.append((lo, hi))
        return out


def _sample_part(domain, key, n, dtype, faces, where, fraction):
    """Boundary points/normals on `faces` (box) filtered by `where` (acceptance `fraction` measured on the host)."""
    from ._domain import _default_dtype, _jit_boundary

    faces = None if faces is None else tuple(tuple(f) for f in faces)
    return _jit_boundary(domain, key, n, _default_dtype(dtype), faces, where, fraction)


def manufactured(operator: Callable, exact: Callable) -> Callable:
    """Residual `operator(u, x) − operator(u*, x)` with the source made by autodiff from the exact solution `u*`.

    **Arguments:** `operator`: `(u, x) -> scalar` on a jet; `exact`: `x (d,) -> scalar`.

    **Returns:** a residual `(u, x) -> scalar` for [`Problem`][sciml.pde.Problem].

    **Example:**

    ```python
    exact = lambda x: jnp.sin(3 * x[0]) * x[1]
    residual = pde.manufactured(lambda u, x: u.d2(0) + u.d2(1) + u.value**3, exact)   # source from `exact`
    problem = pde.Problem(pde.Box([0, 0], [1, 1]), residual, [pde.Dirichlet(exact)], exact=exact)
    ```
    """

    def residual(u, x):
        return operator(u, x) - operator(FunctionJet(exact, x), x)

    return residual
