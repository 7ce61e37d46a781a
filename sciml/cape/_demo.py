"""CAPE part of ``sciml demo``: multi-viscosity Burgers, Base FNO vs CAPE-FNO, seen vs unseen nu, at small scale.

The demo loads two small trained models shipped in ``sciml/data/cape/`` (recipe: ``sciml/data/cape/train_demo.py``,
which builds its models and data with the constants and helpers below) and evaluates them on freshly generated
test trajectories; an installation without them trains tiny models for a few seconds instead."""

from __future__ import annotations

import pathlib
import time

import jax
import numpy as np

from ..plot import spacetime_rollouts as plot_rollouts

# data of the demo and of its shipped models: 128 cells -> 64 points, 11 frames on t in [0, 1]
DATA = dict(n_cells=128, n_points=64, n_frames=11, t_final=1.0)
TRAIN_NU = (0.005, 0.02, 0.08)
UNSEEN_NU = (0.0025, 0.04)
TEST_KEYS = (7001, 7002)  # the demo's test sets (seen, unseen): never used in training
N_TEST = (10, 15)  # per viscosity (seen, unseen): 30 trajectories each, one compiled solver and rollout shape
ARCH = {"base": dict(width=24, modes=12), "cape": dict(width=16, modes=12, cape_width=24)}
DATA_DIR = pathlib.Path(__file__).resolve().parents[1] / "data" / "cape"  # the shipped models
NAMES = {"base": "burgers-base-fno", "cape": "burgers-cape-fno"}
LABELS = {"base": "Base FNO", "cape": "CAPE-FNO"}


def demo_models(key=None) -> dict:
    """Freshly initialised Base FNO and CAPE-FNO (improved block) of the shipped architectures, their parameter
    standardisation taken from ``TRAIN_NU`` (as ``cape.param_stats`` of the training set computes it)."""
    from . import _models

    key = jax.random.key(3) if key is None else key
    logs = np.log(np.asarray(TRAIN_NU, np.float64))
    mean, std = logs.mean(keepdims=True), logs.std(keepdims=True)
    return {kind: _models.make_model(kind, key=key, param_mean=mean, param_std=std, **ARCH[kind]) for kind in ARCH}


def test_sets():
    """The demo's test trajectories: ``N_TEST[0]`` fresh initial conditions per viscosity of ``TRAIN_NU`` (seen) and
    ``N_TEST[1]`` per viscosity of ``UNSEEN_NU``."""
    from . import _data

    seen = _data.burgers_1d(TRAIN_NU, N_TEST[0], jax.random.key(TEST_KEYS[0]), **DATA)
    unseen = _data.burgers_1d(UNSEEN_NU, N_TEST[1], jax.random.key(TEST_KEYS[1]), **DATA)
    return seen, unseen


def shipped_models():
    """``{kind: (model, recipe)}`` of the shipped demo models, or ``None`` if any is missing."""
    import equinox as eqx

    from .._demo import load_shipped

    out = {}
    # shapes and dtypes only: initialising the layers op by op costs far more than loading them
    for kind, like in eqx.filter_eval_shape(demo_models).items():
        got = load_shipped("cape", NAMES[kind], like)
        if got is None:
            return None
        out[kind] = got
    return out


def _train_quick():
    """Fallback when no shipped models are installed: 7 epochs from scratch on 72 trajectories (not converged)."""
    from . import _data, _train

    train = _data.burgers_1d(TRAIN_NU, 24, jax.random.key(0), **DATA)
    out = {}
    for kind, m in demo_models().items():
        rep = _train.train(m, train, epochs=7, warmup=_train.Warmup(1), batch_size=12, learning_rate=3e-3,
                           progress=False, key=jax.random.key(4))
        out[kind] = (rep.model, {"wall_seconds": round(rep.seconds, 1), "hyper": {"epochs": 7}})
    return out


def _fmt(values) -> str:
    return "{" + ", ".join(f"{v:g}" for v in values) + "}"


def _mean_nrmse(ds) -> float:
    """nRMSE of the trivial predictor u^t = mean_x u^0 (Burgers conserves the mean on a periodic domain)."""
    from . import _metrics

    pred = np.broadcast_to(np.asarray(ds.u[:, :1]).mean(-1, keepdims=True), ds.u.shape)
    return float(np.asarray(_metrics.frame_errors(pred, ds.u, 1)).mean())


def run_demo(outdir: pathlib.Path) -> str:
    """Load the shipped Base FNO and CAPE-FNO (trained on Burgers with nu in ``TRAIN_NU``), evaluate nRMSE on
    fresh initial conditions at seen and unseen nu against persistence ``u^t = u^0``, plot rollouts. Returns a
    Markdown section."""
    from ..nn import count_params
    from . import _metrics

    outdir = pathlib.Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    seen, unseen = test_sets()
    t_data = time.perf_counter() - t0
    ts = time.perf_counter()
    models = shipped_models()
    shipped = models is not None
    if not shipped:
        models = _train_quick()
    t_models = time.perf_counter() - ts
    pers = (_metrics.persistence_nrmse(seen), _metrics.persistence_nrmse(unseen))
    rows = []
    for kind, (model, recipe) in models.items():
        te = time.perf_counter()
        rows.append((LABELS[kind], count_params(model), _metrics.nrmse(model, seen), _metrics.nrmse(model, unseen),
                     recipe.get("wall_seconds", float("nan")), time.perf_counter() - te))
    from .._demo import figure

    img = figure(plot_rollouts, {LABELS[k]: m for k, (m, _) in models.items()}, unseen, outdir / "cape_rollouts.png",
                 alt="CAPE rollouts", title="Burgers, unseen nu (fresh ICs)")
    hyper = models["cape"][1].get("hyper", {})
    origin = (f"Shipped models (`sciml/data/cape/`, loaded in {t_models:.1f} s), trained by the recipe "
              f"`sciml/data/cape/train_demo.py` ({hyper.get('n_train_per_nu', '?')} trajectories per training nu, "
              f"{hyper.get('epochs', '?')} epochs of the teacher-forcing -> autoregressive curriculum)."
              if shipped else "No shipped models in this installation: tiny models trained here for 7 epochs "
              "(not converged).")
    lines = [
        "## CAPE: parameter-conditioned neural surrogate (Burgers, several viscosities)",
        "",
        f"PDEBench-style Burgers data regenerated here ({t_data:.0f} s): FV MUSCL+Rusanov with exact spectral "
        f"diffusion, 128 cells -> 64 points, 11 frames on t in [0, 1]; models trained at nu in {_fmt(TRAIN_NU)}, "
        f"tested on fresh initial conditions at the same nu ({len(seen)} trajectories, seen) and at nu in "
        f"{_fmt(UNSEEN_NU)} ({len(unseen)}, unseen). {origin} nRMSE: the mean over trajectories and predicted "
        "frames of ||pred - u|| / ||u|| (PDEBench), fully autoregressive rollouts from u^0. Two trivial baselines: "
        "persistence, and the spatial mean of u^0 (which Burgers conserves; the states decay towards it).",
        "",
        "| model | params | nRMSE seen | nRMSE unseen | training seconds (recipe) | evaluation seconds |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r[0]} | {r[1]:,} | {r[2]:.3f} | {r[3]:.3f} | {r[4]:.0f} | {r[5]:.1f} |")
    lines.append(f"| persistence u^t = u^0 | 0 | {pers[0]:.3f} | {pers[1]:.3f} | - | - |")
    lines.append(f"| spatial mean of u^0 | 0 | {_mean_nrmse(seen):.3f} | {_mean_nrmse(unseen):.3f} | - | - |")
    lines += ["", img, ""]
    return "\n".join(lines)
