"""sciml.plot: each figure is written where asked, bad inputs name the argument, a missing matplotlib says how
to install it."""

import sys

import numpy as np
import pytest

from sciml import linalg, plot


def _flags(n=12):
    f = np.zeros((n, n, n), np.int8)
    f[4:8, 4:8, 4:8] = linalg.SOLID
    f[:, :, -2:] = linalg.AIR
    return f


def test_pressure_slice_and_histories(tmp_path):
    f = _flags()
    v = np.where(f == linalg.FLUID, np.random.default_rng(0).normal(size=f.shape), 0.0)
    h = np.r_[1.0, 0.1, 1e-3, 1e-7, np.nan, np.nan]
    p = plot.pressure_slice(v, f, tmp_path / "p.png", histories={"CG": h}, rtol=1e-6, title="t")
    assert p == tmp_path / "p.png" and p.stat().st_size > 5_000
    q = plot.residual_histories({"CG": {"history": h, "iterations": 3}, "PCG": h[:3]}, tmp_path / "r.png")
    assert q.stat().st_size > 5_000
    assert plot.pressure_slice(v[:, 3], f[:, 3], tmp_path / "p2.png").stat().st_size > 2_000


def test_particle_frames(tmp_path):
    x = np.random.default_rng(0).uniform(0.2, 0.8, size=(5, 50, 2))
    assert plot.particle_frames(x, x[:, :20], tmp_path / "f.png", [0, 4]).stat().st_size > 2_000


@pytest.mark.parametrize("call, match", [
    (lambda d: plot.pressure_slice(np.zeros(4), np.zeros(4), d / "a.png"), "`value`"),
    (lambda d: plot.pressure_slice(np.zeros((4, 4)), np.zeros((5, 4)), d / "a.png"), "`flags`"),
    (lambda d: plot.pressure_slice(np.zeros((4, 4, 4)), np.zeros((4, 4, 4)), d / "a.png", index=9), "`index`"),
    (lambda d: plot.pressure_slice(np.zeros((4, 4, 4)), np.zeros((4, 4, 4)), d / "no" / "a.png"), "`path`"),
    (lambda d: plot.pressure_slice(np.zeros((4, 4, 4)), np.zeros((4, 4, 4)), d), "`path`"),
    (lambda d: plot.residual_histories({}, d / "a.png"), "`histories`"),
    (lambda d: plot.residual_histories({"a": np.zeros((2, 2))}, d / "a.png"), "`histories"),
    (lambda d: plot.particle_frames(np.zeros((3, 4, 3)), np.zeros((3, 4, 3)), d / "a.png", [0]), "`truth`"),
    (lambda d: plot.particle_frames(np.zeros((3, 4, 2)), np.zeros((3, 4, 2)), d / "a.png", [3]), "`frames"),
    (lambda d: plot.particle_frames(np.zeros((3, 4, 2)), np.zeros((3, 4, 2)), d / "a.png", []), "`frames`"),
    (lambda d: plot.save_figure(object(), d / "a.png"), "`fig`"),
    (lambda d: plot.save_figure(None, 3), "`path`"),
])
def test_bad_inputs_name_the_argument(call, match, tmp_path):
    with pytest.raises((TypeError, ValueError), match=match):
        call(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_missing_matplotlib_hint(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"sciml\[plot\]"):
        plot.residual_histories({"CG": [1.0, 0.1]}, tmp_path / "a.png")


def test_demo_figure_degrades_only_for_missing_matplotlib(tmp_path):
    # the demo's figure helper: a missing matplotlib gives a note in the report; any other failure propagates
    import pytest

    from sciml._demo import PLOT_SKIPPED, figure

    def no_mpl(*a, **k):
        raise ImportError('sciml.plot needs matplotlib; install it with `pip install "sciml[plot]"`')

    def broken(*a, **k):
        raise ImportError("No module named 'somethingelse'")

    assert figure(no_mpl, alt="x") == PLOT_SKIPPED
    with pytest.raises(ImportError, match="somethingelse"):
        figure(broken, alt="x")
    assert figure(lambda p: p, tmp_path / "a.png", alt="A") == "![A](a.png)"
