"""`sciml.nn`: the shared layers of every sciml method -- `MLP` (on `eqx.nn.Linear`), `SpectralConv` and `FNO`
(1D/2D/3D), `UNet` -- and utilities: `count_params`, `rel_l2`, `chunked_map`, `stop_gradient`. `NNXModule`
wraps any of them as a `flax.nnx` module (optional: needs flax, imported on first use). See `docs/nn.md`."""

from ._fno import FNO as FNO
from ._fno import SpectralConv as SpectralConv
from ._mlp import MLP as MLP
from ._unet import UNet as UNet
from ._util import chunked_map as chunked_map
from ._util import count_params as count_params
from ._util import rel_l2 as rel_l2
from ._util import stop_gradient as stop_gradient


def __getattr__(name):
    if name == "NNXModule":  # flax is optional: import it only when the wrapper is asked for
        from ._nnx import nnx_module_class

        return nnx_module_class()
    raise AttributeError(f"module 'sciml.nn' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + ["NNXModule"])
