"""The `sciml` command: `info`, `demo`, `bench NAME`."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import pathlib
import platform
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


def _fail(msg: str) -> int:
    print(f"sciml: error: {msg}", file=sys.stderr)
    return 2


def _check_out(out: str, flag: str = "--out") -> str | None:
    """An error message when `out` cannot be the output folder, else None."""
    if not out or not str(out).strip():
        return f"{flag} must be a folder path, got an empty string"
    p = pathlib.Path(out)
    if p.exists() and not p.is_dir():
        return f"{flag} must be a folder, but {out!r} is an existing file"
    return None


def _demo(args) -> int:
    parts = DEMO_PARTS if args.only is None else tuple(p.strip() for p in args.only.split(",") if p.strip())
    unknown = [p for p in parts if p not in DEMO_PARTS]
    if unknown or not parts:
        return _fail(f"--only: unknown demo part(s) {unknown or [args.only]}; choose a comma-separated subset of "
                     f"{','.join(DEMO_PARTS)}")
    if (msg := _check_out(args.out)) is not None:
        return _fail(msg)
    import jax

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sections, failures, timings = [], [], []
    for part in parts:
        print(f"== sciml demo: {part} ==", flush=True)
        t0, c0 = time.perf_counter(), time.process_time()
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
        timings.append((part, time.perf_counter() - t0, time.process_time() - c0))
        print(f"== {part}: {timings[-1][1]:.1f} s ({timings[-1][2]:.1f} CPU s) ==", flush=True)
        jax.clear_caches()
    report = ["# sciml demo report", "", f"Device: {jax.devices()[0]}. Every part runs at small scale on CPU.", "",
              "| part | seconds | CPU seconds (all threads) |", "|---|---|---|"]
    report += [f"| {p} | {t:.1f} | {c:.1f} |" for p, t, c in timings]
    report += [f"| total | {sum(t[1] for t in timings):.1f} | {sum(t[2] for t in timings):.1f} |", ""] + sections
    (out / "report.md").write_text("\n".join(report) + "\n")
    print(f"wrote {out / 'report.md'} and {len(list(out.glob('*.png')))} PNG plot(s)")
    if importlib.util.find_spec("matplotlib") is None:
        print('no plots: matplotlib is not installed (pip install "sciml[plot]"); the report has every number')
    if failures:
        print(f"demo parts that failed: {failures}", file=sys.stderr)
        return 1
    return 0


def _bench_list() -> int:
    from sciml._bench import BENCHMARKS

    width = max(map(len, [*BENCHMARKS, "make_table"]))
    for name, (what, sizes) in BENCHMARKS.items():
        print(f"{name:<{width}}  {what}  (--size {'|'.join(sizes)})")
    print(f"{'make_table':<{width}}  Markdown table of the results JSON in --out (written to <--out>/results.md)")
    return 0


def _bench(args) -> int:
    from sciml._bench import BENCHMARKS, results_markdown, run_benchmark

    if args.list:
        return _bench_list()
    if args.name is None:
        return _fail(f"bench: give a benchmark name (one of {', '.join(BENCHMARKS)}) or --list")
    if args.name != "make_table" and args.name not in BENCHMARKS:
        return _fail(f"bench: no benchmark named {args.name!r}; registered: {', '.join(BENCHMARKS)} "
                     "(see `sciml bench --list`; file paths are not accepted)")
    if (msg := _check_out(args.out)) is not None:
        return _fail(msg)
    if args.name == "make_table":
        if args.extra:
            return _fail(f"bench make_table takes no extra arguments, got {args.extra}")
        src = pathlib.Path(args.out)
        if not src.is_dir() or not any(src.glob("*.json")):
            return _fail(f"bench make_table: --out {args.out!r} holds no results JSON; run `sciml bench NAME --out "
                         f"{args.out}` first")
        path = src / "results.md"
        path.write_text(results_markdown(src) + "\n")
        print(f"wrote {path}")
        return 0
    if any(a.split("=")[0] == "--save-weights" for a in args.extra):
        return _fail("bench: --save-weights rewrites the package's shipped weights; run `python benchmarks/"
                     f"{args.name}.py --save-weights` from a source checkout instead")
    size = args.size or "small"
    sizes = BENCHMARKS[args.name][1]
    if size not in sizes:
        return _fail(f"--size must be one of {'|'.join(sizes)} for benchmark {args.name!r}, got {size!r}")
    return run_benchmark(args.name, size=size, out=args.out, extra_args=args.extra)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="sciml", description="sciml: learned and probabilistic PDE solvers in JAX")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="versions, devices, x64 state")
    p.set_defaults(fn=_info)
    p = sub.add_parser("demo", help="every method at small scale on CPU; writes a Markdown report with PNG plots")
    p.add_argument("--out", default="sciml-demo", help="output folder (default: ./sciml-demo)")
    p.add_argument("--only", default=None, help=f"comma-separated subset of {','.join(DEMO_PARTS)}")
    p.set_defaults(fn=_demo)
    p = sub.add_parser("bench", help="run a registered benchmark and write its JSON results under --out",
                       description="Run a registered benchmark (see --list); results go under --out only. "
                                   "Options after `--` are passed to the benchmark script.")
    p.add_argument("name", nargs="?", default=None, help="a registered benchmark (see --list), or make_table")
    p.add_argument("--list", action="store_true", help="list the registered benchmarks and exit")
    p.add_argument("--size", default=None, help="small (default) or gpu; some benchmarks also take tiny")
    p.add_argument("--out", default="benchmarks/results", help="results folder (default: ./benchmarks/results)")
    p.set_defaults(fn=_bench)
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = []
    if "--" in argv:  # options after `--` go to the benchmark script
        argv, extra = argv[: argv.index("--")], argv[argv.index("--") + 1:]
    args = parser.parse_args(argv)
    if extra and args.command != "bench":
        return _fail(f"options after `--` are only for `sciml bench NAME`, got {extra}")
    args.extra = extra
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
