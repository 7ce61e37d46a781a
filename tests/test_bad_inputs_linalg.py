"""Bad inputs to every public entry point of `sciml.linalg` and `sciml.parallel`: each must raise the right
exception type, before compiling, with a message that names the offending argument."""

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from sciml import linalg, parallel

FLAGS = np.zeros((6, 6), np.int8)
FLAGS[:, -1] = linalg.AIR
OP = linalg.poisson_operator(FLAGS)
OP32 = linalg.poisson_operator(FLAGS, dtype=jnp.float32)
CLOSED = linalg.poisson_operator(np.zeros((4, 4), np.int8), boundary="neumann")
OBSTACLE = FLAGS.copy()
OBSTACLE[2, 2] = linalg.SOLID
B = jnp.ones((6, 6))
K1 = jnp.asarray(np.diag([2.0, 3.0, 4.0]))
K2 = jnp.asarray(np.diag([1.0, 5.0]))
KOP = linalg.KroneckerOperator([K1, K2])
DEVS = jax.devices()[:1]


def _mesh():
    return parallel.make_mesh((1,), ("x",), devices=DEVS)


def _mesh2():
    return parallel.make_mesh((1, 1), ("x", "y"), devices=DEVS)


def _nan(shape=(6, 6)):
    return jnp.full(shape, jnp.nan)


CASES = [
    # poisson_operator
    ("flags", TypeError, lambda: linalg.poisson_operator(np.zeros((4, 4)))),
    ("flags", TypeError, lambda: linalg.poisson_operator(np.zeros((4, 4), bool))),
    ("flags", ValueError, lambda: linalg.poisson_operator(np.zeros(8, np.int8))),
    ("flags", ValueError, lambda: linalg.poisson_operator(np.zeros((2, 2, 2, 2), np.int8))),
    ("flags", ValueError, lambda: linalg.poisson_operator(np.full((4, 4), 5, np.int8))),
    ("flags", ValueError, lambda: linalg.poisson_operator(np.full((4, 4), linalg.SOLID, np.int8))),
    ("flags", TypeError, lambda: jax.jit(linalg.poisson_operator)(jnp.zeros((4, 4), jnp.int8))),
    ("spacing", ValueError, lambda: linalg.poisson_operator(FLAGS, spacing=0.0)),
    ("spacing", ValueError, lambda: linalg.poisson_operator(FLAGS, spacing=-1.0)),
    ("spacing", ValueError, lambda: linalg.poisson_operator(FLAGS, spacing=float("nan"))),
    ("spacing", TypeError, lambda: linalg.poisson_operator(FLAGS, spacing="0.1")),
    ("boundary", ValueError, lambda: linalg.poisson_operator(FLAGS, boundary="periodic")),
    ("pure_neumann", ValueError, lambda: linalg.poisson_operator(FLAGS, pure_neumann="ignore")),
    ("dtype", TypeError, lambda: linalg.poisson_operator(FLAGS, dtype=jnp.int32)),
    ("dtype", TypeError, lambda: linalg.poisson_operator(FLAGS, dtype="banana")),
    # PoissonOperator methods
    ("vector", ValueError, lambda: OP.mv(jnp.ones((5, 6)))),
    ("vector", TypeError, lambda: OP.mv(jnp.ones((6, 6), jnp.int32))),
    ("x", ValueError, lambda: OP.project(jnp.ones((6,)))),
    ("v", ValueError, lambda: OP.from_fluid_values(jnp.ones(3))),
    ("weights", ValueError, lambda: linalg.stencil_apply(B, OP.mask, OP.diag, OP.weights[0], 1.0)),
    # cg / pcg / conjugate_directions
    ("op", TypeError, lambda: linalg.cg(np.eye(36), B)),
    ("op", ValueError, lambda: linalg.cg(lx.MatrixLinearOperator(jnp.ones((3, 3))), jnp.ones(3))),
    ("b", ValueError, lambda: linalg.cg(OP, jnp.ones((6, 5)))),
    ("b", TypeError, lambda: linalg.cg(OP, jnp.ones((6, 6), jnp.int32))),
    ("b", TypeError, lambda: linalg.cg(OP, "not an array")),
    ("b", ValueError, lambda: linalg.cg(OP, _nan())),
    ("b", TypeError, lambda: linalg.cg(OP, jnp.ones((6, 6), jnp.float32))),
    ("b", TypeError, lambda: linalg.cg(OP32, np.ones((6, 6)))),
    ("b", ValueError, lambda: linalg.cg(CLOSED, jnp.ones((4, 4)))),
    ("rtol", ValueError, lambda: linalg.cg(OP, B, rtol=-1e-6)),
    ("rtol", ValueError, lambda: linalg.cg(OP, B, rtol=float("nan"))),
    ("rtol", ValueError, lambda: linalg.cg(OP, B, rtol=1.5)),
    ("rtol", TypeError, lambda: linalg.cg(OP, B, rtol="1e-6")),
    ("atol", ValueError, lambda: linalg.cg(OP, B, atol=-1.0)),
    ("maxiter", ValueError, lambda: linalg.cg(OP, B, maxiter=0)),
    ("maxiter", TypeError, lambda: linalg.cg(OP, B, maxiter=2.5)),
    ("maxiter", TypeError, lambda: linalg.cg(OP, B, maxiter=True)),
    ("x0", ValueError, lambda: linalg.cg(OP, B, x0=jnp.zeros(36))),
    ("x0", ValueError, lambda: linalg.cg(OP, B, x0=_nan())),
    ("history", ValueError, lambda: linalg.cg(OP, B, history=0)),
    ("project_rhs", TypeError, lambda: linalg.cg(OP, B, project_rhs="yes")),
    ("preconditioner", TypeError, lambda: linalg.pcg(OP, B, "jacobi")),
    ("preconditioner", ValueError, lambda: linalg.pcg(OP, B, lx.MatrixLinearOperator(jnp.eye(4)))),
    ("direction_fn", TypeError, lambda: linalg.conjugate_directions(OP, B, None)),
    ("k_orth", ValueError, lambda: linalg.conjugate_directions(OP, B, lambda r: r, k_orth=-1)),
    ("k_orth", TypeError, lambda: linalg.conjugate_directions(OP, B, lambda r: r, k_orth=1.5)),
    ("refresh_every", ValueError, lambda: linalg.conjugate_directions(OP, B, lambda r: r, refresh_every=-2)),
    ("safeguard", ValueError, lambda: linalg.conjugate_directions(OP, B, lambda r: r, safeguard="newton")),
    ("stall_tol", ValueError, lambda: linalg.conjugate_directions(OP, B, lambda r: r, stall_tol=-1.0)),
    ("stall_window", ValueError, lambda: linalg.conjugate_directions(OP, B, lambda r: r, stall_window=-1)),
    ("stall_progress", ValueError, lambda: linalg.conjugate_directions(OP, B, lambda r: r, stall_progress=0.0)),
    ("stall_progress", ValueError, lambda: linalg.conjugate_directions(OP, B, lambda r: r, stall_progress=2.0)),
    ("op", TypeError, lambda: linalg.jacobi(np.eye(3))),
    # Kronecker
    ("factors", ValueError, lambda: linalg.KroneckerOperator([])),
    ("factors", TypeError, lambda: linalg.KroneckerOperator(K1)),
    ("factors[0]", ValueError, lambda: linalg.KroneckerOperator([jnp.ones(3)])),
    ("factors[1]", TypeError, lambda: linalg.KroneckerOperator([K1, jnp.ones((2, 2), jnp.int32)])),
    ("factors[0]", ValueError, lambda: linalg.KroneckerOperator([jnp.full((2, 2), jnp.nan)])),
    ("factors[0]", ValueError, lambda: linalg.KroneckerOperator([jnp.ones((0, 2))])),
    ("factors", TypeError, lambda: linalg.KroneckerOperator([K1, K2.astype(jnp.float32)])),
    ("factors[0]", ValueError, lambda: linalg.KroneckerSumOperator([jnp.ones((2, 3))])),
    ("tags", TypeError, lambda: linalg.KroneckerOperator([K1], tags=5)),
    ("shift", ValueError, lambda: KOP.solve(jnp.ones((3, 2)), shift=-1.0)),
    ("shift", ValueError, lambda: KOP.logdet(shift=float("nan"))),
    ("shift", TypeError, lambda: KOP.solve(jnp.ones((3, 2)), shift="big")),
    ("b", ValueError, lambda: KOP.solve(jnp.ones((2, 3)))),
    ("b", ValueError, lambda: KOP.solve(_nan((3, 2)))),
    ("factors[0]", ValueError, lambda: linalg.KroneckerOperator([jnp.asarray([[1.0, 2.0], [0.0, 1.0]])]).solve(
        jnp.ones(2))),
    ("x", ValueError, lambda: KOP.mv(jnp.ones((4, 4)))),
    ("factors[1]", ValueError, lambda: linalg.kron_mv([K1, K1], jnp.ones((3, 2)))),
    ("X", ValueError, lambda: linalg.kron_mv([K1, K2], jnp.ones(6))),
    # Lanczos
    ("k", ValueError, lambda: linalg.lanczos(OP, B, 0)),
    ("k", ValueError, lambda: linalg.lanczos(OP, B, 37)),
    ("k", TypeError, lambda: linalg.lanczos(OP, B, 2.0)),
    ("k", ValueError, lambda: linalg.ritz_vectors(lambda v: v, jnp.ones(3), 4)),
    ("v0", TypeError, lambda: linalg.lanczos(OP, jnp.ones((6, 6), jnp.int32), 3)),
    ("v0", ValueError, lambda: linalg.lanczos(OP, jnp.zeros((6, 6)), 3)),
    ("v0", ValueError, lambda: linalg.lanczos(OP, _nan(), 3)),
    ("v0", ValueError, lambda: linalg.lanczos(OP, jnp.ones(36), 3)),
    ("op", TypeError, lambda: linalg.lanczos(np.eye(3), jnp.ones(3), 2)),
    # fast Poisson
    ("op", TypeError, lambda: linalg.dct_poisson_solver(KOP)),
    ("op", ValueError, lambda: linalg.dct_poisson_solver(linalg.poisson_operator(OBSTACLE))),
    ("b", ValueError, lambda: linalg.dct_poisson_solver(OP)(jnp.ones((5, 5)))),
    ("b", ValueError, lambda: linalg.dct_poisson_solve(OP, _nan())),
    # parallel
    ("shape", ValueError, lambda: parallel.make_mesh((0,), ("x",), devices=DEVS)),
    ("shape", ValueError, lambda: parallel.make_mesh((3,), ("x",), devices=DEVS)),
    ("shape", TypeError, lambda: parallel.make_mesh((2.5,), ("x",), devices=DEVS)),
    ("shape", TypeError, lambda: parallel.make_mesh(1, ("x",), devices=DEVS)),
    ("axis_names", TypeError, lambda: parallel.make_mesh((1,), "data", devices=DEVS)),
    ("axis_names", ValueError, lambda: parallel.make_mesh((1, 1), ("x", "x"), devices=DEVS)),
    ("devices", TypeError, lambda: parallel.make_mesh((1,), ("x",), devices=["cpu0"])),
    ("mesh", TypeError, lambda: parallel.shard_batch({"x": jnp.ones(4)}, "mesh")),
    ("axis", ValueError, lambda: parallel.shard_batch({"x": jnp.ones(4)}, _mesh(), axis="data")),
    ("mesh", TypeError, lambda: parallel.replicate({"x": jnp.ones(4)}, None)),
    ("op", TypeError, lambda: parallel.sharded_cg(KOP, jnp.ones((3, 2)), _mesh())),
    ("op", ValueError, lambda: parallel.sharded_cg(CLOSED, jnp.zeros((4, 4)), _mesh())),
    ("mesh", TypeError, lambda: parallel.sharded_cg(OP, B, ("x",))),
    ("partition", ValueError, lambda: parallel.sharded_cg(OP, B, _mesh(), ("z",))),
    ("partition", TypeError, lambda: parallel.sharded_cg(OP, B, _mesh(), "x")),
    ("partition", ValueError, lambda: parallel.sharded_cg(OP, B, _mesh2(), ("x", "x"))),
    ("partition", ValueError, lambda: parallel.sharded_cg(OP, B, _mesh(), ("x", None, None))),
    ("rtol", ValueError, lambda: parallel.sharded_cg(OP, B, _mesh(), rtol=-1.0)),
    ("maxiter", ValueError, lambda: parallel.sharded_cg(OP, B, _mesh(), maxiter=0)),
    ("b", ValueError, lambda: parallel.sharded_cg(OP, jnp.ones((6, 5)), _mesh())),
    ("b", ValueError, lambda: parallel.sharded_cg(OP, _nan(), _mesh())),
    ("b", TypeError, lambda: parallel.sharded_cg(OP, B.astype(jnp.float32), _mesh())),
    ("jacobi", TypeError, lambda: parallel.sharded_cg(OP, B, _mesh(), jacobi="yes")),
    ("x", ValueError, lambda: parallel.sharded_mv(OP, jnp.ones((6,)), _mesh())),
    ("op", TypeError, lambda: parallel.sharded_mv(np.eye(36), B, _mesh())),
    ("num_processes", ValueError, lambda: parallel.initialize("127.0.0.1:1", num_processes=0, process_id=0)),
    ("process_id", ValueError, lambda: parallel.initialize("127.0.0.1:1", num_processes=2, process_id=2)),
    ("process_id", TypeError, lambda: parallel.initialize("127.0.0.1:1", num_processes=2, process_id="0")),
    ("coordinator_address", ValueError, lambda: parallel.initialize(12345, num_processes=1, process_id=0)),
    ("cpu_collectives", ValueError, lambda: parallel.initialize("127.0.0.1:1", 1, 0, cpu_collectives="nccl")),
]


@pytest.mark.parametrize("arg, exc, call", CASES, ids=[f"{i}-{c[0]}" for i, c in enumerate(CASES)])
def test_bad_input_names_argument(arg, exc, call):
    with pytest.raises(exc, match=f"`{arg}`".replace("[", r"\[").replace("]", r"\]")):
        call()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(3, 9), min_size=2, max_size=3), st.integers(-3, 12), st.integers(0, 10_000))
def test_flags_with_any_unknown_value_refused(shape, bad, seed):
    if bad in (linalg.FLUID, linalg.SOLID, linalg.AIR):
        bad = 7
    flags = np.zeros(shape, np.int8)
    flat = flags.reshape(-1)
    flat[np.random.default_rng(seed).integers(flat.size)] = bad
    with pytest.raises(ValueError, match="`flags`"):
        linalg.poisson_operator(flags)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 7), min_size=1, max_size=3))
def test_rhs_of_any_other_shape_refused(shape):
    if tuple(shape) == (6, 6):
        shape = [6, 7]
    with pytest.raises(ValueError, match="`b`"):
        linalg.cg(OP, jnp.ones(shape))


@settings(max_examples=25, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_tolerances_outside_range_refused(rtol):
    if np.isfinite(rtol) and 0 <= rtol < 1:
        return
    with pytest.raises(ValueError, match="`rtol`"):
        linalg.cg(OP, B, rtol=rtol)
