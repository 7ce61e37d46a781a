"""Shipped DCDM weights: ``sciml/data/dcdm/<name>.eqx`` (Equinox leaves) + ``<name>.json`` (config and recipe)."""

from __future__ import annotations

import json
import os
import pathlib

import equinox as eqx
import jax

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


def save_pretrained(net: DCDMNet, name: str, recipe: dict, directory=None) -> pathlib.Path:
    """Write ``<directory>/<name>.eqx`` and ``<name>.json`` (architecture + the recipe that made it)."""
    d = pathlib.Path(directory) if directory is not None else data_dir()
    d.mkdir(parents=True, exist_ok=True)
    cfg = {"ndim": net.ndim, "variant": net.variant, "channels": int(net.first.weight.shape[-1]),
           "dtype": str(net.first.weight.dtype), "recipe": recipe}
    eqx.tree_serialise_leaves(d / f"{name}.eqx", net)
    (d / f"{name}.json").write_text(json.dumps(cfg, indent=1, default=str) + "\n")
    return d / f"{name}.eqx"


def load_pretrained(name: str, directory=None) -> DCDMNet:
    """Load shipped DCDM weights by name, e.g. ``"dcdm-2d-64"`` or ``"dcdm-3d-64"``.

    The JSON next to the weights records the architecture and the training recipe (operator, Lanczos
    steps, samples, optimiser, steps, wall time, final loss).
    """
    d = pathlib.Path(directory) if directory is not None else data_dir()
    cfg_path = d / f"{name}.json"
    if not cfg_path.exists():
        have = available_pretrained() if directory is None else []
        raise FileNotFoundError(f"No DCDM weights named {name!r} in {d} (available: {have}).")
    cfg = json.loads(cfg_path.read_text())
    import jax.numpy as jnp

    skeleton = DCDMNet(ndim=cfg["ndim"], variant=cfg["variant"], channels=cfg.get("channels", 16),
                       dtype=jnp.dtype(cfg.get("dtype", "float32")), key=jax.random.key(0))
    return eqx.tree_deserialise_leaves(d / f"{name}.eqx", skeleton)


def pretrained_recipe(name: str, directory=None) -> dict:
    """The training recipe recorded next to shipped weights."""
    d = pathlib.Path(directory) if directory is not None else data_dir()
    return json.loads((d / f"{name}.json").read_text())["recipe"]
