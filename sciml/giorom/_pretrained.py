"""Shipped GIOROM models: ``sciml/data/giorom/<name>.eqx`` (Equinox leaves, written by `sciml.train.save_model`)
with the ``<name>.json`` sidecar holding the architecture (``arch``), the data's metadata (normalisation statistics,
walls) and the training recipe (``recipe``), as DCDM ships its weights."""

from __future__ import annotations

import json
import pathlib

import equinox as eqx
import jax

from .._errors import check_safe_name, safe_join
from ..train import load_model
from ._models import GIOROM


def _data_dir() -> pathlib.Path:
    return pathlib.Path(__file__).resolve().parents[1] / "data" / "giorom"


def _folder(directory) -> pathlib.Path:
    if directory is None:
        return _data_dir()
    if not isinstance(directory, (str, pathlib.PurePath)):
        raise TypeError(f"`directory` must be a path or None, got {type(directory).__name__}.")
    return pathlib.Path(directory)


def _names(folder: pathlib.Path) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.eqx") if p.with_suffix(".json").is_file())


def available_pretrained() -> list[str]:
    """Names of the GIOROM models shipped with the package (in `sciml/data/giorom/`), for
    [`load_pretrained`][sciml.giorom.load_pretrained].

    **Returns:** a sorted list of names, e.g. `["giorom-jelly-demo"]`.

    **Example:** `giorom.available_pretrained()`
    """
    return _names(_data_dir())


def _sidecar(name, directory) -> tuple[pathlib.Path, dict]:
    check_safe_name("name", name)
    folder = _folder(directory)
    have = _names(folder)
    if name not in have:
        where = "shipped with sciml" if directory is None else f"in {str(folder)!r}"
        raise ValueError(f"`name`: no GIOROM model named {name!r} {where}; available: {have}.")
    path = safe_join("name", folder, f"{name}.json")
    side = json.loads(path.read_text())
    if (not isinstance(side, dict) or not {"arch", "metadata"} <= set(side)
            or not ("n_full" in side["arch"] or "n_particles" in side["metadata"])):
        raise ValueError(f"`name`: {str(path)!r} lacks `arch`, `metadata` or the particle count, so {name!r} is not a GIOROM "
                         "model saved with its architecture.")
    return path, side


def _build(metadata: dict, arch: dict, key=None) -> GIOROM:
    a = dict(arch)
    n_full = int(a.pop("n_full") if "n_full" in a else metadata["n_particles"])
    key = jax.random.key(0) if key is None else key
    return GIOROM(metadata, n_full=n_full, n_sample=int(a.pop("n_sample")), grid=tuple(a.pop("grid", (16, 16))),
                  key=key, **a)


def load_pretrained(name: str, directory=None) -> GIOROM:
    """Load a trained GIOROM shipped with the package (or saved in the same layout in `directory`).

    The model's normalisation statistics, wall bounds and radii are those of its training data (stored in the
    sidecar's `metadata`); the sidecar's `recipe` records how it was trained and how it scored
    ([`pretrained_recipe`][sciml.giorom.pretrained_recipe]). The leaves are checked against the architecture
    on load ([`sciml.train.load_model`][]).

    **Arguments:**

    - `name`: the model's name, one of [`available_pretrained`][sciml.giorom.available_pretrained]`()` (shipped:
      `"giorom-jelly-demo"`, a GIOROM on 100 farthest-point nodes trained on 1000-particle MLS-MPM jelly block
      drops, 64 frames; see its recipe `sciml/data/giorom/train_demo.py`).
    - `directory`: folder holding `<name>.eqx` and `<name>.json` (default None: the shipped models).

    **Returns:** the [`GIOROM`][sciml.giorom.GIOROM], ready for [`rollout`][sciml.giorom.rollout].

    **Raises:** `ValueError` naming `name` (and listing the available names) for an unknown or unsafe name.

    **Example:**
    ```python
    model = giorom.load_pretrained("giorom-jelly-demo")
    data = giorom.pretrained_recipe("giorom-jelly-demo")["data"]   # material, n_particles, n_frames
    P, T = giorom.generate_dataset(data["material"], 1, n_particles=data["n_particles"],
                                   n_frames=data["n_frames"], key=jax.random.key(7)).stacked()
    dense = giorom.rollout(model, P[0, :6], P.shape[1] - 6, particle_type=T[0])
    ```
    """
    path, side = _sidecar(name, directory)
    like = eqx.filter_eval_shape(_build, side["metadata"], side["arch"])  # shapes only: no eager initialisation
    return load_model(path.with_suffix(".eqx"), like=like)


def pretrained_recipe(name: str, directory=None) -> dict:
    """How a shipped GIOROM was made and how it scored: the `recipe` entry of its sidecar.

    **Arguments:**

    - `name`: the model's name (see [`available_pretrained`][sciml.giorom.available_pretrained]).
    - `directory`: as in [`load_pretrained`][sciml.giorom.load_pretrained] (default: the shipped models).

    **Returns:** a dict: the script, the training data (`data`: material, particles, frames, trajectories, key),
    optimiser, steps, wall time, losses and the recorded test errors against constant velocity (`test`).

    **Example:** `giorom.pretrained_recipe("giorom-jelly-demo")["test"]["errors"]`
    """
    return dict(_sidecar(name, directory)[1].get("recipe", {}))
