"""Multi-host start-up."""

from __future__ import annotations

import jax


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, cpu_collectives: str | None = "gloo", **kwargs) -> None:
    """Start multi-process JAX (`jax.distributed.initialize`); on CPU also select a collectives backend.

    **Arguments:** as `jax.distributed.initialize`; `cpu_collectives` (`"gloo"` by default, `None` to leave the
    setting alone) is applied before initialising so CPU processes can run collectives together.

    **Example** (two processes on one machine, each faking 2 devices, a 4-device global mesh):

    ```bash
    XLA_FLAGS=--xla_force_host_platform_device_count=2 python train.py --process-id 0 &
    XLA_FLAGS=--xla_force_host_platform_device_count=2 python train.py --process-id 1
    ```
    with `parallel.initialize("127.0.0.1:12345", num_processes=2, process_id=i)` at the top of `train.py`,
    then `mesh = parallel.make_mesh()` spans all 4 devices. On GPU clusters (SLURM, Open MPI) call it without
    arguments.
    """
    if cpu_collectives is not None:
        jax.config.update("jax_cpu_collectives_implementation", cpu_collectives)
    jax.distributed.initialize(coordinator_address=coordinator_address, num_processes=num_processes,
                               process_id=process_id, **kwargs)
