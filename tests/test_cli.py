import pathlib
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


@pytest.mark.parametrize("name", ["../benchmarks/linalg", "benchmarks/linalg.py", "/etc/passwd", "linalg.py",
                                  "_bench", "make_table.py", ""])
def test_bench_runs_registered_names_only(name, capsys, tmp_path):
    assert _cli.main(["bench", name, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no benchmark named" in err and "linalg" in err
    assert list(tmp_path.iterdir()) == []


def test_bench_list(capsys):
    from sciml._bench import BENCHMARKS

    assert _cli.main(["bench", "--list"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()] == [*BENCHMARKS, "make_table"]


@pytest.mark.parametrize("argv, words", [
    (["bench"], ["benchmark name", "--list"]),
    (["bench", "gp", "--size", "tiny"], ["--size", "small|gpu", "'tiny'"]),
    (["bench", "linalg", "--size", "huge"], ["--size", "tiny|small|gpu"]),
    (["demo", "--only", ",,"], ["--only", "core,dcdm"]),
    (["demo", "--only", "core,gpu"], ["--only", "'gpu'"]),
    (["bench", "dcdm", "--", "--save-weights"], ["--save-weights", "source checkout"]),
    (["info", "--", "--x"], ["only for `sciml bench NAME`"]),
])
def test_cli_argument_errors(argv, words, capsys):
    assert _cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("sciml: error:") and all(w in err for w in words), err


@pytest.mark.parametrize("cmd", [["bench", "linalg"], ["demo", "--only", "core"], ["bench", "make_table"]])
def test_out_must_be_a_folder(cmd, tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("keep me")
    assert _cli.main(cmd + ["--out", str(f)]) == 2
    assert "--out must be a folder" in capsys.readouterr().err
    assert f.read_text() == "keep me"


def test_make_table_writes_under_out_only(tmp_path, capsys):
    readme = ROOT / "README.md"
    before = readme.read_text()
    assert _cli.main(["bench", "make_table", "--out", str(tmp_path)]) == 2  # no results there yet
    assert "holds no results JSON" in capsys.readouterr().err
    src = next((ROOT / "benchmarks" / "results").glob("linalg-*.json"))
    (tmp_path / src.name).write_text(src.read_text())
    assert _cli.main(["bench", "make_table", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "results.md").read_text()
    assert text.startswith("## Benchmark results") and "| poisson-" in text
    assert readme.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([src.name, "results.md"])


def test_make_table_script_matches_readme(tmp_path):
    """`python benchmarks/make_table.py --out FILE` reproduces the README's committed results section."""
    import runpy
    import sys

    old = sys.argv
    try:
        sys.argv = ["make_table.py", "--out", str(tmp_path / "t.md")]
        with pytest.raises(SystemExit) as e:
            runpy.run_path(str(ROOT / "benchmarks" / "make_table.py"), run_name="__main__")
    finally:
        sys.argv = old
    assert e.value.code == 0
    section = (tmp_path / "t.md").read_text()
    assert section.strip() in (ROOT / "README.md").read_text()


def test_bench_runs_registered_script_with_out(tmp_path, monkeypatch):
    """The runner passes --size/--out and extra options to the registered script and reports its exit code."""
    from sciml import _bench

    seen = {}

    def fake_run_path(path, run_name):
        import sys

        seen["argv"] = list(sys.argv)
        raise SystemExit(3)

    monkeypatch.setattr(_bench.runpy, "run_path", fake_run_path)
    assert _cli.main(["bench", "gp", "--out", str(tmp_path), "--", "--only", "sin100x"]) == 3
    assert seen["argv"][0].endswith("gp.py")
    assert seen["argv"][1:] == ["--size", "small", "--out", str(tmp_path), "--only", "sin100x"]


def test_load_shipped_model(tmp_path, monkeypatch):
    import equinox as eqx
    import jax
    import numpy as np

    from sciml import _demo

    like = eqx.nn.Linear(3, 2, key=jax.random.key(0))
    trained = eqx.nn.Linear(3, 2, key=jax.random.key(1))
    monkeypatch.setattr(_demo, "DATA", tmp_path)
    assert _demo.load_shipped("giorom", "demo", like) is None
    (tmp_path / "giorom").mkdir()
    eqx.tree_serialise_leaves(tmp_path / "giorom" / "demo.eqx", trained)
    (tmp_path / "giorom" / "demo.json").write_text('{"steps": 5}')
    model, recipe = _demo.load_shipped("giorom", "demo", like)
    assert recipe == {"steps": 5} and np.array_equal(model.weight, trained.weight)
    with pytest.raises(ValueError, match="`name`"):
        _demo.load_shipped("giorom", "../demo", like)
