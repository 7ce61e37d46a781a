"""A ``flax.nnx`` wrapper of the CAPE block: the same computation, parameters held as ``nnx.Param``."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from ._models import CAPE

__all__ = ["CAPEBlockNNX"]


class _Static:
    """Opaque holder (not a pytree) for the Equinox block's non-array structure."""

    def __init__(self, static, treedef):
        self.static, self.treedef = static, treedef

    def __repr__(self):
        return "CAPE-static"


class CAPEBlockNNX:  # placeholder replaced below when flax is importable
    pass


def _build():
    from flax import nnx

    class CAPEBlockNNX(nnx.Module):
        """``flax.nnx`` CAPE block: ``nnx.Param`` leaves around the Equinox :class:`CAPE` computation.

        Build it like the Equinox block (``CAPEBlockNNX(n_channels, n_params, rngs=nnx.Rngs(0), variant=...,
        grid_shape=...)``) or wrap an existing one (``CAPEBlockNNX(block=eqx_block)``, same outputs). Call with
        ``u`` (..., c, *grid) (leading batch axes allowed) and ``lam`` (..., n_params): returns ``u_cape``
        (..., ell, c, *grid). ``to_eqx()`` returns the current Equinox block.
        """

        def __init__(self, n_channels: int = 1, n_params: int = 1, *, block: CAPE | None = None,
                     rngs: "nnx.Rngs | None" = None, **kwargs):
            if block is None:
                if rngs is None:
                    raise ValueError("pass rngs=nnx.Rngs(seed) (or an existing block=CAPE(...))")
                block = CAPE(n_channels, n_params, key=rngs.params(), **kwargs)
            arrays, static = eqx.partition(block, eqx.is_array)
            leaves, treedef = jax.tree_util.tree_flatten(arrays)
            self.weights = nnx.List([nnx.Param(jnp.asarray(l)) for l in leaves])
            self._static = _Static(static, treedef)
            self.ndim = block.ndim

        def to_eqx(self) -> CAPE:
            leaves = [p[...] for p in self.weights]
            return eqx.combine(jax.tree_util.tree_unflatten(self._static.treedef, leaves), self._static.static)

        def __call__(self, u, lam):
            block = self.to_eqx()
            f = block
            nb = u.ndim - (self.ndim + 1)
            for _ in range(nb):
                f = jax.vmap(f)
            return f(u, lam)

    return CAPEBlockNNX


try:  # flax is a core dependency, but keep import of sciml.cape light if it is broken
    CAPEBlockNNX = _build()  # noqa: F811
except ImportError:  # pragma: no cover
    pass
