"""Model files for inference: Equinox leaf serialisation (`.eqx`, NumPy `.npy` records, never pickle) plus a JSON
sidecar with the leaf paths, shapes and dtypes (and any user metadata), checked on load."""

from __future__ import annotations

import json
import os
import pathlib
import tempfile

import equinox as eqx
import jax
import numpy as np

from ._structure import differences, nonfinite_report

MODEL_FORMAT = "sciml.model/1"
_RESERVED = ("format", "leaves")


def _is_saved_leaf(x) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, np.generic, jax.ShapeDtypeStruct)) or eqx.is_array_like(x)


def _saved_leaves(tree) -> list[dict]:
    """The leaves Equinox serialises, as `{"path", "shape", "dtype"}` (dtype `"python"` for Python scalars,
    whose stored dtype depends on the x64 setting)."""
    out = []
    for path, x in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if not _is_saved_leaf(x):
            continue
        python = isinstance(x, (bool, int, float, complex))
        out.append({"path": jax.tree_util.keystr(path), "shape": [int(d) for d in np.shape(x)],
                    "dtype": "python" if python else str(np.dtype(x.dtype))})
    return out


def _npy_records(path: pathlib.Path) -> list[dict]:
    """Shapes and dtypes of the `.npy` records of an Equinox leaf file, read from their headers only; refuses
    object arrays (pickle) and truncated files."""
    size = path.stat().st_size
    recs = []
    with open(path, "rb") as f:
        while f.tell() < size:
            try:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                else:
                    shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            except Exception as e:  # noqa: BLE001 - any header failure: not a valid leaf file
                raise ValueError(f"`path`: {str(path)!r} is truncated or not a valid Equinox leaf file (record "
                                 f"{len(recs)}: "
                                 f"{e}).") from None
            if dtype.hasobject:
                raise ValueError(f"`path`: {str(path)!r} holds Python objects (record {len(recs)}); refusing to "
                                 "load it (no pickle).")
            nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            f.seek(nbytes, 1)
            if f.tell() > size:
                raise ValueError(f"`path`: {str(path)!r} is truncated (record {len(recs)} needs {nbytes} bytes).")
            recs.append({"shape": [int(d) for d in shape], "dtype": str(dtype)})
    return recs


def _sidecar(path: pathlib.Path) -> pathlib.Path:
    return path.with_suffix(".json")


def _atomic_write(path: pathlib.Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _serialise_leaf(f, x):
    if isinstance(x, (jax.Array, np.ndarray, np.generic)) or eqx.is_array_like(x):
        np.save(f, np.asarray(x), allow_pickle=False)


def save_model(path: str | os.PathLike, model, meta: dict | None = None) -> pathlib.Path:
    """Save `model` for inference (no optimiser state): `path` (`.eqx`, Equinox leaf serialisation, no pickle)
    and a JSON sidecar `path.with_suffix(".json")` recording every leaf's path, shape and dtype plus `meta`.

    **Arguments:**

    - `path`: the `.eqx` file to write (its folder is created). Both files are written atomically.
    - `model`: an Equinox module or pytree; its array leaves must be finite.
    - `meta`: optional JSON-serialisable dict stored at the top level of the sidecar (e.g. the architecture
      and training recipe); the keys `"format"` and `"leaves"` are reserved.

    **Returns:** the path of the `.eqx` file.

    **Example:** `train.save_model("out/net.eqx", net, {"width": 64}); train.load_model("out/net.eqx", like=net)`
    """
    path = pathlib.Path(path)
    if path.suffix != ".eqx":
        raise ValueError(f"`path` must end in '.eqx', got {str(path)!r}.")
    if meta is not None:
        if not isinstance(meta, dict):
            raise TypeError(f"`meta` must be a dict, got {type(meta).__name__}.")
        clash = [k for k in _RESERVED if k in meta]
        if clash:
            raise ValueError(f"`meta` must not use the reserved keys {clash}.")
    arrays = eqx.filter(model, eqx.is_inexact_array)
    bad = nonfinite_report(arrays, ())
    if bad is not None:
        raise ValueError("`model` has non-finite parameters; refusing to save it.")
    side = {"format": MODEL_FORMAT, "leaves": _saved_leaves(model), **(meta or {})}
    text = json.dumps(side, indent=1, default=str) + "\n"  # fails early if `meta` is not serialisable
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, lambda f: eqx.tree_serialise_leaves(f, model, filter_spec=_serialise_leaf))
    _atomic_write(_sidecar(path), lambda f: f.write(text.encode()))
    return path


def load_model(path: str | os.PathLike, like):
    """Load a model saved by [`save_model`][sciml.train.save_model] onto the structure of `like`.

    **Arguments:**

    - `path`: the `.eqx` file.
    - `like`: a model of the same architecture (e.g. freshly initialised, or from `eqx.filter_eval_shape`);
      its leaves are replaced by the saved ones.

    **Returns:** the loaded model.

    **Raises:** `FileNotFoundError` if `path` is missing; `ValueError` if the file is truncated, holds Python
    objects, or its leaves (paths, shapes, dtypes; from the sidecar and the file's own headers) differ from
    `like`'s — the message names the differing leaves. Files written by `eqx.tree_serialise_leaves` without a
    sidecar are checked against their headers (shapes and dtypes, in order).

    **Example:**

    ```python
    train.save_model("net.eqx", model)
    same = train.load_model("net.eqx", like=eqx.filter_eval_shape(make_model, key))
    ```
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"`path`: no model file {str(path)!r}.")
    current = _saved_leaves(like)
    records = _npy_records(path)
    file_view = [dict(r, path=f"record {i}") for i, r in enumerate(records)]
    like_view = [{"path": f"record {i} ({c['path']})", "shape": c["shape"], "dtype": c["dtype"]}
                 for i, c in enumerate(current)]
    problems = []
    if len(records) != len(current):
        problems.append(f"the file holds {len(records)} arrays, `like` has {len(current)} leaves")
    else:
        for i, (r, c) in enumerate(zip(file_view, like_view)):
            if r["shape"] != c["shape"] or (c["dtype"] != "python" and r["dtype"] != c["dtype"]):
                problems.append(f"{c['path']}: shape {tuple(r['shape'])} {r['dtype']} saved, "
                                f"shape {tuple(c['shape'])} {c['dtype']} in `like`")
    side_path = _sidecar(path)
    if not problems and side_path.is_file():
        try:
            side = json.loads(side_path.read_text())
        except ValueError as e:
            raise ValueError(f"`path`: the sidecar {str(side_path)!r} is not valid JSON ({e}).") from None
        if isinstance(side, dict) and "leaves" in side:
            problems = differences(side["leaves"], current)
    if problems:
        raise ValueError(f"`like` does not match the model saved in {str(path)!r}: " + "; ".join(problems[:6])
                         + ".")
    return eqx.tree_deserialise_leaves(path, like)


def read_model_meta(path: str | os.PathLike) -> dict:
    """The user metadata stored next to a saved model (the sidecar without its `format`/`leaves` records)."""
    side = _sidecar(pathlib.Path(path))
    if not side.is_file():
        raise FileNotFoundError(f"`path`: no sidecar {str(side)!r}.")
    data = json.loads(side.read_text())
    return {k: v for k, v in data.items() if k not in _RESERVED}

