"""A system of two fields: the steady reaction-diffusion pair
`u0'' - u1 = f0`, `u1'' + u0 = f1` on [0, 1] with exact solution (sin(pi x), x^2), each field with its own
Dirichlet condition (`field=`). The residual returns one entry per equation; `result.predict(x)` is (n, 2).

    python examples/pde_system.py
"""

import jax
import jax.numpy as jnp

from sciml import pde, pig


def main(steps: int = 1000):
    e0 = lambda x: jnp.sin(jnp.pi * x[0])  # noqa: E731
    e1 = lambda x: x[0] ** 2  # noqa: E731
    f0 = lambda x: -jnp.pi**2 * e0(x) - e1(x)  # noqa: E731
    f1 = lambda x: 2.0 + e0(x)  # noqa: E731

    def residual(u, x):
        return jnp.stack([u[0].d2(0) - u[1].value - f0(x), u[1].d2(0) + u[0].value - f1(x)])

    problem = pde.Problem(pde.Box([0.0], [1.0]), residual, [pde.Dirichlet(e0, field=0), pde.Dirichlet(e1, field=1)],
                          n_fields=2, exact=lambda x: jnp.stack([e0(x), e1(x)]))
    res = pig.train(problem, n_gaussians=64, steps=steps, key=jax.random.key(0))
    x = jnp.linspace(0.0, 1.0, 5)[:, None]
    print("u(x) at", x[:, 0].tolist(), "\n", res.predict(x))
    print(f"rel-L2 (both fields) {res.final_error:.2e} in {res.seconds:.1f} s")
    return res


if __name__ == "__main__":
    main()
