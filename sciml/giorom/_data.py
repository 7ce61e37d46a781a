"""Particle data sets in the DeepMind-GNS layout: `metadata.json` + per-split trajectory files.

Trajectory files are HDF5 (LagrangeBench style: one group per trajectory holding `position`
(T, N, d) and `particle_type` (N,)) or npz (either our flat keys `<name>/position`, or the
`geoelements/gns` layout where every entry is an object array `(positions, particle_type)`).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import jax
import numpy as np

from .._errors import check_choice, check_int, check_positive, check_safe_name
from ._mpm import MATERIALS, MPMConfig, PARTICLE_TYPE, simulate_batch


@dataclasses.dataclass
class ParticleDataset:
    """A list of trajectories plus GNS metadata.

    **Fields:**

    - `positions`: list of float32 arrays of shape (T, N, d), one per trajectory.
    - `particle_type`: list of int arrays of shape (N,), the GNS type ids of each trajectory's particles.
    - `metadata`: dict with `bounds`, `sequence_length`, `default_connectivity_radius`, `dim`, `dt`,
      `vel_mean`, `vel_std`, `acc_mean`, `acc_std` (statistics of per-frame differences, GNS convention).
    """

    positions: list
    particle_type: list
    metadata: dict

    def __len__(self):
        return len(self.positions)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ParticleDataset(self.positions[idx], self.particle_type[idx], dict(self.metadata))
        return self.positions[idx], self.particle_type[idx]

    def stacked(self):
        """(positions (B, T, N, d), particle_type (B, N)); all trajectories must share T and N."""
        shapes = {p.shape for p in self.positions}
        if len(shapes) != 1:
            raise ValueError(f"trajectories differ in shape {sorted(shapes)}; train per trajectory or crop/pad first")
        return np.stack(self.positions), np.stack(self.particle_type)

    @property
    def radius(self) -> float:
        return float(self.metadata["default_connectivity_radius"])

    @property
    def bounds(self) -> np.ndarray:
        return np.asarray(self.metadata["bounds"], np.float64)


def compute_metadata(positions, *, dt: float, radius: float, bounds=((0.0, 1.0), (0.0, 1.0)), **extra) -> dict:
    """GNS `metadata.json` statistics from a list of (T, N, d) trajectories (pooled over all
    particles and frames; not the 'std of per-trajectory stds' of the reference parser).

    **Arguments:**

    - `positions`: a non-empty list of trajectories, arrays of shape (T >= 3, N, d).
    - `dt`: the time between frames in seconds (> 0), stored as `dt`.
    - `radius`: the connectivity radius (> 0), stored as `default_connectivity_radius`.
    - `bounds`: the domain box, a `(lo, hi)` pair per dimension (default the unit square).
    - `**extra`: further entries stored as given.

    **Returns:** the metadata dict.

    **Example:** `md = giorom.compute_metadata([traj], dt=1e-3, radius=0.015)`
    """
    check_positive("dt", dt)
    check_positive("radius", radius)
    if len(positions) == 0:
        raise ValueError("`positions` must hold at least one trajectory.")
    for i, p in enumerate(positions):
        if np.ndim(p) != 3 or np.shape(p)[0] < 3:
            raise ValueError(f"`positions[{i}]` must have shape (T >= 3, N, d), got {np.shape(p)}.")
    vels, accs = [], []
    for p in positions:
        p = np.asarray(p, np.float64)
        v = p[1:] - p[:-1]
        vels.append(v.reshape(-1, p.shape[-1]))
        accs.append((v[1:] - v[:-1]).reshape(-1, p.shape[-1]))
    v, a = np.concatenate(vels), np.concatenate(accs)
    seq = int(np.asarray(positions[0]).shape[0])
    md = dict(
        bounds=[list(map(float, b)) for b in bounds],
        sequence_length=seq,
        default_connectivity_radius=float(radius),
        dim=int(np.asarray(positions[0]).shape[-1]),
        dt=float(dt),
        vel_mean=v.mean(0).tolist(),
        vel_std=v.std(0).tolist(),
        acc_mean=a.mean(0).tolist(),
        acc_std=a.std(0).tolist(),
    )
    md.update(extra)
    return md


def default_radius(n_particles: int) -> float:
    """Connectivity radius for the random block scenes: 0.013 at 2000 particles (about 10-16
    neighbours in the initial block), scaled as sqrt(2000 / N).

    **Arguments:**

    - `n_particles`: the particle count `N` (int >= 1).

    **Example:** `giorom.default_radius(500)`
    """
    n_particles = check_int("n_particles", n_particles, minimum=1)
    return 0.013 * (2000.0 / n_particles) ** 0.5


def generate_dataset(material: str, n_trajectories: int, *, n_particles: int = 2000, n_frames: int = 100,
                     key=None, config: MPMConfig | None = None, radius: float | None = None) -> ParticleDataset:
    """Simulate `n_trajectories` random block-drop scenes with the MPM simulator and attach metadata.

    **Arguments:**

    - `material`: `"water"`, `"sand"` or `"jelly"`.
    - `n_trajectories`: the number of scenes (int >= 1).
    - `n_particles`: particles per scene (int >= 1; default 2000).
    - `n_frames`: stored frames per trajectory (int >= 3; default 100).
    - `key`: a JAX PRNG key for the scenes (default None: `jax.random.key(0)`).
    - `config`: an [`MPMConfig`][sciml.giorom.MPMConfig] (default None: `MPMConfig()`).
    - `radius`: the connectivity radius stored in the metadata (> 0); None (default) uses
      [`default_radius`][sciml.giorom.default_radius]`(n_particles)`.
    **Returns:** a [`ParticleDataset`][sciml.giorom.ParticleDataset].
    """
    check_choice("material", material, MATERIALS)
    n_trajectories = check_int("n_trajectories", n_trajectories, minimum=1)
    n_particles = check_int("n_particles", n_particles, minimum=1)
    n_frames = check_int("n_frames", n_frames, minimum=3)
    if radius is not None:
        check_positive("radius", radius)
    if config is not None and not isinstance(config, MPMConfig):
        raise TypeError(f"`config` must be a giorom.MPMConfig or None, got {type(config).__name__}.")
    if key is not None:
        from ..nn._checks import check_key

        check_key("key", key)
    cfg = config or MPMConfig()
    key = jax.random.key(0) if key is None else key
    keys = jax.random.split(key, n_trajectories)
    pos = simulate_batch(material, keys, n_particles, n_frames, cfg)
    positions = [pos[i].astype(np.float32) for i in range(n_trajectories)]
    ptype = [np.full((n_particles,), PARTICLE_TYPE[material], np.int32) for _ in range(n_trajectories)]
    md = compute_metadata(positions, dt=cfg.frame_dt, radius=radius or default_radius(n_particles), bounds=cfg.walls,
                          material=material, n_particles=n_particles, substeps=cfg.substeps, mpm_dt=cfg.dt)
    return ParticleDataset(positions, ptype, md)


def save_dataset(path, splits: dict, *, format: str = "h5") -> pathlib.Path:
    """Write `{split: ParticleDataset}` to `path/metadata.json` + `path/<split>.h5` (or `.npz`).
    The metadata written is the first split's (train statistics).

    **Arguments:**

    - `path`: the data set folder (created if missing).
    - `splits`: a non-empty dict `{name: ParticleDataset}` with plain split names (e.g. `"train"`, `"test"`).
    - `format`: `"h5"` (default, HDF5) or `"npz"`.

    **Returns:** `path` as a `pathlib.Path`.

    **Example:** `giorom.save_dataset("data/water", {"train": tr, "test": te})`
    """
    check_choice("format", format, ("h5", "npz"))
    if not isinstance(splits, dict) or not splits:
        raise ValueError("`splits` must be a non-empty dict {split_name: ParticleDataset}.")
    for name, ds in splits.items():
        check_safe_name("splits", name)
        if not isinstance(ds, ParticleDataset):
            raise TypeError(f"`splits[{name!r}]` must be a ParticleDataset, got {type(ds).__name__}.")
    path = pathlib.Path(path)
    path.mkdir(parents=True, exist_ok=True)
    first = splits.get("train", next(iter(splits.values())))
    (path / "metadata.json").write_text(json.dumps(first.metadata, indent=1))
    for name, ds in splits.items():
        if format == "h5":
            import h5py

            with h5py.File(path / f"{name}.h5", "w") as f:
                for i, (p, t) in enumerate(zip(ds.positions, ds.particle_type)):
                    g = f.create_group(f"{i:05d}")
                    g.create_dataset("position", data=np.asarray(p, np.float32))
                    g.create_dataset("particle_type", data=np.asarray(t, np.int32))
        elif format == "npz":
            arrays = {}
            for i, (p, t) in enumerate(zip(ds.positions, ds.particle_type)):
                arrays[f"{i:05d}/position"] = np.asarray(p, np.float32)
                arrays[f"{i:05d}/particle_type"] = np.asarray(t, np.int32)
            np.savez(path / f"{name}.npz", **arrays)
        else:
            raise ValueError(f"format must be 'h5' or 'npz', got {format!r}")
    return path


class _ArrayOnlyUnpickler:
    """Reads the pickled object arrays of the geoelements-GNS npz layout while allowing only NumPy's array
    reconstruction (no other class or function can be named, so a crafted file cannot run code)."""

    _ALLOWED = {("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy._core.multiarray", "scalar"),
                ("numpy.core.multiarray", "scalar")}

    @classmethod
    def load(cls, f, name):
        import pickle

        class _U(pickle.Unpickler):
            def find_class(self, module, qualname):
                if (module, qualname) not in cls._ALLOWED:
                    raise ValueError(f"`path`: entry {name!r} of the npz file names {module}.{qualname}; only plain "
                                     "NumPy arrays are accepted (no pickle).")
                return super().find_class(module, qualname)

        return _U(f).load()


def _read_npz_member(zf, member):
    """One `.npy` member of an npz archive: plain arrays via `np.load(allow_pickle=False)`; object arrays (the
    geoelements-GNS layout) via the array-only unpickler."""
    import io

    name = member[:-4] if member.endswith(".npy") else member
    raw = zf.read(member)
    f = io.BytesIO(raw)
    version = np.lib.format.read_magic(f)
    header = np.lib.format.read_array_header_1_0(f) if version == (1, 0) else np.lib.format.read_array_header_2_0(f)
    if not header[2].hasobject:
        return name, np.load(io.BytesIO(raw), allow_pickle=False)
    return name, _ArrayOnlyUnpickler.load(f, name)


def _load_npz(file):
    import zipfile

    with np.load(file, allow_pickle=False) as z:
        keys = list(z.keys())
        if keys and all("/" in k for k in keys):
            names = sorted({k.rsplit("/", 1)[0] for k in keys})
            return [z[f"{n}/position"] for n in names], [z[f"{n}/particle_type"] for n in names]
    # geoelements/gns layout: every entry an object array (positions, particle_type)
    pos, typ = [], []
    with zipfile.ZipFile(file) as zf:
        for member in zf.namelist():
            name, item = _read_npz_member(zf, member)
            ok = (isinstance(item, np.ndarray) and item.dtype == object and item.shape == (2,)
                  and all(isinstance(a, np.ndarray) and a.dtype.kind in "fiu" for a in item))
            if not ok:
                raise ValueError(f"`path`: entry {name!r} of {str(file)!r} is not a (positions, particle_type) pair "
                                 "of numeric arrays.")
            pos.append(np.asarray(item[0], np.float32))
            typ.append(np.asarray(item[1], np.int32))
    return pos, typ


def load_dataset(path, split: str = "train") -> ParticleDataset:
    """Load `path/metadata.json` and `path/<split>.h5|.npz` (our files, LagrangeBench HDF5, or
    geoelements-GNS npz). Metadata keys missing in older files are filled where derivable.

    **Arguments:**

    - `path`: the data set folder holding `metadata.json`.
    - `split`: a plain split name (`"train"` (default), `"valid"`, `"test"`, ...), read from `<split>.h5` or
      `<split>.npz`.

    **Example:** `ds = giorom.load_dataset("data/water", "train")`
    """
    check_safe_name("split", split)
    path = pathlib.Path(path)
    if not (path / "metadata.json").is_file():
        raise FileNotFoundError(f"`path`: no metadata.json in {str(path)!r}.")
    md = json.loads((path / "metadata.json").read_text())
    if not isinstance(md, dict) or "bounds" not in md:
        raise ValueError(f"`path`: {str(path / 'metadata.json')!r} has no `bounds` entry.")
    if "dim" not in md:
        md["dim"] = len(md["bounds"])
    if (path / f"{split}.h5").exists():
        import h5py

        with h5py.File(path / f"{split}.h5", "r") as f:
            names = sorted(f.keys())
            pos = [np.asarray(f[n]["position"], np.float32) for n in names]
            typ = [np.asarray(f[n]["particle_type"], np.int32) for n in names]
    elif (path / f"{split}.npz").exists():
        pos, typ = _load_npz(path / f"{split}.npz")
        pos = [np.asarray(p, np.float32) for p in pos]
    else:
        raise FileNotFoundError(f"`split`: no {split}.h5 or {split}.npz in {path}")
    for i, (p, t) in enumerate(zip(pos, typ)):
        if p.ndim != 3 or t.shape != (p.shape[1],):
            raise ValueError(f"`path`: trajectory {i} of split {split!r} has positions {p.shape} and particle_type "
                             f"{t.shape}; expected (T, N, d) and (N,).")
    return ParticleDataset(pos, typ, md)
