"""PIG model: closed-form feature derivatives vs plain autodiff, sigma positivity, layouts, chunking, SPIG."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml import pig

REQ3 = ((), (0,), (1,), (2,), (0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))


def _points(key, lower, upper, n):
    return jax.random.uniform(key, (n, len(lower)), jnp.float64, jnp.asarray(lower), jnp.asarray(upper))


@eqx.filter_jit
def _derivs(model, xs, req):
    return model.derivatives(xs, req)


@eqx.filter_jit
def _autodiff(model, xs, req):
    return jax.vmap(lambda x: pig.autodiff_jet(model, x, req))(xs)


def _max_rel(a, b):
    return float(jnp.max(jnp.abs(a - b)) / jnp.maximum(jnp.max(jnp.abs(b)), 1e-300))


@pytest.mark.parametrize("layout", ["shared", "per_channel"])
@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_closed_form_derivatives_match_autodiff(layout, covariance, getkey):
    lower, upper = [-1.0, 0.0, 2.0], [1.0, 3.0, 5.0]  # non-trivial box: normalisation scales enter
    model = pig.PIG(lower, upper, n_gaussians=9, n_features=3, layout=layout, covariance=covariance, sigma0=0.4,
                    weight_std=1.0, width=8, depth=2, key=getkey(), dtype=jnp.float64)
    if covariance == "full":
        off = 0.5 * jax.random.normal(getkey(), model.embedding.offdiag.shape, jnp.float64)
        model = eqx.tree_at(lambda m: m.embedding.offdiag, model, off)
    xs = _points(getkey(), lower, upper, 6)
    got = _derivs(model, xs, REQ3)
    ref = _autodiff(model, xs, REQ3)
    for r in REQ3:
        assert _max_rel(got[r], ref[r]) < 1e-11, r
    # derivatives are non-trivial (the test would be vacuous otherwise)
    assert float(jnp.max(jnp.abs(got[(0, 0)]))) > 1e-3


def test_feature_derivative_formulae(getkey):
    """FE_x = sum w G (-d/sigma), FE_xx = sum w G (d^2 - 1)/sigma^2 (diagonal case) against jax.jacfwd."""
    emb = pig.GaussianEmbedding(2, 5, 2, sigma0=0.3, weight_std=1.0, key=getkey(), dtype=jnp.float64)
    z = jnp.asarray([0.1, -0.2])
    fe, first, second = emb.jet(z, ((), (0,), (1,), (0, 0), (1, 1), (0, 1)))
    J = jax.jacfwd(emb)(z)
    H = jax.jacfwd(jax.jacfwd(emb))(z)
    np.testing.assert_allclose(fe, emb(z), rtol=1e-14)
    np.testing.assert_allclose(first[0], J[:, 0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(second[(0, 0)], H[:, 0, 0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(second[(0, 1)], H[:, 0, 1], rtol=1e-12, atol=1e-15)


def test_sigma_never_reaches_zero(getkey):
    emb = pig.GaussianEmbedding(2, 4, 2, key=getkey(), dtype=jnp.float32)
    for v in (-1e4, -100.0, 0.0, 30.0):
        bad = eqx.tree_at(lambda e: e.log_sigma, emb, jnp.full_like(emb.log_sigma, v))
        assert bool(jnp.all(bad.sigma > 0)) and bool(jnp.all(bad.sigma >= bad.sigma_min))
        out = bad.jet(jnp.asarray([0.3, -0.1], jnp.float32), ((), (0,), (0, 0)))
        assert all(bool(jnp.all(jnp.isfinite(a))) for a in jax.tree.leaves(out))
    # gradient steps that push log_sigma to -inf still leave sigma >= sigma_min
    assert float(emb.sigma_min) > 0
    with pytest.raises(ValueError, match="sigma0"):
        pig.GaussianEmbedding(2, 4, sigma0=1e-5, sigma_min=1e-4, key=getkey())


def test_full_covariance_is_spd_and_extends_diagonal(getkey):
    model = pig.PIG([0.0, 0.0], [2.0, 1.0], n_gaussians=6, key=getkey(), dtype=jnp.float64, weight_std=1.0)
    full_emb = model.embedding.with_full_covariance()
    full = eqx.tree_at(lambda m: m.embedding, model, full_emb)
    xs = _points(getkey(), [0.0, 0.0], [2.0, 1.0], 7)
    np.testing.assert_allclose(full.predict(xs), model.predict(xs), rtol=1e-12)  # identical at initialisation
    off = jax.random.normal(getkey(), full_emb.offdiag.shape, jnp.float64) * 3.0
    full_emb = eqx.tree_at(lambda e: e.offdiag, full_emb, off)
    eig = jnp.linalg.eigvalsh(full_emb.precision())
    assert float(jnp.min(eig)) > 0


def test_layouts_and_feature_count(getkey):
    shared = pig.PIG([-1, -1], [1, 1], n_gaussians=10, n_features=4, layout="shared", key=getkey())
    per = pig.PIG([-1, -1], [1, 1], n_gaussians=10, n_features=4, layout="per_channel", key=getkey())
    assert shared.embedding.n_total == 10 and per.embedding.n_total == 40
    z = jnp.zeros(2, jnp.float32)
    assert shared.embedding(z).shape == (4,) and per.embedding(z).shape == (4,)
    assert shared.embedding(z).dtype == jnp.float32
    # the normaliser maps the box corners onto [-1, 1]
    n = pig.BoxNormaliser((0.0, 2.0), (4.0, 3.0))
    np.testing.assert_allclose(n(jnp.asarray([[0.0, 2.0], [4.0, 3.0]])), [[-1, -1], [1, 1]])
    np.testing.assert_allclose(n.inverse(n(jnp.asarray([1.0, 2.5]))), [1.0, 2.5])


def test_chunked_predict_matches_full(getkey):
    model = pig.PIG([-1, -1], [1, 1], n_gaussians=50, key=getkey(), dtype=jnp.float64, weight_std=1.0)
    xs = _points(getkey(), [-1, -1], [1, 1], 1000)
    full = model.predict(xs, chunk_size=None)
    chunked = model.predict(xs, chunk_size=128)
    np.testing.assert_allclose(chunked, full, rtol=1e-13, atol=1e-15)


def test_mlp_pinn_derivatives(getkey):
    m = pig.MLPPINN([0.0, 0.0], [2.0, 1.0], width=8, depth=2, key=getkey(), dtype=jnp.float64)
    xs = _points(getkey(), [0.0, 0.0], [2.0, 1.0], 4)
    req = ((), (0,), (1, 1), (0, 1))
    got = _derivs(m, xs, req)
    h = eqx.filter_jit(lambda m, xs: jax.vmap(jax.hessian(m))(xs))(m, xs)
    np.testing.assert_allclose(got[(1, 1)], h[:, 1, 1], rtol=1e-10)
    np.testing.assert_allclose(got[(0, 1)], h[:, 0, 1], rtol=1e-10)


def test_separable_grid_and_pointwise_match_autodiff(getkey):
    lower, upper = [-4.0, -4.0, 0.0], [4.0, 4.0, 4.0]
    m = pig.SeparablePIG(lower, upper, n_gaussians=12, rank=5, sigma0=0.3, key=getkey(), dtype=jnp.float64)
    axes = [jnp.sort(jax.random.uniform(k, (n,), jnp.float64, lo, hi))
            for k, n, lo, hi in zip(jax.random.split(getkey(), 3), (4, 3, 5), lower, upper)]
    grid, pts = eqx.filter_jit(lambda m, a: m.grid_derivatives(a, REQ3))(m, axes)
    assert pts.shape == (60, 3) and grid[()].shape == (60,)
    point = _derivs(m, pts, REQ3)
    ref = _autodiff(m, pts, REQ3)
    for r in REQ3:
        assert _max_rel(grid[r], ref[r]) < 1e-11, r
        assert _max_rel(point[r], ref[r]) < 1e-11, r
    assert bool(jnp.all(m.sigma > 0))
