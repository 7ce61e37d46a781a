"""PDEBench-style 1D data generators (advection, Burgers, diffusion-reaction) and HDF5 I/O.

Everything is JAX (jit + vmap), float32 by default. Schemes (spec cape.md §3):

- advection  ``u_t + beta u_x = 0``: exact shift (analytic initial condition evaluated at ``x - beta t``
  for generated data; Fourier shift for an arbitrary grid function in :func:`advection_1d_solve`);
- Burgers ``u_t + (u^2/2)_x = (nu/pi) u_xx`` (PDEBench convention): cell-centred finite volume, MUSCL
  reconstruction with the monotonised-central limiter, Rusanov flux, midpoint predictor-corrector in time,
  adaptive ``dt = CFL dx / max|u|``; diffusion by the exact spectral factor ``exp(-D k^2 dt)``, Strang-split;
- diffusion-reaction ``u_t = nu u_xx + rho u (1 - u)``: exact logistic step + exact spectral diffusion, Strang.
"""

from __future__ import annotations

import functools
import math
import pathlib
import re
from typing import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "Dataset",
    "initial_condition",
    "cell_centres",
    "advection_1d_solve",
    "burgers_1d_solve",
    "diffusion_reaction_1d_solve",
    "advection_1d",
    "burgers_1d",
    "diffusion_reaction_1d",
    "write_pdebench",
    "read_pdebench",
    "concatenate",
]


# ----------------------------------------------------------------------------------------------------------
# Grid and initial conditions
# ----------------------------------------------------------------------------------------------------------
def cell_centres(n_cells: int, dtype=jnp.float32) -> jax.Array:
    """Cell centres ``(i + 1/2)/n`` of ``n_cells`` uniform cells on the periodic unit interval."""
    return ((jnp.arange(n_cells) + 0.5) / n_cells).astype(dtype)


class _ICParams(eqx.Module):
    """Random parameters of one PDEBench initial condition (so it can be evaluated at any x)."""

    k: jax.Array  # (4,) wavenumbers (0 for modes not drawn)
    amp: jax.Array  # (4,)
    phase: jax.Array  # (4,)
    absolute: jax.Array  # bool
    sign: jax.Array  # +-1
    window: jax.Array  # bool
    x_left: jax.Array
    x_right: jax.Array


def _draw_ic(key, period: float, dtype) -> _ICParams:
    k1, k2, k3, k4, k5, k6, k7, k8 = jax.random.split(key, 8)
    draws = jax.random.randint(k1, (2,), 1, 5)  # 2 integers from {1..4}, with replacement
    n = jnp.arange(1, 5)
    counts = jnp.sum(draws[None, :] == n[:, None], axis=1)
    k = (2.0 * math.pi * n * counts / period).astype(dtype)
    amp = jax.random.uniform(k2, (4,), dtype)
    phase = jax.random.uniform(k3, (4,), dtype, 0.0, 2.0 * math.pi)
    absolute = jax.random.uniform(k4, ()) < 0.1
    sign = jnp.where(jax.random.uniform(k5, ()) < 0.5, -1.0, 1.0).astype(dtype)
    window = jax.random.uniform(k6, ()) < 0.1
    x_left = jax.random.uniform(k7, (), dtype, 0.1, 0.45)
    x_right = jax.random.uniform(k8, (), dtype, 0.55, 0.9)
    return _ICParams(k, amp, phase, absolute, sign, window, x_left, x_right)


def _eval_ic(p: _ICParams, x: jax.Array, normalise: bool = False) -> jax.Array:
    u = jnp.sum(p.amp[:, None] * jnp.sin(p.k[:, None] * x[None, :] + p.phase[:, None]), axis=0)
    u = jnp.where(p.absolute, jnp.abs(u), u)
    u = u * p.sign
    win = 0.5 * (jnp.tanh((x - p.x_left) / 0.01) - jnp.tanh((x - p.x_right) / 0.01))
    u = jnp.where(p.window, u * win, u)
    if normalise:
        u = (u - u.min()) / jnp.maximum(u.max() - u.min(), 1e-12)
    return u


def initial_condition(key, x: jax.Array, *, normalise: bool = False) -> jax.Array:
    """One PDEBench 1D initial condition on the points ``x`` (spec cape.md §3).

    ``u0 = sum_{n=1..4} A_n sin(k_n x + phi_n)``, ``k_n = 2 pi n c_n / (x_N - x_1)`` where ``c_n`` counts how
    often ``n`` was drawn in two draws from {1..4}; with p=0.1 ``|u|``; a random sign; with p=0.1 a tanh
    window. ``normalise=True`` (reaction-diffusion) min-max normalises to [0, 1]. PDEBench's quirks are kept:
    undrawn modes add a constant ``A_n sin(phi_n)`` and the period is ``x_N - x_1`` (slightly non-periodic).
    """
    x = jnp.asarray(x)
    return _eval_ic(_draw_ic(key, x[-1] - x[0], x.dtype), x, normalise)


# ----------------------------------------------------------------------------------------------------------
# Time integration helpers
# ----------------------------------------------------------------------------------------------------------
def _integrate(step, max_dt, u0, times):
    """Integrate ``u`` from ``times[0]`` through ``times`` with adaptive steps landing on every output time.

    ``step(u, dt) -> u``; ``max_dt(u) -> dt``. Returns ``(len(times), *u0.shape)`` with ``out[0] = u0``.
    """
    times = jnp.asarray(times, dtype=u0.dtype)

    def advance(u, t_pair):
        t0, t1 = t_pair

        def cond(c):
            t, _ = c
            return t < t1

        def body(c):
            t, v = c
            dt = jnp.minimum(max_dt(v), t1 - t)
            # land exactly on t1 when the remainder is a tiny sliver
            dt = jnp.where(t1 - (t + dt) < 1e-6 * (t1 - t0), t1 - t, dt)
            return t + dt, step(v, dt)

        _, u = jax.lax.while_loop(cond, body, (t0, u))
        return u, u

    _, us = jax.lax.scan(advance, u0, (times[:-1], times[1:]))
    return jnp.concatenate([u0[None], us], axis=0)


def _wavenumbers(n: int, dx: float, dtype) -> jax.Array:
    return (2.0 * math.pi * jnp.fft.rfftfreq(n, d=dx)).astype(dtype)


def _heat(u, D, dt, k):
    """Exact periodic heat-equation step (also exact for cell averages: averaging commutes with it)."""
    return jnp.fft.irfft(jnp.fft.rfft(u) * jnp.exp(-D * k**2 * dt), n=u.shape[-1]).astype(u.dtype)


def _mc_slope(u):
    a = u - jnp.roll(u, 1)
    b = jnp.roll(u, -1) - u
    c = 0.5 * (a + b)
    lim = jnp.minimum(2.0 * jnp.minimum(jnp.abs(a), jnp.abs(b)), jnp.abs(c))
    return jnp.where(a * b > 0, jnp.sign(c) * lim, 0.0)


def _burgers_rhs(u, dx):
    du = _mc_slope(u)
    u_left = u + 0.5 * du  # state left of face i+1/2
    u_right = jnp.roll(u - 0.5 * du, -1)  # state right of face i+1/2
    alpha = jnp.maximum(jnp.abs(u_left), jnp.abs(u_right))
    flux = 0.25 * (u_left**2 + u_right**2) - 0.5 * alpha * (u_right - u_left)
    return -(flux - jnp.roll(flux, 1)) / dx


# ----------------------------------------------------------------------------------------------------------
# Solvers for one initial condition
# ----------------------------------------------------------------------------------------------------------
@functools.partial(jax.jit, static_argnames=("cfl", "length"))
def burgers_1d_solve(u0, nu, times, *, cfl: float = 0.25, length: float = 1.0) -> jax.Array:
    """Evolve cell averages ``u0`` (n_cells,) under ``u_t + (u^2/2)_x = (nu/pi) u_xx`` on a periodic domain.

    PDEBench's convention (diffusion coefficient ``nu/pi``). Convection: MUSCL (MC limiter) + Rusanov flux,
    midpoint predictor-corrector, ``dt = cfl dx / max|u|`` (clipped to land on every output time); diffusion:
    exact spectral factor, Strang-split around the convection step (so any ``nu`` costs the same).

    **Arguments:** `u0` (n_cells,) cell averages; `nu` viscosity (traced is fine); `times` output times with
    ``times[0]`` the time of ``u0``. **Returns:** (len(times), n_cells) in ``u0``'s dtype. jit/vmap-safe.
    """
    u0 = jnp.asarray(u0)
    if u0.ndim != 1:
        raise ValueError(f"burgers_1d_solve takes one grid function (n_cells,), got {u0.shape}; vmap for batches")
    n = u0.shape[0]
    dx = length / n
    k = _wavenumbers(n, dx, u0.dtype)
    D = jnp.asarray(nu, u0.dtype) / math.pi

    def step(u, dt):
        u = _heat(u, D, 0.5 * dt, k)
        u_mid = u + 0.5 * dt * _burgers_rhs(u, dx)
        u = u + dt * _burgers_rhs(u_mid, dx)
        return _heat(u, D, 0.5 * dt, k)

    def max_dt(u):
        return cfl * dx / jnp.maximum(jnp.max(jnp.abs(u)), 1e-6)

    return _integrate(step, max_dt, u0, times)


@functools.partial(jax.jit, static_argnames=("length",))
def advection_1d_solve(u0, beta, times, *, length: float = 1.0) -> jax.Array:
    """Exact solution ``u(x, t) = u0(x - beta t)`` of ``u_t + beta u_x = 0`` for a periodic grid function.

    The shift is applied to the trigonometric interpolant of ``u0`` (Fourier phase shift), which is exact for
    band-limited data and a plain ``roll`` when ``beta t`` is a whole number of cells. Mass is conserved
    exactly. **Returns:** (len(times), n).
    """
    u0 = jnp.asarray(u0)
    n = u0.shape[-1]
    times = jnp.asarray(times, u0.dtype)
    k = _wavenumbers(n, length / n, u0.dtype)
    uh = jnp.fft.rfft(u0)
    shift = jnp.exp(-1j * k[None, :] * (jnp.asarray(beta, u0.dtype) * (times - times[0]))[:, None])
    if n % 2 == 0:  # Nyquist mode: keep it real (a half-cell-ambiguous mode), exact for whole-cell shifts
        shift = shift.at[:, -1].set(jnp.cos(k[-1] * beta * (times - times[0])).astype(shift.dtype))
    return jnp.fft.irfft(uh[None] * shift, n=n, axis=-1).astype(u0.dtype)


@functools.partial(jax.jit, static_argnames=("length",))
def diffusion_reaction_1d_solve(u0, nu, rho, times, *, dt_max: float = 1e-3, length: float = 1.0) -> jax.Array:
    """``u_t = nu u_xx + rho u (1 - u)`` on a periodic grid: exact logistic reaction half steps around an
    exact spectral diffusion step (Strang splitting, 2nd order in ``dt``). **Returns:** (len(times), n)."""
    u0 = jnp.asarray(u0)
    n = u0.shape[-1]
    k = _wavenumbers(n, length / n, u0.dtype)
    nu = jnp.asarray(nu, u0.dtype)
    rho = jnp.asarray(rho, u0.dtype)

    def react(u, dt):
        e = jnp.exp(rho * dt)
        return u * e / (1.0 - u + u * e)

    def step(u, dt):
        u = react(u, 0.5 * dt)
        u = _heat(u, nu, dt, k)
        return react(u, 0.5 * dt)

    return _integrate(step, lambda u: jnp.asarray(dt_max, u.dtype), u0, times)


# ----------------------------------------------------------------------------------------------------------
# Datasets
# ----------------------------------------------------------------------------------------------------------
class Dataset(eqx.Module):
    """A set of trajectories with their PDE parameters (a pytree: jit/vmap/slice friendly).

    - `u`: (n_trajectories, n_frames, n_channels, *grid) float32 states, channels first.
    - `params`: (n_trajectories, n_params) PDE parameters (e.g. nu for Burgers, beta for advection).
    - `x`: (*grid) coordinates of the first spatial axis (1D: cell centres); `t`: (n_frames,) times.
    - `pde`, `param_names`: static labels.
    """

    u: jax.Array
    params: jax.Array
    x: jax.Array
    t: jax.Array
    pde: str = eqx.field(static=True, default="")
    param_names: tuple = eqx.field(static=True, default=())

    def __len__(self) -> int:
        return int(self.u.shape[0])

    @property
    def n_frames(self) -> int:
        return int(self.u.shape[1])

    @property
    def grid_shape(self) -> tuple:
        return tuple(self.u.shape[3:])

    def subset(self, index) -> "Dataset":
        """Trajectories ``index`` (array of indices, slice or boolean mask)."""
        return Dataset(self.u[index], self.params[index], self.x, self.t, self.pde, self.param_names)

    def decimate(self, space: int = 1, time: int = 1) -> "Dataset":
        """Plain striding in space and time, as PDEBench/CAPE do (e.g. 1024 cells ``::8`` -> 128)."""
        sl = (slice(None), slice(None, None, time), slice(None)) + (slice(None, None, space),) * len(self.grid_shape)
        return Dataset(self.u[sl], self.params, self.x[::space], self.t[::time], self.pde, self.param_names)

    def split(self, fraction: float, key) -> tuple["Dataset", "Dataset"]:
        """Random split into (first ``fraction``, rest)."""
        perm = np.asarray(jax.random.permutation(key, len(self)))
        n1 = int(round(fraction * len(self)))
        return self.subset(perm[:n1]), self.subset(perm[n1:])

    def unique_params(self) -> np.ndarray:
        return np.unique(np.asarray(self.params), axis=0)


def concatenate(datasets: Sequence[Dataset]) -> Dataset:
    """Concatenate datasets on the same grid and times."""
    d0 = datasets[0]
    return Dataset(
        jnp.concatenate([d.u for d in datasets]),
        jnp.concatenate([d.params for d in datasets]),
        d0.x,
        d0.t,
        d0.pde,
        d0.param_names,
    )


def _burgers_traj(icp, p, x, times, cfl):
    return burgers_1d_solve(_eval_ic(icp, x), p[0], times, cfl=cfl)


def _advection_traj(icp, p, x, times):
    xs = jnp.mod(x[None, :] - p[0] * times[:, None], 1.0)
    return jax.vmap(lambda xx: _eval_ic(icp, xx))(xs)


def _reaction_traj(icp, p, x, times, dt_max):
    return diffusion_reaction_1d_solve(_eval_ic(icp, x, normalise=True), p[0], p[1], times, dt_max=dt_max)


_BATCHED: dict = {}
_draw_batch = jax.jit(jax.vmap(_draw_ic, in_axes=(0, None, None)), static_argnums=2)


def _batched(fn, **static):
    """One jitted, vmapped solver per (function, static options): compiled once per shape, reused across calls."""
    k = (fn, tuple(sorted(static.items())))
    if k not in _BATCHED:
        _BATCHED[k] = jax.jit(jax.vmap(functools.partial(fn, **static), in_axes=(0, 0, None, None)))
    return _BATCHED[k]


def _make(pde, values, n_trajectories, key, n_cells, n_points, t_final, n_frames, dtype, solve, names, chunk=256):
    values = np.asarray(values, dtype=np.float64)
    values = values.reshape(-1, 1) if values.ndim == 1 else values
    if n_cells % n_points:
        raise ValueError(f"n_cells={n_cells} must be a multiple of n_points={n_points} (decimation by striding)")
    x = cell_centres(n_cells, dtype)
    period = float(x[-1] - x[0])
    times = jnp.linspace(0.0, t_final, n_frames, dtype=dtype)
    # a fresh seed per parameter value (PDEBench reuses seed 2022 for every file)
    keys = jnp.concatenate([jax.random.split(jax.random.fold_in(key, i), n_trajectories) for i in range(len(values))])
    icp = _draw_batch(keys, period, dtype)
    pv = jnp.asarray(np.repeat(values, n_trajectories, axis=0), dtype)
    n = pv.shape[0]
    size = min(chunk, 1 << max(n - 1, 0).bit_length())  # power-of-two chunks: few compiled shapes
    pad = (-n) % size  # pad to whole chunks: one compiled shape
    padded = jax.tree_util.tree_map(lambda a: jnp.concatenate([a, jnp.repeat(a[:1], pad, axis=0)]), (icp, pv))
    outs = [solve(*jax.tree_util.tree_map(lambda a: a[i : i + size], padded), x, times) for i in range(0, n + pad, size)]
    u = jnp.concatenate(outs)[:n]
    return Dataset(u[:, :, None, :: n_cells // n_points], pv, x[:: n_cells // n_points], times, pde, names)


def burgers_1d(nus, n_trajectories: int, key, *, n_cells: int = 256, n_points: int = 128, t_final: float = 2.0,
               n_frames: int = 21, cfl: float = 0.25, dtype=jnp.float32, chunk: int = 256) -> Dataset:
    """Regenerated PDEBench-style 1D Burgers data: ``n_trajectories`` PDEBench initial conditions per value of
    ``nus`` (fresh seed per value), solved on ``n_cells`` cells, decimated by striding to ``n_points``.

    PDEBench itself: 1024 cells, t in [0, 2], 201 frames; CAPE uses ``::8`` in space and ``::5`` in time.
    **Returns:** a :class:`Dataset` with ``u`` of shape (len(nus) * n_trajectories, n_frames, 1, n_points).
    """
    return _make("burgers", nus, n_trajectories, key, n_cells, n_points, t_final, n_frames, dtype,
                 _batched(_burgers_traj, cfl=cfl), ("nu",), chunk=chunk)


def advection_1d(betas, n_trajectories: int, key, *, n_cells: int = 1024, n_points: int = 128,
                 t_final: float = 2.0, n_frames: int = 41, dtype=jnp.float32, chunk: int = 256) -> Dataset:
    """PDEBench-style 1D advection data, exact: the analytic initial condition evaluated at ``(x - beta t) mod 1``."""
    return _make("advection", betas, n_trajectories, key, n_cells, n_points, t_final, n_frames, dtype,
                 _batched(_advection_traj), ("beta",), chunk=chunk)


def diffusion_reaction_1d(params, n_trajectories: int, key, *, n_cells: int = 256, n_points: int = 128,
                          t_final: float = 1.0, n_frames: int = 101, dt_max: float = 1e-3, dtype=jnp.float32,
                          chunk: int = 256) -> Dataset:
    """PDEBench-style 1D diffusion-reaction data; ``params`` is a list of ``(nu, rho)`` pairs. Initial conditions
    are min-max normalised to [0, 1] as in PDEBench."""

    return _make("diffusion_reaction", np.asarray(params, dtype=np.float64).reshape(-1, 2), n_trajectories, key,
                 n_cells, n_points, t_final, n_frames, dtype, _batched(_reaction_traj, dt_max=dt_max), ("nu", "rho"),
                 chunk=chunk)


# ----------------------------------------------------------------------------------------------------------
# HDF5 in PDEBench's layout
# ----------------------------------------------------------------------------------------------------------
_FILE_NAMES = {
    "burgers": "1D_Burgers_Sols_Nu{0:g}.hdf5",
    "advection": "1D_Advection_Sols_beta{0:g}.hdf5",
    "diffusion_reaction": "ReacDiff_Nu{0:g}_Rho{1:g}.hdf5",
}
_PARAM_PATTERNS = [
    ("burgers", ("nu",), r"Burgers.*_Nu([0-9.eE+-]+?)(?:\.hdf5|\.h5|_)"),
    ("advection", ("beta",), r"Advection.*_beta([0-9.eE+-]+?)(?:\.hdf5|\.h5|_)"),
    ("diffusion_reaction", ("nu", "rho"), r"ReacDiff.*_Nu([0-9.eE+-]+?)_Rho([0-9.eE+-]+?)(?:\.hdf5|\.h5|_)"),
    ("cfd", ("M", "eta", "zeta"), r"CFD.*_M([0-9.eE+-]+?)_Eta([0-9.eE+-]+?)_Zeta([0-9.eE+-]+?)_"),
]
_CFD_FIELDS = ("density", "Vx", "Vy", "Vz", "pressure")


def write_pdebench(ds: Dataset, directory) -> list[pathlib.Path]:
    """Write one PDEBench-layout HDF5 file per parameter value: dataset ``tensor`` (n, n_frames, n_x) float32,
    ``x-coordinate``, ``t-coordinate``; the parameters are also stored as file attributes. Returns the paths."""
    import h5py

    if ds.u.shape[2] != 1 or len(ds.grid_shape) != 1:
        raise ValueError("write_pdebench writes 1D single-channel data (PDEBench 'tensor' layout)")
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    params = np.asarray(ds.params)
    paths = []
    for val in np.unique(params, axis=0):
        sel = np.all(params == val[None], axis=1)
        name = _FILE_NAMES.get(ds.pde, ds.pde + "_" + "_".join(f"{n}{v:g}" for n, v in zip(ds.param_names, val))
                               + ".hdf5")
        path = directory / name.format(*val)
        with h5py.File(path, "w") as f:
            f.create_dataset("tensor", data=np.asarray(ds.u)[sel][:, :, 0].astype(np.float32))
            f.create_dataset("x-coordinate", data=np.asarray(ds.x, dtype=np.float32))
            f.create_dataset("t-coordinate", data=np.asarray(ds.t, dtype=np.float32))
            for n, v in zip(ds.param_names, val):
                f.attrs[n] = float(v)
            f.attrs["pde"] = ds.pde
        paths.append(path)
    return paths


def read_pdebench(path, *, params=None, max_trajectories: int | None = None) -> Dataset:
    """Read a PDEBench-layout HDF5 file (ours or a real PDEBench download) into a :class:`Dataset`.

    1D files: ``tensor`` (n, n_t, n_x). 2D/3D CFD files: ``density``, ``Vx``, ``Vy`` (``Vz``), ``pressure``
    (n, n_t, *grid) stacked as channels. Parameters come from ``params``, else the file attributes, else the
    PDEBench file name (e.g. ``1D_Burgers_Sols_Nu0.01.hdf5``, ``2D_CFD_Rand_M0.1_Eta0.01_Zeta0.01_...``).
    PDEBench's ``t-coordinate`` can hold one more entry than there are frames; it is truncated.
    """
    import h5py

    path = pathlib.Path(path)
    sl = slice(None) if max_trajectories is None else slice(0, max_trajectories)
    pde, names = "", ()
    for p_pde, p_names, pat in _PARAM_PATTERNS:
        m = re.search(pat, path.name)
        if m:
            pde, names = p_pde, p_names
            if params is None:
                params = [float(g) for g in m.groups()]
            break
    with h5py.File(path, "r") as f:
        if "tensor" in f:
            u = np.asarray(f["tensor"][sl])[:, :, None]
        else:
            fields = [k for k in _CFD_FIELDS if k in f]
            if not fields:
                raise ValueError(f"{path}: neither 'tensor' nor CFD fields {_CFD_FIELDS} found")
            u = np.stack([np.asarray(f[k][sl]) for k in fields], axis=2)  # (n, t, channels, *grid)
        x = np.asarray(f["x-coordinate"])
        t = np.asarray(f["t-coordinate"])[: u.shape[1]]
        attrs = dict(f.attrs)
        if "pde" in attrs:
            pde = str(attrs["pde"])
        if params is None and names == ():
            names = tuple(k for k in ("nu", "beta", "rho", "M", "eta", "zeta") if k in attrs)
            params = [float(attrs[k]) for k in names] if names else None
        elif params is None:
            params = [float(attrs[k]) for k in names]
    if params is None:
        raise ValueError(f"{path}: cannot infer PDE parameters; pass params=[...]")
    params = np.broadcast_to(np.asarray(params, np.float32), (u.shape[0], len(params)))
    return Dataset(jnp.asarray(u, jnp.float32), jnp.asarray(params), jnp.asarray(x, jnp.float32),
                   jnp.asarray(t, jnp.float32), pde, tuple(names))
