"""PIG part of ``sciml demo``: Helmholtz (1,4) with Physics-Informed Gaussians vs an MLP PINN, at CPU scale."""

from __future__ import annotations

from .._plot import save_figure

import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np


def plot_helmholtz(result, problem, path, *, initial_model=None, n: int = 120, title: str = ""):
    """Solution, pointwise error and the Gaussians' centres/scales before and after training (2-D PIG).

    Saves a PNG at `path` (matplotlib Agg, imported lazily) and returns the path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Ellipse

    box = problem.domain
    xs = np.asarray(box.grid_points((n, n)).reshape(-1, 2))
    pred = np.asarray(result.predict(xs)).reshape(n, n)
    exact = np.asarray(problem.exact_at(jnp.asarray(xs))).reshape(n, n)
    extent = [box.lower[0], box.upper[0], box.lower[1], box.upper[1]]
    emb_list = [("initial", initial_model), ("trained", result.model)]
    emb_list = [(k, m) for k, m in emb_list if m is not None and hasattr(m, "embedding")]
    cols = 2 + len(emb_list)
    fig, axes = plt.subplots(1, cols, figsize=(3.4 * cols, 3.2))
    im = axes[0].imshow(pred.T, origin="lower", extent=extent, cmap="RdBu_r")
    axes[0].set_title("PIG solution")
    fig.colorbar(im, ax=axes[0], fraction=0.046)
    im = axes[1].imshow(np.abs(pred - exact).T, origin="lower", extent=extent, cmap="magma")
    axes[1].set_title("|error|")
    fig.colorbar(im, ax=axes[1], fraction=0.046)
    for ax, (label, m) in zip(axes[2:], emb_list):
        emb = m.embedding
        mu = np.asarray(m.normaliser.inverse(emb.means.reshape(-1, 2)))
        sig = np.asarray(emb.sigma.reshape(-1, 2)) / np.asarray(m.normaliser.scale(jnp.float32))
        for c, s in zip(mu[:400], sig[:400]):
            ax.add_patch(Ellipse(c, 2 * s[0], 2 * s[1], fill=False, lw=0.4, alpha=0.5))
        ax.scatter(mu[:, 0], mu[:, 1], s=2, c="k")
        ax.set_xlim(extent[0] - 0.2, extent[1] + 0.2)
        ax.set_ylim(extent[2] - 0.2, extent[3] + 0.2)
        ax.add_patch(plt.Rectangle((extent[0], extent[2]), extent[1] - extent[0], extent[3] - extent[2],
                                   fill=False, ec="r", lw=0.8))
        ax.set_aspect("equal")
        ax.set_title(f"Gaussians, {label} (1-sigma)")
    for ax in axes:
        ax.tick_params(labelsize=7)
    return save_figure(fig, path, title)


ADAM = 700


def run_demo(outdir: pathlib.Path) -> str:
    """Train PIG (400 shared Gaussians, k=4, MLP 4-16-1) on Helmholtz (1,4) for 700 Adam steps.

    Returns a Markdown section with a results table and a plot of solution, error and Gaussians
    (the MLP PINN baseline and L-BFGS are in `benchmarks/pig.py`, which trains longer).
    """
    from sciml import pde

    from ._model import PIG
    from ._train import train

    outdir = pathlib.Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    problem = pde.helmholtz_2d(1, 4, 1.0)
    key = jax.random.key(0)
    k_model, _ = jax.random.split(key)  # pig.train splits its key the same way: this is the initial model
    init = PIG(problem.domain.lower, problem.domain.upper, 400, 4, sigma0=0.1, key=k_model)
    t0 = time.perf_counter()
    r = train(problem, n_gaussians=400, steps=ADAM, key=key, lr=1e-2, lr_gauss=2e-3, decay_every=300,
              residual_weight=1e-3, n_collocation=1000, n_boundary=1000, eval_shape=(100, 100), eval_every=350,
              dtype=jnp.float32)
    t_pig = time.perf_counter() - t0
    png = plot_helmholtz(r, problem, outdir / "pig_helmholtz.png", initial_model=init,
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
        "longer, adds L-BFGS and an MLP PINN baseline.\n\n" + "\n".join(rows) + f"\n\n![PIG Helmholtz]({png.name})\n"
    )
