"""Fault tests for `train.fit` checkpoints and `train.save_model` / `load_model`: NaN gradients with a finite loss,
corrupt latest checkpoint, architecture / optimiser mismatch, a kill during a save, model files."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from sciml import dcdm, train

from .helpers import tree_allclose

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _problem(width=16):
    model = eqx.nn.MLP(2, 1, width, 2, key=jax.random.key(0))
    X = jax.random.normal(jax.random.key(1), (128, 2))
    Y = jnp.sin(X[:, :1]) * jnp.cos(X[:, 1:])

    def loss(m, b, k):
        return jnp.mean((jax.vmap(m)(b["x"]) - b["y"]) ** 2)

    return model, loss, train.array_batches({"x": X, "y": Y}, 32)


def _arrays(m):
    return eqx.filter(m, eqx.is_array)


def _finite(m):
    return all(bool(jnp.all(jnp.isfinite(l))) for l in jax.tree.leaves(_arrays(m)))


@pytest.mark.parametrize("steps_per_call", [1, 4])
def test_nan_gradient_with_finite_loss_never_reaches_a_checkpoint(tmp_path, steps_per_call):
    model, loss, batches = _problem()

    def poisoned(key, step):  # from step 7 on the batch asks for a NaN gradient
        return dict(batches(key, step), poison=step >= 7)

    def loss_nan_grad(m, b, k):
        w = jax.tree.leaves(_arrays(m))[0]
        # poisoned: value sqrt(max(-1, 0)) = 0 (finite), gradient inf * 0 = NaN; else sqrt(1) - 1 = 0, gradient 0
        x = jnp.where(b["poison"], -1.0, 1.0) + 0.0 * jnp.sum(w)
        return loss(m, b, k) + jnp.sqrt(jnp.maximum(x, 0.0)) - jnp.where(b["poison"], 0.0, 1.0)

    with pytest.raises(train.TrainingError, match="non-finite although the loss was finite") as info:
        train.fit(loss_nan_grad, model, optax.adam(1e-2), poisoned, steps=20, key=jax.random.key(1), progress=False,
                  checkpoint_dir=tmp_path / "ck", checkpoint_every=5, steps_per_call=steps_per_call)
    err = info.value
    assert err.step == 7 and err.checkpoint_step == 5 and "step 5" in str(err) and "intact" in str(err)
    assert _finite(err.model)
    restored, _, step = train.restore(model, optax.adam(1e-2), tmp_path / "ck")
    assert step == 5 and _finite(restored)
    # the same run without the poison from the checkpoint equals an uninterrupted clean run
    clean = train.fit(loss, model, optax.adam(1e-2), batches, steps=12, key=jax.random.key(1), progress=False)
    resumed = train.fit(loss, model, optax.adam(1e-2), batches, steps=12, key=jax.random.key(1), progress=False,
                        checkpoint_dir=tmp_path / "ck", steps_per_call=steps_per_call)
    assert len(resumed.losses) == 7
    assert tree_allclose(_arrays(clean.model), _arrays(resumed.model), rtol=1e-6, atol=1e-8)


def _corrupt_data(step_dir):
    for root, _, files in os.walk(step_dir / "state"):
        for f in files:
            p = pathlib.Path(root) / f
            if p.parent.name == "d":
                p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _flip_bytes(step_dir):
    # every data file: orbax can leave two data files of the same size (e.g. state/d/ and
    # state/ocdbt.process_0/d/), only one of which the manifest reads, and which one sorts first depends on the
    # filesystem's listing order (a flipped unreferenced file made this test flaky)
    for f in (step_dir / "state").rglob("d/*"):
        b = bytearray(f.read_bytes())
        for i in range(len(b) // 2, min(len(b) // 2 + 64, len(b))):
            b[i] ^= 0xFF
        f.write_bytes(bytes(b))


@pytest.mark.parametrize("how", [("truncate", "meta"), ("flip", "missing")])
def test_corrupt_latest_checkpoints_fall_back(tmp_path, capsys, how):
    # the two newest checkpoints are damaged (two kinds each run): resume from the third, say so, equal result
    model, loss, batches = _problem()
    kw = dict(key=jax.random.key(2), progress=False, checkpoint_dir=tmp_path / "ck", checkpoint_every=5)
    train.fit(loss, model, optax.adam(1e-2), batches, steps=15, **kw)
    for step, kind in zip((15, 10), how):
        d = tmp_path / "ck" / str(step)
        if kind == "truncate":
            _corrupt_data(d)
        elif kind == "meta":
            (d / "meta" / "metadata").write_text("{not json")
        elif kind == "missing":
            import shutil

            shutil.rmtree(d / "state")
        else:
            _flip_bytes(d)
    capsys.readouterr()
    resumed = train.fit(loss, model, optax.adam(1e-2), batches, steps=20, **kw)
    out = capsys.readouterr().out
    assert "checkpoint step 15" in out and "checkpoint step 10" in out and "falling back to step 5" in out
    assert len(resumed.losses) == 15
    assert (tmp_path / "ck" / "15.unreadable").exists() and (tmp_path / "ck" / "10.unreadable").exists()
    full = train.fit(loss, model, optax.adam(1e-2), batches, steps=20, key=jax.random.key(2), progress=False)
    assert tree_allclose(_arrays(full.model), _arrays(resumed.model), rtol=0, atol=0)
    # the later saves of steps 10, 15, 20 went through although broken folders had held those numbers
    _, _, step = train.restore(model, optax.adam(1e-2), tmp_path / "ck")
    assert step == 20


def test_all_checkpoints_unreadable_is_a_clear_error(tmp_path):
    model, loss, batches = _problem()
    kw = dict(key=jax.random.key(2), progress=False, checkpoint_dir=tmp_path / "ck", checkpoint_every=5)
    train.fit(loss, model, optax.adam(1e-2), batches, steps=10, **kw)
    for s in (5, 10):
        (tmp_path / "ck" / str(s) / "meta" / "metadata").write_text("garbage")
    with pytest.raises(RuntimeError, match="none of the 2 checkpoints.*readable"):
        train.fit(loss, model, optax.adam(1e-2), batches, steps=12, **kw)


def test_architecture_mismatch_is_refused(tmp_path):
    model, loss, batches = _problem(width=16)
    train.fit(loss, model, optax.adam(1e-2), batches, steps=3, progress=False, checkpoint_dir=tmp_path / "ck")
    wide, _, _ = _problem(width=32)
    with pytest.raises(ValueError, match=r"different model architecture.*layers\[0\]\.weight.*\(16, 2\)"):
        train.fit(loss, wide, optax.adam(1e-2), batches, steps=5, progress=False, checkpoint_dir=tmp_path / "ck")
    with pytest.raises(ValueError, match="different model architecture"):
        train.restore(wide, optax.adam(1e-2), tmp_path / "ck")
    # float32 vs float64 parameters is a mismatch too (dtype)
    f32 = jax.tree.map(lambda x: x.astype(jnp.float32) if eqx.is_inexact_array(x) else x, model)
    with pytest.raises(ValueError, match="float64 saved, shape .* float32 now"):
        train.fit(loss, f32, optax.adam(1e-2), batches, steps=5, progress=False, checkpoint_dir=tmp_path / "ck")
    # resume="never" starts afresh
    res = train.fit(loss, wide, optax.adam(1e-2), batches, steps=2, progress=False, checkpoint_dir=tmp_path / "ck",
                    resume="never")
    assert res.step == 2


def test_optimiser_mismatch_is_refused(tmp_path):
    model, loss, batches = _problem()
    train.fit(loss, model, optax.adam(1e-2), batches, steps=3, progress=False, checkpoint_dir=tmp_path / "ck")
    for other in (optax.sgd(1e-2, momentum=0.9), optax.lbfgs()):
        with pytest.raises(ValueError, match="different optimiser") as info:
            train.fit(loss, model, other, batches, steps=5, progress=False, checkpoint_dir=tmp_path / "ck")
        assert "opt_state" in str(info.value) and "orbax" not in str(info.value).lower()


def test_metrics_file_fresh_unless_resuming(tmp_path):
    model, loss, batches = _problem()
    m = tmp_path / "m.jsonl"
    kw = dict(key=jax.random.key(3), progress=False, log_every=2, metrics_path=m)
    train.fit(loss, model, optax.adam(1e-2), batches, steps=6, **kw)
    train.fit(loss, model, optax.adam(1e-2), batches, steps=4, **kw)  # no checkpoints: a fresh file
    assert [json.loads(l)["step"] for l in m.read_text().splitlines()] == [2, 4]
    ck = dict(kw, checkpoint_dir=tmp_path / "ck", checkpoint_every=4)
    train.fit(loss, model, optax.adam(1e-2), batches, steps=6, **ck)  # lines 2, 4, 6; checkpoints 4, 6
    import shutil

    shutil.rmtree(tmp_path / "ck" / "6")
    train.fit(loss, model, optax.adam(1e-2), batches, steps=8, **ck)  # resumes at 4: drops the old 6
    lines = [json.loads(l) for l in m.read_text().splitlines()]
    assert [l["step"] for l in lines] == [2, 4, 4, 6, 8] and lines[2]["event"] == "resumed"


_KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import jax, jax.numpy as jnp, equinox as eqx, optax
    jax.config.update("jax_enable_x64", True)
    from sciml import train
    from sciml.train import _checkpoint

    KILL_AT = int(sys.argv[2])
    orig_wait = None

    class Killer(_checkpoint.Checkpointer):
        def save(self, step, params, opt_state):
            if step == KILL_AT:  # start the write, then die while it is in flight
                mgr_wait = self.mgr.wait_until_finished
                self.mgr.wait_until_finished = lambda: os.kill(os.getpid(), signal.SIGKILL)
            super().save(step, params, opt_state)

    import sciml.train._loop as loop
    loop.Checkpointer = Killer
    model = eqx.nn.MLP(2, 1, 16, 2, key=jax.random.key(0))
    X = jax.random.normal(jax.random.key(1), (128, 2)); Y = jnp.sin(X[:, :1])
    loss = lambda m, b, k: jnp.mean((jax.vmap(m)(b["x"]) - b["y"]) ** 2)
    train.fit(loss, model, optax.adam(1e-2), train.array_batches({"x": X, "y": Y}, 32), steps=8,
              key=jax.random.key(5), progress=False, checkpoint_dir=sys.argv[1], checkpoint_every=1)
""")


def test_kill_during_save_then_resume(tmp_path):
    script = tmp_path / "kill.py"
    script.write_text(_KILL_SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "ck"), "4"], env=env, capture_output=True,
                          timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    model = eqx.nn.MLP(2, 1, 16, 2, key=jax.random.key(0))
    X = jax.random.normal(jax.random.key(1), (128, 2))
    Y = jnp.sin(X[:, :1])
    loss = lambda m, b, k: jnp.mean((jax.vmap(m)(b["x"]) - b["y"]) ** 2)  # noqa: E731
    batches = train.array_batches({"x": X, "y": Y}, 32)
    kw = dict(steps=8, key=jax.random.key(5), progress=False)
    resumed = train.fit(loss, model, optax.adam(1e-2), batches, checkpoint_dir=tmp_path / "ck", resume="must", **kw)
    assert 4 <= len(resumed.losses) <= 5  # resumed from step 3 (or 4 if that write had completed)
    full = train.fit(loss, model, optax.adam(1e-2), batches, **kw)
    assert tree_allclose(_arrays(full.model), _arrays(resumed.model), rtol=0, atol=0)


# ---- save_model / load_model ----


def test_save_load_model_roundtrip_and_checks(tmp_path):
    model, _, _ = _problem()
    path = train.save_model(tmp_path / "net.eqx", model, {"width": 16})
    side = json.loads((tmp_path / "net.json").read_text())
    assert side["width"] == 16 and side["format"] == "sciml.model/1" and len(side["leaves"]) == 6
    like = eqx.nn.MLP(2, 1, 16, 2, key=jax.random.key(9))
    got = train.load_model(path, like=like)
    assert tree_allclose(_arrays(got), _arrays(model), rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"`like` does not match.*\(16, 2\)"):
        train.load_model(path, like=eqx.nn.MLP(2, 1, 32, 2, key=jax.random.key(0)))
    with pytest.raises(ValueError, match="float64 saved.*float32"):
        train.load_model(path, like=jax.tree.map(lambda x: x.astype(jnp.float32) if eqx.is_inexact_array(x) else x,
                                                 like))
    # without the sidecar the file's own headers are checked
    (tmp_path / "net.json").unlink()
    with pytest.raises(ValueError, match="holds 6 arrays, `like` has 8"):
        train.load_model(path, like=eqx.nn.MLP(2, 1, 16, 3, key=jax.random.key(0)))
    # truncated file, pickled object arrays, missing file, NaN model, bad names
    raw = path.read_bytes()
    (tmp_path / "cut.eqx").write_bytes(raw[: len(raw) - 10])
    with pytest.raises(ValueError, match="truncated"):
        train.load_model(tmp_path / "cut.eqx", like=like)
    with open(tmp_path / "obj.eqx", "wb") as f:
        np.save(f, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="Python objects"):
        train.load_model(tmp_path / "obj.eqx", like=like)
    with pytest.raises(FileNotFoundError, match="path"):
        train.load_model(tmp_path / "nope.eqx", like=like)
    nan_model = eqx.tree_at(lambda m: m.layers[0].bias, model, jnp.full(16, jnp.nan))
    with pytest.raises(ValueError, match="non-finite"):
        train.save_model(tmp_path / "nan.eqx", nan_model)
    with pytest.raises(ValueError, match="`path`.*eqx"):
        train.save_model(tmp_path / "net.pkl", model)
    with pytest.raises(ValueError, match="`meta`.*reserved"):
        train.save_model(tmp_path / "x.eqx", model, {"leaves": 1})


def test_dcdm_pretrained_uses_the_model_format(tmp_path):
    for name in dcdm.available_pretrained():
        side = json.loads((ROOT / "sciml" / "data" / "dcdm" / f"{name}.json").read_text())
        assert side["format"] == "sciml.model/1" and "recipe" in side
    assert {"dcdm-2d-64", "dcdm-3d-64"} <= set(dcdm.available_pretrained())
    for name in ("dcdm-2d-64", "dcdm-3d-64"):
        net = dcdm.load_pretrained(name)
        # the shipped values are the ones the Equinox leaf file holds, read independently with NumPy
        with open(ROOT / "sciml" / "data" / "dcdm" / f"{name}.eqx", "rb") as f:
            first = np.load(f, allow_pickle=False)
        np.testing.assert_array_equal(first, np.asarray(jax.tree.leaves(_arrays(net))[0]))
    net = dcdm.load_pretrained("dcdm-2d-64")
    path = dcdm.save_pretrained(net, "copy", {"note": "test"}, directory=tmp_path)
    again = dcdm.load_pretrained("copy", directory=tmp_path)
    assert tree_allclose(_arrays(net), _arrays(again), rtol=0, atol=0)
    assert path == (tmp_path / "copy.eqx").resolve() and dcdm.pretrained_recipe("copy", tmp_path) == {"note": "test"}
    for bad in ("../x", "a/b", "", ".hidden"):
        with pytest.raises(ValueError, match="`name`"):
            dcdm.save_pretrained(net, bad, {}, directory=tmp_path / "sub")
        with pytest.raises(ValueError, match="`name`"):
            dcdm.load_pretrained(bad, directory=tmp_path)
    assert not (tmp_path / "x.eqx").exists() and not (tmp_path / "sub").exists()


def test_checkpoint_without_structure_record_still_resumes(tmp_path):
    # a checkpoint as the loop wrote it before structure records (arrays + {"step"} only)
    import orbax.checkpoint as ocp

    model, loss, batches = _problem()
    ref = train.fit(loss, model, optax.adam(1e-2), batches, steps=4, key=jax.random.key(6), progress=False)
    leaves = jax.tree.leaves((eqx.filter(ref.model, eqx.is_inexact_array), ref.opt_state))
    mgr = ocp.CheckpointManager(tmp_path / "ck", options=ocp.CheckpointManagerOptions(create=True))
    state = {f"leaf{i:05d}": np.asarray(l) for i, l in enumerate(leaves)}
    mgr.save(4, args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave({"step": 4})))
    mgr.wait_until_finished()
    mgr.close()
    m, _, step = train.restore(model, optax.adam(1e-2), tmp_path / "ck")
    assert step == 4 and tree_allclose(_arrays(m), _arrays(ref.model), rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"leaf00000: shape \(16, 2\) float64 saved, shape \(32, 2\)"):
        train.restore(_problem(width=32)[0], optax.adam(1e-2), tmp_path / "ck")
