"""Recipe that produced the shipped DCDM weights in this folder (CPU-trained; see the .json files).

    python data/dcdm/train_weights.py 3d   # dcdm-3d-64: "64" net, 16^3 empty closed box
    python data/dcdm/train_weights.py 2d   # dcdm-2d-64: 2D analogue, 32^2 disk+air

The 2D weights are also written by ``python benchmarks/dcdm.py --size small --save-weights``.
"""

import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from sciml import dcdm, linalg

HERE = pathlib.Path(__file__).resolve().parent


def main(which: str, steps: int | None = None):
    if which == "3d":
        n, name = 16, "dcdm-3d-64"
        flags = dcdm.empty_box((n,) * 3)
        cfg = dict(n_lanczos=300, n_samples=1000, batch=8, lr=1e-3, steps=steps or 400)
        opdesc = f"3D {n}^3 empty closed box (dcdm.empty_box), float32"
    else:
        n, name = 32, "dcdm-2d-64"
        flags = dcdm.disk_air(n, 2)
        cfg = dict(n_lanczos=400, n_samples=2000, batch=16, lr=1e-3, steps=steps or 1500)
        opdesc = f"2D {n}^2 disk+air (dcdm.disk_air(32, 2)), float32"
    op = linalg.poisson_operator(flags, dtype=jnp.float32)
    t = time.perf_counter()
    data = dcdm.ritz_training_data(op, key=jax.random.key(0), n_lanczos=cfg["n_lanczos"],
                                   n_samples=cfg["n_samples"])
    t_data = time.perf_counter() - t
    t = time.perf_counter()
    res = dcdm.train(op, key=jax.random.key(1), steps=cfg["steps"], data=data, batch_size=cfg["batch"],
                     learning_rate=cfg["lr"], progress=False, return_result=True, log_every=50)
    t_train = time.perf_counter() - t
    held = data.sample(jax.random.key(999), 32)
    recipe = dict(script=f"data/dcdm/train_weights.py {which}", operator=opdesc, low_weight=9.0,
                  theta="m/20", optimizer=f"optax.adam({cfg['lr']})", data_seconds=round(t_data, 1),
                  train_seconds=round(t_train, 1), device=str(jax.devices()[0].device_kind),
                  final_train_loss=float(np.mean(res.losses[-20:])),
                  heldout_loss=float(dcdm.dcdm_loss(res.model, op, held)),
                  identity_net_heldout_loss=float(dcdm.dcdm_loss(dcdm.IdentityNet(), op, held)), **cfg)
    dcdm.save_pretrained(res.model, name, recipe, directory=HERE)
    print(name, recipe)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "3d", int(sys.argv[2]) if len(sys.argv) > 2 else None)
