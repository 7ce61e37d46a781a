"""Every `--size gpu` benchmark in one or two calls on a lent accelerator, inside a device-time budget.

    python benchmarks/extra/gpu_lease.py --part a --out $OUT     # linalg, dcdm (shipped weights), gp, pig
    python benchmarks/extra/gpu_lease.py --part b --out $OUT     # giorom, cape, dcdm training at 64^3
    python benchmarks/extra/gpu_lease.py --part c --out $OUT     # CG per iteration 128^3-512^3, DCDM 128^3/256^3
    python benchmarks/extra/gpu_lease.py --rehearse --out DIR    # the same commands at tiny sizes (CPU, ~7 min)

The 2026-12-04 lease (one H200) ran a, b and c in three calls (786 s of device time with the machine's start):
part a's linalg and dcdm and all of part b stopped at their caps (see docs/*.md, "On a GPU"); part b's
arguments have since moved to step counts, since a time budget there was spent compiling. A second lease the
same day ran parts b and c in one call (`--part b,c --budget 450`, 446 s): CG per iteration repeated the first
lease's figures, dcdm-256 again stopped at 256^3 (the 128^3 rows re-measured after the projection fix), and
giorom, cape and dcdm-train stopped at their caps; giorom alone then ran to the end in a second call with no
cap (239 s: data 17 s, 59 s of training per model, 92 s of evaluation). The caps above are too short for b.

A lease is short (15 minutes of device time per session, machine start included), so each benchmark runs in its
own process with its own wall-clock cap, in order of value, and writes its JSON as it goes: a cap or a crash loses
only the part that was running. The configurations are the `--size gpu` ones, cut to fit where the full run is
longer than a lease: fewer seeds, time-capped training phases, one material. Every cut is in the command line
printed here and recorded in each JSON (`config`, `steps_done`, `time_limit`), so a reader sees what ran.
At the end a short table lists each run's exit, wall time and passed / missed targets.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent.parent  # benchmarks/

# (part, name, script, cap in seconds, arguments of the lease run, arguments of the rehearsal)
RUNS = [
    ("a", "linalg", "linalg.py", 60, ["--size", "gpu"], ["--size", "gpu", "--quick"]),
    ("a", "dcdm", "dcdm.py", 100, ["--size", "gpu", "--pretrained", "dcdm-3d-64", "--test-sizes", "64", "128", "256"],
     ["--size", "gpu", "--pretrained", "dcdm-3d-64", "--test-sizes", "16", "24", "--repeat", "1"]),
    ("a", "gp", "gp.py", 120, ["--size", "gpu", "--adam-seconds", "15"],
     ["--size", "gpu", "--quick", "--adam-seconds", "3"]),
    ("a", "pig", "pig.py", 90, ["--size", "gpu", "--cases", "helmholtz-1-4", "--seeds", "1", "--time-limit", "35",
                                "--lbfgs-time-limit", "15"],
     ["--size", "gpu", "--quick", "--cases", "helmholtz-1-4", "--seeds", "1", "--time-limit", "20"]),
    # part c: a second, short lease call for what part a's caps cut (CG per iteration at 128^3-512^3, DCDM at 256^3)
    ("c", "linalg-cg", "linalg.py", 40, ["--size", "gpu", "--only-cg"], ["--size", "gpu", "--quick", "--only-cg"]),
    ("c", "dcdm-256", "dcdm.py", 70, ["--size", "gpu", "--pretrained", "dcdm-3d-64", "--test-sizes", "128", "256",
                                      "--tols", "1e-6", "--repeat", "2", "--name", "dcdm-256"],
     ["--size", "gpu", "--pretrained", "dcdm-3d-64", "--test-sizes", "16", "24", "--tols", "1e-6", "--repeat", "1",
      "--name", "dcdm-256"]),
    # part b, after the 2026-12-04 lease: fixed step counts (time budgets went to compiling the first step:
    # ~30 s for GNS-10-128 / GIOROM, ~35 s for the DCDM 64^3 training step) and caps that hold what ran there
    ("b", "giorom", "giorom.py", 150, ["--size", "gpu", "--materials", "water", "--gns-steps", "300",
                                       "--giorom-steps", "1000"],
     ["--size", "tiny"]),
    ("b", "cape", "cape.py", 120, ["--size", "gpu", "--pdes", "burgers", "--kinds", "base,cape", "--seeds", "1",
                                   "--epochs", "20"],
     ["--size", "gpu", "--smoke", "--pdes", "burgers", "--kinds", "base,cape"]),
    ("b", "dcdm-train", "dcdm.py", 120, ["--size", "gpu", "--name", "dcdm-train", "--train-seconds", "80",
                                         "--test-sizes", "64", "--save-weights"],
     ["--size", "gpu", "--name", "dcdm-train", "--train-n", "16", "--steps", "5", "--batch", "2", "--n-lanczos",
      "40", "--test-sizes", "16", "--save-weights"]),
]


def _summary(out: pathlib.Path, stem: str) -> str:
    """passed / missed counts of the newest `<stem>-*.json` under `out`."""
    files = sorted(out.glob(f"{stem}-*.json"), key=lambda p: p.stat().st_mtime)
    if not files:
        return "no JSON"
    cases = json.loads(files[-1].read_text()).get("cases", [])
    ok = sum(c.get("passed") is True for c in cases)
    bad = [c["case"] for c in cases if c.get("passed") is False]
    return f"{files[-1].name}: {len(cases)} cases, {ok} passed, {len(bad)} missed" + (
        f" ({', '.join(bad[:4])}{', ...' if len(bad) > 4 else ''})" if bad else "")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", default="a,b", help="comma-separated parts to run (a, b)")
    ap.add_argument("--only", default=None, help="comma-separated run names (default: all of the parts)")
    ap.add_argument("--out", required=True, help="folder for the JSON results, the weights and the log")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds for the whole call: each cap is cut to what is left (default: the caps' sum)")
    ap.add_argument("--rehearse", action="store_true", help="tiny sizes of the same commands (a dry run)")
    args = ap.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    parts = set(args.part.split(","))
    only = None if args.only is None else set(args.only.split(","))
    runs = [r for r in RUNS if r[0] in parts and (only is None or r[1] in only)]
    budget = args.budget if args.budget is not None else sum(r[3] for r in runs) + 10 * len(runs)
    log_path = out / f"log-{'-'.join(sorted(parts))}.txt"
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join(
        filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")])))
    t_start = time.perf_counter()
    rows = []
    try:  # what ran where, first
        import jax

        print(f"devices {jax.devices()}; jax {jax.__version__}; python {sys.version.split()[0]}", flush=True)
    except Exception as e:  # noqa: BLE001 - the runs report their own failures
        print(f"jax did not start: {e}", flush=True)
    with open(log_path, "a") as log:
        for part, name, script, cap, full, rehearse in runs:
            left = budget - (time.perf_counter() - t_start)
            cap = min(cap, left - 5)
            if cap < 20:
                rows.append((name, "skipped (budget)", 0.0, ""))
                continue
            extra = ["--out", str(out)]
            if name == "dcdm-train":
                extra += ["--weights-dir", str(out)]
            if name == "giorom":
                extra += ["--workdir", str(pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / "giorom-lease")]
            cmd = [sys.executable, str(HERE / script), *(rehearse if args.rehearse else full), *extra]
            print(f"== {name} (cap {cap:.0f} s): {' '.join(cmd[1:])}", flush=True)
            log.write(f"\n== {name} (cap {cap:.0f} s): {' '.join(cmd[1:])}\n")
            log.flush()
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            try:
                rc = proc.wait(timeout=cap)
                status = "ok" if rc == 0 else f"exit {rc}"
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                status = f"stopped at its {cap:.0f} s cap"
            wall = time.perf_counter() - t0
            log.write(f"== {name}: {status} after {wall:.0f} s\n")
            log.flush()
            stem = name if list(out.glob(f"{name}-*.json")) else pathlib.Path(script).stem
            rows.append((name, status, wall, _summary(out, stem)))
            print(f"   {status} after {wall:.0f} s; {rows[-1][3]}", flush=True)
    print("\n| run | status | wall s | results |\n|---|---|---|---|")
    for name, status, wall, summ in rows:
        print(f"| {name} | {status} | {wall:.0f} | {summ} |")
    print(f"total {time.perf_counter() - t_start:.0f} s; log {log_path}")


if __name__ == "__main__":
    main()
