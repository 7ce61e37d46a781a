"""GP-HM with Neumann and Robin faces (derivative observations of the GP), default settings.

2D Poisson on [0, 2]^2, u = sin 3x cos 4y: Dirichlet on x = 0 and y = 0, Neumann on x = 2, Robin
(2u + du/dn = g) on y = 2.

    python examples/gp_neumann_robin.py
"""

import time

import jax
import jax.numpy as jnp
import numpy as np

from sciml import gp, pde


def main():
    exact = lambda x: jnp.sin(3 * x[0]) * jnp.cos(4 * x[1])  # noqa: E731
    grad = jax.grad(exact)
    conds = [pde.Dirichlet(exact, faces=[(0, 0), (1, 0)]),
             pde.Neumann(lambda x: grad(x)[0], faces=[(0, 1)]),
             pde.Robin(2.0, 1.0, lambda x: 2 * exact(x) + grad(x)[1], faces=[(1, 1)])]
    prob = pde.Problem(pde.Box([0.0, 0.0], [2.0, 2.0]), pde.manufactured(lambda u, x: u.d2(0) + u.d2(1), exact),
                       conds, exact=exact)
    t0 = time.perf_counter()
    res = gp.solve(prob, grid=(64, 64))
    secs = time.perf_counter() - t0
    x = np.random.default_rng(0).uniform(0.0, 2.0, (2000, 2))
    ref = np.asarray(jax.vmap(exact)(jnp.asarray(x)))
    err = np.linalg.norm(np.asarray(res.predict(x)) - ref) / np.linalg.norm(ref)
    print(f"strategy {res.info['strategy']}, rel-L2 at 2000 random points {err:.2e}, {secs:.1f} s")


if __name__ == "__main__":
    main()
