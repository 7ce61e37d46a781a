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


def test_lbfgs_step_compiles_once(caplog):
    # optax.lbfgs initialises weak-typed scalars that the first update returns strong: without the loop's
    # strong-typing, the step function was traced and compiled a second time at step 2
    model, loss, _ = _setup()
    X = jax.random.normal(jax.random.key(2), (64, 2))
    batch = {"x": X, "y": jnp.sin(X[:, :1])}
    with jax.log_compiles(True), caplog.at_level("WARNING"):
        train.fit(loss, model, optax.lbfgs(), batch, steps=3, progress=False)
    traced = [r for r in caplog.records if "step_fn" in r.getMessage() and "Compiling" in r.getMessage()]
    assert len(traced) == 1, [r.getMessage()[:120] for r in traced]


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


# ---- chunked mode (steps_per_call), resume modes, result subclassing ----


def _params(m):
    return eqx.filter(m, eqx.is_array)


def test_chunked_equals_per_step(tmp_path):
    model, loss, batches = _setup()
    kw = dict(steps=45, key=jax.random.key(7), progress=False, log_every=10)
    a = train.fit(loss, model, optax.adam(1e-2), batches, **kw)
    b = train.fit(loss, model, optax.adam(1e-2), batches, steps_per_call=10, metrics_path=tmp_path / "m.jsonl",
                  checkpoint_dir=tmp_path / "ck", checkpoint_every=15, **kw)
    assert b.step == 45 and len(b.losses) == 45
    np.testing.assert_allclose(b.losses, a.losses, rtol=1e-5, atol=1e-7)
    assert tree_allclose(_params(a.model), _params(b.model), rtol=1e-5, atol=1e-6)
    # log_every a multiple of steps_per_call: the same log steps as per-step mode (plus the final step)
    assert [h["step"] for h in b.history] == [h["step"] for h in a.history] == [10, 20, 30, 40, 45]
    np.testing.assert_allclose([h["rmse"] for h in b.history], [h["rmse"] for h in a.history], rtol=1e-5)
    # checkpoints at the checkpoint steps even though they cut chunks
    m, _, step = train.restore(model, optax.adam(1e-2), tmp_path / "ck", step=30)
    assert step == 30
    lines = [json.loads(l) for l in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert [l["step"] for l in lines] == [10, 20, 30, 40, 45]


def test_chunked_resume_and_callback_stop(tmp_path):
    model, loss, batches = _setup()
    kw = dict(steps=40, key=jax.random.key(8), progress=False, steps_per_call=8, log_every=8)
    full = train.fit(loss, model, optax.adam(1e-2), batches, **kw)
    seen = []

    def stop_at_16(step, m, rec):
        seen.append(step)
        return {"stop": step >= 16}

    part = train.fit(loss, model, optax.adam(1e-2), batches, checkpoint_dir=tmp_path / "ck", callback=stop_at_16,
                     **kw)
    assert part.step == 16 and seen == [8, 16]
    resumed = train.fit(loss, model, optax.adam(1e-2), batches, checkpoint_dir=tmp_path / "ck", resume="must", **kw)
    assert len(resumed.losses) == 24 and resumed.step == 40
    assert tree_allclose(_params(full.model), _params(resumed.model), rtol=0, atol=0)


def test_chunked_nan_reports_same_step_as_per_step():
    model, loss, batches = _setup()

    def exploding(m, b, k):
        l, aux = loss(m, b, k)
        return jnp.where(l > 1e3, jnp.nan, l), aux

    errs = []
    for k in (1, 7):
        with pytest.raises(train.TrainingError, match="loss became nan at step") as info:
            train.fit(exploding, model, optax.sgd(30.0), batches, steps=200, key=jax.random.key(4), progress=False,
                      steps_per_call=k)
        errs.append(info.value)
    assert errs[0].step == errs[1].step
    assert tree_allclose(_params(errs[0].model), _params(errs[1].model), rtol=1e-5, atol=1e-6)


def test_chunked_needs_traceable_batches():
    model, loss, _ = _setup()
    X = np.random.default_rng(0).normal(size=(128, 2))

    def host_batches(key, step):  # NumPy indexing with a traced step cannot be traced
        i = int(step) % 4
        return {"x": jnp.asarray(X[32 * i:32 * i + 32]), "y": jnp.zeros((32, 1))}

    with pytest.raises(TypeError, match="`data`.*traceable"):
        train.fit(loss, model, optax.adam(1e-2), host_batches, steps=4, steps_per_call=2, progress=False)
    res = train.fit(loss, model, optax.adam(1e-2), host_batches, steps=4, progress=False)  # fine per step
    assert res.step == 4


def test_resume_modes(tmp_path, capsys):
    model, loss, batches = _setup()
    kw = dict(steps=6, key=jax.random.key(9), progress=False, checkpoint_dir=tmp_path / "ck")
    with pytest.raises(FileNotFoundError, match="resume='must'"):
        train.fit(loss, model, optax.adam(1e-2), batches, resume="must", **kw)
    train.fit(loss, model, optax.adam(1e-2), batches, **kw)
    again = train.fit(loss, model, optax.adam(1e-2), batches, resume=True, **dict(kw, steps=8))
    out = capsys.readouterr()
    assert len(again.losses) == 2 and "resuming from step 6" in out.out + out.err
    fresh = train.fit(loss, model, optax.adam(1e-2), batches, resume="never", **dict(kw, steps=3))
    assert len(fresh.losses) == 3
    _, _, step = train.restore(model, optax.adam(1e-2), tmp_path / "ck")
    assert step == 3  # the old steps 6 and 8 were removed
    with pytest.raises(ValueError, match="`resume`"):
        train.fit(loss, model, optax.adam(1e-2), batches, resume="sometimes", **kw)
    with pytest.raises(ValueError, match="checkpoint_dir"):
        train.fit(loss, model, optax.adam(1e-2), batches, resume="must", steps=1)
    with pytest.raises(ValueError, match="steps_per_call"):
        train.fit(loss, model, optax.adam(1e-2), batches, steps=1, steps_per_call=0)


def test_train_result_subclass():
    import dataclasses

    model, loss, batches = _setup()

    @dataclasses.dataclass
    class Fitted(train.TrainResult):
        scale: float = 1.0

        def predict(self, x):
            return self.scale * jax.vmap(self.model)(x)

    res = train.fit(loss, model, optax.adam(1e-2), batches, steps=2, progress=False)
    sub = Fitted.from_result(res, scale=2.0)
    assert isinstance(sub, train.TrainResult) and sub.step == 2 and sub.losses is res.losses
    x = jnp.ones((3, 2))
    np.testing.assert_allclose(sub.predict(x), 2.0 * jax.vmap(res.model)(x))


def test_chunked_time_limit_stops_at_a_chunk_boundary():
    model, loss, batches = _setup()
    res = train.fit(loss, model, optax.adam(1e-2), batches, steps=10**6, key=jax.random.key(6), progress=False,
                    time_limit=0.5, steps_per_call=10)
    assert 10 <= res.step < 10**6 and res.step % 10 == 0 and len(res.losses) == res.step
