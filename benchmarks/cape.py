"""CAPE benchmark (spec cape.md §6): multi-parameter 1D Burgers (and advection on GPU), Base FNO vs CAPE-FNO
(+ Conditional / FiLM on GPU), seen vs unseen parameters with fresh initial conditions, resolution transfer.

    python benchmarks/cape.py --size small      # CPU, <= 10 min incl. data (2 cores)
    python benchmarks/cape.py --size gpu        # one GPU, Burgers + advection, CAPE parameter sets, 3 seeds

Writes benchmarks/results/cape-<device>.json (api.md schema).
"""

from __future__ import annotations

import argparse
import sys
import time

import equinox as eqx
import jax
import numpy as np

from sciml import cape
from sciml._bench import Case, device_label, write_results

CONFIGS = {
    # spec §6 CPU tier (scaled to fit 10 min on 2 shared cores): 256 cells -> 128 points, t in [0, 2], 21 frames
    "small": dict(
        pdes=("burgers",),
        train={"burgers": [0.002, 0.007, 0.02, 0.04, 0.1]},
        unseen={"burgers": [0.001, 0.004, 0.01, 0.2]},
        n_train=40, n_seen_test=16, n_unseen=24, n_cells=256, n_points=128, n_frames=21,
        kinds=("base", "cape"), seeds=(0, 1, 2), epochs=12, warmup=1, batch=10, lr=1e-3, lr_step=4,
        loss_norm="frame", transfer=True, clip=1.0,
    ),
    # spec §6 GPU tier: PDEBench-faithful 1024 cells -> 128 points x 41 frames, CAPE's parameter sets (§3)
    "gpu": dict(
        pdes=("burgers", "advection"),
        train={"burgers": [0.002, 0.007, 0.02, 0.04, 0.2, 0.4, 2.0], "advection": [0.2, 0.4, 0.7, 2.0, 4.0]},
        unseen={"burgers": [0.001, 0.004, 0.01, 0.1, 1.0, 4.0], "advection": [0.1, 1.0, 7.0]},
        n_train=200, n_seen_test=50, n_unseen=100, n_cells=1024, n_points=128, n_frames=41,
        kinds=("base", "conditional", "cape"), seeds=(0, 1, 2), epochs=30, warmup=3, batch=50, lr=3e-3,
        lr_step=20, loss_norm="trajectory", transfer=True, clip=1.0,
    ),
}
PDEBENCH_FNO = {  # spec §4, single-parameter FNO nRMSE (arXiv v7), for reference only
    "burgers": {0.001: 2.9e-2, 0.01: 7.8e-3, 0.1: 2.9e-3, 1.0: 4.0e-3},
    "advection": {0.1: 7.7e-3, 0.4: 1.0e-2, 1.0: 9.7e-3, 4.0: 6.7e-3},
}


def _data(pde, values, n, key, cfg, n_points=None):
    kw = dict(n_cells=cfg["n_cells"], n_points=n_points or cfg["n_points"], n_frames=cfg["n_frames"])
    if pde == "burgers":
        return cape.datasets.burgers_1d(values, n, key, **kw)
    return cape.datasets.advection_1d(values, n, key, **kw)


def _objective(model, ds, t_ar, cfg):
    """The training objective (curriculum rollout loss at prefix ``t_ar``, fixed noise key) averaged over ``ds``
    in training-size batches: lets the loss before and after training be compared on the same objective."""
    aux = 5.7e-5 if isinstance(model, cape.CAPEModel) else 0.0
    f = eqx.filter_jit(lambda m, u, lam: cape.rollout_loss(m, {"u": u, "lam": lam, "t_ar": t_ar}, jax.random.key(0),
                                                           loss_norm=cfg["loss_norm"], aux_weight=aux)[0])
    bs = min(cfg["batch"], len(ds))
    return float(np.mean([f(model, ds.u[i:i + bs], ds.params[i:i + bs]) for i in range(0, len(ds) - bs + 1, bs)]))


def run_pde(pde, cfg, cases, log):
    t0 = time.perf_counter()
    k = jax.random.key(2026)
    train = _data(pde, cfg["train"][pde], cfg["n_train"], jax.random.fold_in(k, 0), cfg)
    seen = _data(pde, cfg["train"][pde], cfg["n_seen_test"], jax.random.fold_in(k, 1), cfg)  # fresh ICs
    fine = cfg["n_cells"] // cfg["n_points"] >= 2 and cfg["transfer"]
    if fine:  # unseen test solved once, kept at 2x resolution for the transfer test, strided for the rest
        unseen_fine = _data(pde, cfg["unseen"][pde], cfg["n_unseen"], jax.random.fold_in(k, 2), cfg,
                            n_points=2 * cfg["n_points"])
        unseen = unseen_fine.decimate(space=2)
    else:
        unseen = _data(pde, cfg["unseen"][pde], cfg["n_unseen"], jax.random.fold_in(k, 2), cfg)
        unseen_fine = None
    t_data = time.perf_counter() - t0
    pers = {"seen": cape.persistence_nrmse(seen), "unseen": cape.persistence_nrmse(unseen)}
    log(f"[{pde}] data {t_data:.1f} s: train {train.u.shape}, persistence nRMSE seen {pers['seen']:.3f} "
        f"unseen {pers['unseen']:.3f}")
    cases.append(Case(case=f"{pde}-data", metric="seconds", value=round(t_data, 2), seconds=round(t_data, 2),
                      notes=f"{len(train)} train / {len(seen)} seen-test / {len(unseen)} unseen-test trajectories, "
                            f"{cfg['n_cells']} cells -> {cfg['n_points']} points, {cfg['n_frames']} frames"))
    mean, std = cape.param_stats(train)
    # spec §2: 90/10 split of the pooled training set; the model with the best validation nRMSE is kept
    fit_set, val_set = train.split(0.9, jax.random.fold_in(k, 3))
    results = {}
    for kind in cfg["kinds"]:
        for seed in cfg["seeds"]:
            ts = time.perf_counter()
            # CAPE's local stencils act at the training grid (ref_grid): other resolutions are Fourier-resampled
            extra = {"ref_grid": (cfg["n_points"],)} if kind == "cape" else {}
            model = cape.make_model(kind, key=jax.random.key(100 + seed), param_mean=mean, param_std=std, **extra)
            init_seen = cape.nrmse(model, seen)  # the same (fully autoregressive) error before training
            spe = len(fit_set) // min(cfg["batch"], len(fit_set))
            opt = cape.default_optimizer(cfg["lr"], spe, step_epochs=cfg["lr_step"], clip_norm=cfg["clip"])
            rep = cape.train(model, fit_set, val=val_set, epochs=cfg["epochs"], warmup=cape.Warmup(cfg["warmup"]),
                             batch_size=cfg["batch"], learning_rate=cfg["lr"], optimizer=opt,
                             loss=cape.RolloutLoss(loss_norm=cfg["loss_norm"]), key=jax.random.key(seed),
                             progress=False)
            # "train loss falls >= 3x from epoch 0", on one objective: the curriculum moves from teacher forcing
            # (epoch 0) to autoregressive rollouts (last epoch), so the last epoch's mean loss is a harder loss than
            # epoch 0's; the trained model is scored on epoch 0's objective (t_ar = 1) over the training set, and
            # the untrained and trained models on the last epoch's objective
            tf_final = _objective(rep.model, fit_set, rep.t_ar[0], cfg)
            ar_init, ar_final = (_objective(m_, fit_set, rep.t_ar[-1], cfg) for m_ in (model, rep.model))
            ev_seen = cape.evaluate(rep.model, seen)
            ev_unseen = cape.evaluate(rep.model, unseen)
            rec = dict(params=cape.count_params(rep.model), epoch_loss=rep.epoch_loss, t_ar=rep.t_ar,
                       seen=ev_seen, unseen=ev_unseen, seconds=time.perf_counter() - ts,
                       epoch_mean_drop=rep.epoch_loss[0] / rep.epoch_loss[-1], init_seen=init_seen,
                       loss_drop=rep.epoch_loss[0] / tf_final, ar_drop=ar_init / ar_final,
                       rollout_drop=init_seen / ev_seen["nrmse"])
            if kind == "cape" and unseen_fine is not None:
                rec["unseen_2x"] = cape.evaluate(rep.model, unseen_fine)
            results.setdefault(kind, []).append(rec)
            log(f"[{pde}] {kind} seed {seed}: {rec['params']} params, {rec['seconds']:.0f} s, epoch losses "
                f"{[round(v, 3) for v in rep.epoch_loss]}, nRMSE seen {ev_seen['nrmse']:.4f} unseen "
                f"{ev_unseen['nrmse']:.4f}" + (f", unseen@2x {rec['unseen_2x']['nrmse']:.4f}" if "unseen_2x" in rec
                                               else ""))
    # ---- cases
    nseeds = len(cfg["seeds"])
    agg = {k: {s: float(np.mean([r[s]["nrmse"] for r in v])) for s in ("seen", "unseen")} for k, v in results.items()}
    for kind, recs in results.items():
        drop = float(np.min([r["loss_drop"] for r in recs]))
        ar_drop = float(np.min([r["ar_drop"] for r in recs]))
        sec = float(np.sum([r["seconds"] for r in recs]))
        cases.append(Case(case=f"{pde}-{kind}-loss-drop", metric="epoch0_loss/final_model_loss", value=round(drop, 3),
                          target=3.0, passed=bool(drop >= 3.0), seconds=round(sec, 1),
                          notes=f"min over {nseeds} seed(s); training loss (sum over frames of relL2) on one objective: "
                                "epoch 0's mean (teacher-forced, t_ar = 1) over the trained model's loss on that objective "
                                "(training set). The raw last-epoch mean is a harder, mostly autoregressive loss: "
                                "epoch_mean_drop records epoch 0 / last epoch",
                          extra={"epoch_loss": [[round(v, 4) for v in r["epoch_loss"]] for r in recs],
                                 "t_ar": recs[0]["t_ar"],
                                 "epoch_mean_drop": [round(r["epoch_mean_drop"], 3) for r in recs]}))
        cases.append(Case(case=f"{pde}-{kind}-ar-loss-drop", metric="initial_loss/final_loss", value=round(ar_drop, 3),
                          target=3.0, passed=bool(ar_drop >= 3.0),
                          notes=f"min over {nseeds} seed(s); the last epoch's (mostly autoregressive, t_ar = "
                                f"{recs[0]['t_ar'][-1]}) objective on the training set, untrained vs trained model"))
        rdrop = float(np.min([r["rollout_drop"] for r in recs]))
        cases.append(Case(case=f"{pde}-{kind}-rollout-error-drop", metric="nrmse_init/nrmse_final", value=round(rdrop, 3),
                          target=3.0, passed=bool(rdrop >= 3.0),
                          notes="same fully autoregressive nRMSE (seen parameters, fresh ICs) before and after training",
                          extra={"nrmse_init": [round(r["init_seen"], 4) for r in recs]}))
        for split in ("seen", "unseen"):
            v = agg[kind][split]
            per = {f"{p[0]:.4g}": round(float(np.mean([r[split]["per_param"][p] for r in recs])), 4)
                   for p in recs[0][split]["per_param"]}
            cases.append(Case(case=f"{pde}-{kind}-{split}", metric="nrmse", value=round(v, 5),
                              target=round(pers[split], 4), passed=bool(v < pers[split]),
                              paper=None, notes=f"mean of {nseeds} seed(s), target = persistence u^t=u^0",
                              extra={"per_param": per, "params": recs[0]["params"],
                                     "rmse": round(float(np.mean([r[split]["rmse"] for r in recs])), 5),
                                     "nrmse_traj": round(float(np.mean([r[split]["nrmse_traj"] for r in recs])), 5),
                                     "seeds": [round(r[split]["nrmse"], 5) for r in recs]}))
    if "cape" in agg and "base" in agg:
        ratio = agg["cape"]["unseen"] / agg["base"]["unseen"]
        tgt = 1.10 if cfg is CONFIGS["small"] else 0.8
        cases.append(Case(case=f"{pde}-cape/base-unseen", metric="nrmse_ratio", value=round(ratio, 4), target=tgt,
                          passed=bool(ratio <= tgt), notes="CAPE-FNO (improved variant) / Base FNO w36, unseen params"))
    if "cape" in agg and "conditional" in agg:
        ok = agg["cape"]["unseen"] <= agg["conditional"]["unseen"]
        cases.append(Case(case=f"{pde}-cape<=conditional-unseen", metric="nrmse", value=round(agg["cape"]["unseen"], 5),
                          target=round(agg["conditional"]["unseen"], 5), passed=bool(ok)))
    if "cape" in results and "unseen_2x" in results["cape"][0]:
        v2 = float(np.mean([r["unseen_2x"]["nrmse"] for r in results["cape"]]))
        cases.append(Case(case=f"{pde}-cape-resolution-transfer", metric="nrmse", value=round(v2, 5),
                          target=round(1.1 * agg["cape"]["unseen"], 5), passed=bool(v2 <= 1.1 * agg["cape"]["unseen"]),
                          notes=f"trained at {cfg['n_points']} points, evaluated at {2 * cfg['n_points']} on the same "
                                "unseen trajectories without retraining (CAPE block at its training grid via Fourier resampling, "
                                "ref_grid); target = 1.1 x nRMSE at training resolution"))
    ref = PDEBENCH_FNO.get(pde)
    if ref and "cape" in agg:
        cases[-1].extra["pdebench_fno_single_param"] = {f"{k:g}": v for k, v in ref.items()}
    return results


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=sorted(CONFIGS), default="small")
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--epochs", type=int, default=None, help="override the number of epochs")
    ap.add_argument("--n-train", type=int, default=None, help="override trajectories per training parameter")
    ap.add_argument("--seeds", type=int, default=None, help="override the number of seeds")
    ap.add_argument("--kinds", default=None, help="comma-separated model kinds, e.g. base,conditional,film,cape")
    ap.add_argument("--pdes", default=None, help="comma-separated subset of the size's PDEs (burgers, advection)")
    ap.add_argument("--name", default="cape", help="results file stem")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: check that the chosen --size runs end to end")
    args = ap.parse_args(argv)
    cfg = dict(CONFIGS[args.size])
    if args.epochs:
        cfg["epochs"] = args.epochs
    if args.n_train:
        cfg["n_train"] = args.n_train
    if args.seeds:
        cfg["seeds"] = tuple(range(args.seeds))
    if args.kinds:
        cfg["kinds"] = tuple(args.kinds.split(","))
    if args.pdes:
        cfg["pdes"] = tuple(args.pdes.split(","))
    if args.smoke:
        cfg.update(n_train=4, n_seen_test=2, n_unseen=2, n_cells=64, n_points=32, n_frames=5, epochs=cfg["warmup"] + 1,
                   batch=4, seeds=cfg["seeds"][:1])
    if args.size == "small":
        CONFIGS["small"] = cfg  # the ratio target keys off the identity of the small config
    t0 = time.perf_counter()
    cases, raw = [], {}
    log = lambda s: print(f"{time.perf_counter() - t0:7.1f}s {s}", flush=True)  # noqa: E731
    for pde in cfg["pdes"]:
        raw[pde] = run_pde(pde, cfg, cases, log)
        # written after each PDE: a run stopped at its time limit keeps the PDEs it finished
        write_results(args.name, cases, out_dir=args.out, size=args.size, echo=False)
    note = (f"size={args.size}; {device_label()}; total {time.perf_counter() - t0:.0f} s. "
            + ("No GPU was available to this session: the GPU gate (CAPE <= 0.8 x Base, <= Conditional) is not "
               "measured here." if jax.devices()[0].platform == "cpu" else ""))
    cases.append(Case(case="total", metric="seconds", value=round(time.perf_counter() - t0, 1), notes=note,
                      extra={"config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()}}))
    path = write_results(args.name, cases, out_dir=args.out, size=args.size)
    return path


if __name__ == "__main__":
    main(sys.argv[1:])
