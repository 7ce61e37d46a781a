import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml import pde

EXACT_PROBLEMS = (
    [pde.poisson_1d(c) for c in ["sin100x", "sin500x", "multiscale", "sin6x_cos100x", "x_sin200x"]]
    + [pde.poisson_2d(c) for c in ["sin100x_sin100y", "sin6x_cos20x", "sin100x_cos100y"]]
    + [pde.allen_cahn_1d_steady("sin100x"), pde.allen_cahn_2d_steady(), pde.advection_spacetime(),
       pde.helmholtz_2d(1, 4), pde.helmholtz_2d(10, 10), pde.klein_gordon(), pde.flow_mixing()]
)


@pytest.mark.parametrize("problem", EXACT_PROBLEMS, ids=lambda p: p.name)
def test_exact_solution_has_zero_residual(problem):
    x = problem.domain.sample_interior(jax.random.key(0), 64)
    r = problem.residual_at(problem.exact, x)
    scale = 1 + jnp.abs(jax.vmap(problem.exact)(x)).max()
    assert float(jnp.abs(r).max()) < 1e-8 * scale * 1e4  # sources reach 1e4..1e5 in size
    # boundary data equal the exact solution on the sampled condition points
    for xb, g in problem.sample_conditions(jax.random.key(1), 16):
        np.testing.assert_allclose(np.asarray(g), np.asarray(jax.vmap(problem.exact)(xb)), atol=1e-12)
        assert bool(jnp.all(problem.domain.contains(xb)))


def test_manufactured_sources_match_hand_derivation():
    x = jnp.linspace(0.1, 6.0, 7)[:, None]
    p = pde.poisson_1d("sin100x")
    # residual of the zero function is -f, with f = u'' = -1e4 sin(100x)
    r0 = p.residual_at(lambda y: 0.0 * y[0], x)
    np.testing.assert_allclose(np.asarray(r0), np.asarray(1e4 * jnp.sin(100 * x[:, 0])), rtol=1e-10)
    h = pde.helmholtz_2d(1, 4, k=1.0)
    xy = jnp.array([[0.3, -0.2], [0.7, 0.1]])
    q = (1 - 17 * jnp.pi**2) * jnp.sin(jnp.pi * xy[:, 0]) * jnp.sin(4 * jnp.pi * xy[:, 1])
    np.testing.assert_allclose(np.asarray(h.residual_at(lambda y: 0.0 * y[0], xy)), np.asarray(-q), rtol=1e-10)
    # a wrong function has a clearly non-zero residual
    assert float(jnp.abs(h.residual_at(lambda y: jnp.sin(y[0]), xy)).max()) > 1


def test_klein_gordon_source_formula():
    kg = pde.klein_gordon()
    x = kg.domain.sample_interior(jax.random.key(2), 20)
    u = jax.vmap(kg.exact)(x)
    # residual of exact is u_tt - Δu + u² - f with f = u² - 4u, u_tt = -4u, Δu = 0
    np.testing.assert_allclose(np.asarray(kg.residual_at(kg.exact, x)), 0, atol=1e-10)
    r_zero = kg.residual_at(lambda y: 0.0 * y[0], x)
    np.testing.assert_allclose(np.asarray(r_zero), np.asarray(-(u**2 - 4 * u)), rtol=1e-10, atol=1e-12)


def test_jets_agree():
    fn = lambda x: jnp.sin(2 * x[0]) * jnp.exp(x[1])  # noqa: E731
    x = jnp.array([0.3, -0.4])
    u = pde.FunctionJet(fn, x)
    np.testing.assert_allclose(float(u.d(0)), 2 * np.cos(0.6) * np.exp(-0.4), rtol=1e-12)
    np.testing.assert_allclose(float(u.d2(0)), -4 * np.sin(0.6) * np.exp(-0.4), rtol=1e-12)
    np.testing.assert_allclose(float(u.d2(0, 1)), 2 * np.cos(0.6) * np.exp(-0.4), rtol=1e-12)
    a = pde.ArrayJet(u.value, {0: u.d(0), 1: u.d(1)}, {(0, 0): u.d2(0), (1, 0): u.d2(0, 1)})
    assert float(a.d2(0, 1)) == float(u.d2(0, 1))
    with pytest.raises(KeyError, match="second derivative"):
        a.d2(1)
    # ArrayJet is vmappable over grid values
    vals = jnp.arange(5.0)
    grid_jet = pde.ArrayJet(vals, {}, {(0, 0): 2 * vals})
    res = jax.vmap(lambda j: j.d2(0) - j.value)(grid_jet)
    np.testing.assert_allclose(np.asarray(res), np.asarray(vals))


def test_required_derivatives():
    assert pde.required_derivatives(pde.poisson_2d()) == {(0, 0), (1, 1)}
    assert pde.required_derivatives(pde.flow_mixing()) == {(0,), (1,), (2,)}
    assert pde.required_derivatives(pde.allen_cahn_1d()) == {(), (1,), (0, 0)}


def test_box_sampling_and_grid():
    box = pde.Box([-1.0, 0.0, 2.0], [1.0, 3.0, 2.5])
    x = box.sample_interior(jax.random.key(0), 1000)
    assert x.shape == (1000, 3) and bool(jnp.all(box.contains(x)))
    xb = box.sample_boundary(jax.random.key(1), 500)
    on_face = jnp.any(jnp.isclose(xb, jnp.asarray(box.lower)) | jnp.isclose(xb, jnp.asarray(box.upper)), axis=-1)
    assert bool(jnp.all(on_face))
    g = box.grid_points((4, 5, 6))
    assert g.shape == (4, 5, 6, 3) and float(g[-1, -1, -1, 1]) == 3.0
    n = box.normalise(g)
    assert float(n.min()) == -1.0 and float(n.max()) == 1.0


def test_time_dependent_problem_conditions():
    p = pde.flow_mixing()
    (xi, gi), (xb, gb) = p.sample_conditions(jax.random.key(0), 32)
    assert bool(jnp.all(xi[:, 2] == 0))  # initial condition on t = 0
    assert bool(jnp.all(jnp.any(jnp.abs(xb[:, :2]) == 4.0, axis=-1)))  # boundary on spatial faces only
    ac = pde.allen_cahn_1d()
    assert ac.periodic_axes() == [0]
    lo, hi = ac.periodic_pairs(jax.random.key(0), 8)[0]
    assert bool(jnp.all(lo[:, 0] == -1)) and bool(jnp.all(hi[:, 0] == 1)) and bool(jnp.all(lo[:, 1] == hi[:, 1]))
