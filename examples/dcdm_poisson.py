"""DCDM on a 2D pressure-Poisson problem: residual vs iteration for DCDM, CG, Jacobi-PCG and MG-PCG.

    python examples/dcdm_poisson.py [--n 32] [--out dcdm_poisson.png]

Uses the shipped CPU-trained weights ``dcdm-2d-64`` (trained on a 32x32 disk+air problem; recipe in
``sciml/data/dcdm/dcdm-2d-64.json``, also ``dcdm.pretrained_recipe("dcdm-2d-64")``).
"""

from __future__ import annotations

import argparse
import pathlib

import jax
import jax.numpy as jnp

from sciml import dcdm, linalg, plot


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=32)
    p.add_argument("--out", default="dcdm_poisson.png")
    args = p.parse_args(argv)
    with jax.enable_x64(True):  # float64 Krylov vectors; the network stays float32
        flags = dcdm.disk_air(args.n, 2)
        op = linalg.poisson_operator(flags, dtype=jnp.float64)
        b = jnp.asarray(dcdm.plume_rhs(flags, jax.random.key(2024)))
        net = dcdm.load_pretrained("dcdm-2d-64")
        sols = {
            "DCDM (+safeguard)": dcdm.solve(net, op, b, rtol=1e-6, maxiter=1000),
            "CG": linalg.cg(op, b, rtol=1e-6),
            "Jacobi-PCG": linalg.pcg(op, b, linalg.jacobi(op), rtol=1e-6),
            "MG-PCG": linalg.pcg(op, b, linalg.multigrid_preconditioner(op), rtol=1e-6),
        }
    for name, s in sols.items():
        print(f"{name:20s} iterations {int(s.iterations):5d} converged {bool(s.converged)}")
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    plot.residual_histories({k: s.residual_norms for k, s in sols.items()}, args.out, rtol=1e-6)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
