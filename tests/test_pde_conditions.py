"""pde: Neumann/Robin/where conditions, params in residuals, systems, and non-box domains (sampling, normals)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml import pde

KEY = jax.random.key(0)


def test_box_normals_and_face_targets():
    box = pde.Box([0.0, -1.0], [2.0, 1.0])
    x, n = box.sample_boundary_normals(KEY, 400)
    # each point lies on the face its normal names, normals are unit axis vectors
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0)
    on_upper_x = np.asarray(n[:, 0] > 0.5)
    np.testing.assert_allclose(np.asarray(x[on_upper_x, 0]), 2.0)
    np.testing.assert_allclose(np.asarray(x[np.asarray(n[:, 1] < -0.5), 1]), -1.0)
    # faces chosen in proportion to their length: the two x-faces (length 2 each) vs y-faces (length 2 each)
    assert 0.35 < float(jnp.mean(jnp.abs(n[:, 0]))) < 0.65


def test_neumann_robin_where_targets():
    box = pde.Box([0.0], [1.0])
    p = pde.Problem(box, lambda u, x: u.d2(0) - 2.0,
                    [pde.Dirichlet(lambda x: 0.0, faces=[(0, 0)]), pde.Neumann(lambda x: 2.0 + 0 * x[0], faces=[(0, 1)]),
                     pde.Robin(1.0, 2.0, lambda x: 5.0 + 0 * x[0], where=lambda x: x[0] > 0.5)],
                    exact=lambda x: x[0] ** 2)
    batches = p.sample_boundary_conditions(KEY, 8)
    assert len(batches) == 3
    np.testing.assert_allclose(np.asarray(batches[0]["x"]), 0.0)
    np.testing.assert_allclose(np.asarray(batches[0]["normal"]), -1.0)
    np.testing.assert_allclose(np.asarray(batches[1]["x"]), 1.0)
    np.testing.assert_allclose(np.asarray(batches[1]["normal"]), 1.0)
    np.testing.assert_allclose(np.asarray(batches[2]["x"]), 1.0)  # `where` keeps only x = 1
    # the exact solution satisfies each condition: du/dn = 2 at x=1, u + 2 du/dn = 1 + 4 = 5
    grad = jax.vmap(jax.grad(p.exact))(batches[2]["x"])
    robin = jax.vmap(p.exact)(batches[2]["x"]) + 2.0 * jnp.sum(grad * batches[2]["normal"], -1)
    np.testing.assert_allclose(np.asarray(robin), np.asarray(batches[2]["g"]), rtol=1e-6)


def test_where_on_box_selects_part_of_boundary():
    box = pde.Box([-1.0, -1.0], [1.0, 1.0])
    cond = pde.Dirichlet(lambda x: 0.0, where=lambda x: x[0] < -0.5)
    p = pde.Problem(box, lambda u, x: u.d2(0) + u.d2(1), [cond])
    (x, _), = p.sample_conditions(KEY, 500)
    assert float(jnp.max(x[:, 0])) < -0.5
    assert bool(jnp.all(jnp.abs(box.sdf(x)) < 1e-6))
    # left face (length 2) and two bottom/top pieces of length 0.5 each: 2/3 of the points on x = -1
    frac = float(jnp.mean(x[:, 0] == -1.0))
    assert 0.58 < frac < 0.75


def test_params_in_residual():
    f = lambda x: -jnp.pi**2 * jnp.sin(jnp.pi * x[0])  # noqa: E731
    p = pde.Problem(pde.Box([0.0], [1.0]), lambda u, x, prm: prm["k"] * u.d2(0) - prm["k"] * f(x),
                    [pde.Dirichlet(lambda x: 0.0)], params={"k": 3.0}, exact=lambda x: jnp.sin(jnp.pi * x[0]))
    x = jnp.linspace(0.1, 0.9, 5)[:, None]
    assert p.takes_params
    np.testing.assert_allclose(np.asarray(p.residual_at(p.exact, x)), 0.0, atol=1e-5)
    # other params: residual of exact is (k - 3) * (u'' - f) = 0 still; of 0 it is k * (-f)
    r = p.residual_at(lambda y: 0.0 * y[0], x, params={"k": 2.0})
    np.testing.assert_allclose(np.asarray(r), np.asarray(-2.0 * jax.vmap(f)(x)), rtol=1e-6)
    # the bound two-argument residual (what gp calls) uses problem.params
    jet = pde.FunctionJet(lambda y: 0.0 * y[0], x[0])
    np.testing.assert_allclose(float(p.residual(jet, x[0])), float(-3.0 * f(x[0])), rtol=1e-6)


def test_system_residual_and_required_derivatives():
    box = pde.Box([0.0, 0.0], [1.0, 1.0])
    res = lambda u, x: jnp.stack([u[0].d2(0) + u[0].d2(1) - u[1].value, u[1].d(0) - 1.0])  # noqa: E731
    exact = lambda x: jnp.stack([x[0] ** 3 / 6 + 0 * x[1], x[0]])  # noqa: E731
    p = pde.Problem(box, res, [pde.Dirichlet(lambda x: x[0] ** 3 / 6, field=0), pde.Dirichlet(lambda x: x[0], field=1)],
                    exact=exact, n_fields=2)
    assert p.n_equations == 2
    assert pde.required_derivatives(p, by_field=True) == [{(0, 0), (1, 1)}, {(), (0,)}]
    x = box.sample_interior(KEY, 16)
    r = p.residual_at(exact, x)
    assert r.shape == (16, 2)
    np.testing.assert_allclose(np.asarray(r), 0.0, atol=1e-6)
    with pytest.raises(ValueError, match="field 2"):
        pde.Problem(box, res, [pde.Dirichlet(lambda x: 0.0, field=2)], n_fields=2)


def test_ball_polygon_sampling_and_normals():
    disc = pde.Ball([1.0, -1.0], 2.0)
    x = disc.sample_interior(KEY, 4000)
    r = np.linalg.norm(np.asarray(x) - [1.0, -1.0], axis=1)
    assert r.max() <= 2.0 + 1e-6
    assert abs(np.mean(r**2) - 2.0) < 0.1  # uniform in a disc of radius 2: E r^2 = R^2 / 2
    xb, nb = disc.sample_boundary_normals(KEY, 100)
    np.testing.assert_allclose(np.asarray(nb), (np.asarray(xb) - [1.0, -1.0]) / 2.0, atol=1e-6)
    assert abs(disc.boundary_measure() - 4 * np.pi) < 1e-12
    # clockwise L-shape is re-oriented; normals point outward: a small step along them leaves the domain
    L = pde.Polygon([[0, 0], [0, 2], [1, 2], [1, 1], [2, 1], [2, 0]])
    assert abs(L.area() - 3.0) < 1e-12 and abs(L.boundary_measure() - 8.0) < 1e-12
    xb, nb = L.sample_boundary_normals(KEY, 300)
    assert bool(jnp.all(jnp.abs(L.sdf(xb)) < 1e-5))
    assert bool(jnp.all(~L.contains(xb + 1e-3 * nb))) and bool(jnp.all(L.contains(xb - 1e-3 * nb)))
    xi = L.sample_interior(KEY, 3000)
    assert bool(jnp.all(L.contains(xi)))
    assert abs(float(jnp.mean(xi[:, 0] < 1.0)) - 2 / 3) < 0.04


@pytest.mark.parametrize("op", ["difference", "union", "intersection"])
def test_csg_boundary_is_uniform_with_outward_normals(op):
    a, b = pde.Ball([0.0, 0.0], 1.0), pde.Ball([1.0, 0.0], 1.0)
    dom = {"difference": a - b, "union": a | b, "intersection": a & b}[op]
    assert dom == getattr(pde, op)(a, b)
    xb, nb = dom.sample_boundary_normals(KEY, 3000)
    assert bool(jnp.all(jnp.abs(dom.sdf(xb)) < 1e-5))
    away = (jnp.abs(a.sdf(xb)) > 2e-3) | (jnp.abs(b.sdf(xb)) > 2e-3)  # not at the two corners
    assert float(jnp.mean(away)) > 0.99
    xb, nb = xb[away], nb[away]
    assert bool(jnp.all(~dom.contains(xb + 1e-3 * nb))) and bool(jnp.all(dom.contains(xb - 1e-3 * nb)))
    # exact boundary measures of two unit discs at distance 1: each contributes an arc of 4π/3 (outside the
    # other) or 2π/3 (inside the other)
    exact = {"difference": 2 * np.pi, "union": 8 * np.pi / 3, "intersection": 4 * np.pi / 3}[op]
    assert abs(dom.boundary_measure() - exact) / exact < 0.03
    # share of points on a's boundary = its arc's share
    on_a = np.abs(np.linalg.norm(np.asarray(xb), axis=1) - 1.0) < 1e-5
    share = {"difference": 2 / 3, "union": 0.5, "intersection": 0.5}[op]
    assert abs(on_a.mean() - share) < 0.04
    xi = dom.sample_interior(KEY, 2000)
    assert bool(jnp.all(dom.contains(xi)))


def test_square_with_hole_interior_and_jit():
    dom = pde.Box([-1.0, -1.0], [1.0, 1.0]) - pde.Ball([0.0, 0.0], 0.5)
    f = jax.jit(lambda k: dom.sample_interior(k, 1000))
    x = f(KEY)
    assert float(jnp.min(jnp.linalg.norm(x, axis=1))) >= 0.5
    # area fraction outside the hole: (4 - π/4)/4
    assert abs(dom._interior_fraction() - (4 - np.pi / 4) / 4) < 0.02


def test_problem_on_csg_with_where():
    dom = pde.Box([-1.0, -1.0], [1.0, 1.0]) - pde.Ball([0.0, 0.0], 0.5)
    hole = lambda x: jnp.linalg.norm(x) < 0.75  # noqa: E731
    p = pde.Problem(dom, lambda u, x: u.d2(0) + u.d2(1),
                    [pde.Neumann(lambda x: 0.0, where=hole), pde.Dirichlet(lambda x: 1.0, where=lambda x: ~hole(x))])
    b0, b1 = p.sample_boundary_conditions(KEY, 200)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(b0["x"]), axis=1), 0.5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(b0["normal"]), -np.asarray(b0["x"]) / 0.5, atol=1e-5)
    assert float(jnp.min(jnp.max(jnp.abs(b1["x"]), axis=1))) > 1 - 1e-6
    with pytest.raises(ValueError, match="pde.Box only"):
        pde.Problem(dom, lambda u, x: u.value, [pde.Dirichlet(lambda x: 0.0, faces=[(0, 0)])])
