"""Rebuild the README's results section from benchmarks/results/*.json.

    python benchmarks/make_table.py          # rewrites README.md below the '## Benchmark results' heading
"""

from __future__ import annotations

import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
MARK = "## Benchmark results"


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.3g}"
    if v is None:
        return "–"
    return str(v)


def build() -> str:
    out = [MARK, "", "Built from `benchmarks/results/*.json` by `python benchmarks/make_table.py`. Every number was "
           "measured by the benchmark scripts on the device named; misses are shown as misses (passed = False).", ""]
    for path in sorted((ROOT / "benchmarks" / "results").glob("*.json")):
        data = json.loads(path.read_text())
        cores = f", {data['cores_used']} core(s) used" if data.get("cores_used") else ""
        out += [f"### {data['benchmark']} — {data['device']}{cores} ({path.name}, jax {data.get('jax')}, {data.get('date')})",
                "", "| case | metric | value | target | passed | seconds | paper |", "|---|---|---|---|---|---|---|"]
        for c in data["cases"]:
            out.append(f"| {c['case']} | {c['metric']} | {_fmt(c.get('value'))} | {_fmt(c.get('target'))} | "
                       f"{_fmt(c.get('passed'))} | {_fmt(c.get('seconds'))} | {_fmt(c.get('paper'))} |")
        out.append("")
    return "\n".join(out)


def main():
    readme = ROOT / "README.md"
    text = readme.read_text()
    head = text.split(MARK)[0].rstrip() + "\n\n"
    readme.write_text(head + build() + "\n")
    print(f"updated {readme}")


if __name__ == "__main__":
    main()
