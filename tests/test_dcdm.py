"""Tests for sciml.dcdm: architecture, geometry, exactness of the conjugate-direction loop, training."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml import dcdm, linalg


@pytest.mark.parametrize("variant,count", [("64", 97_457), ("128", 152_881)])
def test_parameter_counts_3d(variant, count):
    skeleton = eqx.filter_eval_shape(dcdm.DCDMNet, ndim=3, variant=variant, key=jax.random.key(0))
    assert dcdm.count_parameters(skeleton) == count


def test_parameter_counts_2d_and_any_grid_size():
    net = dcdm.DCDMNet(ndim=2, variant="64", key=jax.random.key(0))
    # 1->16 (3x3) + 14 x 16->16 (3x3) + 16->1 (1x1), biases included
    assert dcdm.count_parameters(net) == (9 * 16 + 16) + 14 * (9 * 256 + 16) + 17
    for shape in [(13, 10)]:
        r = jnp.ones(shape, jnp.float32)
        q = net(r)
        assert q.shape == shape and q.dtype == jnp.float32


def test_bf16_compute_close_to_fp32():
    key = jax.random.key(0)
    net = dcdm.DCDMNet(ndim=2, variant="64", key=key)
    net16 = dcdm.DCDMNet(ndim=2, variant="64", key=key, compute_dtype=jnp.bfloat16)
    r = jax.random.normal(jax.random.key(1), (16, 16), jnp.float32)
    q, q16 = net(r), net16(r)
    assert q16.dtype == jnp.float32
    assert float(jnp.linalg.norm(q - q16) / jnp.linalg.norm(q)) < 0.05


def test_geometry_generators():
    box = dcdm.empty_box((10, 12))
    assert box.dtype == np.int8 and (box[0] == linalg.SOLID).all() and (box[1:-1, 1:-1] == linalg.FLUID).all()
    f = dcdm.disk_air(32, 2)
    assert (f == linalg.AIR).any() and (f == linalg.SOLID).sum() > box.size * 0  # obstacle + walls
    assert f[16, 16] == linalg.SOLID  # the disk centre
    f3 = dcdm.random_obstacles(jax.random.key(0), (16, 16, 16), n_obstacles=3, air=2)
    assert f3.shape == (16, 16, 16) and (f3 == linalg.AIR).any()
    # plume RHS: unit norm, zero off FLUID, zero mean on a pure-Neumann box (in the range of A)
    b = dcdm.plume_rhs(box)
    assert abs(np.linalg.norm(b) - 1) < 1e-12 and np.all(b[box != linalg.FLUID] == 0)
    assert abs(b.sum()) < 1e-12
    op = linalg.poisson_operator(box)
    np.testing.assert_allclose(np.asarray(op.project(jnp.asarray(b))), b, atol=1e-12)
    b2 = dcdm.plume_rhs(f, jax.random.key(2))
    assert abs(np.linalg.norm(b2) - 1) < 1e-12


@pytest.fixture(scope="module")
def disk64():
    flags = dcdm.disk_air(64, 2)
    op = linalg.poisson_operator(flags, dtype=jnp.float64)
    b = jnp.asarray(dcdm.plume_rhs(flags))
    A = op.to_scipy().toarray()
    mask = np.asarray(op.mask).ravel()
    n = mask.size
    Ainv = np.zeros((n, n))
    Ainv[np.ix_(mask, mask)] = np.linalg.inv(A)
    return op, b, Ainv


def test_identity_network_reproduces_cg(disk64):
    op, b, _ = disk64
    cg = linalg.cg(op, b, rtol=1e-6)
    sol = dcdm.solve(dcdm.IdentityNet(), op, b, rtol=1e-6, maxiter=1000, stall_window=0)
    assert bool(sol.converged) and int(sol.safeguard_steps) == 0
    assert abs(int(sol.iterations) - int(cg.iterations)) <= 1


def test_exact_inverse_converges_in_one(disk64):
    op, b, Ainv = disk64
    sol = dcdm.solve(dcdm.MatrixNet(jnp.asarray(Ainv)), op, b, rtol=1e-6)
    assert int(sol.iterations) == 1 and bool(sol.converged)


def test_perturbed_inverse_converges_fast():
    # A^-1 with a 30 % random non-symmetric perturbation, relative in the A-norm:
    # M = A^-1/2 (I + 0.3 G) A^-1/2 with ||G||_2 ~ 1 (Gaussian / 2 sqrt(n)); 32^2 disk+air keeps eigh cheap
    flags = dcdm.disk_air(32, 2)
    op = linalg.poisson_operator(flags, dtype=jnp.float64)
    b = jnp.asarray(dcdm.plume_rhs(flags))
    w, V = np.linalg.eigh(op.to_scipy().toarray())
    S = (V / np.sqrt(w)) @ V.T  # A^-1/2 on the FLUID cells
    nf = S.shape[0]
    G = np.random.default_rng(0).standard_normal((nf, nf)) / (2 * np.sqrt(nf))
    Mf = S @ (np.eye(nf) + 0.3 * G) @ S
    mask = np.asarray(op.mask).ravel()
    M = np.zeros((mask.size, mask.size))
    M[np.ix_(mask, mask)] = Mf
    sol = dcdm.solve(dcdm.MatrixNet(jnp.asarray(M)), op, b, rtol=1e-6)
    assert bool(sol.converged) and int(sol.iterations) <= 20
    assert int(sol.safeguard_steps) == 0


def test_safeguard_unfreezes_a_stalling_direction():
    # A direction map that only ever returns the same vector freezes DCDM exactly after one step
    flags = dcdm.disk_air(16, 2)
    op = linalg.poisson_operator(flags, dtype=jnp.float64)
    b = jnp.asarray(dcdm.plume_rhs(flags))
    const = jnp.asarray(dcdm.plume_rhs(flags, jax.random.key(5)))
    frozen = dcdm.solve(lambda r: const, op, b, rtol=1e-6, maxiter=50, safeguard=False)
    assert not bool(frozen.converged)
    sol = dcdm.solve(lambda r: const, op, b, rtol=1e-6, maxiter=400)
    assert bool(sol.converged) and int(sol.safeguard_steps) >= 1


def test_vmap_and_jit_over_rhs():
    flags = dcdm.disk_air(16, 2)
    op = linalg.poisson_operator(flags, dtype=jnp.float64)
    B = jnp.stack([jnp.asarray(dcdm.plume_rhs(flags, jax.random.key(i))) for i in range(3)])
    net = dcdm.DCDMNet(ndim=2, variant="64", key=jax.random.key(0))
    f = jax.jit(jax.vmap(lambda b: dcdm.solve(net, op, b, rtol=1e-6, maxiter=30)))
    sols = f(B)
    assert sols.iterations.shape == (3,)
    for i in range(3):
        s = dcdm.solve(net, op, B[i], rtol=1e-6, maxiter=30)
        np.testing.assert_allclose(np.asarray(s.value), np.asarray(sols.value[i]), rtol=1e-6, atol=1e-9)
        assert abs(int(s.iterations) - int(sols.iterations[i])) <= 1
        assert bool(s.converged) == bool(sols.converged[i])


def _disk_air_exact_inverse():
    """16^2 disk+air operator (float64), its dense pseudo-inverse on FLUID cells, and two plume RHS."""
    flags = dcdm.disk_air(16, 2)
    op = linalg.poisson_operator(flags, dtype=jnp.float64)
    mask = np.asarray(op.mask).ravel()
    Ainv = np.zeros((mask.size, mask.size))
    Ainv[np.ix_(mask, mask)] = np.linalg.inv(op.to_scipy().toarray())
    B = jnp.stack([jnp.asarray(dcdm.plume_rhs(flags, k)) for k in (None, jax.random.key(1))])
    return op, Ainv, B


def test_loss_is_scale_invariant_and_zero_for_exact_inverse():
    op, Ainv, B = _disk_air_exact_inverse()
    exact = dcdm.MatrixNet(jnp.asarray(Ainv))
    assert float(dcdm.dcdm_loss(exact, op, B)) < 1e-20
    net = dcdm.DCDMNet(ndim=2, variant="64", key=jax.random.key(0), dtype=jnp.float64)
    l1 = dcdm.dcdm_loss(net, op, B)
    l2 = dcdm.dcdm_loss(lambda r: -7.0 * net(r), op, B)
    assert float(l1) > 0 and abs(float(l1) - float(l2)) < 1e-10 * float(l1)


def test_ritz_data_weights_and_norms():
    flags = dcdm.disk_air(16, 2)
    op = linalg.poisson_operator(flags, dtype=jnp.float64)
    data = dcdm.ritz_training_data(op, key=jax.random.key(0), n_lanczos=60, n_samples=8, theta=5)
    m = data.values.shape[0]
    assert m == 60 and bool(jnp.all(jnp.diff(data.values) >= 0))
    assert int((data.weights == 9.0).sum()) == 35
    norms = jnp.linalg.norm(data.samples.reshape(8, -1), axis=1)
    np.testing.assert_allclose(np.asarray(norms), 1.0, rtol=1e-5)
    # the extreme Ritz values converge first: compare with the exact spectrum
    lam = np.linalg.eigvalsh(op.to_scipy().toarray())
    np.testing.assert_allclose(float(data.values[0]), lam[0], rtol=1e-6)
    np.testing.assert_allclose(float(data.values[-1]), lam[-1], rtol=1e-6)
    v = data.vectors[0].astype(jnp.float64)
    assert float(jnp.linalg.norm(op.mv(v) - data.values[0] * v)) < 1e-4 * lam[-1]


@pytest.mark.parametrize("loss", ["residual", "energy"])
def test_training_reduces_loss_and_pretrained_roundtrip(tmp_path, loss):
    flags = dcdm.disk_air(16, 2)
    op = linalg.poisson_operator(flags, dtype=jnp.float32)
    data = dcdm.ritz_training_data(op, key=jax.random.split(jax.random.key(0), 3)[1], n_lanczos=80)
    res = dcdm.train(op, key=jax.random.key(0), steps=60, data=data, batch_size=8,
                     learning_rate=1e-3, loss=loss, progress=False)
    losses = np.asarray(res.losses)
    assert losses[-10:].mean() < 0.7 * losses[:5].mean()
    if loss == "energy":
        assert 0 <= losses.min() and losses.max() <= 1 + 1e-5
        with pytest.raises(ValueError, match="loss"):
            dcdm.train(op, key=jax.random.key(0), steps=1, loss="l2", progress=False)
    path = dcdm.save_pretrained(res.model, "tiny", {"steps": 60}, directory=tmp_path)
    net = dcdm.load_pretrained("tiny", directory=tmp_path)
    r = jnp.asarray(dcdm.plume_rhs(flags), jnp.float32)
    np.testing.assert_array_equal(np.asarray(net(r)), np.asarray(res.model(r)))
    assert dcdm.pretrained_recipe("tiny", directory=tmp_path) == {"steps": 60}
    assert path.exists()


def test_energy_loss_bounds_and_invariance():
    # energy loss = 1 - cos^2 of the A-angle between q and A^-1 b: 0 for the exact inverse, in [0, 1],
    # invariant to the scale and sign of q
    op, Ainv, B = _disk_air_exact_inverse()
    loss = jax.jit(lambda M: dcdm.dcdm_loss(dcdm.MatrixNet(M), op, B, norm="energy", rtol=1e-12))
    assert abs(float(loss(jnp.asarray(Ainv)))) < 1e-10
    M = Ainv + 0.3 * np.abs(Ainv).max() * np.random.default_rng(0).standard_normal(Ainv.shape)
    e1, e2 = float(loss(jnp.asarray(M))), float(loss(jnp.asarray(-3.0 * M)))
    assert 0 < e1 <= 1 and abs(e1 - e2) < 1e-10
    # identity = one steepest-descent step: energy loss 1 - (b'b)^2 / (b'Ab b'A^-1b), by hand
    b = np.asarray(B[0]).ravel()[np.asarray(op.mask).ravel()]
    A = op.to_scipy().toarray()
    want = 1 - (b @ b) ** 2 / ((b @ A @ b) * (b @ np.linalg.solve(A, b)))
    got = float(jax.jit(lambda B: dcdm.dcdm_loss(dcdm.IdentityNet(), op, B, norm="energy", rtol=1e-12))(B[:1]))
    np.testing.assert_allclose(got, want, rtol=1e-8)
    with pytest.raises(ValueError, match="norm"):
        dcdm.dcdm_loss(dcdm.IdentityNet(), op, B, norm="l1")


def test_axis_conv_equals_dense_conv_with_the_factorised_kernel():
    # the fast variant's factorised conv == a dense 3x3x3 conv whose kernel is the product of the axis kernels
    from sciml.dcdm._network import AxisConv

    c = 3
    conv = AxisConv(3, c, key=jax.random.key(0))
    conv = eqx.tree_at(lambda m: m.bias, conv, jnp.arange(c, dtype=jnp.float32))
    x = jax.random.normal(jax.random.key(1), (6, 5, 7, c), jnp.float32)
    W = np.asarray(conv.weight).reshape(3, 3, c, c)  # (axis, tap, c_in, c_out)
    K = np.einsum("aij,bjk,ckl->abcil", W[0], W[1], W[2])  # (tap0, tap1, tap2, c_in, c_out)
    want = jax.lax.conv_general_dilated(x[None], jnp.asarray(K, jnp.float32), (1, 1, 1), "SAME",
                                        dimension_numbers=("NDHWC", "DHWIO", "NDHWC"))[0] + np.arange(c)
    np.testing.assert_allclose(np.asarray(conv(x)), np.asarray(want), rtol=2e-5, atol=2e-5)


def test_space_to_depth_roundtrip_and_blocks():
    from sciml.dcdm._network import _depth_to_space, _space_to_depth

    x = jax.random.normal(jax.random.key(0), (4, 6, 8, 2))
    y = _space_to_depth(x, 3)
    assert y.shape == (2, 3, 4, 16)
    np.testing.assert_array_equal(np.asarray(_depth_to_space(y, 3)), np.asarray(x))
    # channel block (i, j, k, c) of coarse cell (0, 0, 0) is fine cell (i, j, k), channel c
    np.testing.assert_array_equal(np.asarray(y[0, 0, 0].reshape(2, 2, 2, 2)), np.asarray(x[:2, :2, :2]))


@pytest.mark.parametrize("ndim,shape", [(2, (33, 17)), (3, (13, 10, 7)), (3, (32, 32, 32))])
def test_fast_variant_any_grid_and_linear_scaling(ndim, shape):
    net = dcdm.DCDMNet(ndim=ndim, variant="fast", key=jax.random.key(0))
    r = jax.random.normal(jax.random.key(1), shape)
    apply = eqx.filter_jit(lambda n, x: n(x))  # one compile per shape for all three calls (eager: ~2x the time)
    q = apply(net, r)
    assert q.shape == shape and q.dtype == r.dtype and bool(jnp.all(jnp.isfinite(q)))
    # positively homogeneous up to biases: zero biases make f(2r) = 2 f(r) (ReLU net, no normalisation)
    net0 = jax.tree_util.tree_map(lambda a: jnp.zeros_like(a) if a.ndim == 1 else a, net)
    np.testing.assert_allclose(np.asarray(apply(net0, 2 * r)), 2 * np.asarray(apply(net0, r)), rtol=1e-4, atol=1e-5)


def test_fast_variant_trains_and_roundtrips(tmp_path):
    flags = dcdm.random_obstacles(jax.random.key(3), (16, 16, 16), n_obstacles=2, air=2)
    op = linalg.poisson_operator(flags, dtype=jnp.float32)
    data = dcdm.ritz_training_data(op, key=jax.random.key(0), n_lanczos=40, n_samples=32)
    net = dcdm.DCDMNet(ndim=3, variant="fast", key=jax.random.split(jax.random.key(1), 3)[0])
    res = dcdm.train(op, key=jax.random.key(1), net=net, data=data, steps=50, batch_size=8,
                     learning_rate=3e-3, loss="energy", progress=False)
    losses = np.asarray(res.losses)
    assert 0 <= losses.min() and losses.max() <= 1 + 1e-5
    assert losses[-10:].mean() < 0.9 * losses[:5].mean()
    # the cached energy references equal CG's b'A^-1 b (all 32 rows: the program `train` compiled for them)
    bz = dcdm.energy_norms(op, data.samples)
    for i in range(3):
        z = linalg.cg(op, data.samples[i], rtol=1e-7).value
        np.testing.assert_allclose(float(bz[i]), float(jnp.vdot(data.samples[i], z)), rtol=1e-3)
    dcdm.save_pretrained(res.model, "tinyfast", {"steps": 50}, directory=tmp_path)
    net = dcdm.load_pretrained("tinyfast", directory=tmp_path)
    r = data.samples[0]
    apply = eqx.filter_jit(lambda n, x: n(x))  # one compile for both networks (eager: ~5x the time)
    np.testing.assert_array_equal(np.asarray(apply(net, r)), np.asarray(apply(res.model, r)))


def test_train_defaults_are_the_explicit_net_and_data():
    # `dcdm.train(op, key=k)` builds DCDMNet(ndim=op.ndim, variant="64") from split(k, 3)[0] and
    # ritz_training_data(op) from split(k, 3)[1]: passing them explicitly gives the same run, bit for bit
    op = linalg.poisson_operator(dcdm.disk_air(8, 2), dtype=jnp.float32)
    key = jax.random.key(4)
    kn, kd, _ = jax.random.split(key, 3)
    a = dcdm.train(op, key=key, steps=4, batch_size=2, progress=False)
    b = dcdm.train(op, key=key, steps=4, batch_size=2, progress=False,
                   net=dcdm.DCDMNet(ndim=2, variant="64", key=kn), data=dcdm.ritz_training_data(op, key=kd))
    np.testing.assert_array_equal(a.losses, b.losses)
    for x, y in zip(jax.tree.leaves(a.model), jax.tree.leaves(b.model)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    # a `fit` keyword passes through: chunked steps give the same losses up to rounding
    c = dcdm.train(op, key=key, steps=4, batch_size=2, progress=False, steps_per_call=2)
    np.testing.assert_allclose(a.losses, c.losses, rtol=1e-5)


def test_demo_section_reports_shipped_net_beating_cg(tmp_path):
    # `sciml demo`'s DCDM section: the shipped dcdm-2d-64 net converges in fewer iterations than CG (its trivial
    # baseline) on the demo's own problem, and the report says so from the measured numbers
    from sciml.dcdm._demo import run_demo

    text = run_demo(tmp_path)
    rows = {r.split("|")[1].strip(): r.split("|")[2:4] for r in text.splitlines() if r.startswith("| ")}
    k_dcdm, conv = int(rows["DCDM (+safeguard)"][0]), rows["DCDM (+safeguard)"][1].strip()
    assert conv == "True" and k_dcdm < 0.5 * int(rows["CG"][0]), rows
    assert "beats CG" in text and (tmp_path / "dcdm_residuals.png").exists()
