"""Inverse problem: identify the diffusion coefficient k of `k u'' = f` from 200 noise-free observations of u.

    python examples/pde_inverse.py

The residual takes `params` as its third argument; `pig.train(..., observations=, infer=("k",))` trains k with
the model, starting from `problem.params["k"]`; the identified value is in `result.params`.
"""

import jax
import jax.numpy as jnp

from sciml import pde, pig


def main(steps: int = 1000):
    k_true = 2.5
    exact = lambda x: jnp.sin(3.0 * x[0]) + x[0] ** 2  # noqa: E731
    f = lambda x: k_true * (-9.0 * jnp.sin(3.0 * x[0]) + 2.0)  # noqa: E731  (k_true * u'')
    problem = pde.Problem(pde.Box([0.0], [1.0]), lambda u, x, prm: prm["k"] * u.d2(0) - f(x),
                          [pde.Dirichlet(exact)], params={"k": 1.0}, exact=exact)
    x_obs = jnp.linspace(0.0, 1.0, 200)[:, None]
    res = pig.train(problem, n_gaussians=64, steps=steps, observations=(x_obs, jax.vmap(exact)(x_obs)),
                    infer=("k",), key=jax.random.key(0))
    k = res.params["k"]
    print(f"identified k = {k:.4f} (true {k_true}, error {abs(k - k_true) / k_true:.2%}); "
          f"rel-L2 of u {res.final_error:.2e}")
    return res


if __name__ == "__main__":
    main()
