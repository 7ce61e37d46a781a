"""Multi-host start-up."""

from __future__ import annotations

import jax

from .._errors import check_choice, check_int


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, cpu_collectives: str | None = "gloo", **kwargs) -> None:
    """Start multi-process JAX (`jax.distributed.initialize`); on CPU also select a collectives backend.

    **Arguments:**

    - `coordinator_address`: `"host:port"` of process 0's coordinator service; `None` (default) lets JAX detect it
      (SLURM, Open MPI, TPU pods).
    - `num_processes`: total number of processes (integer ≥ 1); `None` = auto-detect.
    - `process_id`: this process's index in `[0, num_processes)`; `None` = auto-detect.
    - `cpu_collectives`: CPU collectives backend, `"gloo"` (default), `"mpi"` or `"megascale"`, applied before
      initialising so CPU processes can run collectives together; `None` leaves the setting alone.
    - `**kwargs`: passed on to `jax.distributed.initialize` (e.g. `local_device_ids`).

    **Raises:** `ValueError` for a malformed address, a non-positive `num_processes`, a `process_id` out of range or
    an unknown `cpu_collectives`.

    **Example** (two processes on one machine, each faking 2 devices, a 4-device global mesh):

    ```bash
    XLA_FLAGS=--xla_force_host_platform_device_count=2 python train.py --process-id 0 &
    XLA_FLAGS=--xla_force_host_platform_device_count=2 python train.py --process-id 1
    ```
    with `parallel.initialize("127.0.0.1:12345", num_processes=2, process_id=i)` at the top of `train.py`,
    then `mesh = parallel.make_mesh()` spans all 4 devices. On GPU clusters (SLURM, Open MPI) call it without
    arguments.
    """
    if coordinator_address is not None and (not isinstance(coordinator_address, str) or ":" not in coordinator_address):
        raise ValueError(f"`coordinator_address` must be a 'host:port' string or None, got {coordinator_address!r}.")
    if num_processes is not None:
        num_processes = check_int("num_processes", num_processes, minimum=1)
    if process_id is not None:
        process_id = check_int("process_id", process_id, minimum=0,
                               maximum=None if num_processes is None else num_processes - 1)
    if cpu_collectives is not None:
        check_choice("cpu_collectives", cpu_collectives, ("gloo", "mpi", "megascale"))
        jax.config.update("jax_cpu_collectives_implementation", cpu_collectives)
    jax.distributed.initialize(coordinator_address=coordinator_address, num_processes=num_processes,
                               process_id=process_id, **kwargs)
