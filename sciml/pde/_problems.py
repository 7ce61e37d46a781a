"""Ready-made benchmark problems from the method specs (gp.md §4, pig.md §3)."""

from __future__ import annotations

import jax.numpy as jnp

from ._domain import Box
from ._problem import Dirichlet, Initial, Periodic, Problem, manufactured

TWO_PI = 2 * jnp.pi

_POISSON_1D = {
    # name: (exact, L)
    "sin100x": (lambda x: jnp.sin(100 * x[0]), TWO_PI),
    "sin500x": (lambda x: jnp.sin(500 * x[0]) - 2 * (x[0] - 0.5) ** 2, 1.0),
    "multiscale": (lambda x: jnp.sin(x[0]) + 0.1 * jnp.sin(20 * x[0]) + 0.05 * jnp.cos(100 * x[0]), 1.0),
    "sin6x_cos100x": (lambda x: jnp.sin(6 * x[0]) * jnp.cos(100 * x[0]), TWO_PI),
    "x_sin200x": (lambda x: x[0] * jnp.sin(200 * x[0]), TWO_PI),
}

_POISSON_2D = {
    "sin100x_sin100y": (lambda x: jnp.sin(100 * x[0]) * jnp.sin(100 * x[1]), TWO_PI),
    "sin6x_cos20x": (
        lambda x: jnp.sin(6 * x[0]) * jnp.cos(20 * x[0]) + jnp.sin(6 * x[1]) * jnp.cos(20 * x[1]),
        TWO_PI,
    ),
    "sin100x_cos100y": (lambda x: jnp.sin(100 * x[0]) * jnp.cos(100 * x[1]), TWO_PI),
}


def _check_case(case, table, fn):
    if case not in table:
        raise ValueError(f"`case` of {fn} must be one of {sorted(table)}, got {case!r}.")
    return table[case]


def poisson_1d(case: str = "sin100x") -> Problem:
    """1D Poisson `u″ = f` on `[0, L]` (GP-HM convention, no minus sign), `f` from the exact solution by
    autodiff, Dirichlet data from the exact solution. Cases: `sin100x` (L = 2π), `sin500x`
    (`sin(500x) − 2(x−½)²`, L = 1), `multiscale` (`sin x + 0.1 sin 20x + 0.05 cos 100x`, L = 1),
    `sin6x_cos100x` (2π), `x_sin200x` (2π).

    **Arguments:**

    - `case`: the exact solution, one of the names above (default `"sin100x"`).

    **Returns:** a [`Problem`][sciml.pde.Problem] with an exact solution.

    **Raises:** `ValueError` for an unknown `case`.

    **Example:** `problem = pde.poisson_1d("sin500x")`
    """
    exact, L = _check_case(case, _POISSON_1D, "poisson_1d")
    return Problem(Box([0.0], [float(L)]), manufactured(lambda u, x: u.d2(0), exact), [Dirichlet(exact)],
                   exact=exact, name=f"poisson1d-{case}", params={"case": case, "L": float(L)})


def poisson_2d(case: str = "sin6x_cos20x") -> Problem:
    """2D Poisson `Δu = f` on `[0, L]²` (GP-HM convention). Cases: `sin100x_sin100y`, `sin6x_cos20x`
    (`sin6x cos20x + sin6y cos20y`), `sin100x_cos100y`; all L = 2π.

    **Arguments:**

    - `case`: the exact solution, one of the names above (default `"sin6x_cos20x"`).

    **Returns:** a [`Problem`][sciml.pde.Problem] with an exact solution.

    **Raises:** `ValueError` for an unknown `case`.
    """
    exact, L = _check_case(case, _POISSON_2D, "poisson_2d")
    return Problem(Box([0.0, 0.0], [float(L)] * 2), manufactured(lambda u, x: u.d2(0) + u.d2(1), exact),
                   [Dirichlet(exact)], exact=exact, name=f"poisson2d-{case}", params={"case": case, "L": float(L)})


def allen_cahn_1d_steady(case: str = "sin100x") -> Problem:
    """Steady 1D Allen–Cahn `u″ + u(u² − 1) = f` on `[0, 2π]` (GP-HM), `f` and Dirichlet data from the exact
    solution.

    **Arguments:**

    - `case`: the exact solution, `"sin100x"` (default) or `"sin6x_cos100x"`.

    **Returns:** a [`Problem`][sciml.pde.Problem] with an exact solution.

    **Raises:** `ValueError` for an unknown `case`.
    """
    table = {k: _POISSON_1D[k] for k in ("sin100x", "sin6x_cos100x")}
    exact, L = _check_case(case, table, "allen_cahn_1d_steady")
    op = lambda u, x: u.d2(0) + u.value * (u.value**2 - 1)  # noqa: E731
    return Problem(Box([0.0], [float(L)]), manufactured(op, exact), [Dirichlet(exact)], exact=exact,
                   name=f"allen_cahn1d-{case}", params={"case": case, "L": float(L)})


def allen_cahn_2d_steady() -> Problem:
    """Steady 2D Allen–Cahn `Δu + u(u² − 1) = f` on `[0, 1]²`, `u = v(x)v(y)`, `v = sin x + 0.1 sin 20x + cos 100x`."""
    v = lambda s: jnp.sin(s) + 0.1 * jnp.sin(20 * s) + jnp.cos(100 * s)  # noqa: E731
    exact = lambda x: v(x[0]) * v(x[1])  # noqa: E731
    op = lambda u, x: u.d2(0) + u.d2(1) + u.value * (u.value**2 - 1)  # noqa: E731
    return Problem(Box([0.0, 0.0], [1.0, 1.0]), manufactured(op, exact), [Dirichlet(exact)], exact=exact,
                   name="allen_cahn2d", params={})


def advection_spacetime(beta: float = 200.0) -> Problem:
    """Advection `β u_x + u_t = 0` as a space-time boundary-value problem on `[0,1]²` (axes x, t) with exact
    data `sin(x − βt)` on all four sides (GP-HM).

    **Arguments:**

    - `beta`: advection speed `β` (default `200.0`).

    **Returns:** a [`Problem`][sciml.pde.Problem] with an exact solution.
    """
    exact = lambda x: jnp.sin(x[0] - beta * x[1])  # noqa: E731
    return Problem(Box([0.0, 0.0], [1.0, 1.0], names=("x", "t")), lambda u, x: beta * u.d(0) + u.d(1),
                   [Dirichlet(exact)], exact=exact, name="advection", params={"beta": beta})


def helmholtz_2d(a1: float = 1, a2: float = 4, k: float = 1.0) -> Problem:
    """Helmholtz `Δu + k²u = q` on `[−1, 1]²`, `u = sin(a₁πx) sin(a₂πy)`, `q = (k² − (a₁² + a₂²)π²) u` (PIG).

    **Arguments:**

    - `a1`, `a2`: the exact solution's frequencies along x and y, in half-periods per unit (defaults 1 and 4).
    - `k`: the wavenumber (default `1.0`).

    **Returns:** a [`Problem`][sciml.pde.Problem] with an exact solution and Dirichlet data from it.
    """
    exact = lambda x: jnp.sin(a1 * jnp.pi * x[0]) * jnp.sin(a2 * jnp.pi * x[1])  # noqa: E731
    q = lambda x: (k**2 - (a1**2 + a2**2) * jnp.pi**2) * exact(x)  # noqa: E731
    res = lambda u, x: u.d2(0) + u.d2(1) + k**2 * u.value - q(x)  # noqa: E731
    return Problem(Box([-1.0, -1.0], [1.0, 1.0]), res, [Dirichlet(exact)], exact=exact,
                   name=f"helmholtz2d-{a1}-{a2}", params={"a1": a1, "a2": a2, "k": k})


def klein_gordon() -> Problem:
    """(2+1)D Klein–Gordon `u_tt − (u_xx + u_yy) + u² = f`, axes `(x, y, t)`, `x, y ∈ [−1, 1]`, `t ∈ [0, 10]`,
    exact `u = (x + y) cos 2t + xy sin 2t`, `f = u² − 4u`; IC on u and Dirichlet BC from the exact solution."""
    exact = lambda x: (x[0] + x[1]) * jnp.cos(2 * x[2]) + x[0] * x[1] * jnp.sin(2 * x[2])  # noqa: E731
    f = lambda x: exact(x) ** 2 - 4 * exact(x)  # noqa: E731
    res = lambda u, x: u.d2(2) - (u.d2(0) + u.d2(1)) + u.value**2 - f(x)  # noqa: E731
    return Problem(Box([-1.0, -1.0, 0.0], [1.0, 1.0, 10.0], names=("x", "y", "t")), res,
                   [Initial(exact), Dirichlet(exact)], exact=exact, name="klein_gordon", time_axis=2)


def _flow_field(x):
    r = jnp.sqrt(x[0] ** 2 + x[1] ** 2)
    r_safe = jnp.where(r > 1e-12, r, 1.0)
    vt = jnp.tanh(r) / jnp.cosh(r) ** 2
    vmax = 0.385
    ratio = jnp.where(r > 1e-12, vt / r_safe, 1.0)  # v_t/r → 1 as r → 0
    a = -(ratio / vmax) * x[1]
    b = (ratio / vmax) * x[0]
    omega = ratio / vmax
    return a, b, omega


def flow_mixing() -> Problem:
    """(2+1)D flow mixing `u_t + a u_x + b u_y = 0`, axes `(x, y, t)`, `x, y ∈ [−4, 4]`, `t ∈ [0, 4]`, with the
    rotating vortex field of PIG; exact `u = −tanh((y/2) cos ωt − (x/2) sin ωt)`; IC and BC from it."""

    def exact(x):
        _, _, w = _flow_field(x)
        return -jnp.tanh(0.5 * x[1] * jnp.cos(w * x[2]) - 0.5 * x[0] * jnp.sin(w * x[2]))

    def res(u, x):
        a, b, _ = _flow_field(x)
        return u.d(2) + a * u.d(0) + b * u.d(1)

    return Problem(Box([-4.0, -4.0, 0.0], [4.0, 4.0, 4.0], names=("x", "y", "t")), res,
                   [Initial(exact), Dirichlet(exact)], exact=exact, name="flow_mixing", time_axis=2)


def allen_cahn_1d(diffusion: float = 1e-4, reaction: float = 5.0) -> Problem:
    """Time-dependent Allen–Cahn `u_t − 1e-4 u_xx + 5u³ − 5u = 0`, axes `(x, t)`, `x ∈ [−1, 1]`, `t ∈ [0, 1]`,
    `u₀ = x² cos(πx)`, periodic in x (JAX-PI setup). No closed form: see `pde.reference_solution`.

    **Arguments:**

    - `diffusion`: the diffusion coefficient (default `1e-4`).
    - `reaction`: the reaction rate (default `5.0`): the residual is `u_t − diffusion·u_xx + reaction·(u³ − u)`.

    **Returns:** a [`Problem`][sciml.pde.Problem] without exact solution.
    """
    u0 = lambda x: x[0] ** 2 * jnp.cos(jnp.pi * x[0])  # noqa: E731
    res = lambda u, x: u.d(1) - diffusion * u.d2(0) + reaction * u.value**3 - reaction * u.value  # noqa: E731
    return Problem(Box([-1.0, 0.0], [1.0, 1.0], names=("x", "t")), res, [Initial(u0), Periodic(0)],
                   name="allen_cahn_1d", time_axis=1, params={"diffusion": diffusion, "reaction": reaction})


def nonlinear_diffusion(coef: float = 0.05) -> Problem:
    """(2+1)D nonlinear diffusion `u_t = 0.05(|∇u|² + uΔu)`, axes `(x, y, t)`, `x, y ∈ [−1, 1]`, `t ∈ [0, 1]`,
    `u = 0` on the spatial boundary, three-Gaussian initial condition (PIG). No closed form.

    **Arguments:**

    - `coef`: the diffusion coefficient (default `0.05`): the residual is `u_t − coef·(|∇u|² + uΔu)`.

    **Returns:** a [`Problem`][sciml.pde.Problem] without exact solution.
    """

    def u0(x):
        X, Y = x[0], x[1]
        return (0.25 * jnp.exp(-((X - 0.3) ** 2 + (Y - 0.2) ** 2) / 0.1)
                + 0.4 * jnp.exp(-15 * ((X + 0.5) ** 2 + (Y + 0.1) ** 2))
                + 0.3 * jnp.exp(-20 * (X**2 + (Y + 0.5) ** 2)))

    def res(u, x):
        return u.d(2) - coef * (u.d(0) ** 2 + u.d(1) ** 2 + u.value * (u.d2(0) + u.d2(1)))

    return Problem(Box([-1.0, -1.0, 0.0], [1.0, 1.0, 1.0], names=("x", "y", "t")), res,
                   [Initial(u0), Dirichlet(lambda x: jnp.zeros((), x.dtype))], name="nonlinear_diffusion",
                   time_axis=2, params={"coef": coef, "u0": u0})
