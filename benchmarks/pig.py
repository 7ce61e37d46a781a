"""PIG benchmark: Helmholtz (1,4) and flow mixing (2+1)D, PIG vs an MLP PINN in the same harness.

    python benchmarks/pig.py --size small   # CPU, float32, <= ~6 min on an idle 2-core machine
    python benchmarks/pig.py --size gpu     # one prepared GPU script (paper-scale configurations, 3 seeds)

Every case reports the FINAL error of the final parameters (targets gate on it); the best-over-training
error (test-set early stopping, the paper's protocol) is recorded in the notes/extra fields only.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

from sciml import pde, pig
from sciml._bench import Case, write_results


def _per_1k(res):
    steps = max([h["step"] for h in res.history if h.get("phase") == "adam"] or [1])
    t = max([h.get("time", 0.0) for h in res.history if h.get("phase") == "adam"] or [res.seconds])
    return 1000.0 * t / steps


def _steps_done(res, phase="adam"):
    """Steps the phase ran: L-BFGS history steps continue Adam's count; a phase with no history ran none."""
    steps = [h["step"] for h in res.history if h.get("phase") == phase]
    if not steps:
        return 0
    return max(steps) - (0 if phase == "adam" else _steps_done(res, "adam"))


def small(out: str, quick: bool = False) -> list[Case]:
    s = 0.02 if quick else 1.0  # --quick: a seconds-long dry run of the same code path
    st = lambda n: max(int(n * s), 20)  # noqa: E731
    cases = []
    key = jax.random.key(0)

    # 1. Helmholtz (1,4), k = 1: spec pig.md §6 row 1 (3,000 Adam steps, then 600 L-BFGS on 2,000 points).
    #    The time limits are safety nets only; adam_steps_done / lbfgs_steps_done record what actually ran.
    hz = pde.helmholtz_2d(1, 4, 1.0)
    common = dict(weights=pig.LossWeights(residual=1e-3, balance=None), sampler=pig.Sampler(1000, 1000),
                  eval_every=st(1000), log_every=st(100), eval_shape=(250, 250), dtype=jnp.float32)
    # Smoke: 1,000 Adam steps on their own, Gaussian learning rate 2e-3 (the library default 0.2 x lr). The
    # full run below uses lr_gauss = lr = 1e-2 as in the spec's calibration: measured, it is noisier early
    # (5.6e-2-1.4e-1 at 1k steps over 3 seeds) but ends far lower after L-BFGS (1.5e-3 / 2.0e-3 for seeds 0/1
    # vs 1.7e-2 with lr_gauss = 2e-3): the Gaussians must keep moving for L-BFGS to find a good basin.
    t0 = time.perf_counter()
    sm = pig.train(hz, n_gaussians=400, steps=st(1000), key=key, n_features=4, sigma0=0.1, learning_rate=1e-2,
                   optimizer=pig.AdamGroups(gaussians=2e-3, decay_every=st(300)), **common)
    smoke = sm.final_error
    cases.append(Case("helmholtz-1-4-pig-smoke-1k-adam", "rel_l2", smoke, 5e-2, smoke <= 5e-2,
                      round(time.perf_counter() - t0, 1), None,
                      "final rel-L2 of a 1,000-step Adam run (lr 1e-2, Gaussians 2e-3, x0.9 every 300), 250^2 grid"))
    t0 = time.perf_counter()
    r = pig.train(hz, n_gaussians=400, steps=st(3000), key=key, n_features=4, sigma0=0.1, learning_rate=1e-2,
                  optimizer=pig.AdamGroups(gaussians=1e-2, decay_every=st(300)),
                  lbfgs=pig.LBFGS(steps=st(600), points=2000, time_limit=90.0), time_limit=150.0, **common)
    sec = time.perf_counter() - t0
    cases.append(Case(
        "helmholtz-1-4-pig", "rel_l2", r.final_error, 1e-2, r.final_error <= 1e-2, round(sec, 1), 4.13e-5,
        f"final error; 400 shared Gaussians k=4, MLP 4-16-1, lambda=1e-3, Adam {st(3000)} (lr 1e-2 for all "
        f"parameters, x0.9 every 300) + {st(600)} L-BFGS on 2,000 fixed "
        f"points; best-over-training {r.best_error:.3g}; paper number is a GPU 3-seed mean (best-over-training)",
        extra={"best_error": r.best_error, "sec_per_1k_adam_steps": round(_per_1k(r), 2), "n_params": r.n_params,
               "adam_steps_done": _steps_done(r), "lbfgs_steps_done": _steps_done(r, "lbfgs")},
    ))
    t0 = time.perf_counter()
    m = pig.train_mlp_pinn(hz, steps=st(3000), key=key, width=128, depth=4, learning_rate=1e-3,
                           optimizer=pig.AdamGroups(decay_every=st(600)),
                           lbfgs=pig.LBFGS(steps=st(600), points=2000, time_limit=90.0), time_limit=150.0, **common)
    sec = time.perf_counter() - t0
    cases.append(Case(
        "helmholtz-1-4-mlp-pinn", "rel_l2", m.final_error, None, None, round(sec, 1), 4.02e-1,
        f"baseline in the same harness/loss at the same step budget: MLP 4x128 tanh, Adam 1e-3 {st(3000)} + "
        f"{st(600)} L-BFGS; best {m.best_error:.3g}; "
        f"ratio PIG/MLP = {r.final_error / m.final_error:.3g} (not gated)",
        extra={"best_error": m.best_error, "sec_per_1k_adam_steps": round(_per_1k(m), 2), "n_params": m.n_params,
               "adam_steps_done": _steps_done(m), "lbfgs_steps_done": _steps_done(m, "lbfgs")},
    ))

    # 2. Flow mixing (2+1)D: 10*res + IC + BC, 2,048 points resampled every 100 steps, 500 shared Gaussians
    fm = pde.flow_mixing()
    fcommon = dict(weights=pig.LossWeights(residual=10.0, balance=None), sampler=pig.Sampler(2048, 512, 100),
                   eval_every=st(500), log_every=st(100), eval_shape=(41, 41, 41), dtype=jnp.float32)
    steps_fm = st(4000)  # spec pig.md §6: 4k Adam steps, lr 1e-2 x0.9 every 400
    t0 = time.perf_counter()
    f = pig.train(fm, n_gaussians=500, steps=steps_fm, key=key, sigma0=0.15, learning_rate=1e-2,
                  optimizer=pig.AdamGroups(gaussians=1e-2, decay_every=st(400)), time_limit=150.0, **fcommon)
    sec_p = time.perf_counter() - t0
    t0 = time.perf_counter()
    fb = pig.train_mlp_pinn(fm, steps=steps_fm, key=key, width=128, depth=4, learning_rate=1e-3,
                            optimizer=pig.AdamGroups(decay_every=st(400)), time_limit=150.0, **fcommon)
    sec_m = time.perf_counter() - t0
    ratio = f.final_error / fb.final_error
    cases.append(Case(
        "flow-mixing-pig", "rel_l2", f.final_error, 8e-2, f.final_error <= 8e-2, round(sec_p, 1), 4.51e-4,
        f"500 shared Gaussians, sigma0=0.15, Adam {steps_fm} steps; best {f.best_error:.3g}; "
        f"paper: 16k Gaussians, 50k steps, GPU",
        extra={"best_error": f.best_error, "sec_per_1k_adam_steps": round(_per_1k(f), 2), "n_params": f.n_params,
               "adam_steps_done": _steps_done(f)},
    ))
    cases.append(Case(
        "flow-mixing-mlp-pinn", "rel_l2", fb.final_error, None, None, round(sec_m, 1), None,
        f"MLP 4x128, Adam 1e-3, {steps_fm} steps, same loss/points; PIG/MLP ratio {ratio:.3g} (reported, not gated)",
        extra={"best_error": fb.best_error, "sec_per_1k_adam_steps": round(_per_1k(fb), 2), "n_params": fb.n_params,
               "pig_over_mlp": ratio, "adam_steps_done": _steps_done(fb)},
    ))
    return cases


def gpu(out: str, quick: bool = False, only=None, n_seeds: int = 3, time_limit=None, lbfgs_time_limit=None,
        size: str = "gpu") -> list[Case]:
    """Paper-scale configurations (pig.md §6 GPU version), 3 seeds, MLP PINN at equal step budget.

    `only`: the case names to run (default all); `n_seeds`: seeds per case; `time_limit` / `lbfgs_time_limit`:
    wall-clock caps of each run's Adam / L-BFGS phase (None: none; the steps done are recorded)."""
    s = 0.001 if quick else 1.0
    st = lambda n: max(int(n * s), 10)  # noqa: E731
    seeds = (100, 200, 300)[:n_seeds]
    cases = []
    caps = dict(time_limit=time_limit, lbfgs_time_limit=lbfgs_time_limit)

    def capped(kw):
        # the caps: Adam's as the run's `time_limit`, L-BFGS's on its phase object; --quick shrinks the sizes (a
        # dry run of the code path, not a measurement)
        lb = dataclasses.replace(kw["lbfgs"], time_limit=lbfgs_time_limit)
        kw = dict(kw, lbfgs=lb, time_limit=time_limit)
        if quick:
            kw["sampler"] = dataclasses.replace(kw["sampler"], n_collocation=128, n_boundary=64)
            kw["lbfgs"] = dataclasses.replace(lb, points=128) if lb.points is not None else lb
        return kw

    def run(name, problem, target, paper, pig_kw, mlp_kw, seeds=seeds):
        if only is not None and name not in only:
            return
        pig_kw, mlp_kw = capped(pig_kw), capped(mlp_kw)
        if quick:
            tiny = dict(eval_shape=(9,) * problem.ndim)
            pig_kw, mlp_kw = dict(pig_kw, n_gaussians=8, **tiny), dict(mlp_kw, width=16, **tiny)
        errs, best, secs, per1k, done = [], [], [], [], []
        for sd in seeds:
            t0 = time.perf_counter()
            r = pig.train(problem, key=jax.random.key(sd), **pig_kw)
            secs.append(time.perf_counter() - t0)
            errs.append(r.final_error)
            best.append(r.best_error)
            per1k.append(_per_1k(r))
            done.append((_steps_done(r), _steps_done(r, "lbfgs")))
        mean = float(np.mean(errs))
        cases.append(Case(name + "-pig", "rel_l2_mean_final", mean, target, mean <= target, round(sum(secs), 1), paper,
                          f"{len(seeds)} seed(s); final {['%.3g' % e for e in errs]}; best-over-training "
                          f"{['%.3g' % e for e in best]}; (Adam, L-BFGS) steps done {done} of "
                          f"({pig_kw['steps']}, {pig_kw['lbfgs'].steps})",
                          extra={"seed_errors": errs, "best_errors": best, "steps_done": done,
                                 "sec_per_1k_adam_steps": float(np.mean(per1k)), **caps}))
        write_results("pig" if not quick else "pig-quick", cases, out_dir=out, size=size, echo=False)
        t0 = time.perf_counter()
        m = pig.train_mlp_pinn(problem, key=jax.random.key(seeds[0]), **mlp_kw)
        cases.append(Case(name + "-mlp-pinn", "rel_l2", m.final_error, None, None,
                          round(time.perf_counter() - t0, 1), None, "equal step budget, same loss and points",
                          extra={"best_error": m.best_error, "sec_per_1k_adam_steps": _per_1k(m),
                                 "steps_done": (_steps_done(m), _steps_done(m, "lbfgs")), **caps}))
        write_results("pig" if not quick else "pig-quick", cases, out_dir=out, size=size, echo=False)

    hz_pig = dict(n_gaussians=800, layout="per_channel", n_features=4, sigma0=0.1,
                  weights=pig.LossWeights(residual=1e-4, balance=None), sampler=pig.Sampler(10000, 40000),
                  steps=st(20000), learning_rate=1e-2, optimizer=pig.AdamGroups(gaussians=1e-2, decay_every=st(1000)),
                  lbfgs=pig.LBFGS(steps=st(2000), points=10000), eval_every=st(1000))
    hz_mlp = dict(width=128, depth=4, learning_rate=1e-3, weights=pig.LossWeights(residual=1e-4, balance=None),
                  sampler=pig.Sampler(10000, 40000), steps=st(20000), optimizer=pig.AdamGroups(decay_every=st(2000)),
                  lbfgs=pig.LBFGS(steps=st(2000), points=10000), eval_every=st(1000))
    run("helmholtz-1-4", pde.helmholtz_2d(1, 4, 1.0), 1e-4, 4.13e-5, hz_pig, hz_mlp)
    run("helmholtz-10-10", pde.helmholtz_2d(10, 10, 1.0), 1e-2, 7.09e-3,
        dict(hz_pig, n_gaussians=3000), hz_mlp, seeds=seeds[:1])
    # Adam only (paper: 50k steps, no L-BFGS); the MLP baseline gets the same phases
    fm_pig = dict(n_gaussians=4000, layout="per_channel", sigma0=0.1,
                  weights=pig.LossWeights(residual=10.0, balance=None), sampler=pig.Sampler(27000, 3600, 100),
                  steps=st(50000), learning_rate=1e-2, optimizer=pig.AdamGroups(decay_every=st(2000)),
                  lbfgs=pig.LBFGS(steps=0), eval_every=st(2000), eval_shape=(50, 50, 50))
    fm_mlp = dict(width=128, depth=4, learning_rate=1e-3, weights=pig.LossWeights(residual=10.0, balance=None),
                  sampler=pig.Sampler(27000, 3600, 100), steps=st(50000),
                  optimizer=pig.AdamGroups(decay_every=st(2000)), lbfgs=pig.LBFGS(steps=0), eval_every=st(2000),
                  eval_shape=(50, 50, 50))
    run("flow-mixing", pde.flow_mixing(), 1e-3, 4.51e-4, fm_pig, fm_mlp)
    kg_pig = dict(fm_pig, n_gaussians=100, sigma0=0.5, weights=pig.LossWeights(residual=1.0, balance=None),
                  sampler=pig.Sampler(4096, 1024, 100))
    kg_mlp = dict(fm_mlp, weights=pig.LossWeights(residual=1.0, balance=None), sampler=pig.Sampler(4096, 1024, 100))
    run("klein-gordon", pde.klein_gordon(), 5e-3, 2.76e-3, kg_pig, kg_mlp)
    return cases


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=("small", "gpu"), default="small")
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--quick", action="store_true", help="tiny dry run of the same code path (seconds)")
    ap.add_argument("--cases", default=None,
                    help="gpu: comma-separated subset of helmholtz-1-4, helmholtz-10-10, flow-mixing, klein-gordon")
    ap.add_argument("--seeds", type=int, default=3, help="gpu: seeds per case (1-3)")
    ap.add_argument("--time-limit", type=float, default=None, help="gpu: wall-clock cap of each Adam phase (s)")
    ap.add_argument("--lbfgs-time-limit", type=float, default=None, help="gpu: wall-clock cap of each L-BFGS phase")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    only = None if a.cases is None else set(a.cases.split(","))
    cases = small(a.out, a.quick) if a.size == "small" else gpu(a.out, a.quick, only, a.seeds, a.time_limit,
                                                                 a.lbfgs_time_limit)
    total = time.perf_counter() - t0
    import os

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    note = "" if jax.devices()[0].platform != "cpu" or a.size == "small" else "GPU configuration run on CPU. "
    if jax.devices()[0].platform == "cpu":
        note += (f"No GPU in this session. 1-min load average at the end: {load:.1f} on {os.cpu_count()} cores "
                 "(shared machine); phases have wall-clock limits, see adam_steps_done.")
    name = "pig" if not a.quick else "pig-quick"
    write_results(name, cases, out_dir=a.out, size=a.size,
                  extra={"total_seconds": round(total, 1), "note": note, "load_average_end": load})
    return cases


if __name__ == "__main__":
    main()
