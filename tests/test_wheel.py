"""The built wheel is complete: shipped weights, reference data and benchmark scripts load from an install that
holds nothing but the wheel's files (dependencies come from the running environment)."""

import os
import pathlib
import subprocess
import sys
import zipfile

import pytest

from sciml._bench import BENCHMARKS

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_registry_matches_benchmark_scripts_and_pyproject():
    scripts = {p.stem for p in (ROOT / "benchmarks").glob("*.py")} - {"make_table"}
    assert scripts == set(BENCHMARKS), "register every benchmarks/*.py in sciml._bench.BENCHMARKS"
    import tomllib

    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    forced = cfg["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert forced == {f"benchmarks/{n}.py": f"sciml/_benchmarks/{n}.py" for n in BENCHMARKS}
    assert not any("flax" in d for d in cfg["project"]["dependencies"]), "flax is the optional extra sciml[flax]"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    pytest.importorskip("hatchling", reason="building the wheel needs hatchling in this environment")
    tmp = tmp_path_factory.mktemp("wheel")
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp / "dist"), str(ROOT)], check=True, env=env, capture_output=True, timeout=120)
    (whl,) = (tmp / "dist").glob("sciml-*.whl")
    site = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(whl)],
                   check=True, env=env, capture_output=True, timeout=120)
    run_dir = tmp / "cwd"  # a clean working directory: no sciml/, no benchmarks/ to fall back on
    run_dir.mkdir()
    env["PYTHONPATH"] = str(site)
    return whl, site, run_dir, env


def _run(args, installed, timeout=300):
    _, _, cwd, env = installed
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
def test_wheel_contents(installed):
    whl = installed[0]
    names = set(zipfile.ZipFile(whl).namelist())
    data = {p.relative_to(ROOT).as_posix() for p in (ROOT / "sciml" / "data").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}
    assert data and data <= names, sorted(data - names)
    assert {f"sciml/_benchmarks/{n}.py" for n in BENCHMARKS} <= names
    assert not any(n.startswith(("benchmarks/", "tests/")) or n.endswith(".pyc") for n in names)


@pytest.mark.slow
def test_wheel_loads_weights_and_reference_data(installed):
    site = installed[1]
    code = f"""
import pathlib, sciml
from sciml import dcdm
from sciml.pde._reference import load_reference
assert pathlib.Path(sciml.__file__).resolve().is_relative_to(pathlib.Path({str(site)!r}).resolve()), sciml.__file__
names = dcdm.available_pretrained()
assert "dcdm-3d-64" in names, names
net = dcdm.load_pretrained("dcdm-3d-64")
for name in names:
    dcdm.load_pretrained(name)
from sciml.cape import _demo as cape_demo
assert cape_demo.shipped_models() is not None, "the CAPE demo models are missing from the wheel"
ref = load_reference("allen_cahn_1d")
from sciml import giorom
assert "giorom-jelly-demo" in giorom.available_pretrained(), giorom.available_pretrained()
assert giorom.load_pretrained("giorom-jelly-demo").n_sample == 100
assert ref["u"].ndim == 2 and ref["u"].size > 1000
print("OK", sorted(names), type(net).__name__)
"""
    out = _run([sys.executable, "-c", code], installed)
    assert out.startswith("OK") and "dcdm-3d-64" in out


@pytest.mark.slow
def test_wheel_cli_bench(installed):
    site, cwd = installed[1], installed[2]
    sciml_exe = [sys.executable, "-c", "import sys; from sciml._cli import main; sys.exit(main())"]
    out = _run(sciml_exe + ["bench", "--list"], installed)
    assert all(name in out for name in BENCHMARKS)
    # a registered benchmark runs from the wheel's own copy of its script and writes only under --out
    before = sorted(p.relative_to(cwd) for p in cwd.rglob("*"))
    res = cwd / "res"
    out = _run(sciml_exe + ["bench", "linalg", "--size", "tiny", "--out", str(res)], installed, timeout=300)
    assert [p.name for p in res.iterdir()] == ["linalg-cpu.json"] or len(list(res.glob("linalg-*.json"))) == 1
    assert sorted(p.relative_to(cwd) for p in cwd.rglob("*") if not p.is_relative_to(res)) == before
    assert (site / "sciml" / "_benchmarks" / "linalg.py").is_file()
    out = _run(sciml_exe + ["bench", "make_table", "--out", str(res)], installed)
    assert "| case | metric |" in (res / "results.md").read_text()


@pytest.mark.slow
def test_wheel_demo_core(installed):
    cwd = installed[2]
    out = _run([sys.executable, "-c", "import sys; from sciml._cli import main; sys.exit(main())", "demo", "--only",
                "core", "--out", "demo"], installed)
    assert "Jacobi-PCG" in (cwd / "demo" / "report.md").read_text() and (cwd / "demo" / "core_poisson.png").is_file()
    assert "core:" in out


def test_every_module_imports_without_flax():
    """flax is the optional extra `sciml[flax]`: nothing but the NNX wrapper may need it."""
    code = ("import sys; sys.modules['flax'] = None\n"
            "import importlib, sciml\n"
            "for m in ('linalg', 'pde', 'train', 'parallel', 'dcdm', 'gp', 'pig', 'cape', 'giorom', 'plot', 'nn'):\n"
            "    try:\n"
            "        importlib.import_module('sciml.' + m)\n"
            "    except ModuleNotFoundError as e:\n"
            "        assert e.name == 'sciml.' + m, e  # only a module absent from this tree may be missing\n"
            "print('OK')\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "OK", proc.stderr[-3000:]


# `pip install sciml-*.whl` brings only [project.dependencies]; the optional extras are blocked here as they are
# absent from such a venv (plot: matplotlib; bench: pyamg, matplotlib; flax)
_BARE = ("import sys\nfor m in ('matplotlib', 'pyamg', 'flax'):\n    sys.modules[m] = None\n"
         "from sciml._cli import main\nsys.exit(main())")


@pytest.mark.slow
def test_wheel_demo_and_bench_without_optional_extras(installed):
    cwd = installed[2]
    out = _run([sys.executable, "-c", _BARE, "demo", "--only", "core,dcdm", "--out", "bare-demo"], installed)
    report = (cwd / "bare-demo" / "report.md").read_text()
    assert "FAILED" not in report and "| CG |" in report and "beats CG" in report
    assert report.count("plot not drawn: matplotlib is not installed") == 2 and "no plots: matplotlib" in out
    assert not list((cwd / "bare-demo").glob("*.png"))
    res = cwd / "bare-res"
    out = _run([sys.executable, "-c", _BARE, "bench", "linalg", "--size", "tiny", "--out", str(res)], installed)
    assert "pyamg is not installed" in out
    text = next(res.glob("linalg-*.json")).read_text()
    assert "jax-cg" in text and "pyamg" not in text.replace("pyamg is not installed", "")
