"""DCDM benchmark: learned conjugate directions vs CG, Jacobi-PCG, MG-PCG and PyAMG (spec dcdm.md §7).

    python benchmarks/dcdm.py --size small   # 2-core CPU, <= 5 min: train 2D 32^2 disk+air, evaluate
    python benchmarks/dcdm.py --size gpu     # one GPU, <= 12 min: train at 64^3, test 64^3/128^3/256^3
    python benchmarks/dcdm.py --only-fast    # CPU: shipped dcdm-fast-3d on an unseen 64^3 geometry vs CG, MG-PCG

Writes benchmarks/results/dcdm-<device>.json (api.md schema).  All right-hand sides are smooth plume-like
fields in the range of A (``dcdm.plume_rhs``); held-out RHS use keys never seen in training.
Training uses the paper's Ritz-vector data with the energy loss (our design, docs/dcdm.md) and a cosine-decayed
Adam learning rate; ``--loss residual --constant-lr`` gives the paper's 2-norm loss and a constant rate.
"""

from __future__ import annotations

import argparse
import sys
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from sciml import dcdm, linalg
from sciml._bench import Case, write_results
from sciml.linalg import multigrid_preconditioner


def _timed(fn, *args, repeat=1):
    """Compile ``fn`` ahead of time, then time ``repeat`` calls and keep the fastest (the solve, not compilation).

    Operators, networks and preconditioners are passed as arguments (their arrays are traced, not baked into the
    program as constants: a 256^3 operator as a constant makes compilation slow)."""
    dyn, static = eqx.partition(args, eqx.is_array)
    compiled = jax.jit(lambda d: fn(*eqx.combine(d, static))).lower(dyn).compile()
    best, out = float("inf"), None
    for _ in range(max(repeat, 1)):
        t = time.perf_counter()
        out = compiled(dyn)
        jax.block_until_ready(out)
        best = min(best, time.perf_counter() - t)
    return out, best


def _pyamg_iters(op, b, tol=1e-6):
    try:
        import pyamg
    except ImportError:
        return None
    A = op.to_scipy().tocsr()
    bb = np.asarray(op.fluid_values(b), np.float64)
    ml = pyamg.smoothed_aggregation_solver(A, symmetry="symmetric")
    res = []
    ml.solve(bb, tol=tol, accel="cg", residuals=res, maxiter=200)
    return len(res) - 1


def classical(op, b, tol, mg=None, repeat=1):
    """Iterations and seconds of CG, Jacobi-PCG and MG-PCG (compiled ahead, fastest of ``repeat`` calls)."""
    out = {}
    jac = linalg.jacobi(op)
    mg = mg if mg is not None else multigrid_preconditioner(op)
    runs = (("cg", lambda op, b: linalg.cg(op, b, rtol=tol, maxiter=20000), ()),
            ("jacobi_pcg", lambda op, b, m: linalg.pcg(op, b, m, rtol=tol, maxiter=20000), (jac,)),
            ("mg_pcg", lambda op, b, m: linalg.pcg(op, b, m, rtol=tol, maxiter=200), (mg,)))
    for name, f, extra in runs:
        s, sec = _timed(f, op, b, *extra, repeat=repeat)
        out[name] = (int(s.iterations), sec, bool(s.converged))
    return out


def dcdm_run(net, op, b, tol, safeguard=True, maxiter=1000, repeat=1):
    s, sec = _timed(lambda net, op, b: dcdm.solve(net, op, b, rtol=tol, maxiter=maxiter, safeguard=safeguard),
                    net, op, b, repeat=repeat)
    return int(s.iterations), sec, bool(s.converged), int(s.safeguard_steps), float(s.final_residual)


def _optimizer(args):
    """Adam at ``--lr``, cosine-decayed to 5 % over the run unless ``--constant-lr``."""
    if args.constant_lr:
        return optax.adam(args.lr), f"adam({args.lr})"
    return (optax.adam(optax.cosine_decay_schedule(args.lr, args.steps, alpha=0.05)),
            f"adam(cosine_decay_schedule({args.lr}, {args.steps}, alpha=0.05))")


def small(args) -> list[Case]:
    cases: list[Case] = []
    # --- 1. exactness on 2D 64^2 disk+air: identity network == CG
    flags = dcdm.disk_air(64, 2)
    op = linalg.poisson_operator(flags, dtype=jnp.float64)
    b = jnp.asarray(dcdm.plume_rhs(flags))
    t = time.perf_counter()
    cg_it = int(linalg.cg(op, b, rtol=1e-6).iterations)
    id_it = int(dcdm.solve(dcdm.IdentityNet(), op, b, rtol=1e-6, maxiter=2000).iterations)
    cases.append(Case("exact-identity-64x64-disk-air", "iterations_minus_cg", id_it - cg_it, target=1,
                      passed=abs(id_it - cg_it) <= 1, seconds=time.perf_counter() - t,
                      notes=f"identity net {id_it} vs CG {cg_it} iterations to 1e-6"))

    # --- 2. train on 2D 32^2 disk+air (faithful "64" net, 2D analogue)
    n = 32
    flags = dcdm.disk_air(n, 2)
    op32 = linalg.poisson_operator(flags, dtype=jnp.float32)
    op = linalg.poisson_operator(flags, dtype=jnp.float64)
    t = time.perf_counter()
    data = dcdm.ritz_training_data(op32, key=jax.random.key(0), n_lanczos=args.n_lanczos,
                                   n_samples=args.n_samples)
    t_data = time.perf_counter() - t
    opt, opt_desc = _optimizer(args)
    t = time.perf_counter()
    res = dcdm.train(op32, key=jax.random.key(1), steps=args.steps, data=data, batch_size=args.batch,
                     optimizer=opt, loss=args.loss, progress=False, log_every=100)
    t_train = time.perf_counter() - t
    net = res.model
    held = jnp.asarray(data.sample(jax.random.key(999), 64))
    held_e = float(dcdm.dcdm_loss(net, op32, held, norm="energy"))
    held_r = float(dcdm.dcdm_loss(net, op32, held, norm="residual"))
    id_e = float(dcdm.dcdm_loss(dcdm.IdentityNet(), op32, held, norm="energy"))
    # the 2-norm ("residual") loss is the paper's; the energy loss (our design, docs/dcdm.md) is the one the
    # solver's line search reduces.  Spec §7 asked for a held-out 2-norm loss < 0.1, calibrated on a
    # residual-trained net; it is reported, the value of this case is the loss that was trained.
    held_loss = held_e if args.loss == "energy" else held_r
    cases.append(Case("train-2d-32x32-disk-air", f"heldout_{args.loss}_loss", held_loss,
                      target=None if args.loss == "energy" else 0.1,
                      passed=None if args.loss == "energy" else held_loss < 0.1,
                      seconds=t_data + t_train,
                      notes=f"{args.loss} loss; Lanczos m={args.n_lanczos} ({t_data:.1f}s), {args.n_samples} samples, "
                            f"{opt_desc}, batch {args.batch}, {args.steps} steps ({t_train:.1f}s); final train loss "
                            f"{float(np.mean(res.losses[-50:])):.3g}; held-out energy loss {held_e:.3g} "
                            f"(identity net {id_e:.3g}), held-out 2-norm loss {held_r:.3g}",
                      extra={"heldout_energy_loss": held_e, "heldout_residual_loss": held_r,
                             "identity_heldout_energy_loss": id_e}))
    if args.save_weights:
        dcdm.save_pretrained(net, "dcdm-2d-64", {
            "script": "benchmarks/dcdm.py --size small --save-weights", "operator": "2D 32x32 disk+air "
            "(dcdm.disk_air(32, 2), poisson_operator float32)", "n_lanczos": args.n_lanczos,
            "n_samples": args.n_samples, "low_weight": 9.0, "theta": "m/20", "loss": args.loss,
            "optimizer": opt_desc, "batch": args.batch, "steps": args.steps, "train_seconds": round(t_train, 1),
            "device": jax.devices()[0].device_kind, "heldout_energy_loss": held_e,
            "heldout_residual_loss": held_r})

    # --- 3. held-out smooth RHS: DCDM vs CG / Jacobi / MG-PCG / PyAMG
    rows = []
    for i in range(args.n_test):
        bi = jnp.asarray(dcdm.plume_rhs(flags, None if i == 0 else jax.random.key(1000 + i)))
        c4 = int(linalg.cg(op, bi, rtol=1e-4).iterations)
        d4 = dcdm_run(net, op, bi, 1e-4, safeguard=False, maxiter=400)
        d6 = dcdm_run(net, op, bi, 1e-6, safeguard=True, maxiter=1000)
        cl = classical(op, bi, 1e-6)
        rows.append(dict(cg4=c4, d4=d4, d6=d6, cl=cl, amg=_pyamg_iters(op, bi)))
    ratio4 = float(np.median([r["d4"][0] / r["cg4"] if r["d4"][2] else np.inf for r in rows]))
    cases.append(Case("dcdm-2d-32-disk-air-tol1e-4", "iters_ratio_vs_cg", ratio4, target=0.7, passed=ratio4 <= 0.7,
                      notes="median over held-out plume RHS; DCDM (no safeguard) "
                            f"{[r['d4'][0] for r in rows]} vs CG {[r['cg4'] for r in rows]}; converged "
                            f"{[r['d4'][2] for r in rows]}",
                      extra={"dcdm_iters": [r["d4"][0] for r in rows], "cg_iters": [r["cg4"] for r in rows]}))
    all6 = all(r["d6"][2] for r in rows)
    ratio6 = float(np.median([r["d6"][0] / r["cl"]["cg"][0] for r in rows]))
    cases.append(Case("dcdm-2d-32-disk-air-tol1e-6-safeguard", "iters_ratio_vs_cg", ratio6, target=1.5,
                      passed=all6 and ratio6 <= 1.5,
                      notes=f"all converged: {all6}; DCDM {[r['d6'][0] for r in rows]} (safeguard steps "
                            f"{[r['d6'][3] for r in rows]}) vs CG {[r['cl']['cg'][0] for r in rows]}",
                      extra={"dcdm_iters": [r["d6"][0] for r in rows], "safeguard_steps": [r["d6"][3] for r in rows],
                             "converged": [r["d6"][2] for r in rows]}))
    for name in ("cg", "jacobi_pcg", "mg_pcg"):
        its = [r["cl"][name][0] for r in rows]
        cases.append(Case(f"{name}-2d-32-disk-air-tol1e-6", "iterations", float(np.median(its)),
                          seconds=float(np.median([r["cl"][name][1] for r in rows])), notes=f"per RHS {its}"))
    amg = [r["amg"] for r in rows]
    if amg[0] is not None:
        cases.append(Case("pyamg-sa-pcg-2d-32-disk-air-tol1e-6", "iterations", float(np.median(amg)),
                          notes=f"per RHS {amg}"))

    # --- 4. shipped 3D weights on an unseen 3D obstacle problem
    if "dcdm-3d-64" in dcdm.available_pretrained():
        net3 = dcdm.load_pretrained("dcdm-3d-64")
        n3 = args.n3
        f3 = dcdm.random_obstacles(jax.random.key(7), (n3,) * 3, n_obstacles=3, air=0.125)
        op3 = linalg.poisson_operator(f3, dtype=args.krylov_dtype)
        b3 = jnp.asarray(dcdm.plume_rhs(f3, jax.random.key(77)), args.krylov_dtype)
        t = time.perf_counter()
        d = dcdm_run(net3, op3, b3, 1e-6, maxiter=1000)
        cl = classical(op3, b3, 1e-6)
        r3 = d[0] / cl["cg"][0]
        cases.append(Case(f"dcdm-3d-pretrained-{n3}^3-random-obstacles-air", "iters_ratio_vs_cg", r3, target=0.3,
                          passed=d[2] and r3 <= 0.3, seconds=time.perf_counter() - t,
                          notes=f"DCDM {d[0]} it ({d[1]:.2f}s, safeguard {d[3]}, conv {d[2]}), CG {cl['cg'][0]} "
                                f"({cl['cg'][1]:.2f}s), Jacobi {cl['jacobi_pcg'][0]}, MG-PCG {cl['mg_pcg'][0]} "
                                f"({cl['mg_pcg'][1]:.2f}s); Krylov {args.krylov_dtype}"))

        # memory of the jitted solve at a large grid (compile-time XLA analysis only: a 128^3 DCDM solve is
        # too slow to run on 2 CPU cores). The reference DCDM used ~8.5 GiB at 128^3.
        for nm in args.memory_sizes:
            fm = dcdm.disk_air(nm, 3)
            opm = linalg.poisson_operator(fm, dtype=args.krylov_dtype)
            bm = jnp.asarray(dcdm.plume_rhs(fm), args.krylov_dtype)
            t = time.perf_counter()
            mem = _memory_bytes(lambda b: dcdm.solve(net3, opm, b, rtol=1e-6, maxiter=args.maxiter), bm)
            cases.append(Case(f"dcdm-3d-{nm}^3-memory", "GiB", None if mem is None else mem / 2**30,
                              seconds=time.perf_counter() - t,
                              notes="XLA memory analysis (arguments + temporaries + outputs) of the jitted solve with "
                                    "the shipped 3D net, float64 Krylov vectors, sphere+air; compile only, not run. "
                                    "Reference DCDM: ~8.5 GiB at 128^3"))

    # --- 5. MG-PCG anchor in 3D: sphere + air, 1e-6
    for n3 in args.mg_sizes:
        f3 = dcdm.disk_air(n3, 3)
        op3 = linalg.poisson_operator(f3, dtype=args.krylov_dtype)
        b3 = jnp.asarray(dcdm.plume_rhs(f3), args.krylov_dtype)
        t = time.perf_counter()
        mg = multigrid_preconditioner(op3)
        s, sec = _timed(jax.jit(lambda b: linalg.pcg(op3, b, mg, rtol=1e-6, maxiter=200)), b3)
        cases.append(Case(f"mg-pcg-3d-{n3}^3-sphere-air-tol1e-6", "iterations", int(s.iterations), target=15,
                          passed=bool(s.converged) and int(s.iterations) <= 15, seconds=sec,
                          notes=f"{mg.n_levels} levels, RBGS(1,1) + boundary sweeps; total incl. set-up/compile "
                                f"{time.perf_counter() - t:.1f}s"))
    return cases


def _min_time(compiled, *args, repeat=3):
    """Minimum wall time of ``repeat`` calls of an ahead-of-time compiled function (compilation excluded)."""
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        ts.append(time.perf_counter() - t)
    return min(ts)


def fast_variant(args) -> list[Case]:
    """The fast DCDM variant (shipped ``dcdm-fast-3d``) on an unseen 64³ ball + block + air geometry, side by side
    with sciml CG and MG-PCG: time to 1e-6 (compile excluded, minimum of ``--repeat`` interleaved runs),
    iterations, and the cost of one network evaluation in fine-level ``op.mv`` units."""
    from sciml.dcdm._geometry import _ball_block_air

    cases: list[Case] = []
    if "dcdm-fast-3d" not in dcdm.available_pretrained():
        return [Case("dcdm-fast-3d", "shipped", 0, notes="no dcdm-fast-3d weights found")]
    net = dcdm.load_pretrained("dcdm-fast-3d")
    n = args.fast_n
    flags = _ball_block_air(n)
    op = linalg.poisson_operator(flags, dtype=jnp.float64)
    op32 = linalg.poisson_operator(flags, dtype=jnp.float32)
    tol = 1e-6
    t0 = time.perf_counter()
    mg = multigrid_preconditioner(op)
    t_mg_setup = time.perf_counter() - t0
    solvers = {
        "dcdm_fast": lambda b: dcdm.solve(net, op, b, rtol=tol, maxiter=1000),
        "cg": lambda b: linalg.cg(op, b, rtol=tol, maxiter=20000),
        "mg_pcg": lambda b: linalg.pcg(op, b, mg, rtol=tol, maxiter=200),
    }
    rows = {}
    compiled, comp_s = {}, {}
    b0 = jnp.asarray(dcdm.plume_rhs(flags))
    for name, f in solvers.items():
        t = time.perf_counter()
        compiled[name] = jax.jit(f).lower(b0).compile()
        comp_s[name] = time.perf_counter() - t
    for i in range(args.fast_rhs):
        b = jnp.asarray(dcdm.plume_rhs(flags, None if i == 0 else jax.random.key(5000 + i)))
        times = {name: [] for name in solvers}
        sols = {}
        for _ in range(args.repeat):  # interleaved, so a load spike hits every solver alike
            for name, c in compiled.items():
                t = time.perf_counter()
                sols[name] = jax.block_until_ready(c(b))
                times[name].append(time.perf_counter() - t)
        rows[i] = {name: dict(iterations=int(sols[name].iterations), seconds=min(times[name]),
                              converged=bool(sols[name].converged), compile_seconds=comp_s[name],
                              safeguard_steps=int(sols[name].safeguard_steps)) for name in solvers}
    # cost of one evaluation in fine-level mv units (the net runs in float32; Krylov vectors are float64)
    r = jnp.asarray(dcdm.plume_rhs(flags), jnp.float32)
    ev = _min_time(jax.jit(lambda x: net(x)).lower(r).compile(), r, repeat=20)
    mv32 = _min_time(jax.jit(lambda x: op32.mv(x)).lower(r).compile(), r, repeat=20)
    mv64 = _min_time(jax.jit(lambda x: op.mv(x)).lower(r.astype(jnp.float64)).compile(), r.astype(jnp.float64),
                     repeat=20)
    cases.append(Case(f"dcdm-fast-{n}^3-eval-cost", "mv_units_float64", ev / mv64, seconds=ev,
                      notes=f"one network evaluation {ev * 1e3:.2f} ms = {ev / mv32:.1f} float32 mv "
                            f"({mv32 * 1e3:.3f} ms) = {ev / mv64:.1f} float64 mv ({mv64 * 1e3:.3f} ms); "
                            f"{dcdm.count_parameters(net)} parameters; minimum of 20 runs",
                      extra={"eval_seconds": ev, "mv32_seconds": mv32, "mv64_seconds": mv64,
                             "mv32_units": ev / mv32}))
    med = lambda key, name: float(np.median([rows[i][name][key] for i in rows]))  # noqa: E731
    it_ratio = med("iterations", "dcdm_fast") / med("iterations", "cg")
    t_ratio = float(np.median([rows[i]["dcdm_fast"]["seconds"] / rows[i]["cg"]["seconds"] for i in rows]))
    t_ratio_mg = float(np.median([rows[i]["dcdm_fast"]["seconds"] / rows[i]["mg_pcg"]["seconds"] for i in rows]))
    conv = all(rows[i]["dcdm_fast"]["converged"] for i in rows)
    per_rhs = "; ".join(
        f"rhs{i}: " + ", ".join(f"{k} {v['iterations']} it {v['seconds']:.3f}s" for k, v in rows[i].items())
        for i in rows)
    common = dict(extra={"per_rhs": rows, "mg_setup_seconds": t_mg_setup},
                  notes=f"unseen {n}^3 ball+block+air (dcdm._geometry._ball_block_air), plume RHS, rtol {tol:g}, "
                        f"float64 Krylov, min of {args.repeat} interleaved runs, compile excluded; {per_rhs}")
    cases.append(Case(f"dcdm-fast-{n}^3-ball-block-air-iters-vs-cg", "ratio", it_ratio, target=0.2,
                      passed=conv and it_ratio <= 0.2, **common))
    cases.append(Case(f"dcdm-fast-{n}^3-ball-block-air-time-vs-cg", "ratio", t_ratio, target=1.0,
                      passed=conv and t_ratio <= 1.0, seconds=med("seconds", "dcdm_fast"), notes=common["notes"]))
    cases.append(Case(f"dcdm-fast-{n}^3-ball-block-air-time-vs-mg-pcg", "ratio", t_ratio_mg,
                      seconds=med("seconds", "dcdm_fast"),
                      notes=f"MG-PCG {med('iterations', 'mg_pcg'):.0f} it {med('seconds', 'mg_pcg'):.3f}s "
                            f"(set-up {t_mg_setup:.2f}s apart); no target (issue 15 sets the MG-PCG goal for the GPU)"))
    return cases


def _memory_bytes(fn, *args):
    try:
        dyn, static = eqx.partition(args, eqx.is_array)
        ma = jax.jit(lambda d: fn(*eqx.combine(d, static))).lower(dyn).compile().memory_analysis()
        return int(ma.temp_size_in_bytes + ma.argument_size_in_bytes + ma.output_size_in_bytes)
    except Exception:  # noqa: BLE001 - not every backend reports it
        return None


def gpu(args) -> list[Case]:
    cases: list[Case] = []
    if args.pretrained:
        net = dcdm.load_pretrained(args.pretrained)
        cases.append(Case(f"pretrained-{args.pretrained}", "trained_here", 0,
                          notes=f"no training in this run: shipped weights {args.pretrained} (recipe in "
                                f"sciml/data/dcdm/{args.pretrained}.json)"))
        return cases + _gpu_tests(args, net, args.pretrained)
    n = args.train_n
    flags = dcdm.empty_box((n,) * 3)
    op = linalg.poisson_operator(flags, dtype=jnp.float32)
    t = time.perf_counter()
    data = dcdm.ritz_training_data(op, key=jax.random.key(0), n_lanczos=args.n_lanczos)  # on-the-fly samples
    t_data = time.perf_counter() - t
    t = time.perf_counter()
    opt, opt_desc = _optimizer(args)
    net = dcdm.DCDMNet(ndim=3, variant="128", key=jax.random.split(jax.random.key(1), 3)[0])
    res = dcdm.train(op, key=jax.random.key(1), net=net, steps=args.steps, data=data, batch_size=args.batch,
                     optimizer=opt, loss=args.loss, progress=False, log_every=100, time_limit=args.train_seconds)
    t_train = time.perf_counter() - t
    net = res.model
    cases.append(Case(f"train-3d-{n}^3-box-variant128", "final_loss", float(np.mean(res.losses[-50:])),
                      seconds=t_data + t_train,
                      extra={"steps_done": int(res.step), "time_limit": args.train_seconds},
                      notes=f"{args.loss} loss, Lanczos m={args.n_lanczos} {t_data:.1f}s, {int(res.step)} of {args.steps} steps batch "
                            f"{args.batch}, {opt_desc}, {t_train:.1f}s"))
    if args.save_weights:
        dcdm.save_pretrained(net, f"dcdm-3d-128-{n}", {"script": args.command,
                             "operator": f"3D {n}^3 empty closed box", "n_lanczos": args.n_lanczos,
                             "samples": "on the fly", "loss": args.loss, "optimizer": opt_desc, "batch": args.batch,
                             "steps": int(res.step), "train_seconds": round(t_train, 1),
                             "device": jax.devices()[0].device_kind}, directory=args.weights_dir)
        write_results(args.name, cases, out_dir=args.out, size=args.size, echo=False)
    return cases + _gpu_tests(args, net, f"trained here (variant 128, {n}^3 box)")


def _gpu_tests(args, net, net_desc) -> list[Case]:
    cases: list[Case] = []
    runs = {}
    for m in args.test_sizes:
        for geom in ("box", "sphere"):
            f = dcdm.empty_box((m,) * 3) if geom == "box" else dcdm.sphere_obstacle((m,) * 3, radius=0.2)
            opm = linalg.poisson_operator(f, dtype=args.krylov_dtype)
            b = jnp.asarray(dcdm.plume_rhs(f), args.krylov_dtype)
            mg = multigrid_preconditioner(opm)
            for tol in args.tols:
                d = dcdm_run(net, opm, b, tol, maxiter=args.maxiter, repeat=args.repeat)
                cl = classical(opm, b, tol, mg=mg, repeat=args.repeat)
                cases.append(Case(f"dcdm-3d-{m}^3-{geom}-tol{tol:g}", "iterations", d[0], seconds=d[1],
                                  notes=f"net {net_desc}; converged {d[2]}, safeguard {d[3]}, rel res {d[4]:.2g}; "
                                        f"CG {cl['cg'][0]}, Jacobi-PCG {cl['jacobi_pcg'][0]}, "
                                        f"MG-PCG {cl['mg_pcg'][0]} iterations",
                                  extra={"cg": cl["cg"][:2], "jacobi_pcg": cl["jacobi_pcg"][:2],
                                         "mg_pcg": cl["mg_pcg"][:2],
                                         "time_ratio_vs_cg": d[1] / cl["cg"][1],
                                         "time_ratio_vs_mg_pcg": d[1] / cl["mg_pcg"][1],
                                         "iter_ratio_vs_cg": d[0] / cl["cg"][0]}))
                if tol == 1e-6:
                    runs[(m, geom)] = (d, cl)
                # written as it goes: a run stopped at its time limit keeps the sizes it finished
                write_results(args.name, cases, out_dir=args.out, size=args.size, echo=False)
            if geom == "sphere" and (m == 128 or m == max(args.test_sizes)):
                mem = _memory_bytes(lambda net, op, b: dcdm.solve(net, op, b, rtol=1e-6, maxiter=args.maxiter), net, opm, b)
                cases.append(Case(f"dcdm-3d-{m}^3-memory", "GiB", None if mem is None else mem / 2**30,
                                  notes="XLA memory analysis of the jitted "
                                  "solve (arguments + temporaries + outputs); reference DCDM: 8.5 GiB at 128^3"))
    # the goals, at 1e-6: iteration growth from the smallest to the largest grid (<= 1.5x), iterations
    # vs CG at the largest grid (<= 0.1x), time-to-solution vs CG and MG-PCG there (moonshot: <= 1)
    lo, hi = min(args.test_sizes), max(args.test_sizes)
    for geom in ("box", "sphere"):
        (d_lo, _), (d_hi, cl_hi) = runs[(lo, geom)], runs[(hi, geom)]
        growth = d_hi[0] / d_lo[0]
        if lo < hi:  # one test size: no growth to measure
            cases.append(Case(f"dcdm-3d-{geom}-iteration-growth-{lo}^3-to-{hi}^3-tol1e-6", "ratio", growth,
                              target=1.5, passed=d_hi[2] and growth <= 1.5,
                              notes=f"{d_lo[0]} -> {d_hi[0]} iterations"))
        r_cg = d_hi[0] / cl_hi["cg"][0]
        cases.append(Case(f"dcdm-3d-{hi}^3-{geom}-iters-vs-cg-tol1e-6", "ratio", r_cg, target=0.1,
                          passed=d_hi[2] and r_cg <= 0.1, notes=f"DCDM {d_hi[0]} vs CG {cl_hi['cg'][0]}"))
        for name in ("cg", "mg_pcg"):
            tr = d_hi[1] / cl_hi[name][1]
            cases.append(Case(f"dcdm-3d-{hi}^3-{geom}-time-vs-{name}-tol1e-6", "ratio", tr, target=1.0,
                              passed=d_hi[2] and tr <= 1.0,
                              notes=f"moonshot; DCDM {d_hi[1]:.3g}s vs {name} {cl_hi[name][1]:.3g}s "
                                    f"({cl_hi[name][0]} iterations)"))
    return cases


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", choices=["small", "gpu"], default="small")
    p.add_argument("--only-fast", action="store_true",
                   help="small: run only the fast-variant case (unseen 64^3 geometry, time to 1e-6 vs CG/MG-PCG)")
    p.add_argument("--fast-n", type=int, default=64, help="grid of the fast-variant case")
    p.add_argument("--fast-rhs", type=int, default=2, help="right-hand sides of the fast-variant case")
    p.add_argument("--repeat", type=int, default=3, help="timed repeats (minimum reported) in the fast-variant case")
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--name", default="dcdm", help="results file stem")
    p.add_argument("--save-weights", action="store_true", help="also write the trained net to --weights-dir")
    p.add_argument("--weights-dir", default=None, help="folder for --save-weights (default: sciml/data/dcdm/)")
    p.add_argument("--train-seconds", type=float, default=None, help="gpu: wall-clock cap of the training run")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--constant-lr", action="store_true", help="no cosine decay of the learning rate")
    p.add_argument("--loss", choices=["energy", "residual"], default="energy",
                   help="training loss: 'energy' (our design, default) or 'residual' (the paper's 2-norm loss)")
    p.add_argument("--n-lanczos", type=int, default=None)
    p.add_argument("--n-samples", type=int, default=2000)
    p.add_argument("--n-test", type=int, default=4)
    p.add_argument("--n3", type=int, default=32, help="small: grid of the 3D pretrained-weights case")
    p.add_argument("--mg-sizes", type=int, nargs="*", default=[32, 64, 128])
    p.add_argument("--memory-sizes", type=int, nargs="*", default=[128],
                   help="small: grids at which the DCDM solve's compiled memory is reported")
    p.add_argument("--train-n", type=int, default=64, help="gpu: training grid")
    p.add_argument("--pretrained", default=None,
                   help="gpu: test shipped weights (e.g. dcdm-3d-64) instead of training (the CPU fallback)")
    p.add_argument("--test-sizes", type=int, nargs="*", default=[64, 128, 256])
    p.add_argument("--maxiter", type=int, default=500)
    p.add_argument("--tols", type=float, nargs="*", default=[1e-4, 1e-6], help="gpu: relative tolerances tested "
                   "(the goals are read at 1e-6)")
    p.add_argument("--krylov-dtype", default="float64", choices=["float32", "float64"],
                   help="dtype of the Krylov vectors/scalars (networks stay float32)")
    args = p.parse_args(argv)
    args.command = "python benchmarks/dcdm.py " + " ".join(sys.argv[1:] if argv is None else argv)
    # Krylov vectors and scalars in float64 (the networks stay float32): 2-term conjugate directions lose
    # conjugacy quickly in float32 (measured: the identity network then needs >10x CG's iterations).
    jax.config.update("jax_enable_x64", True)
    if args.size == "small":
        args.steps = args.steps or 1000
        args.batch = args.batch or 16
        args.n_lanczos = args.n_lanczos or 400
        if args.only_fast:  # its own results file, so the full small run's file is not overwritten
            args.name = "dcdm-fast" if args.name == "dcdm" else args.name
            cases = fast_variant(args)
        else:
            cases = small(args) + fast_variant(args)
    else:
        args.steps = args.steps or 4000
        args.batch = args.batch or 8
        args.n_lanczos = args.n_lanczos or 1000
        cases = gpu(args)
    return write_results(args.name, cases, out_dir=args.out, size=args.size)


if __name__ == "__main__":
    main()
