"""A fitted GP-HM posterior inside a differentiable program: `res.resolve(problem)` is pure JAX.

Fits the kernel once on a 2D Poisson problem, then differentiates the solution at a point w.r.t. the source
amplitude and a coefficient of the operator (Helmholtz-like shift k u), and checks against central differences.

    python examples/gp_differentiable.py
"""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

from sciml import gp, pde  # noqa: E402

BOX = pde.Box([0.0, 0.0], [1.0, 1.0])
EXACT = lambda x: jnp.sin(3 * x[0]) * jnp.sin(5 * x[1])  # noqa: E731


def problem(amplitude=1.0):
    # u_xx + u_yy + k u = -34 amplitude sin 3x sin 5y; at k = 0 the solution is amplitude * sin 3x sin 5y
    return pde.Problem(BOX, lambda u, x, p: u.d2(0) + u.d2(1) + p["k"] * u.value + 34.0 * amplitude * EXACT(x),
                       [pde.Dirichlet(lambda x: amplitude * EXACT(x))], params={"k": 0.0}, exact=EXACT)


def main():
    res = gp.solve(problem(), grid=(48, 48), method=gp.Profiled(steps=10))
    x0 = jnp.array([[0.3, 0.6]])
    print(f"fit: strategy {res.info['strategy']}, rel-L2 {res.history[res.info['selected_step'] - 1]['rel_l2']:.2e}")

    def u_at(amplitude, k):
        return res.resolve(problem(amplitude), params={"k": k}).predict(x0)[0]

    da, dk = jax.grad(u_at, argnums=(0, 1))(1.0, 0.5)
    fd_a = (u_at(1.5, 0.5) - u_at(0.5, 0.5)) / 1.0
    fd_k = (u_at(1.0, 0.7) - u_at(1.0, 0.3)) / 0.4
    print(f"du/d amplitude: autodiff {float(da):.6f}, central difference {float(fd_a):.6f} (at k = 0 it would be {float(EXACT(x0[0])):.6f})")
    print(f"du/dk:          autodiff {float(dk):.3e}, central difference {float(fd_k):.3e}")
    batch = jax.jit(jax.vmap(lambda a: u_at(a, 0.0)))(jnp.linspace(0.5, 2.0, 4))
    print("jit(vmap) over amplitudes:", batch)


if __name__ == "__main__":
    main()
