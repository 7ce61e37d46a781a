"""Shared helpers for `benchmarks/<name>.py`: the api.md results schema, device labels, a table."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import pathlib
import platform
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


def _device_slug() -> str:
    dev = jax.devices()[0]
    if dev.platform == "cpu":
        return "cpu"
    kind = getattr(dev, "device_kind", dev.platform).lower()
    for name in ("h200", "h100", "a100", "l4", "v100"):
        if name in kind:
            return name
    return dev.platform


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return "-" if v is None else str(v)


def format_table(cases: Sequence[Case]) -> str:
    """Render cases as a Markdown table."""
    rows = ["| case | metric | value | target | passed | seconds | paper |", "|---|---|---|---|---|---|---|"]
    for c in cases:
        rows.append(
            f"| {c.case} | {c.metric} | {_fmt(c.value)} | {_fmt(c.target)} | {_fmt(c.passed)} | "
            f"{_fmt(c.seconds)} | {_fmt(c.paper)} |"
        )
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
) -> pathlib.Path:
    """Write `<out_dir>/<name>-<device>.json` in the api.md schema and print a table.

    **Arguments:**

    - `name`: benchmark name (`"linalg"`, `"gp"`, ...).
    - `cases`: the measured `Case`s.
    - `out_dir`: output folder (created if needed).
    - `size`: the `--size` the benchmark ran with (recorded; a `gpu` size on CPU is suffixed in the file name).
    - `extra`: more top-level fields to record.

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
    print(format_table(cases))
    print(f"wrote {path}")
    return path
