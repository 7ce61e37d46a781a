import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from sciml import train

from .helpers import tree_allclose


def _setup():
    model = eqx.nn.MLP(2, 1, 16, 2, key=jax.random.key(0))
    X = jax.random.normal(jax.random.key(1), (128, 2))
    Y = jnp.sin(X[:, :1]) * jnp.cos(X[:, 1:])

    def loss(m, b, k):
        l = jnp.mean((jax.vmap(m)(b["x"]) - b["y"]) ** 2)
        return l, {"rmse": jnp.sqrt(l)}

    return model, loss, train.array_batches({"x": X, "y": Y}, 32)


def test_loss_decreases_and_metrics_written(tmp_path):
    model, loss, batches = _setup()
    res = train.fit(loss, model, optax.adam(1e-2), batches, steps=200, key=jax.random.key(2), progress=False,
                    metrics_path=tmp_path / "m.jsonl", log_every=50)
    assert res.losses[-20:].mean() < 0.3 * res.losses[:5].mean()
    lines = [json.loads(l) for l in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert [l["step"] for l in lines] == [50, 100, 150, 200]
    assert "rmse" in lines[0] and abs(lines[-1]["rmse"] ** 2 - lines[-1]["loss"]) < 1e-9
    assert res.step == 200 and len(res.losses) == 200


def test_resume_equals_uninterrupted(tmp_path):
    model, loss, batches = _setup()
    full = train.fit(loss, model, optax.adam(1e-2), batches, steps=30, key=jax.random.key(3), progress=False)

    class Stop(Exception):
        pass

    def interrupt(step, m, rec):
        if step == 17:
            raise Stop

    with pytest.raises(Stop):
        train.fit(loss, model, optax.adam(1e-2), batches, steps=30, key=jax.random.key(3), progress=False,
                  checkpoint_dir=tmp_path / "ck", checkpoint_every=10, callback=interrupt, log_every=1)
    resumed = train.fit(loss, model, optax.adam(1e-2), batches, steps=30, key=jax.random.key(3), progress=False,
                        checkpoint_dir=tmp_path / "ck")
    assert len(resumed.losses) == 20  # restarted from the step-10 checkpoint
    assert tree_allclose(eqx.filter(full.model, eqx.is_array), eqx.filter(resumed.model, eqx.is_array), rtol=0,
                         atol=0)
    m, _, step = train.restore(model, optax.adam(1e-2), tmp_path / "ck")
    assert step == 30 and tree_allclose(eqx.filter(m, eqx.is_array), eqx.filter(full.model, eqx.is_array))


def test_nan_stops_with_message_and_checkpoint_intact(tmp_path):
    model, loss, batches = _setup()

    # a loss that turns NaN once the parameters have moved past a threshold: use a learning rate that diverges
    def exploding(m, b, k):
        l, aux = loss(m, b, k)
        return jnp.where(l > 1e3, jnp.nan, l) * 1.0, aux

    with pytest.raises(train.TrainingError, match="loss became nan at step") as info:
        train.fit(exploding, model, optax.sgd(30.0), batches, steps=200, key=jax.random.key(4), progress=False,
                  checkpoint_dir=tmp_path / "ck", checkpoint_every=1)
    err = info.value
    assert err.checkpoint_step is not None and err.checkpoint_step == err.step
    assert "intact" in str(err)
    restored, _, step = train.restore(model, optax.sgd(30.0), tmp_path / "ck")
    assert step == err.checkpoint_step
    assert tree_allclose(eqx.filter(restored, eqx.is_array), eqx.filter(err.model, eqx.is_array))
    assert all(bool(jnp.all(jnp.isfinite(l))) for l in jax.tree.leaves(eqx.filter(restored, eqx.is_array)))


def test_lbfgs_through_the_loop():
    model, loss, batches = _setup()
    X = jax.random.normal(jax.random.key(1), (128, 2))
    batch = {"x": X, "y": jnp.sin(X[:, :1]) * jnp.cos(X[:, 1:])}
    res = train.fit(loss, model, optax.lbfgs(), batch, steps=40, progress=False)
    assert res.losses[-1] < 0.2 * res.losses[0]


def test_deterministic_given_seed():
    model, loss, batches = _setup()
    a = train.fit(loss, model, optax.adam(1e-2), batches, steps=10, key=jax.random.key(5), progress=False)
    b = train.fit(loss, model, optax.adam(1e-2), batches, steps=10, key=jax.random.key(5), progress=False)
    np.testing.assert_array_equal(a.losses, b.losses)


def test_bad_arguments():
    model, loss, batches = _setup()
    with pytest.raises(TypeError, match="optimizer"):
        train.fit(loss, model, "adam", batches, steps=1)
    with pytest.raises(ValueError, match="checkpoint_dir"):
        train.fit(loss, model, optax.adam(1e-3), batches, steps=1, checkpoint_every=5)
    with pytest.raises(ValueError, match="batch_size"):
        train.array_batches({"x": jnp.zeros((4, 2))}, 10)


def test_time_limit_stops_early():
    model, loss, batches = _setup()
    res = train.fit(loss, model, optax.adam(1e-2), batches, steps=10_000, key=jax.random.key(6), progress=False,
                    time_limit=0.5)
    assert 1 <= res.step < 10_000 and len(res.losses) == res.step


def test_callback_can_stop():
    model, loss, batches = _setup()
    res = train.fit(loss, model, optax.adam(1e-2), batches, steps=100, key=jax.random.key(6), progress=False,
                    log_every=5, callback=lambda s, m, r: {"stop": s >= 15})
    assert res.step == 15 and len(res.history) == 3
