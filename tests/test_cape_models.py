"""CAPE models: sizes from the spec, real (re, im) spectral weights, resolution handling, equivariance,
the flax.nnx wrapper equal to the Equinox block."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from sciml import cape

F32 = jnp.float32


def test_reference_parameter_counts():
    # spec §1.7: CAPE block ~77k, FNO-w20 ~43k -> CAPE-FNO ~120k vs Base FNO-w36 ~135k (1D, N=128)
    key = jax.random.key(0)
    shape = eqx.filter_eval_shape  # shapes only: no initialisation work
    block = shape(lambda: cape.CAPE(1, 1, grid_shape=(128,), variant="faithful", key=key))
    model = shape(lambda: cape.make_model("cape", cape_variant="faithful", grid_shape=(128,), key=key))
    base = shape(lambda: cape.make_model("base", key=key))
    assert cape.count_params(block) == 77089
    assert cape.count_params(model.base) == 43106
    assert cape.count_params(model) == 120198
    assert cape.count_params(base) == 134717


def test_complex_grad_is_conjugate_and_real_pairs_descend():
    # JAX's grad of a real loss w.r.t. a complex leaf is the conjugate of the descent direction's partner:
    # for L = |z - a|^2, grad = 2 conj(z - a); a step z - lr * grad moves Im(z) the wrong way.
    a = jnp.array(1.0 + 2.0j)
    loss = lambda z: jnp.abs(z - a) ** 2  # noqa: E731
    z = jnp.array(0.0 + 0.0j)
    g = jax.grad(loss)(z)
    np.testing.assert_allclose(g, 2 * jnp.conj(z - a))
    assert loss(z - 0.1 * g) > loss(z)  # imaginary part trained uphill
    # our SpectralConv stores (re, im) real pairs: plain SGD on a spectral fit decreases the loss monotonically
    key = jax.random.key(1)
    sc = cape.SpectralConv(2, 2, 8, key=key, dtype=F32)
    x = jax.random.normal(jax.random.key(2), (16, 2, 64), F32)
    target = jnp.roll(x, 3, axis=-1)  # a shift: exactly representable on the kept modes of a band-limited x
    x = jnp.fft.irfft(jnp.fft.rfft(x)[..., :8], n=64).astype(F32)
    target = jnp.roll(x, 3, axis=-1)

    def fit_loss(m):
        return jnp.mean((jax.vmap(m)(x) - target) ** 2)

    opt = optax.sgd(20.0)
    state = opt.init(eqx.filter(sc, eqx.is_array))

    @eqx.filter_jit  # one compiled step instead of 30 eager ones
    def step(sc, state):
        l, g = eqx.filter_value_and_grad(fit_loss)(sc)
        upd, state = opt.update(g, state)
        return eqx.apply_updates(sc, upd), state, l

    losses = []
    for _ in range(30):
        sc, state, l = step(sc, state)
        losses.append(float(l))
    assert np.all(np.diff(losses) < 0) and losses[-1] < 0.05 * losses[0]


def test_resolution_handling():
    key = jax.random.key(0)
    lam = jnp.array([0.1], F32)
    improved = cape.make_model("cape", cape_variant="improved", width=8, modes=6, cape_width=8, key=key)
    out, aux = eqx.filter_jit(lambda m, u, p: m(u, p))(improved, jnp.ones((1, 1, 48), F32), lam)
    assert out.shape == (1, 48) and aux.shape == (1, 1, 48) and out.dtype == F32  # any N, modes clipped
    with pytest.raises(ValueError, match="grid_shape"):
        cape.CAPE(1, 1, variant="faithful", key=key)
    with pytest.raises(ValueError, match="base must map"):
        eqx.filter_eval_shape(lambda: cape.CAPEModel(cape.FNO(1, 1, key=key), cape.CAPE(1, 1, variant="improved",
                                                                                         key=key)))

    def shape_of(build, *args):  # trace only: no initialisation or compilation cost
        return eqx.filter_eval_shape(lambda: build()(*args))

    unet = lambda: cape.Base(cape.UNet(1, 1, features=4, levels=2, key=key))  # noqa: E731
    assert shape_of(unet, jnp.ones((1, 1, 32), F32), lam)[0].shape == (1, 32)
    with pytest.raises(ValueError, match="divisible"):
        shape_of(unet, jnp.ones((1, 1, 30), F32), lam)
    # 2D: FNO with two corner blocks, CAPE with multiplicative coupling, U-Net
    m2 = lambda: cape.make_model("cape", ndim=2, n_channels=2, n_params=3, width=4, modes=3, cape_width=8,  # noqa
                                 key=key)
    out, aux = shape_of(m2, jnp.ones((1, 2, 16, 16), F32), jnp.array([0.1, 0.01, 0.01], F32))
    assert out.shape == (2, 16, 16) and aux.shape == (1, 2, 16, 16)
    u2 = lambda: cape.Base(cape.UNet(2, 2, ndim=2, features=2, levels=2, key=key))  # noqa: E731
    assert shape_of(u2, jnp.ones((1, 2, 16, 16), F32), lam)[0].shape == (2, 16, 16)
    # ...and the 2D CAPE-FNO computes: multiplicative coupling keeps a zero state at zero
    z = eqx.filter_jit(lambda m, u, p: m.cape(u, p))(m2(), jnp.zeros((1, 2, 16, 16), F32), jnp.array([0.1, 0.01, 0.01], F32))
    np.testing.assert_array_equal(z, 0.0)


def test_improved_block_is_translation_equivariant_faithful_is_not():
    key = jax.random.key(0)
    u = jax.random.normal(jax.random.key(3), (1, 64), F32)
    lam = jnp.array([0.05], F32)
    call = eqx.filter_jit(lambda m, u, p: m(u, p))
    imp = cape.CAPE(1, 1, variant="improved", width=16, key=key)
    np.testing.assert_allclose(jnp.roll(call(imp, u, lam), 5, axis=-1), call(imp, jnp.roll(u, 5, axis=-1), lam),
                               atol=2e-5)
    fai = cape.CAPE(1, 1, variant="faithful", width=16, grid_shape=(64,), key=key)
    gap = jnp.max(jnp.abs(jnp.roll(call(fai, u, lam), 5, axis=-1) - call(fai, jnp.roll(u, 5, axis=-1), lam)))
    assert gap > 1e-3  # zero padding + AvgPool(4) blocks break periodic shift equivariance
    # the whole improved CAPE-FNO minus FNO's appended grid coordinate is not equivariant; the UNet with
    # circular padding is, for shifts by multiples of 2**levels
    net = cape.UNet(1, 1, features=4, levels=2, key=key)
    x = jax.random.normal(key, (1, 64), F32)
    f = eqx.filter_jit(lambda m, x: m(x))
    np.testing.assert_allclose(jnp.roll(f(net, x), 8, -1), f(net, jnp.roll(x, 8, -1)), atol=2e-5)


def test_film_starts_as_its_base_and_conditional_sees_parameters():
    key = jax.random.key(0)
    u = jax.random.normal(jax.random.key(1), (1, 1, 32), F32)
    call = eqx.filter_jit(lambda m, u, p: m(u, p)[0])
    film = cape.make_model("film", width=8, modes=4, key=key)
    base_out = eqx.filter_jit(lambda m, x: m(x))(film.net, u[0])
    np.testing.assert_allclose(call(film, u, jnp.array([0.3], F32)), base_out, atol=1e-6)
    cond = cape.make_model("conditional", width=8, modes=4, key=key, param_mean=np.log(0.01), param_std=1.0)
    a = call(cond, u, jnp.array([0.01], F32))
    b = call(cond, u, jnp.array([0.1], F32))
    assert float(jnp.max(jnp.abs(a - b))) > 1e-4


@pytest.mark.parametrize("variant", ["faithful", "improved"])
def test_nnx_wrapper_equals_equinox(variant):
    nnx = pytest.importorskip("flax.nnx")  # flax is an optional extra

    key = jax.random.key(4)
    block = cape.CAPE(1, 1, grid_shape=(32,), width=16, variant=variant,
                      gate="sigmoid" if variant == "improved" else None, film=variant == "improved", key=key)
    wrapped = cape.CAPEBlockNNX(block=block)
    u = jax.random.normal(jax.random.key(5), (3, 1, 32), F32)
    lam = jnp.array([[0.01], [0.1], [1.0]], F32)
    np.testing.assert_allclose(nnx.jit(lambda m: m(u, lam))(wrapped), eqx.filter_jit(jax.vmap(block))(u, lam),
                               rtol=1e-6, atol=1e-7)
    # gradients agree too
    g_eqx = eqx.filter_jit(eqx.filter_grad(lambda b: jnp.sum(jax.vmap(b)(u, lam) ** 2)))(block)
    g_nnx = nnx.jit(nnx.grad(lambda m: jnp.sum(m(u, lam) ** 2)))(wrapped)
    flat_eqx = jax.tree_util.tree_leaves(eqx.filter(g_eqx, eqx.is_array))
    flat_nnx = [v[...] for v in jax.tree_util.tree_leaves(g_nnx, is_leaf=lambda x: isinstance(x, nnx.Variable))]
    assert len(flat_eqx) == len(flat_nnx)
    for a, b in zip(flat_eqx, flat_nnx):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    # built from rngs, same construction as the equinox block with that key (independent of `variant`: once)
    if variant == "improved":
        w2 = cape.CAPEBlockNNX(1, 1, rngs=nnx.Rngs(0), variant="improved", width=8)
        assert nnx.jit(lambda m: m(u, lam))(w2).shape == (3, 1, 1, 32)


def test_fourier_resample_is_exact_for_band_limited_fields_and_ref_grid_transfers():
    from sciml.cape._models import fourier_resample

    x = jnp.linspace(0.0, 1.0, 64, endpoint=False)
    xf = jnp.linspace(0.0, 1.0, 128, endpoint=False)
    f = lambda t: jnp.sin(2 * jnp.pi * 3 * t) + 0.3 * jnp.cos(2 * jnp.pi * 31 * t)  # noqa: E731
    up = fourier_resample(f(x)[None].astype(jnp.float64), (128,))
    np.testing.assert_allclose(np.asarray(up[0]), np.asarray(f(xf)), atol=1e-12)
    down = fourier_resample(up, (64,))
    np.testing.assert_allclose(np.asarray(down[0]), np.asarray(f(x)), atol=1e-12)
    # 2D, both axes
    g = jnp.sin(2 * jnp.pi * x)[:, None] * jnp.cos(4 * jnp.pi * x)[None, :]
    g2 = fourier_resample(g[None].astype(jnp.float64), (128, 128))[0]
    np.testing.assert_allclose(np.asarray(g2[::2, ::2]), np.asarray(g), atol=1e-12)
    # a block with ref_grid: at its own grid nothing changes; on a 2x grid it equals the block applied at the
    # reference grid and resampled (the local stencils keep their physical size)
    key = jax.random.key(3)
    lam = jnp.array([0.02], F32)
    plain = cape.CAPE(1, 1, variant="improved", width=8, modes=6, key=key)
    ref = cape.CAPE(1, 1, variant="improved", width=8, modes=6, ref_grid=(64,), key=key)
    u64 = jnp.sin(2 * jnp.pi * x)[None, None].astype(F32)
    np.testing.assert_array_equal(np.asarray(ref(u64, lam)), np.asarray(plain(u64, lam)))
    u128 = fourier_resample(u64[0], (128,))[None]
    z64 = ref(u64, lam) - u64  # additive coupling: the block's correction, shape (ell, c, N)
    z128 = ref(u128, lam) - u128
    np.testing.assert_allclose(np.asarray(z128[0, 0, ::2]), np.asarray(z64[0, 0]), atol=2e-5)
    with pytest.raises(ValueError, match="ref_grid"):
        cape.CAPE(1, 1, variant="improved", ref_grid=(64, 64), key=key)
