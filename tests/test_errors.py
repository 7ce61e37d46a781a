"""Each bad input raises a ValueError/TypeError naming the argument and the expectation, before compiling."""

import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest

from sciml import linalg, pde


def _op():
    return linalg.poisson_operator(np.zeros((6, 6), np.int8), dtype=jnp.float64)


def test_flags_wrong_dtype():
    with pytest.raises(TypeError, match="`flags` must be an integer array"):
        linalg.poisson_operator(np.zeros((4, 4), np.float32))


def test_flags_wrong_rank():
    with pytest.raises(ValueError, match="`flags` must be a 2D or 3D grid"):
        linalg.poisson_operator(np.zeros((4,), np.int8))


def test_flags_bad_values():
    with pytest.raises(ValueError, match="`flags` values must be"):
        linalg.poisson_operator(np.full((4, 4), 7, np.int8))


def test_all_solid_grid():
    with pytest.raises(ValueError, match="no FLUID cell"):
        linalg.poisson_operator(np.ones((4, 4), np.int8))


def test_bad_spacing():
    with pytest.raises(ValueError, match="`spacing` must be a positive"):
        linalg.poisson_operator(np.zeros((4, 4), np.int8), spacing=0.0)


def test_rhs_shape_mismatch():
    with pytest.raises(ValueError, match=r"`b` must have the operator's shape \(6, 6\)"):
        linalg.cg(_op(), jnp.ones((5, 6)))


def test_rhs_integer_dtype():
    with pytest.raises(TypeError, match="`b` must be a floating-point array"):
        linalg.cg(_op(), jnp.ones((6, 6), jnp.int32))


def test_rhs_non_finite():
    b = jnp.ones((6, 6)).at[2, 3].set(jnp.nan)
    with pytest.raises(ValueError, match="`b` must be finite; it has 1 NaN/Inf"):
        linalg.cg(_op(), b)


def test_x0_shape_mismatch():
    with pytest.raises(ValueError, match="`x0` must have the operator's shape"):
        linalg.cg(_op(), jnp.ones((6, 6)), x0=jnp.ones(3))


def test_non_spd_operator_hint():
    op = lx.MatrixLinearOperator(jnp.asarray(np.random.default_rng(0).normal(size=(4, 4))))
    with pytest.raises(ValueError, match="symmetric positive definite.*positive_semidefinite_tag"):
        linalg.cg(op, jnp.ones(4))


def test_bad_maxiter():
    with pytest.raises(ValueError, match="`maxiter` must be a positive integer"):
        linalg.cg(_op(), jnp.ones((6, 6)), maxiter=0)


def test_bad_preconditioner():
    with pytest.raises(TypeError, match="`preconditioner` must be a lineax operator or a callable"):
        linalg.pcg(_op(), jnp.ones((6, 6)), preconditioner=3.0)


def test_kronecker_vector_size_mismatch():
    K = linalg.KroneckerOperator([jnp.eye(3), jnp.eye(4)])
    with pytest.raises(ValueError, match=r"`x` must have the grid shape \(3, 4\) or be flat \(12,\)"):
        K.mv(jnp.ones((4, 3)))


def test_kronecker_factor_not_matrix():
    with pytest.raises(ValueError, match=r"`factors\[1\]` must be a 2D matrix"):
        linalg.KroneckerOperator([jnp.eye(3), jnp.ones(4)])


def test_kronecker_non_symmetric_solve():
    K = linalg.KroneckerOperator([jnp.asarray([[1.0, 2.0], [0.0, 1.0]]), jnp.eye(2)])
    with pytest.raises(ValueError, match=r"`factors\[0\]` must be symmetric"):
        K.solve(jnp.ones((2, 2)), shift=1.0)


def test_box_bad_bounds():
    with pytest.raises(ValueError, match="`lower` must be < `upper`"):
        pde.Box([0.0, 1.0], [1.0, 0.5])
    with pytest.raises(ValueError, match="equal length"):
        pde.Box([0.0], [1.0, 2.0])


def test_problem_bad_domain():
    with pytest.raises(TypeError, match="`domain` must be a sciml.pde domain"):
        pde.Problem(domain=(0, 1), residual=lambda u, x: u.value)


def test_lanczos_bad_k():
    with pytest.raises(ValueError, match="`k` .* cannot exceed"):
        linalg.lanczos(lambda v: v, jnp.ones(4), 5)
