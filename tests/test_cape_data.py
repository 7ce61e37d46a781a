"""Numerical facts of the CAPE data generators: conservation, exactness, convergence, HDF5 layout."""

import math

import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml import cape
from sciml.cape import datasets


def _cole_hopf(D, x, t, m=256):
    """Exact periodic Burgers solution for u0 = sin(2 pi x) (u_t + u u_x = D u_xx) via Cole-Hopf, evaluated at
    points x: phi0 = exp(cos(2 pi x)/(4 pi D)), phi solves the heat equation spectrally, u = -2D phi_x/phi."""
    xs = np.arange(m) / m
    c = np.fft.fft(np.exp(np.cos(2 * np.pi * xs) / (4 * np.pi * D))) / m
    k = 2 * np.pi * np.fft.fftfreq(m, 1.0 / m)
    c = c * np.exp(-D * k**2 * t)
    e = np.exp(1j * np.outer(x, k))
    phi = (e @ c).real
    phi_x = (e @ (1j * k * c)).real
    return -2 * D * phi_x / phi


def test_burgers_converges_to_cole_hopf():
    D = 0.02
    nu = D * math.pi  # PDEBench convention: diffusion coefficient nu/pi
    errs = []
    for n in (32, 64, 128):
        x = np.asarray(datasets.cell_centres(n, jnp.float64))
        u0 = jnp.asarray(_cole_hopf(D, x, 0.0))
        u = datasets.burgers_1d_solve(u0, nu, jnp.array([0.0, 0.15]))
        errs.append(float(np.sqrt(np.mean((np.asarray(u[-1]) - _cole_hopf(D, x, 0.15)) ** 2))))
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert errs[-1] < 2e-3
    assert np.all(orders > 1.5), (errs, orders)  # MUSCL-MC + Strang: 2nd order away from limiter clipping


def test_burgers_conserves_mass_and_is_finite():
    x = datasets.cell_centres(64)
    u0 = datasets.initial_condition(jax.random.key(3), x)
    assert u0.dtype == jnp.float32
    u = datasets.burgers_1d_solve(u0, 0.01, jnp.linspace(0.0, 1.0, 5, dtype=jnp.float32))
    assert u.shape == (5, 64) and u.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(u)))
    mass = np.asarray(u, np.float64).mean(-1)
    assert np.max(np.abs(mass - mass[0])) < 2e-6
    # maximum principle (MC limiter, Rusanov, exact diffusion): no new extrema
    assert float(jnp.max(jnp.abs(u[-1]))) <= float(jnp.max(jnp.abs(u0))) + 1e-5


def test_advection_exact_shift():
    n = 64
    x = datasets.cell_centres(n, jnp.float64)
    u0 = jnp.sin(2 * jnp.pi * x) + 0.3 * jnp.cos(6 * jnp.pi * x + 0.4)
    beta = 0.4
    t = jnp.array([0.0, 0.3125, 0.7])  # beta * 0.3125 = 8 cells exactly
    u = datasets.advection_1d_solve(u0, beta, t)
    np.testing.assert_allclose(u[1], jnp.roll(u0, 8), atol=1e-12)
    exact = jnp.sin(2 * jnp.pi * (x - beta * 0.7)) + 0.3 * jnp.cos(6 * jnp.pi * (x - beta * 0.7) + 0.4)
    np.testing.assert_allclose(u[2], exact, atol=1e-12)
    np.testing.assert_allclose(u.mean(-1), u0.mean(), atol=1e-13)


def test_advection_dataset_is_exact_shift_of_the_initial_condition():
    ds = datasets.advection_1d([0.25], 4, jax.random.key(0), n_cells=128, n_points=128, t_final=2.0, n_frames=5)
    u = np.asarray(ds.u[:, :, 0])
    # t = 1.0: shift by 0.25 = 32 cells; t = 2.0: shift by 0.5 = 64 cells
    np.testing.assert_allclose(u[:, 2], np.roll(u[:, 0], 32, axis=-1), atol=2e-5)
    np.testing.assert_allclose(u[:, 4], np.roll(u[:, 0], 64, axis=-1), atol=2e-5)


def test_diffusion_reaction_strang_second_order():
    x = datasets.cell_centres(64, jnp.float64)
    u0 = 0.5 + 0.4 * jnp.sin(2 * jnp.pi * x)
    ts = jnp.array([0.0, 0.5])
    ref = datasets.diffusion_reaction_1d_solve(u0, 0.05, 5.0, ts, dt_max=1e-3)[-1]
    e1 = float(jnp.max(jnp.abs(datasets.diffusion_reaction_1d_solve(u0, 0.05, 5.0, ts, dt_max=0.05)[-1] - ref)))
    e2 = float(jnp.max(jnp.abs(datasets.diffusion_reaction_1d_solve(u0, 0.05, 5.0, ts, dt_max=0.025)[-1] - ref)))
    assert 3.3 < e1 / e2 < 4.7, (e1, e2)
    # pure reaction (nu=0) is exact logistic growth, independent of dt
    u = datasets.diffusion_reaction_1d_solve(u0, 0.0, 5.0, ts, dt_max=0.1)[-1]
    logistic = u0 * np.exp(2.5) / (1 - u0 + u0 * np.exp(2.5))
    np.testing.assert_allclose(u, logistic, rtol=1e-12)


def test_burgers_dataset_layout_fresh_seeds_and_hdf5_roundtrip(tmp_path):
    ds = datasets.burgers_1d([0.01, 0.1], 3, jax.random.key(0), n_cells=64, n_points=32, n_frames=3, t_final=0.2)
    assert ds.u.shape == (6, 3, 1, 32) and ds.u.dtype == jnp.float32 and ds.params.shape == (6, 1)
    # a fresh seed per parameter value: the two files do not share initial conditions (PDEBench's do)
    assert not np.allclose(ds.u[0, 0], ds.u[3, 0])
    np.testing.assert_allclose(ds.x, datasets.cell_centres(64)[::2])
    paths = datasets.write_pdebench(ds, tmp_path)
    assert sorted(p.name for p in paths) == ["1D_Burgers_Sols_Nu0.01.hdf5", "1D_Burgers_Sols_Nu0.1.hdf5"]
    back = datasets.read_pdebench(tmp_path / "1D_Burgers_Sols_Nu0.1.hdf5")
    np.testing.assert_array_equal(back.u, ds.u[3:])
    np.testing.assert_allclose(back.params, 0.1)
    assert back.pde == "burgers" and back.param_names == ("nu",)
    # a file as PDEBench ships it: no attributes, t-coordinate one entry longer than the frames
    real = tmp_path / "1D_Advection_Sols_beta0.4.hdf5"
    with h5py.File(real, "w") as f:
        f["tensor"] = np.zeros((2, 5, 16), np.float32)
        f["x-coordinate"] = np.linspace(0, 1, 16, dtype=np.float32)
        f["t-coordinate"] = np.linspace(0, 2, 6, dtype=np.float32)
    d = datasets.read_pdebench(real)
    assert d.u.shape == (2, 5, 1, 16) and d.t.shape == (5,) and float(d.params[0, 0]) == pytest.approx(0.4)
    assert d.pde == "advection"


def test_initial_condition_recipe():
    x = datasets.cell_centres(256)
    u = jax.jit(jax.vmap(lambda k: datasets.initial_condition(k, x)))(jax.random.split(jax.random.key(1), 64))
    assert bool(jnp.all(jnp.abs(u) <= 4.0))  # four modes with amplitudes in [0, 1)
    r = jax.jit(jax.vmap(lambda k: datasets.initial_condition(k, x, normalise=True)))(
        jax.random.split(jax.random.key(2), 8))
    np.testing.assert_allclose(r.min(-1), 0.0, atol=1e-6)
    np.testing.assert_allclose(r.max(-1), 1.0, atol=1e-6)
    # only wavenumbers 2 pi n c / (1 - dx) with n c in {1..8}: the spectrum sits at low modes
    spec = np.abs(np.fft.rfft(np.asarray(u[:, :]) - np.asarray(u).mean(-1, keepdims=True)))
    window_free = spec[:, 20:].max(-1) < 0.05 * spec.max(-1)
    assert window_free.mean() > 0.7
    assert isinstance(cape.Dataset, type)


def _tiny(pde, names, values, dtype=np.float32):
    values = np.asarray(values, dtype).reshape(len(values), -1)
    n = len(values)
    u = np.arange(n * 3 * 8, dtype=np.float32).reshape(n, 3, 1, 8)
    return datasets.Dataset(jnp.asarray(u), jnp.asarray(values), jnp.linspace(0, 1, 8), jnp.linspace(0, 1, 3), pde,
                            names)


def test_pdebench_names_and_attributes_as_pdebench_writes_them(tmp_path):
    # PDEBench: str(float) formatting (Nu1.0, beta4.0), attribute Nu for Burgers, Nu and rho for reaction-diffusion
    paths = datasets.write_pdebench(_tiny("burgers", ("nu",), [1.0, 0.001, 4.0]), tmp_path)
    assert sorted(p.name for p in paths) == ["1D_Burgers_Sols_Nu0.001.hdf5", "1D_Burgers_Sols_Nu1.0.hdf5",
                                             "1D_Burgers_Sols_Nu4.0.hdf5"]
    with h5py.File(tmp_path / "1D_Burgers_Sols_Nu1.0.hdf5") as f:
        assert float(f.attrs["Nu"]) == 1.0 and f["tensor"].shape == (1, 3, 8)
    (p,) = datasets.write_pdebench(_tiny("advection", ("beta",), [4.0]), tmp_path)
    assert p.name == "1D_Advection_Sols_beta4.0.hdf5"
    (p,) = datasets.write_pdebench(_tiny("diffusion_reaction", ("nu", "rho"), [[0.5, 10.0]]), tmp_path)
    assert p.name == "ReacDiff_Nu0.5_Rho10.0.hdf5"
    with h5py.File(p) as f:
        assert float(f.attrs["Nu"]) == 0.5 and float(f.attrs["rho"]) == 10.0
    back = datasets.read_pdebench(p)
    np.testing.assert_allclose(back.params[0], [0.5, 10.0])
    assert back.param_names == ("nu", "rho")
    # a PDEBench file under another name: parameters from the PDEBench attribute `Nu`
    other = tmp_path / "renamed.hdf5"
    with h5py.File(other, "w") as f:
        f["tensor"] = np.zeros((2, 4, 8), np.float32)
        f["x-coordinate"] = np.linspace(0, 1, 8, dtype=np.float32)
        f["t-coordinate"] = np.linspace(0, 1, 5, dtype=np.float32)
        f.attrs["Nu"] = 0.02
    d = datasets.read_pdebench(other)
    assert d.param_names == ("nu",) and float(d.params[0, 0]) == pytest.approx(0.02)


def test_pdebench_distinct_values_distinct_files(tmp_path):
    # 0.1 and 0.10000001 agree to 7 digits but are different float32 numbers: two files, no overwrite
    ds = _tiny("burgers", ("nu",), [0.1, 0.10000001])
    assert len(np.unique(np.asarray(ds.params))) == 2
    paths = datasets.write_pdebench(ds, tmp_path)
    assert len({p.name for p in paths}) == 2
    for p in paths:
        back = datasets.read_pdebench(p)
        sel = np.asarray(ds.params)[:, 0] == np.asarray(back.params)[0, 0]
        np.testing.assert_array_equal(back.u, ds.u[sel])


def test_pdebench_labels_never_become_paths(tmp_path):
    with pytest.raises(ValueError, match="ds.pde"):
        datasets.write_pdebench(_tiny("../../escape", ("nu",), [1.0]), tmp_path / "out")
    with pytest.raises(ValueError, match="ds.param_names"):
        datasets.write_pdebench(_tiny("mine", ("../x",), [1.0]), tmp_path / "out")
    assert not any(tmp_path.rglob("*.hdf5"))
    evil = tmp_path / "data.hdf5"
    with h5py.File(evil, "w") as f:
        f["tensor"] = np.zeros((1, 3, 8), np.float32)
        f["x-coordinate"] = np.linspace(0, 1, 8, dtype=np.float32)
        f["t-coordinate"] = np.linspace(0, 1, 3, dtype=np.float32)
        f.attrs["pde"] = "../../../tmp/evil"
        f.attrs["nu"] = 0.1
    with pytest.raises(ValueError, match="'pde' attribute"):
        datasets.read_pdebench(evil)


def test_pdebench_cfd_channel_order(tmp_path):
    # PDEBench's CFD loaders stack density, pressure, Vx, Vy (Vz) in that order
    p = tmp_path / "2D_CFD_Rand_M0.1_Eta0.01_Zeta0.01_periodic_8_Train.hdf5"
    with h5py.File(p, "w") as f:
        for i, k in enumerate(("Vy", "pressure", "density", "Vx")):  # written in another order on purpose
            f[k] = np.full((2, 3, 4, 4), float(i), np.float32)
        f["x-coordinate"] = np.linspace(0, 1, 4, dtype=np.float32)
        f["t-coordinate"] = np.linspace(0, 1, 4, dtype=np.float32)
    d = datasets.read_pdebench(p)
    assert d.u.shape == (2, 3, 4, 4, 4) and d.pde == "cfd" and d.param_names == ("M", "eta", "zeta")
    np.testing.assert_array_equal(np.asarray(d.u[0, 0, :, 0, 0]), [2.0, 1.0, 3.0, 0.0])  # density, pressure, Vx, Vy
    np.testing.assert_allclose(d.params[0], [0.1, 0.01, 0.01])


def test_time_loop_cannot_hang_on_bad_traced_inputs():
    # a traced negative time step (cfl is checked, but dt_max can be traced under jit): NaN, not an endless loop
    u0 = jnp.full(16, 0.5, jnp.float32)
    f = jax.jit(lambda dt: datasets.diffusion_reaction_1d_solve(u0, 0.01, 1.0, jnp.array([0.0, 0.1]), dt_max=dt))
    out = f(jnp.float32(-1.0))
    assert bool(jnp.all(jnp.isnan(out[-1]))) and bool(jnp.all(out[0] == 0.5))
    ok = f(jnp.float32(1e-2))
    assert bool(jnp.all(jnp.isfinite(ok)))
