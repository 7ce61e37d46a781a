"""Every script in examples/ runs, at a reduced size, as a user would start it: a fresh process, its own output
folder, and no deprecated sciml keyword (the examples show the current API)."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# script -> (command-line arguments, or a dict of keyword arguments for its `main`; a line its output must hold)
CASES = {
    "core_poisson.py": (["--n", "16", "--out", "out"], "converged True"),
    "dcdm_poisson.py": (["--n", "16", "--out", "out/dcdm.png"], "MG-PCG"),
    "gp_high_frequency.py": (["--steps", "3", "--out", "out/gp.png"], "rel-L2"),
    "gp_differentiable.py": ([], "central difference"),
    "gp_neumann_robin.py": ([], "rel-L2"),
    "pig_helmholtz.py": (["--steps", "20", "--lbfgs", "2", "--gaussians", "20", "--out", "out"], "PIG: final rel-L2"),
    "giorom_jelly.py": (["--n-test", "1", "--out", "out/jelly.png"], "wrote"),
    "cape_burgers.py": (["--epochs", "2", "--n-train", "4", "--batch", "4", "--out", "out/cape"], "CAPE-FNO"),
    "pde_geometry.py": ({"steps": 20}, "L-shape: rel-L2"),
    "pde_inverse.py": ({"steps": 20}, "identified k"),
    "pde_neumann.py": ({"steps": 20}, "rel-L2"),
    "pde_system.py": ({"steps": 20}, "rel-L2 (both fields)"),
}

_PRELUDE = ("import runpy, sys, warnings\n"
            "warnings.filterwarnings('error', message=r'.*are deprecated', category=DeprecationWarning)\n")


def test_every_example_is_listed():
    assert {p.name for p in EXAMPLES.glob("*.py")} == set(CASES)


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(CASES))
def test_example_runs(script, tmp_path):
    args, expect = CASES[script]
    path = str(EXAMPLES / script)
    if isinstance(args, dict):
        code = _PRELUDE + f"runpy.run_path({path!r}, run_name='example')['main'](**{args!r})\n"
        cmd = [sys.executable, "-c", code]
    else:
        code = _PRELUDE + f"sys.argv = [{path!r}, *{args!r}]\nrunpy.run_path({path!r}, run_name='__main__')\n"
        cmd = [sys.executable, "-c", code]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert expect in proc.stdout, proc.stdout[-2000:]
    # files only under the folder the example was given (here all below tmp_path/out)
    written = [p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()]
    assert all(p.parts[0] == "out" for p in written), written
