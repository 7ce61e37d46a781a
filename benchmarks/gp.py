"""GP-HM benchmark (spec gp.md section 7): accuracy and wall time of the profiled solver on the paper's
cases, with hand-set F and with automatic frequency initialisation, plus the joint-Adam smoke run.

    python benchmarks/gp.py --size small        # CPU, float64
    python benchmarks/gp.py --size gpu          # one prepared GPU script (faithful joint Adam + profiled)

Results: benchmarks/results/gp-<device>.json (api.md schema). The rel-L2 errors are on the collocation
grid against the exact solution; selection of the returned iterate uses the training objective only.
"""

from __future__ import annotations

import argparse
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


def _run_profiled(cid, factory, kernel, F, grid, steps, target, paper, note, auto, out, size, cases, hand):
    prob = factory()
    t0 = time.perf_counter()
    res = gp.solve(prob, grid=grid, kernel=kernel, method="profiled", steps=steps, freq_scale=None if auto else F)
    secs = time.perf_counter() - t0
    err = _rel_l2(res, prob)
    name = cid + ("-auto" if auto else "")
    if auto and cid in hand:
        tgt = 2.0 * hand[cid]
        note2 = f"automatic frequency init (no hand-set F); target = 2x the hand-set error {hand[cid]:.2e}"
    else:
        tgt = target
        note2 = note
    info = res.info
    cases.append(Case(case=name, metric="rel_l2", value=err, target=tgt, passed=bool(err <= tgt), seconds=round(secs, 1),
                      paper=paper, notes=f"{note2}; kernel={kernel}, grid={grid}, init={info.get('init')}, "
                      f"outer steps run={info.get('steps_run')}, selected step={info.get('selected_step')} (by "
                      f"training objective)", extra={"auto_frequencies": info.get("auto_frequencies")}))
    if not auto:
        hand[cid] = err
    write_results("gp", cases, out_dir=out, size=size)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", choices=["small", "gpu"], default="small")
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--only", default="", help="comma-separated case ids to run (default: all)")
    ap.add_argument("--auto-only", action="store_true", help="skip the hand-set-F runs")
    ap.add_argument("--adam-steps", type=int, default=None, help="joint-Adam steps (small: 500, gpu: 100000)")
    args = ap.parse_args(argv)
    table = SMALL if args.size == "small" else GPU
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
        for cid, prob, grid, steps, target, paper in runs:
            t0 = time.perf_counter()
            res = gp.solve(prob, grid=grid, kernel="gaussian", method="adam", freq_scale=20.0, steps=steps,
                           log_every=max(steps // 20, 1))
            secs = time.perf_counter() - t0
            err = _rel_l2(res, prob)
            losses = [h["loss"] for h in res.history]
            cases.append(Case(case=cid, metric="rel_l2", value=err, target=target,
                              passed=None if target is None else bool(err <= target), seconds=round(secs, 1),
                              paper=paper,
                              notes=f"joint Adam lr 1e-2, {steps} steps, jitter 1e-6, lambda_b 200, F 20 (paper "
                              f"settings); loss {losses[0]:.4g} -> {losses[-1]:.4g} (decreased: "
                              f"{losses[-1] < losses[0]}); final iterate"))
            write_results("gp", cases, out_dir=args.out, size=args.size)
    return cases


if __name__ == "__main__":
    main()
