"""`sciml demo` section for DCDM: a 2D disk+air pressure-Poisson solve, DCDM vs classical solvers."""

from __future__ import annotations

import pathlib
import time

from ..plot import residual_histories as plot


def curves(n: int = 32, key=None, rtol: float = 1e-6) -> dict:
    """Residual histories of DCDM (+safeguard), CG, Jacobi-PCG and MG-PCG on a 2D ``n×n`` disk+air problem
    with a smooth plume RHS.  Uses the shipped ``dcdm-2d-64`` weights (or trains a tiny net if absent)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from .. import linalg
    from ..linalg import multigrid_preconditioner
    from ._geometry import disk_air, plume_rhs
    from ._pretrained import available_pretrained, load_pretrained
    from ._solve import solve
    from ._train import train

    flags = disk_air(n, 2)
    dt = jnp.zeros(()).dtype  # float64 when x64 is on
    op = linalg.poisson_operator(flags, dtype=dt)
    b = jnp.asarray(plume_rhs(flags, key), dt)
    if "dcdm-2d-64" in available_pretrained():
        net = load_pretrained("dcdm-2d-64")
    else:  # pragma: no cover - weights ship with the repository
        op32 = linalg.poisson_operator(flags, dtype=jnp.float32)
        net = train(op32, key=jax.random.key(1), steps=300, batch_size=16, progress=False).model
    sols = {
        "DCDM (+safeguard)": solve(net, op, b, rtol=rtol, maxiter=1000),
        "CG": linalg.cg(op, b, rtol=rtol),
        "Jacobi-PCG": linalg.pcg(op, b, linalg.jacobi(op), rtol=rtol),
        "MG-PCG": linalg.pcg(op, b, multigrid_preconditioner(op), rtol=rtol),
    }
    out = {}
    for name, s in sols.items():
        k = int(s.iterations)
        out[name] = dict(iterations=k, history=np.asarray(s.residual_norms)[: k + 1],
                         converged=bool(s.converged), safeguard_steps=int(s.safeguard_steps))
    return out


def run_demo(outdir: pathlib.Path) -> str:
    """Run the DCDM demo (CPU, a few seconds) and return its Markdown section."""
    import jax

    outdir = pathlib.Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    # the Krylov loops need float64 (2-term conjugate directions lose conjugacy in float32)
    with jax.enable_x64(True):
        res = curves(32, key=jax.random.key(2024))
    from .._demo import figure

    img = figure(plot, res, outdir / "dcdm_residuals.png", alt="DCDM residuals")
    d, c, m = res["DCDM (+safeguard)"], res["CG"], res["MG-PCG"]
    if d["converged"] and d["iterations"] < c["iterations"]:
        verdict = (f"The trained network beats CG, its baseline: {d['iterations']} iterations against CG's "
                   f"{c['iterations']} ({d['iterations'] / c['iterations']:.2f}×), with "
                   f"{d['safeguard_steps']} safeguard step(s).")
    else:
        verdict = (f"The network does not beat CG here: {d['iterations']} iterations "
                   f"({'converged' if d['converged'] else 'not converged'}) against CG's {c['iterations']}.")
    rows = "\n".join(
        f"| {name} | {r['iterations']} | {r['converged']} | {r['safeguard_steps']} |" for name, r in res.items()
    )
    return (
        "## DCDM: learned conjugate directions (2D 32×32 disk + air, smooth plume RHS, tol 1e-6)\n\n"
        "The CPU-trained faithful DCDM network (2D analogue of the \"64\" model, shipped as `dcdm-2d-64`) "
        "proposes search directions from the normalised residual; each is A-orthogonalised against the last "
        "two and line-searched exactly. The stall safeguard swaps in a CG direction whenever the network's "
        "direction is useless (|qᵀr| tiny). "
        f"{verdict} Each DCDM iteration also evaluates the network, so iterations are not wall time "
        f"(`benchmarks/dcdm.py` times both). MG-PCG ({m['iterations']} iterations) is the strong classical "
        "anchor.\n\n"
        "| solver | iterations | converged | safeguard steps |\n|---|---|---|---|\n"
        f"{rows}\n\n{img}\n\n"
        f"_{time.perf_counter() - t:.1f} s on {jax.devices()[0].platform}._\n"
    )
