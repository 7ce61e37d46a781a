"""Public loader of the shipped GIOROM models: `giorom.available_pretrained`, `load_pretrained`, `pretrained_recipe`."""

import json

import equinox as eqx
import jax
import numpy as np
import pytest

from sciml import giorom, train
from sciml._demo import DATA

NAME = "giorom-jelly-demo"


def test_shipped_model_loads_with_its_training_statistics():
    assert NAME in giorom.available_pretrained()
    model = giorom.load_pretrained(NAME)
    side = json.loads((DATA / "giorom" / f"{NAME}.json").read_text())
    assert isinstance(model, giorom.GIOROM) and model.n_sample == side["arch"]["n_sample"]
    # statistics and walls are static fields: they come from the sidecar's metadata, not from a default
    assert model.norm.acc_mean == tuple(side["metadata"]["acc_mean"])
    assert model.norm.vel_std == tuple(side["metadata"]["vel_std"])
    # trained weights, not a fresh initialisation: the query decoder's kernel output layer starts at zero
    # (KernelDecoder(learned=True) initialises it with out_scale=0)
    assert np.abs(np.asarray(model.query_decoder.mlp.layers[-1].weight)).max() > 1e-3
    recipe = giorom.pretrained_recipe(NAME)
    assert recipe["data"]["material"] == "jelly" and recipe["steps_done"] > 0
    e = recipe["test"]["errors"]
    assert e["giorom"]["mse_full"] < e["constant_velocity"]["mse_full"]


def test_bad_names_are_rejected_with_the_available_ones():
    with pytest.raises(ValueError, match=r"`name`.*'nope'.*giorom-jelly-demo"):
        giorom.load_pretrained("nope")
    with pytest.raises(ValueError, match="`name`"):
        giorom.pretrained_recipe("../giorom/giorom-jelly-demo")
    with pytest.raises(TypeError, match="`name`"):
        giorom.load_pretrained(3)
    with pytest.raises(TypeError, match="`directory`"):
        giorom.load_pretrained(NAME, directory=5)


def test_load_from_a_directory_round_trips(tmp_path):
    md = dict(vel_mean=[0.0, -1e-4], vel_std=[1e-3, 2e-3], acc_mean=[0.0, -1e-5], acc_std=[1e-4, 2e-4],
              bounds=[[0.0, 1.0], [0.0, 1.0]], default_connectivity_radius=0.08, n_particles=160)
    arch = dict(n_sample=80, latent=8, n_mp=1, grid=[8, 8], grid_channels=4, modes=3)
    # shapes only (eager initialisation is slow on a loaded CPU), then distinct random leaves
    like = eqx.filter_eval_shape(lambda: giorom.GIOROM(md, n_full=160, n_sample=80, latent=8, n_mp=1, grid=(8, 8),
                                                       grid_channels=4, modes=3, key=jax.random.key(5)))
    rng = np.random.default_rng(0)
    m = jax.tree.map(lambda s: rng.standard_normal(s.shape).astype(s.dtype)
                     if isinstance(s, jax.ShapeDtypeStruct) else s, like)
    train.save_model(tmp_path / "small.eqx", m, {"arch": arch, "metadata": md, "recipe": {"note": "test"}})
    (tmp_path / "other.eqx").write_bytes(b"")  # no sidecar: not listed
    got = giorom.load_pretrained("small", directory=tmp_path)
    for a, b in zip(jax.tree.leaves(eqx.filter(m, eqx.is_array)), jax.tree.leaves(eqx.filter(got, eqx.is_array))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert got.radius == m.radius and giorom.pretrained_recipe("small", directory=tmp_path) == {"note": "test"}
    with pytest.raises(ValueError, match=r"available: \['small'\]"):
        giorom.load_pretrained("other", directory=tmp_path)
    # a model file whose sidecar lacks the architecture is refused by name
    train.save_model(tmp_path / "bare.eqx", m)
    with pytest.raises(ValueError, match="`name`.*arch"):
        giorom.load_pretrained("bare", directory=tmp_path)
