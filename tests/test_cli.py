import pathlib
import shutil
import subprocess
import sys

import pytest

from sciml import _cli

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit):
        _cli.main(["--help"])
    out = capsys.readouterr().out
    for cmd in ("info", "demo", "bench"):
        assert cmd in out


def test_info(capsys):
    assert _cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "jax " in out and "devices:" in out and "x64 enabled:" in out


def test_bench_unknown_name(capsys):
    assert _cli.main(["bench", "nonexistent"]) == 2
    assert "no benchmark named" in capsys.readouterr().err


def test_demo_unknown_part(capsys):
    assert _cli.main(["demo", "--only", "nope"]) == 2


def test_demo_core_writes_report_and_plot(tmp_path):
    assert _cli.main(["demo", "--only", "core", "--out", str(tmp_path)]) == 0
    report = (tmp_path / "report.md").read_text()
    assert "| CG |" in report and "Jacobi-PCG" in report
    assert (tmp_path / "core_poisson.png").stat().st_size > 10_000


@pytest.mark.skipif(shutil.which("mkdocs") is None, reason="mkdocs not installed (docs extra)")
def test_docs_build_strict(tmp_path):
    proc = subprocess.run([shutil.which("mkdocs"), "build", "--strict", "-d", str(tmp_path / "site")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env={"NO_MKDOCS_2_WARNING": "1",
                                                                           "PATH": str(pathlib.Path(sys.executable).parent) + ":/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-3000:]
