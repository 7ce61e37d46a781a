"""pig.Correction: the least-squares correction phase by a smooth Legendre basis."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml import pde, pig



def _poly_problem():
    # Poisson with a cubic exact solution: inside the span of a degree-3 basis
    exact = lambda x: x[0] ** 3 - 0.5 * x[0] * x[1] ** 2 + 0.3 * x[1] + 0.2  # noqa: E731
    return pde.Problem(pde.Box([0.0, -1.0], [2.0, 1.0]), pde.manufactured(lambda u, x: u.d2(0) + u.d2(1), exact),
                       [pde.Dirichlet(exact)], exact=exact, name="cubic")


def _zero_pig(problem, n=16, key=0, dtype=jnp.float64):
    """A PIG whose output is identically zero (last layer zeroed), so the exact solution minus the model is in
    the polynomial basis."""
    m = pig.PIG(problem.domain.lower, problem.domain.upper, n, key=jax.random.key(key), dtype=dtype)
    last = m.mlp.layers[-1]
    return eqx.tree_at(lambda q: (q.mlp.layers[-1].weight, q.mlp.layers[-1].bias), m,
                       (jnp.zeros_like(last.weight), jnp.zeros_like(last.bias)))


def _frozen_fit(problem, model, correction, dtype=jnp.float64, **kw):
    # one Adam step with a negligible learning rate: the correction acts on the untrained model
    return pig.fit_model(problem, model, steps=1, learning_rate=1e-12, lbfgs=pig.LBFGS(steps=0),
                         correction=correction, dtype=dtype, eval_shape=(21, 21), **kw)


def test_basis_derivatives_match_autodiff():
    box = pde.Box([0.0, -1.0], [2.0, 3.0])
    base = pig.PIG(box.lower, box.upper, 10, key=jax.random.key(0), dtype=jnp.float64)
    m = pig.Corrected(base, box.lower, box.upper, 5,
                      coeffs=jax.random.normal(jax.random.key(1), (36,), jnp.float64))
    xs = jax.random.uniform(jax.random.key(2), (7, 2), jnp.float64, -1.0, 2.0)
    req = ((0,), (1,), (0, 0), (0, 1), (1, 1))
    got = m.derivatives(xs, req)
    for i, x in enumerate(xs):
        ref = pig.autodiff_jet(m, x, req)
        for r in ((),) + req:
            np.testing.assert_allclose(got[r][i], ref[r], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(m.predict(xs, chunk_size=3), jax.vmap(m)(xs), rtol=1e-12)


def test_linear_problem_solved_exactly_when_the_solution_is_in_the_basis():
    problem = _poly_problem()
    res = _frozen_fit(problem, _zero_pig(problem), pig.Correction(degree=3, points=600))
    info = res.config["correction"]
    assert res.history[-1]["phase"] == "correction" and info["steps"] == 1  # linear: one Gauss-Newton step
    assert isinstance(res.model, pig.Corrected)
    assert info["loss_after"] < 1e-12 * info["loss_before"]
    assert res.final_error < 1e-6  # the untrained PIG alone is ~100 % off


def test_residual_vector_squares_to_the_loss():
    problem = _poly_problem()
    base = pig.PIG(problem.domain.lower, problem.domain.upper, 16, key=jax.random.key(0), dtype=jnp.float64)
    loss_fn = pig.make_loss(problem, residual_weight=0.3, condition_weights=2.0, dtype=jnp.float64)
    batch = pig.make_sampler(problem, n_collocation=50, n_boundary=20, key=jax.random.key(3),
                             dtype=jnp.float64)(None, 0)
    v = loss_fn.residual_vector(base, batch)
    np.testing.assert_allclose(jnp.sum(v**2), loss_fn(base, batch, None)[0], rtol=1e-12)


def test_nonlinear_problem_gauss_newton():
    # u'' + u^3 = f in 1D with a quadratic exact solution, Dirichlet at both ends
    exact = lambda x: 0.5 + x[0] - 0.7 * x[0] ** 2  # noqa: E731
    problem = pde.Problem(pde.Box([-1.0], [1.0]), pde.manufactured(lambda u, x: u.d2(0) + u.value**3, exact),
                          [pde.Dirichlet(exact)], exact=exact, name="cubic-nl")
    res = pig.fit_model(problem, _zero_pig(problem, 8), steps=1, learning_rate=1e-12, lbfgs=pig.LBFGS(steps=0),
                        correction=pig.Correction(degree=4, points=400, iterations=8), dtype=jnp.float64,
                        eval_shape=(101,))
    info = res.config["correction"]
    assert info["steps"] >= 2  # nonlinear: more than one step
    assert res.final_error < 1e-6


def test_system_fields_corrected_jointly():
    e0 = lambda x: x[0] * x[1]  # noqa: E731
    e1 = lambda x: 1.0 + x[0] ** 2 - x[1]  # noqa: E731

    def op(u, x):
        return jnp.stack([u[0].d2(0) + u[0].d2(1) - u[1].value, u[1].d2(0) + u[1].d2(1) + u[0].value])

    fs = lambda x: op([pde.FunctionJet(e0, x), pde.FunctionJet(e1, x)], x)  # noqa: E731
    problem = pde.Problem(pde.Box([0.0, 0.0], [1.0, 1.0]), lambda u, x: op(u, x) - fs(x),
                          [pde.Dirichlet(e0, field=0), pde.Dirichlet(e1, field=1)], n_fields=2,
                          exact=lambda x: jnp.stack([e0(x), e1(x)]), name="sys")
    models = pig.FieldStack([_zero_pig(problem, 8, key=i) for i in range(2)])
    res = _frozen_fit(problem, models, pig.Correction(degree=2, points=500))
    assert all(isinstance(m, pig.Corrected) for m in res.model.models)
    assert res.final_error < 1e-6


def test_correction_float32_and_skips():
    problem = _poly_problem()
    base = _zero_pig(problem, dtype=jnp.float32)
    res = _frozen_fit(problem, base, pig.Correction(degree=3, points=2000), dtype=jnp.float32)
    assert res.final_error < 1e-3
    assert res.model.coeffs.dtype == jnp.float32
    # inverse problems keep the trained model (the coefficients are identified by training, not by this phase)
    exact = problem.exact
    inv = pde.Problem(problem.domain, lambda u, x, prm: prm["k"] * (u.d2(0) + u.d2(1)) - (6 * x[0] - x[0]),
                      [pde.Dirichlet(exact)], params={"k": 1.0}, exact=exact, name="inv")
    xo = jax.random.uniform(jax.random.key(5), (20, 2), jnp.float64) * jnp.asarray([2.0, 2.0]) - jnp.asarray([0.0, 1.0])
    res = pig.fit_model(inv, _zero_pig(inv), steps=1, learning_rate=1e-12, lbfgs=pig.LBFGS(steps=0),
                        correction=pig.Correction(degree=2, points=100), observations=(xo, jax.vmap(exact)(xo)),
                        infer=("k",), eval_shape=(11, 11), dtype=jnp.float64)
    assert res.config["correction"]["skipped"].startswith("identified coefficients")
    assert not isinstance(res.model, pig.Corrected)


def test_bad_inputs():
    with pytest.raises(ValueError, match="degree"):
        pig.Correction(degree=-1)
    with pytest.raises(ValueError, match="iterations"):
        pig.Correction(iterations=0)
    with pytest.raises(TypeError, match="correction"):
        pig.fit_model(_poly_problem(), pig.PIG([0.0, -1.0], [2.0, 1.0], 4, key=jax.random.key(0)), steps=1,
                      correction="yes")
    with pytest.raises(TypeError, match="model"):
        pig.Corrected(object(), [0.0], [1.0], 3)
    with pytest.raises(ValueError, match="2D box"):
        pig.Corrected(pig.PIG([0.0], [1.0], 4, key=jax.random.key(0)), [0.0, 0.0], [1.0, 1.0], 3)
    with pytest.raises(ValueError, match="empty box"):
        pig.Corrected(pig.PIG([0.0], [1.0], 4, key=jax.random.key(0)), [1.0], [0.0], 3)
    causal = pig.make_loss(pde.allen_cahn_1d(), causal=True)
    with pytest.raises(ValueError, match="causal"):
        causal.residual_vector(None, {})
    with pytest.raises(ValueError, match="coeffs"):
        pig.Corrected(pig.PIG([0.0], [1.0], 4, key=jax.random.key(0)), [0.0], [1.0], 3, coeffs=jnp.zeros(3))
