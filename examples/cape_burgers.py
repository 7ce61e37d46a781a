"""CAPE on multi-viscosity Burgers: regenerate PDEBench-style data, train Base FNO and CAPE-FNO with the
teacher-forcing -> autoregressive curriculum, compare nRMSE at seen and unseen viscosities (fresh initial
conditions), and plot rollouts.

    python examples/cape_burgers.py                  # ~10 min on 2 CPU cores
    python examples/cape_burgers.py --epochs 30 --n-train 200 --variant faithful   # closer to the paper (GPU)

Writes cape_burgers_seen.png / cape_burgers_unseen.png / cape_burgers.json into --out.
"""

from __future__ import annotations

import argparse
import json
import pathlib

import jax

from sciml import cape, plot


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--n-train", type=int, default=40, help="trajectories per training viscosity")
    ap.add_argument("--variant", choices=["improved", "faithful"], default="improved")
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--out", default="cape_burgers_out")
    args = ap.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # spec cape.md §6 CPU protocol: 256 cells -> 128 points, t in [0, 2], 21 frames
    seen_nus, unseen_nus = [0.002, 0.007, 0.02, 0.04, 0.1], [0.001, 0.004, 0.01, 0.2]
    train = cape.datasets.burgers_1d(seen_nus, args.n_train, jax.random.key(0))
    seen = cape.datasets.burgers_1d(seen_nus, 10, jax.random.key(1))  # fresh initial conditions
    unseen = cape.datasets.burgers_1d(unseen_nus, 10, jax.random.key(2))
    mean, std = cape.param_stats(train)  # standardised log-viscosity for the improved variant

    models, results = {}, {}
    for kind in ("base", "cape"):
        model = cape.make_model(kind, cape_variant=args.variant, grid_shape=(128,), key=jax.random.key(3),
                                param_mean=mean, param_std=std)
        opt = cape.default_optimizer(args.lr, len(train) // args.batch, step_epochs=4, clip_norm=1.0)
        rep = cape.train(model, train, epochs=args.epochs, warmup=cape.Warmup(1), batch_size=args.batch,
                         learning_rate=args.lr, optimizer=opt, key=jax.random.key(4))
        name = {"base": "Base FNO", "cape": f"CAPE-FNO ({args.variant})"}[kind]
        models[name] = rep.model
        results[name] = {"params": cape.count_params(rep.model), "epoch_loss": rep.epoch_loss,
                         "seen": cape.evaluate(rep.model, seen), "unseen": cape.evaluate(rep.model, unseen)}
        print(f"{name}: seen nRMSE {results[name]['seen']['nrmse']:.4f}, unseen {results[name]['unseen']['nrmse']:.4f}")
    results["persistence"] = {"seen": cape.persistence_nrmse(seen), "unseen": cape.persistence_nrmse(unseen)}
    plot.spacetime_rollouts(models, seen, out / "cape_burgers_seen.png", title="Burgers, seen viscosities (fresh ICs)")
    plot.spacetime_rollouts(models, unseen, out / "cape_burgers_unseen.png", title="Burgers, unseen viscosities")
    def clean(o):  # per-parameter tables are keyed by parameter tuples
        if isinstance(o, dict):
            return {(f"{k[0]:g}" if isinstance(k, tuple) else k): clean(v) for k, v in o.items()}
        return o

    (out / "cape_burgers.json").write_text(json.dumps(clean(results), indent=1, default=str))
    print(f"wrote {out}/cape_burgers_*.png and cape_burgers.json")


if __name__ == "__main__":
    main()
