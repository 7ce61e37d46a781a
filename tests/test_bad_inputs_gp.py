"""sciml.gp entry points reject bad inputs with clear errors (before compiling anything)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from sciml import gp, pde


def _prob1(conds=None):
    ex = lambda x: jnp.sin(3.0 * x[0])  # noqa: E731
    return pde.Problem(pde.Box([0.0], [1.0]), pde.manufactured(lambda u, x: u.d2(0), ex),
                       conds if conds is not None else [pde.Dirichlet(ex)], exact=ex)


@pytest.fixture(scope="module")
def fitted():
    return gp.solve(_prob1(), grid=(12,), n_components=4, method=gp.Profiled(steps=1))


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(steps=0), ValueError, "steps"),
        (dict(steps=-3), ValueError, "steps"),
        (dict(steps=2.5), TypeError, "steps"),
        (dict(n_components=0), ValueError, "n_components"),
        (dict(n_components=2.0), TypeError, "n_components"),
        (dict(kernel="rbf"), ValueError, "kernel"),
        (dict(method="sgd"), ValueError, "method"),
        (dict(method=optax.adam(1e-2)), TypeError, "method"),
        (dict(grid=400), TypeError, "grid"),
        (dict(grid=(10, 10)), ValueError, "one size per axis"),
        (dict(grid=(2,)), ValueError, "at least 3"),
        (dict(grid=(10.5,)), TypeError, "grid"),
        (dict(grid="abc"), TypeError, "grid"),
        (dict(learning_rate=0.0), ValueError, "learning_rate"),
        (dict(learning_rate=float("nan")), ValueError, "learning_rate"),
        (dict(optimizer="adam"), TypeError, "optimizer"),
        (dict(freq_scale=-1.0), ValueError, "freq_scale"),
        (dict(freq_scale=(1.0, 2.0, 3.0)), ValueError, "freq_scale"),
        (dict(init_kernels=[1, 2]), ValueError, "init_kernels"),
        (dict(dtype=jnp.int32), ValueError, "dtype"),
        (dict(not_an_option=1), TypeError, "not_an_option"),
        (dict(max_peaks=-1), ValueError, "max_peaks"),
    ],
)
def test_solve_rejects(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        gp.solve(_prob1(), **{"grid": (16,), **kwargs})


@pytest.mark.parametrize(
    "make, exc, match",
    [
        (lambda: gp.Profiled(steps=0), ValueError, "steps"),
        (lambda: gp.Profiled(patience=0), ValueError, "patience"),
        (lambda: gp.Profiled(jitter=-1e-6), ValueError, "jitter"),
        (lambda: gp.Profiled(u_solve="qr"), ValueError, "u_solve"),
        (lambda: gp.Profiled(theta_steps=0), ValueError, "theta_steps"),
        (lambda: gp.Profiled(precision_growth=-1.0), ValueError, "precision_growth"),
        (lambda: gp.Profiled(precision_growth="2"), TypeError, "precision_growth"),
        (lambda: gp.Adam(steps=0), ValueError, "steps"),
        (lambda: gp.Adam(steps_per_call=0), ValueError, "steps_per_call"),
        (lambda: gp.Adam(time_limit=-1.0), ValueError, "time_limit"),
        (lambda: gp.Adam(lam_b=0.0), ValueError, "lam_b"),
        (lambda: gp.Adam(optimizer=3), TypeError, "optimizer"),
        (lambda: gp.init_axis_kernel(0, 5.0), ValueError, "n_components"),
    ],
)
def test_solver_objects_reject(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_solve_rejects_bad_problems():
    with pytest.raises(TypeError, match="problem"):
        gp.solve("poisson", grid=(16,))
    ex = lambda x: jnp.sin(x[0])  # noqa: E731
    per = pde.Problem(pde.Box([0.0], [1.0]), pde.manufactured(lambda u, x: u.d2(0), ex), [pde.Periodic(0)])
    with pytest.raises(ValueError, match="Periodic"):
        gp.solve(per, grid=(16,))
    part = _prob1([pde.Dirichlet(ex, where=lambda x: x[0] < 0.5)])
    with pytest.raises(ValueError, match="where"):
        gp.solve(part, grid=(16,))
    ball = pde.Problem(pde.Ball([0.0, 0.0], 1.0), lambda u, x: u.d2(0) + u.d2(1), [pde.Dirichlet(ex)])
    with pytest.raises(TypeError, match="Box"):
        gp.solve(ball, grid=(16, 16))
    nonlin = pde.Problem(pde.Box([0.0], [1.0]), pde.manufactured(lambda u, x: u.d2(0) + u.value**3, ex),
                         [pde.Dirichlet(ex, faces=[(0, 0)]), pde.Neumann(ex, faces=[(0, 1)])])
    with pytest.raises(ValueError, match="Neumann"):
        gp.solve(nonlin, grid=(16,))


def test_predict_and_resolve_reject_bad_inputs(fitted):
    with pytest.raises(ValueError, match=r"\(n, 1\)"):
        fitted.predict(np.linspace(0.0, 1.0, 5))  # a 1-D x is not read as one point
    with pytest.raises(ValueError, match="shape"):
        fitted.predict(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="coords"):
        fitted.predict_grid([np.zeros(3), np.zeros(3)])
    other = pde.Problem(pde.Box([0.0], [2.0]), pde.manufactured(lambda u, x: u.d2(0), lambda x: x[0]),
                        [pde.Dirichlet(lambda x: x[0])])
    with jax.enable_x64(True):
        with pytest.raises(ValueError, match="box"):
            fitted.resolve(other)
        with pytest.raises(ValueError, match="params"):
            fitted.resolve(_prob1(), params={"k": 1.0})
    with jax.enable_x64(False):
        with pytest.raises(ValueError, match="x64"):
            fitted.resolve(_prob1())
