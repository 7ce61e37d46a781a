"""The shipped CAPE demo models (sciml/data/cape/, recipe train_demo.py) load and beat persistence on fresh data."""

import json

import jax
import numpy as np
import pytest

from sciml import cape
from sciml.cape import _demo


@pytest.fixture(scope="module")
def shipped():
    models = _demo.shipped_models()
    assert models is not None, "sciml/data/cape/ must ship burgers-base-fno and burgers-cape-fno"
    return models


@pytest.fixture(scope="module")
def fresh():
    """Fresh initial conditions (keys used neither in training nor by the demo); 12 trajectories per set, so both
    sets share one compiled solver and one compiled rollout."""
    kw = dict(_demo.DATA)
    seen = cape.datasets.burgers_1d(_demo.TRAIN_NU, 4, jax.random.key(424242), **kw)
    unseen = cape.datasets.burgers_1d(_demo.UNSEEN_NU, 6, jax.random.key(434343), **kw)
    return {"seen": seen, "unseen": unseen}


def test_shipped_files_are_small_and_recorded():
    for kind, name in _demo.NAMES.items():
        path = _demo.DATA_DIR / f"{name}.eqx"
        assert path.is_file() and path.stat().st_size < 1_000_000
        meta = json.loads(path.with_suffix(".json").read_text())
        assert meta["architecture"] == _demo.ARCH[kind]
        assert meta["data"]["train_nu"] == list(_demo.TRAIN_NU) and meta["data"]["unseen_nu"] == list(_demo.UNSEEN_NU)
        assert meta["wall_seconds"] > 0 and meta["hyper"]["epochs"] >= 1
        for split in ("seen", "unseen"):  # the recipe's own record: the model beat persistence on the demo's sets
            assert meta["test"][split]["nrmse"] < meta["test"][split]["persistence_nrmse"]


def test_shipped_models_load_with_their_recipe(shipped):
    for kind, (model, recipe) in shipped.items():
        assert cape.count_params(model) == recipe["params"]
        assert isinstance(model, cape.CAPEModel) == (kind == "cape")
        leaves = jax.tree_util.tree_leaves(model)
        assert all(isinstance(x, jax.Array) and bool(np.all(np.isfinite(x))) for x in leaves)


@pytest.mark.parametrize("split", ["seen", "unseen"])
def test_shipped_models_beat_persistence(shipped, fresh, split):
    ds = fresh[split]
    pers = cape.persistence_nrmse(ds)
    for kind, (model, _) in shipped.items():
        err = cape.nrmse(model, ds)
        assert np.isfinite(err) and err < 0.6 * pers, (kind, split, err, pers)
