"""Side-by-side MG-PCG smoother comparison (red-black GS vs Chebyshev): compile (wall, process CPU; min of 2,
interleaved, caches cleared), iterations to rtol 1e-6 and solve time (min of 3, interleaved), float64, on the
benchmark's sphere + air geometry and the held-out ball + block + air geometry.

    python benchmarks/extra/mg_smoothers.py 64,128 rbgs:3,chebyshev:3,chebyshev:4 [nocompile]
"""
import sys, time, os
import jax; jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp, numpy as np, equinox as eqx
sys.path.insert(0, "benchmarks")
import linalg as B
from sciml import linalg
ns = [int(a) for a in sys.argv[1].split(",")]
variants = [tuple(v.split(":")) for v in sys.argv[2].split(",")]  # smoother:nu
do_compile = len(sys.argv) < 4 or sys.argv[3] != "nocompile"
print("uptime", os.popen("uptime").read().strip(), flush=True)
for geo in ("sphere", "heldout"):
    for n in ns:
        flags = B._flags((n,)*3, "sphere") if geo == "sphere" else B._held_out_flags(n)
        op = linalg.poisson_operator(flags, spacing=1.0/n, dtype=jnp.float64)
        b = op.project(jnp.asarray(np.random.default_rng(0).normal(size=flags.shape)))
        Ms = {v: linalg.multigrid_preconditioner(op, smoother=v[0], pre=int(v[1]), post=int(v[1])) for v in variants}
        f = lambda o, m, b: linalg.pcg(o, b, m, rtol=1e-6)
        comp = {v: [] for v in variants}; cfn = {}
        reps = 2 if do_compile else 1
        for r in range(reps):
            for v in variants:
                jax.clear_caches()
                c, w, cpu = B._compiled(f, op, Ms[v], b)
                comp[v].append((w, cpu)); cfn[v] = c
        ts = {v: [] for v in variants}
        for v in variants: jax.block_until_ready(cfn[v](op, Ms[v], b))
        for r in range(3):
            for v in variants:
                t0 = time.perf_counter(); s = jax.block_until_ready(cfn[v](op, Ms[v], b)); ts[v].append(time.perf_counter()-t0)
                its = int(s.iterations); ok = bool(s.converged)
        for v in variants:
            s = cfn[v](op, Ms[v], b)
            rel = float(jnp.linalg.norm(b - op.mv(s.value)) / jnp.linalg.norm(b))
            print(f"{geo} {n}^3 {v[0]}:{v[1]} its {int(s.iterations)} conv {bool(s.converged)} relres {rel:.1e} "
                  f"solve {min(ts[v]):.3f}s compile wall {min(c[0] for c in comp[v]):.2f}s cpu {min(c[1] for c in comp[v]):.2f}s", flush=True)
print("uptime", os.popen("uptime").read().strip(), flush=True)
