"""Worker for tests/test_parallel.py::test_multiprocess_sharded_cg (run as a subprocess)."""

import os
import sys

# appended to the XLA_FLAGS the test passes (the suite's --xla_backend_optimization_level=0: faster compiles)
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import NamedSharding, PartitionSpec as P  # noqa: E402

from sciml import linalg, parallel  # noqa: E402


def main():
    port, pid = sys.argv[1], int(sys.argv[2])
    parallel.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=pid)
    assert jax.device_count() == 4, jax.devices()
    flags = np.zeros((16, 12), np.int8)
    flags[5:9, 4:7] = linalg.SOLID
    flags[0, :] = linalg.AIR
    op = linalg.poisson_operator(flags, dtype=jnp.float64)
    b_np = np.where(flags == 0, np.random.default_rng(0).normal(size=flags.shape), 0.0)
    mesh = parallel.make_mesh((4,), ("x",))
    sharding = NamedSharding(mesh, P("x", None))
    b = jax.make_array_from_callback(flags.shape, sharding, lambda idx: b_np[idx])
    sol = parallel.sharded_cg(op, b, mesh, rtol=1e-10)
    value, iters, conv = sol.value, sol.iterations, sol.converged
    from jax.experimental import multihost_utils

    full = np.asarray(multihost_utils.process_allgather(value, tiled=True))
    ref = linalg.cg(op, jnp.asarray(b_np), rtol=1e-10)
    err = float(np.abs(full - np.asarray(ref.value)).max())
    print(f"RESULT pid={pid} iters={int(iters)} ref_iters={int(ref.iterations)} err={err:.3e} conv={bool(conv)}")
    jax.distributed.shutdown()


if __name__ == "__main__":
    main()
