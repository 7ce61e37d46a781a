"""`gp.solve`: the GP-HM solver; the algorithm is chosen by a solver object.

* [`Profiled`][sciml.gp.Profiled] (default) -- for fixed kernel parameters U is solved for exactly and the
  noise precisions in closed form; the kernel parameters then take an optimiser step on the objective at that
  point (by the envelope theorem a gradient step on the profiled objective). For linear constant-coefficient
  operators without mixed derivatives the U solve is the exact Kronecker-eigenbasis collocation solve (one
  eigendecomposition per axis, no iterations); otherwise the GP-HM quadratic model is minimised (dense QR up
  to `dense_max` nodes, else matrix-free PCG), with Gauss-Newton linearisation for nonlinear residuals.
* [`Adam`][sciml.gp.Adam] -- the paper's joint optimisation of U, the kernel parameters and (tau1, tau2).

The fitted model is a pure-JAX [`Posterior`][sciml.gp.Posterior]: `res.resolve(other_problem)` re-solves with
the fitted kernel and is jittable / vmappable / differentiable.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
import warnings
from typing import Any, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float

from .. import _errors as er
from ..nn import rel_l2
from ..pde._problem import default_eval_shape
from ..train import TrainResult
from . import _usolve as us
from ._freq import auto_axis_kernel
from ._kernels import KERNELS, AxisKernel, init_axis_kernel
from ._model import (GridSpec, axis_factors, derivative_grids, key_orders, kron_apply, neg_log_joint,
                     neg_log_joint_vec)
from ._posterior import Posterior, flat_boundary, latent_eigs, latent_grid, make_posterior, u_step
from ._problem import grid_spec_and_residual


class GPParams(eqx.Module):
    """All learnable quantities of the joint model (the [`Adam`][sciml.gp.Adam] state).

    **Fields:**

    - `u`: the solution values on the grid, the grid's shape.
    - `kernels`: tuple of per-axis [`AxisKernel`][sciml.gp.AxisKernel]s.
    - `log_tau1`: log precision of the boundary likelihood (scalar).
    - `log_tau2`: log precision of the residual likelihood (scalar).
    """

    u: jax.Array
    kernels: tuple
    log_tau1: jax.Array
    log_tau2: jax.Array


class Profiled(eqx.Module):
    """The fast GP-HM solver: exact U solve + closed-form precisions, optimiser steps on the kernel.

    **Arguments:**

    - `steps`: outer steps (default 40).
    - `learning_rate`, `optimizer`: optax optimiser of the kernel parameters (default Adam(`learning_rate`)).
    - `lam_b`: boundary likelihood weight lambda_b (paper: 200).
    - `jitter`: eps on each factor, C_j = K_j + eps I. Default in float64: 1e-12 with the 1D dense GP-HM solve
      (measured, 400 points, auto init: sin(100x) 2.1e-6, sin(500x) 9.1e-7, Allen-Cahn 2.6e-6, multiscale 8.6e-8,
      against 1.4e-5 / 1.6e-5 / 1.4e-5 / 5.7e-6 at 1e-10), 1e-10 otherwise (a 20^2 dense 2D fit failed at 1e-12); 1e-5 in
      float32. With the paper's 1e-6 the jitter, not the kernel, limits the exact solve.
    - `inner_iterations`: U / precision alternations per outer step (default 2 linear, 4 Gauss-Newton).
    - `theta_steps`: optimiser steps on the kernel per outer step (default 1). `theta_steps=10` gave sin(100x)
      1.4e-6 - 2.5e-6 over outer steps 10-30 against ~4e-6 (400 points) for ~1.25x the time per outer step
      (the U solve dominates); Allen-Cahn sin(100x): no gain in the selected iterate. More kernel steps alone do
      not reach the paper's accuracy: the closed-form precisions limit it (see `precision_growth`). (An earlier
      explanation, that the paper's kernel sparsifies, did not hold up: a two-component kernel at the solution
      frequency fits sin(100x) to 1.4e-7 in the first outer step and degrades to 2.5e-6 by the third at an
      unchanged kernel, as tau2 grows.)
    - `precision_growth`: bound on how far the log precisions (log tau1, log tau2) may rise above their
      closed-form values after the first outer step (default `None`: no bound, only `max_log_tau`). The
      closed-form precisions of an exact U solve feed back: a better fit has a smaller residual, hence a larger
      tau2, hence a solve closer to pure collocation with the kernel's derivative operator, whose error then
      limits the fit; the objective jumps between outer steps and further kernel steps stop helping
      (sin(100x), 150 outer steps: 2.7e-6, log tau2 14 -> 25). With the precisions held near their first
      values the objective in the kernel is smooth and long training keeps improving, as in the paper's slow joint
      Adam: measured at 400 points, 150 outer steps, `precision_growth=2` (rel-L2 at 300 test points, the
      paper's metric; `benchmarks/results/gp-paper-cpu.json`): sin(100x) 2.5e-7 (F = 20) / 2.8e-7 (auto init),
      Allen-Cahn sin(100x) 1.3e-7 / 5.0e-7 (paper: 4.0e-7 and 7.7e-7 after 1e5 steps), 31-45 s on one core; 0 and 4 gave 3.4e-7 and 2.9e-7 on sin(100x). It needs a first fit that already resolves
      the solution: on sin(500x) the first step's error is 5.7e-2 and the bound then holds tau2 far too low
      (4.3e-5 after 80 steps against 7.0e-7 without it; auto init: 5.0e-6 against 9e-7), which is why it is not the
      default. (The multiscale case is unaffected: 8.9e-8 either way.)
    - `patience`, `min_steps`: stop when the selection criterion has not improved for `patience` outer steps
      (after `min_steps`); the best iterate is returned.
    - `max_log_tau`: cap of the closed-form log precisions.
    - `u_solve`: `"auto"` (default), `"collocation"` or `"gphm"`. `"gphm"` minimises the GP-HM quadratic model
      in U exactly (dense QR up to `dense_max` nodes, else matrix-free PCG with `cg_rtol`, `cg_maxiter`).
      `"collocation"` is the exact Kronecker-eigenbasis collocation solve (PDE at the nodes off the constrained
      faces, face conditions exactly; linear constant-coefficient operators without mixed derivatives; the
      only one that takes Neumann/Robin faces). Having no prior term, its node values U keep jitter-level
      components, so the fit returns the latent mean K C^{-1} U as `u_grid` (see
      [`Posterior`][sciml.gp.Posterior]). `"auto"`: GP-HM dense QR up to `dense_max` nodes (measured
      better in 1D: sin(100x), 400 points, 1.4e-5 vs 1.7e-3), collocation above it when the operator allows
      (2D sin3x sin17y at 128^2: 2-5e-6 at ~0.1 s per step vs 8.8e-6 in 236 s with PCG), else PCG.
    - `dense_max`: largest grid (number of nodes) solved by dense QR in the GP-HM U solve (default 2048).
    - `cg_rtol`, `cg_maxiter`: tolerance and iteration cap of the matrix-free PCG U solve above `dense_max`
      (defaults `1e-10`, 200).

    **Example:** `gp.solve(problem, grid=(400,), method=gp.Profiled(steps=60, patience=10))`
    """

    steps: int = eqx.field(static=True, default=40)
    learning_rate: float = eqx.field(static=True, default=1e-2)
    optimizer: Any = eqx.field(static=True, default=None)
    lam_b: float = eqx.field(static=True, default=200.0)
    jitter: float | None = eqx.field(static=True, default=None)
    inner_iterations: int | None = eqx.field(static=True, default=None)
    theta_steps: int = eqx.field(static=True, default=1)
    patience: int = eqx.field(static=True, default=20)
    min_steps: int = eqx.field(static=True, default=10)
    max_log_tau: float = eqx.field(static=True, default=46.0)
    dense_max: int = eqx.field(static=True, default=2048)
    cg_rtol: float = eqx.field(static=True, default=1e-10)
    cg_maxiter: int = eqx.field(static=True, default=200)
    u_solve: str = eqx.field(static=True, default="auto")
    precision_growth: float | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        er.check_int("Profiled.steps", self.steps, minimum=1)
        er.check_positive("Profiled.learning_rate", self.learning_rate)
        er.check_positive("Profiled.lam_b", self.lam_b)
        if self.jitter is not None:
            er.check_positive("Profiled.jitter", self.jitter)
        if self.inner_iterations is not None:
            er.check_int("Profiled.inner_iterations", self.inner_iterations, minimum=1)
        er.check_int("Profiled.theta_steps", self.theta_steps, minimum=1)
        er.check_int("Profiled.patience", self.patience, minimum=1)
        er.check_int("Profiled.min_steps", self.min_steps, minimum=1)
        er.check_int("Profiled.dense_max", self.dense_max, minimum=0)
        er.check_int("Profiled.cg_maxiter", self.cg_maxiter, minimum=1)
        er.check_choice("Profiled.u_solve", self.u_solve, ("auto", "collocation", "gphm"))
        if self.precision_growth is not None:
            er.check_real("Profiled.precision_growth", self.precision_growth, minimum=0.0)
        _check_optimizer(self.optimizer)


class Adam(eqx.Module):
    """The paper's joint optimisation: Adam on U, the kernel parameters and log tau1, log tau2.

    **Arguments:**

    - `steps`: optimiser steps (default 1000; the paper uses 1e5-1e6).
    - `learning_rate`, `optimizer`: optax optimiser (default Adam(`learning_rate`), lr 1e-2 as in the paper).
    - `lam_b`: boundary likelihood weight (paper: 200).
    - `jitter`: eps on each factor (paper: 1e-6).
    - `steps_per_call`: steps run inside one jitted `lax.scan` between host syncs (loss history and NaN check
      per chunk).
    - `time_limit`: optional wall-clock budget in seconds (compilation included); optimisation stops at the first
      chunk boundary past it and `info["steps_run"]` says how many steps ran (default `None`: run all `steps`).

    **Example:** `gp.solve(problem, grid=(200,), freq_scale=20.0, method=gp.Adam(steps=500))`
    """

    steps: int = eqx.field(static=True, default=1000)
    learning_rate: float = eqx.field(static=True, default=1e-2)
    optimizer: Any = eqx.field(static=True, default=None)
    lam_b: float = eqx.field(static=True, default=200.0)
    jitter: float = eqx.field(static=True, default=1e-6)
    steps_per_call: int = eqx.field(static=True, default=100)
    time_limit: float | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        er.check_int("Adam.steps", self.steps, minimum=1)
        if self.time_limit is not None:
            er.check_positive("Adam.time_limit", self.time_limit)
        er.check_positive("Adam.learning_rate", self.learning_rate)
        er.check_positive("Adam.lam_b", self.lam_b)
        er.check_positive("Adam.jitter", self.jitter)
        er.check_int("Adam.steps_per_call", self.steps_per_call, minimum=1)
        _check_optimizer(self.optimizer)


def _check_optimizer(opt):
    if opt is not None and not isinstance(opt, optax.GradientTransformation):
        raise TypeError(f"`optimizer` must be an optax GradientTransformation or None, got {type(opt).__name__}")


METHODS = {"profiled": Profiled, "adam": Adam}


@dataclasses.dataclass
class GPResult(TrainResult):
    """Result of [`solve`][sciml.gp.solve]: a [`sciml.train.TrainResult`][] whose `model` is the fitted
    [`Posterior`][sciml.gp.Posterior].

    **Fields:**

    - `model`: the fitted [`Posterior`][sciml.gp.Posterior].
    - `opt_state`: the optax state of the last step.
    - `history`: dicts per logged step: step, loss, criterion, precisions, seconds, and `rel_l2` (a monitor
      against `problem.exact`, never used for selection).
    - `losses`: the objective per outer/Adam step (NumPy array).
    - `step`: steps run.
    - `info`: dict with the selected step, initialisation, solve strategy and stop reason.
    - `final_error`: relative L2 error of the posterior mean against `problem.exact` on a uniform grid of the box
      (1001 / 250² / 41³ points in 1D / 2D / 3D, 12 per axis above; the same grids as
      [`pig.eval_points`][sciml.pig.eval_points]), or `None` for a problem without an exact solution.

    Shortcuts: `u_grid`, `kernels`, `log_tau1`, `log_tau2`, `kind`, `spec`, `jitter`, `predict`,
    `predict_grid`, `resolve`.
    """

    info: dict = dataclasses.field(default_factory=dict)
    final_error: float | None = None

    u_grid = property(lambda self: self.model.u_grid)
    kernels = property(lambda self: self.model.kernels)
    log_tau1 = property(lambda self: self.model.log_tau1)
    log_tau2 = property(lambda self: self.model.log_tau2)
    kind = property(lambda self: self.model.kind)
    spec = property(lambda self: self.model.spec)
    jitter = property(lambda self: self.model.jitter)

    def factors(self):
        return self.model.factors()

    def predict(self, x: Float[Array, "n d"]) -> Float[Array, " n"]:
        """Posterior mean at scattered points (see [`Posterior.predict`][sciml.gp.Posterior.predict]).

        **Arguments:**

        - `x`: points, shape `(n, d)` (reshape to `(n, 1)` in 1D).

        **Returns:** shape `(n,)`, the fit's dtype.
        """
        return self.model.predict(x)

    def predict_grid(self, coords: Sequence):
        """Posterior mean on a tensor grid (see [`Posterior.predict_grid`][sciml.gp.Posterior.predict_grid]).

        **Arguments:**

        - `coords`: one 1D coordinate array per axis.

        **Returns:** the grid of values, shape `(len(coords[0]), ..., len(coords[d-1]))`.
        """
        return self.model.predict_grid(coords)

    def resolve(self, problem, **kwargs) -> Posterior:
        """Re-solve another problem with the fitted kernel (pure JAX).

        **Arguments:**

        - `problem`: a [`sciml.pde.Problem`][] on the fitted box.
        - `**kwargs`: `params`, `newton_steps`, as in [`Posterior.resolve`][sciml.gp.Posterior.resolve].

        **Returns:** a [`Posterior`][sciml.gp.Posterior].
        """
        return self.model.resolve(problem, **kwargs)


_LEGACY = ("lam_b", "jitter", "inner_iterations", "theta_steps", "patience", "min_steps", "log_every",
           "max_log_tau", "dense_max", "cg_rtol", "cg_maxiter", "max_peaks")


def _method_object(method, steps, learning_rate, optimizer, legacy):
    if isinstance(method, str):
        if method not in METHODS:
            raise ValueError(f"method must be gp.Profiled(...), gp.Adam(...) or one of {tuple(METHODS)}, got {method!r}")
        method = METHODS[method]()
    if not isinstance(method, (Profiled, Adam)):
        raise TypeError(f"method must be gp.Profiled(...) or gp.Adam(...), got {type(method).__name__}")
    over = {}
    if steps is not None:
        over["steps"] = steps
    if learning_rate is not None:
        over["learning_rate"] = learning_rate
    if optimizer is not None:
        over["optimizer"] = optimizer
    for k, v in legacy.items():
        if k == "log_every":
            k = "steps_per_call" if isinstance(method, Adam) else None
        if k is None:
            continue
        if k not in {f.name for f in dataclasses.fields(method)}:
            raise TypeError(f"gp.solve: `{k}` does not apply to {type(method).__name__}")
        over[k] = v
    if not over:
        return method
    kw = {f.name: getattr(method, f.name) for f in dataclasses.fields(method)}
    kw.update(over)
    return type(method)(**kw)


def solve(
    problem,
    grid: Sequence[int] = (400,),
    kernel: str = "gaussian",
    n_components: int = 30,
    method: str | Profiled | Adam = "profiled",
    *,
    steps: int | None = None,
    learning_rate: float | None = None,
    optimizer: optax.GradientTransformation | None = None,
    freq_scale: float | Sequence[float] | None = None,
    init_kernels: Sequence[AxisKernel] | None = None,
    dtype=None,
    progress: bool = False,
    **options,
) -> GPResult:
    """Solve a PDE with the GP-HM spectral-mixture Gaussian process on a tensor collocation grid.

    **Arguments:**

    - `problem`: a [`sciml.pde.Problem`][] on a box with Dirichlet / Initial (and, for linear
      constant-coefficient operators, Neumann / Robin) conditions on whole faces.
    - `grid`: points per axis (every node is a collocation point), at least 3 each.
    - `kernel`: `"gaussian"` (GP-HM-GM) or `"student_t"` (GP-HM-StM, Matern-5/2 envelope).
    - `n_components`: Q, mixture components per axis (>= 1).
    - `method`: a solver object, [`gp.Profiled()`][sciml.gp.Profiled] (default) or [`gp.Adam()`][sciml.gp.Adam];
      the strings `"profiled"` / `"adam"` are accepted for those defaults.
    - `steps`, `learning_rate`, `optimizer`: override the solver object's fields of the same name.
    - `freq_scale`: the paper's F (float or one per axis): mu = linspace(0, 1, Q) F. `None` (default) initialises
      the frequencies from the periodogram of the source and boundary data (no hand-set F).
    - `init_kernels`: explicit per-axis initial [`AxisKernel`][sciml.gp.AxisKernel]s (overrides the above).
    - `dtype`: float64 by default (the solve runs under `jax.enable_x64(True)` if needed: the conditioned kernel
      solves need it -- sin(100x) reaches 1e-5 in float64 and 0.65 in float32); `jnp.float32` is honoured.
    - `progress`: print one line per logged step.
    - `**options`: deprecated aliases for solver-object fields (`patience=`, `lam_b=`, `jitter=`, ...) and
      `max_peaks` (most periodogram peaks used by the automatic initialisation).

    **Returns:** a [`GPResult`][sciml.gp.GPResult] (a `train.TrainResult`) with `u_grid`, `predict(x)`,
    `resolve(problem)`, `history`, `info`.

    **Example:**

    ```python
    from sciml import gp, pde
    res = gp.solve(pde.poisson_1d(case="sin100x"), grid=(400,))
    u = res.predict(x)                     # x of shape (n, 1)
    res2 = res.resolve(other_problem)      # pure JAX, differentiable w.r.t. the data
    ```
    """
    for k in options:
        if k not in _LEGACY:
            raise TypeError(f"gp.solve got an unexpected keyword argument {k!r}")
    max_peaks = options.pop("max_peaks", None)
    legacy = dict(options)
    if legacy:
        warnings.warn(f"gp.solve: {sorted(legacy)} as keywords are deprecated; set them on gp.Profiled(...) / "
                      "gp.Adam(...) and pass it as `method=`", DeprecationWarning, stacklevel=2)
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    er.check_int("n_components", n_components, minimum=1)
    if max_peaks is not None:
        er.check_int("max_peaks", max_peaks, minimum=0)
    solver = _method_object(method, steps, learning_rate, optimizer, legacy)
    grid = _check_grid(problem, grid)
    if freq_scale is not None:
        fs = np.atleast_1d(np.asarray(freq_scale, dtype=float))
        if fs.ndim != 1 or len(fs) not in (1, len(grid)) or not np.all(np.isfinite(fs)) or np.any(fs <= 0):
            raise ValueError(f"freq_scale must be a positive float or one per axis ({len(grid)}), got {freq_scale!r}")
    if init_kernels is not None:
        if len(init_kernels) != len(grid) or not all(isinstance(k, AxisKernel) for k in init_kernels):
            raise ValueError(f"init_kernels must be {len(grid)} gp.AxisKernel (one per axis)")
    if dtype is not None and jnp.dtype(dtype) not in (jnp.dtype(jnp.float32), jnp.dtype(jnp.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    if dtype is not None and jnp.dtype(dtype) == jnp.float64 and not jax.config.jax_enable_x64:
        raise ValueError("dtype=float64 needs jax_enable_x64 (or pass dtype=None, which enables it for the solve)")
    ctx = jax.enable_x64(True) if dtype is None and not jax.config.jax_enable_x64 else contextlib.nullcontext()
    with ctx:
        dt = jnp.float64 if dtype is None else jnp.dtype(dtype)
        setup = _setup(problem, grid, kernel, n_components, freq_scale, init_kernels, max_peaks, dt, solver)
        res = _fit_adam(setup, solver, progress) if isinstance(solver, Adam) else _fit_profiled(setup, solver, progress)
        res.final_error = _final_error(problem, res.model)
        return res


def _final_error(problem, post) -> float | None:
    """Relative L2 error of the posterior mean on a uniform grid of the box (None without an exact solution)."""
    if getattr(problem, "exact", None) is None:
        return None
    d = problem.ndim
    shape = default_eval_shape(d)
    coords = [np.linspace(lo, hi, n) for lo, hi, n in zip(problem.domain.lower, problem.domain.upper, shape)]
    pred = np.asarray(post.predict_grid(coords), np.float64).reshape(-1)
    pts = np.stack(np.meshgrid(*coords, indexing="ij"), -1).reshape(-1, d)
    # float64 when x64 is on (the default solve runs inside enable_x64), else float32 without a truncation warning
    ref = np.asarray(problem.exact_at(jnp.asarray(pts, jnp.result_type(float))), np.float64).reshape(-1)
    return float(rel_l2(pred, ref))


def _check_grid(problem, grid):
    from .. import pde

    if not isinstance(problem, pde.Problem):
        raise TypeError(f"problem must be a sciml.pde.Problem, got {type(problem).__name__}")
    if isinstance(grid, (int, np.integer)):
        raise TypeError(f"grid must be a sequence of points per axis, e.g. (400,), got the int {grid}")
    try:
        grid = tuple(grid)
    except TypeError:
        raise TypeError(f"grid must be a sequence of ints (points per axis), got {grid!r}") from None
    for n in grid:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"grid entries must be ints, got {grid!r}")
    grid = tuple(int(n) for n in grid)
    if len(grid) != problem.ndim:
        raise ValueError(f"grid must give one size per axis ({problem.ndim}), got {grid}")
    if min(grid) < 3:
        raise ValueError(f"grid needs at least 3 points per axis, got {grid}")
    return grid


@dataclasses.dataclass
class _Setup:
    spec: GridSpec
    residual_fn: Any
    kind: str
    kernels: tuple
    dtype: Any
    exact: Any
    info: dict


def _setup(problem, grid, kind, q, freq_scale, init_kernels, max_peaks, dtype, solver) -> _Setup:
    spec, residual_fn = grid_spec_and_residual(problem, grid, dtype)
    if not spec.faces:
        raise ValueError("gp.solve needs boundary data on at least one face (Dirichlet / Initial / Neumann / Robin).")
    info: dict[str, Any] = {"method": type(solver).__name__, "kernel": kind, "grid": grid}
    if init_kernels is not None:
        kernels = tuple(AxisKernel(*(jnp.asarray(a, dtype) for a in (k.log_w, k.mu, k.log_ls))) for k in init_kernels)
        info["init"] = "given"
    elif freq_scale is not None:
        fs = np.atleast_1d(np.asarray(freq_scale, float))
        fs = [float(fs[0])] * spec.ndim if len(fs) == 1 else [float(v) for v in fs]
        kernels = tuple(init_axis_kernel(q, f, dtype) for f in fs)
        info["init"] = f"linspace F={fs}"
    else:
        zero = jnp.zeros(spec.shape, dtype)
        f_grid = -np.asarray(residual_fn(zero, {k: zero for k in spec.keys})).reshape(spec.shape)
        kernels, peaks = [], []
        for j in range(spec.ndim):
            order = max(key_orders(k, spec.ndim)[j] for k in spec.keys) if spec.keys else 0
            # boundary data along axis j: faces normal to another axis carry axis j at position j - (axis < j)
            bnd = [(f[4], j - (f[0] < j)) for f in spec.faces if f[0] != j]
            kp, meta = auto_axis_kernel(f_grid, j, spec.spacing[j], spec.shape[j], q, order, max_peaks,
                                        boundary=bnd)
            kernels.append(AxisKernel(*(jnp.asarray(a, dtype) for a in (kp.log_w, kp.mu, kp.log_ls))))
            peaks.append(meta)
        kernels = tuple(kernels)
        info["init"] = "auto (periodogram)"
        info["auto_frequencies"] = peaks
    exact = None
    if getattr(problem, "exact", None) is not None:
        exact = jnp.asarray(jax.vmap(problem.exact)(jnp.asarray(spec.points, dtype)), dtype).reshape(spec.shape)
    return _Setup(spec, residual_fn, kind, kernels, dtype, exact, info)


def _rel_l2(u, exact):
    return float(jnp.linalg.norm((u - exact).ravel()) / jnp.linalg.norm(exact.ravel()))


def _strategy(setup: _Setup, solver: Profiled, linear: bool) -> str:
    spec = setup.spec
    derivative_faces = any(f[3] != 0.0 for f in spec.faces)
    if solver.u_solve != "gphm" and (derivative_faces or solver.u_solve == "collocation" or spec.size > solver.dense_max):
        if linear and us.separable_structure(spec) and us.coefficients_constant(setup.residual_fn, spec, setup.dtype):
            return "collocation"
        if solver.u_solve == "collocation":
            raise ValueError("gp.Profiled(u_solve='collocation') needs a linear PDE with constant coefficients and no "
                             "mixed derivatives")
    if derivative_faces:
        raise ValueError("gp.solve: Neumann/Robin faces are supported for linear PDEs with constant coefficients and "
                         "no mixed derivatives (exact Kronecker collocation solve); this problem is not one")
    if len(spec.boundary_index) == 0:
        raise ValueError("gp.solve needs Dirichlet data on at least one face for this problem.")
    return "dense" if spec.size <= solver.dense_max else "cg"


def _fit_profiled(setup: _Setup, solver: Profiled, progress: bool) -> GPResult:
    spec, residual_fn, kind, dtype = setup.spec, setup.residual_fn, setup.kind, setup.dtype
    info = setup.info
    linear = us.is_linear(residual_fn, spec, dtype)
    strategy = _strategy(setup, solver, linear)
    if solver.jitter is not None:
        jitter = solver.jitter
    elif dtype != jnp.float64:
        jitter = 1e-5
    else:  # measured, 1D 400 points: 1e-12 beats 1e-10 on all four paper cases with the exact QR solve
        jitter = 1e-12 if strategy == "dense" and spec.ndim == 1 else 1e-10
    inner = 1 if strategy == "collocation" else (solver.inner_iterations or (2 if linear else 4))
    if linear:
        residual_fn = us.affine_residual(residual_fn, spec, dtype)
    info.update(linear=linear, strategy=strategy)
    faces = [(a, s, al, be, jnp.asarray(v, dtype)) for a, s, al, be, v in spec.faces]
    g = flat_boundary(faces, dtype)
    opt = solver.optimizer if solver.optimizer is not None else optax.adam(solver.learning_rate)
    lam_b, cg = solver.lam_b, (solver.cg_rtol, solver.cg_maxiter)

    def loss_theta(theta, u, lt1, lt2):
        facs = axis_factors(kind, theta, spec, jitter)
        return neg_log_joint(u, lt1, lt2, facs, spec, residual_fn, lam_b)

    @jax.jit
    def outer(theta, opt_state, u, lt1, lt2, cap):
        facs = jax.lax.stop_gradient(axis_factors(kind, theta, spec, jitter))
        its = jnp.asarray(0)
        for _ in range(inner):
            used = (lt1, lt2)  # the precisions of the last U solve: the posterior (U, tau) pair stays consistent
            u, its = u_step(strategy, facs, spec, residual_fn, faces, u, lt1, lt2, lam_b, cg)
            lt1, lt2 = us.closed_form_taus(u, facs, spec, residual_fn, g, solver.max_log_tau)
            lt1, lt2 = jnp.minimum(lt1, cap[0]), jnp.minimum(lt2, cap[1])
        def theta_step(th, st):
            (val, aux), gr = jax.value_and_grad(loss_theta, has_aux=True)(th, u, lt1, lt2)
            upd, st = opt.update(gr, st, th, value=val, grad=gr, value_fn=lambda t: loss_theta(t, u, lt1, lt2)[0])
            return optax.apply_updates(th, upd), st, val, aux

        new_theta, opt_state, loss, aux = theta_step(theta, opt_state)
        u_out = u
        if strategy == "collocation":  # select on the function returned (latent mean), not on the raw node values
            u_out = latent_grid(u, latent_eigs(kind, theta, spec, dtype), jitter)
            aux = dict(aux, criterion=_latent_criterion(u, u_out, facs, spec, residual_fn, faces))
        if solver.theta_steps > 1:
            def more(carry, _):
                return theta_step(*carry)[:2], None

            (new_theta, opt_state), _ = jax.lax.scan(more, (new_theta, opt_state), None,
                                                     length=solver.theta_steps - 1)
        return new_theta, opt_state, u, lt1, lt2, loss, aux, its, used, u_out

    theta = setup.kernels
    opt_state = opt.init(theta)
    u = jnp.zeros(spec.shape, dtype)
    # Start from boundary data treated as (near-)exact and the equation weighted so that a relative residual of
    # 1e-4 costs O(1) per node (from tau1 = tau2 = 1 the precision updates can fall into a degenerate branch).
    zero = jnp.zeros(spec.shape, dtype)
    f_sq = float(jnp.sum(residual_fn(zero, {k: zero for k in spec.keys}) ** 2))
    lt1 = jnp.asarray(solver.max_log_tau, dtype)
    lt2 = jnp.asarray(min(math.log(spec.size / max(f_sq, 1e-300)) + 2 * math.log(1e4), solver.max_log_tau), dtype)
    # Selection: the GP-HM objective for the GP-HM-model solves. The collocation solve enforces the PDE at the
    # nodes off the constrained faces exactly, so its training criterion (boundary misfit + mean squared residual,
    # i.e. the residual on the face nodes the solve did not enforce) is a held-out consistency check; it tracks
    # the error where the objective, dominated by the ill-conditioned prior quadratic, is noisy. It is evaluated on
    # the function returned (the latent mean K C^{-1} U, `_latent_criterion`), which also sees the jitter part of U
    # (measured, neumann-robin-1d: criterion 2e-9 at the step with rel-L2 5e-6, 1e-5 at 2e-3 errors).
    key = "criterion" if strategy == "collocation" else "loss"
    history, losses = [], []
    best, since_best, step = None, 0, 0
    t0, c0 = time.perf_counter(), time.process_time()
    cap = jnp.full((2,), solver.max_log_tau, dtype)
    for step in range(1, solver.steps + 1):
        theta_used = theta
        theta, opt_state, u, lt1, lt2, loss, aux, its, used, u_out = outer(theta, opt_state, u, lt1, lt2, cap)
        if step == 1 and solver.precision_growth is not None:
            cap = jnp.minimum(jnp.stack([lt1, lt2]) + solver.precision_growth, solver.max_log_tau)
        rec = {"step": step, "loss": float(loss), "criterion": float(aux["criterion"]), "log_tau1": float(lt1),
               "log_tau2": float(lt2), "cg_iterations": int(its), "seconds": time.perf_counter() - t0,
               "cpu_seconds": time.process_time() - c0}
        losses.append(rec["loss"])
        if not (math.isfinite(rec["loss"]) and math.isfinite(rec["criterion"])):
            info["stopped"] = f"non-finite objective at outer step {step}; returning the best earlier iterate"
            break
        if setup.exact is not None:
            rec["rel_l2"] = _rel_l2(u_out, setup.exact)
        history.append(rec)
        if progress:
            print({k: (round(v, 6) if isinstance(v, float) else v) for k, v in rec.items()}, flush=True)
        if best is None or rec[key] < best[0]:
            best = (rec[key], step, u, theta_used, *used)
            since_best = 0
        else:
            since_best += 1
        if step >= solver.min_steps and since_best >= solver.patience:
            info["stopped"] = f"no improvement of the {key} for {solver.patience} outer steps"
            break
    if best is None:
        raise FloatingPointError("gp.solve: the objective was not finite at the first step (try float64 or a larger "
                                 "jitter).")
    _, best_step, u, theta_b, lt1, lt2 = best
    info.update(selected_step=best_step, selected_by=key, steps_run=step, seconds=time.perf_counter() - t0)
    post = make_posterior(u, theta_b, lt1, lt2, kind, spec, jitter, lam_b, strategy, 1 if linear else inner, cg)
    _check_grid_reproduction(post, info)
    return GPResult(model=post, opt_state=opt_state, history=history, losses=np.asarray(losses), step=step, info=info)


def _latent_criterion(u, s, facs, spec, residual_fn, faces):
    """Training criterion of the function the collocation fit returns, the latent mean f = k(., X) C^{-1} U
    (values `s` = K C^{-1} U at the nodes, derivatives D U): mean squared PDE residual over all nodes plus mean
    squared misfit of every face condition (alpha f + beta df/dn - g). The solve enforces the PDE and the face
    conditions on U exactly, so what remains is the face-node residual and the jitter part of U: a held-out
    consistency check of the kernel."""
    derivs = derivative_grids(u, facs, spec.keys, spec.ndim)
    h = residual_fn(s, derivs)
    mis, count = 0.0, 0
    for a, side, alpha, beta, vals in faces:
        e = 0 if side == 0 else spec.shape[a] - 1
        r = alpha * jnp.take(s, e, axis=a)
        if beta != 0.0:
            du = kron_apply([f.deriv_ops[1] if j == a else None for j, f in enumerate(facs)], u)
            r = r + beta * (-1.0 if side == 0 else 1.0) * jnp.take(du, e, axis=a)
        mis = mis + jnp.sum((r - vals) ** 2)
        count += int(np.prod(vals.shape))
    return mis / max(count, 1) + jnp.sum(h**2) / spec.size


REPRODUCTION_TOL = 1e-2


def _check_grid_reproduction(post: Posterior, info: dict) -> None:
    """Record how well the fitted kernel's interpolant k(x, X) C^{-1} U reproduces the grid solution U at the
    nodes, and warn when it does not (`predict` off the grid would then be unreliable). Before `predict` used the
    per-axis eigenbases (`_posterior.latent_coefficients`) and the collocation fit returned the latent mean, this
    measured 0.59 with Neumann data on both faces of an axis; now it is at rounding level (~1e-8)."""
    u = post.u_grid
    with post._x64():
        s = post.predict_grid(post.spec.coords)
        scale = float(jnp.max(jnp.abs(u)))
        rep = float(jnp.max(jnp.abs(s - u))) / scale if scale > 0 else 0.0
    info["grid_reproduction"] = rep
    if not math.isfinite(rep) or rep > REPRODUCTION_TOL:
        warnings.warn(
            f"gp.solve: the fitted kernel's interpolant differs from the grid solution at the grid nodes by "
            f"{rep:.2g} (relative, max norm; tolerance {REPRODUCTION_TOL:g}), so `predict` off the grid is "
            "unreliable; use `u_grid` on the grid (more steps, a finer grid, or Dirichlet data on one face of each "
            "axis may help).",
            RuntimeWarning, stacklevel=3)


def _fit_adam(setup: _Setup, solver: Adam, progress: bool) -> GPResult:
    from .. import train

    spec, residual_fn, kind, dtype = setup.spec, setup.residual_fn, setup.kind, setup.dtype
    info = setup.info
    if any(f[3] != 0.0 for f in spec.faces):
        raise ValueError("gp.Adam supports Dirichlet / Initial faces only; use gp.Profiled for Neumann / Robin")
    if len(spec.boundary_index) == 0:
        raise ValueError("gp.Adam needs Dirichlet data on at least one face.")
    opt = solver.optimizer if solver.optimizer is not None else optax.adam(solver.learning_rate)
    params = GPParams(u=jnp.zeros(spec.shape, dtype), kernels=setup.kernels, log_tau1=jnp.asarray(0.0, dtype),
                      log_tau2=jnp.asarray(0.0, dtype))

    def loss_fn(p, batch, key):
        # vector-only objective (Cholesky solves on U only; see `neg_log_joint_vec`): same value and gradients as
        # the operator objective; faster per step in 1D and 2D (benchmarks/results/gp-adamstep-cpu.json)
        loss, aux = neg_log_joint_vec(p.u, p.log_tau1, p.log_tau2, kind, p.kernels, spec, residual_fn,
                                      solver.lam_b, solver.jitter)
        return loss, {"criterion": aux["criterion"]}

    def monitor(step, p, metrics):
        out = {"log_tau1": float(p.log_tau1), "log_tau2": float(p.log_tau2)}
        if setup.exact is not None:
            out["rel_l2"] = _rel_l2(p.u, setup.exact)
        if progress:
            print({"step": step, **{k: v for k, v in metrics.items() if isinstance(v, (int, float))}, **out},
                  flush=True)
        return out

    t0 = time.perf_counter()
    k = solver.steps_per_call
    try:
        fit = train.fit(loss_fn, params, opt, steps=solver.steps, log_every=k, steps_per_call=k, progress=False,
                        callback=monitor, description="gp.Adam", time_limit=solver.time_limit)
    except train.TrainingError as e:  # keep the last finite iterate, as a result rather than an exception
        info["stopped"] = f"non-finite objective at step {e.step}; returning the last finite iterate"
        fit = TrainResult(model=e.model, opt_state=None, history=[], losses=np.zeros(0), step=int(e.step or 0))
    info.update(steps_run=fit.step, seconds=time.perf_counter() - t0, strategy="joint")
    p = fit.model
    post = Posterior(p.u, p.kernels, p.log_tau1, p.log_tau2, kind, spec, solver.jitter, solver.lam_b,
                     "dense" if spec.size <= 2048 else "cg", 4)
    _check_grid_reproduction(post, info)
    return GPResult.from_result(fit, model=post, info=info)
