"""sciml: a JAX library for scientific machine learning — learned and probabilistic PDE solvers.

Core: `sciml.linalg`, `sciml.pde`, `sciml.train`, `sciml.parallel`. Imported on first use: the shared layers
`sciml.nn`, the methods `sciml.dcdm`, `sciml.gp`, `sciml.pig`, `sciml.cape`, `sciml.giorom`, and the figures
`sciml.plot` (matplotlib, extra `plot`).
"""

import importlib
import importlib.metadata

try:
    __version__ = importlib.metadata.version("sciml")
except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.1.0"

from . import linalg as linalg, parallel as parallel, pde as pde, train as train

_METHODS = ("nn", "dcdm", "gp", "pig", "cape", "giorom", "plot")


def __getattr__(name):
    if name in _METHODS:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'sciml' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_METHODS))
