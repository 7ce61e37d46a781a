"""The shipped demo GIOROM (`sciml/data/giorom/giorom-jelly-demo.eqx`, recipe `train_demo.py`) loads and beats
constant velocity on a fresh MLS-MPM jelly trajectory that was not in its training data."""

import json

import numpy as np

from sciml import giorom
from sciml._demo import DATA
from sciml.giorom import _demo


def test_shipped_weights_and_recipe():
    side = DATA / "giorom" / f"{_demo.WEIGHTS}.json"
    weights = side.with_suffix(".eqx")
    assert weights.is_file() and weights.stat().st_size < 2e6
    recipe = json.loads(side.read_text())["recipe"]
    # the recorded evaluation on the demo's own test scenes: GIOROM beats constant velocity
    err = recipe["test"]["errors"]
    for m in ("mse20", "mse_full"):
        assert err["giorom"][m] < err["constant_velocity"][m], (m, err)
    assert recipe["steps_done"] > 0 and recipe["final_loss"] < recipe["first_loss"]


def test_shipped_giorom_beats_constant_velocity():
    loaded = _demo.load_pretrained()
    assert loaded is not None, "sciml/data/giorom/giorom-jelly-demo.eqx is missing"
    model, recipe = loaded
    assert isinstance(model, giorom.GIOROM) and model.n_sample == _demo.ARCH["n_sample"]
    assert model.norm.acc_mean == tuple(recipe["metadata"]["acc_mean"])
    # one fresh scene (a key used neither in training nor by the demo) of 300 particles (the stepper sees its
    # 100 farthest-point nodes whatever N is), 30 frames: a 24-step rollout
    P, T = _demo.fresh_trajectories(1, key=7, n_particles=300, n_frames=30)
    err, pred, extra = _demo.evaluate(model, P, T)
    assert pred.shape == (24, 300, 2) and np.all(np.isfinite(pred))
    e, cv = err["giorom"], err["constant_velocity"]
    assert e["mse20"] < cv["mse20"] and e["mse_full"] < cv["mse_full"], err
