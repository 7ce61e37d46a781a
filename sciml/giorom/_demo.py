"""`sciml demo` section for GIOROM: a shipped small GIOROM (trained by `sciml/data/giorom/train_demo.py`) rolls out
fresh MLS-MPM jelly trajectories and is compared with constant velocity.

The helpers here (the demo's data settings, the architecture, loading the shipped weights and the evaluation) are
shared by the demo, the training recipe and the tests, so the three always agree."""

from __future__ import annotations

import pathlib
import time

import equinox as eqx
import jax
import numpy as np

from ..plot import particle_frames as plot_frame_strip

WEIGHTS = "giorom-jelly-demo"
# data of the shipped model: random jelly block drops (spec giorom.md §3 scene), N particles, T stored frames
DATA = dict(material="jelly", n_particles=1000, n_frames=64)
# GIOROM on n = 10 % farthest-point nodes; a small latent grid keeps the weights well under 1 MB
ARCH = dict(n_sample=100, latent=32, n_mp=1, grid=(16, 16), grid_channels=16, modes=6, noise_std=3e-4)
TEST_KEY = 20261202  # fresh test scenes: the training data use jax.random.key(0)
N_TEST = 4


def gravity_centred(metadata: dict) -> dict:
    """`metadata` with `acc_mean` set to the free-fall acceleration per frame, g·frame_dt², instead of the data
    mean (the std stays the data's). The floor impacts bias the data mean upwards (+1.9e-4 per frame against
    g·dt² = -3.1e-4 on the old demo's data), so an untrained network (output near zero) decelerates in mid-air;
    centred on gravity its zero output is free fall. A prior only: after 1000 steps on the old demo's data it made
    no difference (the old model lost to constant velocity because 4 training scenes let it memorise them)."""
    from . import MPMConfig

    cfg = MPMConfig()
    md = dict(metadata)
    md["acc_mean"] = [float(g) * float(metadata["dt"]) ** 2 for g in cfg.gravity]
    md["acc_mean_source"] = "gravity * dt^2 (sciml.giorom._demo.gravity_centred)"
    return md


def make_model(metadata: dict, key=None, arch: dict | None = None):
    """A freshly initialised GIOROM of the demo architecture on data with `metadata`."""
    from . import GIOROM

    a = dict(ARCH if arch is None else arch)
    n_full = int(metadata.get("n_particles", DATA["n_particles"]))
    key = jax.random.key(2) if key is None else key
    return GIOROM(metadata, n_full=n_full, n_sample=a.pop("n_sample"), grid=tuple(a.pop("grid")), key=key, **a)


def load_pretrained():
    """The shipped demo GIOROM as `(model, sidecar)` through the public `giorom.load_pretrained`, or None when
    this installation has none. The model's normalisation statistics and wall bounds are static fields: they come
    from the sidecar's stored `metadata`."""
    from . import _pretrained

    if WEIGHTS not in _pretrained.available_pretrained():
        return None
    return _pretrained.load_pretrained(WEIGHTS), _pretrained._sidecar(WEIGHTS, None)[1]


def fresh_trajectories(n_test: int = N_TEST, key: int = TEST_KEY, n_particles: int | None = None,
                       n_frames: int | None = None):
    """Fresh jelly trajectories (not in the training data): (positions (B, T, N, 2), particle_type (B, N))."""
    from . import generate_dataset

    ds = generate_dataset(DATA["material"], n_test, n_particles=n_particles or DATA["n_particles"],
                          n_frames=n_frames or DATA["n_frames"], key=jax.random.key(key))
    return ds.stacked()


def evaluate(model, P, T, horizons=(1, 10, 20)):
    """Roll `model` out from the first 6 frames of every trajectory in (B, T, N, 2) positions `P` and compare all N
    particles with the truth; the same for constant velocity and for free fall (constant velocity plus gravity).
    Returns `(errors, first_prediction, extra)`: errors {"giorom": {...}, "constant_velocity": {...},
    "free_fall": {...}} averaged over trajectories (`rollout_mse` keys), the dense prediction of trajectory 0, and
    diagnostics (how far any predicted sparse node went below the floor)."""
    from . import constant_velocity, rollout, rollout_mse

    from . import MPMConfig

    steps = P.shape[1] - 6
    g = np.asarray(MPMConfig().gravity) * MPMConfig().frame_dt ** 2  # free-fall acceleration per frame
    k = np.arange(1, steps + 1)[:, None, None]
    errs = {"giorom": [], "constant_velocity": [], "free_fall": []}
    first, below = None, 0.0
    floor = float(model.norm.bounds[1][0])
    for b in range(P.shape[0]):
        dense, xs, _ = rollout(model, P[b, :6], steps, particle_type=T[b], return_sparse=True)
        dense = np.asarray(dense)
        first = dense if first is None else first
        below = max(below, float(floor - np.asarray(xs)[..., 1].min()))
        errs["giorom"].append(rollout_mse(dense, P[b, 6:], horizons))
        errs["constant_velocity"].append(rollout_mse(constant_velocity(P[b, :6], steps), P[b, 6:], horizons))
        # constant velocity plus gravity (semi-implicit Euler: x_k = x + k v + g k (k + 1) / 2), no floor
        ff = P[b, 5] + k * (P[b, 5] - P[b, 4]) + g * k * (k + 1) / 2
        errs["free_fall"].append(rollout_mse(ff, P[b, 6:], horizons))
    mean = {k: {m: float(np.mean([e[m] for e in v])) for m in v[0]} for k, v in errs.items()}
    truth_below = max(0.0, float(floor - P[..., 1].min()))
    return mean, first, {"max_depth_below_floor": below, "truth_max_depth_below_floor": truth_below}


def _train_fallback(N, n_frames):
    """No shipped weights (a source tree without `sciml/data/giorom`): train a small model briefly."""
    from . import generate_dataset, sparse_subsets, train, train_decoder

    tr = generate_dataset(DATA["material"], 8, n_particles=N, n_frames=n_frames, key=jax.random.key(0))
    model = make_model(gravity_centred(tr.metadata))
    res = train(model, tr, steps=1500, batch_size=4, learning_rate=1e-3, key=jax.random.key(3), progress=False)
    sub, own = sparse_subsets(tr.stacked()[0], model.n_sample, 1, reference_frame=5)
    dec = train_decoder(res.model.query_decoder, tr, sub, own, steps=100).model
    losses = np.asarray(res.losses)
    k = max(1, len(losses) // 10)
    note = (f"No shipped weights in this installation: trained here for {res.step} steps (loss "
            f"{losses[:k].mean():.3g} -> {losses[-k:].mean():.3g}) on {len(tr)} trajectories.")
    return eqx.tree_at(lambda mm: mm.query_decoder, res.model, dec), note


def run_demo(outdir: pathlib.Path) -> str:
    outdir = pathlib.Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    N, frames = DATA["n_particles"], DATA["n_frames"]
    loaded = load_pretrained()
    if loaded is not None:
        model, recipe = loaded
        r = recipe.get("recipe", {})
        note = (f"Shipped weights `{WEIGHTS}` (recipe `sciml/data/giorom/train_demo.py`: {r.get('n_train', '?')} "
                f"training trajectories, {r.get('steps_done', '?')} steps, {r.get('train_seconds', 0):.0f} s on "
                f"{r.get('device', 'cpu')}).")
    else:
        model, note = _train_fallback(N, frames)
    t_model = time.perf_counter() - t0
    t1 = time.perf_counter()
    P, T = fresh_trajectories()
    t_data = time.perf_counter() - t1
    t2 = time.perf_counter()
    err, pred, extra = evaluate(model, P, T)
    t_roll = time.perf_counter() - t2
    S = P.shape[1] - 6
    from .._demo import figure

    img = figure(plot_frame_strip, P[0, 6:], pred, outdir / "giorom_jelly.png", [0, S // 4, S // 2, 3 * S // 4, S - 1],
                 alt="GIOROM jelly rollout")
    e, cv, ff = err["giorom"], err["constant_velocity"], err["free_fall"]
    beats = e["mse20"] < cv["mse20"] and e["mse_full"] < cv["mse_full"]
    md = [
        "## GIOROM: reduced-order particle dynamics (jelly, MLS-MPM data)",
        "",
        f"{P.shape[0]} fresh jelly block drops simulated with MLS-MPM ({N} particles, {frames} frames, {t_data:.0f} s); "
        f"GIOROM steps n = {model.n_sample} farthest-point nodes and decodes all {N} particles in the reference "
        f"configuration. {note} Rollout of {S} steps from the first 6 frames ({t_roll:.0f} s for all trajectories, "
        "compilation included); errors averaged over the trajectories and all particles.",
        "",
        "| model | MSE1 | MSE10 | MSE20 | MSE full |",
        "|---|---|---|---|---|",
        f"| GIOROM (n={model.n_sample}) | {e['mse1']:.2e} | {e['mse10']:.2e} | {e['mse20']:.2e} | {e['mse_full']:.2e} |",
        f"| constant velocity | {cv['mse1']:.2e} | {cv['mse10']:.2e} | {cv['mse20']:.2e} | {cv['mse_full']:.2e} |",
        f"| free fall (constant velocity + gravity, no floor) | {ff['mse1']:.2e} | {ff['mse10']:.2e} | "
        f"{ff['mse20']:.2e} | {ff['mse_full']:.2e} |",
        "",
        f"GIOROM {'beats' if beats else 'does NOT beat'} constant velocity at MSE20 and over the full rollout "
        f"(x{cv['mse20'] / e['mse20']:.1f} and x{cv['mse_full'] / e['mse_full']:.1f}). Deepest predicted node below "
        f"the floor: {extra['max_depth_below_floor']:.1e} (truth {extra['truth_max_depth_below_floor']:.1e}).",
        "",
        img,
        "",
        f"(model ready in {t_model:.0f} s; demo wall time {time.perf_counter() - t0:.0f} s.)",
    ]
    print("\n".join(md[6:11]))
    return "\n".join(md)
