"""Optional `flax.nnx` wrapper of any sciml/Equinox layer (imported lazily: flax is an optional extra)."""

from __future__ import annotations

import importlib.util

import equinox as eqx
import jax

from .._errors import check_int

_HINT = ("`sciml.nn.NNXModule` needs flax, an optional dependency: install it with `pip install 'sciml[flax]'` "
         "(or `pip install flax`).")


class _Static:
    """Opaque holder (not a pytree) for the Equinox module's non-array structure."""

    def __init__(self, static, treedef):
        self.static, self.treedef = static, treedef

    def __repr__(self):
        return "eqx-static"


def _build():
    if importlib.util.find_spec("flax") is None:
        raise ImportError(_HINT)
    from flax import nnx

    class NNXModule(nnx.Module):
        """A `flax.nnx` view of an Equinox module: its array leaves become `nnx.Param`s, the computation is the
        Equinox module's own, so outputs and gradients are identical and it trains with `nnx.Optimizer`.

        **Arguments:**

        - `module`: any Equinox module (an `nn.FNO`, `nn.MLP`, a `cape.CAPE` block, ...).
        - `sample_ndim`: the number of axes of ONE sample of the first call argument (e.g. `ndim + 1` for a
          channels-first field); extra leading axes are vmapped over, together with the same leading axes of
          the other arguments. `None` calls the module on the arguments as given.

        `to_eqx()` returns the current Equinox module (with the trained parameters).

        **Example:**

        ```python
        wrapped = nn.NNXModule(nn.FNO(1, 1, key=jax.random.key(0)), sample_ndim=2)
        y = wrapped(jnp.ones((8, 1, 64)))   # batch of 8
        ```
        """

        def __init__(self, module, *, sample_ndim: int | None = None):
            if not isinstance(module, eqx.Module):
                raise TypeError(f"`module` must be an Equinox module, got {type(module).__name__}.")
            if sample_ndim is not None:
                check_int("sample_ndim", sample_ndim, minimum=0)
            arrays, static = eqx.partition(module, eqx.is_array)
            leaves, treedef = jax.tree_util.tree_flatten(arrays)
            self.weights = nnx.List([nnx.Param(l) for l in leaves])
            self._static = _Static(static, treedef)
            self.sample_ndim = sample_ndim

        def to_eqx(self):
            leaves = [p[...] for p in self.weights]
            return eqx.combine(jax.tree_util.tree_unflatten(self._static.treedef, leaves), self._static.static)

        def __call__(self, *args):
            f = self.to_eqx()
            if self.sample_ndim is not None and args:
                if getattr(args[0], "ndim", -1) < self.sample_ndim:
                    raise ValueError(f"the first argument must have at least sample_ndim={self.sample_ndim} axes, "
                                     f"got shape {getattr(args[0], 'shape', type(args[0]).__name__)}.")
                for _ in range(args[0].ndim - self.sample_ndim):
                    f = jax.vmap(f)
            return f(*args)

    return NNXModule


_CACHE: dict = {}


def nnx_module_class():
    """The `NNXModule` class (built on first use; raises ImportError with an install hint without flax)."""
    if "cls" not in _CACHE:
        _CACHE["cls"] = _build()
    return _CACHE["cls"]
