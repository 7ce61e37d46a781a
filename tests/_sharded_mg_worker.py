"""Run in a subprocess with 4 fake CPU devices by tests/test_sharded_multigrid.py; prints one JSON line."""

import os

# appended to the XLA_FLAGS the test passes (the suite's --xla_backend_optimization_level=0: faster compiles)
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import json  # noqa: E402

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from sciml import linalg, parallel  # noqa: E402
from sciml.dcdm import add_air_layer, sphere_obstacle  # noqa: E402


def main():
    out = {"devices": jax.device_count()}
    flags = add_air_layer(sphere_obstacle((32, 24, 16), radius=0.2), thickness=0.125)
    op = linalg.poisson_operator(flags, spacing=1 / 32, dtype=jnp.float64)
    rng = np.random.default_rng(0)
    b = jnp.where(op.mask, jnp.asarray(rng.normal(size=flags.shape)), 0)
    M = linalg.multigrid_preconditioner(op, boundary_sweeps=0, coarsest_size=64)
    ref = linalg.pcg(op, b, M, rtol=1e-10)
    mesh = parallel.make_mesh((4,), ("x",))
    sol = parallel.sharded_mg_pcg(op, b, mesh, rtol=1e-10, preconditioner=M, min_rows=2)
    v, it, conv = sol.value, sol.iterations, sol.converged
    out["true_residual"] = [float(sol.true_residual), float(ref.true_residual)]
    out["levels"] = M.n_levels
    out["err"] = float(jnp.abs(v - ref.value).max() / jnp.abs(ref.value).max())
    out["iters"] = [int(it), int(ref.iterations)]
    out["converged"] = bool(conv) and bool(ref.converged)
    # the natural-layout Chebyshev smoother through the same domain decomposition
    Mc = linalg.multigrid_preconditioner(op, smoother="chebyshev", coarsest_size=64)
    refc = linalg.pcg(op, b, Mc, rtol=1e-10)
    sc = parallel.sharded_mg_pcg(op, b, mesh, rtol=1e-10, preconditioner=Mc, min_rows=2)
    vc, itc, convc = sc.value, sc.iterations, sc.converged
    out["cheb_err"] = float(jnp.abs(vc - refc.value).max() / jnp.abs(refc.value).max())
    out["cheb_iters"] = [int(itc), int(refc.iterations)]
    out["cheb_converged"] = bool(convc) and bool(refc.converged)
    # one V-cycle application, sharded vs single device, through the CG's first direction: compare z = M r
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    main()
