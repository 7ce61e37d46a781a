"""Physics-Informed Gaussians on the 2-D Helmholtz equation (pig.md §3), with an MLP PINN beside it.

    python examples/pig_helmholtz.py [--steps 3000] [--lbfgs 600] [--gaussians 400] [--out sciml-demo]

Trains PIG (Adam with separate learning rates for Gaussians and MLP, then optax L-BFGS), prints the
final and best-over-training rel-L2 error, and writes a PNG with the solution, the error and the
Gaussians' centres and scales before/after training.
"""

import argparse
import pathlib

import jax
import jax.numpy as jnp

from sciml import pde, pig, plot


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--lbfgs", type=int, default=600)
    ap.add_argument("--gaussians", type=int, default=400)
    ap.add_argument("--a1", type=float, default=1)
    ap.add_argument("--a2", type=float, default=4)
    ap.add_argument("--mlp", action="store_true", help="also train the MLP PINN baseline")
    ap.add_argument("--out", default="sciml-demo")
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    problem = pde.helmholtz_2d(args.a1, args.a2, 1.0)
    key = jax.random.key(0)
    # option groups are objects: where the loss is sampled, how its terms are weighted, the L-BFGS phase
    common = dict(sampler=pig.Sampler(n_collocation=1000, n_boundary=1000),
                  weights=pig.LossWeights(residual=1e-3, balance=None),
                  lbfgs=pig.LBFGS(steps=args.lbfgs, points=2000), eval_every=500, dtype=jnp.float32, progress=True)
    k_model, _ = jax.random.split(key)  # pig.train splits its key the same way: this is the initial model
    init = pig.PIG(problem.domain.lower, problem.domain.upper, args.gaussians, 4, sigma0=0.1, key=k_model)
    res = pig.train(problem, n_gaussians=args.gaussians, steps=args.steps, key=key, learning_rate=1e-2,
                    optimizer=pig.AdamGroups(decay_every=300), **common)
    print(f"PIG: final rel-L2 {res.final_error:.3e}, best {res.best_error:.3e}, {res.seconds:.1f} s, "
          f"{res.n_params} parameters")
    sig = res.model.embedding.sigma
    print(f"sigma range after training: [{float(sig.min()):.3g}, {float(sig.max()):.3g}] (normalised units)")
    png = plot.gaussian_features(res, problem, out / "pig_helmholtz_example.png", initial_model=init,
                         title=f"PIG Helmholtz ({args.a1:g},{args.a2:g}): rel-L2 {res.final_error:.2e}")
    print(f"wrote {png}")
    if args.mlp:
        m = pig.train_mlp_pinn(problem, steps=args.steps, key=key, learning_rate=1e-3,
                               optimizer=pig.AdamGroups(decay_every=600), **common)
        print(f"MLP PINN: final rel-L2 {m.final_error:.3e}, best {m.best_error:.3e}, {m.seconds:.1f} s")


if __name__ == "__main__":
    main()
