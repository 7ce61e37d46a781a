"""CAPE training: the curriculum formula, the masked-scan rollout loss, training reduces the loss."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sciml.train
from sciml import cape

F32 = jnp.float32


def test_curriculum_schedule_matches_formula():
    T, E, W = 40, 103, 3
    for e, tau in ((3, 0.5 * (1 + math.tanh(-2.5))), (53, 0.5), (103, 0.5 * (1 + math.tanh(2.5)))):
        assert cape.curriculum_t_ar(e, T, E, W) == min(max(math.floor(T * tau), 1), T)
    assert cape.curriculum_t_ar(3, T, E, W) == 1  # tau ~ 0.007: pure teacher forcing
    assert cape.curriculum_t_ar(53, T, E, W) == 20  # tau = 0.5
    assert cape.curriculum_t_ar(103, T, E, W) == 39  # tau ~ 0.993
    assert cape.curriculum_t_ar(0, T, E, mode="ar") == T and cape.curriculum_t_ar(50, T, E, mode="tf") == 1


def _tiny_model(kind="cape"):
    return cape.make_model(kind, width=8, modes=4, cape_width=8, key=jax.random.key(0))


def test_rollout_loss_mask_semantics():
    model = _tiny_model()
    u = jax.random.normal(jax.random.key(1), (3, 5, 1, 16), F32)
    lam = jnp.array([[0.01], [0.1], [1.0]], F32)
    key = jax.random.key(2)
    b = lambda t_ar: {"u": u, "lam": lam, "t_ar": jnp.int32(t_ar)}  # noqa: E731

    def rel(p, t):
        return jnp.mean(jnp.sqrt(jnp.sum((p - t) ** 2, (1, 2))) / (jnp.sqrt(jnp.sum(t**2, (1, 2))) + 1e-8))

    loss = eqx.filter_jit(lambda m, bt, cum: cape.rollout_loss(m, bt, key, noise=0.0, aux_weight=0.5,
                                                               aux_cumulative=cum))
    # t_ar = 1: pure teacher forcing == one-step predictions from true frames, in parallel
    tf, parts1 = loss(model, b(1), False)
    preds = eqx.filter_jit(lambda m: jax.vmap(jax.vmap(m), in_axes=(1, None), out_axes=1)(u[:, :-1, None], lam)[0])(
        model)
    np.testing.assert_allclose(parts1["main"], sum(rel(preds[:, t], u[:, t + 1]) for t in range(4)), rtol=1e-5)
    # t_ar = T: fully autoregressive == the evaluation rollout
    _, parts5 = loss(model, b(5), False)
    roll = eqx.filter_jit(lambda m: jax.vmap(lambda w, p: cape.rollout(m, w, p, 4))(u[:, :1], lam))(model)
    np.testing.assert_allclose(parts5["main"], sum(rel(roll[:, t], u[:, t + 1]) for t in range(4)), rtol=1e-5)
    # in between: a mixture, and the auxiliary CAPE loss enters with its weight
    mid, parts = loss(model, b(3), False)
    np.testing.assert_allclose(mid, parts["main"] + 0.5 * parts["aux"], rtol=1e-6)
    _, cum = loss(model, b(3), True)
    assert float(cum["aux"]) > float(parts["aux"])  # the reference's cumulative quirk over-weights early steps


def test_training_reduces_loss():
    ds = cape.datasets.burgers_1d([0.01, 0.05], 8, jax.random.key(0), n_cells=32, n_points=32, n_frames=6,
                                  t_final=0.5)
    mean, std = cape.param_stats(ds)
    model = cape.make_model("cape", width=8, modes=6, cape_width=16, key=jax.random.key(1), param_mean=mean,
                            param_std=std)
    rep = cape.train(model, ds, epochs=13, warmup=cape.Warmup(3), batch_size=8, learning_rate=3e-3, progress=False,
                     key=jax.random.key(2), loss=cape.RolloutLoss(curriculum="tf"))
    assert isinstance(rep, sciml.train.TrainResult) and rep.step == 20 and len(rep.losses) == 20  # 2 steps per epoch
    assert len(rep.epoch_loss) == 10 and rep.t_ar == [1] * 10
    assert rep.predict(ds).shape == ds.u.shape
    assert rep.epoch_loss[-1] < 0.5 * rep.epoch_loss[0], rep.epoch_loss
    assert rep.warmup_loss[-1] < rep.warmup_loss[0], rep.warmup_loss  # the CAPE block alone learns first
    assert np.isfinite(cape.nrmse(rep.model, ds))


def test_warmup_filter_trains_only_the_cape_block():
    model = _tiny_model()
    spec = cape.warmup_filter(model)
    trained = jax.tree_util.tree_leaves(eqx.filter(model, spec))
    assert sum(x.size for x in trained) == cape.count_params(model.cape)


def test_train_steps_equals_epochs_and_passes_callback():
    # `steps=` counts optimiser steps (warm-up included) and gives the same run as the equivalent `epochs=`;
    # a partial last epoch runs as such; a user `callback` runs once per epoch of the main phase and can stop it
    ds = cape.datasets.burgers_1d([0.01, 0.05], 8, jax.random.key(0), n_cells=16, n_points=16, n_frames=4,
                                  t_final=0.3)
    model = cape.make_model("cape", width=4, modes=3, cape_width=8, key=jax.random.key(1))
    kw = dict(warmup=cape.Warmup(1), batch_size=8, learning_rate=3e-3, progress=False, key=jax.random.key(2),
              loss=cape.RolloutLoss(curriculum="tf"))
    a = cape.train(model, ds, epochs=4, **kw)  # 1 warm-up + 3 main epochs of 2 steps
    b = cape.train(model, ds, steps=8, **kw)
    assert len(a.losses) == 6 and a.epoch_loss == b.epoch_loss and a.t_ar == b.t_ar
    np.testing.assert_array_equal(a.losses, b.losses)
    calls = []
    c = cape.train(model, ds, steps=7, callback=lambda s, m, r: calls.append(s), **kw)
    assert c.step == 5 and len(c.epoch_loss) == 3 and calls[:2] == [2, 4]
    np.testing.assert_array_equal(c.losses, a.losses[:5])
    d = cape.train(model, ds, steps=8, callback=lambda s, m, r: {"stop": True} if s >= 2 else None, **kw)
    assert d.step == 2
    with pytest.raises(ValueError, match="not both"):
        cape.train(model, ds, steps=8, epochs=4, **kw)
    with pytest.raises(ValueError, match="warm-up"):
        cape.train(model, ds, steps=2, **kw)
    with pytest.raises(TypeError, match="`log_every` itself"):
        cape.train(model, ds, steps=8, log_every=1, **kw)
    with pytest.raises(TypeError, match="unexpected keyword argument `lr`"):
        cape.train(model, ds, steps=8, lr=1e-3, **kw)


def test_train_chunked_steps_equal_per_step_in_float64():
    # the batches (and the curriculum's t_ar) can be drawn inside train.fit's compiled chunks: steps_per_call > 1
    # gives the per-step run (float64: no rounding drift)
    with jax.enable_x64(True):
        ds = cape.datasets.burgers_1d([0.01, 0.05], 8, jax.random.key(0), n_cells=16, n_points=16, n_frames=5,
                                      t_final=0.3)
        ds = cape.Dataset(jnp.asarray(ds.u, jnp.float64), jnp.asarray(ds.params, jnp.float64), ds.x, ds.t)
        model = cape.make_model("cape", width=4, modes=3, cape_width=8, key=jax.random.key(1), dtype=jnp.float64)
        kw = dict(epochs=6, warmup=cape.Warmup(1), batch_size=4, progress=False, key=jax.random.key(2))
        a = cape.train(model, ds, **kw)
        b = cape.train(model, ds, steps_per_call=2, **kw)
    assert a.t_ar[-1] > 1  # the curriculum moved during the run
    np.testing.assert_allclose(b.losses, a.losses, rtol=1e-9)
    np.testing.assert_allclose(b.warmup_loss, a.warmup_loss, rtol=1e-9)
