"""Shared helpers for `benchmarks/<name>.py`: the api.md results schema, device labels, a table, and the
registry that `sciml bench` runs (registered names only, never a file path)."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import pathlib
import platform
import runpy
import sys
from typing import Any, Sequence

import jax


@dataclasses.dataclass
class Case:
    """One measured benchmark case (api.md schema).

    **Arguments:**

    - `case`: short identifier, e.g. `"poisson1d-sin100x"`.
    - `metric`: what `value` measures, e.g. `"rel_l2"`, `"iterations"`, `"seconds"`.
    - `value`: the measured number (never a number that was not measured).
    - `target`: our goal for it (or `None`).
    - `passed`: whether `value` meets `target` (or `None` when there is no target).
    - `seconds`: wall time of the case.
    - `paper`: the paper's figure for comparison (or `None`).
    - `notes`: free text.
    """

    case: str
    metric: str
    value: Any
    target: Any = None
    passed: bool | None = None
    seconds: float | None = None
    paper: Any = None
    notes: str = ""
    extra: dict = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        extra = d.pop("extra")
        d.update(extra)
        return d


def device_label() -> str:
    """A short label of the default JAX device, e.g. `"cpu (2 cores)"` or `"NVIDIA H100 80GB HBM3"`."""
    dev = jax.devices()[0]
    if dev.platform == "cpu":
        return f"cpu ({os.cpu_count()} cores)"
    return getattr(dev, "device_kind", dev.platform)


def _versions() -> dict:
    """Versions of the packages a result depends on (missing ones are left out)."""
    from importlib import metadata

    out = {}
    for name in ("jax", "jaxlib", "equinox", "optax", "lineax", "numpy", "scipy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def _device_slug() -> str:
    dev = jax.devices()[0]
    if dev.platform == "cpu":
        return "cpu"
    kind = getattr(dev, "device_kind", dev.platform).lower()
    for name in ("h200", "h100", "a100", "l4", "v100"):
        if name in kind:
            return name
    return dev.platform


def _fmt(v: Any, missing: str = "-") -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return missing if v is None else str(v)


def format_table(cases: Sequence[Case], missing: str = "-") -> str:
    """Render cases as a Markdown table (`missing` stands for absent values)."""
    rows = ["| case | metric | value | target | passed | seconds | paper |", "|---|---|---|---|---|---|---|"]
    for c in cases:
        rows.append(" ".join(["|"] + [f"{_fmt(v, missing)} |" for v in (
            c.case, c.metric, c.value, c.target, c.passed, c.seconds, c.paper)]))
    return "\n".join(rows)


def _cores_used():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count()


def write_results(
    name: str,
    cases: Sequence[Case],
    out_dir: str | os.PathLike = "benchmarks/results",
    size: str = "small",
    extra: dict | None = None,
    echo: bool = True,
) -> pathlib.Path:
    """Write `<out_dir>/<name>-<device>.json` in the api.md schema and print a table.

    **Arguments:**

    - `name`: benchmark name (`"linalg"`, `"gp"`, ...).
    - `cases`: the measured `Case`s.
    - `out_dir`: output folder (created if needed).
    - `size`: the `--size` the benchmark ran with (recorded; a `gpu` size on CPU is suffixed in the file name).
    - `extra`: more top-level fields to record.
    - `echo`: print the table and the path (off for the intermediate writes of a long run).

    **Returns:** the path written.
    """
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    slug = _device_slug()
    fname = f"{name}-{slug}.json" if (size == "small" or slug != "cpu") else f"{name}-{slug}-{size}.json"
    if slug != "cpu" and size not in ("gpu",):
        fname = f"{name}-{slug}-{size}.json"
    payload = {
        "benchmark": name,
        "device": device_label(),
        "jax": jax.__version__,
        "versions": _versions(),
        "date": datetime.date.today().isoformat(),
        "size": size,
        "python": platform.python_version(),
        "cores_used": _cores_used(),
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "cases": [c.to_dict() for c in cases],
    }
    if extra:
        payload.update(extra)
    path = out / fname
    path.write_text(json.dumps(payload, indent=1, default=float) + "\n")
    if echo:
        print(format_table(cases))
        print(f"wrote {path}")
    return path


# name -> (one-line description, the --size values its script accepts). `sciml bench` runs only these; the
# scripts ship in the wheel as `sciml/_benchmarks/<name>.py` (pyproject force-include) and live in
# `benchmarks/<name>.py` in a source checkout (tests/test_wheel.py checks the three lists agree).
BENCHMARKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "linalg": ("Poisson CG / Jacobi-PCG vs scipy and pyamg; Kronecker vs dense", ("tiny", "small", "gpu")),
    "dcdm": ("learned conjugate directions vs CG, Jacobi-PCG, MG-PCG and pyamg", ("small", "gpu")),
    "gp": ("GP-HM accuracy and wall time on the paper's Poisson/Allen-Cahn/advection cases", ("small", "gpu")),
    "pig": ("PIG vs an MLP PINN on Helmholtz (1,4) and flow mixing", ("small", "gpu")),
    "cape": ("Base FNO vs CAPE-FNO on multi-viscosity Burgers, seen vs unseen parameters", ("small", "gpu")),
    "giorom": ("GIOROM vs GNS on 2D MLS-MPM water and jelly", ("tiny", "small", "gpu")),
    "defaults": ("pig, the MLP PINN and gp with default settings on 11 problems (issue: defaults that work)",
                 ("quick", "small")),
}


def benchmark_path(name: str) -> pathlib.Path:
    """The script of the registered benchmark `name`: `sciml/_benchmarks/<name>.py` in an installed wheel,
    `benchmarks/<name>.py` in a source checkout. Raises `ValueError` for a name that is not registered."""
    if not isinstance(name, str) or name not in BENCHMARKS:
        raise ValueError(f"`name` must be a registered benchmark, one of {sorted(BENCHMARKS)}; got {name!r} "
                         "(sciml bench runs registered benchmarks only, not file paths).")
    here = pathlib.Path(__file__).resolve().parent
    for path in (here / "_benchmarks" / f"{name}.py", here.parent / "benchmarks" / f"{name}.py"):
        if path.is_file():
            return path
    raise FileNotFoundError(f"the script of benchmark {name!r} is missing from this installation "
                            f"(looked for {here / '_benchmarks' / (name + '.py')}); reinstall sciml.")


def run_benchmark(name: str, size: str = "small", out: str | os.PathLike = "benchmarks/results",
                  extra_args: Sequence[str] = ()) -> int:
    """Run the registered benchmark `name` in this process, writing its JSON results under `out` only.

    **Arguments:**

    - `name`: a key of `BENCHMARKS`.
    - `size`: one of the sizes the benchmark accepts (`BENCHMARKS[name][1]`).
    - `out`: results folder (created if needed; must not be an existing file).
    - `extra_args`: further command-line options for the script (e.g. `["--only", "sin100x"]`).

    **Returns:** the script's exit status (0 on success).
    """
    path = benchmark_path(name)
    sizes = BENCHMARKS[name][1]
    if size not in sizes:
        raise ValueError(f"`size` must be one of {list(sizes)} for benchmark {name!r}, got {size!r}.")
    out = pathlib.Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"`out` must be a folder, but {str(out)!r} is an existing file.")
    argv = [str(path), "--size", size, "--out", str(out), *map(str, extra_args)]
    old = sys.argv
    try:
        sys.argv = argv
        runpy.run_path(str(path), run_name="__main__")
    except SystemExit as e:  # argparse errors and explicit exits of the script
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv = old
    return 0


RESULTS_MARK = "## Benchmark results"


def results_markdown(results_dir: str | os.PathLike) -> str:
    """The README's results section built from every `*.json` results file in `results_dir` (api.md schema).

    **Arguments:**

    - `results_dir`: a folder of results files written by `write_results`.

    **Returns:** Markdown text starting with the `## Benchmark results` heading.
    """
    results_dir = pathlib.Path(results_dir)
    if not results_dir.is_dir():
        raise ValueError(f"`results_dir` must be an existing folder, got {str(results_dir)!r}.")
    out = [RESULTS_MARK, "", "Built from `benchmarks/results/*.json` by `python benchmarks/make_table.py`. Every "
           "number was measured by the benchmark scripts on the device named; misses are shown as misses "
           "(passed = False).", ""]
    for path in sorted(results_dir.glob("*.json")):
        data = json.loads(path.read_text())
        cores = f", {data['cores_used']} core(s) used" if data.get("cores_used") else ""
        cases = [Case(**{k: c.get(k) for k in ("case", "metric", "value", "target", "passed", "seconds", "paper")})
                 for c in data["cases"]]
        out += [f"### {data['benchmark']} — {data['device']}{cores} ({path.name}, jax {data.get('jax')}, "
                f"{data.get('date')})", "", format_table(cases, missing="–"), ""]
    return "\n".join(out)
