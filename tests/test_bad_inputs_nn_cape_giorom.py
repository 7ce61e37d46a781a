"""Bad inputs to the public `sciml.nn`, `sciml.cape` and `sciml.giorom` entry points (and the CLI) raise
ValueError/TypeError naming the argument, before any compilation; a few valid edge inputs give the right answer."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sciml import _cli, cape, giorom, nn

F32 = jnp.float32
K = jax.random.key(0)


# ------------------------------------------------------------------------------------------------------------
# sciml.nn constructors
# ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,exc,name", [
    (dict(in_size=0), ValueError, "in_size"),
    (dict(out_size=-1), ValueError, "out_size"),
    (dict(width=2.0), TypeError, "width"),
    (dict(depth=-1), ValueError, "depth"),
    (dict(activation="swish"), ValueError, "activation"),
    (dict(init="xavier"), ValueError, "init"),
    (dict(out_scale=float("nan")), ValueError, "out_scale"),
    (dict(layer_norm="yes"), TypeError, "layer_norm"),
    (dict(key=0), TypeError, "key"),
    (dict(key=jax.random.split(K, 3)), ValueError, "key"),
    (dict(dtype=jnp.int32), TypeError, "dtype"),
    (dict(dtype="float33"), TypeError, "dtype"),
])
def test_mlp_constructor(kwargs, exc, name):
    args = dict(in_size=2, out_size=1, width=4, depth=1, key=K)
    args.update(kwargs)
    with pytest.raises(exc, match=name):
        nn.MLP(**args)


@pytest.mark.parametrize("kwargs,exc,name", [
    (dict(in_channels=0), ValueError, "in_channels"),
    (dict(out_channels="2"), TypeError, "out_channels"),
    (dict(ndim=4), ValueError, "ndim"),
    (dict(width=0), ValueError, "width"),
    (dict(modes=0), ValueError, "modes"),
    (dict(modes=(4, 4)), ValueError, "modes"),
    (dict(n_layers=0), ValueError, "n_layers"),
    (dict(hidden=0), ValueError, "hidden"),
    (dict(padding=-1), ValueError, "padding"),
    (dict(coords="no"), TypeError, "coords"),
    (dict(spectral_init="xavier"), ValueError, "spectral_init"),
    (dict(key=None), TypeError, "key"),
    (dict(dtype=jnp.complex64), TypeError, "dtype"),
])
def test_fno_constructor(kwargs, exc, name):
    args = dict(in_channels=1, out_channels=1, width=4, modes=2, n_layers=1, key=K)
    args.update(kwargs)
    ic, oc = args.pop("in_channels"), args.pop("out_channels")
    with pytest.raises(exc, match=name):
        nn.FNO(ic, oc, **args)


@pytest.mark.parametrize("kwargs,exc,name", [
    (dict(features=0), ValueError, "features"),
    (dict(levels=0), ValueError, "levels"),
    (dict(padding_mode="WRAP"), ValueError, "padding_mode"),
    (dict(key="k"), TypeError, "key"),
])
def test_unet_constructor(kwargs, exc, name):
    with pytest.raises(exc, match=name):
        nn.UNet(1, 1, **{**dict(features=2, levels=1, key=K), **kwargs})


def test_spectral_conv_constructor():
    with pytest.raises(ValueError, match="modes"):
        nn.SpectralConv(1, 1, -3, 1, key=K)
    with pytest.raises(TypeError, match="key"):
        nn.SpectralConv(1, 1, 2, 1, key=np.zeros(3))
    with pytest.raises(ValueError, match="init"):
        nn.SpectralConv(1, 1, 2, 1, key=K, init="zeros")


# ------------------------------------------------------------------------------------------------------------
# sciml.nn calls: static shape checks (also under jit)
# ------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fno2():
    return nn.FNO(2, 1, ndim=2, width=4, modes=2, n_layers=2, hidden=None, key=K)


@pytest.mark.parametrize("x,exc", [
    (jnp.ones((3, 8, 8)), ValueError),        # wrong channel count
    (jnp.ones((2, 8)), ValueError),           # 1-D field to a 2-D model
    (jnp.ones((4, 2, 8, 8)), ValueError),     # a batch (needs vmap)
    (jnp.ones((2, 8, 8), jnp.int32), TypeError),
    (np.ones((2, 0, 8), np.float32), ValueError),
    ([[1.0]], TypeError),
])
def test_fno_call_shapes(fno2, x, exc):
    with pytest.raises(exc, match="`x`"):
        fno2(x)


def test_fno_call_checks_work_under_jit(fno2):
    with pytest.raises(ValueError, match="in_channels=2"):
        eqx.filter_jit(fno2)(jnp.ones((3, 8, 8)))
    with pytest.raises(ValueError, match="vmap"):
        eqx.filter_jit(fno2)(jnp.ones((5, 2, 8, 8)))
    assert eqx.filter_jit(jax.vmap(fno2))(jnp.ones((5, 2, 8, 8))).shape == (5, 1, 8, 8)


def test_fno_film_checked(fno2):
    with pytest.raises(ValueError, match="film"):
        fno2(jnp.ones((2, 8, 8)), film=[(jnp.zeros(4), jnp.zeros(4))])          # one pair for two layers
    with pytest.raises(ValueError, match="film"):
        fno2(jnp.ones((2, 8, 8)), film=[(jnp.zeros(3), jnp.zeros(4))] * 2)      # wrong width


def test_mlp_unet_spectral_calls():
    mlp = nn.MLP(3, 1, 4, 1, key=K)
    with pytest.raises(ValueError, match="in_size"):
        mlp(jnp.ones((5, 2)))
    with pytest.raises(TypeError, match="`x`"):
        mlp(jnp.ones((5, 3), jnp.int32))
    with pytest.raises(TypeError, match="`x`"):
        mlp([1.0, 2.0, 3.0])
    unet = nn.UNet(1, 1, features=2, levels=1, key=K)
    with pytest.raises(ValueError, match="divisible by 2"):
        unet(jnp.ones((1, 9)))
    with pytest.raises(ValueError, match="film"):
        unet(jnp.ones((1, 8)), film=[])
    with pytest.raises(TypeError, match="`x` has dtype float64"):   # convolutions do not promote: say so
        unet(jnp.ones((1, 8), jnp.float64))
    sc = nn.SpectralConv(2, 2, 3, 1, key=K)
    with pytest.raises(ValueError, match="in_channels=2"):
        sc(jnp.ones((1, 16)))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ndim=st.integers(0, 5), c=st.integers(0, 4))
def test_fno_call_random_shapes(fno2, ndim, c):
    """Any input that is not (2, H, W) float is refused with a message about `x`; (2, H, W) runs."""
    shape = (c,) + (8,) * ndim
    x = jnp.ones(shape, F32)
    if ndim == 2 and c == 2:
        assert fno2(x).shape == (1, 8, 8)
    else:
        with pytest.raises(ValueError, match="`x`"):
            fno2(x)


def test_util_args():
    with pytest.raises(ValueError, match="eps"):
        nn.rel_l2(jnp.ones(3), jnp.ones(3), eps=-1.0)
    with pytest.raises(TypeError, match="pred"):
        nn.rel_l2(["a", "b"], jnp.ones(2))
    with pytest.raises(ValueError, match="same shape"):
        nn.rel_l2(jnp.ones(3), jnp.ones((3, 1)))
    with pytest.raises(ValueError, match="chunk_size"):
        nn.chunked_map(jnp.sin, jnp.ones(4), 0)
    with pytest.raises(TypeError, match="fn"):
        nn.chunked_map("sin", jnp.ones(4), 2)
    with pytest.raises(ValueError, match="xs"):
        nn.chunked_map(jnp.sin, [], 2)


def test_nnx_module_args():
    pytest.importorskip("flax")
    with pytest.raises(TypeError, match="module"):
        nn.NNXModule(lambda x: x)
    with pytest.raises(ValueError, match="sample_ndim"):
        nn.NNXModule(nn.MLP(2, 1, 4, 1, key=K), sample_ndim=-1)
    w = nn.NNXModule(nn.FNO(1, 1, width=4, modes=2, n_layers=1, key=K), sample_ndim=2)
    with pytest.raises(ValueError, match="sample_ndim"):
        w(jnp.ones((16,)))


def test_nn_valid_edges():
    # one grid point; modes above the grid's Nyquist frequency are dropped (documented): a 1-mode layer equals it
    sc = nn.SpectralConv(1, 1, 8, 1, key=K)
    x = jax.random.normal(K, (1, 4))
    sc1 = eqx.tree_at(lambda s: s.weight, nn.SpectralConv(1, 1, 3, 1, key=K), sc.weight[:, :, :3])
    np.testing.assert_allclose(sc(x), sc1(x), rtol=1e-6, atol=1e-6)
    # rel_l2 of an exact prediction is 0, with eps guarding a zero reference
    assert float(nn.rel_l2(jnp.zeros(3), jnp.zeros(3), eps=1e-12)) == 0.0
    # a raw uint32 PRNGKey is accepted as well as a typed key
    assert nn.MLP(2, 1, 4, 1, key=jax.random.PRNGKey(0))(jnp.ones(2)).shape == (1,)
    # chunked_map with chunk_size larger than n equals vmap
    np.testing.assert_allclose(nn.chunked_map(jnp.sin, jnp.arange(3.0), 10), jnp.sin(jnp.arange(3.0)))


# ------------------------------------------------------------------------------------------------------------
# sciml.cape
# ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,exc,name", [
    (dict(n_channels=0), ValueError, "n_channels"),
    (dict(n_params=-2), ValueError, "n_params"),
    (dict(ndim=0), ValueError, "ndim"),
    (dict(width=1), ValueError, "width"),
    (dict(kernel_size=4), ValueError, "kernel_size"),
    (dict(modes=0), ValueError, "modes"),
    (dict(ell=0), ValueError, "ell"),
    (dict(t_init=0), ValueError, "t_init"),
    (dict(variant="fast"), ValueError, "variant"),
    (dict(gate="relu"), ValueError, "gate"),
    (dict(norm="batch"), ValueError, "norm"),
    (dict(pooling="max"), ValueError, "pooling"),
    (dict(combine="concat"), ValueError, "combine"),
    (dict(param_transform="log"), ValueError, "param_transform"),
    (dict(film=1), TypeError, "film"),
    (dict(param_std=0.0), ValueError, "param_std"),
    (dict(param_mean=float("nan")), ValueError, "param_mean"),
    (dict(param_std=[1.0, 2.0, 3.0]), ValueError, "param_std"),
    (dict(ref_grid=(0,)), ValueError, "ref_grid"),
    (dict(key=1), TypeError, "key"),
])
def test_cape_block_constructor(kwargs, exc, name):
    args = dict(n_channels=1, n_params=1, variant="improved", width=4, modes=2, key=K)
    args.update(kwargs)
    with pytest.raises(exc, match=name):
        cape.CAPE(**args)


def test_cape_block_faithful_grid():
    with pytest.raises(ValueError, match="grid_shape"):
        cape.CAPE(1, 1, width=4, modes=2, key=K, grid_shape=(16, 16))   # 2 sizes for 1D
    blk = cape.CAPE(1, 1, width=4, modes=2, key=K, grid_shape=(16,))
    with pytest.raises(ValueError, match="grid_shape"):
        blk(jnp.ones((1, 1, 32)), jnp.ones(1))                        # layer norm locked to 16 points


@pytest.fixture(scope="module")
def blk():
    return cape.CAPE(2, 1, variant="improved", width=4, modes=2, t_init=2, key=K)


@pytest.mark.parametrize("window,lam,name", [
    (jnp.ones((1, 2, 16)), jnp.ones(1), "window"),       # t_init 2 expected
    (jnp.ones((2, 3, 16)), jnp.ones(1), "window"),       # 3 channels
    (jnp.ones((2, 2, 16, 16)), jnp.ones(1), "window"),   # 2-D window to a 1-D block
    (jnp.ones((2, 2, 16)), jnp.ones(2), "lam"),          # two parameters
    (jnp.ones((2, 2, 16)), jnp.ones((1, 1)), "lam"),     # a batch of lam
])
def test_cape_block_call(blk, window, lam, name):
    with pytest.raises(ValueError, match=name):
        blk(window, lam)


def test_cape_block_call_under_jit(blk):
    with pytest.raises(ValueError, match="window"):
        eqx.filter_jit(blk)(jnp.ones((2, 3, 16)), jnp.ones(1))
    with pytest.raises(TypeError, match="window"):
        blk(jnp.ones((2, 2, 16), jnp.int32), jnp.ones(1))
    with pytest.raises(TypeError, match="`window` has dtype float64"):
        blk(jnp.ones((2, 2, 16), jnp.float64), jnp.ones(1))


def test_cape_models_and_make_model():
    blk = cape.CAPE(1, 1, variant="improved", width=4, modes=2, key=K)
    with pytest.raises(TypeError, match="cape"):
        cape.CAPEModel(nn.FNO(2, 2, width=4, modes=2, n_layers=1, key=K), "block")
    with pytest.raises(TypeError, match="base"):
        cape.CAPEModel(lambda x: x, blk)
    with pytest.raises(ValueError, match="t_init"):
        cape.CAPEModel(nn.FNO(2, 2, width=4, modes=2, n_layers=1, key=K), blk, t_init=0)
    with pytest.raises(TypeError, match="net"):
        cape.Base(jnp.sin)
    with pytest.raises(ValueError, match="param_transform"):
        cape.Conditional(nn.FNO(2, 1, width=4, modes=2, n_layers=1, key=K), param_transform="tanh")
    with pytest.raises(ValueError, match="hidden"):
        cape.FiLM(nn.FNO(1, 1, width=4, modes=2, n_layers=1, key=K), hidden=0, key=K)
    for kw, exc, name in [(dict(kind="transformer"), ValueError, "kind"), (dict(base="resnet"), ValueError, "base"),
                          (dict(kind="film", base="unet"), ValueError, "base"), (dict(n_params=0), ValueError,
                                                                                   "n_params"),
                          (dict(t_init=1.5), TypeError, "t_init"), (dict(key=None), TypeError, "key")]:
        with pytest.raises(exc, match=name):
            cape.make_model(**{**dict(key=K, width=4, cape_width=4, modes=2), **kw})


def test_baseline_calls():
    base = cape.Base(nn.FNO(1, 1, width=4, modes=2, n_layers=1, key=K))
    with pytest.raises(ValueError, match="window"):
        base(jnp.ones((1, 2, 16)), jnp.ones(1))
    cond = cape.Conditional(nn.FNO(2, 1, width=4, modes=2, n_layers=1, key=K))
    with pytest.raises(ValueError, match="lam|window"):
        cond(jnp.ones((1, 1, 16)), jnp.ones(3))
    with pytest.raises(ValueError, match="lam"):
        cond(jnp.ones((1, 1, 16)), jnp.ones((1, 1)))


@pytest.fixture(scope="module")
def ds():
    u = jax.random.normal(K, (4, 5, 1, 16))
    return cape.Dataset(u, jnp.asarray([[0.1], [0.2], [0.1], [0.2]]), jnp.linspace(0, 1, 16), jnp.linspace(0, 1, 5))


def test_dataset_shapes():
    with pytest.raises(ValueError, match="`u`"):
        cape.Dataset(jnp.ones((4, 5, 16)), jnp.ones((4, 1)), jnp.ones(16), jnp.ones(5))
    with pytest.raises(ValueError, match="`params`"):
        cape.Dataset(jnp.ones((4, 5, 1, 16)), jnp.ones((3, 1)), jnp.ones(16), jnp.ones(5))


def test_metrics_args(ds):
    model = cape.Base(nn.FNO(1, 1, width=4, modes=2, n_layers=1, key=K))
    with pytest.raises(TypeError, match="ds"):
        cape.nrmse(model, ds.u)
    with pytest.raises(ValueError, match="normalise"):
        cape.nrmse(model, ds, normalise="max")
    with pytest.raises(ValueError, match="batch_size"):
        cape.predict(model, ds, batch_size=0)
    with pytest.raises(TypeError, match="model"):
        cape.predict("fno", ds)
    with pytest.raises(ValueError, match="t_init"):
        cape.persistence_nrmse(ds, t_init=5)
    with pytest.raises(ValueError, match="t_init"):
        cape.persistence_nrmse(ds, t_init=0)
    with pytest.raises(ValueError, match="same shape"):
        cape.frame_errors(ds.u[:, :4], ds.u)
    with pytest.raises(ValueError, match="n_steps"):
        cape.rollout(model, ds.u[0, :1], ds.params[0], 0)


def test_train_args(ds):
    model = cape.Base(nn.FNO(1, 1, width=4, modes=2, n_layers=1, key=K))
    for kw, exc, name in [(dict(epochs=0), ValueError, "epochs"), (dict(batch_size=0), ValueError, "batch_size"),
                          (dict(learning_rate=-1e-3), ValueError, "learning_rate"),
                          (dict(optimizer="adam"), TypeError, "optimizer"), (dict(key=3), TypeError, "key"),
                          (dict(val=ds.u), TypeError, "val"), (dict(loss="mse"), TypeError, "loss"),
                          (dict(steps=0), ValueError, "steps"), (dict(callback=3), TypeError, "callback"),
                          (dict(filter_spec=None), TypeError, "filter_spec")]:
        with pytest.raises(exc, match=name):
            cape.train(model, ds, **kw)
    with pytest.raises(TypeError, match="ds"):
        cape.train(model, [ds])
    with pytest.raises(ValueError, match="mode"):
        cape.curriculum_t_ar(0, 10, 10, mode="linear")
    with pytest.raises(ValueError, match="epochs"):
        cape.curriculum_t_ar(0, 10, 0)
    with pytest.raises(ValueError, match="transform"):
        cape.param_stats(ds, transform="sqrt")
    neg = cape.Dataset(ds.u, -ds.params, ds.x, ds.t)
    with pytest.raises(ValueError, match="log"):
        cape.param_stats(neg)
    with pytest.raises(ValueError, match="decay"):
        cape.default_optimizer(1e-3, 10, decay=0.0)
    with pytest.raises(ValueError, match="weight_decay"):
        cape.default_optimizer(1e-3, 10, weight_decay=-1.0)
    with pytest.raises(ValueError, match="batch"):
        cape.rollout_loss(model, {"u": ds.u}, K)
    with pytest.raises(ValueError, match="loss_norm"):
        cape.rollout_loss(model, {"u": ds.u, "lam": ds.params, "t_ar": 1}, K, loss_norm="l1")


def test_cape_valid_edges(ds):
    # persistence with t_init = n_frames - 1 predicts one frame: its nRMSE is ||u_4 - u_3|| / ||u_4||
    u = np.asarray(ds.u, np.float64)
    want = np.mean(np.linalg.norm(u[:, 4] - u[:, 3], axis=-1) / np.linalg.norm(u[:, 4], axis=-1))
    np.testing.assert_allclose(cape.persistence_nrmse(ds, t_init=4), want, rtol=1e-5)
    # param_stats of the raw values: mean 0.15, std 0.05 over the distinct values
    m, s = cape.param_stats(ds, "raw")
    np.testing.assert_allclose([m[0], s[0]], [0.15, 0.05], rtol=1e-6)
    assert cape.curriculum_t_ar(0, 10, 1, mode="ar") == 10


# ------------------------------------------------------------------------------------------------------------
# sciml.giorom
# ------------------------------------------------------------------------------------------------------------
MD = dict(bounds=[[0.0, 1.0], [0.0, 1.0]], default_connectivity_radius=0.1, vel_mean=[0.0, 0.0],
          vel_std=[1e-3, 1e-3], acc_mean=[0.0, 0.0], acc_std=[1e-4, 1e-4], dim=2, dt=1e-3, sequence_length=10)


@pytest.mark.parametrize("md,exc,name", [
    ([1, 2], TypeError, "metadata"),
    ({k: v for k, v in MD.items() if k != "vel_std"}, ValueError, "vel_std"),
    ({**MD, "bounds": [[1.0, 0.0], [0.0, 1.0]]}, ValueError, "bounds"),
    ({**MD, "acc_std": [-1.0, 1.0]}, ValueError, "acc_std"),
    ({**MD, "vel_mean": [0.0, float("nan")]}, ValueError, "vel_mean"),
    ({**MD, "vel_mean": [0.0, 0.0, 0.0]}, ValueError, "vel_mean"),
    ({**MD, "default_connectivity_radius": 0.0}, ValueError, "default_connectivity_radius"),
])
def test_gns_metadata(md, exc, name):
    with pytest.raises(exc, match=name):
        giorom.GNS(md, latent=4, n_mp=1, key=K)


@pytest.mark.parametrize("kwargs,exc,name", [
    (dict(n_sample=0), ValueError, "n_sample"),
    (dict(n_sample=50, n_full=20), ValueError, "n_sample"),
    (dict(latent=0), ValueError, "latent"),
    (dict(grid=(8,)), ValueError, "grid"),
    (dict(grid=(8, 0)), ValueError, "grid"),
    (dict(operator="unet"), ValueError, "operator"),
    (dict(sampling="grid"), ValueError, "sampling"),
    (dict(decoder_kind="rbf"), ValueError, "decoder_kind"),
    (dict(radius=-0.1), ValueError, "radius"),
    (dict(noise_std=-1.0), ValueError, "noise_std"),
    (dict(key=0), TypeError, "key"),
])
def test_giorom_constructor(kwargs, exc, name):
    args = dict(n_full=40, n_sample=10, latent=4, n_mp=1, grid=(4, 4), grid_channels=4, modes=2, key=K)
    args.update(kwargs)
    with pytest.raises(exc, match=name):
        giorom.GIOROM(MD, **args)


@pytest.fixture(scope="module")
def gns():
    return giorom.GNS(MD, latent=4, n_mp=1, mlp_depth=1, k=4, key=K)


@pytest.mark.parametrize("window,ptype,exc,name", [
    (jnp.ones((5, 10, 2)), jnp.zeros(10, jnp.int32), ValueError, "window"),       # 5 frames, 6 needed
    (jnp.ones((6, 10, 3)), jnp.zeros(10, jnp.int32), ValueError, "window"),       # 3-D positions for 2-D metadata
    (jnp.ones((6, 10, 2), jnp.int32), jnp.zeros(10, jnp.int32), TypeError, "window"),
    (jnp.ones((6, 10, 2)), jnp.zeros(9, jnp.int32), ValueError, "particle_type"),
    (jnp.ones((6, 10, 2)), jnp.zeros(10), TypeError, "particle_type"),
    (jnp.ones((6, 10, 2)), jnp.full(10, 9, jnp.int32), ValueError, "particle_type"),
])
def test_gns_call(gns, window, ptype, exc, name):
    with pytest.raises(exc, match=name):
        gns(window, ptype)


def test_rollout_args(gns):
    w = jnp.ones((6, 10, 2))
    with pytest.raises(ValueError, match="n_steps"):
        giorom.rollout(gns, w, 0)
    with pytest.raises(TypeError, match="model"):
        giorom.rollout("gns", w, 3)
    with pytest.raises(ValueError, match="initial_window"):
        giorom.rollout(gns, jnp.ones((6, 10)), 3)
    with pytest.raises(ValueError, match="initial_window"):
        giorom.rollout(gns, w.at[0, 0, 0].set(jnp.nan), 3)
    with pytest.raises(ValueError, match="query_points"):
        giorom.rollout(gns, w, 3, query_points=jnp.ones((4, 2)))
    with pytest.raises(ValueError, match="n_steps"):
        giorom.constant_velocity(w, -1)
    with pytest.raises(ValueError, match="initial_window"):
        giorom.constant_velocity(w[:1], 3)
    with pytest.raises(ValueError, match="same shape"):
        giorom.rollout_mse(np.zeros((4, 10, 2)), np.zeros((5, 10, 2)))
    with pytest.raises(ValueError, match="horizons"):
        giorom.rollout_mse(np.zeros((4, 10, 2)), np.zeros((4, 10, 2)), horizons=(0,))


def test_sparse_subsets_and_sampling():
    pos = np.random.default_rng(0).random((2, 8, 20, 2))
    with pytest.raises(ValueError, match="`n`"):
        giorom.sparse_subsets(pos, 21)
    with pytest.raises(ValueError, match="copies"):
        giorom.sparse_subsets(pos, 5, copies=0)
    with pytest.raises(ValueError, match="reference_frame"):
        giorom.sparse_subsets(pos, 5, reference_frame=8)
    with pytest.raises(ValueError, match="positions"):
        giorom.sparse_subsets(pos[0], 5)
    with pytest.raises(ValueError, match="`n`"):
        giorom.farthest_point_sampling(jnp.asarray(pos[0, 0]), 0)
    with pytest.raises(ValueError, match="start"):
        giorom.farthest_point_sampling(jnp.asarray(pos[0, 0]), 3, 20)
    with pytest.raises(ValueError, match="bandwidth"):
        giorom.KernelDecoder(0.0)
    with pytest.raises(ValueError, match="noise_std"):
        giorom.random_walk_noise(K, (6, 4, 2), -1.0, F32)
    with pytest.raises(ValueError, match="window_shape"):
        giorom.random_walk_noise(K, (1, 4, 2), 1e-3, F32)


def test_giorom_train_args(gns):
    pos = [np.random.default_rng(0).random((10, 12, 2)).astype(np.float32)]
    ds = giorom.ParticleDataset(pos, [np.full(12, 5, np.int32)], MD)
    for kw, exc, name in [(dict(steps=0), ValueError, "steps"), (dict(batch_size=0), ValueError, "batch_size"),
                          (dict(learning_rate=0.0), ValueError, "learning_rate"), (dict(copies=0), ValueError,
                                                                                     "copies"),
                          (dict(optimizer="sgd"), TypeError, "optimizer"), (dict(key="k"), TypeError, "key"),
                          (dict(pushforward=(0, 1)), TypeError, "pushforward"),
                          (dict(lr=1e-3), TypeError, "unexpected keyword argument `lr`.*checkpoint_dir")]:
        with pytest.raises(exc, match=name):
            giorom.train(gns, ds, **kw)
    with pytest.raises(TypeError, match="dataset"):
        giorom.train(gns, pos)
    with pytest.raises(TypeError, match="model"):
        giorom.train(object(), ds)
    # shapes only (the check needs no weights): no eager initialisation of a model that is never run
    gio = eqx.filter_eval_shape(lambda: giorom.GIOROM(MD, n_full=40, n_sample=30, latent=2, n_mp=0, mlp_depth=0,
                                                      grid=(2, 2), grid_channels=2, modes=1, decoder_k=2, key=K))
    with pytest.raises(ValueError, match="n_sample"):
        giorom.train(gio, ds)
    dec = giorom.KernelDecoder(0.1, key=K)
    with pytest.raises(ValueError, match="subsets"):
        giorom.train_decoder(dec, ds, np.array([[0, 12]]), np.array([0]))
    with pytest.raises(ValueError, match="owner"):
        giorom.train_decoder(dec, ds, np.array([[0, 1]]), np.array([1]))
    with pytest.raises(ValueError, match="reference_frame"):
        giorom.train_decoder(dec, ds, np.array([[0, 1]]), np.array([0]), reference_frame=9)
    with pytest.raises(TypeError, match="decoder"):
        giorom.train_decoder(gns, ds, np.array([[0, 1]]), np.array([0]))


def test_generate_dataset_args():
    with pytest.raises(ValueError, match="material"):
        giorom.generate_dataset("honey", 1)
    with pytest.raises(ValueError, match="n_frames"):
        giorom.generate_dataset("water", 1, n_frames=2)
    with pytest.raises(TypeError, match="config"):
        giorom.generate_dataset("water", 1, config={"substeps": 2})
    with pytest.raises(TypeError, match="key"):
        giorom.generate_dataset("water", 1, key=5)


def test_giorom_valid_edges():
    # constant velocity continues a straight line exactly
    t = np.arange(6, dtype=np.float64)[:, None, None]
    w = np.concatenate([0.1 * t, 0.2 * t], -1) * np.ones((1, 3, 1))
    out = giorom.constant_velocity(w, 2)
    np.testing.assert_allclose(out[:, 0], [[0.6, 1.2], [0.7, 1.4]], rtol=1e-12)
    # rollout_mse of identical trajectories is 0 and leaves out horizons longer than the rollout
    r = giorom.rollout_mse(out, out, horizons=(1, 5))
    assert r == {"mse1": 0.0, "mse_full": 0.0}
    # farthest-point sampling of all points is a permutation
    x = jnp.asarray(np.random.default_rng(1).random((7, 2)))
    assert sorted(np.asarray(giorom.farthest_point_sampling(x, 7)).tolist()) == list(range(7))


# ------------------------------------------------------------------------------------------------------------
# the CLI: bad flags give one clear line and exit code 2 (no traceback)
# ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv,needle", [
    (["demo", "--only", "nosuch"], "--only"),
    (["demo", "--only", ","], "--only"),
    (["bench", "linalg", "--size", "huge"], "--size"),
    (["bench", "linalg", "--size", "-1"], "--size"),
    (["bench"], "benchmark name"),
    (["info", "--", "x"], "after `--`"),
])
def test_cli_bad_values(argv, needle, capsys, tmp_path):
    assert _cli.main(argv + (["--out", str(tmp_path / "o")] if argv[0] in ("demo", "bench") and "--" not in argv
                             else [])) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv", [["frobnicate"], ["demo", "--nosuch"], ["bench", "--size"], []])
def test_cli_bad_flags_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as e:
        _cli.main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err
