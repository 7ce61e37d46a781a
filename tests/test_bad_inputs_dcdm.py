"""Bad inputs to the public `sciml.dcdm` entry points raise ValueError/TypeError naming the argument, before any
compilation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml import dcdm, linalg


@pytest.fixture(scope="module")
def small():
    flags = dcdm.disk_air(8, 2)
    op = linalg.poisson_operator(flags, dtype=jnp.float32)
    b = jnp.asarray(dcdm.plume_rhs(flags), jnp.float32)
    return flags, op, b


@pytest.mark.parametrize("kwargs,exc,name", [
    (dict(ndim=4), ValueError, "ndim"),
    (dict(ndim=True), ValueError, "ndim"),
    (dict(variant="256"), ValueError, "variant"),
    (dict(variant="fast", channels=0), ValueError, "channels"),
    (dict(channels=2.5), TypeError, "channels"),
])
def test_network_args(kwargs, exc, name):
    with pytest.raises(exc, match=name):
        dcdm.DCDMNet(key=jax.random.key(0), **kwargs)


def test_matrix_net_args():
    with pytest.raises(ValueError, match="matrix"):
        dcdm.MatrixNet(jnp.ones((3, 4)))
    with pytest.raises(TypeError, match="matrix"):
        dcdm.MatrixNet(np.ones((3, 3), np.int32))


@pytest.mark.parametrize("kwargs,exc,name", [
    (dict(rtol=-1.0), ValueError, "rtol"),
    (dict(rtol="tight"), TypeError, "rtol"),
    (dict(atol=float("nan")), ValueError, "atol"),
    (dict(maxiter=0), ValueError, "maxiter"),
    (dict(maxiter=2.5), TypeError, "maxiter"),
    (dict(k_orth=-1), ValueError, "k_orth"),
    (dict(refresh_every=-2), ValueError, "refresh_every"),
    (dict(safeguard="sor"), ValueError, "safeguard"),
    (dict(stall_tol=-1e-3), ValueError, "stall_tol"),
    (dict(stall_window=1.5), TypeError, "stall_window"),
    (dict(x0=jnp.zeros((3, 3))), ValueError, "x0"),
])
def test_solve_keyword_args(small, kwargs, exc, name):
    _, op, b = small
    with pytest.raises(exc, match=name):
        dcdm.solve(dcdm.IdentityNet(), op, b, **kwargs)


def test_solve_positional_args(small):
    flags, op, b = small
    with pytest.raises(TypeError, match="net"):
        dcdm.solve("not a net", op, b)
    with pytest.raises(TypeError, match="op"):
        dcdm.solve(dcdm.IdentityNet(), np.eye(64), b)
    with pytest.raises(ValueError, match="`b`"):
        dcdm.solve(dcdm.IdentityNet(), op, b[:4])
    with pytest.raises(TypeError, match="`b`"):
        dcdm.solve(dcdm.IdentityNet(), op, jnp.ones(op.shape, jnp.int32))
    with pytest.raises(ValueError, match="`b`"):
        dcdm.solve(dcdm.IdentityNet(), op, b.at[2, 2].set(jnp.nan))


def test_training_args(small):
    flags, op, b = small
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="loss"):
        dcdm.train(op, key=key, steps=1, loss="l2", progress=False)
    with pytest.raises(ValueError, match="steps"):
        dcdm.train(op, key=key, steps=-1, progress=False)
    with pytest.raises(ValueError, match="learning_rate"):
        dcdm.train(op, key=key, steps=1, learning_rate=0.0, progress=False)
    with pytest.raises(TypeError, match="optimizer"):
        dcdm.train(op, key=key, steps=1, optimizer="adam", progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        dcdm.train(op, key=key, steps=1, batch_size=0, progress=False)
    with pytest.raises(TypeError, match="data"):
        dcdm.train(op, key=key, steps=1, data=np.ones((4, 8, 8)), progress=False)
    # former parameters name their new home; unknown or reserved `fit` keywords are refused before compiling
    with pytest.raises(TypeError, match=r"no longer takes `ndim`.*DCDMNet"):
        dcdm.train(op, key=key, steps=1, ndim=3, progress=False)
    with pytest.raises(TypeError, match=r"no longer takes `n_lanczos`.*ritz_training_data"):
        dcdm.train(op, key=key, steps=1, n_lanczos=10, progress=False)
    with pytest.raises(TypeError, match=r"unexpected keyword argument `chekpoint_dir`.*checkpoint_dir"):
        dcdm.train(op, key=key, steps=1, chekpoint_dir="x", progress=False)
    with pytest.raises(TypeError, match="`description` itself"):
        dcdm.train(op, key=key, steps=1, description="x", progress=False)
    with pytest.raises(ValueError, match="3D DCDMNet.*2D"):
        dcdm.train(op, key=key, steps=1, net=dcdm.DCDMNet(ndim=3, key=key), progress=False)
    with pytest.raises(TypeError, match="key"):
        dcdm.train(op, key=0, steps=1, progress=False)
    with pytest.raises(TypeError, match="op"):
        dcdm.train("box", key=key, steps=1, progress=False)


def test_data_and_loss_args(small):
    flags, op, b = small
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="n_lanczos"):
        dcdm.ritz_training_data(op, key=key, n_lanczos=1)
    with pytest.raises(ValueError, match="n_samples"):
        dcdm.ritz_training_data(op, key=key, n_lanczos=10, n_samples=0)
    with pytest.raises(ValueError, match="low_weight"):
        dcdm.ritz_training_data(op, key=key, n_lanczos=10, low_weight=-9.0)
    with pytest.raises(ValueError, match="norm"):
        dcdm.dcdm_loss(dcdm.IdentityNet(), op, b[None], norm="l1")
    with pytest.raises(ValueError, match="`b`"):
        dcdm.dcdm_loss(dcdm.IdentityNet(), op, b)  # one grid, not a batch


@pytest.mark.parametrize("call,exc,name", [
    (lambda: dcdm.empty_box((4, 4, 4, 4)), ValueError, "shape"),
    (lambda: dcdm.empty_box((4, -1)), ValueError, "shape"),
    (lambda: dcdm.empty_box("big"), TypeError, "shape"),
    (lambda: dcdm.sphere_obstacle((8, 8), radius=-0.1), ValueError, "radius"),
    (lambda: dcdm.sphere_obstacle((8, 8), centre=(0.5,)), ValueError, "centre"),
    (lambda: dcdm.box_obstacle((8, 8), lower=(0.6, 0.6), upper=(0.4, 0.8)), ValueError, "lower"),
    (lambda: dcdm.box_obstacle((8, 8), lower=(0.1, 0.1, 0.1), upper=(0.4, 0.8)), ValueError, "lower"),
    (lambda: dcdm.add_air_layer(dcdm.empty_box(8), thickness=1.5), ValueError, "thickness"),
    (lambda: dcdm.add_air_layer(dcdm.empty_box(8), axis=3), ValueError, "axis"),
    (lambda: dcdm.add_air_layer(np.zeros((8, 8)), thickness=2), TypeError, "flags"),
    (lambda: dcdm.random_obstacles(jax.random.key(0), 8, n_obstacles=-1), ValueError, "n_obstacles"),
    (lambda: dcdm.random_obstacles(jax.random.key(0), 8, radius_range=(0.3, 0.1)), ValueError, "radius_range"),
    (lambda: dcdm.disk_air(2), ValueError, "`n`"),
    (lambda: dcdm.disk_air(16, ndim=1), ValueError, "ndim"),
    (lambda: dcdm.plume_rhs(np.zeros(8, np.int8)), ValueError, "flags"),
    (lambda: dcdm.plume_rhs(dcdm.empty_box(8), jax.random.key(0), n_blobs=-2), ValueError, "n_blobs"),
    (lambda: dcdm.project_range(np.ones((4, 4)), dcdm.empty_box(8)), ValueError, "`b`"),
])
def test_geometry_args(call, exc, name):
    with pytest.raises(exc, match=name):
        call()
