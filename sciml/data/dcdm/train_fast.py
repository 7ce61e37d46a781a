"""Recipe of the shipped fast DCDM weights ``dcdm-fast-3d`` (``DCDMNet(ndim=3, variant="fast")``).

    python sciml/data/dcdm/train_fast.py [--time-limit 720] [--steps 8000] [--out DIR]

Training operator: a 32³ closed box with 4 random obstacles and a top air layer
(``dcdm.random_obstacles(jax.random.key(11), (32,)*3, n_obstacles=4, air=0.125)``, float32).  Data: Lanczos
m = 400 from ``A g``, 1,000 cached Ritz samples (9× weight on the lowest m/2 + m/20), their energy references
``bᵀA⁻¹b`` computed once.  Energy loss, Adam with a cosine-decayed rate (2e-3 -> 5 %), batch 8, stopped at
``--steps`` or ``--time-limit`` seconds of wall time, whichever comes first.  Stage 2 fine-tunes at 64³ on the
same obstacle shapes (`finetune_fine`; the 32³ net alone does not transfer to 64³).  The net is then evaluated on the
held-out ball + block + air geometry (never used in training) at 32³ and 64³ against CG (float64 Krylov) and
the numbers go into the recipe.  On the shared 2-core CPU this takes ~15-20 min of wall time.
"""

import argparse
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from sciml import dcdm, linalg
from sciml.dcdm._geometry import _ball_block_air

HERE = pathlib.Path(__file__).resolve().parent


def evaluate(net, sizes=(32, 64), tol=1e-6) -> dict:
    out = {}
    for n in sizes:
        f = _ball_block_air(n)
        op = linalg.poisson_operator(f, dtype=jnp.float64)
        b = jnp.asarray(dcdm.plume_rhs(f, jax.random.key(5)))
        s = jax.jit(lambda b: dcdm.solve(net, op, b, rtol=tol, maxiter=1000))(b)
        c = jax.jit(lambda b: linalg.cg(op, b, rtol=tol, maxiter=20000))(b)
        out[f"{n}^3-ball-block-air-rhs5"] = dict(dcdm=int(s.iterations), converged=bool(s.converged),
                                                 safeguard_steps=int(s.safeguard_steps), cg=int(c.iterations))
        print(n, out[f"{n}^3-ball-block-air-rhs5"], flush=True)
    return out


def finetune_fine(net, data, *, n_fine: int, n_samples: int, steps: int, lr: float, time_limit: float):
    """Stage 2: fine-tune at twice the training resolution on the same obstacle shapes (random_obstacles key 11 at
    ``n_fine``³).  A net trained only at 32³ does not transfer to 64³ (measured: 1,000 iterations, not converged,
    on the held-out 64³ geometry; one-step energy loss 0.75 on 64³ samples against 0.04 at 32³).  Samples: the
    32³ Ritz samples' coefficient model, trilinearly up-sampled, masked and projected to the fine FLUID cells,
    plus 15 % white noise (no Lanczos at the fine grid); energy references by CG at rtol 1e-3, computed once."""
    from sciml import train as T

    f = dcdm.random_obstacles(jax.random.key(11), (n_fine,) * 3, n_obstacles=4, air=0.125)
    op = linalg.poisson_operator(f, dtype=jnp.float32)
    k1, k2 = jax.random.split(jax.random.key(21))
    c = jax.random.normal(k1, (n_samples, data.vectors.shape[0])).astype(jnp.float32) * data.weights

    def make(ci, gi):
        s = jax.image.resize(jnp.tensordot(ci, data.vectors, axes=1), op.shape, "trilinear")
        s = op.project(jnp.where(op.mask, s, 0))
        g = op.project(jnp.where(op.mask, gi, 0))
        b = s / jnp.linalg.norm(s) + 0.15 * g / jnp.linalg.norm(g)
        return b / jnp.linalg.norm(b)

    B = jax.jit(jax.vmap(make))(c, jax.random.normal(k2, (n_samples,) + op.shape, jnp.float32))
    bz = dcdm.energy_norms(op, B, rtol=1e-3, chunk=16)

    def loss_fn(m, batch, k):
        return dcdm.dcdm_loss(m, op, batch["b"], norm="energy", energy_norms=batch["bz"])

    return T.fit(loss_fn, net, optax.adam(optax.cosine_decay_schedule(lr, steps, alpha=0.1)),
                 T.array_batches({"b": B, "bz": bz}, 4), steps=steps, key=jax.random.key(2),
                 time_limit=time_limit, progress=False, log_every=25)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=8000)
    p.add_argument("--time-limit", type=float, default=720.0)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--n", type=int, default=32)
    p.add_argument("--n-lanczos", type=int, default=400)
    p.add_argument("--n-samples", type=int, default=1000)
    p.add_argument("--fine-n", type=int, default=64, help="stage 2 grid (0: no fine-tuning)")
    p.add_argument("--fine-samples", type=int, default=160)
    p.add_argument("--fine-steps", type=int, default=600)
    p.add_argument("--fine-lr", type=float, default=1e-3)
    p.add_argument("--fine-time-limit", type=float, default=600.0)
    p.add_argument("--out", default=str(HERE))
    args = p.parse_args(argv)
    jax.config.update("jax_enable_x64", True)  # float64 Krylov in the evaluation; net and data stay float32
    n = args.n
    flags = dcdm.random_obstacles(jax.random.key(11), (n,) * 3, n_obstacles=4, air=0.125)
    op = linalg.poisson_operator(flags, dtype=jnp.float32)
    t = time.perf_counter()
    data = dcdm.ritz_training_data(op, key=jax.random.key(0), n_lanczos=args.n_lanczos, n_samples=args.n_samples)
    t_data = time.perf_counter() - t
    t = time.perf_counter()
    # the network `dcdm.train` used to build from `variant="fast"`: initialised from the first split of its key
    net = dcdm.DCDMNet(ndim=3, variant="fast", key=jax.random.split(jax.random.key(1), 3)[0])
    res = dcdm.train(op, key=jax.random.key(1), net=net, data=data, steps=args.steps, batch_size=8,
                     optimizer=optax.adam(optax.cosine_decay_schedule(args.lr, args.steps, alpha=0.05)),
                     loss="energy", progress=False, time_limit=args.time_limit, log_every=200)
    t_train = time.perf_counter() - t
    held = data.sample(jax.random.key(999), 32)
    coarse_loss = float(dcdm.dcdm_loss(res.model, op, held, norm="energy"))
    fine = {}
    if args.fine_n:
        t = time.perf_counter()
        res2 = finetune_fine(res.model, data, n_fine=args.fine_n, n_samples=args.fine_samples,
                             steps=args.fine_steps, lr=args.fine_lr, time_limit=args.fine_time_limit)
        fine = dict(fine_steps_done=int(res2.step), fine_seconds=round(time.perf_counter() - t, 1),
                    fine_first_loss=float(np.mean(res2.losses[:5])), fine_final_loss=float(np.mean(res2.losses[-20:])))
        res = res2
    recipe = dict(
        script="sciml/data/dcdm/train_fast.py " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
                                                            if k != "out"),
        operator=f"3D {n}^3 closed box, 4 random obstacles (key 11), air layer 0.125, float32",
        n_lanczos=args.n_lanczos, n_samples=args.n_samples, low_weight=9.0, theta="m/20", loss="energy",
        optimizer=f"optax.adam(cosine_decay_schedule({args.lr}, {args.steps}, alpha=0.05))", batch=8,
        steps_done=int(res.step), data_seconds=round(t_data, 1), train_seconds=round(t_train, 1),
        device=jax.devices()[0].device_kind, final_train_loss=float(np.mean(res.losses[-100:])),
        heldout_energy_loss_stage1=coarse_loss, **fine,
        heldout_energy_loss=float(dcdm.dcdm_loss(res.model, op, held, norm="energy")),
        evaluation_tol=1e-6, evaluation_iterations=evaluate(res.model))
    print(recipe, flush=True)
    dcdm.save_pretrained(res.model, "dcdm-fast-3d", recipe, directory=args.out)


if __name__ == "__main__":
    main()
