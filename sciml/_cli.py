"""The `sciml` command: `info`, `demo`, `bench NAME`."""

from __future__ import annotations

import argparse
import importlib
import pathlib
import platform
import runpy
import sys
import time
import traceback

DEMO_PARTS = ("core", "dcdm", "gp", "pig", "cape", "giorom")


def _info(args) -> int:
    import jax

    import sciml

    print(f"sciml {sciml.__version__}")
    print(f"python {platform.python_version()} ({platform.machine()})")
    for pkg in ("jax", "jaxlib", "equinox", "optax", "flax", "lineax", "diffrax", "orbax-checkpoint", "numpy",
                "scipy"):
        try:
            print(f"{pkg} {importlib.metadata.version(pkg)}")
        except importlib.metadata.PackageNotFoundError:
            print(f"{pkg} (not installed)")
    print(f"devices: {jax.devices()}")
    print(f"x64 enabled: {jax.config.jax_enable_x64}")
    return 0


def _demo(args) -> int:
    import jax

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    parts = DEMO_PARTS if args.only is None else tuple(p.strip() for p in args.only.split(","))
    unknown = [p for p in parts if p not in DEMO_PARTS]
    if unknown:
        print(f"unknown demo part(s) {unknown}; choose from {DEMO_PARTS}", file=sys.stderr)
        return 2
    sections, failures, timings = [], [], []
    for part in parts:
        print(f"== sciml demo: {part} ==", flush=True)
        t0 = time.perf_counter()
        try:
            if part == "core":
                from sciml._demo import run_demo
            else:
                run_demo = importlib.import_module(f"sciml.{part}._demo").run_demo
            sections.append(run_demo(out))
        except Exception as e:  # report and carry on with the other parts
            traceback.print_exc()
            failures.append(part)
            sections.append(f"## {part}\n\nFAILED: `{type(e).__name__}: {e}`\n")
        timings.append((part, time.perf_counter() - t0))
        jax.clear_caches()
    report = ["# sciml demo report", "", f"Device: {jax.devices()[0]}. Every part runs at small scale on CPU.", "",
              "| part | seconds |", "|---|---|"]
    report += [f"| {p} | {t:.1f} |" for p, t in timings]
    report += [""] + sections
    (out / "report.md").write_text("\n".join(report) + "\n")
    print(f"wrote {out / 'report.md'} and {len(list(out.glob('*.png')))} PNG plot(s)")
    if failures:
        print(f"demo parts that failed: {failures}", file=sys.stderr)
        return 1
    return 0


def _bench(args) -> int:
    root = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"
    script = root / f"{args.name}.py"
    if not script.exists():
        available = sorted(p.stem for p in root.glob("*.py")) if root.exists() else []
        print(f"no benchmark named {args.name!r} (looked in {root}); available: {available}", file=sys.stderr)
        return 2
    argv = [str(script), "--size", args.size, "--out", args.out]
    old = sys.argv
    try:
        sys.argv = argv
        runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = old
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="sciml", description="sciml: learned and probabilistic PDE solvers in JAX")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="versions, devices, x64 state")
    p.set_defaults(fn=_info)
    p = sub.add_parser("demo", help="every method at small scale on CPU; writes a Markdown report with PNG plots")
    p.add_argument("--out", default="sciml-demo", help="output folder (default: ./sciml-demo)")
    p.add_argument("--only", default=None, help=f"comma-separated subset of {','.join(DEMO_PARTS)}")
    p.set_defaults(fn=_demo)
    p = sub.add_parser("bench", help="run benchmarks/<NAME>.py and write JSON results")
    p.add_argument("name", help="linalg, dcdm, gp, pig, cape or giorom")
    p.add_argument("--size", default="small", choices=["small", "gpu"])
    p.add_argument("--out", default="benchmarks/results")
    p.set_defaults(fn=_bench)
    args = parser.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
