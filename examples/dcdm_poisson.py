"""DCDM on a 2D pressure-Poisson problem: residual vs iteration for DCDM, CG, Jacobi-PCG and MG-PCG.

    python examples/dcdm_poisson.py [--n 32] [--out dcdm_poisson.png]

Uses the shipped CPU-trained weights ``dcdm-2d-64`` (trained on a 32x32 disk+air problem; see
``sciml/data/dcdm/dcdm-2d-64.json``) if present, otherwise trains a small network for ~1 minute (logic in ``sciml/dcdm/_demo.py``).
"""

from __future__ import annotations

import argparse

import jax

from sciml.dcdm._demo import curves, plot


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=32)
    p.add_argument("--out", default="dcdm_poisson.png")
    args = p.parse_args(argv)
    with jax.enable_x64(True):  # float64 Krylov vectors; the network stays float32
        res = curves(args.n, key=jax.random.key(2024))
    for name, r in res.items():
        print(f"{name:20s} iterations {r['iterations']:5d} converged {r['converged']} "
              f"safeguard {r['safeguard_steps']}")
    plot(res, args.out)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
