"""MLS-MPM simulator, data layout and graph utilities of sciml.giorom."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial import cKDTree

from sciml import giorom

F32 = jnp.float32


def _block(n=256, lo=(0.4, 0.4), size=(0.2, 0.2), seed=0):
    rng = np.random.default_rng(seed)
    return (np.asarray(lo) + rng.random((n, 2)) * np.asarray(size)).astype(np.float32)


@pytest.mark.parametrize("material", ["water", "jelly", "sand"])
def test_free_flight_momentum_and_mass(material):
    # Away from the walls, internal forces cancel: total momentum changes only by gravity,
    # the mean velocity follows v0 + g t, and the transferred grid mass equals the particle mass.
    x0 = _block()
    v0 = np.tile(np.array([[0.3, 0.2]], np.float32), (len(x0), 1))
    cfg = giorom.MPMConfig()
    g = (0.0, -2.0)
    tr = giorom.simulate_mpm(material, positions=x0, velocities=v0, n_frames=6, gravity=g)
    assert tr.positions.shape == (6, 256, 2)
    t = np.arange(6) * cfg.frame_dt
    mean_v = np.asarray(tr.velocities, np.float64).mean(1)
    expect = np.asarray(v0[0], np.float64)[None] + np.outer(t, g)
    np.testing.assert_allclose(mean_v, expect, atol=2e-4)
    gm = np.asarray(giorom.grid_mass(tr.positions[-1]))
    np.testing.assert_allclose(gm.sum(), len(x0) * giorom.particle_mass(cfg), rtol=1e-5)


def test_jelly_rotation_free_at_rest():
    # A jelly block at rest without gravity stays at rest (zero stress at F = I).
    x0 = _block(128)
    tr = giorom.simulate_mpm("jelly", positions=x0, n_frames=4, gravity=(0.0, 0.0))
    np.testing.assert_allclose(np.asarray(tr.positions[-1]), x0, atol=1e-6)


def test_random_scene_stays_in_box_deterministic():
    key = jax.random.key(3)
    a = giorom.simulate_mpm("water", n_particles=300, n_frames=40, key=key)
    b = giorom.simulate_mpm("water", n_particles=300, n_frames=40, key=key)
    c = giorom.simulate_mpm("water", n_particles=300, n_frames=40, key=jax.random.key(4))
    p = np.asarray(a.positions)
    assert p.shape == (40, 300, 2) and p.dtype == np.float32
    assert np.isfinite(p).all()
    assert p.min() > 0.0 and p.max() < 1.0
    np.testing.assert_array_equal(p, np.asarray(b.positions))
    assert not np.allclose(p, np.asarray(c.positions))
    # the block falls: its centre of mass ends lower than it started
    assert p[-1, :, 1].mean() < p[0, :, 1].mean()


def test_closed_form_polar_and_svd():
    rng = np.random.default_rng(0)
    F = np.eye(2) + 0.4 * rng.standard_normal((64, 2, 2))
    F = F[np.linalg.det(F) > 0.05]
    R = np.asarray(giorom.polar_rotation_2x2(jnp.asarray(F)))
    S = np.swapaxes(R, 1, 2) @ F
    np.testing.assert_allclose(S, np.swapaxes(S, 1, 2), atol=1e-10)
    np.testing.assert_allclose(np.swapaxes(R, 1, 2) @ R, np.broadcast_to(np.eye(2), R.shape), atol=1e-10)
    U, sig, V = (np.asarray(a) for a in giorom.svd_2x2(jnp.asarray(F)))
    np.testing.assert_allclose(U @ (sig[..., None] * np.swapaxes(V, 1, 2)), F, atol=1e-10)
    np.testing.assert_allclose(np.sort(sig, 1), np.sort(np.linalg.svd(F, compute_uv=False), 1), atol=1e-10)


def _sets(nb):
    idx, mask = np.asarray(nb.idx), np.asarray(nb.mask)
    return [set(i[m].tolist()) for i, m in zip(idx, mask)]


def test_neighbour_lists_match_ckdtree():
    x = _block(600, lo=(0.1, 0.2), size=(0.5, 0.3), seed=1)
    r = 0.04
    true = [set(s) for s in cKDTree(x).query_ball_point(x, r)]
    kmax = max(len(s) for s in true)
    for nb in (giorom.radius_neighbors(jnp.asarray(x), r, kmax + 2),
               giorom.cell_list_neighbors(jnp.asarray(x), r, kmax + 2, bounds=((0.0, 1.0), (0.0, 1.0)),
                                          n_cells=(25, 25), cell_capacity=64),
               giorom.radius_neighbors_host(x, r, kmax + 2)):
        assert not bool(nb.overflow)
        assert int(nb.max_count) == kmax
        assert _sets(nb) == true
    # queries other than the points themselves (grid nodes)
    q = _block(50, lo=(0.0, 0.0), size=(1.0, 1.0), seed=2)
    nbq = giorom.radius_neighbors(jnp.asarray(x), r, kmax + 2, query=jnp.asarray(q))
    assert _sets(nbq) == [set(s) for s in cKDTree(x).query_ball_point(q, r)]
    # a too-small capacity is flagged, and check_overflow raises
    small = giorom.radius_neighbors(jnp.asarray(x), r, 4)
    assert bool(small.overflow)
    # on overflow the k NEAREST are kept (as cKDTree's k-nearest query), not the first k by index
    for nb in (small, giorom.cell_list_neighbors(jnp.asarray(x), r, 4, bounds=((0.0, 1.0), (0.0, 1.0)),
                                                 n_cells=(25, 25), cell_capacity=64)):
        full = np.asarray(nb.mask).all(1)  # rows with at least 4 points in range
        assert full.mean() > 0.9
        d_kept = np.sort(np.linalg.norm(x[np.asarray(nb.idx)] - x[:, None, :], axis=-1), axis=1)[full]
        d_true = np.sort(cKDTree(x).query(x, k=4)[0], axis=1)[full]
        np.testing.assert_allclose(d_kept, d_true, atol=1e-6)
    with pytest.raises(Exception, match="overflow"):
        giorom.check_overflow(small)


def test_graph_segment_aggregation():
    x = _block(100, seed=3)
    nb = giorom.radius_neighbors_host(x, 0.05, 32)
    g = giorom.Graph.from_neighbors(nb)
    vals = jnp.asarray(np.arange(100, dtype=np.float32))[g.senders][:, None]
    s = np.asarray(g.aggregate(vals, "sum"))[:, 0]
    m = np.asarray(g.aggregate(vals, "mean"))[:, 0]
    nbrs = cKDTree(x).query_ball_point(x, 0.05)
    np.testing.assert_allclose(s, [sum(n) for n in nbrs])
    np.testing.assert_allclose(m, [np.mean(n) for n in nbrs], rtol=1e-6)


def test_sampling_and_scaled_radius():
    x = _block(2000, seed=4)
    idx = np.asarray(giorom.farthest_point_sampling(jnp.asarray(x), 100))
    assert len(set(idx.tolist())) == 100
    # FPS covers the block: every point is close to a sample (much closer than random sampling gives)
    d_fps = cKDTree(x[idx]).query(x)[0].max()
    ridx = np.asarray(giorom.random_sampling(jax.random.key(0), 2000, 100))
    d_rand = cKDTree(x[ridx]).query(x)[0].max()
    assert d_fps < 0.7 * d_rand
    R = 0.01
    Rs = giorom.scaled_radius(R, 2000, 100, 2)
    assert Rs == pytest.approx(R * np.sqrt(20))
    # the full-graph radius fragments the sparse graph; the scaled one keeps it connected
    assert giorom.connected_components(x[idx], R) > 1
    sub, rs = giorom.sample_reduced_graph(x, 100, R)
    assert giorom.connected_components(x[np.asarray(sub)], rs) == 1


def test_metadata_bounds_are_the_walls():
    # The metadata `bounds` feed the models' wall-distance features (clipped at one connectivity radius,
    # 0.013 here), so they must be where the free-slip walls stop the particles, not the simulation box.
    ds = giorom.generate_dataset("water", 2, n_particles=300, n_frames=60, key=jax.random.key(0))
    walls = np.asarray(ds.metadata["bounds"])
    np.testing.assert_allclose(walls, giorom.MPMConfig().walls)
    P, _ = ds.stacked()
    lo, hi = walls[:, 0], walls[:, 1]
    assert np.all(P.min((0, 1, 2)) > lo - 1e-3) and np.all(P.max((0, 1, 2)) < hi + 1e-3)
    assert P[:, -1, :, 1].min() < lo[1] + 1e-3  # the water reaches the floor wall


@pytest.mark.parametrize("fmt", ["h5", "npz"])
def test_dataset_roundtrip(tmp_path, fmt):
    rng = np.random.default_rng(0)
    pos = [rng.random((10, 30, 2)).astype(np.float32) for _ in range(3)]
    typ = [np.full(30, 5, np.int32) for _ in range(3)]
    md = giorom.compute_metadata(pos, dt=0.01, radius=0.05)
    ds = giorom.ParticleDataset(pos, typ, md)
    giorom.save_dataset(tmp_path, {"train": ds, "test": ds[:1]}, format=fmt)
    meta = json.loads((tmp_path / "metadata.json").read_text())
    for k in ("bounds", "sequence_length", "default_connectivity_radius", "dt", "vel_mean", "vel_std", "acc_mean",
              "acc_std"):
        assert k in meta
    v = np.concatenate([(p[1:] - p[:-1]).reshape(-1, 2) for p in pos])
    np.testing.assert_allclose(meta["vel_std"], v.std(0), rtol=1e-5)
    back = giorom.load_dataset(tmp_path, "train")
    assert len(back) == 3 and len(giorom.load_dataset(tmp_path, "test")) == 1
    for a, b in zip(back.positions, pos):
        np.testing.assert_array_equal(a, b)


def test_loads_geoelements_gns_npz(tmp_path):
    # geoelements/gns layout: each entry an object array (positions, particle_type)
    rng = np.random.default_rng(1)
    items = {}
    for i in range(2):
        arr = np.empty(2, dtype=object)
        arr[0] = rng.random((7, 12 + i, 2)).astype(np.float32)
        arr[1] = np.full(12 + i, 6)
        items[f"simulation_trajectory_{i}"] = arr
    np.savez(tmp_path / "valid.npz", **items)
    md = {"bounds": [[0, 1], [0, 1]], "sequence_length": 7, "default_connectivity_radius": 0.015, "dt": 0.0025,
          "vel_mean": [0, 0], "vel_std": [1, 1], "acc_mean": [0, 0], "acc_std": [1, 1]}
    (tmp_path / "metadata.json").write_text(json.dumps(md))
    ds = giorom.load_dataset(tmp_path, "valid")
    assert [p.shape for p in ds.positions] == [(7, 12, 2), (7, 13, 2)]
    assert ds.metadata["dim"] == 2
    with pytest.raises(ValueError, match="differ"):
        ds.stacked()


def test_crafted_npz_cannot_run_code(tmp_path):
    # an object array whose pickle names a callable (here: os.system) must be refused, not executed
    import io
    import os
    import pickle
    import zipfile

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False, "shape": (2,)})
    pickle.dump(Evil(), buf, protocol=3)
    with zipfile.ZipFile(tmp_path / "train.npz", "w") as zf:
        zf.writestr("sim_0.npy", buf.getvalue())
    (tmp_path / "metadata.json").write_text(json.dumps({"bounds": [[0, 1], [0, 1]]}))
    with pytest.raises(ValueError, match="no pickle"):
        giorom.load_dataset(tmp_path, "train")
    assert not marker.exists()
    with pytest.raises(ValueError, match="`split`"):
        giorom.load_dataset(tmp_path, "../train")
