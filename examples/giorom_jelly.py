"""GIOROM on jelly: simulate MLS-MPM data, train GIOROM on 10 % of the particles, roll it out and
evaluate the result at 4x more query points than there are particles.

    python examples/giorom_jelly.py [--train-seconds 120] [--out giorom_jelly.png]

Takes a few minutes on a 2-core CPU (data ~1 min, training as set).
"""

import argparse
import time

import equinox as eqx
import jax
import numpy as np

from sciml import giorom, plot


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--train-seconds", type=float, default=120.0)
    p.add_argument("--n-train", type=int, default=16)
    p.add_argument("--out", default="giorom_jelly.png")
    args = p.parse_args(argv)

    N, n = 2000, 200
    t = time.perf_counter()
    train_set = giorom.generate_dataset("jelly", args.n_train, n_particles=N, n_frames=100, key=jax.random.key(0))
    test_set = giorom.generate_dataset("jelly", 1, n_particles=N, n_frames=100, key=jax.random.key(1))
    print(f"data: {time.perf_counter() - t:.0f} s; metadata radius {train_set.radius}")

    model = giorom.GIOROM(train_set.metadata, n_full=N, n_sample=n, key=jax.random.key(2))
    res = giorom.train(model, train_set, time_budget=args.train_seconds, key=jax.random.key(3),
                       progress=True)
    print(f"trained {res.step} steps, loss {res.losses[:20].mean():.3g} -> {res.losses[-20:].mean():.3g}")
    sub, owner = giorom.sparse_subsets(train_set.stacked()[0], n, 1, reference_frame=5)
    decoder = giorom.train_decoder(res.model.query_decoder, train_set, sub, owner, steps=200).model
    model = eqx.tree_at(lambda m: m.query_decoder, res.model, decoder)

    P, T = test_set.stacked()
    window, truth = P[0, :6], P[0, 6:]
    # dense query points: 4 jittered copies of every particle's rest position (8000 points)
    rng = np.random.default_rng(0)
    ref = window[-1]
    queries = np.concatenate([ref + rng.normal(0, 2e-3, ref.shape) for _ in range(4)]).astype(np.float32)
    t = time.perf_counter()
    dense = np.asarray(giorom.rollout(model, window, len(truth), query_points=queries, particle_type=T[0]))
    print(f"rollout of {len(truth)} steps at {len(queries)} query points: {time.perf_counter() - t:.2f} s")
    on_particles = np.asarray(giorom.rollout(model, window, len(truth), particle_type=T[0]))
    print("MSE on all particles:", giorom.rollout_mse(on_particles, truth))
    print("constant velocity:   ", giorom.rollout_mse(giorom.constant_velocity(window, len(truth)), truth))
    S = len(truth)
    plot.particle_frames(truth, dense, args.out, [0, S // 4, S // 2, 3 * S // 4, S - 1],
                         title_pred=f"GIOROM, {len(queries)} queries")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
