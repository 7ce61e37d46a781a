"""GNS / GIOROM models, decoder, training and rollout of sciml.giorom (tiny sizes)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml import giorom


@pytest.fixture(scope="module")
def tiny():
    ds = giorom.generate_dataset("jelly", 3, n_particles=400, n_frames=24, key=jax.random.key(0))
    return ds


def test_decoder_reproduces_affine_fields():
    rng = np.random.default_rng(0)
    ref = (0.3 + 0.3 * rng.random((2000, 2))).astype(np.float32)
    sub = np.asarray(giorom.farthest_point_sampling(jnp.asarray(ref), 150))
    A = np.array([[0.05, -0.02], [0.03, 0.01]], np.float32)
    b = np.array([0.1, -0.05], np.float32)
    disp = ref @ A.T + b
    for kind, tol in (("mls", 1e-5), ("shepard", None)):
        dec = giorom.KernelDecoder(0.02, k=12, kind=kind, learned=False, ridge=0.0)
        plan = dec.plan(ref[sub], ref)
        out = np.asarray(dec(plan, jnp.asarray(disp[sub])))
        if tol is not None:  # linear MLS reproduces any affine displacement field
            np.testing.assert_allclose(out, disp, atol=tol)
        # both reproduce a pure translation exactly
        out_t = np.asarray(dec(plan, jnp.broadcast_to(jnp.asarray(b), (150, 2))))
        np.testing.assert_allclose(out_t, np.broadcast_to(b, out_t.shape), atol=1e-6)


def test_random_walk_noise_statistics():
    n = giorom.random_walk_noise(jax.random.key(0), (6, 20000, 2), 3e-4, jnp.float32)
    n = np.asarray(n)
    assert np.all(n[0] == 0)
    v = np.diff(n, axis=0)  # velocity noise: a random walk with step std sigma/sqrt(5)
    np.testing.assert_allclose(v[-1].std(), 3e-4, rtol=0.03)
    np.testing.assert_allclose(np.diff(v, axis=0).std(), 3e-4 / np.sqrt(5), rtol=0.03)


GIO_KW = dict(latent=32, n_mp=1, grid=(8, 8), grid_channels=8, modes=3)
# the training tests leave out the interaction-network layers (their compiled train steps take about half as long);
# the translation-invariance test above keeps them
GIO_KW0 = dict(GIO_KW, n_mp=0)


def test_giorom_translation_invariance(tiny):
    md = tiny.metadata
    P, T = tiny.stacked()
    m = giorom.GIOROM(md, n_full=400, n_sample=60, key=jax.random.key(2), **GIO_KW)
    assert m.radius == pytest.approx(md["default_connectivity_radius"] * np.sqrt(400 / 60))
    sub = np.asarray(giorom.farthest_point_sampling(jnp.asarray(P[0, 5]), 60))
    # the learned GNO kernels see only relative positions: shifting everything by a whole number of
    # grid cells, away from the walls' feature range, shifts the predicted positions by the same amount
    far = jnp.asarray(P[0, :6][:, sub]) * 0.3 + 0.3
    (lo, hi), _ = md["bounds"]
    shift = jnp.asarray([(hi - lo) / 8, 0.0], jnp.float32)
    pt = jnp.asarray(T[0][sub])
    o1 = giorom.rollout_window(m, far, pt, 10)
    o2 = giorom.rollout_window(m, far + shift, pt, 10)
    assert o1.shape == (10, 60, 2) and o1.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(o2 - shift), np.asarray(o1), atol=1e-5)


def test_gno_encoder_matches_dense_reference():
    """The node-centric GNO encoder equals the all-pairs definition: each grid point averages the kernel
    over every node within r_gno (density channel = count / k_gno)."""
    md = {"bounds": [[0.1, 0.9], [0.0, 1.0]], "default_connectivity_radius": 0.05, "vel_mean": [0, 0],
          "vel_std": [1, 1], "acc_mean": [0, 0], "acc_std": [1, 1], "dim": 2}
    # GIO_KW's layer sizes (their initialisers are compiled once per shape) on a non-square 6 x 8 grid
    m = giorom.GIOROM(md, n_full=400, n_sample=100, key=jax.random.key(3), **dict(GIO_KW, grid=(6, 8)))
    L, C = GIO_KW["latent"], GIO_KW["grid_channels"]
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform([0.1, 0.0], [0.9, 1.0], (90, 2)),
                        np.full((10, 2), [0.1 + 0.8 / 12, 1 / 16]) + 1e-3 * rng.normal(size=(10, 2))])  # a crowded cell
    x = jnp.asarray(x, jnp.float32)
    h = jnp.asarray(rng.normal(size=(100, L)), jnp.float32)
    out = np.asarray(eqx.filter_jit(lambda mm, xx, hh: mm._grid_encode(xx, hh))(m, x, h))
    Y = np.asarray(giorom._models.grid_points(md["bounds"], (6, 8))).reshape(-1, 2)
    # the kernel on every (grid point, node) pair in one call (one compile), then averaged over those in range
    rel = (Y[:, None, :] - np.asarray(x)[None]) / m.r_gno  # (48, 100, 2)
    inp = np.concatenate([rel, np.linalg.norm(rel, axis=-1, keepdims=True),
                          np.broadcast_to(np.asarray(h)[None], (48, 100, L))], -1)
    kern = np.asarray(jax.vmap(jax.vmap(m.gno_kernel))(jnp.asarray(inp, jnp.float32)))  # (48, 100, C)
    ref = np.zeros((48, C + 1), np.float32)
    for c, y in enumerate(Y):
        near = np.nonzero(np.sum((y - np.asarray(x)) ** 2, -1) <= m.r_gno**2)[0]
        if len(near):
            ref[c, :C] = kern[c, near].mean(0)
        ref[c, C] = len(near) / m.k_gno
    assert ref[:, C].max() * m.k_gno >= 10  # the crowded cell is in range of all ten of its nodes
    np.testing.assert_allclose(out.reshape(48, C + 1), ref, atol=2e-5)


def test_training_decreases_loss_and_rollout(tiny):
    md = tiny.metadata
    P, T = tiny.stacked()
    m = giorom.GIOROM(md, n_full=400, n_sample=60, key=jax.random.key(2), **GIO_KW0)
    # held-out evaluation batches (fixed), loss without noise
    sub, owner = giorom.sparse_subsets(P, 60, 1)
    bf = giorom.window_sampler(np.stack([P[o][:, i] for o, i in zip(owner, sub)]),
                               np.stack([T[o][i] for o, i in zip(owner, sub)]), 16)
    batch = bf(jax.random.key(123), 0)
    evaluate = eqx.filter_jit(lambda mdl: giorom.acceleration_loss(mdl, batch, jax.random.key(0), noise_std=0.0)[0])
    before = float(evaluate(m))
    res = giorom.train(m, tiny, steps=100, batch_size=2, learning_rate=3e-3, copies=2, key=jax.random.key(3),
                       log_every=50, progress=False)
    assert np.isfinite(np.asarray(res.losses)).all()
    after = float(evaluate(res.model))
    assert after < 0.7 * before  # measured 0.60
    q = jnp.asarray(P[1, 5] + 0.001)  # arbitrary query points (rest positions)
    dense, sparse, idx = giorom.rollout(res.model, P[1, :6], 10, query_points=q, particle_type=T[1],
                                        return_sparse=True)
    assert dense.shape == (10, 400, 2) and sparse.shape == (10, 60, 2) and idx.shape == (60,)
    assert np.isfinite(np.asarray(dense)).all()
    err = giorom.rollout_mse(giorom.rollout(res.model, P[1, :6], 10, particle_type=T[1]), P[1, 6:16])
    assert set(err) == {"mse1", "mse5", "mse10", "mse_full"} and np.isfinite(err["mse_full"])
    # batches are a deterministic function of (key, step)
    b1, b2 = bf(jax.random.key(5), 0), bf(jax.random.key(5), 0)
    np.testing.assert_array_equal(np.asarray(b1["window"]), np.asarray(b2["window"]))
    assert b1["window"].shape == (16, 6, 60, 2) and b1["target"].shape == (16, 60, 2)


def test_gns_rollout_and_decoder_training(tiny):
    md = tiny.metadata
    P, T = tiny.stacked()
    gns = giorom.GNS(md, latent=32, n_mp=1, key=jax.random.key(0))  # GIO_KW's MLP sizes: initialisers compiled once
    out = giorom.rollout(gns, P[0, :6], 5, particle_type=T[0])
    assert out.shape == (5, 400, 2) and out.dtype == jnp.float32 and np.isfinite(np.asarray(out)).all()
    with pytest.raises(ValueError, match="GIOROM"):
        giorom.rollout(gns, P[0, :6], 5, query_points=P[0, 5])
    sub, owner = giorom.sparse_subsets(P, 60, 1, reference_frame=5)
    dec = giorom.KernelDecoder(0.05, k=8)
    res = giorom.train_decoder(dec, tiny, sub, owner, steps=60, key=jax.random.key(0))
    dec2, hist = res.model, res.history
    assert all(np.isfinite(h["loss"]) for h in hist)
    # whatever the learned kernel, the decoder stays exact for rigid translations
    ref = P[0, 5]
    plan = dec2.plan(ref[sub[0]], ref)
    out = np.asarray(dec2(plan, jnp.full((60, 2), 0.01, jnp.float32)))
    np.testing.assert_allclose(out, 0.01, atol=1e-6)


def test_default_optimizer_matches_optax_exponential_decay():
    # giorom.train's optimiser keeps the decay rate in its state (one compiled program for any schedule); it must
    # equal optax.adam(optax.exponential_decay(lr, steps, final/lr)) step for step
    import optax

    lr, final, steps = 1e-3, 1e-4, 7
    ref = optax.adam(optax.exponential_decay(lr, steps, final / lr))
    ours = giorom.default_optimizer(lr, final, steps)
    params = {"w": jnp.arange(5.0), "b": jnp.ones(())}
    sr, so = ref.init(params), ours.init(params)
    for i in range(steps):
        g = jax.tree.map(lambda p: jnp.sin(p * (i + 1)) + 0.1 * i, params)
        ur, sr = ref.update(g, sr, params)
        uo, so = ours.update(g, so, params)
        np.testing.assert_allclose(uo["w"], ur["w"], rtol=1e-5, atol=1e-10)
        np.testing.assert_allclose(uo["b"], ur["b"], rtol=1e-5, atol=1e-10)


def test_pushforward_loss_schedule_and_gradient(tiny):
    """Push-forward: with u unrolls the loss equals the plain loss on the model's own u-step rollout from the
    noisy window against ground truth u frames later; no gradient flows through the unroll; the schedule
    only allows an unroll count once its start fraction of the run is reached."""
    md = tiny.metadata
    P, T = tiny.stacked()
    # in float64, so that the two ways of unrolling (fori_loop of vmapped steps / vmapped scan) agree to rounding
    # (1e-16) instead of float32 rounding amplified by the acceleration normalisation (measured ~1e-4)
    m = giorom.GIOROM(md, n_full=400, n_sample=60, key=jax.random.key(2), **GIO_KW0)
    m = jax.tree.map(lambda a: a.astype(jnp.float64) if eqx.is_inexact_array(a) else a, m)
    sub, owner = giorom.sparse_subsets(P, 60, 1)
    pos = np.stack([P[o][:, i] for o, i in zip(owner, sub)]).astype(np.float64)
    typ = np.stack([T[o][i] for o, i in zip(owner, sub)])
    pf = giorom.PushForward()
    bf = giorom.window_sampler(pos, typ, 3, pushforward=pf, total_steps=100)
    batch = bf(jax.random.key(7), 90)
    assert batch["future"].shape == (3, 3, 60, 2) and batch["target"].shape == (3, 60, 2)
    # loss and gradient in one compiled program per batch layout; the gradient is the plain loss's gradient with
    # the pushed window held fixed
    loss_grad = eqx.filter_jit(eqx.filter_value_and_grad(
        lambda mdl, bb: giorom.acceleration_loss(mdl, bb, jax.random.key(0), noise_std=0.0)[0]))
    for u in (0, 2):
        b = dict(batch, unroll=jnp.asarray(u, jnp.int32))
        pushed = jax.vmap(lambda w, t: giorom.rollout_window(m, w, t, 2))(b["window"], b["particle_type"])
        win = jnp.concatenate([b["window"], pushed], 1)[:, u:u + 6]
        tgt = jnp.concatenate([b["target"][:, None], b["future"]], 1)[:, u]
        plain = {"window": win, "target": tgt, "particle_type": b["particle_type"]}
        (l_pf, g_pf), (l_pl, g_pl) = loss_grad(m, b), loss_grad(m, plain)
        np.testing.assert_allclose(float(l_pf), float(l_pl), rtol=1e-9)  # measured: equal
        for a, c in zip(jax.tree.leaves(g_pf), jax.tree.leaves(g_pl)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(c), rtol=0,
                                       atol=1e-8 * float(np.abs(c).max()) + 1e-12)
    # schedule: only 0 before 4 % of the run, never 3 before 80 %, all four at the end
    keys = jax.random.split(jax.random.key(0), 200)
    draws = lambda step: set(np.asarray(jax.vmap(lambda k: pf.sample(k, step, 100))(keys)).tolist())  # noqa: E731
    assert draws(2) == {0} and 3 not in draws(70) and draws(95) == {0, 1, 2, 3}
    with pytest.raises(ValueError, match="equal length"):
        giorom.PushForward(unrolls=(0, 1), probs=(1.0,), start=(0.0, 0.5))
    with pytest.raises(ValueError, match="total_steps"):
        giorom.window_sampler(pos, typ, 2, pushforward=pf)
    with pytest.raises(ValueError, match="too short"):
        giorom.window_sampler(pos[:, :8], typ, 2, pushforward=pf, total_steps=10)
    res = giorom.train(m, tiny, steps=6, batch_size=2, copies=1, pushforward=pf, key=jax.random.key(3),
                       progress=False)
    assert np.isfinite(np.asarray(res.losses)).all()


def test_joint_finetune_lowers_dense_rollout_error(tiny):
    """giorom.finetune trains stepper and query decoder together on decoded dense positions: the dense error of
    short rollouts (all 400 particles, 3 steps from every third frame) falls and the decoder's learned kernel moves."""
    P, T = tiny.stacked()
    m = giorom.GIOROM(tiny.metadata, n_full=400, n_sample=60, key=jax.random.key(2), **GIO_KW0)

    def dense_err(mdl):
        return np.mean([giorom.rollout_mse(giorom.rollout(mdl, P[b, t:t + 6], 3, particle_type=T[b]),
                                           P[b, t + 6:t + 9])["mse_full"] for b in range(len(P)) for t in range(0, 16, 3)])

    res = giorom.finetune(m, tiny, steps=80, horizon=3, batch_size=4, learning_rate=1e-3, key=jax.random.key(0),
                          progress=False)
    assert np.isfinite(np.asarray(res.losses)).all()
    assert dense_err(res.model) < 0.75 * dense_err(m)  # measured 0.54 (70 steps 0.65, 100 steps 0.58)
    last = res.model.query_decoder.mlp.layers[-1].weight  # initialised to zero (Gaussian kernel)
    assert float(jnp.abs(last).max()) > 0
    with pytest.raises(ValueError, match="horizon"):
        giorom.finetune(m, tiny, horizon=40)
    with pytest.raises(TypeError, match="giorom.finetune.*unexpected keyword argument `epochs`"):
        giorom.finetune(m, tiny, epochs=3)
    with pytest.raises(ValueError, match="learned kernel"):
        giorom.finetune(eqx.tree_at(lambda mm: mm.query_decoder, m, giorom.KernelDecoder(0.05, learned=False)), tiny)
    with pytest.raises(TypeError, match="GIOROM"):
        giorom.finetune(giorom.GNS(tiny.metadata, latent=8, n_mp=1, key=jax.random.key(0)), tiny)


def test_default_optimizer_schedule_is_state():
    # Adam on a constant gradient moves every parameter by the current learning rate: lr * (final/lr)^(t/steps)
    opt = giorom.default_optimizer(1e-3, 1e-4, steps=10)
    p = {"w": jnp.zeros(3, jnp.float32)}
    g = {"w": jnp.ones(3, jnp.float32)}
    s = opt.init(p)
    steps = []
    for _ in range(11):
        u, s = opt.update(g, s, p)
        steps.append(-float(u["w"][0]))
    np.testing.assert_allclose(steps, 1e-3 * 0.1 ** (np.arange(11) / 10), rtol=1e-4)
    # the schedule's numbers live in the optimiser state: two schedules lower to the same program
    other = giorom.default_optimizer(3e-3, 1e-5, steps=777)
    lower = lambda o: jax.jit(lambda g, s, p: o.update(g, s, p)).lower(g, o.init(p), p).as_text()  # noqa: E731
    assert lower(opt) == lower(other)
    with pytest.raises(ValueError, match="steps"):
        giorom.default_optimizer(1e-3, 1e-4, steps=0)


def test_train_chunked_steps_equal_per_step(tiny):
    """`steps_per_call` (steps inside one compiled loop, the batch sampler traced into it) trains GIOROM exactly as
    one host call per step does: same losses, same parameters (to float rounding); the default chunks too."""
    m = giorom.GIOROM(tiny.metadata, n_full=400, n_sample=60, key=jax.random.key(2), **GIO_KW0)
    kw = dict(steps=12, batch_size=2, copies=1, key=jax.random.key(3), log_every=4, progress=False)
    a = giorom.train(m, tiny, steps_per_call=1, **kw)
    b = giorom.train(m, tiny, steps_per_call=4, **kw)
    c = giorom.train(m, tiny, **kw)  # the default: chunked (min(50, steps, log_every) = 4 steps per call here)
    np.testing.assert_allclose(c.losses, a.losses, rtol=1e-5)
    assert [h["step"] for h in c.history] == [h["step"] for h in a.history] == [4, 8, 12]  # log interval kept
    with pytest.raises(TypeError, match="log_every"):
        giorom.train(m, tiny, steps=2, log_every="a")
    np.testing.assert_allclose(b.losses, a.losses, rtol=1e-5)
    assert b.step == a.step == 12
    for la, lb in zip(jax.tree.leaves(eqx.filter(a.model, eqx.is_inexact_array)),
                      jax.tree.leaves(eqx.filter(b.model, eqx.is_inexact_array))):
        np.testing.assert_allclose(np.asarray(lb), np.asarray(la), rtol=1e-4, atol=1e-6)
    assert not np.allclose(a.losses[0], a.losses[-1])  # it trained
