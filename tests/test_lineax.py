"""lineax as a first-class partner: lineax's own solvers, queries and composition on sciml operators."""

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest
import scipy.sparse.linalg as spla

from sciml import linalg

from .helpers import random_flags, spd_matrix

TOL = {jnp.float32: 2e-4, jnp.float64: 1e-9}


def _op(dtype=jnp.float64, shape=(9, 10), seed=3, h=0.4):
    flags = random_flags(shape, seed, p_solid=0.2, p_air=0.1)
    flags[:, -1] = linalg.AIR
    return flags, linalg.poisson_operator(flags, spacing=h, dtype=dtype)


def _reference(op, b):
    """Sparse direct solve of the FLUID block; lineax's full-grid operator is the identity off FLUID."""
    mask = np.asarray(op.mask)
    b = np.asarray(b, np.float64)
    x = b.copy()
    x[mask] = spla.spsolve(op.to_scipy().tocsc(), b[mask])
    return x


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_lineax_cg_matches_sparse_direct_any_rhs(dtype):
    flags, op = _op(dtype)
    b = jnp.asarray(np.random.default_rng(0).normal(size=flags.shape), dtype)  # nonzero on SOLID/AIR too
    sol = lx.linear_solve(op, b, lx.CG(rtol=TOL[dtype] / 10, atol=TOL[dtype] / 10, max_steps=2000))
    ref = _reference(op, b)
    err = np.linalg.norm(np.asarray(sol.value, np.float64) - ref) / np.linalg.norm(ref)
    assert err < TOL[dtype] * 20
    # on FLUID cells it is sciml's own solution
    mine = linalg.cg(op, b, rtol=TOL[dtype] / 10)
    m = np.asarray(op.mask)
    np.testing.assert_allclose(np.asarray(sol.value)[m], np.asarray(mine.value)[m], rtol=0, atol=TOL[dtype] * 50 * np.abs(ref).max())


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_auto_linear_solver_well_posed_is_cholesky_and_correct(dtype):
    flags, op = _op(dtype, shape=(7, 8))
    assert isinstance(lx.AutoLinearSolver(well_posed=True).select_solver(op), lx.Cholesky)
    b = jnp.asarray(np.random.default_rng(1).normal(size=flags.shape), dtype)
    x = lx.linear_solve(op, b).value  # the default solver: AutoLinearSolver(well_posed=True)
    assert bool(jnp.isfinite(x).all())
    ref = _reference(op, b)
    assert np.linalg.norm(np.asarray(x, np.float64) - ref) / np.linalg.norm(ref) < TOL[dtype]
    # the matrix lineax factorises is symmetric and nonsingular
    A = np.asarray(op.as_matrix(), np.float64)
    np.testing.assert_array_equal(A, A.T)
    assert np.linalg.eigvalsh(A).min() > 0


def test_diagonal_is_flat_and_composition_with_identity():
    flags, op = _op()
    d = lx.diagonal(op)
    assert d.shape == (op.in_size(),)
    np.testing.assert_allclose(np.asarray(d), np.diag(np.asarray(op.as_matrix())), rtol=1e-14)
    eye = lx.IdentityLinearOperator(op.in_structure())
    shifted = op + eye
    np.testing.assert_allclose(np.asarray(lx.diagonal(shifted)), np.asarray(d) + 1, rtol=1e-14)
    assert lx.is_symmetric(shifted) and lx.is_positive_semidefinite(shifted)
    b = jnp.asarray(np.random.default_rng(2).normal(size=flags.shape))
    dense = np.asarray(op.as_matrix()) + np.eye(op.in_size())
    ref = np.linalg.solve(dense, np.asarray(b).ravel()).reshape(flags.shape)
    # sciml's PCG with lineax's composed operator and the Jacobi preconditioner of it
    sol = linalg.pcg(shifted, b, linalg.jacobi(shifted), rtol=1e-11)
    assert bool(sol.converged)
    np.testing.assert_allclose(np.asarray(sol.value), ref, atol=1e-9 * np.abs(ref).max())
    # lineax's own CG on the composed operator, with sciml's Jacobi as a lineax preconditioner
    jac = linalg.jacobi(shifted)
    P = lx.FunctionLinearOperator(jac, op.in_structure(), lx.positive_semidefinite_tag)
    lsol = lx.linear_solve(shifted, b, lx.CG(rtol=1e-11, atol=1e-11), options={"preconditioner": P})
    np.testing.assert_allclose(np.asarray(lsol.value), ref, atol=1e-8 * np.abs(ref).max())
    # the Jacobi preconditioner is 1/diag on the grid
    np.testing.assert_allclose(np.asarray(jac(jnp.ones(flags.shape))).ravel(), 1 / np.diag(dense), rtol=1e-14)


def test_grad_through_lineax_solve_with_cotangent_off_fluid():
    flags, op = _op(shape=(6, 7), seed=5)
    rng = np.random.default_rng(0)
    b = jnp.asarray(rng.normal(size=flags.shape))
    w = jnp.asarray(rng.normal(size=flags.shape))  # the cotangent is nonzero on SOLID/AIR cells
    assert float(jnp.abs(jnp.where(op.mask, 0, w)).max()) > 0

    def loss(b, h, solver):
        o = eqx.tree_at(lambda o: o.spacing, op, jnp.asarray(h))
        return jnp.sum(w * lx.linear_solve(o, b, solver).value)

    eps = 1e-6
    for solver in (lx.CG(rtol=1e-12, atol=1e-12, max_steps=5000), lx.AutoLinearSolver(well_posed=True)):
        f = jax.jit(lambda b, h: loss(b, h, solver))  # noqa: B023
        gb, gh = jax.jit(jax.grad(f, argnums=(0, 1)))(b, 0.4)
        assert bool(jnp.isfinite(gb).all())
        fd_h = (f(b, 0.4 + eps) - f(b, 0.4 - eps)) / (2 * eps)
        assert abs(float(gh) - float(fd_h)) < 1e-5 * max(1.0, abs(float(fd_h)))
        for i in (tuple(np.argwhere(flags == 0)[4]), tuple(np.argwhere(flags != 0)[1])):  # FLUID and not
            e = np.zeros(flags.shape)
            e[i] = 1
            fd_b = (f(b + eps * e, 0.4) - f(b - eps * e, 0.4)) / (2 * eps)
            assert abs(float(gb[i]) - float(fd_b)) < 1e-6 * max(1.0, abs(float(fd_b)))
        # the exact gradient w.r.t. b is A⁻ᵀ w with the full-grid matrix
        np.testing.assert_allclose(np.asarray(gb).ravel(), np.linalg.solve(np.asarray(op.as_matrix()).T,
                                                                           np.asarray(w).ravel()), atol=1e-8)


def test_pure_neumann_with_lineax():
    flags = np.zeros((8, 8), np.int8)
    flags[3:5, 3:5] = linalg.SOLID
    op = linalg.poisson_operator(flags, boundary="neumann", dtype=jnp.float64)
    assert op.n_null == 1
    b = jnp.asarray(np.random.default_rng(3).normal(size=flags.shape))
    mine = linalg.cg(op, b, rtol=1e-12, project_rhs=True)
    # the minimum-norm least-squares solution (SVD) is sciml's projected solution (plus b on SOLID cells)
    svd = lx.linear_solve(op, b, lx.AutoLinearSolver(well_posed=False)).value
    m = np.asarray(op.mask)
    np.testing.assert_allclose(np.asarray(svd)[m], np.asarray(mine.value)[m], atol=1e-9)
    np.testing.assert_allclose(np.asarray(svd)[~m], np.asarray(b)[~m], atol=1e-12)
    # lineax's CG on the projected right-hand side
    cg = lx.linear_solve(op, op.project(b), lx.CG(rtol=1e-12, atol=1e-12)).value
    np.testing.assert_allclose(np.asarray(op.project(cg)), np.asarray(mine.value), atol=1e-9)


def test_kronecker_with_lineax():
    K1, K2 = jnp.asarray(spd_matrix(5, 1)), jnp.asarray(spd_matrix(4, 2))
    K = linalg.KroneckerOperator([K1, K2], tags=[lx.positive_semidefinite_tag, lx.symmetric_tag])
    d = lx.diagonal(K)
    assert d.shape == (20,)
    np.testing.assert_allclose(np.asarray(d), np.diag(np.asarray(K.as_matrix())), rtol=1e-14)
    b = jnp.asarray(np.random.default_rng(0).normal(size=(5, 4)))
    x = lx.linear_solve(K, b).value
    np.testing.assert_allclose(np.asarray(x), np.asarray(K.solve(b)), rtol=1e-9, atol=1e-10)
    shifted = K + lx.IdentityLinearOperator(K.in_structure())
    sol = linalg.pcg(shifted, b, linalg.jacobi(shifted), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(sol.value), np.asarray(K.solve(b, shift=1.0)), rtol=1e-9, atol=1e-10)
