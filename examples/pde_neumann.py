"""Neumann and Robin conditions: 2-D Poisson on the unit square with a Neumann face pair, one Dirichlet face and a
Robin face, solved by Physics-Informed Gaussians at default settings (reduced budget).

    python examples/pde_neumann.py
"""

import jax
import jax.numpy as jnp

from sciml import pde, pig


def main(steps: int = 800):
    exact = lambda x: jnp.cos(jnp.pi * x[0]) * jnp.sin(jnp.pi * x[1]) + x[0]  # noqa: E731
    grad = jax.grad(exact)
    conditions = [
        pde.Neumann(lambda x: grad(x)[0], faces=[(0, 1)]),     # outward normal +x on x = 1
        pde.Neumann(lambda x: -grad(x)[0], faces=[(0, 0)]),    # outward normal -x on x = 0
        pde.Dirichlet(exact, faces=[(1, 0)]),
        pde.Robin(1.0, 0.5, lambda x: exact(x) + 0.5 * grad(x)[1], faces=[(1, 1)]),  # u + 0.5 du/dn = g on y = 1
    ]
    problem = pde.Problem(pde.Box([0.0, 0.0], [1.0, 1.0]), pde.manufactured(lambda u, x: u.d2(0) + u.d2(1), exact),
                          conditions, exact=exact, name="neumann-robin")
    res = pig.train(problem, n_gaussians=100, steps=steps, lbfgs=pig.LBFGS(steps=200, points=1000),
                    eval_shape=(100, 100), key=jax.random.key(0))
    print(f"rel-L2 {res.final_error:.2e} in {res.seconds:.1f} s")
    return res


if __name__ == "__main__":
    main()
