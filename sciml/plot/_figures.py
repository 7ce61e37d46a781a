"""Figure builders for `sciml.plot` (matplotlib's object API: `Figure`, no pyplot, no global backend)."""

from __future__ import annotations

import os
import pathlib
import sys
from typing import Any, Mapping, Sequence

import numpy as np
from jaxtyping import ArrayLike, Float, Int

from .._errors import check_int, check_ndim

_HINT = 'sciml.plot needs matplotlib; install it with `pip install "sciml[plot]"` (or `pip install matplotlib`).'


def _figure(**kwargs):
    try:
        from matplotlib.figure import Figure
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(_HINT) from e
    return Figure(**kwargs)


def _check_path(path) -> pathlib.Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a file path (str or os.PathLike), got {type(path).__name__}.")
    p = pathlib.Path(path)
    if p.is_dir():
        raise ValueError(f"`path` must be a file path, but {str(p)!r} is a folder.")
    if not p.parent.is_dir():
        raise ValueError(f"`path`'s folder {str(p.parent)!r} does not exist; create it first.")
    return p


def save_figure(fig, path, title: str | None = None, dpi: int = 110):
    """Add an optional super-title, tighten the layout and write `fig` to `path` (PNG or any format matplotlib
    infers from the suffix).

    **Arguments:**

    - `fig`: a `matplotlib.figure.Figure` (a pyplot figure is closed after saving).
    - `path`: the output file; its folder must exist.
    - `title`: super-title (none when `None` or empty).
    - `dpi`: resolution in dots per inch.

    **Returns:** `path`.

    **Example:** `plot.save_figure(fig, "out/solution.png", title="u(x, t)")`
    """
    p = _check_path(path)
    check_int("dpi", dpi, minimum=1)
    if not hasattr(fig, "savefig"):
        raise TypeError(f"`fig` must be a matplotlib Figure, got {type(fig).__name__}.")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(p, dpi=dpi)
    if "matplotlib.pyplot" in sys.modules:  # release a pyplot-managed figure (a no-op for a plain Figure)
        sys.modules["matplotlib.pyplot"].close(fig)
    return path


def _histories(histories: Mapping[str, Any]) -> dict[str, np.ndarray]:
    if not isinstance(histories, Mapping) or not histories:
        raise TypeError("`histories` must be a non-empty mapping name -> residual history (1-D array, or a dict "
                        "with a 'history' entry).")
    out = {}
    for name, h in histories.items():
        arr = np.asarray(h["history"] if isinstance(h, Mapping) else h, dtype=float)
        if arr.ndim != 1:
            raise ValueError(f"`histories[{name!r}]` must be a 1-D residual history, got shape {arr.shape}.")
        out[str(name)] = arr[np.isfinite(arr)]
    return out


def residual_histories(histories: Mapping[str, Any], path, *, rtol: float | None = None, title: str | None = None):
    """Semilog plot of relative residual histories of several solvers (as `linalg.Solution.residual_norms`).

    **Arguments:**

    - `histories`: name -> 1-D history (NaN padding is dropped), or name -> dict with a `"history"` entry
      (and optionally `"iterations"`, shown in the legend).
    - `path`: output PNG; its folder must exist.
    - `rtol`: draw the tolerance as a dashed line (none when `None`).
    - `title`: figure title.

    **Returns:** `path`.

    **Example:** `plot.residual_histories({"CG": sol.residual_norms}, "cg.png", rtol=1e-6)`
    """
    hist = _histories(histories)
    fig = _figure(figsize=(6, 4))
    ax = fig.subplots()
    for name, h in hist.items():
        its = histories[name].get("iterations") if isinstance(histories[name], Mapping) else None
        ax.semilogy(h, label=f"{name} ({its} it)" if its is not None else name)
    if rtol is not None:
        ax.axhline(float(rtol), color="k", lw=0.5, ls="--")
    ax.set_xlabel("iteration")
    ax.set_ylabel("relative residual ‖r‖/‖b‖")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return save_figure(fig, path, title, dpi=120)


def pressure_slice(value: Float[ArrayLike, "*grid"], flags: Int[ArrayLike, "*grid"], path, *, axis: int = 1,
                   index: int | None = None, histories: Mapping[str, Any] | None = None, rtol: float | None = None,
                   title: str | None = None):
    """A slice of a 3-D (or the whole of a 2-D) flag-grid solution, non-FLUID cells greyed out, optionally next
    to the solvers' convergence curves.

    **Arguments:**

    - `value`: the solution on the grid (e.g. `linalg.Solution.value`), 2-D or 3-D.
    - `flags`: the flag grid of the same shape (`linalg.FLUID`, `SOLID`, `AIR`).
    - `path`: output PNG; its folder must exist.
    - `axis`: (3-D) the axis normal to the slice.
    - `index`: (3-D) the slice index along `axis` (default: the middle).
    - `histories`: optional name -> residual history, drawn in a second panel as in [`residual_histories`][].
    - `rtol`: tolerance line in the convergence panel.
    - `title`: figure title.

    **Returns:** `path`.

    **Example:** `plot.pressure_slice(sol.value, flags, "p.png", histories={"CG": sol.residual_norms})`
    """
    v = np.asarray(value, dtype=float)
    f = np.asarray(flags)
    check_ndim("value", v, (2, 3))
    if f.shape != v.shape:
        raise ValueError(f"`flags` must have the shape of `value` {v.shape}, got {f.shape}.")
    hist = _histories(histories) if histories is not None else None
    if v.ndim == 3:
        check_int("axis", axis, minimum=0, maximum=2)
        index = v.shape[axis] // 2 if index is None else check_int("index", index, minimum=0,
                                                                    maximum=v.shape[axis] - 1)
        v, f = np.take(v, index, axis=axis), np.take(f, index, axis=axis)
    fig = _figure(figsize=(10 if hist else 5, 4))
    axes = fig.subplots(1, 2 if hist else 1, squeeze=False)[0]
    from ..linalg import FLUID

    masked = np.ma.masked_where(f.T != FLUID, v.T)
    im = axes[0].imshow(masked, origin="lower", cmap="RdBu_r", extent=(0, 1, 0, 1))
    axes[0].set_facecolor("0.75")
    axes[0].set_title("solution on FLUID cells (grey: SOLID/AIR)", fontsize=9)
    fig.colorbar(im, ax=axes[0], shrink=0.8)
    if hist:
        for name, h in hist.items():
            axes[1].semilogy(h, label=name)
        if rtol is not None:
            axes[1].axhline(float(rtol), color="k", lw=0.5, ls="--")
        axes[1].set_xlabel("iteration")
        axes[1].set_ylabel("relative residual")
        axes[1].set_title("convergence", fontsize=9)
        axes[1].legend()
    return save_figure(fig, path, title)


def spacetime_rollouts(models: Mapping[str, Any], ds, path, *, index: Sequence[int] | None = None,
                       title: str | None = None):
    """Truth vs each model's autoregressive rollout as space-time images, one row per trajectory (1-D data sets
    of `sciml.cape`).

    **Arguments:**

    - `models`: name -> trained `sciml.cape` model (rolled out with `cape.predict`).
    - `ds`: a 1-D `cape.Dataset`.
    - `path`: output PNG; its folder must exist.
    - `index`: trajectory indices to show (default: the first trajectory of each distinct parameter value).
    - `title`: figure title.

    **Returns:** `path`.

    **Example:** `plot.spacetime_rollouts({"CAPE-FNO": model}, test_set, "rollouts.png")`
    """
    from .. import cape

    if not isinstance(models, Mapping) or not models:
        raise TypeError("`models` must be a non-empty mapping name -> model.")
    if not isinstance(ds, cape.Dataset):
        raise TypeError(f"`ds` must be a sciml.cape.Dataset, got {type(ds).__name__}.")
    if np.ndim(ds.u) != 4:
        raise ValueError(f"`ds` must hold 1-D data (u of shape (n, frames, channels, x)), got {np.shape(ds.u)}.")
    params = np.asarray(ds.params)[:, 0]
    if index is None:
        index = [int(np.flatnonzero(params == v)[0]) for v in np.unique(params)]
    index = [check_int("index[i]", i, minimum=0, maximum=len(ds) - 1) for i in index]
    if not index:
        raise ValueError("`index` must name at least one trajectory.")
    sub = ds.subset(np.asarray(index))
    preds = {name: np.asarray(cape.predict(m, sub))[:, :, 0] for name, m in models.items()}
    truth = np.asarray(sub.u)[:, :, 0]
    cols = 1 + len(models)
    fig = _figure(figsize=(2.6 * cols, 2.0 * len(index)))
    axes = fig.subplots(len(index), cols, squeeze=False)
    extent = [float(sub.x[0]), float(sub.x[-1]), float(sub.t[-1]), float(sub.t[0])]
    for r in range(len(index)):
        vmax = float(np.abs(truth[r]).max())
        for c, (name, img) in enumerate([("truth", truth[r])] + [(n, p[r]) for n, p in preds.items()]):
            ax = axes[r, c]
            ax.imshow(img, aspect="auto", cmap="RdBu_r", vmin=-vmax, vmax=vmax, extent=extent)
            if r == 0:
                ax.set_title(name, fontsize=9)
            if c == 0:
                label = sub.param_names[0] if sub.param_names else "param"
                ax.set_ylabel(f"{label}={float(sub.params[r, 0]):g}\nt", fontsize=8)
            ax.tick_params(labelsize=6)
    return save_figure(fig, path, title)


def particle_frames(truth: Float[ArrayLike, "steps n 2"], pred: Float[ArrayLike, "steps q 2"], path,
                    frames: Sequence[int], *, title_pred: str = "GIOROM rollout",
                    title: str | None = None):
    """A two-row strip of 2-D particle snapshots: ground truth on top, a prediction below (`sciml.giorom`).

    **Arguments:**

    - `truth`: (steps, N, 2) positions.
    - `pred`: (steps, Q, 2) predicted positions (Q may differ from N).
    - `path`: output PNG; its folder must exist.
    - `frames`: the step indices to show.
    - `title_pred`: row label of the prediction.
    - `title`: figure title.

    **Returns:** `path`.

    **Example:** `plot.particle_frames(truth, pred, "jelly.png", [0, 10, 20])`
    """
    truth, pred = np.asarray(truth), np.asarray(pred)
    check_ndim("truth", truth, 3)
    check_ndim("pred", pred, 3)
    if truth.shape[-1] != 2 or pred.shape[-1] != 2:
        raise ValueError(f"`truth` and `pred` must hold 2-D positions (last axis 2), got {truth.shape}, "
                         f"{pred.shape}.")
    n = min(len(truth), len(pred))
    frames = [check_int("frames[i]", f, minimum=0, maximum=n - 1) for f in frames]
    if not frames:
        raise ValueError("`frames` must name at least one step.")
    fig = _figure(figsize=(2.2 * len(frames), 4.6))
    axes = fig.subplots(2, len(frames), squeeze=False)
    for j, f in enumerate(frames):
        for i, (data, lab) in enumerate(((truth, "ground truth"), (pred, title_pred))):
            ax = axes[i, j]
            ax.scatter(data[f][:, 0], data[f][:, 1], s=0.3, c="tab:blue" if i == 0 else "tab:orange",
                       rasterized=True)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(lab, fontsize=8)
            if i == 0:
                ax.set_title(f"step {f + 1}", fontsize=8)
    return save_figure(fig, path, title)


def gaussian_features(result, problem, path, *, initial_model=None, n: int = 120, title: str | None = None):
    """A 2-D `sciml.pig` fit: solution, pointwise error against the exact solution, and the Gaussians' centres
    and 1-sigma ellipses before (optional) and after training.

    **Arguments:**

    - `result`: the result of `pig.train` (its `predict` and `model`).
    - `problem`: the 2-D `pde.Problem` it was trained on, with an exact solution.
    - `path`: output PNG; its folder must exist.
    - `initial_model`: the model before training, to show where the Gaussians started.
    - `n`: evaluation grid points per axis.
    - `title`: figure title.

    **Returns:** `path`.

    **Example:** `plot.gaussian_features(res, pde.helmholtz_2d(1, 4), "pig.png")`
    """
    import jax.numpy as jnp

    check_int("n", n, minimum=2)
    box = problem.domain
    if len(box.lower) != 2:
        raise ValueError(f"`problem` must be 2-D, got a {len(box.lower)}-D domain.")
    if getattr(problem, "exact", None) is None:
        raise ValueError("`problem` must have an exact solution (the error panel needs it).")
    from matplotlib.patches import Ellipse, Rectangle

    xs = np.asarray(box.grid_points((n, n)).reshape(-1, 2))
    pred = np.asarray(result.predict(xs)).reshape(n, n)
    exact = np.asarray(problem.exact_at(jnp.asarray(xs))).reshape(n, n)
    extent = [box.lower[0], box.upper[0], box.lower[1], box.upper[1]]
    emb_list = [("initial", initial_model), ("trained", result.model)]
    emb_list = [(k, getattr(m, "model", m) if not hasattr(m, "embedding") else m) for k, m in emb_list]  # Corrected
    emb_list = [(k, m) for k, m in emb_list if m is not None and hasattr(m, "embedding")]
    cols = 2 + len(emb_list)
    fig = _figure(figsize=(3.4 * cols, 3.2))
    axes = fig.subplots(1, cols)
    im = axes[0].imshow(pred.T, origin="lower", extent=extent, cmap="RdBu_r")
    axes[0].set_title("PIG solution")
    fig.colorbar(im, ax=axes[0], fraction=0.046)
    im = axes[1].imshow(np.abs(pred - exact).T, origin="lower", extent=extent, cmap="magma")
    axes[1].set_title("|error|")
    fig.colorbar(im, ax=axes[1], fraction=0.046)
    for ax, (label, m) in zip(axes[2:], emb_list):
        emb = m.embedding
        mu = np.asarray(m.normaliser.inverse(emb.means.reshape(-1, 2)))
        sig = np.asarray(emb.sigma.reshape(-1, 2)) / np.asarray(m.normaliser.scale(jnp.float32))
        for c, s in zip(mu[:400], sig[:400]):
            ax.add_patch(Ellipse(c, 2 * s[0], 2 * s[1], fill=False, lw=0.4, alpha=0.5))
        ax.scatter(mu[:, 0], mu[:, 1], s=2, c="k")
        ax.set_xlim(extent[0] - 0.2, extent[1] + 0.2)
        ax.set_ylim(extent[2] - 0.2, extent[3] + 0.2)
        ax.add_patch(Rectangle((extent[0], extent[2]), extent[1] - extent[0], extent[3] - extent[2],
                               fill=False, ec="r", lw=0.8))
        ax.set_aspect("equal")
        ax.set_title(f"Gaussians, {label} (1-sigma)")
    for ax in axes:
        ax.tick_params(labelsize=7)
    return save_figure(fig, path, title)
