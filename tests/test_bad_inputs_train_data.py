"""Bad inputs to `sciml.train`, the CAPE data generators / PDEBench I/O and the GIOROM simulator / data sets: each
raises the stated exception before any compilation, with a message naming the argument."""

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from sciml import dcdm, giorom, train
from sciml.cape import datasets

KEY = jax.random.key(0)
MODEL = eqx.nn.MLP(2, 1, 4, 1, key=KEY)
X = jnp.zeros((8, 2))
BATCH = {"x": X, "y": jnp.zeros((8, 1))}


def LOSS(m, b, k):
    return jnp.mean((jax.vmap(m)(b["x"]) - b["y"]) ** 2)


def _fit(**kw):
    args = dict(loss_fn=LOSS, model=MODEL, optimizer=optax.adam(1e-2), data=BATCH, steps=2, progress=False)
    args.update(kw)
    return train.fit(args.pop("loss_fn"), args.pop("model"), args.pop("optimizer"), args.pop("data"), **args)


def _host_batches(key, step):
    return {"x": jnp.asarray(np.asarray(X) + int(step)), "y": jnp.zeros((8, 1))}


def _ds(values=(0.1,), pde="burgers", names=("nu",)):
    v = np.asarray(values, np.float32).reshape(len(values), -1)
    u = jnp.zeros((len(values), 3, 1, 8))
    return datasets.Dataset(u, jnp.asarray(v), jnp.linspace(0, 1, 8), jnp.linspace(0, 1, 3), pde, names)


T2 = jnp.array([0.0, 0.1])
U0 = jnp.sin(2 * jnp.pi * datasets.cell_centres(16))
BLOCK = np.full((10, 2), 0.5, np.float32)

CASES = [
    # ---- train ----
    ("fit loss_fn", lambda: _fit(loss_fn=3), TypeError, "loss_fn"),
    ("fit optimizer", lambda: _fit(optimizer="adam"), TypeError, "optimizer"),
    ("fit steps<0", lambda: _fit(steps=-1), ValueError, "steps"),
    ("fit steps float", lambda: _fit(steps=1.5), TypeError, "steps"),
    ("fit steps_per_call 0", lambda: _fit(steps_per_call=0), ValueError, "steps_per_call"),
    ("fit log_every<0", lambda: _fit(log_every=-1), ValueError, "log_every"),
    ("fit checkpoint_every<0", lambda: _fit(checkpoint_every=-2), ValueError, "checkpoint_every"),
    ("fit checkpoint_every without dir", lambda: _fit(checkpoint_every=5), ValueError, "checkpoint_dir"),
    ("fit resume choice", lambda: _fit(resume="maybe"), ValueError, "resume"),
    ("fit resume must without dir", lambda: _fit(resume="must"), ValueError, "checkpoint_dir"),
    ("fit time_limit<0", lambda: _fit(time_limit=-1.0), ValueError, "time_limit"),
    ("fit time_limit nan", lambda: _fit(time_limit=float("nan")), ValueError, "time_limit"),
    ("fit callback", lambda: _fit(callback=3), TypeError, "callback"),
    ("fit chunked host batches", lambda: _fit(data=_host_batches, steps_per_call=2), TypeError, "data"),
    ("array_batches batch_size", lambda: train.array_batches(BATCH, 0), ValueError, "batch_size"),
    ("array_batches lengths", lambda: train.array_batches({"x": X, "y": jnp.zeros(3)}, 2), ValueError, "leading"),
    ("save_model suffix", lambda: train.save_model("/tmp/x.pkl", MODEL), ValueError, "path"),
    ("save_model meta", lambda: train.save_model("/tmp/x.eqx", MODEL, meta=[1]), TypeError, "meta"),
    ("load_model missing", lambda: train.load_model("/nonexistent/m.eqx", like=MODEL), FileNotFoundError, "path"),
    ("restore not a dir", lambda: train.restore(MODEL, optax.adam(1e-2), "/nonexistent/ck"), FileNotFoundError,
     "checkpoint_dir"),
    ("restore optimizer", lambda: train.restore(MODEL, "adam", "/tmp"), TypeError, "optimizer"),
    ("dcdm load_pretrained name", lambda: dcdm.load_pretrained("../dcdm-2d-64"), ValueError, "name"),
    # ---- cape generators ----
    ("burgers nu<0", lambda: datasets.burgers_1d([-0.1], 1, KEY), ValueError, "nus"),
    ("burgers nu nan", lambda: datasets.burgers_1d([float("nan")], 1, KEY), ValueError, "nus"),
    ("burgers no values", lambda: datasets.burgers_1d([], 1, KEY), ValueError, "nus"),
    ("burgers n_trajectories 0", lambda: datasets.burgers_1d([0.1], 0, KEY), ValueError, "n_trajectories"),
    ("burgers cfl 0", lambda: datasets.burgers_1d([0.1], 1, KEY, cfl=0.0), ValueError, "cfl"),
    ("burgers cfl 2", lambda: datasets.burgers_1d([0.1], 1, KEY, cfl=2.0), ValueError, "cfl"),
    ("burgers n_points", lambda: datasets.burgers_1d([0.1], 1, KEY, n_cells=100, n_points=33), ValueError,
     "n_points"),
    ("burgers t_final", lambda: datasets.burgers_1d([0.1], 1, KEY, t_final=0.0), ValueError, "t_final"),
    ("burgers n_frames", lambda: datasets.burgers_1d([0.1], 1, KEY, n_frames=0), ValueError, "n_frames"),
    ("burgers chunk", lambda: datasets.burgers_1d([0.1], 1, KEY, chunk=0), ValueError, "chunk"),
    ("advection beta inf", lambda: datasets.advection_1d([float("inf")], 1, KEY), ValueError, "betas"),
    ("reaction dt_max 0", lambda: datasets.diffusion_reaction_1d([[0.1, 1.0]], 1, KEY, dt_max=0.0), ValueError,
     "dt_max"),
    ("reaction nu<0", lambda: datasets.diffusion_reaction_1d([[-1.0, 1.0]], 1, KEY), ValueError, "params"),
    ("reaction params shape", lambda: datasets.diffusion_reaction_1d([0.1, 1.0, 2.0], 1, KEY), ValueError, "params"),
    ("burgers_solve times decreasing", lambda: datasets.burgers_1d_solve(U0, 0.1, jnp.array([0.1, 0.0])),
     ValueError, "times"),
    ("burgers_solve times 2d", lambda: datasets.burgers_1d_solve(U0, 0.1, jnp.zeros((2, 2))), ValueError, "times"),
    ("burgers_solve u0 2d", lambda: datasets.burgers_1d_solve(jnp.zeros((2, 16)), 0.1, T2), ValueError, "u0"),
    ("burgers_solve u0 nan", lambda: datasets.burgers_1d_solve(U0.at[3].set(jnp.nan), 0.1, T2), ValueError, "u0"),
    ("burgers_solve nu nan", lambda: datasets.burgers_1d_solve(U0, float("nan"), T2), ValueError, "nu"),
    ("burgers_solve nu<0", lambda: datasets.burgers_1d_solve(U0, -1.0, T2), ValueError, "nu"),
    ("burgers_solve cfl 0", lambda: datasets.burgers_1d_solve(U0, 0.1, T2, cfl=0.0), ValueError, "cfl"),
    ("burgers_solve length", lambda: datasets.burgers_1d_solve(U0, 0.1, T2, length=-1.0), ValueError, "length"),
    ("advection_solve times nan", lambda: datasets.advection_1d_solve(U0, 1.0, jnp.array([0.0, jnp.nan])),
     ValueError, "times"),
    ("advection_solve beta nan", lambda: datasets.advection_1d_solve(U0, float("nan"), T2), ValueError, "beta"),
    ("reaction_solve dt_max<0", lambda: datasets.diffusion_reaction_1d_solve(U0, 0.1, 1.0, T2, dt_max=-1.0),
     ValueError, "dt_max"),
    ("reaction_solve nu<0", lambda: datasets.diffusion_reaction_1d_solve(U0, -0.1, 1.0, T2), ValueError, "nu"),
    ("initial_condition x", lambda: datasets.initial_condition(KEY, jnp.array([0.5, 0.2, 0.1])), ValueError, "x"),
    ("cell_centres 0", lambda: datasets.cell_centres(0), ValueError, "n_cells"),
    ("split fraction", lambda: _ds().split(1.5, KEY), ValueError, "fraction"),
    ("decimate space", lambda: _ds().decimate(space=0), ValueError, "space"),
    ("concatenate empty", lambda: datasets.concatenate([]), ValueError, "datasets"),
    ("read_pdebench missing", lambda: datasets.read_pdebench("/nonexistent/a.hdf5"), FileNotFoundError, "path"),
    ("write_pdebench ds", lambda: datasets.write_pdebench({"u": 1}, "/tmp/x"), TypeError, "ds"),
    ("write_pdebench nan params", lambda: datasets.write_pdebench(_ds([float("nan")]), "/tmp/x"), ValueError,
     "ds.params"),
    ("write_pdebench pde path", lambda: datasets.write_pdebench(_ds(pde="a/../../b"), "/tmp/x"), ValueError,
     "ds.pde"),
    # ---- giorom ----
    ("mpm material", lambda: giorom.simulate_mpm("lava", positions=BLOCK), ValueError, "material"),
    ("mpm outside box", lambda: giorom.simulate_mpm("water", positions=BLOCK + 0.49), ValueError, "positions"),
    ("mpm negative", lambda: giorom.simulate_mpm("water", positions=-BLOCK), ValueError, "positions"),
    ("mpm nan", lambda: giorom.simulate_mpm("water", positions=np.where(BLOCK > 0, np.nan, 0)), ValueError,
     "positions"),
    ("mpm shape", lambda: giorom.simulate_mpm("water", positions=np.zeros((5, 3))), ValueError, "positions"),
    ("mpm empty", lambda: giorom.simulate_mpm("water", positions=np.zeros((0, 2))), ValueError, "positions"),
    ("mpm n_particles 0", lambda: giorom.simulate_mpm("water", n_particles=0, key=KEY), ValueError, "n_particles"),
    ("mpm n_frames 0", lambda: giorom.simulate_mpm("water", positions=BLOCK, n_frames=0), ValueError, "n_frames"),
    ("mpm velocities", lambda: giorom.simulate_mpm("water", positions=BLOCK, velocities=np.zeros((3, 2))),
     ValueError, "velocities"),
    ("mpm gravity", lambda: giorom.simulate_mpm("water", positions=BLOCK, gravity=(1.0, 2.0, 3.0)), ValueError,
     "gravity"),
    ("mpm no key", lambda: giorom.simulate_mpm("water", n_particles=10), ValueError, "key"),
    ("config dt", lambda: giorom.MPMConfig(dt=0.0), ValueError, "config.dt"),
    ("config n_grid", lambda: giorom.MPMConfig(n_grid=2), ValueError, "config.n_grid"),
    ("config poisson", lambda: giorom.MPMConfig(poisson=0.5), ValueError, "config.poisson"),
    ("config substeps", lambda: giorom.MPMConfig(substeps=0), ValueError, "config.substeps"),
    ("config bound", lambda: giorom.MPMConfig(n_grid=8, bound=5), ValueError, "config.bound"),
    ("generate n_trajectories", lambda: giorom.generate_dataset("water", 0), ValueError, "n_trajectories"),
    ("generate n_frames", lambda: giorom.generate_dataset("water", 1, n_frames=2), ValueError, "n_frames"),
    ("generate material", lambda: giorom.generate_dataset("mud", 1), ValueError, "material"),
    ("simulate_batch chunk", lambda: giorom.simulate_batch("water", [KEY], 10, 3, chunk=0), ValueError, "chunk"),
    ("metadata dt", lambda: giorom.compute_metadata([np.zeros((4, 3, 2))], dt=-1.0, radius=0.1), ValueError, "dt"),
    ("metadata frames", lambda: giorom.compute_metadata([np.zeros((2, 3, 2))], dt=0.1, radius=0.1), ValueError,
     "positions"),
    ("save_dataset format", lambda: giorom.save_dataset("/tmp/x", {"train": None}, format="pkl"), ValueError,
     "format"),
    ("save_dataset split name", lambda: giorom.save_dataset(
        "/tmp/x", {"../up": giorom.ParticleDataset([], [], {})}), ValueError, "splits"),
    ("load_dataset missing", lambda: giorom.load_dataset("/nonexistent/data"), FileNotFoundError, "path"),
    ("load_dataset split", lambda: giorom.load_dataset("/tmp", "../etc"), ValueError, "split"),
]


@pytest.mark.parametrize("call,exc,arg", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_a_clear_error(call, exc, arg):
    with pytest.raises(exc) as info:
        call()
    assert arg in str(info.value), str(info.value)


def test_enough_cases():
    assert len(CASES) >= 40


def test_pdebench_value_collision_is_refused(tmp_path, monkeypatch):
    # if two values ever formatted to one name, nothing would be written: force it with a coarse formatter
    from sciml.cape import _data

    monkeypatch.setattr(_data, "_fmt_param", lambda v: f"{float(v):.1f}")
    with pytest.raises(ValueError, match="would both be written"):
        datasets.write_pdebench(_ds([0.11, 0.12]), tmp_path)
    assert not list(tmp_path.glob("*.hdf5"))


def test_load_dataset_bad_metadata(tmp_path):
    (tmp_path / "metadata.json").write_text(json.dumps({"dt": 0.1}))
    with pytest.raises(ValueError, match="bounds"):
        giorom.load_dataset(tmp_path)
