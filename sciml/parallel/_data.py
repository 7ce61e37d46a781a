"""Data-parallel helpers: meshes, batch sharding, replication (current JAX idioms only)."""

from __future__ import annotations

from typing import Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from .._errors import check_int


def _check_mesh(mesh):
    if not isinstance(mesh, Mesh):
        raise TypeError(f"`mesh` must be a jax.sharding.Mesh (parallel.make_mesh(...)), got {type(mesh).__name__}.")


def make_mesh(shape: Sequence[int] | None = None, axis_names: Sequence[str] = ("data",), devices=None) -> Mesh:
    """A device mesh via `jax.make_mesh`.

    **Arguments:**

    - `shape`: mesh shape (default: all devices along one axis).
    - `axis_names`: names of the mesh axes (default `("data",)`).
    - `devices`: optional explicit device list.

    **Example:** `mesh = parallel.make_mesh()  # 1D "data" mesh over all devices`
    """
    if isinstance(axis_names, str) or not isinstance(axis_names, (tuple, list)) or not axis_names:
        raise TypeError(f"`axis_names` must be a non-empty tuple of strings, got {axis_names!r}.")
    for a in axis_names:
        if not isinstance(a, str) or not a:
            raise TypeError(f"`axis_names` must contain non-empty strings, got {a!r}.")
    if len(set(axis_names)) != len(axis_names):
        raise ValueError(f"`axis_names` must be distinct, got {tuple(axis_names)}.")
    devs = list(devices) if devices is not None else jax.devices()
    if devices is not None and (not devs or not all(isinstance(d, jax.Device) for d in devs)):
        raise TypeError("`devices` must be a non-empty sequence of jax devices (e.g. jax.devices()[:4]).")
    if shape is None:
        shape = (len(devs),) + (1,) * (len(axis_names) - 1)
    if isinstance(shape, (int, np.integer)) or not isinstance(shape, (tuple, list)):
        raise TypeError(f"`shape` must be a tuple of positive integers (one per mesh axis), got {shape!r}.")
    shape = tuple(check_int("shape", s, minimum=1) for s in shape)
    if len(shape) != len(axis_names):
        raise ValueError(f"`shape` {shape} and `axis_names` {tuple(axis_names)} must have the same length.")
    if int(np.prod(shape)) != len(devs):
        raise ValueError(f"mesh `shape` {shape} needs {int(np.prod(shape))} devices, but {len(devs)} are given.")
    if devices is None:
        return jax.make_mesh(shape, tuple(axis_names))
    return Mesh(np.asarray(devs).reshape(shape), tuple(axis_names))


def shard_batch(batch, mesh: Mesh, axis: str = "data"):
    """Place every array leaf of `batch` with its leading axis split over mesh axis `axis`.

    **Arguments:**

    - `batch`: a pytree of arrays sharing a leading (batch) dimension; scalars are replicated.
    - `mesh`: a `jax.sharding.Mesh`.
    - `axis`: the name of the mesh axis to split over.

    Raises `ValueError` if a leading dimension is not divisible by the axis size.

    **Example:** `batch = parallel.shard_batch({"x": X, "y": Y}, parallel.make_mesh())`
    """
    _check_mesh(mesh)
    if axis not in mesh.axis_names:
        raise ValueError(f"`axis` must be one of the mesh's axis names {mesh.axis_names}, got {axis!r}.")
    n = mesh.shape[axis]

    def put(x):
        if not hasattr(x, "shape") or x.ndim == 0:
            return jax.device_put(x, NamedSharding(mesh, P()))
        if x.shape[0] % n:
            raise ValueError(
                f"`batch` leading dimension {x.shape[0]} is not divisible by the {n} devices of mesh axis {axis!r}."
            )
        return jax.device_put(x, NamedSharding(mesh, P(axis)))

    return jax.tree.map(put, batch)


def replicate(tree, mesh: Mesh):
    """Replicate every array leaf of `tree` on all devices of `mesh`.

    **Arguments:** `tree`: any pytree (non-array leaves are left alone); `mesh`: a `jax.sharding.Mesh`.

    **Example:** `params = parallel.replicate(params, mesh)`
    """
    _check_mesh(mesh)
    return jax.tree.map(lambda x: jax.device_put(x, NamedSharding(mesh, P())) if hasattr(x, "shape") else x, tree)
