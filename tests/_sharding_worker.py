"""Run in a subprocess with 4 fake CPU devices by tests/test_parallel.py; prints one JSON line of errors."""

import os

# appended to the XLA_FLAGS the test passes (the suite's --xla_backend_optimization_level=0: faster compiles)
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import json  # noqa: E402

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from sciml import linalg, parallel, train  # noqa: E402


def main():
    out = {"devices": jax.device_count()}
    rng = np.random.default_rng(0)
    flags = np.zeros((16, 12, 8), np.int8)
    flags[rng.random(flags.shape) < 0.15] = linalg.SOLID
    flags[:, :, -1] = linalg.AIR
    op = linalg.poisson_operator(flags, spacing=0.5, dtype=jnp.float64)
    x = jnp.asarray(rng.normal(size=flags.shape))
    mesh1 = parallel.make_mesh((4,), ("x",))
    mesh2 = parallel.make_mesh((2, 2), ("x", "y"))
    out["mv_1d"] = float(jnp.abs(parallel.sharded_mv(op, x, mesh1) - op.mv(x)).max())
    out["mv_2d"] = float(jnp.abs(parallel.sharded_mv(op, x, mesh2, ("x", "y")) - op.mv(x)).max())
    b = jnp.where(op.mask, x, 0)
    ref = linalg.cg(op, b, rtol=1e-10)
    sol = parallel.sharded_cg(op, b, mesh2, ("x", None, "y"), rtol=1e-10)
    assert isinstance(sol, linalg.Solution)
    v, it, conv = sol.value, sol.iterations, sol.converged
    # the whole Solution agrees with the single-device one: result code, true residual, residual history
    out["cg_fields"] = [int(sol.result), int(ref.result), float(sol.true_residual), float(ref.true_residual),
                        float(np.nanmax(np.abs(np.asarray(sol.residual_norms) - np.asarray(ref.residual_norms))))]
    out["cg_err"] = float(jnp.abs(v - ref.value).max() / jnp.abs(ref.value).max())
    out["cg_iters"] = [int(it), int(ref.iterations)]
    sj = parallel.sharded_cg(op, b, mesh1, rtol=1e-10, jacobi=True)
    vj, itj = sj.value, sj.iterations
    refj = linalg.pcg(op, b, linalg.jacobi(op), rtol=1e-10)
    out["pcg_err"] = float(jnp.abs(vj - refj.value).max() / jnp.abs(refj.value).max())
    out["pcg_iters"] = [int(itj), int(refj.iterations)]
    # b nonzero off FLUID (SOLID/AIR cells): ignored by both, sharded == single device, both converge
    ref_x = linalg.cg(op, x, rtol=1e-10)
    sx = parallel.sharded_cg(op, x, mesh2, ("x", None, "y"), rtol=1e-10)
    sxj = parallel.sharded_cg(op, x, mesh1, rtol=1e-10, jacobi=True)
    vx, convx, vxj, convxj = sx.value, sx.converged, sxj.value, sxj.converged
    out["offfluid_err"] = float(jnp.abs(vx - ref_x.value).max() / jnp.abs(ref_x.value).max())
    out["offfluid_err_jacobi"] = float(jnp.abs(vxj - ref_x.value).max() / jnp.abs(ref_x.value).max())
    out["offfluid_conv"] = [bool(convx), bool(convxj), bool(ref_x.converged)]
    out["offfluid_finite"] = bool(jnp.isfinite(vx).all()) and bool(jnp.isfinite(vxj).all())
    out["offfluid_zero"] = float(jnp.abs(jnp.where(op.mask, 0, vx)).max())
    # float32: an unreachable rtol is not reported as converged
    op32 = linalg.poisson_operator(flags, spacing=0.5, dtype=jnp.float32)
    conv32 = parallel.sharded_cg(op32, b.astype(jnp.float32), mesh1, rtol=1e-10, maxiter=2000).converged
    out["f32_unreachable_conv"] = bool(conv32)

    # one data-parallel training run == single device
    model = eqx.nn.MLP(3, 1, 16, 2, key=jax.random.key(0))
    X = jnp.asarray(rng.normal(size=(64, 3)))
    Y = jnp.sin(X.sum(-1, keepdims=True))
    loss = lambda m, bt, k: jnp.mean((jax.vmap(m)(bt["x"]) - bt["y"]) ** 2)  # noqa: E731
    batches = train.array_batches({"x": X, "y": Y}, 32)
    r1 = train.fit(loss, model, optax.adam(1e-2), batches, steps=5, key=jax.random.key(1), progress=False)
    rN = train.fit(loss, model, optax.adam(1e-2), batches, steps=5, key=jax.random.key(1), progress=False,
                   mesh=parallel.make_mesh((4,), ("data",)))
    diffs = jax.tree.leaves(jax.tree.map(lambda a, c: float(jnp.abs(a - c).max()),
                                         eqx.filter(r1.model, eqx.is_array), eqx.filter(rN.model, eqx.is_array)))
    out["train_err"] = max(diffs)
    out["train_changed"] = float(jnp.abs(r1.model.layers[0].weight - model.layers[0].weight).max())
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    main()
