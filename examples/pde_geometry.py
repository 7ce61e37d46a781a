"""Non-box geometry: Poisson on a disc with a square hole (`pde.Ball(...) - pde.Box(...)`) and on an L-shaped
`pde.Polygon`, with manufactured exact solutions, solved by Physics-Informed Gaussians (reduced budget).

    python examples/pde_geometry.py
"""

import jax
import jax.numpy as jnp

from sciml import pde, pig


def main(steps: int = 800):
    exact = lambda x: jnp.sin(jnp.pi * x[0]) * jnp.cos(jnp.pi * x[1]) + 0.5 * x[0] * x[1]  # noqa: E731
    lap = lambda u, x: u.d2(0) + u.d2(1)  # noqa: E731
    domains = {
        "disc minus square": pde.Ball([0.0, 0.0], 1.0) - pde.Box([-0.3, -0.3], [0.3, 0.3]),
        "L-shape": pde.Polygon([[0, 0], [1, 0], [1, 0.5], [0.5, 0.5], [0.5, 1], [0, 1]]),
    }
    out = {}
    for name, dom in domains.items():
        xb, normals = dom.sample_boundary_normals(jax.random.key(1), 4)
        print(name, "boundary points", xb.tolist(), "outward normals", normals.tolist())
        problem = pde.Problem(dom, pde.manufactured(lap, exact), [pde.Dirichlet(exact)], exact=exact)
        res = pig.train(problem, n_gaussians=100, steps=steps, lbfgs=pig.LBFGS(steps=200, points=1000),
                        eval_shape=(100, 100), key=jax.random.key(0))
        print(f"{name}: rel-L2 {res.final_error:.2e} in {res.seconds:.1f} s")
        out[name] = res
    return out


if __name__ == "__main__":
    main()
