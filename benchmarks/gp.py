"""GP-HM benchmark (spec gp.md section 7): accuracy and wall time of the profiled solver on the paper's
cases, with hand-set F and with automatic frequency initialisation, plus the joint-Adam smoke run.

    python benchmarks/gp.py --size small        # CPU, float64
    python benchmarks/gp.py --size gpu          # one prepared GPU script (faithful joint Adam + profiled)
    python benchmarks/gp.py --scaling           # 2D default-settings time/error vs grid (issue 16 item 6)
    python benchmarks/gp.py --adam-step         # joint-Adam objective: operator vs vector-only step time

Results: benchmarks/results/gp-<device>.json (api.md schema). The rel-L2 errors are on the collocation
grid against the exact solution; selection of the returned iterate uses the training objective only.
"""

from __future__ import annotations

import argparse
import os
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from sciml import gp, pde  # noqa: E402
from sciml._bench import Case, write_results  # noqa: E402

# (case id, problem factory, kernel, hand-set F, grid, outer-step budget, target, paper [log], paper note)
SMALL = [
    ("poisson1d-sin100x", lambda: pde.poisson_1d("sin100x"), "gaussian", 20.0, (400,), 40, 1e-4, 4.0e-7,
     "paper GM, 1e5 joint Adam steps, 1665 s (StM) on the authors' hardware"),
    ("poisson1d-sin500x", lambda: pde.poisson_1d("sin500x"), "gaussian", 100.0, (400,), 80, 1e-3, 4.2e-4,
     "paper needs the extra-GP trick: 4.2e-4-2.6e-3 (StM), 1e6 steps; ours has no extra GP"),
    ("allen_cahn1d-sin100x", lambda: pde.allen_cahn_1d_steady("sin100x"), "gaussian", 20.0, (400,), 40, 1e-4,
     7.7e-7, "paper GM, 1e5 steps, 2333 s (StM); Gauss-Newton U solve"),
    ("poisson1d-multiscale", lambda: pde.poisson_1d("multiscale"), "student_t", 30.0, (400,), 30, 2e-3, 5.5e-4,
     "paper StM, 900 points, extra GP, 1e6 steps"),
    ("poisson2d-sin6x_cos20x", lambda: pde.poisson_2d("sin6x_cos20x"), "gaussian", None, (128, 128), 15, 5e-3,
     1.0e-3, "paper GM/StM at 200^2 after 1e6 steps; ours 128^2, matrix-free PCG (200 warm-started iterations per outer step); auto init (F=20 exceeds the "
     "128-point Nyquist 10.2 and aliases)"),
]

GPU = [
    ("poisson1d-sin100x", lambda: pde.poisson_1d("sin100x"), "gaussian", 20.0, (400,), 40, 1e-5, 4.0e-7, "1665 s"),
    ("poisson2d-sin100x_sin100y", lambda: pde.poisson_2d("sin100x_sin100y"), "gaussian", 20.0, (400, 400), 60,
     2e-4, 6.5e-5, "8209 s (StM) / 5.6k s (GM)"),
]


def _rel_l2(res, problem):
    pts = jnp.asarray(res.spec.points)
    ex = jax.vmap(problem.exact)(pts).reshape(res.spec.shape)
    return float(jnp.linalg.norm((res.u_grid - ex).ravel()) / jnp.linalg.norm(ex.ravel()))


def _run_profiled(cid, factory, kernel, F, grid, steps, target, paper, note, auto, out, size, cases, hand,
                  theta_steps=1, name="gp", recipe=None):
    prob = factory()
    t0 = time.perf_counter()
    kw = dict(steps=steps, theta_steps=theta_steps)
    if recipe is not None:
        kw.update(recipe)
    res = gp.solve(prob, grid=grid, kernel=kernel, method=gp.Profiled(**kw), freq_scale=None if auto else F)
    secs = time.perf_counter() - t0
    err = _rel_l2(res, prob)
    name_ = cid + ("-auto" if auto else "") + (f"-theta{theta_steps}" if theta_steps > 1 else "")
    if recipe is not None:
        name_ += "-paper-recipe"
        tgt, note2 = paper, f"{note}; target = the paper's error; recipe gp.Profiled({kw})"
    elif auto and cid in hand:
        tgt = 2.0 * hand[cid]
        note2 = f"automatic frequency init (no hand-set F); target = 2x the hand-set error {hand[cid]:.2e}"
    else:
        tgt = target
        note2 = note
    info = res.info
    extra = {"auto_frequencies": info.get("auto_frequencies")}
    if len(grid) == 1:
        # the paper's metric: rel-L2 of the posterior mean at 300 uniform test points; and, for reference only, the
        # paper's optimistic selection (smallest grid error over the iterates, chosen on the exact solution)
        xt = jnp.linspace(res.spec.lower[0], res.spec.upper[0], 300)[:, None]
        ex = jax.vmap(prob.exact)(xt)
        extra["rel_l2_test300"] = float(jnp.linalg.norm(res.predict(xt) - ex) / jnp.linalg.norm(ex))
        extra["min_rel_l2_over_iterates"] = min(h["rel_l2"] for h in res.history if "rel_l2" in h)
    cases.append(Case(case=name_, metric="rel_l2", value=err, target=tgt, passed=bool(err <= tgt), seconds=round(secs, 1),
                      paper=paper, notes=f"{note2}; kernel={kernel}, grid={grid}, init={info.get('init')}, "
                      f"outer steps run={info.get('steps_run')}, selected step={info.get('selected_step')} (by "
                      f"training objective); value = grid rel-L2 of the selected iterate, rel_l2_test300 = the "
                      f"paper's metric (300 test points, posterior mean); theta_steps={theta_steps}", extra=extra))
    if not auto:
        hand[cid] = err
    write_results(name, cases, out_dir=out, size=size)


def _scaling_problem():
    ex = lambda x: jnp.sin(3 * x[0]) * jnp.sin(17 * x[1])  # noqa: E731
    return pde.Problem(pde.Box([0.0, 0.0], [2 * np.pi, 2 * np.pi]),
                       pde.manufactured(lambda u, x: u.d2(0) + u.d2(1), ex), [pde.Dirichlet(ex)], exact=ex,
                       name="poisson2d-sin3x_sin17y")


# issue 16 item 6: the PCG path's measured default times and errors (one quiet core)
SCALING_BEFORE = {48: (14.0, 6.8e-3), 64: (24.0, 4.0e-4), 96: (70.0, 3.2e-5), 128: (236.0, 8.8e-6)}
SCALING_TARGET_S = {128: 30.0, 256: 240.0}


def run_scaling(out, size, sizes=(48, 64, 96, 128, 256)):
    """Default `gp.solve` on 2D Poisson sin3x sin17y, [0, 2pi]^2: wall time and rel-L2 per grid, and the
    time exponent in the number of grid points N = n^2 (fit over n >= 64)."""
    prob = _scaling_problem()
    cases, rows = [], []
    for n in sizes:
        t0, c0 = time.perf_counter(), time.process_time()
        res = gp.solve(prob, grid=(n, n))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        # pinned to one core (taskset) on a shared machine: the process CPU time is what one quiet core takes;
        # the wall time includes waiting for the core
        secs = cpu
        err = _rel_l2(res, prob)
        before = SCALING_BEFORE.get(n)
        target = max(before[1], 1e-6) if before else None
        passed = bool(err <= target and secs <= SCALING_TARGET_S.get(n, float("inf"))) if before else \
            bool(secs <= SCALING_TARGET_S.get(n, float("inf")))
        hist = res.history
        step_cpu = (hist[-1]["cpu_seconds"] - hist[0]["cpu_seconds"]) / max(len(hist) - 1, 1)
        rows.append((n, secs, err, step_cpu))
        cases.append(Case(case=f"scaling-poisson2d-sin3x_sin17y-{n}", metric="rel_l2", value=err, target=target,
                          passed=passed, seconds=round(secs, 1), paper=None,
                          notes=f"seconds = process CPU time pinned to one core (wall {wall:.1f} s on the shared "
                          f"machine, load {os.getloadavg()[0]:.1f}); default settings (gp.Profiled(), auto init, "
                          f"strategy {res.info['strategy']}); "
                          f"{res.info['steps_run']} outer steps, selected {res.info['selected_step']}; before (PCG "
                          f"path): {before}; time target {SCALING_TARGET_S.get(n)} s"))
        write_results("gp-scaling", cases, out_dir=out, size=size)
    big = [(n, s) for n, s, _, _ in rows if n >= 64]
    steps_t = [(n, t) for n, _, _, t in rows if n >= 64]
    if len(steps_t) >= 2:
        slope = float(np.polyfit(np.log([n * n for n, _ in steps_t]), np.log([t for _, t in steps_t]), 1)[0])
        cases.append(Case(case="scaling-exponent-per-step", metric="time_exponent_in_N", value=slope, target=1.5,
                          passed=bool(slope <= 1.5), seconds=0.0, paper=None,
                          notes="slope of log(CPU seconds per outer step after compilation) vs log(N = n^2), n >= 64: "
                          + ", ".join(f"{n}^2 {1e3 * t:.0f} ms" for n, t in steps_t)))
    if len(big) >= 2:
        slope = float(np.polyfit(np.log([n * n for n, _ in big]), np.log([s for _, s in big]), 1)[0])
        cases.append(Case(case="scaling-exponent", metric="time_exponent_in_N", value=slope, target=1.5,
                          passed=bool(slope <= 1.5), seconds=0.0, paper=None,
                          notes="least-squares slope of log(seconds) vs log(N = n^2), n >= 64 (before: 2.1); "
                          "includes compilation"))
        write_results("gp-scaling", cases, out_dir=out, size=size)
    for n, s, e, t in rows:
        print(f"{n}^2: {s:.1f} s, rel-L2 {e:.2e}, {1e3 * t:.0f} ms per outer step", flush=True)
    return cases


def _toeplitz_gather(kind, params, n, spacing, order=2):
    """The Toeplitz build before issue 13's rework (2n - 1 lags and a gather): the baseline's kernel matrices."""
    lags = jnp.arange(-(n - 1), n) * spacing
    vals = gp.kernel_derivatives(kind, params, lags, order=order)
    idx = jnp.arange(n)[:, None] - jnp.arange(n)[None, :] + (n - 1)
    return tuple(v[idx] for v in vals)


def run_adam_step(out, size, grids=((200,), (400,), (64, 64), (128, 128))):
    """Joint-Adam value+grad time of the vector-only objective (what gp.Adam uses) against the operator objective
    (forms K''C^{-1}) as it was before (Toeplitz by gather: `baseline`) and with today's Toeplitz layout."""
    from sciml.gp import GPParams, _model

    cases = []
    for grid in grids:
        ex = (lambda x: jnp.sin(100 * x[0])) if len(grid) == 1 else (lambda x: jnp.sin(3 * x[0]) * jnp.sin(17 * x[1]))
        box = pde.Box([0.0] * len(grid), [1.0] * len(grid))
        op = (lambda u, x: u.d2(0)) if len(grid) == 1 else (lambda u, x: u.d2(0) + u.d2(1))
        prob = pde.Problem(box, pde.manufactured(op, ex), [pde.Dirichlet(ex)])
        spec, rfn = gp.grid_spec_and_residual(prob, grid, jnp.float64)
        ks = tuple(gp.init_axis_kernel(30, 20.0) for _ in grid)
        p = GPParams(u=0.1 * jnp.ones(spec.shape), kernels=ks, log_tau1=jnp.asarray(0.1), log_tau2=jnp.asarray(0.2))

        def operator(p):
            facs = gp.axis_factors("gaussian", p.kernels, spec, 1e-6)
            return gp.neg_log_joint(p.u, p.log_tau1, p.log_tau2, facs, spec, rfn, 200.0)[0]

        def baseline(p):
            saved = _model.toeplitz_matrices
            _model.toeplitz_matrices = _toeplitz_gather  # traced once under jit: the old kernel build
            try:
                return operator(p)
            finally:
                _model.toeplitz_matrices = saved

        def new(p):
            return gp.neg_log_joint_vec(p.u, p.log_tau1, p.log_tau2, "gaussian", p.kernels, spec, rfn, 200.0, 1e-6)[0]

        fs = {name: jax.jit(jax.value_and_grad(f)) for name, f in
              (("baseline", baseline), ("operator", operator), ("new", new))}
        vals = {name: f(p) for name, f in fs.items()}
        vo, go = vals["baseline"]
        vn, gn = vals["new"]
        gdiff = max(float(jnp.max(jnp.abs(a - b)) / (jnp.max(jnp.abs(a)) + 1e-300))
                    for a, b in zip(jax.tree.leaves(go), jax.tree.leaves(gn)))
        ts = {name: [] for name in fs}
        for _ in range(7):  # interleaved, best of 7 (the machine is shared); process CPU time
            for name, f in fs.items():
                t = time.process_time()
                for _ in range(10):
                    jax.block_until_ready(f(p))
                ts[name].append((time.process_time() - t) / 10)
        best = {name: min(v) for name, v in ts.items()}
        ratio = best["baseline"] / best["new"]
        cases.append(Case(case=f"adam-step-speedup-{'x'.join(map(str, grid))}", metric="speedup", value=ratio,
                          target=2.0, passed=bool(ratio >= 2.0), seconds=round(best["new"], 4), paper=None,
                          notes=f"value+grad per step (process CPU time, best of 7x10, load "
                          f"{os.getloadavg()[0]:.1f}): baseline operator objective (K''C^-1 formed, Toeplitz by "
                          f"gather) {1e3 * best['baseline']:.2f} ms, operator objective with the tiled Toeplitz "
                          f"{1e3 * best['operator']:.2f} ms, vector-only (gp.Adam) {1e3 * best['new']:.2f} ms "
                          f"(vs the tiled operator objective {best['operator'] / best['new']:.2f}x); value rel diff "
                          f"{abs(float(vo - vn)) / abs(float(vo)):.1e}, max grad rel diff {gdiff:.1e}",
                          extra={"ms": {k: round(1e3 * v, 3) for k, v in best.items()},
                                 "speedup_vs_tiled_operator": best["operator"] / best["new"]}))
        write_results("gp-adamstep", cases, out_dir=out, size=size)
        print(cases[-1].case, f"{ratio:.2f}x", cases[-1].notes, flush=True)
    return cases


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", choices=["small", "gpu"], default="small")
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--only", default="", help="comma-separated case ids to run (default: all)")
    ap.add_argument("--auto-only", action="store_true", help="skip the hand-set-F runs")
    ap.add_argument("--adam-steps", type=int, default=None, help="joint-Adam steps (small: 500, gpu: 100000)")
    ap.add_argument("--scaling", action="store_true", help="2D default-settings scaling run only")
    ap.add_argument("--theta-steps", type=int, default=1,
                    help="kernel optimiser steps per outer step (>1: the longer-training setting, 1D cases only, "
                    "hand-set F, results in gp-theta<k>-<device>.json)")
    ap.add_argument("--scaling-sizes", default="48,64,96,128,256")
    ap.add_argument("--paper-recipe", action="store_true",
                    help="1D sin(100x) and Allen-Cahn at the paper's accuracy: gp.Profiled(steps=150, "
                    "precision_growth=2), hand-set F and auto init, target = the paper's error "
                    "(results in gp-paper-<device>.json)")
    ap.add_argument("--adam-step", action="store_true", help="joint-Adam objective step timing only")
    ap.add_argument("--adam-seconds", type=float, default=None,
                    help="wall-clock budget of each joint-Adam run (gp.Adam(time_limit=...)); steps_run is recorded")
    ap.add_argument("--profiled-steps", type=int, default=None, help="override the outer-step budget of every row")
    ap.add_argument("--quick", action="store_true",
                    help="rehearsal: the chosen size's code path at tiny grids (seconds; not a measurement)")
    args = ap.parse_args(argv)
    if args.scaling:
        return run_scaling(args.out, args.size, tuple(int(v) for v in args.scaling_sizes.split(",")))
    if args.adam_step:
        return run_adam_step(args.out, args.size)
    table = SMALL if args.size == "small" else GPU
    if args.quick:
        table = [(r[0], r[1], r[2], r[3], (24,) * len(r[4]), 3, *r[6:]) for r in table]
    if args.profiled_steps:
        table = [(*r[:5], args.profiled_steps, *r[6:]) for r in table]
    if args.paper_recipe:
        cases = []
        for row in SMALL:
            if row[0] in ("poisson1d-sin100x", "allen_cahn1d-sin100x"):
                for auto in (False, True):
                    _run_profiled(*row[:5], 150, *row[6:], auto=auto, out=args.out, size=args.size, cases=cases,
                                  hand={}, name="gp-paper", recipe=dict(precision_growth=2.0, patience=150))
        return cases
    if args.theta_steps > 1:
        cases, only = [], set(filter(None, args.only.split(",")))
        for row in table:
            if len(row[4]) == 1 and row[3] is not None and (not only or row[0] in only):
                _run_profiled(*row, auto=False, out=args.out, size=args.size, cases=cases, hand={},
                              theta_steps=args.theta_steps, name=f"gp-theta{args.theta_steps}")
        return cases
    only = set(filter(None, args.only.split(",")))
    cases: list[Case] = []
    hand: dict = {}
    for row in table:
        if only and row[0] not in only:
            continue
        if row[3] is not None and not args.auto_only:
            _run_profiled(*row, auto=False, out=args.out, size=args.size, cases=cases, hand=hand)
    for row in table:
        if only and row[0] not in only:
            continue
        _run_profiled(*row, auto=True, out=args.out, size=args.size, cases=cases, hand=hand)

    # joint Adam (the paper's method): smoke run on CPU, faithful 1e5 steps on GPU
    if not only or "adam" in only:
        if args.size == "small":
            exact = lambda x: jnp.sin(100 * x[0])  # noqa: E731
            prob1 = pde.Problem(pde.Box([0.0], [1.0]), pde.manufactured(lambda u, x: u.d2(0), exact),
                                [pde.Dirichlet(exact)], exact=exact)
            runs = [("adam-smoke-sin100x-[0,1]-M200", prob1, (200,), args.adam_steps or 500, None, None)]
        else:
            runs = [("adam-poisson1d-sin100x", pde.poisson_1d("sin100x"), (400,), args.adam_steps or 100_000,
                     1e-5, 4.0e-7),
                    ("adam-poisson2d-sin100x_sin100y", pde.poisson_2d("sin100x_sin100y"), (400, 400),
                     args.adam_steps or 100_000, 2e-4, 6.5e-5)]
        if args.quick:
            runs = [(r[0], r[1], (24,) * len(r[2]), 20, *r[4:]) for r in runs]
        for cid, prob, grid, steps, target, paper in runs:
            t0 = time.perf_counter()
            res = gp.solve(prob, grid=grid, kernel="gaussian", freq_scale=20.0,
                           method=gp.Adam(steps=steps, steps_per_call=max(min(steps // 20, 1000), 1),
                                          time_limit=args.adam_seconds))
            secs = time.perf_counter() - t0
            err = _rel_l2(res, prob)
            losses = [h["loss"] for h in res.history]
            cases.append(Case(case=cid, metric="rel_l2", value=err, target=target,
                              passed=None if target is None else bool(err <= target), seconds=round(secs, 1),
                              paper=paper,
                              extra={"steps_run": res.info["steps_run"], "steps_asked": steps,
                                     "time_limit": args.adam_seconds},
                              notes=f"joint Adam lr 1e-2, {res.info['steps_run']} of {steps} steps (time limit "
                              f"{args.adam_seconds} s), jitter 1e-6, lambda_b 200, F 20 (paper "
                              f"settings); loss {losses[0]:.4g} -> {losses[-1]:.4g} (decreased: "
                              f"{losses[-1] < losses[0]}); final iterate"))
            write_results("gp", cases, out_dir=args.out, size=args.size)
    return cases


if __name__ == "__main__":
    main()
