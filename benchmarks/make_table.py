"""Rebuild the README's results section from benchmarks/results/*.json.

    python benchmarks/make_table.py                      # source checkout: rewrites ./README.md below '## Benchmark results'
    python benchmarks/make_table.py --results DIR --out FILE   # writes the section to FILE, touches nothing else
    sciml bench make_table --out DIR                     # from any install: DIR/*.json -> DIR/results.md

Only a README given explicitly (or this checkout's own README when run as a script from the checkout) is rewritten.
"""

from __future__ import annotations

import argparse
import pathlib

from sciml._bench import RESULTS_MARK, results_markdown

ROOT = pathlib.Path(__file__).resolve().parent.parent


def update_readme(readme: pathlib.Path, section: str) -> None:
    """Replace everything from the `## Benchmark results` heading on (or append) with `section`."""
    text = readme.read_text()
    head = text.split(RESULTS_MARK)[0].rstrip() + "\n\n"
    readme.write_text(head + section + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default=None, help="folder of results JSON (default: benchmarks/results here)")
    ap.add_argument("--readme", default=None, help="README to update in place (default: this checkout's)")
    ap.add_argument("--out", default=None, help="write the section to this file instead of a README")
    args = ap.parse_args(argv)
    results = pathlib.Path(args.results) if args.results else ROOT / "benchmarks" / "results"
    section = results_markdown(results)
    if args.out:
        out = pathlib.Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(section + "\n")
        print(f"wrote {out}")
        return 0
    readme = pathlib.Path(args.readme) if args.readme else ROOT / "README.md"
    if args.readme is None and not (ROOT / "pyproject.toml").is_file():
        ap.error("not in a source checkout: pass --readme PATH or --out FILE")
    update_readme(readme, section)
    print(f"updated {readme}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
