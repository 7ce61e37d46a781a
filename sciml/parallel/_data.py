"""Data-parallel helpers: meshes, batch sharding, replication (current JAX idioms only)."""

from __future__ import annotations

from typing import Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P


def make_mesh(shape: Sequence[int] | None = None, axis_names: Sequence[str] = ("data",), devices=None) -> Mesh:
    """A device mesh via `jax.make_mesh`.

    **Arguments:**

    - `shape`: mesh shape (default: all devices along one axis).
    - `axis_names`: names of the mesh axes (default `("data",)`).
    - `devices`: optional explicit device list.

    **Example:** `mesh = parallel.make_mesh()  # 1D "data" mesh over all devices`
    """
    devs = list(devices) if devices is not None else jax.devices()
    if shape is None:
        shape = (len(devs),) + (1,) * (len(axis_names) - 1)
    shape = tuple(int(s) for s in shape)
    if len(shape) != len(axis_names):
        raise ValueError(f"`shape` {shape} and `axis_names` {tuple(axis_names)} must have the same length.")
    if int(np.prod(shape)) != len(devs):
        raise ValueError(f"mesh `shape` {shape} needs {int(np.prod(shape))} devices, but {len(devs)} are given.")
    if devices is None:
        return jax.make_mesh(shape, tuple(axis_names))
    return Mesh(np.asarray(devs).reshape(shape), tuple(axis_names))


def shard_batch(batch, mesh: Mesh, axis: str = "data"):
    """Place every array leaf of `batch` with its leading axis split over mesh axis `axis`.

    Raises `ValueError` if a leading dimension is not divisible by the axis size.
    """
    n = mesh.shape[axis]

    def put(x):
        if not hasattr(x, "shape") or x.ndim == 0:
            return jax.device_put(x, NamedSharding(mesh, P()))
        if x.shape[0] % n:
            raise ValueError(
                f"batch leading dimension {x.shape[0]} is not divisible by the {n} devices of mesh axis {axis!r}."
            )
        return jax.device_put(x, NamedSharding(mesh, P(axis)))

    return jax.tree.map(put, batch)


def replicate(tree, mesh: Mesh):
    """Replicate every array leaf of `tree` on all devices of `mesh`."""
    return jax.tree.map(lambda x: jax.device_put(x, NamedSharding(mesh, P())) if hasattr(x, "shape") else x, tree)
