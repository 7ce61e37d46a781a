"""Default-settings suite: every method at its DEFAULT settings on problems none of them was tuned on.

    python benchmarks/defaults.py            # full suite, default settings run to the end (--cap S caps each run)
    python benchmarks/defaults.py --quick    # smoke test of the same code path (tiny budgets, seconds per case)

Methods: `pig.train(problem)`, `pig.train_mlp_pinn(problem)` and `gp.solve(problem, grid)`, and with
`--methods pig_corrected` the opt-in variant `pig.train(problem, correction=pig.Correction())` (recorded as
"unsupported" when gp raises NotImplementedError/ValueError for the problem: non-box domains, Neumann/Robin
conditions on branches without them, time-dependent problems). Each case records the final relative L2 error on
the problem's evaluation grid (restricted to the domain) and the wall time. Only the budget cap (`time_limit`)
is set; in `--quick` mode the step counts are cut as well, so its errors say nothing about accuracy.
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from sciml import gp, pde, pig
from sciml._bench import Case, write_results

PI = jnp.pi
LAP2 = lambda u, x: u.d2(0) + u.d2(1)  # noqa: E731


def poisson_1d_k(k):
    exact = lambda x: jnp.sin(k * PI * x[0]) + 0.3 * x[0]  # noqa: E731
    return pde.Problem(pde.Box([0.0], [1.0]), pde.manufactured(lambda u, x: u.d2(0), exact), [pde.Dirichlet(exact)],
                       exact=exact, name=f"poisson1d-sin{k}pix")


def helmholtz_1d(k):
    exact = lambda x: jnp.sin(k * PI * x[0])  # noqa: E731
    op = lambda u, x: u.d2(0) + (k * PI) ** 2 * 0.5 * u.value  # noqa: E731
    return pde.Problem(pde.Box([-1.0], [1.0]), pde.manufactured(op, exact), [pde.Dirichlet(exact)], exact=exact,
                       name=f"helmholtz1d-{k}")


def poisson_2d(a, b):
    exact = lambda x: jnp.sin(a * PI * x[0]) * jnp.sin(b * PI * x[1])  # noqa: E731
    return pde.Problem(pde.Box([0.0, 0.0], [1.0, 1.0]), pde.manufactured(LAP2, exact), [pde.Dirichlet(exact)],
                       exact=exact, name=f"poisson2d-{a}-{b}")


def heat_1d():
    exact = lambda x: jnp.exp(-PI**2 * x[1]) * jnp.sin(PI * x[0]) + 0.5 * jnp.exp(-4 * PI**2 * x[1]) * jnp.sin(2 * PI * x[0])  # noqa: E501,E731
    return pde.Problem(pde.Box([0.0, 0.0], [1.0, 0.25], names=("x", "t")), lambda u, x: u.d(1) - u.d2(0),
                       [pde.Initial(exact), pde.Dirichlet(exact)], exact=exact, time_axis=1, name="heat1d")


def neumann_robin_box():
    exact = lambda x: jnp.cos(PI * x[0]) * jnp.sin(2 * PI * x[1]) + x[0]  # noqa: E731
    gx = lambda x: jax.grad(exact)(x)  # noqa: E731
    conds = [pde.Neumann(lambda x: gx(x)[0], faces=[(0, 1)]), pde.Neumann(lambda x: -gx(x)[0], faces=[(0, 0)]),
             pde.Dirichlet(exact, faces=[(1, 0)]), pde.Robin(1.0, 0.5, lambda x: exact(x) + 0.5 * gx(x)[1], faces=[(1, 1)])]
    return pde.Problem(pde.Box([0.0, 0.0], [1.0, 1.0]), pde.manufactured(LAP2, exact), conds, exact=exact,
                       name="neumann-robin-box")


def disc_minus_square():
    exact = lambda x: jnp.sin(PI * x[0]) * jnp.cos(PI * x[1]) + 0.5 * x[0] * x[1]  # noqa: E731
    dom = pde.Ball([0.0, 0.0], 1.0) - pde.Box([-0.3, -0.3], [0.3, 0.3])
    return pde.Problem(dom, pde.manufactured(LAP2, exact), [pde.Dirichlet(exact)], exact=exact,
                       name="disc-minus-square")


def l_shape():
    exact = lambda x: jnp.sin(2 * PI * x[0]) * jnp.sinh(x[1]) + x[1] ** 2  # noqa: E731
    dom = pde.Polygon([[0, 0], [1, 0], [1, 0.5], [0.5, 0.5], [0.5, 1], [0, 1]])
    return pde.Problem(dom, pde.manufactured(LAP2, exact), [pde.Dirichlet(exact)], exact=exact, name="l-shape")


def neumann_robin_1d():
    # u'' = f on [0, 2]: outward Neumann at x = 0, Robin 2u + du/dn = g at x = 2 (no Dirichlet data)
    exact = lambda x: jnp.cos(3.0 * x[0]) + 0.5 * x[0] ** 2  # noqa: E731
    du = lambda x: jax.grad(exact)(x)[0]  # noqa: E731
    conds = [pde.Neumann(lambda x: -du(x), faces=[(0, 0)]), pde.Robin(2.0, 1.0, lambda x: 2 * exact(x) + du(x),
                                                                      faces=[(0, 1)])]
    return pde.Problem(pde.Box([0.0], [2.0]), pde.manufactured(lambda u, x: u.d2(0), exact), conds, exact=exact,
                       name="neumann-robin-1d")


K_TRUE = 0.7


def inverse_2d():
    # k Δu + u = f on [0, 1]^2 with the true k = 0.7, started from k = 1; 200 noise-free observations of u
    exact = lambda x: jnp.sin(PI * x[0]) * jnp.cos(1.5 * x[1]) + x[0] * x[1]  # noqa: E731
    src = pde.manufactured(lambda u, x: K_TRUE * (u.d2(0) + u.d2(1)) + u.value, exact)
    f = lambda x: -src(pde.FunctionJet(lambda y: jnp.zeros(()), x), x)  # noqa: E731
    return pde.Problem(pde.Box([0.0, 0.0], [1.0, 1.0]), lambda u, x, prm: prm["k"] * (u.d2(0) + u.d2(1)) + u.value
                       - f(x), [pde.Dirichlet(exact)], params={"k": 1.0}, exact=exact, name="inverse-k-2d")


def inverse_observations(problem):
    x = jax.random.uniform(jax.random.key(123), (200, 2), jnp.float32)
    return x, jax.vmap(problem.exact)(x)


def system_2d():
    # Δu0 − u1 = f0, Δu1 + u0 = f1 on [0, 1]^2, exact (sin πx sin 2πy, x y² + 1), Dirichlet per field
    e0 = lambda x: jnp.sin(PI * x[0]) * jnp.sin(2 * PI * x[1])  # noqa: E731
    e1 = lambda x: x[0] * x[1] ** 2 + 1.0  # noqa: E731
    ex = lambda x: jnp.stack([e0(x), e1(x)])  # noqa: E731

    def op(u, x):
        return jnp.stack([u[0].d2(0) + u[0].d2(1) - u[1].value, u[1].d2(0) + u[1].d2(1) + u[0].value])

    fs = lambda x: op([pde.FunctionJet(e0, x), pde.FunctionJet(e1, x)], x)  # noqa: E731
    return pde.Problem(pde.Box([0.0, 0.0], [1.0, 1.0]), lambda u, x: op(u, x) - fs(x),
                       [pde.Dirichlet(e0, field=0), pde.Dirichlet(e1, field=1)], n_fields=2, exact=ex,
                       name="system-2d")


def problems():
    """(case name, problem factory, gp grid, targets {method: target}) — targets from issue 16 where it states
    one (pig: rel L2 <= 2e-2 on 2D Helmholtz pairs other than (1, 4), Neumann/Robin, geometry; inverse: k within
    2 %; gp: <= 1e-3 on 1D/2D Neumann or Robin)."""
    return [
        ("poisson1d-sin4pix", lambda: poisson_1d_k(4), (200,), 1e-2),
        ("helmholtz1d-6", lambda: helmholtz_1d(6), (200,), 1e-2),
        ("poisson2d-2-3", lambda: poisson_2d(2, 3), (48, 48), 2e-2),
        ("helmholtz2d-1-4", lambda: pde.helmholtz_2d(1, 4), (48, 48), 2e-2),
        ("helmholtz2d-2-3", lambda: pde.helmholtz_2d(2, 3), (48, 48), 2e-2),
        ("helmholtz2d-3-1", lambda: pde.helmholtz_2d(3, 1), (48, 48), 2e-2),
        ("helmholtz2d-2-6", lambda: pde.helmholtz_2d(2, 6), (48, 48), 2e-2),
        ("helmholtz2d-5-5", lambda: pde.helmholtz_2d(5, 5), (48, 48), 2e-2),
        ("helmholtz2d-6-6", lambda: pde.helmholtz_2d(6, 6), (48, 48), 2e-2),
        ("heat1d", heat_1d, (48, 48), 2e-2),
        ("allen-cahn-2d-steady", pde.allen_cahn_2d_steady, (48, 48), 2e-2),
        ("neumann-robin-box", neumann_robin_box, (48, 48), {"pig": 2e-2, "gp": 1e-3}),
        ("neumann-robin-1d", neumann_robin_1d, (200,), {"pig": 2e-2, "gp": 1e-3}),
        ("disc-minus-square", disc_minus_square, None, 2e-2),
        ("l-shape", l_shape, None, 2e-2),
        ("inverse-k-2d", inverse_2d, (48, 48), {"pig": 2e-2, "mlp_pinn": 2e-2}),
        ("system-2d", system_2d, (48, 48), 2e-2),
    ]


def _eval(problem, quick):
    shape = {1: (401,), 2: (100, 100) if quick else (200, 200)}.get(problem.ndim)
    return pig.eval_points(problem, shape, jnp.float32)


def _targets(target):
    return target if isinstance(target, dict) else {"pig": target}


def run(quick: bool, cap: float | None, only=None, save=None, reverse=False,
        methods=("pig", "mlp_pinn", "gp")) -> list[Case]:
    """Run the suite; `save(cases)` is called after every problem (partial results survive an interrupted run)."""
    cases = []
    budget = dict(steps=20, lbfgs=pig.LBFGS(steps=5)) if quick else {}
    for name, make, grid, target in (problems()[::-1] if reverse else problems()):
        if only and name not in only:
            continue
        targets = _targets(target)
        problem = make()
        x, u = _eval(problem, quick)
        inverse = dict(observations=inverse_observations(problem), infer=("k",)) if name.startswith("inverse") \
            else {}
        for method in methods:
            t0 = time.perf_counter()
            notes, value, metric = "", None, "rel_l2"
            try:
                if method in ("pig", "pig_corrected", "mlp_pinn"):
                    trainer = pig.train_mlp_pinn if method == "mlp_pinn" else pig.train
                    opt_in = dict(correction=pig.Correction()) if method == "pig_corrected" else {}
                    res = trainer(problem, time_limit=cap, reference=(x, u), **inverse, **budget, **opt_in)
                    value = res.final_error
                    notes = f"adam steps {max([h['step'] for h in res.history if h.get('phase') == 'adam'] or [0])}"
                    if method.startswith("pig"):
                        notes += f", collocation {res.config['sampler'].n_collocation}"
                        pre = [h["rel_l2"] for h in res.history if h.get("phase") in ("adam", "lbfgs")
                               and h.get("rel_l2") is not None]
                        ci = res.config.get("correction") or {}
                        if ci.get("steps") and pre:
                            notes += (f", correction (Legendre degree {ci['degree']}, {ci['basis']} functions): "
                                      f"{pre[-1]:.3g} before it (= default pig.train, same training)")
                        elif ci.get("skipped"):
                            notes += f", correction skipped ({ci['skipped']})"
                    if inverse:
                        k = res.params["k"]
                        metric, value = "rel_err_k", abs(k - K_TRUE) / K_TRUE
                        notes += f", k = {k:.5f} (true {K_TRUE}, start 1.0), rel L2 of u {res.final_error:.3g}"
                else:
                    if grid is None:
                        raise ValueError("gp needs a pde.Box domain")
                    if inverse:
                        raise ValueError("gp.solve does not identify coefficients (no observations/infer)")
                    g = tuple(max(8, n // 4) for n in grid) if quick else grid
                    res = gp.solve(problem, g, **({"steps": 2} if quick else {}))
                    with jax.enable_x64(True):
                        pred = res.predict(jnp.asarray(np.asarray(x), jnp.float64))
                    value = pig.rel_l2(np.asarray(pred).reshape(-1), u)
                    notes = f"grid {g}"
            except (NotImplementedError, ValueError) as e:
                value, notes = "unsupported", f"{type(e).__name__}: {str(e)[:160]}"
            sec = round(time.perf_counter() - t0, 1)
            tgt = targets.get(method)
            ok = None if tgt is None or not isinstance(value, float) or quick else bool(value <= tgt)
            cases.append(Case(f"{name}-{method}", metric, value, tgt, ok, sec, None, notes))
            print(cases[-1].to_dict(), flush=True)
        if save is not None:
            save(cases)
    return cases


def merge(paths, out, cap):
    """Merge per-piece results files (same suite, run in pieces) into `<out>/defaults-<device>.json`."""
    import json
    import re

    cases, notes, total, seen = [], [], 0.0, set()
    order = [n for n, *_ in problems()]
    for p in paths:
        d = json.loads(open(p).read())
        for c in d["cases"]:
            if c["case"] not in seen:  # a problem run by two pieces: keep the first
                seen.add(c["case"])
                case = Case(**{k: c.get(k) for k in ("case", "metric", "value", "target", "passed", "seconds",
                                                     "paper", "notes")})
                full = 2000 if case.case.endswith(("-pig", "-pig_corrected")) else 4000
                m = re.search(r"adam steps (\d+)", case.notes or "")
                if m and int(m.group(1)) < full:  # stopped by a time cap: the load's result, not the defaults'
                    case.passed = None
                    case.notes = "STOPPED BY THE TIME CAP (not a default-settings result); " + case.notes
                cases.append(case)
        total += d.get("total_seconds") or 0.0
        notes.append(d.get("note", ""))
    rank = {n: i for i, n in enumerate(order)}
    cases.sort(key=lambda c: (rank.get(c.case.rsplit("-", 1)[0].replace("-mlp", ""), 99), c.case))
    names = {c.case.rsplit("-", 1)[0].replace("-mlp", "") for c in cases}
    missing = [n for n in order if n not in names]
    note = (f"DEFAULT settings, merged from {len(paths)} pieces run on a shared 2-core machine (a capped run "
            f"stops early and its error then measures the load, not the defaults: see each case's notes for the "
            f"Adam steps reached); pieces: {' | '.join(notes)}" + (f"; MISSING: {missing}" if missing else ""))
    write_results("defaults", cases, out_dir=out, extra={"total_seconds": round(total, 1), "note": note,
                                                         "quick": False, "complete": not missing})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke test: tiny budgets, errors not meaningful")
    ap.add_argument("--size", default="small", choices=["quick", "small"],
                    help="small: the default-settings suite; quick: the same as --quick")
    ap.add_argument("--cap", type=float, default=0.0,
                    help="wall-clock cap per pig/PINN run (seconds; 0: none, the default settings run to the end)")
    ap.add_argument("--methods", nargs="*", default=["pig", "mlp_pinn", "gp"],
                    help="methods to run (also `pig_corrected`: pig.train with the opt-in pig.Correction phase)")
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--only", nargs="*", default=None, help="run only these case names")
    ap.add_argument("--reverse", action="store_true", help="run the suite's problems in reverse order")
    ap.add_argument("--merge", nargs="*", default=None,
                    help="merge these per-piece results JSON files into --out instead of running")
    a = ap.parse_args(argv)
    if a.merge:
        return merge(a.merge, a.out, a.cap)
    if a.size == "quick":
        a.quick = True
    t0 = time.perf_counter()

    def save(cases, final=False):
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        cap = f"capped at {a.cap:.0f} s (time_limit)" if a.cap else "uncapped"
        note = (f"DEFAULT settings; each pig/PINN run {cap}; 1-min load average "
                f"{load:.1f} on {os.cpu_count()} shared cores." + ("" if final else " PARTIAL: run interrupted."))
        write_results("defaults-quick" if a.quick else "defaults", cases, out_dir=a.out,
                      extra={"total_seconds": round(time.perf_counter() - t0, 1), "note": note, "quick": a.quick,
                             "complete": final})

    cases = run(a.quick, a.cap or None, a.only, save, a.reverse, a.methods)
    save(cases, final=True)
    return cases


if __name__ == "__main__":
    main()
