"""sciml.gp: spectral-mixture kernels, Kronecker grid model, profiled and joint-Adam solvers."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml import gp, pde, train
from sciml.gp import _model, _usolve


def _poisson_1d(k, length):
    exact = lambda x: jnp.sin(k * x[0])  # noqa: E731
    res = pde.manufactured(lambda u, x: u.d2(0), exact)
    return pde.Problem(pde.Box([0.0], [length]), res, [pde.Dirichlet(exact)], exact=exact)


def _random_kernel(key, q=5):
    k1, k2 = jax.random.split(key)
    return gp.AxisKernel(
        log_w=jax.random.normal(k1, (q,)), mu=jnp.linspace(0.0, 7.0, q), log_ls=0.5 * jax.random.normal(k2, (q,))
    )


@pytest.mark.parametrize("kind", gp.KERNELS)
def test_kernel_derivatives_match_autodiff_and_fd(kind, getkey):
    p = _random_kernel(getkey())
    taus = jnp.array([-0.7, -0.1, 0.0, 0.05, 0.3, 1.2])
    k0, k1, k2 = gp.kernel_derivatives(kind, p, taus)
    f = lambda t: gp.kernel(kind, p, t)  # noqa: E731
    ad1 = jax.vmap(jax.grad(f))(taus)
    ad2 = jax.vmap(jax.grad(jax.grad(f)))(taus)
    scale = jnp.max(jnp.abs(k2))
    assert jnp.allclose(k0, jax.vmap(f)(taus), rtol=1e-13)
    assert jnp.max(jnp.abs(k1 - ad1)) < 1e-12 * scale
    assert jnp.max(jnp.abs(k2 - ad2)) < 1e-12 * scale
    h = 1e-5
    fd1 = (jax.vmap(f)(taus + h) - jax.vmap(f)(taus - h)) / (2 * h)
    fd2 = (jax.vmap(f)(taus + h) - 2 * k0 + jax.vmap(f)(taus - h)) / h**2
    assert jnp.max(jnp.abs(k1 - fd1)) < 1e-6 * scale
    assert jnp.max(jnp.abs(k2 - fd2)) < 1e-4 * scale


@pytest.mark.parametrize("kind", gp.KERNELS)
def test_toeplitz_equals_dense_and_wiener_khinchin(kind, getkey):
    p = _random_kernel(getkey())
    x = jnp.linspace(0.0, 1.3, 17)
    dense = gp.cross_matrices(kind, p, x, x)
    toep = gp.toeplitz_matrices(kind, p, 17, x[1] - x[0])
    for a, b in zip(dense, toep):
        assert jnp.allclose(a, b, rtol=1e-12, atol=1e-10 * jnp.max(jnp.abs(a)))
    # k(tau) = int S(s) cos(2 pi s tau) ds
    s = jnp.linspace(-150.0, 150.0, 200001)
    dens = gp.spectral_density(kind, p, s)
    for t in (0.0, 0.3):
        val = jnp.trapezoid(dens * jnp.cos(2 * jnp.pi * s * t), s)
        assert abs(float(val - gp.kernel(kind, p, t))) < 1e-6 * float(gp.kernel(kind, p, 0.0))


def test_kronecker_objective_and_gradient_match_dense_32x32():
    ex = lambda x: jnp.sin(3 * x[0]) * jnp.cos(2 * x[1])  # noqa: E731
    prob = pde.Problem(pde.Box([0.0, 0.0], [1.0, 1.2]), pde.manufactured(lambda u, x: u.d2(0) + u.d2(1) + u.d(0) * u.value, ex),
                       [pde.Dirichlet(ex)], exact=ex)
    spec, rfn = gp.grid_spec_and_residual(prob, (32, 32), jnp.float64)
    assert spec.keys == ((0,), (0, 0), (1, 1))
    # well-conditioned factors (short envelopes, jitter 1e-3) so that the dense LU reference itself is
    # accurate to ~1e-12; the identities checked (solve, log-det, n-mode derivatives) do not depend on it
    kernels = tuple(
        gp.AxisKernel(log_w=k.log_w, mu=k.mu, log_ls=k.log_ls + 3.0)
        for k in (gp.init_axis_kernel(6, 3.0), gp.init_axis_kernel(6, 2.0))
    )
    u = 0.3 * jax.random.normal(jax.random.key(1), spec.shape)
    lt1, lt2 = jnp.asarray(0.5), jnp.asarray(-0.3)

    def kron_obj(u, ks, lt1, lt2):
        facs = gp.axis_factors("gaussian", ks, spec, 1e-3)
        return gp.neg_log_joint(u, lt1, lt2, facs, spec, rfn, 200.0)[0]

    def dense_obj(u, ks, lt1, lt2):
        return gp.dense_neg_log_joint(u, lt1, lt2, "gaussian", ks, spec, rfn, 200.0, 1e-3)

    vk, gk = jax.value_and_grad(kron_obj, argnums=(0, 1, 2, 3))(u, kernels, lt1, lt2)
    vd, gd = jax.value_and_grad(dense_obj, argnums=(0, 1, 2, 3))(u, kernels, lt1, lt2)
    assert abs(float(vk - vd)) <= 1e-8 * abs(float(vd))
    for a, b in zip(jax.tree.leaves(gk), jax.tree.leaves(gd)):
        assert float(jnp.max(jnp.abs(a - b))) <= 1e-8 * max(float(jnp.max(jnp.abs(b))), 1.0)


def test_derivative_operator_is_exact_for_the_conditional_mean():
    # D = K'' C^{-1} applied to U equals the second derivative of the conditional mean k(x, X)^T C^{-1} U
    prob = _poisson_1d(7.0, 1.0)
    spec, _ = gp.grid_spec_and_residual(prob, (40,), jnp.float64)
    ks = (gp.init_axis_kernel(8, 4.0),)
    facs = gp.axis_factors("student_t", ks, spec, 1e-6)
    u = jnp.sin(7.0 * jnp.asarray(spec.coords[0]))
    d2 = gp.derivative_grids(u, facs, spec.keys, 1)[(0, 0)]
    mean = lambda s: _model.predict(u, "student_t", ks, facs, spec, s[None, None])[0]  # noqa: E731
    ad = jax.vmap(jax.grad(jax.grad(mean)))(jnp.asarray(spec.coords[0][5:9]))
    assert jnp.allclose(d2[5:9], ad, rtol=1e-6, atol=1e-6 * jnp.max(jnp.abs(d2)))


def test_profiled_solver_poisson_1d_and_predict():
    prob = _poisson_1d(20.0, 1.0)
    res = gp.solve(prob, grid=(64,), kernel="gaussian", n_components=10, freq_scale=5.0,
                   method=gp.Profiled(steps=6, patience=10))
    x = jnp.linspace(0.0, 1.0, 64)
    err = float(jnp.linalg.norm(res.u_grid - jnp.sin(20.0 * x)) / jnp.linalg.norm(jnp.sin(20.0 * x)))
    assert err < 1e-3
    xt = jnp.linspace(0.01, 0.99, 101)[:, None]
    pred = res.predict(xt)
    assert float(jnp.linalg.norm(pred - jnp.sin(20.0 * xt[:, 0])) / jnp.linalg.norm(jnp.sin(20.0 * xt[:, 0]))) < 2e-3
    assert res.info["linear"] is True
    assert len(res.history) >= 1 and "loss" in res.history[0]
    # final_error: rel-L2 on the 1001-point grid of the box, as an independent scattered evaluation gives it
    xf = jnp.linspace(0.0, 1.0, 1001)[:, None]
    ref = np.sin(20.0 * np.asarray(xf[:, 0], np.float64))
    want = np.linalg.norm(np.asarray(res.predict(xf), np.float64) - ref) / np.linalg.norm(ref)
    assert res.final_error == pytest.approx(want, rel=1e-6) and 0 < res.final_error < 2e-3
    no_exact = pde.Problem(prob.domain, prob.residual, prob.conditions)
    assert gp.solve(no_exact, grid=(24,), n_components=5, freq_scale=5.0,
                    method=gp.Profiled(steps=2)).final_error is None


def test_precision_growth_bounds_the_closed_form_precisions():
    """`precision_growth` holds log tau1/tau2 within the bound above their first-step values; without it the
    closed-form tau2 climbs as the fit improves (the feedback the option exists to stop), so the check is live."""
    prob = _poisson_1d(20.0, 1.0)
    kw = dict(grid=(64,), kernel="gaussian", n_components=10, freq_scale=5.0)
    free = gp.solve(prob, **kw, method=gp.Profiled(steps=8, patience=10))
    held = gp.solve(prob, **kw, method=gp.Profiled(steps=8, patience=10, precision_growth=0.5))
    first = held.history[0]
    assert free.history[0]["log_tau2"] == pytest.approx(first["log_tau2"])
    assert max(h["log_tau2"] for h in free.history) > first["log_tau2"] + 0.5
    for h in held.history[1:]:
        assert h["log_tau1"] <= first["log_tau1"] + 0.5 + 1e-12
        assert h["log_tau2"] <= first["log_tau2"] + 0.5 + 1e-12
    x = jnp.linspace(0.0, 1.0, 64)
    assert float(jnp.linalg.norm(held.u_grid - jnp.sin(20.0 * x)) / jnp.linalg.norm(jnp.sin(20.0 * x))) < 1e-3


def test_profiled_gauss_newton_allen_cahn_1d():
    exact = lambda x: jnp.sin(15.0 * x[0])  # noqa: E731
    res_fn = pde.manufactured(lambda u, x: u.d2(0) + u.value * (u.value**2 - 1), exact)
    prob = pde.Problem(pde.Box([0.0], [1.0]), res_fn, [pde.Dirichlet(exact)], exact=exact)
    res = gp.solve(prob, grid=(64,), kernel="gaussian", n_components=10, freq_scale=5.0,
                   method=gp.Profiled(steps=6, patience=10))
    assert res.info["linear"] is False
    x = jnp.linspace(0.0, 1.0, 64)
    assert float(jnp.linalg.norm(res.u_grid - jnp.sin(15.0 * x)) / jnp.linalg.norm(jnp.sin(15.0 * x))) < 1e-3


def test_matrix_free_solve_matches_dense_solve_2d():
    ex = lambda x: jnp.sin(3 * x[0]) * jnp.cos(2 * x[1])  # noqa: E731
    prob = pde.Problem(pde.Box([0.0, 0.0], [1.0, 1.0]), pde.manufactured(lambda u, x: u.d2(0) + u.d2(1), ex),
                       [pde.Dirichlet(ex)], exact=ex)
    spec, rfn = gp.grid_spec_and_residual(prob, (14, 16), jnp.float64)
    ks = tuple(gp.init_axis_kernel(6, 3.0) for _ in range(2))
    facs = gp.axis_factors("gaussian", ks, spec, 1e-8)
    u0 = jnp.zeros(spec.shape)
    derivs = gp.derivative_grids(u0, facs, spec.keys, 2)
    h0 = rfn(u0, derivs).reshape(spec.shape)
    cv, cs = _usolve.pointwise_coefficients(rfn, u0, derivs)
    lt1, lt2 = jnp.asarray(2.0), jnp.asarray(3.0)  # moderate weights: the boundary cap is inactive
    g = jnp.asarray(spec.boundary_values)
    ud = _usolve.dense_solve(facs, spec, cv, cs, h0, u0, g, lt1, lt2, 200.0)
    uc, st = _usolve.cg_solve(facs, spec, cv, cs, h0, u0, g, lt1, lt2, 200.0, 1e-12, 2000)
    # measured: 8.4e-5 relative max difference (PCG on the normal equations stops at its rtol in the
    # preconditioned basis; the dense path is an exact QR least-squares solve)
    assert float(jnp.max(jnp.abs(ud - uc))) < 2e-4 * float(jnp.max(jnp.abs(ud)))


def test_auto_frequency_initialisation_finds_the_solution_frequency():
    x = np.linspace(0.0, 2 * np.pi, 400)
    f = -1e4 * np.sin(100 * x)
    kern, meta = gp.auto_axis_kernel(f, 0, x[1] - x[0], 400, 30, derivative_order=2)
    assert any(abs(p - 100 / (2 * np.pi)) < 0.1 for p in meta["peaks"])
    assert float(kern.mu[0]) == 0.0 and kern.mu.shape == (30,)
    assert float(jnp.max(kern.mu)) <= meta["nyquist"] + 1e-9


def test_joint_adam_smoke_500_steps_loss_decreases():
    # spec section 7 asks for 1D sin(100x) on [0, 1], M = 200, 500 joint Adam steps (paper settings); that
    # run is in benchmarks/gp.py (measured here: rel-L2 0.40 -> 0.28 over 500 steps, ~83 s CPU). The test
    # uses M = 100 (6 points per period) to stay within the suite's time budget.
    prob = _poisson_1d(100.0, 1.0)
    res = gp.solve(prob, grid=(100,), kernel="gaussian", method=gp.Adam(steps=500), freq_scale=20.0)
    losses = [h["loss"] for h in res.history]
    errs = [h["rel_l2"] for h in res.history]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < losses[0]
    assert errs[-1] < errs[0]


def test_joint_adam_time_limit_stops_early_with_a_usable_result():
    prob = _poisson_1d(3.0, 1.0)
    res = gp.solve(prob, grid=(40,), kernel="gaussian", freq_scale=2.0,
                   method=gp.Adam(steps=20_000, steps_per_call=200, time_limit=0.5))
    # compilation alone exceeds 0.5 s, so the run stops at a chunk boundary well before 20,000 steps (the
    # unlimited run takes ~10 s here); without the limit the assertion below fails
    assert 200 <= res.info["steps_run"] < 20_000
    assert res.info["steps_run"] % 200 == 0
    assert np.all(np.isfinite(np.asarray(res.u_grid)))


def test_solve_rejects_bad_arguments():
    prob = _poisson_1d(3.0, 1.0)
    with pytest.raises(ValueError, match="kernel"):
        gp.solve(prob, kernel="rbf")
    with pytest.raises(ValueError, match="method"):
        gp.solve(prob, method="sgd")
    with pytest.raises(ValueError, match="one size per axis"):
        gp.solve(prob, grid=(10, 10))


def test_default_dtype_is_float64_even_without_global_x64_and_float32_works():
    prob = _poisson_1d(20.0, 1.0)
    x = jnp.linspace(0.0, 1.0, 64)
    kw = dict(grid=(64,), kernel="gaussian", n_components=10, freq_scale=5.0, method=gp.Profiled(steps=6, patience=10))
    with jax.enable_x64(False):
        res = gp.solve(prob, **kw)
        assert res.u_grid.dtype == jnp.float64
        xt = np.linspace(0.01, 0.99, 51)[:, None]
        pred = res.predict(xt)
        assert pred.dtype == jnp.float64
        assert float(np.linalg.norm(np.asarray(pred) - np.sin(20.0 * xt[:, 0])) / np.linalg.norm(np.sin(20.0 * xt[:, 0]))) < 2e-3
        res32 = gp.solve(prob, dtype=jnp.float32, **kw)
        assert res32.u_grid.dtype == jnp.float32
        err32 = float(np.linalg.norm(np.asarray(res32.u_grid) - np.sin(20.0 * np.asarray(x))) / np.linalg.norm(np.sin(20.0 * np.asarray(x))))
        # float32 fits are rounding-sensitive past the first outer step (log tau1 ~ 32): the same gradients summed
        # in two orders (Toeplitz gather vs tiling, equal to 3e-6) select iterates with 0.037 and 0.086
        assert err32 < 0.15
    with pytest.raises(ValueError, match="dtype"):
        gp.solve(prob, dtype=jnp.int32, **kw)


# ------------------------------------------------------------------------------------------------
# exact Kronecker collocation solve, resolve (pure JAX posterior), Neumann/Robin, vector-only objective


def test_kronecker_collocation_solve_equals_dense_square_system():
    # Kronecker-sum eigen solve vs the same collocation system assembled densely (PDE rows off the constrained
    # faces; axis-0 face rows where axis 1 is interior; axis-1 face rows everywhere else) and solved by LU
    from sciml.gp import _kron_solve as ks

    n1, n2 = 9, 11
    rng = np.random.default_rng(0)
    p1, p2 = rng.standard_normal((n1, n1)) + 4 * np.eye(n1), rng.standard_normal((n2, n2)) + 4 * np.eye(n2)
    d1, d2 = rng.standard_normal((n1, n1)), rng.standard_normal((n2, n2))
    c0 = 0.7
    con1 = ks.AxisConstraint((0, 1), ((1.0, 0.0), (2.0, 0.5)))  # Dirichlet, Robin
    con2 = ks.AxisConstraint((1,), ((0.0, 1.0),))  # Neumann on the upper face only
    b1 = ks.constraint_rows(jnp.asarray(d1), n1, con1, jnp.float64)
    b2 = ks.constraint_rows(jnp.asarray(d2), n2, con2, jnp.float64)
    f = rng.standard_normal((n1, n2))
    g1, g2 = rng.standard_normal((2, n2)), rng.standard_normal((1, n1))
    systems = [ks.axis_system(jnp.asarray(p1), b1, con1), ks.axis_system(jnp.asarray(p2), b2, con2)]
    u = ks.kron_sum_solve(systems, c0, jnp.asarray(f), [jnp.asarray(g1), jnp.asarray(g2)])
    m = n1 * n2
    a = np.kron(p1, np.eye(n2)) + np.kron(np.eye(n1), p2) + c0 * np.eye(m)
    rhs = f.reshape(-1).copy()
    idx = np.arange(m).reshape(n1, n2)
    b1, b2 = np.asarray(b1), np.asarray(b2)
    for r, e in enumerate([0, n1 - 1]):
        for i2 in range(n2 - 1):  # axis 1 interior indices (its constrained face is the last one)
            a[idx[e, i2]] = np.kron(b1[r], np.eye(n2)[i2])
            rhs[idx[e, i2]] = g1[r, i2]
    for i1 in range(n1):
        a[idx[i1, n2 - 1]] = np.kron(np.eye(n1)[i1], b2[0])
        rhs[idx[i1, n2 - 1]] = g2[0, i1]
    ref = np.linalg.solve(a, rhs).reshape(n1, n2)
    assert np.max(np.abs(np.asarray(u) - ref)) < 1e-10 * np.max(np.abs(ref))


def _poisson_2d_sin(a=1.0, b=0.0):
    ex = lambda x: jnp.sin(3 * x[0]) * jnp.sin(5 * x[1])  # noqa: E731
    return pde.Problem(pde.Box([0.0, 0.0], [1.0, 1.0]),
                       lambda u, x, p: u.d2(0) + u.d2(1) + p["k"] * u.value + (34.0 - p["k"]) * a * ex(x),
                       [pde.Dirichlet(lambda x: a * ex(x) + b * x[0])], params={"k": 0.0}, exact=ex)


@pytest.fixture(scope="module")
def fit_2d_sin():
    """`fit_2d_sin(u_solve)`: the 20x20 fit of `_poisson_2d_sin()`, computed once per module (and worker)."""
    cache = {}

    def get(u_solve):
        if u_solve not in cache:
            cache[u_solve] = gp.solve(_poisson_2d_sin(), grid=(20, 20), n_components=10,
                                      method=gp.Profiled(steps=2, u_solve=u_solve))
        return cache[u_solve]

    return get


@pytest.mark.xdist_group("gp_fit_2d_sin")  # one worker computes the shared fit (pyproject: --dist loadgroup)
@pytest.mark.parametrize("u_solve,tol", [("gphm", 1e-7), ("collocation", 1e-7)])
def test_resolve_is_pure_jax_and_its_gradients_match_finite_differences(u_solve, tol, fit_2d_sin):
    res = fit_2d_sin(u_solve)
    assert res.info["strategy"] == ("dense" if u_solve == "gphm" else "collocation")
    assert isinstance(res, train.TrainResult)
    x0 = jnp.array([[0.3, 0.6], [0.55, 0.45]])
    # resolving the fitted problem reproduces the fit
    same = res.resolve(_poisson_2d_sin())
    assert float(jnp.max(jnp.abs(same.u_grid - res.u_grid))) < 1e-6 * float(jnp.max(jnp.abs(res.u_grid)))

    def u_at(a, b, k):
        return res.resolve(_poisson_2d_sin(a, b), params={"k": k}).predict(x0)

    with jax.enable_x64(True):
        eager = u_at(1.5, 0.5, 2.0)
        # jit and vmap together: every finite-difference point in one compiled, batched call. The posterior mean is
        # linear in a and b (u = a U_a + b U_b), so forward differences are exact up to rounding; k enters
        # nonlinearly: central difference with step 1e-3 (truncation ~1e-7 relative)
        hk = 1e-3
        pts = jnp.array([[1.0, 0.5, 2.0], [1.5, 0.5, 2.0], [1.0, 1.0, 2.0], [1.0, 0.5, 2.0 + hk], [1.0, 0.5, 2.0 - hk]])
        vals = jax.jit(jax.vmap(u_at))(pts[:, 0], pts[:, 1], pts[:, 2])
        # jit + vmap agree with the eager call
        assert jnp.allclose(vals[1], eager, rtol=max(tol, 1e-5), atol=1e-8)
        jac = jax.jit(jax.jacobian(u_at, argnums=(0, 1, 2)))(1.0, 0.5, 2.0)
        fds = [(vals[1] - vals[0]) / 0.5, (vals[2] - vals[0]) / 0.5, (vals[3] - vals[4]) / (2 * hk)]
        # measured relative errors (a, b, k): gphm 9e-12, 5e-11, 2.9e-7; collocation 6e-11, 7e-11, 2.9e-9
        for ad, fd, t in zip(jac, fds, (tol, tol, max(tol, 1e-4))):
            assert float(jnp.max(jnp.abs(ad - fd))) < t * float(jnp.max(jnp.abs(fd))) + 1e-9
        # d u / d a is the unit-amplitude solution: close to the exact sin 3x sin 5y at x0 (b part is separate)
        assert float(jnp.max(jnp.abs(jac[0] - jax.vmap(_poisson_2d_sin().exact)(x0)))) < 5e-3


def test_neumann_and_robin_faces_with_defaults():
    ex = lambda x: jnp.sin(7 * x[0]) + 0.5 * x[0]  # noqa: E731
    d1 = jax.grad(ex)
    op = lambda u, x: u.d2(0) + 2.0 * u.value  # noqa: E731
    conds = [pde.Robin(1.0, 0.5, lambda x: ex(x) - 0.5 * d1(x)[0], faces=[(0, 0)]),
             pde.Neumann(lambda x: d1(x)[0], faces=[(0, 1)])]
    prob = pde.Problem(pde.Box([0.0], [1.0]), pde.manufactured(op, ex), conds, exact=ex)
    res = gp.solve(prob, grid=(48,), method=gp.Profiled(steps=5))
    assert res.info["strategy"] == "collocation"
    x = np.linspace(0, 1, 48)
    err = float(np.linalg.norm(np.asarray(res.u_grid) - (np.sin(7 * x) + 0.5 * x)) / np.linalg.norm(np.sin(7 * x) + 0.5 * x))
    assert err < 1e-3


def test_vector_only_objective_matches_operator_objective():
    ex = lambda x: jnp.sin(3 * x[0]) * jnp.cos(2 * x[1])  # noqa: E731
    prob = pde.Problem(pde.Box([0.0, 0.0], [1.0, 1.2]),
                       pde.manufactured(lambda u, x: u.d2(0) + u.d2(1) + u.d(0) * u.value, ex), [pde.Dirichlet(ex)])
    spec, rfn = gp.grid_spec_and_residual(prob, (12, 14), jnp.float64)
    ks_ = tuple(gp.AxisKernel(k.log_w, k.mu, k.log_ls + 3.0) for k in (gp.init_axis_kernel(6, 3.0), gp.init_axis_kernel(6, 2.0)))
    u = 0.3 * jax.random.normal(jax.random.key(2), spec.shape)

    def a(u, ks_):
        return gp.neg_log_joint(u, 0.2, -0.1, gp.axis_factors("gaussian", ks_, spec, 1e-3), spec, rfn, 200.0)[0]

    def b(u, ks_):
        return gp.neg_log_joint_vec(u, 0.2, -0.1, "gaussian", ks_, spec, rfn, 200.0, 1e-3)[0]

    va, ga = jax.value_and_grad(a, argnums=(0, 1))(u, ks_)
    vb, gb = jax.value_and_grad(b, argnums=(0, 1))(u, ks_)
    assert abs(float(va - vb)) < 1e-10 * abs(float(va))
    for x, y in zip(jax.tree.leaves(ga), jax.tree.leaves(gb)):
        assert float(jnp.max(jnp.abs(x - y))) < 1e-8 * max(float(jnp.max(jnp.abs(x))), 1.0)


def test_2d_default_uses_collocation_and_is_accurate():
    ex = lambda x: jnp.sin(3 * x[0]) * jnp.sin(4 * x[1])  # noqa: E731
    prob = pde.Problem(pde.Box([0.0, 0.0], [2.0, 2.0]), pde.manufactured(lambda u, x: u.d2(0) + u.d2(1), ex),
                       [pde.Dirichlet(ex)], exact=ex)
    res = gp.solve(prob, grid=(48, 48), method=gp.Profiled(steps=3))
    assert res.info["strategy"] == "collocation"
    pts = np.asarray(res.spec.points)
    exact = np.sin(3 * pts[:, 0]) * np.sin(4 * pts[:, 1])
    assert np.linalg.norm(np.asarray(res.u_grid).ravel() - exact) / np.linalg.norm(exact) < 1e-4
    xt = np.array([[0.33, 1.21], [1.7, 0.4]])
    assert np.allclose(res.predict(xt), np.sin(3 * xt[:, 0]) * np.sin(4 * xt[:, 1]), atol=1e-3)


def test_method_strings_and_legacy_keywords_are_deprecated_aliases():
    prob = _poisson_1d(5.0, 1.0)
    with pytest.warns(DeprecationWarning, match="patience"):
        res = gp.solve(prob, grid=(24,), n_components=5, method="profiled", steps=2, patience=3)
    assert res.step == 2 and res.info["method"] == "Profiled"


@pytest.mark.xdist_group("gp_fit_2d_sin")
def test_neumann_both_faces_predict_off_grid_matches_grid_solution(fit_2d_sin):
    # Neumann data on both x faces: the exact collocation solve leaves jitter-level components in U (the selected
    # kernel is numerically rank-deficient on the grid); u_grid is the latent mean K C^{-1} U and predict evaluates
    # the same function stably (before: interpolant missed its grid values by 4e-2 relative, predict error 3e-2)
    ex = lambda x: jnp.cos(jnp.pi * x[0]) * jnp.sin(2 * jnp.pi * x[1]) + x[0]  # noqa: E731
    gx = lambda x: jax.grad(ex)(x)[0]  # noqa: E731
    conds = [pde.Neumann(lambda x: gx(x), faces=[(0, 1)]), pde.Neumann(lambda x: -gx(x), faces=[(0, 0)]),
             pde.Dirichlet(ex, faces=[(1, 0), (1, 1)])]
    prob = pde.Problem(pde.Box([0.0, 0.0], [1.0, 1.0]), pde.manufactured(lambda u, x: u.d2(0) + u.d2(1), ex), conds,
                       exact=ex)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        res = gp.solve(prob, grid=(24, 24), method=gp.Profiled(steps=3))
    assert res.info["strategy"] == "collocation" and res.info["grid_reproduction"] < 1e-6
    pts = np.asarray(res.spec.points)
    ug = np.asarray(jax.vmap(ex)(jnp.asarray(pts)))
    assert np.linalg.norm(np.asarray(res.u_grid).ravel() - ug) / np.linalg.norm(ug) < 1e-3  # measured 2.4e-4
    xt = np.random.default_rng(0).random((500, 2))
    ue = np.asarray(jax.vmap(ex)(jnp.asarray(xt)))
    assert np.linalg.norm(np.asarray(res.predict(xt)) - ue) / np.linalg.norm(ue) < 1e-3  # measured 2.6e-4
    # a Dirichlet problem: the same small discrepancy between predict at the nodes and u_grid (the GP-HM dense fit,
    # what u_solve="auto" selects at 400 nodes; shared with the resolve test)
    res = fit_2d_sin("gphm")
    assert res.info["strategy"] == "dense" and res.info["grid_reproduction"] < 1e-2