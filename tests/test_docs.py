"""The API reference: `mkdocs build --strict` passes, every public name of every module appears in the generated
pages, and every parameter of every public function/class is documented in its docstring."""

import importlib
import inspect
import os
import pathlib
import re
import subprocess
import sys
import types

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODULES = ("linalg", "pde", "train", "parallel", "nn", "dcdm", "gp", "pig", "cape", "giorom", "plot")
PAGES = {"cape.datasets": "cape"}  # submodules documented on their parent's page

# Parameters (`Name.param`, `Name.method.param`) whose docstrings did not document them when this test was made
# strict, in the modules owned by other helpers. Each listed entry is reported as an expected failure while it is
# still missing; any parameter not listed here must be documented in an `**Arguments:**` section.
KNOWN_GAPS: dict[str, list[str]] = {}


def _module(name):
    try:
        return importlib.import_module(f"sciml.{name}")
    except ModuleNotFoundError as e:
        if e.name == f"sciml.{name}":
            pytest.skip(f"sciml.{name} is not part of this tree")
        raise


def public_names(mod) -> list[str]:
    """Public names: not underscored, not submodules (those get their own section)."""
    return sorted(n for n in dir(mod) if not n.startswith("_") and not isinstance(getattr(mod, n), types.ModuleType))


_SECTION = re.compile(r"\*\*([A-Z][\w ]*):\*\*")
_NAME_LIST = re.compile(r"`(\w+)`(?:\s*(?:,|and|or|/)\s*`(\w+)`)*")


def argument_sections(doc: str) -> list[str]:
    """The text of every `**Arguments:**` (or, for result modules, `**Fields:**`) section of `doc`: from the marker
    up to the next `**Word:**` marker."""
    marks = list(_SECTION.finditer(doc))
    return [doc[m.end():(marks[i + 1].start() if i + 1 < len(marks) else len(doc))]
            for i, m in enumerate(marks) if m.group(1) in ("Arguments", "Fields")]


def documented_arguments(doc: str) -> set[str]:
    """Names an `**Arguments:**` section documents: the backticked names that open an entry (a `- ` bullet, the
    section's first words, or the words after `; `), alone or as a list (`` `a`, `b` and `c`: ``)."""
    out = set()
    for sec in argument_sections(doc):
        starts = [0] + [m.end() for m in re.finditer(r"(?:^|\n)[ \t]*[-*][ \t]+|;[ \t]+", sec)]
        for s in starts:
            m = re.match(r"\s*((?:`\w+`(?:\s*(?:,|and|or|/)\s*)?)+)", sec[s:])
            if m:
                out.update(re.findall(r"`(\w+)`", m.group(1)))
    return out


def _parameters(obj) -> list[str] | None:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    return [p.name for p in sig.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            and p.name not in ("self", "cls") and not p.name.startswith("_")]


def documented_callables(mod):
    """(key, callable, docstring) for every public function and class of `mod` defined in sciml, and for the
    public methods (and `__call__`) a public class defines itself. A class's docstring includes its `__init__`'s."""
    for n in public_names(mod):
        obj = getattr(mod, n)
        if not callable(obj) or not str(getattr(obj, "__module__", "")).startswith("sciml"):
            continue
        if not inspect.isclass(obj):
            yield n, obj, inspect.getdoc(obj) or ""
            continue
        yield n, obj, (inspect.getdoc(obj) or "") + "\n" + (inspect.getdoc(obj.__init__) or "")
        for m in vars(obj):
            if m.startswith("_") and m != "__call__":
                continue
            meth = getattr(obj, m, None)
            if inspect.isfunction(meth) or inspect.ismethod(meth):
                yield f"{n}.{m}", meth, inspect.getdoc(meth) or ""


def missing_parameters(mod) -> dict[str, list[str]]:
    """key -> parameters of that public function/class/method that no `**Arguments:**` entry of its docstring
    documents."""
    out = {}
    for key, obj, doc in documented_callables(mod):
        params = _parameters(obj)
        if params is None:
            continue
        have = documented_arguments(doc)
        miss = [p for p in params if p not in have]
        if miss:
            out[key] = miss
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("mkdocs", reason="the docs extra (mkdocs-material, mkdocstrings-python) is not installed")
    pytest.importorskip("mkdocstrings_handlers.python")
    import fcntl
    import tempfile

    # built once per test run: the xdist workers share one site (the first builds it under a lock, the other
    # waits and reuses it; conftest removes it at the end of the run)
    run = os.environ.get("SCIML_TEST_RUN")
    base = pathlib.Path(tempfile.gettempdir()) / f"sciml-test-site-{run}" if run else tmp_path_factory.mktemp("s")
    base.mkdir(exist_ok=True)
    out, done = base / "site", base / "built"
    with open(base / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT)}
            proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)], cwd=ROOT,
                                  env=env, capture_output=True, text=True, timeout=300)
            assert proc.returncode == 0, proc.stderr[-4000:]
            done.write_text("ok")
    return out


def test_nav_lists_every_module_and_the_solver_guide():
    text = (ROOT / "mkdocs.yml").read_text()
    for m in MODULES:
        assert f"api/{m}.md" in text and (ROOT / "docs" / "api" / f"{m}.md").is_file(), m
        assert f"::: sciml.{m}\n" in (ROOT / "docs" / "api" / f"{m}.md").read_text()
    assert "which-solver.md" in text


@pytest.mark.slow
@pytest.mark.parametrize("name", MODULES + tuple(PAGES))
def test_reference_lists_every_public_name(name, site):
    mod = _module(name)
    html = (site / "api" / PAGES.get(name, name) / "index.html").read_text()
    ids = set(re.findall(r'id="(sciml\.[\w.]+)"', html))
    absent = [n for n in public_names(mod) if f"sciml.{name}.{n}" not in ids]
    assert not absent, f"sciml.{name}: public names missing from the API reference: {absent}"


@pytest.mark.slow
@pytest.mark.parametrize("name", MODULES + tuple(PAGES))
def test_reference_shows_every_parameter(name, site):
    """Each public function, class and method has its own section in the generated page, and that section shows
    every parameter as `<code>name</code>` (overriding methods without a docstring show the inherited one)."""
    mod = _module(name)
    html = (site / "api" / PAGES.get(name, name) / "index.html").read_text()
    ids = [(m.start(), m.group(1)) for m in re.finditer(r'id="(sciml\.[\w.]+)"', html)]
    start_of = {i: p for p, i in ids}
    known = set(KNOWN_GAPS.get(name, ()))
    missing = []
    for key, obj, _ in documented_callables(mod):
        full = f"sciml.{name}.{key}"
        params = [p for p in (_parameters(obj) or []) if f"{key}.{p}" not in known]
        if not params:
            continue
        if full not in start_of:
            missing.append(f"{key} (no section)")
            continue
        start = start_of[full]
        end = next((p for p, i in ids if p > start and i != full and not i.startswith(full + ".")), len(html))
        missing += [f"{key}.{p}" for p in params if f"<code>{p}</code>" not in html[start:end]]
    assert not missing, f"sciml.{name}: parameters not shown in the API reference: {missing}"


@pytest.mark.parametrize("name", MODULES + tuple(PAGES) + ("",))
def test_every_public_parameter_is_documented(name):
    mod = _module(name) if name else importlib.import_module("sciml")
    missing = {f"{k}.{p}" for k, ps in missing_parameters(mod).items() for p in ps}
    known = set(KNOWN_GAPS.get(name, ()))
    new = sorted(missing - known)
    assert not new, f"sciml.{name}: parameters without an `**Arguments:**` entry in their docstring: {new}"
    if missing:
        pytest.xfail(f"sciml.{name}: {len(missing)} known undocumented parameter(s), e.g. {sorted(missing)[:8]}")


def test_parameter_check_catches_a_gap():
    """The checker itself: only names that open an entry of an `**Arguments:**` section count; a name mentioned in
    prose, in another section or inside an entry's description does not."""

    def f(a, b, *args, c=1, d=2, e=3, g=4, **kw):
        """Uses `b` in prose.

        **Arguments:**

        - `a`, `c`: documented together; this mentions `b` but does not document it.
        - `d` and `e`: also a list.

        **Returns:** `g`, which is not an argument entry.
        """

    def h(x, y, z):
        """**Arguments:** `x` the first; `y`: the second. **Raises:** `ValueError` for a bad `z`."""

    class C:
        """A class.

        **Arguments:**

        - `p`: documented.
        """

        def __init__(self, p, q):
            pass

        def method(self, r):
            """**Arguments:** none documented for `r` here: it is not at an entry's start."""

    class R:
        """A result module.

        **Fields:**

        - `value`: documented as a field.

        **Example:** `R(value, extra)` names `extra` outside the fields.
        """

        def __init__(self, value, extra):
            pass

    for fn in (f, h, C, R):
        fn.__module__ = "sciml.fake"
    mod = types.SimpleNamespace(f=f, h=h, C=C, R=R)
    assert missing_parameters(mod) == {"f": ["b", "g"], "h": ["z"], "C": ["q"], "C.method": ["r"], "R": ["extra"]}
