"""Shipped DCDM weights: ``sciml/data/dcdm/<name>.eqx`` (Equinox leaves) + ``<name>.json`` (config and recipe)."""

from __future__ import annotations

import json
import os
import pathlib

import jax

from .._errors import check_safe_name, safe_join
from ..train import load_model, save_model
from ._network import DCDMNet

_ENV = "SCIML_DCDM_DATA"


def data_dir() -> pathlib.Path:
    """Folder holding the shipped weights (``$SCIML_DCDM_DATA`` or the package's ``sciml/data/dcdm``)."""
    if os.environ.get(_ENV):
        return pathlib.Path(os.environ[_ENV])
    return pathlib.Path(__file__).resolve().parents[1] / "data" / "dcdm"


def available_pretrained() -> list[str]:
    """Names of the shipped weight files."""
    d = data_dir()
    return sorted(p.stem for p in d.glob("*.eqx") if (d / f"{p.stem}.json").exists())


def _folder(directory) -> pathlib.Path:
    return pathlib.Path(directory) if directory is not None else data_dir()


def save_pretrained(net: DCDMNet, name: str, recipe: dict, directory=None) -> pathlib.Path:
    """Write ``<directory>/<name>.eqx`` and ``<name>.json`` (architecture + the recipe that made it) with
    [`sciml.train.save_model`][] (Equinox leaves + a JSON record of every leaf's path, shape and dtype).

    **Arguments:**

    - `net`: the trained `DCDMNet`.
    - `name`: a plain file name (no path separators, no leading dot): the files never leave `directory`.
    - `recipe`: JSON-serialisable dict describing how the weights were made.
    - `directory`: target folder (default: the package's shipped-weights folder).

    **Returns:** the path of the `.eqx` file.
    """
    check_safe_name("name", name)
    if not isinstance(net, DCDMNet):
        raise TypeError(f"`net` must be a DCDMNet, got {type(net).__name__}.")
    if not isinstance(recipe, dict):
        raise TypeError(f"`recipe` must be a dict, got {type(recipe).__name__}.")
    d = _folder(directory)
    d.mkdir(parents=True, exist_ok=True)
    cfg = {"ndim": net.ndim, "variant": net.variant, "channels": int(net.first.weight.shape[-1]),
           "dtype": str(net.first.weight.dtype), "recipe": recipe}
    return save_model(safe_join("name", d, f"{name}.eqx"), net, cfg)


def _config(name: str, directory) -> tuple[pathlib.Path, dict]:
    check_safe_name("name", name)
    d = _folder(directory)
    cfg_path = safe_join("name", d, f"{name}.json")
    if not cfg_path.exists():
        have = available_pretrained() if directory is None else []
        raise FileNotFoundError(f"No DCDM weights named {name!r} in {d} (available: {have}).")
    return cfg_path, json.loads(cfg_path.read_text())


def load_pretrained(name: str, directory=None) -> DCDMNet:
    """Load shipped DCDM weights by name, e.g. ``"dcdm-2d-64"`` or ``"dcdm-3d-64"``.

    The JSON next to the weights records the architecture, the training recipe (operator, Lanczos
    steps, samples, optimiser, steps, wall time, final loss) and every leaf's shape and dtype, checked on load
    by [`sciml.train.load_model`][].

    **Arguments:**

    - `name`: the weights' name (a plain file name).
    - `directory`: folder to read from (default: the package's shipped-weights folder).

    **Returns:** the `DCDMNet`.

    **Example:** `net = dcdm.load_pretrained("dcdm-2d-64"); sol = dcdm.solve(net, op, b)`
    """
    cfg_path, cfg = _config(name, directory)
    import jax.numpy as jnp

    skeleton = DCDMNet(ndim=cfg["ndim"], variant=cfg["variant"], channels=cfg.get("channels", 16),
                       dtype=jnp.dtype(cfg.get("dtype", "float32")), key=jax.random.key(0))
    return load_model(cfg_path.with_suffix(".eqx"), like=skeleton)


def pretrained_recipe(name: str, directory=None) -> dict:
    """The training recipe recorded next to shipped weights.

    **Arguments:**

    - `name`: the weights' name, e.g. `"dcdm-3d-64"` (see `available_pretrained()`).
    - `directory`: as in [`load_pretrained`][sciml.dcdm.load_pretrained] (default: the shipped weights).

    **Returns:** a dict (operator, Lanczos steps, samples, optimiser, steps, wall time, final loss, ...).

    **Raises:** `FileNotFoundError` when no weights of that name exist; `ValueError` for an unsafe name.
    """
    return _config(name, directory)[1]["recipe"]
