"""Tests for the classical anchors: geometric multigrid V-cycle (MG-PCG) and the exact DCT Poisson solve."""

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


def test_vcycle_is_symmetric_positive():
    flags = disk_air(16, 2)
    op = linalg.poisson_operator(flags, dtype=jnp.float64)
    M = multigrid_preconditioner(op, coarsest_size=16)
    assert M.n_levels >= 3
    mask = np.asarray(op.mask)
    n = mask.size
    E = jnp.eye(n).reshape((n,) + flags.shape)
    Mm = np.asarray(jax.vmap(M)(E)).reshape(n, n)[np.ix_(mask.ravel(), mask.ravel())]
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
