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

from .._errors import (check_finite, check_increasing, check_int, check_ndim, check_positive, check_real,
                       is_concrete, safe_join)

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
    """Cell centres ``(i + 1/2)/n`` of ``n_cells`` (>= 1) uniform cells on the periodic unit interval.

    **Arguments:**

    - `n_cells`: the number of uniform cells (int >= 1).
    - `dtype`: the floating dtype of the result (default float32).

    **Returns:** the cell centres, shape `(n_cells,)`, in `(0, 1)`.

    **Example:** `x = cape.datasets.cell_centres(128)`
    """
    n_cells = check_int("n_cells", n_cells, minimum=1)
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

    **Arguments:**

    - `key`: a JAX PRNG key; it draws the modes, amplitudes, phases, sign, `|u|` flag and window.
    - `x`: the points, shape `(N,)` with `N >= 2`, finite and strictly increasing (the period is `x[-1] - x[0]`).
    - `normalise`: if True, min-max normalise the result to [0, 1] (PDEBench's diffusion-reaction data);
      default False.

    **Returns:** the initial condition on `x`, shape `(N,)`, in `x`'s dtype.

    **Example:** `u0 = cape.datasets.initial_condition(jax.random.key(0), cape.datasets.cell_centres(256))`
    """
    check_ndim("x", x, 1)
    if np.shape(x)[0] < 2:
        raise ValueError(f"`x` needs at least 2 points, got shape {np.shape(x)}.")
    check_finite("x", x)
    check_increasing("x", x)
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
            # a step that cannot advance (dt <= 0 or NaN from bad traced inputs) ends the interval with NaN
            # instead of looping forever
            stuck = ~(dt > 0)
            return jnp.where(stuck, t1, t + dt), jnp.where(stuck, jnp.nan, step(v, jnp.where(stuck, 0.0, dt)))

        _, u = jax.lax.while_loop(cond, body, (t0, u))
        return u, u

    _, us = jax.lax.scan(advance, u0, (times[:-1], times[1:]))
    return jnp.concatenate([u0[None], us], axis=0)


def _check_times(times) -> None:
    check_ndim("times", times, 1)
    if np.shape(times)[0] < 1:
        raise ValueError("`times` must hold at least one time.")
    check_finite("times", times)
    check_increasing("times", times)


def _check_grid_function(name, u0, ndim=1) -> None:
    check_ndim(name, u0, ndim, "one grid function (n_cells,); vmap for batches")
    if np.shape(u0)[-1] < 2:
        raise ValueError(f"`{name}` needs at least 2 cells, got shape {np.shape(u0)}.")
    check_finite(name, u0)


def _check_coefficient(name, x, minimum=None) -> None:
    """A scalar PDE coefficient: checked when concrete (traced values pass through to the solver)."""
    if is_concrete(x):
        if np.ndim(x) != 0:
            raise ValueError(f"`{name}` must be a scalar, got shape {np.shape(x)}.")
        check_real(name, x, minimum=minimum)


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
def burgers_1d_solve(u0, nu, times, *, cfl: float = 0.25, length: float = 1.0) -> jax.Array:
    """Evolve cell averages ``u0`` (n_cells,) under ``u_t + (u^2/2)_x = (nu/pi) u_xx`` on a periodic domain.

    PDEBench's convention (diffusion coefficient ``nu/pi``). Convection: MUSCL (MC limiter) + Rusanov flux,
    midpoint predictor-corrector, ``dt = cfl dx / max|u|`` (clipped to land on every output time); diffusion:
    exact spectral factor, Strang-split around the convection step (so any ``nu`` costs the same).

    **Arguments:**

    - `u0`: the cell averages at `times[0]`, shape `(n_cells,)`.
    - `nu`: the viscosity, >= 0 (a traced value is fine); the diffusion coefficient is `nu / pi`.
    - `times`: the output times, shape `(n_times,)`, strictly increasing, `times[0]` the time of `u0`.
    - `cfl`: the CFL number in (0, 1] of the convective step `dt = cfl dx / max|u|`; default 0.25.
    - `length`: the period of the domain, > 0; default 1.0 (cell width `length / n_cells`).

    **Returns:** (len(times), n_cells) in ``u0``'s dtype. jit/vmap-safe (traced values are not checked; a
    time step that cannot advance gives NaN, never an endless loop).
    """
    _check_grid_function("u0", u0)
    _check_coefficient("nu", nu, minimum=0.0)
    _check_times(times)
    cfl = check_real("cfl", cfl, minimum=0.0, maximum=1.0, strict_min=True)
    length = check_positive("length", length)
    return _burgers_1d_solve(u0, nu, times, cfl=cfl, length=length)


@functools.partial(jax.jit, static_argnames=("cfl", "length"))
def _burgers_1d_solve(u0, nu, times, *, cfl: float = 0.25, length: float = 1.0) -> jax.Array:
    u0 = jnp.asarray(u0)
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


def advection_1d_solve(u0, beta, times, *, length: float = 1.0) -> jax.Array:
    """Exact solution ``u(x, t) = u0(x - beta t)`` of ``u_t + beta u_x = 0`` for a periodic grid function.

    The shift is applied to the trigonometric interpolant of ``u0`` (Fourier phase shift), which is exact for
    band-limited data and a plain ``roll`` when ``beta t`` is a whole number of cells. Mass is conserved
    exactly.

    **Arguments:**

    - `u0`: the periodic grid function at `times[0]`, shape `(n,)`.
    - `beta`: the advection velocity (finite; a traced value is fine).
    - `times`: the output times, shape `(n_times,)`, strictly increasing, `times[0]` the time of `u0`.
    - `length`: the period of the domain, > 0; default 1.0.

    **Returns:** (len(times), n).
    """
    _check_grid_function("u0", u0)
    _check_coefficient("beta", beta)
    _check_times(times)
    length = check_positive("length", length)
    return _advection_1d_solve(u0, beta, times, length=length)


@functools.partial(jax.jit, static_argnames=("length",))
def _advection_1d_solve(u0, beta, times, *, length: float = 1.0) -> jax.Array:
    u0 = jnp.asarray(u0)
    n = u0.shape[-1]
    times = jnp.asarray(times, u0.dtype)
    k = _wavenumbers(n, length / n, u0.dtype)
    uh = jnp.fft.rfft(u0)
    shift = jnp.exp(-1j * k[None, :] * (jnp.asarray(beta, u0.dtype) * (times - times[0]))[:, None])
    if n % 2 == 0:  # Nyquist mode: keep it real (a half-cell-ambiguous mode), exact for whole-cell shifts
        shift = shift.at[:, -1].set(jnp.cos(k[-1] * beta * (times - times[0])).astype(shift.dtype))
    return jnp.fft.irfft(uh[None] * shift, n=n, axis=-1).astype(u0.dtype)


def diffusion_reaction_1d_solve(u0, nu, rho, times, *, dt_max: float = 1e-3, length: float = 1.0) -> jax.Array:
    """``u_t = nu u_xx + rho u (1 - u)`` on a periodic grid: exact logistic reaction half steps around an
    exact spectral diffusion step (Strang splitting, 2nd order in ``dt``).

    **Arguments:**

    - `u0`: the periodic grid function at `times[0]`, shape `(n,)`.
    - `nu`: the diffusivity, >= 0.
    - `rho`: the logistic reaction rate (finite).
    - `times`: the output times, shape `(n_times,)`, strictly increasing, `times[0]` the time of `u0`.
    - `dt_max`: the largest internal time step, > 0; default 1e-3 (steps shrink to land on every output time).
    - `length`: the period of the domain, > 0; default 1.0.

    **Returns:** (len(times), n).
    """
    _check_grid_function("u0", u0)
    _check_coefficient("nu", nu, minimum=0.0)
    _check_coefficient("rho", rho)
    _check_times(times)
    if is_concrete(dt_max):
        check_positive("dt_max", dt_max)
    length = check_positive("length", length)
    return _diffusion_reaction_1d_solve(u0, nu, rho, times, dt_max=dt_max, length=length)


@functools.partial(jax.jit, static_argnames=("length",))
def _diffusion_reaction_1d_solve(u0, nu, rho, times, *, dt_max: float = 1e-3, length: float = 1.0) -> jax.Array:
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

    **Arguments:**

    - `u`: (n_trajectories, n_frames, n_channels, *grid) float32 states, channels first.
    - `params`: (n_trajectories, n_params) PDE parameters (e.g. nu for Burgers, beta for advection).
    - `x`: (*grid) coordinates of the first spatial axis (1D: cell centres).
    - `t`: (n_frames,) times of the frames.
    - `pde`: static label of the PDE (`"burgers"`, `"advection"`, `"diffusion_reaction"`, `"cfd"`, or `""`).
    - `param_names`: static tuple of the `n_params` parameter names, e.g. `("nu",)` or `("nu", "rho")`.
    """

    u: jax.Array
    params: jax.Array
    x: jax.Array
    t: jax.Array
    pde: str = eqx.field(static=True, default="")
    param_names: tuple = eqx.field(static=True, default=())

    def __check_init__(self):
        u_shape, p_shape = tuple(getattr(self.u, "shape", ())), tuple(getattr(self.params, "shape", ()))
        if len(u_shape) < 4:
            raise ValueError(f"`u` must have shape (n_trajectories, n_frames, n_channels, *grid), got {u_shape}.")
        if len(p_shape) != 2 or p_shape[0] != u_shape[0]:
            raise ValueError(f"`params` must have shape (n_trajectories={u_shape[0]}, n_params), got {p_shape}.")

    def __len__(self) -> int:
        return int(self.u.shape[0])

    @property
    def n_frames(self) -> int:
        return int(self.u.shape[1])

    @property
    def grid_shape(self) -> tuple:
        return tuple(self.u.shape[3:])

    def subset(self, index) -> "Dataset":
        """Trajectories ``index`` (array of indices, slice or boolean mask).

        **Arguments:**

        - `index`: which trajectories to keep: an integer array of indices, a slice, or a boolean mask of
          length `len(self)` (indexes the first axis of `u` and `params`).

        **Returns:** a new `Dataset` on the same grid and times.
        """
        return Dataset(self.u[index], self.params[index], self.x, self.t, self.pde, self.param_names)

    def decimate(self, space: int = 1, time: int = 1) -> "Dataset":
        """Plain striding in space and time, as PDEBench/CAPE do (e.g. 1024 cells ``::8`` -> 128).

        **Arguments:**

        - `space`: keep every `space`-th point along every grid axis (int >= 1; default 1 keeps all).
        - `time`: keep every `time`-th frame (int >= 1; default 1 keeps all).

        **Returns:** a new `Dataset` with the strided `u`, `x` and `t` (same `params`).
        """
        space = check_int("space", space, minimum=1)
        time = check_int("time", time, minimum=1)
        sl = (slice(None), slice(None, None, time), slice(None)) + (slice(None, None, space),) * len(self.grid_shape)
        return Dataset(self.u[sl], self.params, self.x[::space], self.t[::time], self.pde, self.param_names)

    def split(self, fraction: float, key) -> tuple["Dataset", "Dataset"]:
        """Random split into (first ``fraction``, rest).

        **Arguments:**

        - `fraction`: the share of trajectories in the first part, in [0, 1] (rounded to a whole count).
        - `key`: a JAX PRNG key for the random permutation of the trajectories.

        **Returns:** a pair `(first, rest)` of `Dataset`s.
        """
        fraction = check_real("fraction", fraction, minimum=0.0, maximum=1.0)
        perm = np.asarray(jax.random.permutation(key, len(self)))
        n1 = int(round(fraction * len(self)))
        return self.subset(perm[:n1]), self.subset(perm[n1:])

    def unique_params(self) -> np.ndarray:
        return np.unique(np.asarray(self.params), axis=0)


def concatenate(datasets: Sequence[Dataset]) -> Dataset:
    """Concatenate datasets on the same grid and times.

    **Arguments:**

    - `datasets`: a non-empty sequence of [`Dataset`][sciml.cape.Dataset]s with equal trajectory shapes
      (frames, channels, grid) and numbers of parameters; grid, times and labels are taken from the first.

    **Example:** `ds = cape.datasets.concatenate([ds_a, ds_b])`
    """
    datasets = list(datasets)
    if not datasets:
        raise ValueError("`datasets` must hold at least one Dataset.")
    d0 = datasets[0]
    for i, d in enumerate(datasets):
        if not isinstance(d, Dataset):
            raise TypeError(f"`datasets[{i}]` must be a Dataset, got {type(d).__name__}.")
        if d.u.shape[1:] != d0.u.shape[1:] or d.params.shape[1:] != d0.params.shape[1:]:
            raise ValueError(f"`datasets[{i}]` has trajectories {d.u.shape[1:]} / params {d.params.shape[1:]}; "
                             f"the first has {d0.u.shape[1:]} / {d0.params.shape[1:]}.")
    return Dataset(
        jnp.concatenate([d.u for d in datasets]),
        jnp.concatenate([d.params for d in datasets]),
        d0.x,
        d0.t,
        d0.pde,
        d0.param_names,
    )


def _burgers_traj(icp, p, x, times, cfl):
    return _burgers_1d_solve(_eval_ic(icp, x), p[0], times, cfl=cfl)


def _advection_traj(icp, p, x, times):
    xs = jnp.mod(x[None, :] - p[0] * times[:, None], 1.0)
    return jax.vmap(lambda xx: _eval_ic(icp, xx))(xs)


def _reaction_traj(icp, p, x, times, dt_max):
    return _diffusion_reaction_1d_solve(_eval_ic(icp, x, normalise=True), p[0], p[1], times, dt_max=dt_max)


_BATCHED: dict = {}
_draw_batch = jax.jit(jax.vmap(_draw_ic, in_axes=(0, None, None)), static_argnums=2)


def _batched(fn, **static):
    """One jitted, vmapped solver per (function, static options): compiled once per shape, reused across calls."""
    k = (fn, tuple(sorted(static.items())))
    if k not in _BATCHED:
        _BATCHED[k] = jax.jit(jax.vmap(functools.partial(fn, **static), in_axes=(0, 0, None, None)))
    return _BATCHED[k]


def _check_values(arg, values, names, minimum) -> np.ndarray:
    """Parameter values: a non-empty list (or (n, len(names)) array) of finite numbers, each >= its minimum."""
    try:
        v = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"`{arg}` must be a list of numbers, got {values!r}.") from None
    if v.ndim <= 1 and (len(names) == 1 or v.size == len(names)):
        v = v.reshape(-1, len(names))
    if v.ndim != 2 or v.shape[1] != len(names) or v.shape[0] < 1:
        raise ValueError(f"`{arg}` must hold at least one value of ({', '.join(names)}), got shape {np.shape(values)}.")
    check_finite(arg, v)
    for j, (n, lo) in enumerate(zip(names, minimum)):
        if lo is not None and np.any(v[:, j] < lo):
            raise ValueError(f"`{arg}`: {n} must be >= {lo}, got {v[:, j].min()}.")
    return v


def _make(pde, values, n_trajectories, key, n_cells, n_points, t_final, n_frames, dtype, solve, names, chunk=256,
          minimum=(None,), arg="values"):
    values = _check_values(arg, values, names, minimum)
    n_trajectories = check_int("n_trajectories", n_trajectories, minimum=1)
    n_cells = check_int("n_cells", n_cells, minimum=2)
    n_points = check_int("n_points", n_points, minimum=1)
    check_positive("t_final", t_final)
    n_frames = check_int("n_frames", n_frames, minimum=1)
    chunk = check_int("chunk", chunk, minimum=1)
    if n_cells % n_points:
        raise ValueError(f"`n_points`: n_cells={n_cells} must be a multiple of n_points={n_points} (decimation by "
                         "striding)")
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
    **Arguments:**

    - `nus`: the viscosities (a list of numbers >= 0); the diffusion coefficient is `nu / pi`.
    - `n_trajectories`: the number of trajectories (initial conditions) per value of `nus` (int >= 1).
    - `key`: a JAX PRNG key; each parameter value gets its own keys (`fold_in(key, i)`).
    - `n_cells`: the number of cells the solver uses (default 256).
    - `n_points`: the number of stored points, a divisor of `n_cells` (stride `n_cells // n_points`; default 128).
    - `t_final`: the final time, > 0 (default 2.0); frames are equispaced on `[0, t_final]`.
    - `n_frames`: the number of stored frames including `t = 0` (default 21).
    - `cfl`: the CFL number in (0, 1] (default 0.25; see [`burgers_1d_solve`][sciml.cape.datasets.burgers_1d_solve]).
    - `dtype`: the floating dtype of the data (default float32).
    - `chunk`: the largest number of trajectories solved together in one vmapped call (default 256; bounds
      memory).

    **Returns:** a :class:`Dataset` with ``u`` of shape (len(nus) * n_trajectories, n_frames, 1, n_points).

    **Example:** `ds = cape.datasets.burgers_1d([0.01, 0.1], 8, jax.random.key(0))`
    """
    cfl = check_real("cfl", cfl, minimum=0.0, maximum=1.0, strict_min=True)
    return _make("burgers", nus, n_trajectories, key, n_cells, n_points, t_final, n_frames, dtype,
                 _batched(_burgers_traj, cfl=cfl), ("nu",), chunk=chunk, minimum=(0.0,), arg="nus")


def advection_1d(betas, n_trajectories: int, key, *, n_cells: int = 1024, n_points: int = 128,
                 t_final: float = 2.0, n_frames: int = 41, dtype=jnp.float32, chunk: int = 256) -> Dataset:
    """PDEBench-style 1D advection data, exact: the analytic initial condition evaluated at ``(x - beta t) mod 1``.

    **Arguments:**

    - `betas`: the advection velocities (a list of finite numbers).
    - `n_trajectories`: the number of trajectories (initial conditions) per value of `betas` (int >= 1).
    - `key`: a JAX PRNG key; each parameter value gets its own keys (`fold_in(key, i)`).
    - `n_cells`: the number of cells of the fine grid the initial condition is drawn on (default 1024).
    - `n_points`: the number of stored points, a divisor of `n_cells` (stride `n_cells // n_points`; default 128).
    - `t_final`: the final time, > 0 (default 2.0); frames are equispaced on `[0, t_final]`.
    - `n_frames`: the number of stored frames including `t = 0` (default 41).
    - `dtype`: the floating dtype of the data (default float32).
    - `chunk`: the largest number of trajectories evaluated together in one vmapped call (default 256).

    **Returns:** a [`Dataset`][sciml.cape.Dataset] with ``u`` of shape
    (len(betas) * n_trajectories, n_frames, 1, n_points).

    **Example:** `ds = cape.datasets.advection_1d([0.4, 1.0], 8, jax.random.key(0))`
    """
    return _make("advection", betas, n_trajectories, key, n_cells, n_points, t_final, n_frames, dtype,
                 _batched(_advection_traj), ("beta",), chunk=chunk, arg="betas")


def diffusion_reaction_1d(params, n_trajectories: int, key, *, n_cells: int = 256, n_points: int = 128,
                          t_final: float = 1.0, n_frames: int = 101, dt_max: float = 1e-3, dtype=jnp.float32,
                          chunk: int = 256) -> Dataset:
    """PDEBench-style 1D diffusion-reaction data; ``params`` is a list of ``(nu, rho)`` pairs. Initial conditions
    are min-max normalised to [0, 1] as in PDEBench.

    **Arguments:**

    - `params`: the `(nu, rho)` pairs (diffusivity >= 0, reaction rate), a list of pairs or an `(n, 2)` array.
    - `n_trajectories`: the number of trajectories (initial conditions) per pair (int >= 1).
    - `key`: a JAX PRNG key; each pair gets its own keys (`fold_in(key, i)`).
    - `n_cells`: the number of cells the solver uses (default 256).
    - `n_points`: the number of stored points, a divisor of `n_cells` (stride `n_cells // n_points`; default 128).
    - `t_final`: the final time, > 0 (default 1.0); frames are equispaced on `[0, t_final]`.
    - `n_frames`: the number of stored frames including `t = 0` (default 101).
    - `dt_max`: the largest internal time step, > 0 (default 1e-3).
    - `dtype`: the floating dtype of the data (default float32).
    - `chunk`: the largest number of trajectories solved together in one vmapped call (default 256).

    **Returns:** a [`Dataset`][sciml.cape.Dataset] with ``u`` of shape
    (len(params) * n_trajectories, n_frames, 1, n_points) and `params` columns `(nu, rho)`.

    **Example:** `ds = cape.datasets.diffusion_reaction_1d([(0.5, 1.0)], 8, jax.random.key(0))`
    """

    dt_max = check_positive("dt_max", dt_max)
    return _make("diffusion_reaction", params, n_trajectories, key, n_cells, n_points, t_final, n_frames, dtype,
                 _batched(_reaction_traj, dt_max=dt_max), ("nu", "rho"), chunk=chunk, minimum=(0.0, None),
                 arg="params")


# ----------------------------------------------------------------------------------------------------------
# HDF5 in PDEBench's layout
# ----------------------------------------------------------------------------------------------------------
# PDEBench's file names and attributes (its data_gen scripts): parameter values formatted as Python's str(float)
# (``Nu1.0``, ``beta0.4``); attributes ``Nu`` (Burgers), ``beta`` (advection), ``Nu`` and ``rho`` (reaction-diffusion),
# ``eta``, ``zeta``, ``M`` (CFD).
_PDEBENCH = {
    "burgers": ("1D_Burgers_Sols_Nu{0}.hdf5", ("Nu",)),
    "advection": ("1D_Advection_Sols_beta{0}.hdf5", ("beta",)),
    "diffusion_reaction": ("ReacDiff_Nu{0}_Rho{1}.hdf5", ("Nu", "rho")),
}
_PARAM_PATTERNS = [
    ("burgers", ("nu",), r"Burgers.*_Nu([0-9.eE+-]+?)(?:\.hdf5|\.h5|_)"),
    ("advection", ("beta",), r"Advection.*_beta([0-9.eE+-]+?)(?:\.hdf5|\.h5|_)"),
    ("diffusion_reaction", ("nu", "rho"), r"ReacDiff.*_Nu([0-9.eE+-]+?)_Rho([0-9.eE+-]+?)(?:\.hdf5|\.h5|_)"),
    ("cfd", ("M", "eta", "zeta"), r"CFD.*_M([0-9.eE+-]+?)_Eta([0-9.eE+-]+?)_Zeta([0-9.eE+-]+?)_"),
    ("cfd", ("eta", "zeta", "M"), r"CFD.*_Eta([0-9.eE+-]+?)_Zeta([0-9.eE+-]+?)_M([0-9.eE+-]+?)_"),
    ("cfd", ("eta", "zeta"), r"CFD.*_Eta([0-9.eE+-]+?)_Zeta([0-9.eE+-]+?)_"),
]
# attribute name in the file -> our parameter name
_ATTR_NAMES = {"Nu": "nu", "nu": "nu", "beta": "beta", "rho": "rho", "Rho": "rho", "M": "M", "eta": "eta",
               "zeta": "zeta"}
# channel order of PDEBench's CFD loaders: density, pressure, Vx, Vy, Vz
_CFD_FIELDS = ("density", "pressure", "Vx", "Vy", "Vz")
_LABEL = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


def _fmt_param(v) -> str:
    """Python's str(float) for the value at its own precision (``1.0``, ``0.4``, ``1e-05``): the shortest text
    that reads back to the same number, so distinct values give distinct names."""
    return str(v.item()) if isinstance(v, np.float64) else str(v)


def _check_label(name, x) -> str:
    if not isinstance(x, str) or not _LABEL.match(x):
        raise ValueError(f"`{name}` must be a plain label (letters, digits, '_'), got {x!r}.")
    return x


def write_pdebench(ds: Dataset, directory) -> list[pathlib.Path]:
    """Write one PDEBench-layout HDF5 file per parameter value, named and annotated as PDEBench does.

    Burgers ``1D_Burgers_Sols_Nu0.01.hdf5`` (attribute ``Nu``), advection ``1D_Advection_Sols_beta1.0.hdf5``
    (``beta``), reaction-diffusion ``ReacDiff_Nu0.5_Rho1.0.hdf5`` (``Nu``, ``rho``); values formatted like
    Python's ``str(float)`` at the data's precision. Datasets: ``tensor`` (n, n_frames, n_x) float32,
    ``x-coordinate``, ``t-coordinate``; attribute ``pde`` records our label. Other PDEs get
    ``<pde>_<name><value>....hdf5`` (labels must be plain identifiers). Files never leave `directory`, and two
    parameter values never share a file.

    **Arguments:** `ds` a 1D single-channel [`Dataset`][sciml.cape.Dataset]; `directory` the target folder.
    **Returns:** the paths written.
    """
    import h5py

    if not isinstance(ds, Dataset):
        raise TypeError(f"`ds` must be a Dataset, got {type(ds).__name__}.")
    if ds.u.ndim != 4 or ds.u.shape[2] != 1:
        raise ValueError(f"`ds` must hold 1D single-channel data (PDEBench 'tensor' layout), got u {ds.u.shape}.")
    _check_label("ds.pde", ds.pde)
    for n in ds.param_names:
        _check_label("ds.param_names", n)
    params = np.asarray(ds.params)
    check_finite("ds.params", params)
    if params.ndim != 2 or params.shape[1] != len(ds.param_names):
        raise ValueError(f"`ds.params` must be (n, {len(ds.param_names)}) for param_names {ds.param_names}, got "
                         f"{params.shape}.")
    if ds.pde in _PDEBENCH:
        pattern, attrs = _PDEBENCH[ds.pde]
        if len(attrs) != params.shape[1]:
            raise ValueError(f"`ds.params`: {ds.pde} files need {len(attrs)} parameters, got {params.shape[1]}.")
    else:
        pattern = ds.pde + "_" + "_".join(f"{n}{{{i}}}" for i, n in enumerate(ds.param_names)) + ".hdf5"
        attrs = ds.param_names
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    u = np.asarray(ds.u)
    planned = {}
    for val in np.unique(params, axis=0):
        name = pattern.format(*(_fmt_param(v) for v in val))
        if name in planned:
            raise ValueError(f"`ds.params`: values {planned[name][0]} and {val} would both be written to {name}.")
        planned[name] = (val, safe_join("ds.pde", directory, name))
    paths = []
    for name, (val, path) in planned.items():
        sel = np.all(params == val[None], axis=1)
        with h5py.File(path, "w") as f:
            f.create_dataset("tensor", data=u[sel][:, :, 0].astype(np.float32))
            f.create_dataset("x-coordinate", data=np.asarray(ds.x, dtype=np.float32))
            f.create_dataset("t-coordinate", data=np.asarray(ds.t, dtype=np.float32))
            for n, v in zip(attrs, val):
                f.attrs[n] = float(v)
            f.attrs["pde"] = ds.pde
        paths.append(path)
    return paths


def read_pdebench(path, *, params=None, max_trajectories: int | None = None) -> Dataset:
    """Read a PDEBench-layout HDF5 file (ours or a real PDEBench download) into a :class:`Dataset`.

    1D files: ``tensor`` (n, n_t, n_x). CFD files: ``density``, ``pressure``, ``Vx``, ``Vy``, ``Vz`` (those
    present, in this order, as PDEBench's loaders stack them) (n, n_t, *grid) as channels. Parameters come from
    ``params``, else the PDEBench file name (e.g. ``1D_Burgers_Sols_Nu0.01.hdf5``,
    ``2D_CFD_Rand_M0.1_Eta0.01_Zeta0.01_...``), else the file attributes (``Nu``, ``beta``, ``rho``, ``M``,
    ``eta``, ``zeta``). PDEBench's ``t-coordinate`` can hold one more entry than there are frames; it is truncated.

    **Arguments:**

    - `path`: the HDF5 file (str or path).
    - `params`: optional parameter values, a 1D sequence of finite numbers; overrides those from the file name or
      attributes (default None).
    - `max_trajectories`: read only the first so many trajectories (int >= 1); None (default) reads all.

    **Returns:** a :class:`Dataset`.
    """
    import h5py

    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"`path`: no file {str(path)!r}.")
    if max_trajectories is not None:
        max_trajectories = check_int("max_trajectories", max_trajectories, minimum=1)
    if params is not None:
        params = np.atleast_1d(np.asarray(params, np.float64))
        check_ndim("params", params, 1)
        check_finite("params", params)
    sl = slice(None) if max_trajectories is None else slice(0, max_trajectories)
    pde, names = "", ()
    for p_pde, p_names, pat in _PARAM_PATTERNS:
        m = re.search(pat, path.name)
        if m:
            try:
                from_name = np.asarray([float(g) for g in m.groups()])
            except ValueError:
                continue
            pde, names = p_pde, p_names
            if params is None:
                params = from_name
            break
    with h5py.File(path, "r") as f:
        if "tensor" in f:
            u = np.asarray(f["tensor"][sl])[:, :, None]
        else:
            fields = [k for k in _CFD_FIELDS if k in f]
            if not fields:
                raise ValueError(f"`path`: {path} holds neither 'tensor' nor the CFD fields {_CFD_FIELDS}.")
            u = np.stack([np.asarray(f[k][sl]) for k in fields], axis=2)  # (n, t, channels, *grid)
        if u.ndim < 4:
            raise ValueError(f"`path`: {path} data must be (n, n_t, *grid), got {u.shape[:2] + u.shape[3:]}.")
        if "x-coordinate" not in f or "t-coordinate" not in f:
            raise ValueError(f"`path`: {path} lacks 'x-coordinate' or 't-coordinate'.")
        x = np.asarray(f["x-coordinate"])
        t = np.asarray(f["t-coordinate"])[: u.shape[1]]
        attrs = dict(f.attrs)
    if "pde" in attrs:  # our own label: used only as a label, and only if it is a plain identifier
        label = attrs["pde"]
        label = label.decode() if isinstance(label, bytes) else label
        if not isinstance(label, str) or not (label == "" or _LABEL.match(label)):
            raise ValueError(f"`path`: {path} has an invalid 'pde' attribute {label!r} (must be a plain label).")
        pde = label or pde
    if params is None:
        found = [(a, n) for a, n in _ATTR_NAMES.items() if a in attrs]
        seen = []
        for a, n in found:
            if n not in [s_[1] for s_ in seen]:
                seen.append((a, n))
        if names:
            by_name = {n: a for a, n in seen}
            if all(n in by_name for n in names):
                params = np.asarray([float(attrs[by_name[n]]) for n in names])
        elif seen:
            names = tuple(n for _, n in seen)
            params = np.asarray([float(attrs[a]) for a, _ in seen])
    if params is None:
        raise ValueError(f"`params`: cannot infer the PDE parameters of {path}; pass params=[...].")
    if names and len(params) != len(names):
        raise ValueError(f"`params` must hold {len(names)} values ({', '.join(names)}), got {len(params)}.")
    params = np.broadcast_to(np.asarray(params, np.float32), (u.shape[0], len(params)))
    return Dataset(jnp.asarray(u, jnp.float32), jnp.asarray(params), jnp.asarray(x, jnp.float32),
                   jnp.asarray(t, jnp.float32), pde, tuple(names))
