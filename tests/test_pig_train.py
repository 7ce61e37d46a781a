"""PIG training harness: losses, sampling, LR groups, causal weights, Adam -> L-BFGS, NaN handling."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from sciml import pde, pig, train


def _poisson_1d():
    exact = lambda x: jnp.sin(jnp.pi * x[0]) + 0.5 * x[0]  # noqa: E731
    return pde.Problem(pde.Box([0.0], [2.0]), pde.manufactured(lambda u, x: u.d2(0), exact),
                       [pde.Dirichlet(exact)], exact=exact, name="p1")


def test_pig_trains_poisson_1d_and_lbfgs_improves():
    p = _poisson_1d()
    kw = dict(n_gaussians=24, key=jax.random.key(0), sigma0=0.2, learning_rate=1e-2,
              optimizer=pig.AdamGroups(gaussians=2e-3, decay_every=100), sampler=pig.Sampler(64, 16),
              weights=pig.LossWeights(residual=0.1, balance=None), eval_shape=(201,), eval_every=100,
              dtype=jnp.float32)
    both = pig.train(p, steps=300, lbfgs=pig.LBFGS(steps=60, points=128), correction=None, **kw)
    adam_err = [h["rel_l2"] for h in both.history if h["phase"] == "adam" and h["step"] == 300][0]
    assert adam_err < 5e-2
    assert both.final_error < 0.5 * adam_err
    assert both.best_error <= both.final_error
    phases = {h["phase"] for h in both.history}
    assert phases == {"adam", "lbfgs"}
    assert both.predict(jnp.zeros((3, 1))).dtype == jnp.float32
    adam = both
    assert np.isfinite(adam.history[-1]["loss_res"]) and "loss_cond0" in adam.history[-1]


def test_mlp_baseline_same_harness():
    p = _poisson_1d()
    res = pig.train_mlp_pinn(p, steps=100, key=jax.random.key(1), width=16, depth=2, sampler=pig.Sampler(64, 16),
                             eval_shape=(101,), eval_every=50, learning_rate=1e-2,
                             lbfgs=pig.LBFGS(steps=0))
    assert isinstance(res, train.TrainResult) and res.step == 100 and res.losses.shape == (100,)
    assert isinstance(res.model, pig.MLPPINN)
    assert [h["step"] for h in res.history] == [50, 100]
    assert res.final_error < 1.0


def test_nan_stops_training_with_message():
    box = pde.Box([0.0], [1.0])
    bad = pde.Problem(box, lambda u, x: u.value * jnp.nan, [pde.Dirichlet(lambda x: 0.0)], name="bad")
    with pytest.raises(train.TrainingError, match="step 0"):
        pig.train(bad, n_gaussians=4, steps=5, key=jax.random.key(0), sampler=pig.Sampler(8, 4))


def test_lr_groups_separate_gaussians_from_mlp():
    model = pig.PIG([-1.0], [1.0], n_gaussians=5, key=jax.random.key(0))
    opt = pig.lr_groups(model, lr_gauss=1e-2, lr_mlp=0.0)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    state = opt.init(params)

    def loss(p):
        m = eqx.combine(p, static)
        return jnp.sum(m.predict(jnp.linspace(-1, 1, 7, dtype=jnp.float32)[:, None]) ** 2) + 1.0

    g = jax.grad(loss)(params)
    upd, _ = opt.update(g, state, params)
    new = eqx.apply_updates(params, upd)
    assert not np.allclose(new.embedding.means, params.embedding.means)
    assert not np.allclose(new.embedding.log_sigma, params.embedding.log_sigma)
    for a, b in zip(jax.tree.leaves(new.mlp), jax.tree.leaves(params.mlp)):
        np.testing.assert_array_equal(a, b)


def test_sampler_resamples_every_k_and_is_deterministic():
    p = pde.helmholtz_2d()
    key = jax.random.key(3)
    f = pig.make_sampler(p, n_collocation=10, n_boundary=6, key=key, resample_every=2)
    g = pig.make_sampler(p, n_collocation=10, n_boundary=6, key=key, resample_every=2)
    b0, b1, b2 = f(None, 0)["res"], f(None, 1)["res"], f(None, 2)["res"]
    np.testing.assert_array_equal(b0, b1)
    assert not np.allclose(b1, b2)
    np.testing.assert_array_equal(g(None, 2)["res"], b2)
    xb, nb, gb = f(None, 0)["cond"][0]
    assert xb.shape == (6, 2) and bool(jnp.all(jnp.max(jnp.abs(xb), axis=1) == 1.0))  # on the boundary


def test_causal_weights():
    from sciml.pig._train import _causal_mse

    t = jnp.linspace(0.0, 1.0, 100, endpoint=False)
    r2 = jnp.ones_like(t)
    plain, _ = _causal_mse(r2, t, 0.0, 1.0, 4, 0.0)
    assert float(plain) == pytest.approx(1.0)
    weighted, wmin = _causal_mse(r2, t, 0.0, 1.0, 4, 1.0)
    # chunk weights exp(0), exp(-1), exp(-2), exp(-3); each chunk loss 1
    assert float(weighted) == pytest.approx(np.mean(np.exp(-np.arange(4.0))), rel=1e-6)
    assert float(wmin) == pytest.approx(np.exp(-3.0), rel=1e-6)


def test_periodic_causal_allen_cahn_runs():
    p = pde.allen_cahn_1d()
    res = pig.train(p, n_gaussians=16, steps=20, key=jax.random.key(0), sampler=pig.Sampler(64, 16),
                    weights=pig.LossWeights(causal=True, causal_chunks=4), log_every=10, lbfgs=pig.LBFGS(steps=0))
    h = res.history[-1]
    assert {"loss_res", "loss_cond0", "loss_periodic0", "causal_min_weight"} <= set(h)
    assert res.final_error is None and np.isfinite(h["loss"])


def test_separable_pig_trains_on_tensor_grid():
    p = pde.flow_mixing()
    res = pig.train(p, n_gaussians=16, steps=60, key=jax.random.key(0), separable=True, rank=4,
                    sampler=pig.Sampler(n_boundary=64, grid_points_per_axis=8), eval_shape=(9, 9, 9), eval_every=30,
                    learning_rate=1e-2, weights=pig.LossWeights(residual=10.0, balance=None), lbfgs=pig.LBFGS(steps=0))
    assert isinstance(res.model, pig.SeparablePIG)
    losses = [h["loss"] for h in res.history]
    assert losses[-1] < losses[0]
    assert res.final_error is not None and np.isfinite(res.final_error)


def test_chunked_loss_equals_full_loss_and_bounds_memory():
    """`chunk_size` gives the same loss and gradient (float64) and a smaller compiled working set."""
    prob = pde.helmholtz_2d(1, 4, 1.0)
    model = pig.PIG(prob.domain.lower, prob.domain.upper, 300, 4, key=jax.random.key(0), dtype=jnp.float64)
    sampler = pig.make_sampler(prob, n_collocation=1000, n_boundary=200, key=jax.random.key(1), dtype=jnp.float64)
    batch = sampler(None, 0)
    full = pig.make_loss(prob, residual_weight=1e-3, dtype=jnp.float64)
    chunked = pig.make_loss(prob, residual_weight=1e-3, chunk_size=128, dtype=jnp.float64)
    params, static = eqx.partition(model, eqx.is_inexact_array)

    def compiled(f):  # one compilation per loss: its values and its working set
        fn = jax.jit(jax.value_and_grad(lambda p, b: f(eqx.combine(p, static), b, None)[0]))
        return fn.lower(params, batch).compile()

    c1, c2 = compiled(full), compiled(chunked)
    (l1, g1), (l2, g2) = c1(params, batch), c2(params, batch)
    assert abs(float(l1 - l2)) <= 1e-12 * abs(float(l1))
    for a, b in zip(jax.tree.leaves(g1), jax.tree.leaves(g2)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-9, atol=1e-12 * float(jnp.max(jnp.abs(a))))
    assert c2.memory_analysis().temp_size_in_bytes < 0.5 * c1.memory_analysis().temp_size_in_bytes


# ---------------------------------------------------------------------------------------------------------------
# new capabilities at DEFAULT settings (only the budget is reduced: Adam steps and L-BFGS iterations)
SHORT = dict(steps=400, lbfgs=pig.LBFGS(steps=150, points=256), key=jax.random.key(0))


def test_default_neumann_robin_1d():
    # u'' = f on [0, 1]; outward Neumann at x = 0 and Robin u + du/dn = g at x = 1 (no Dirichlet data at all).
    # A longer L-BFGS phase on purpose: with these conditions the smallest eigenvalue of -d²/dx² is 0.74
    # (k tan k = 1) against π² for Dirichlet, so a residual error costs ~13x more solution error; 400 Adam + 150
    # L-BFGS steps reach 8e-3 with Dirichlet data but 0.39 here, 400 + 400 reach 3.9e-3 and the default
    # 2,000 + 500 5.4e-3 (measured, seed 0). At 400 + 400 the end point is rounding-chaotic: over seeds 0/1, float32
    # and float64 and XLA:CPU's two kernel emitters it ranged 2.0e-3 to 1.7e-2, hence the 2e-2 bound (a wrong
    # sign in the Neumann or the Robin data gives 6.8 or 0.26, measured).
    # The normals (-1 at x = 0, +1 at x = 1), targets and first derivatives were checked separately.
    exact = lambda x: jnp.sin(2.0 * x[0]) + x[0]  # noqa: E731
    du = lambda x: jax.grad(exact)(x)[0]  # noqa: E731
    p = pde.Problem(pde.Box([0.0], [1.0]), pde.manufactured(lambda u, x: u.d2(0), exact),
                    [pde.Neumann(lambda x: -du(x), faces=[(0, 0)]),
                     pde.Robin(1.0, 1.0, lambda x: exact(x) + du(x), faces=[(0, 1)])], exact=exact)
    b = p.sample_boundary_conditions(jax.random.key(0), 3)
    assert np.allclose(np.asarray(b[0]["normal"]), -1.0) and np.allclose(np.asarray(b[1]["normal"]), 1.0)
    res = pig.train(p, n_gaussians=64, steps=400, lbfgs=pig.LBFGS(steps=400), key=jax.random.key(0))
    assert res.final_error < 2e-2, res.final_error


def test_default_non_box_geometry_manufactured():
    # Poisson on a disc with a square hole (CSG difference), Dirichlet data from the exact solution
    exact = lambda x: jnp.sin(jnp.pi * x[0]) * jnp.cos(0.5 * jnp.pi * x[1]) + 0.5 * x[0] * x[1]  # noqa: E731
    dom = pde.Ball([0.0, 0.0], 1.0) - pde.Box([-0.3, -0.3], [0.3, 0.3])
    p = pde.Problem(dom, pde.manufactured(lambda u, x: u.d2(0) + u.d2(1), exact), [pde.Dirichlet(exact)],
                    exact=exact)
    # Adam only (measured 1.3e-2; + 100 L-BFGS steps 8.4e-3, but compiling the L-BFGS step is 13 of the test's
    # 60 s, and L-BFGS is covered by the 1D tests)
    res = pig.train(p, n_gaussians=64, eval_shape=(60, 60), steps=300, lbfgs=pig.LBFGS(steps=0),
                    key=jax.random.key(0))
    x, u = pig.eval_points(p, (60, 60))
    assert bool(jnp.all(dom.contains(x, 1e-6)))  # the error is measured inside the domain only
    assert res.final_error < 5e-2, res.final_error


def test_default_inverse_problem_recovers_coefficient():
    # k u'' = f with the true k = 2.5; start from k = 1, identify k from 200 noise-free observations
    exact = lambda x: jnp.sin(3.0 * x[0]) + x[0] ** 2  # noqa: E731
    k_true = 2.5
    f = lambda x: k_true * jax.grad(lambda y: jax.grad(exact)(y)[0])(x)[0]  # noqa: E731
    p = pde.Problem(pde.Box([0.0], [1.0]), lambda u, x, prm: prm["k"] * u.d2(0) - f(x), [pde.Dirichlet(exact)],
                    params={"k": 1.0}, exact=exact)
    x_obs = jnp.linspace(0.0, 1.0, 200)[:, None]
    res = pig.train(p, n_gaussians=64, observations=(x_obs, jax.vmap(exact)(x_obs)), infer=("k",), **SHORT)
    assert abs(res.params["k"] - k_true) / k_true < 0.02, res.params
    assert p.params["k"] == 1.0  # the problem itself is unchanged


def test_default_two_field_system():
    # u0'' - u1 = f0, u1'' + u0 = f1 with exact (sin(pi x), x^2); each field has its own Dirichlet condition
    e0 = lambda x: jnp.sin(jnp.pi * x[0])  # noqa: E731
    e1 = lambda x: x[0] ** 2  # noqa: E731
    f0 = lambda x: -jnp.pi**2 * e0(x) - e1(x)  # noqa: E731
    f1 = lambda x: 2.0 + e0(x)  # noqa: E731
    p = pde.Problem(pde.Box([0.0], [1.0]),
                    lambda u, x: jnp.stack([u[0].d2(0) - u[1].value - f0(x), u[1].d2(0) + u[0].value - f1(x)]),
                    [pde.Dirichlet(e0, field=0), pde.Dirichlet(e1, field=1)], n_fields=2,
                    exact=lambda x: jnp.stack([e0(x), e1(x)]))
    # Adam only (measured 4.0e-3 / 6.4e-3 per field, 4.8e-3 overall; L-BFGS is covered by the other tests)
    res = pig.train(p, n_gaussians=64, steps=1000, lbfgs=pig.LBFGS(steps=0), key=jax.random.key(0))
    x = jnp.linspace(0.0, 1.0, 101)[:, None]
    pred = np.asarray(res.predict(x))
    assert pred.shape == (101, 2)
    for j, e in enumerate((e0, e1)):
        assert pig.rel_l2(pred[:, j], jax.vmap(e)(x)) < 2e-2
    assert res.final_error < 2e-2
    assert res.config["correction"] is None and not isinstance(res.model.models[0], pig.Corrected)  # opt-in only


def test_time_limit_writes_checkpoint(tmp_path):
    p = _poisson_1d()
    res = pig.train(p, n_gaussians=16, steps=10**6, time_limit=1.0, checkpoint_dir=tmp_path / "ck",
                    key=jax.random.key(0))
    assert res.step < 10**6
    model, _, step = train.restore(res.model, pig.lr_groups(res.model, 1e-2, 1e-2), tmp_path / "ck")
    assert step == res.step
    np.testing.assert_array_equal(np.asarray(model.predict(jnp.ones((4, 1)))),
                                  np.asarray(res.model.predict(jnp.ones((4, 1)))))


def _heat_problem():
    # u_t = u_xx on [0, 1] x [0, 0.25], u = exp(-pi^2 t) sin(pi x): no source, data only in the conditions
    exact = lambda x: jnp.exp(-jnp.pi**2 * x[1]) * jnp.sin(jnp.pi * x[0])  # noqa: E731
    return pde.Problem(pde.Box([0.0, 0.0], [1.0, 0.25]), lambda u, x: u.d(1) - u.d2(0),
                       [pde.Initial(lambda x: jnp.sin(jnp.pi * x[0])), pde.Dirichlet(lambda x: 0.0 * x[0])],
                       exact=exact, time_axis=1)


def test_source_balance_scales_a_source_free_equation():
    # the heat residual has no source; its largest term on the data (Initial target g = sin(pi x): u_xx =
    # -pi^2 g, mean square pi^4 / 2) is below the floor of the smoothest mode the box admits with the data's
    # amplitude (1 after flooring): |u_t| + |u_xx| = pi / 0.25 + pi^2 at the peak, squared
    from sciml.pig._train import _data_term_scale, auto_scales

    heat = _heat_problem()
    s = float(np.asarray(auto_scales(heat)["residual"]).reshape(-1)[0])
    floor = (np.pi / 0.25 + np.pi**2) ** 2
    assert abs(s - floor) < 1e-3 * floor, s
    x = heat.domain.sample_interior(jax.random.key(0), 512, jnp.float32)
    assert abs(_data_term_scale(heat, x) - np.pi**4 / 2) < 0.1 * np.pi**4 / 2
    # a problem with a source keeps the source's scale
    exact = lambda x: jnp.sin(2 * jnp.pi * x[0]) * jnp.sin(jnp.pi * x[1])  # noqa: E731
    pois = pde.Problem(pde.Box([0.0, 0.0], [1.0, 1.0]), pde.manufactured(lambda u, x: u.d2(0) + u.d2(1), exact),
                       [pde.Dirichlet(exact)], exact=exact)
    src = float(np.asarray(auto_scales(pois)["residual"]).reshape(-1)[0])
    assert abs(src - (5 * np.pi**2) ** 2 / 4) < 0.1 * (5 * np.pi**2) ** 2 / 4, src
    # trained briefly (300 Adam steps), the balanced default learns the solution (measured 0.22); weight 1
    # stalls at the best constant (c = 1/pi: the Initial and Dirichlet terms balanced; measured 0.73)
    kw = dict(n_gaussians=100, steps=300, sampler=pig.Sampler(500, 200), lbfgs=pig.LBFGS(steps=0),
              eval_shape=(40, 40), correction=None)
    bal = pig.train(heat, **kw).final_error
    unbal = pig.train(heat, weights=pig.LossWeights(balance=None), **kw).final_error
    assert bal < 0.4 and unbal > 0.6, (bal, unbal)


def test_source_balance_floor_frees_boundary_values_of_a_small_source():
    # u = x y^2 + 1 on [0, 1]^2: the source Δu = 2x has mean square 1.3, so weighting the residual by 1/1.3
    # makes it so strong against the boundary term that Adam keeps a boundary error (measured: 0.17 after these
    # 300 steps, 0.16 after 1,000 steps with the full defaults). The floor, the residual of the smoothest mode
    # with the data's amplitude (|u_xx| + |u_yy| = 2 pi^2 A at the peak, A^2 = mean g^2 on the boundary),
    # gives 4.6e-3 (measured).
    from sciml.pig._train import auto_scales

    e = lambda x: x[0] * x[1] ** 2 + 1.0  # noqa: E731
    p = pde.Problem(pde.Box([0.0, 0.0], [1.0, 1.0]), pde.manufactured(lambda u, x: u.d2(0) + u.d2(1), e),
                    [pde.Dirichlet(e)], exact=e)
    sc = auto_scales(p)
    s, g2 = float(np.asarray(sc["residual"]).reshape(-1)[0]), sc["conditions"][0]
    assert abs(s - (2 * np.pi**2) ** 2 * g2) < 1e-3 * s, (s, g2)
    assert 1.4 < g2 < 1.75  # mean of (x y^2 + 1)^2 on the boundary: 1.57
    res = pig.train(p, n_gaussians=100, steps=300, sampler=pig.Sampler(500, 200), lbfgs=pig.LBFGS(steps=0),
                    eval_shape=(40, 40))
    assert res.final_error < 3e-2, res.final_error



def test_default_gaussian_count_follows_the_source_frequency():
    # 400 Gaussians unless a 2D source oscillates faster than 4 half-wavelengths per axis; then 400·(w/4)², capped
    # (measured: Helmholtz (5, 5) 0.093 with 400, 0.010 with 900)
    from sciml.pig._train import GAUSSIANS_CAP, _default_gaussians

    assert _default_gaussians(pde.helmholtz_2d(2, 3)) == 400
    assert _default_gaussians(pde.helmholtz_2d(1, 4)) == 400
    assert _default_gaussians(pde.helmholtz_2d(4, 4)) == 800
    assert _default_gaussians(pde.helmholtz_2d(5, 5)) == 1300
    assert _default_gaussians(pde.helmholtz_2d(6, 6)) == GAUSSIANS_CAP
    one_d = pde.Problem(pde.Box([0.0], [1.0]), pde.manufactured(lambda u, x: u.d2(0), lambda x: jnp.sin(40 * x[0])),
                        [pde.Dirichlet(lambda x: jnp.sin(40 * x[0]))])
    assert _default_gaussians(one_d) == 400


def test_flat_legacy_keywords_warn_and_equal_the_option_objects():
    # every flat legacy name maps onto an option object; using them warns (naming the object) and trains the same
    from sciml.pig._train import _LEGACY, _LEGACY_HOME

    assert set(_LEGACY_HOME) == _LEGACY
    p = _poisson_1d()
    common = dict(n_gaussians=8, steps=30, key=jax.random.key(0), eval_shape=(33,), eval_every=10)
    with pytest.warns(DeprecationWarning, match=r"lr_gauss -> optimizer=pig.AdamGroups\(gaussians=...\)"):
        old = pig.train(p, lr=1e-2, lr_gauss=2e-3, decay_every=10, decay_rate=0.5, n_collocation=32, n_boundary=8,
                        residual_weight=0.1, lbfgs_steps=5, lbfgs_points=32, **common)
    new = pig.train(p, learning_rate=1e-2, optimizer=pig.AdamGroups(gaussians=2e-3, decay_every=10, decay_rate=0.5),
                    sampler=pig.Sampler(32, 8), weights=pig.LossWeights(residual=0.1, balance=None),
                    lbfgs=pig.LBFGS(steps=5, points=32), **common)
    np.testing.assert_array_equal(old.losses, new.losses)
    assert old.final_error == new.final_error
    # the MLP learning rate may sit on the object; a second value is refused, as are mixed forms
    obj = pig.train(p, optimizer=pig.AdamGroups(learning_rate=1e-2, gaussians=2e-3, decay_every=10, decay_rate=0.5),
                    sampler=pig.Sampler(32, 8), weights=pig.LossWeights(residual=0.1, balance=None),
                    lbfgs=pig.LBFGS(steps=5, points=32), **common)
    np.testing.assert_array_equal(obj.losses, new.losses)
    with pytest.raises(ValueError, match="once"):
        pig.train(p, learning_rate=1e-3, optimizer=pig.AdamGroups(learning_rate=1e-2), **common)
    with pytest.raises(TypeError, match="AdamGroups"), pytest.warns(DeprecationWarning):
        pig.train(p, optimizer=pig.AdamGroups(), decay_every=10, **common)
    with pytest.raises(TypeError, match="AdamGroups or an optax"):
        pig.train(p, optimizer="adam", **common)
    with pytest.raises(ValueError, match="decay_rate"):
        pig.AdamGroups(decay_rate=1.5)
    with pytest.raises(ValueError, match="gaussians"):
        pig.AdamGroups(gaussians=0.0)
    # the MLP baseline: its one rate, on the object or as `learning_rate`, trains the same
    a = pig.train_mlp_pinn(p, steps=20, key=jax.random.key(1), width=8, depth=1, learning_rate=3e-3,
                           sampler=pig.Sampler(32, 8), lbfgs=pig.LBFGS(steps=0))
    b = pig.train_mlp_pinn(p, steps=20, key=jax.random.key(1), width=8, depth=1, sampler=pig.Sampler(32, 8),
                           lbfgs=pig.LBFGS(steps=0), optimizer=pig.AdamGroups(learning_rate=3e-3, gaussians=3e-3))
    np.testing.assert_array_equal(a.losses, b.losses)


def test_adam_phase_runs_chunked_by_default_with_the_same_draws_and_logs():
    # the Adam phase runs gcd(log_every, 50) steps per compiled call (train.fit's chunked mode) with the same
    # sampled points: the losses equal one call per step to float rounding, and the logged/evaluated steps agree
    p = _poisson_1d()
    kw = dict(n_gaussians=12, steps=120, key=jax.random.key(3), sampler=pig.Sampler(32, 8, resample_every=3),
              lbfgs=pig.LBFGS(steps=0), eval_shape=(65,), eval_every=40, dtype=jnp.float64)  # float64: no drift
    a = pig.train(p, **kw)
    b = pig.train(p, steps_per_call=1, **kw)
    np.testing.assert_allclose(a.losses, b.losses, rtol=1e-9)
    assert [h["step"] for h in a.history] == [h["step"] for h in b.history] == [40, 80, 120]
    assert abs(a.final_error - b.final_error) < 1e-3 * b.final_error
    with pytest.raises(ValueError, match="steps_per_call"):
        pig.train(p, steps_per_call=0, **kw)
