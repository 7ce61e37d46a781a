"""Recipe that produced the shipped DCDM weights in this folder (see the .json files for the measured numbers).

    python sciml/data/dcdm/train_weights.py 2d   # dcdm-2d-64: 2D analogue, 32^2 disk+air (CPU, ~1.5 min on one core)
    python sciml/data/dcdm/train_weights.py 3d   # dcdm-3d-64: "64" net, 32^3 empty closed box (GPU: ~1 min)

Both use the energy loss (our design, docs/dcdm.md; ``--loss residual`` gives the paper's 2-norm loss) and
Adam with a cosine-decayed learning rate.  After training, the net is evaluated against CG on smooth plume
right-hand sides (float64 Krylov, held-out keys) and the iteration counts go into the recipe.
``--out DIR`` writes elsewhere than this folder.  The 2D weights are also written by
``python benchmarks/dcdm.py --size small --save-weights``.
"""

import argparse
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from sciml import dcdm, linalg

HERE = pathlib.Path(__file__).resolve().parent

CONFIGS = {
    "2d": dict(name="dcdm-2d-64", n=32, n_lanczos=400, n_samples=2000, batch=16, lr=1e-3, steps=1500),
    "3d": dict(name="dcdm-3d-64", n=32, n_lanczos=1000, n_samples=None, batch=8, lr=1e-3, steps=4000),
}


def _iters(net, op, b, tol, maxiter):
    s = jax.jit(lambda b: dcdm.solve(net, op, b, rtol=tol, maxiter=maxiter))(b)
    return int(s.iterations), bool(s.converged), int(s.safeguard_steps)


def evaluate(net, which: str, maxiter: int = 400) -> dict:
    """DCDM (with safeguard) vs CG iterations on held-out smooth RHS, float64 Krylov."""
    if which == "2d":
        probs = [("2d-32-disk-air", dcdm.disk_air(32, 2), k) for k in (None, 1001, 1002, 1003)]
    else:
        probs = [(f"3d-{m}-random-obstacles-air", dcdm.random_obstacles(jax.random.key(7), (m,) * 3, n_obstacles=3,
                                                                         air=0.125), 77) for m in (16, 32)]
        probs.append(("3d-32-sphere-air", dcdm.disk_air(32, 3), None))
    out = {}
    for label, flags, k in probs:
        op = linalg.poisson_operator(flags, dtype=jnp.float64)
        b = jnp.asarray(dcdm.plume_rhs(flags, None if k is None else jax.random.key(k)))
        row = {}
        for tol in (1e-4, 1e-6):
            d_it, conv, sg = _iters(net, op, b, tol, maxiter)
            row[f"{tol:g}"] = dict(dcdm=d_it, converged=conv, safeguard_steps=sg,
                                   cg=int(linalg.cg(op, b, rtol=tol).iterations))
        out[f"{label}-rhs{k}"] = row
        print(label, k, row, flush=True)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("which", choices=sorted(CONFIGS), nargs="?", default="2d")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--n", type=int, default=None, help="training grid size")
    p.add_argument("--loss", choices=["energy", "residual"], default="energy")
    p.add_argument("--out", default=str(HERE))
    args = p.parse_args(argv)
    jax.config.update("jax_enable_x64", True)  # float64 Krylov in the evaluation; networks and data stay float32
    cfg = dict(CONFIGS[args.which])
    name = cfg.pop("name")
    cfg["steps"] = args.steps or cfg["steps"]
    cfg["n"] = args.n or cfg["n"]
    n = cfg["n"]
    if args.which == "3d":
        flags = dcdm.empty_box((n,) * 3)
        opdesc = f"3D {n}^3 empty closed box (dcdm.empty_box), float32"
    else:
        flags = dcdm.disk_air(n, 2)
        opdesc = f"2D {n}^2 disk+air (dcdm.disk_air({n}, 2)), float32"
    op = linalg.poisson_operator(flags, dtype=jnp.float32)
    t = time.perf_counter()
    data = dcdm.ritz_training_data(op, key=jax.random.key(0), n_lanczos=cfg["n_lanczos"],
                                   n_samples=cfg["n_samples"])
    jax.block_until_ready(data.vectors)
    t_data = time.perf_counter() - t
    sched = optax.cosine_decay_schedule(cfg["lr"], cfg["steps"], alpha=0.05)
    t = time.perf_counter()
    res = dcdm.train(op, key=jax.random.key(1), steps=cfg["steps"], data=data, batch_size=cfg["batch"],
                     optimizer=optax.adam(sched), loss=args.loss, progress=False, log_every=50)
    t_train = time.perf_counter() - t
    held = data.sample(jax.random.key(999), 32)
    losses = {f"heldout_{nm}_loss": float(dcdm.dcdm_loss(res.model, op, held, norm=nm))
              for nm in ("energy", "residual")}
    losses.update({f"identity_net_heldout_{nm}_loss": float(dcdm.dcdm_loss(dcdm.IdentityNet(), op, held, norm=nm))
                   for nm in ("energy", "residual")})
    recipe = dict(script=f"sciml/data/dcdm/train_weights.py {args.which}", operator=opdesc, low_weight=9.0, theta="m/20",
                  loss=args.loss, optimizer=f"optax.adam(cosine_decay_schedule({cfg['lr']}, {cfg['steps']}, "
                  "alpha=0.05))", data_seconds=round(t_data, 1), train_seconds=round(t_train, 1),
                  device=str(jax.devices()[0].device_kind), final_train_loss=float(np.mean(res.losses[-20:])),
                  **losses, **cfg)
    recipe["evaluation_iterations"] = evaluate(res.model, args.which)
    dcdm.save_pretrained(res.model, name, recipe, directory=args.out)
    print(name, recipe)


if __name__ == "__main__":
    main()
