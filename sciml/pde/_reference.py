"""Method-of-lines reference solutions for time-dependent benchmark problems without a closed form.

`reference_solution(problem, grid, times)` integrates the PDE in float64 with diffrax (adaptive
Dormand-Prince 8(7) steps, tight rtol/atol) after a spatial discretisation chosen per problem:

- ``"allen_cahn_1d"``: ``u_t = eps u_xx + gamma (u - u^3)`` on a periodic interval, Fourier
  pseudo-spectral in x (the exact trigonometric interpolant is evaluated at the requested points);
- ``"nonlinear_diffusion"``: ``u_t = alpha (|grad u|^2 + u lap u) = (alpha/2) lap(u^2)`` on a 2-D box with
  ``u = 0`` on the boundary, second-order finite differences on a node grid, optionally
  Richardson-extrapolated from two resolutions (default; fourth-order in space where smooth).

Both semi-discretisations are only mildly stiff at the default resolutions (largest eigenvalue a few
hundred), so an explicit high-order adaptive solver is cheaper than an implicit one while the step-size
controller keeps it stable; ``solver=`` accepts any diffrax solver (e.g. ``diffrax.Kvaerno5()``).

Regenerate the small cached files in ``sciml/data/reference/`` with ``python -m sciml.pde._reference``; the
error estimate against a refined run is written next to each file.
"""

from __future__ import annotations

import json
import math
import pathlib
from collections.abc import Sequence

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["reference_solution", "load_reference"]

_DATA = pathlib.Path(__file__).resolve().parents[1] / "data" / "reference"


# ---------------------------------------------------------------------------------------------------
# problem introspection
def _param(problem, names: Sequence[str], default: float) -> float:
    params = getattr(problem, "params", None) or {}
    for n in names:
        if n in params:
            return float(params[n])
    return float(default)


def _time_axis(problem, ndim: int) -> int:
    ta = getattr(problem, "time_axis", None)
    return ndim - 1 if ta is None else int(ta)


def _box(problem):
    dom = problem.domain
    return np.asarray(dom.lower, np.float64), np.asarray(dom.upper, np.float64)


def _initial_fn(problem, default):
    """Initial condition as a function of the spatial point (numpy in/out, float64)."""
    lower, upper = _box(problem)
    ndim = lower.shape[0]
    ta = _time_axis(problem, ndim)
    g = None
    for c in getattr(problem, "conditions", ()) or ():
        if type(c).__name__ == "Initial":
            g = getattr(c, "g", None) or getattr(c, "fn", None) or getattr(c, "value", None)
    if g is None or not callable(g):
        return default

    def u0(xs_spatial: np.ndarray) -> np.ndarray:
        n = xs_spatial.shape[0]
        cols = list(np.moveaxis(xs_spatial, -1, 0))
        cols.insert(ta, np.full((n,), lower[ta]))
        with jax.enable_x64(True):  # the initial state in full precision whatever the global setting
            pts = jnp.asarray(np.stack(cols, -1), jnp.float64)
            return np.asarray(jax.vmap(g)(pts), np.float64)

    return u0


def _coords(grid, lower, upper, spatial_axes):
    """grid: ints (points per spatial axis, endpoints included) or 1-D coordinate arrays."""
    if isinstance(grid, int):
        grid = (grid,) * len(spatial_axes)
    if len(grid) != len(spatial_axes):
        raise ValueError(f"`grid` needs one entry per spatial axis ({len(spatial_axes)}), got {len(grid)}")
    out = []
    for g, a in zip(grid, spatial_axes):
        if np.ndim(g) == 0:
            out.append(np.linspace(lower[a], upper[a], int(g)))
        else:
            out.append(np.asarray(g, np.float64))
    return out


@eqx.filter_jit
def _solve(rhs, y0, times, t0, args, solver, rtol, atol, max_steps):
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(rhs),
        solver,
        t0=t0,
        t1=times[-1],
        dt0=None,
        y0=y0,
        args=args,
        saveat=diffrax.SaveAt(ts=times),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps,
    )
    return sol.ys, sol.stats["num_steps"]


def _integrate(rhs, y0, times, t0, args, rtol, atol, solver, max_steps):
    """Integrate dy/dt = rhs(t, y, args) in float64 (compiled once per shape; `rhs` is module-level)."""
    with jax.enable_x64(True):
        args = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), args)
        ys, n = _solve(
            rhs, jnp.asarray(y0, jnp.float64), jnp.asarray(times, jnp.float64), jnp.asarray(t0, jnp.float64),
            args, solver, float(rtol), float(atol), int(max_steps),
        )
        return np.asarray(ys), int(n)


# ---------------------------------------------------------------------------------------------------
# Allen-Cahn 1-D, periodic, Fourier pseudo-spectral
def _ac_rhs(t, u, args):
    eps, gamma, lap = args
    uxx = jnp.fft.irfft(lap * jnp.fft.rfft(u), n=u.shape[-1])
    return eps * uxx + gamma * (u - u**3)


def _allen_cahn(problem, grid, times, *, n_modes, rtol, atol, solver, max_steps):
    lower, upper = _box(problem)
    ta = _time_axis(problem, 2)
    ax = 1 - ta
    eps = _param(problem, ("diffusion", "eps", "epsilon", "d", "nu", "D"), 1e-4)
    gamma = _param(problem, ("reaction", "gamma", "k", "kappa"), 5.0)
    a, b = lower[ax], upper[ax]
    L = b - a
    n = int(n_modes)
    xs = a + L * np.arange(n) / n
    u0 = _initial_fn(problem, lambda x: x[:, 0] ** 2 * np.cos(np.pi * x[:, 0]))(xs[:, None])
    k = 2.0 * np.pi * np.fft.rfftfreq(n, d=L / n)
    ys, nsteps = _integrate(_ac_rhs, u0, times, lower[ta], (eps, gamma, -(k**2)), rtol, atol, solver, max_steps)
    (xq,) = _coords(grid, lower, upper, (ax,))
    return _fourier_eval(ys, a, L, xq), nsteps


def _fourier_eval(ys: np.ndarray, a: float, L: float, xq: np.ndarray) -> np.ndarray:
    """Evaluate the trigonometric interpolant of periodic samples ys[..., n] at points xq."""
    n = ys.shape[-1]
    c = np.fft.fft(ys, axis=-1) / n
    m = np.fft.fftfreq(n, d=1.0 / n)  # integer wavenumbers
    if n % 2 == 0:  # split the Nyquist mode symmetrically so the interpolant is real
        c[..., n // 2] *= 0.5
        m = np.concatenate([m, [n // 2]])
        c = np.concatenate([c, c[..., n // 2 : n // 2 + 1]], axis=-1)
        m[n // 2] = -n // 2
    phase = np.exp(2j * np.pi * np.outer(m, (xq - a) / L))  # (modes, q)
    return np.real(c @ phase)


# ---------------------------------------------------------------------------------------------------
# nonlinear diffusion (2+1)D, Dirichlet u = 0, finite differences
def _nd_default_u0(x):
    X, Y = x[:, 0], x[:, 1]
    return (
        0.25 * np.exp(-((X - 0.3) ** 2 + (Y - 0.2) ** 2) / 0.1)
        + 0.4 * np.exp(-15 * ((X + 0.5) ** 2 + (Y + 0.1) ** 2))
        + 0.3 * np.exp(-20 * (X**2 + (Y + 0.5) ** 2))
    )


def _nd_rhs(t, u, args):
    """(alpha/2) lap(u^2) with u = 0 on the boundary nodes (5-point stencil on interior nodes)."""
    alpha, hx, hy = args
    w = jnp.pad(u * u, 1)
    lap = (w[2:, 1:-1] - 2 * w[1:-1, 1:-1] + w[:-2, 1:-1]) / hx**2 + (
        w[1:-1, 2:] - 2 * w[1:-1, 1:-1] + w[1:-1, :-2]
    ) / hy**2
    return 0.5 * alpha * lap


def _nd_solve(problem, n, times, rtol, atol, solver, max_steps):
    lower, upper = _box(problem)
    ta = _time_axis(problem, 3)
    sp = [a for a in range(3) if a != ta]
    alpha = _param(problem, ("coef", "alpha", "d", "D", "coeff", "nu", "kappa"), 0.05)
    xs = [np.linspace(lower[a], upper[a], n) for a in sp]
    hx, hy = xs[0][1] - xs[0][0], xs[1][1] - xs[1][0]
    X, Y = np.meshgrid(xs[0], xs[1], indexing="ij")
    u0 = _initial_fn(problem, _nd_default_u0)(np.stack([X.ravel(), Y.ravel()], -1)).reshape(n, n)
    u0 = u0[1:-1, 1:-1]  # unknowns: interior nodes; boundary nodes are 0

    ys, nsteps = _integrate(_nd_rhs, u0, times, lower[ta], (alpha, hx, hy), rtol, atol, solver, max_steps)
    full = np.zeros((ys.shape[0], n, n))
    full[:, 1:-1, 1:-1] = ys
    return xs, full, nsteps


def _interp_grid(xs, vals, xq):
    """Cubic interpolation of vals (nt, nx, ny) on node grid xs to the tensor grid xq."""
    from scipy.interpolate import RegularGridInterpolator

    Xq = np.stack(np.meshgrid(*xq, indexing="ij"), -1)
    out = []
    for v in vals:
        f = RegularGridInterpolator(xs, v, method="cubic")
        out.append(f(Xq))
    return np.stack(out)


def _nonlinear_diffusion(problem, grid, times, *, n_points, richardson, rtol, atol, solver, max_steps):
    lower, upper = _box(problem)
    ta = _time_axis(problem, 3)
    sp = [a for a in range(3) if a != ta]
    xq = _coords(grid, lower, upper, sp)
    n = int(n_points)
    xs, v, nsteps = _nd_solve(problem, n, times, rtol, atol, solver, max_steps)
    if richardson:
        nf = 2 * n - 1  # every coarse node is a fine node
        _, vf, nsf = _nd_solve(problem, nf, times, rtol, atol, solver, max_steps)
        v = (4.0 * vf[:, ::2, ::2] - v) / 3.0
        nsteps += nsf
    idx = [_node_indices(q, x) for q, x in zip(xq, xs)]
    if all(i is not None for i in idx):  # requested points are solver nodes: no interpolation
        return v[:, idx[0]][:, :, idx[1]], nsteps
    return _interp_grid(xs, v, xq), nsteps


def _node_indices(q, x):
    i = np.clip(np.searchsorted(x, q), 0, len(x) - 1)
    i = np.where((i > 0) & (np.abs(x[i - 1] - q) < np.abs(x[i] - q)), i - 1, i)
    return i if np.allclose(x[i], q, rtol=0, atol=1e-12) else None


# ---------------------------------------------------------------------------------------------------
def reference_solution(
    problem,
    grid,
    times,
    *,
    resolution: int | None = None,
    richardson: bool = True,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    solver=None,
    max_steps: int = 200_000,
    return_stats: bool = False,
):
    """Trusted float64 reference (diffrax method of lines); documented at the public
    [`sciml.pde.reference_solution`][sciml.pde.reference_solution], which imports this module on first use."""
    name = getattr(problem, "name", "")
    times = np.asarray(times, np.float64)
    if times.ndim != 1 or np.any(np.diff(times) < 0):
        raise ValueError("`times` must be an increasing 1-D array")
    solver = diffrax.Dopri8() if solver is None else solver
    if name == "allen_cahn_1d":
        out, nsteps = _allen_cahn(
            problem, grid, times, n_modes=resolution or 2048, rtol=rtol, atol=atol, solver=solver,
            max_steps=max_steps,
        )
    elif name == "nonlinear_diffusion":
        out, nsteps = _nonlinear_diffusion(
            problem, grid, times, n_points=resolution or 129, richardson=richardson, rtol=rtol, atol=atol,
            solver=solver, max_steps=max_steps,
        )
    else:
        raise ValueError(
            f"no reference solver for problem name {name!r}; supported: 'allen_cahn_1d', 'nonlinear_diffusion'"
        )
    if return_stats:
        return out, {"num_steps": nsteps}
    return out


def load_reference(name: str) -> dict:
    """Load a cached reference from ``sciml/data/reference/<name>.npz`` as a dict (``t``, ``x``[, ``y``], ``u``)."""
    path = _DATA / f"{name}.npz"
    if not path.exists():
        raise FileNotFoundError(f"{path} missing; regenerate with `python -m sciml.pde._reference`")
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def _regenerate(out_dir: pathlib.Path = _DATA) -> dict:  # pragma: no cover - run by hand
    """Write the cached references and their refined-run error estimates."""
    from sciml import pde

    out_dir.mkdir(parents=True, exist_ok=True)
    report = {}
    # Allen-Cahn: default (2048 modes, rtol 1e-10) vs 4096 modes, rtol 1e-12
    prob = pde.allen_cahn_1d()
    t = np.linspace(0.0, 1.0, 101)
    x = np.linspace(-1.0, 1.0, 257)
    u = reference_solution(prob, (x,), t)
    uf = reference_solution(prob, (x,), t, resolution=4096, rtol=1e-12, atol=1e-13)
    report["allen_cahn_1d"] = {
        "max_abs_diff_vs_refined": float(np.max(np.abs(u - uf))),
        "rel_l2_vs_refined": float(np.linalg.norm(u - uf) / np.linalg.norm(uf)),
        "refined": "4096 modes, rtol 1e-12",
        "method": "Fourier pseudo-spectral 2048 modes, diffrax Dopri8 rtol 1e-10",
    }
    np.savez_compressed(out_dir / "allen_cahn_1d.npz", t=t, x=x, u=u.astype(np.float32))
    # nonlinear diffusion: Richardson(65, 129) vs Richardson(129, 257) (the default)
    prob = pde.nonlinear_diffusion()
    t = np.linspace(0.0, 1.0, 11)
    xg = np.linspace(-1.0, 1.0, 65)
    u = reference_solution(prob, (xg, xg), t, resolution=65)
    uf = reference_solution(prob, (xg, xg), t, resolution=129)
    report["nonlinear_diffusion"] = {
        "max_abs_diff_vs_refined": float(np.max(np.abs(u - uf))),
        "rel_l2_vs_refined": float(np.linalg.norm(u - uf) / np.linalg.norm(uf)),
        "refined": "Richardson from 129 and 257 nodes (the default resolution), stored below",
        "method": "2nd-order FD, Richardson from 65 and 129 nodes, diffrax Dopri8 rtol 1e-10",
    }
    np.savez_compressed(out_dir / "nonlinear_diffusion.npz", t=t, x=xg, y=xg, u=uf.astype(np.float32))
    (out_dir / "README.md").write_text(
        "# Cached reference solutions\n\nRegenerate: `python -m sciml.pde._reference` "
        "(calls `sciml.pde.reference_solution`). Stored as float32; spatial axes in domain order, "
        "`u[t_index, ...]`. allen_cahn_1d.npz holds the default-resolution run (2048 modes), compared with a "
        "refined one; nonlinear_diffusion.npz holds the default (Richardson from 129 and 257 nodes), and the "
        "estimate compares the next coarser run with it (so it bounds the stored file's error from above as "
        "long as the scheme converges).\n\nError estimates:\n\n```json\n"
        + json.dumps(report, indent=2)
        + "\n```\n"
    )
    return report


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(_regenerate(), indent=2))
