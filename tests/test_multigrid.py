"""Tests for the classical anchors: geometric multigrid V-cycle (MG-PCG) and the exact DCT Poisson solve."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml import linalg
from sciml.dcdm import disk_air, empty_box, plume_rhs
from sciml.linalg import dct_poisson_solver
from sciml.linalg import coarsen_flags, multigrid_preconditioner


def test_coarsen_flags_rules():
    f = np.zeros((4, 4), np.int8)
    f[0, 0] = linalg.SOLID
    f[0, 1] = linalg.AIR
    f[2:, 2:] = linalg.SOLID
    c = coarsen_flags(f, rule="fluid")
    assert c.tolist() == [[linalg.FLUID, linalg.FLUID], [linalg.FLUID, linalg.SOLID]]
    assert coarsen_flags(f, rule="dirichlet")[0, 0] == linalg.AIR
    assert coarsen_flags(np.zeros((5, 3), np.int8)).shape == (3, 2)


@pytest.mark.parametrize("smoother", ["rbgs", "chebyshev"])
def test_vcycle_is_symmetric_positive(smoother):
    flags = disk_air(16, 2)
    op = linalg.poisson_operator(flags, dtype=jnp.float64)
    M = multigrid_preconditioner(op, coarsest_size=16, smoother=smoother)
    assert M.n_levels >= 3
    mask = np.asarray(op.mask)
    n = mask.size
    E = jnp.eye(n).reshape((n,) + flags.shape)
    Mm = np.asarray(eqx.filter_jit(lambda m, e: jax.vmap(m)(e))(M, E)).reshape(n, n)[np.ix_(mask.ravel(), mask.ravel())]
    np.testing.assert_allclose(Mm, Mm.T, atol=1e-10 * np.abs(Mm).max())
    assert np.linalg.eigvalsh(0.5 * (Mm + Mm.T)).min() > 0


def test_mg_pcg_iterations_3d_sphere_air(n=16):
    flags = disk_air(n, 3)
    op = linalg.poisson_operator(flags, dtype=jnp.float64)
    b = jnp.asarray(plume_rhs(flags))
    sol = linalg.pcg(op, b, multigrid_preconditioner(op), rtol=1e-6)
    cg = linalg.cg(op, b, rtol=1e-6)
    assert bool(sol.converged) and int(sol.iterations) <= 15
    assert int(sol.iterations) * 4 < int(cg.iterations)
    r = np.linalg.norm(np.asarray(b - op.mv(sol.value))) / np.linalg.norm(np.asarray(b))
    assert r < 1e-6


def test_mg_pcg_pure_neumann_box_2d():
    flags = empty_box((64, 64))
    op = linalg.poisson_operator(flags, dtype=jnp.float64)
    b = jnp.asarray(plume_rhs(flags))
    sol = linalg.pcg(op, b, multigrid_preconditioner(op), rtol=1e-6)
    assert bool(sol.converged) and int(sol.iterations) <= 15


@pytest.mark.parametrize("walls", ["none", "solid", "air_top"])
def test_dct_poisson_exact(walls):
    if walls == "none":
        flags = np.zeros((12, 10, 9), np.int8)
    elif walls == "solid":
        flags = empty_box((12, 10, 9))
    else:
        flags = empty_box((12, 10))
        flags[:, -1] = linalg.AIR
    op = linalg.poisson_operator(flags, spacing=0.1, dtype=jnp.float64)
    b = op.project(jax.random.normal(jax.random.key(0), flags.shape, jnp.float64))
    x = dct_poisson_solver(op)(b)
    np.testing.assert_allclose(np.asarray(op.mv(x)), np.asarray(b), atol=1e-10 * float(jnp.abs(b).max()) * 100)
    # and against a sparse direct solve on the FLUID cells (up to the null space)
    import scipy.sparse.linalg as spla

    A = op.to_scipy()
    xs = spla.lsqr(A, np.asarray(op.fluid_values(b)), atol=1e-14, btol=1e-14, iter_lim=10000)[0]
    xd = np.asarray(op.fluid_values(op.project(x)))
    xs = xs - (xs.mean() if op.n_null else 0)
    np.testing.assert_allclose(xd, xs, atol=1e-7 * np.abs(xs).max())


def test_dct_rejects_obstacles():
    op = linalg.poisson_operator(disk_air(16, 2))
    with pytest.raises(ValueError, match="box"):
        dct_poisson_solver(op)


def _held_out(n):
    """A ball and a block inside a closed box with an air layer (not the benchmark's geometry)."""
    from sciml.dcdm import add_air_layer, sphere_obstacle

    f = sphere_obstacle((n,) * 3, centre=(0.3, 0.35, 0.4), radius=0.17)
    X, Y, Z = np.meshgrid(*[(np.arange(n) + 0.5) / n] * 3, indexing="ij")
    f[(X > 0.55) & (X < 0.85) & (Y > 0.45) & (Y < 0.8) & (Z > 0.15) & (Z < 0.55)] = linalg.SOLID
    return add_air_layer(f, thickness=0.125)


@pytest.mark.parametrize("smoother", ["rbgs", "chebyshev"])
def test_vcycle_3d_symmetric_positive_dense(smoother):
    flags = _held_out(8)
    op = linalg.poisson_operator(flags, dtype=jnp.float64)
    M = multigrid_preconditioner(op, coarsest_size=8, smoother=smoother)
    assert M.n_levels >= 2
    keep = np.asarray(op.mask).ravel()
    Mm = np.asarray(M.as_matrix())[np.ix_(keep, keep)]
    np.testing.assert_allclose(Mm, Mm.T, atol=1e-12 * np.abs(Mm).max())
    ev = np.linalg.eigvalsh(Mm)
    # positive on the range of A: exactly one zero eigenvalue per pure-Neumann (projected) component
    assert (ev <= 1e-12 * ev.max()).sum() == op.n_null and ev.min() > -1e-12 * ev.max()
    # a good preconditioner: the spectrum of M A is clustered (condition number far below A's)
    A = op.to_scipy().toarray()
    ev = np.sort(np.linalg.eigvals(Mm @ A).real)[op.n_null:]
    evA = np.linalg.eigvalsh(A)[op.n_null:]
    assert ev[-1] / ev[0] < 0.1 * evA[-1] / evA[0]


@pytest.mark.parametrize("smoother", ["rbgs", "chebyshev"])
def test_mg_pcg_held_out_geometry_float32_and_64(smoother):
    flags = _held_out(32)
    for dt in (jnp.float32, jnp.float64):
        op = linalg.poisson_operator(flags, spacing=1 / 32, dtype=dt)
        b = op.project(jnp.asarray(np.random.default_rng(0).normal(size=flags.shape), dt))
        sol = linalg.pcg(op, b, multigrid_preconditioner(op, smoother=smoother), rtol=1e-5)
        assert bool(sol.converged) and int(sol.iterations) <= 15, int(sol.iterations)
        assert sol.value.dtype == dt


def test_multigrid_as_lineax_preconditioner():
    import lineax as lx

    flags = disk_air(16, 3)
    op = linalg.poisson_operator(flags, dtype=jnp.float64)
    b = jnp.asarray(plume_rhs(flags))
    M = multigrid_preconditioner(op)
    assert lx.is_symmetric(M) and lx.is_positive_semidefinite(M)
    assert M.in_structure() == op.in_structure()
    # lineax scales its tolerance per entry, so atol must be > 0 (entries where b = 0)
    out = lx.linear_solve(op, b, lx.CG(rtol=1e-8, atol=1e-10), options={"preconditioner": M})
    ref = linalg.pcg(op, b, M, rtol=1e-8)
    assert 1 < int(out.stats["num_steps"]) <= 15
    np.testing.assert_allclose(np.asarray(op.project(out.value)), np.asarray(op.project(ref.value)),
                               atol=1e-6 * float(jnp.abs(ref.value).max()))


def test_gradient_through_mg_pcg_matches_finite_differences():
    flags = _held_out(12)
    op = linalg.poisson_operator(flags, spacing=0.1, dtype=jnp.float64)
    rng = np.random.default_rng(1)
    b = op.project(jnp.asarray(rng.normal(size=flags.shape)))
    w = op.project(jnp.asarray(rng.normal(size=flags.shape)))
    M = multigrid_preconditioner(op, coarsest_size=27)

    @jax.jit
    def loss(b, h):
        o = eqx.tree_at(lambda o: o.spacing, op, h)
        return jnp.vdot(w, linalg.pcg(o, b, M, rtol=1e-12).value)

    gb, gh = jax.jit(jax.grad(loss, argnums=(0, 1)))(b, op.spacing)
    d = op.project(jnp.asarray(rng.normal(size=flags.shape)))
    eps = 1e-4
    fd_b = (loss(b + eps * d, op.spacing) - loss(b - eps * d, op.spacing)) / (2 * eps)
    np.testing.assert_allclose(float(jnp.vdot(gb, d)), float(fd_b), rtol=1e-6)
    fd_h = (loss(b, op.spacing + eps) - loss(b, op.spacing - eps)) / (2 * eps)
    np.testing.assert_allclose(float(gh), float(fd_h), rtol=1e-5)


def test_multigrid_validates_arguments():
    op = linalg.poisson_operator(disk_air(16, 2))
    with pytest.raises(TypeError, match="`op`"):
        multigrid_preconditioner(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="`smoother`"):
        multigrid_preconditioner(op, smoother="sor")
    with pytest.raises(ValueError, match="`pre`"):
        multigrid_preconditioner(op, pre=1, post=2)
    with pytest.raises(ValueError, match="`pre`"):
        multigrid_preconditioner(op, pre=0, post=0)
    with pytest.raises(ValueError, match="`coarsening`"):
        multigrid_preconditioner(op, coarsening="any")
    with pytest.raises(TypeError, match="`boundary_sweeps`"):
        multigrid_preconditioner(op, boundary_sweeps=1.5)
    with pytest.raises(ValueError, match="`max_levels`"):
        multigrid_preconditioner(op, max_levels=1)
    with pytest.raises(ValueError, match="`rule`"):
        coarsen_flags(np.zeros((4, 4), np.int8), rule="x")
    M = multigrid_preconditioner(op, coarsest_size=16)
    with pytest.raises(ValueError, match="`r`"):
        M(jnp.zeros((3, 3)))


@pytest.mark.parametrize("flags", [disk_air(16, 2), empty_box((8, 8, 8))], ids=["disk-air-16^2", "closed-box-8^3"])
def test_grid_at_the_coarsest_size_gets_one_exact_level(flags):
    # a grid of at most `coarsest_size` cells is its own coarsest level: the preconditioner is the dense
    # pseudo-inverse, so PCG converges in one iteration to the sparse direct solution (projected on a closed box)
    import scipy.sparse.linalg as spla

    op = linalg.poisson_operator(flags, dtype=jnp.float64)
    b = jnp.asarray(plume_rhs(flags))
    M = multigrid_preconditioner(op)
    assert M.n_levels == 1
    sol = linalg.pcg(op, b, M, rtol=1e-10)
    assert bool(sol.converged) and int(sol.iterations) == 1
    mask = np.asarray(op.mask)
    A = op.to_scipy().tocsc()
    bf = np.asarray(op.project(b))[mask]
    if not np.any(flags == linalg.AIR):  # closed box: solutions differ by a constant; compare zero-mean ones
        x = spla.lsqr(A, bf, atol=1e-14, btol=1e-14)[0]
        x -= x.mean()
        got = np.asarray(sol.value)[mask]
        got -= got.mean()
    else:
        x, got = spla.spsolve(A, bf), np.asarray(sol.value)[mask]
    np.testing.assert_allclose(got, x, rtol=1e-8, atol=1e-10 * np.abs(x).max())
