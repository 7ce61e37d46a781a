"""PIG part of ``sciml demo``: Helmholtz (1,4) with Physics-Informed Gaussians vs an MLP PINN, at CPU scale."""

from __future__ import annotations

import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np

from ..plot import gaussian_features as plot_helmholtz

ADAM = 700


def run_demo(outdir: pathlib.Path) -> str:
    """Train PIG (400 shared Gaussians, k=4, MLP 4-16-1) on Helmholtz (1,4) for 700 Adam steps.

    Returns a Markdown section with a results table and a plot of solution, error and Gaussians
    (the MLP PINN baseline and L-BFGS are in `benchmarks/pig.py`, which trains longer).
    """
    from sciml import pde

    from ._model import PIG
    from ._train import LossWeights, Sampler, lr_groups, train

    outdir = pathlib.Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    problem = pde.helmholtz_2d(1, 4, 1.0)
    key = jax.random.key(0)
    k_model, _ = jax.random.split(key)  # pig.train splits its key the same way: this is the initial model
    init = PIG(problem.domain.lower, problem.domain.upper, 400, 4, sigma0=0.1, key=k_model)
    t0 = time.perf_counter()
    r = train(problem, steps=ADAM, key=key, model=init, optimizer=lr_groups(init, 2e-3, 1e-2, decay_every=300),
              sampler=Sampler(n_collocation=1000, n_boundary=1000), weights=LossWeights(residual=1e-3, balance=None),
              eval_shape=(100, 100), eval_every=350, dtype=jnp.float32)
    t_pig = time.perf_counter() - t0
    from .._demo import figure

    img = figure(plot_helmholtz, r, problem, outdir / "pig_helmholtz.png", alt="PIG Helmholtz", initial_model=init,
                 title=f"Helmholtz (1,4): PIG rel-L2 {r.final_error:.2e} after {ADAM} Adam steps")
    sig = np.asarray(r.model.embedding.sigma)
    rows = [
        "| model | params | Adam steps | final rel-L2 | best rel-L2 | sigma range | seconds |",
        "|---|---|---|---|---|---|---|",
        f"| PIG (400 Gaussians, k=4, MLP 4-16-1) | {r.n_params} | {ADAM} | {r.final_error:.3e} | "
        f"{r.best_error:.3e} | [{sig.min():.3f}, {sig.max():.3f}] | {t_pig:.1f} |",
    ]
    return (
        "## PIG: Physics-Informed Gaussians\n\n"
        "Helmholtz Δu + u = q on [-1,1]², u = sin(πx) sin(4πy), loss MSE_bc + 1e-3·MSE_res, float32, 1,000 fresh "
        "collocation and boundary points every step, Adam with Gaussian LR 2e-3 and MLP LR 1e-2. The error is the "
        "final model's on a 100² grid ('best' is the minimum seen during training). `benchmarks/pig.py` trains "
        "longer, adds L-BFGS and an MLP PINN baseline.\n\n" + "\n".join(rows) + f"\n\n{img}\n"
    )
