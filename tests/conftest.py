import os

os.environ.setdefault("MPLBACKEND", "Agg")

# Suite speed on CPU: most tests are dominated by XLA compilation.  The suite compiles with XLA's backend
# optimisation level 0 (measured: tests/test_nn.py 164 s -> 108 s on 2 cores; float32 results move by rounding
# only) and shares a persistent compilation cache between the xdist workers of one run (identical programs compile
# once: 164 s -> 147 s; both together 92 s).  An explicit XLA_FLAGS / JAX_COMPILATION_CACHE_DIR wins.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()
# XLA:CPU's legacy (elemental) kernel emitters compile much faster than its MLIR fusion emitters: the 2D PIG test
# on a disc with a hole 33.6 s -> 21.6 s, the same error to all printed digits.
if "xla_cpu_use_fusion_emitters" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] += " --xla_cpu_use_fusion_emitters=false"
# one id per test run, set in the controller before xdist spawns the workers, which inherit it
os.environ.setdefault("SCIML_TEST_RUN", str(os.getpid()))
import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    import tempfile

    # Set in this process's jax config, NOT in the environment: subprocesses the tests start (4 fake devices,
    # jax.distributed workers, a training run killed mid-write) must not share the cache. An executable compiled
    # in a 4-device process and read back in a 1-device worker crashed the worker (segfault in the cache read).
    _run = os.environ["SCIML_TEST_RUN"]
    jax.config.update("jax_compilation_cache_dir", os.path.join(tempfile.gettempdir(), f"sciml-test-jax-cache-{_run}"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


@pytest.fixture
def getkey():
    """Fresh PRNG keys: `getkey()` returns a new key each call."""
    state = {"i": 0}

    def _get():
        state["i"] += 1
        return jax.random.key(state["i"])

    return _get


def pytest_sessionfinish(session, exitstatus):
    """Remove this run's compilation cache (the controller process, after the workers are done)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    import shutil
    import tempfile

    run = os.environ.get("SCIML_TEST_RUN")
    if run != str(os.getpid()):
        return
    if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
        shutil.rmtree(os.path.join(tempfile.gettempdir(), f"sciml-test-jax-cache-{run}"), ignore_errors=True)
    shutil.rmtree(os.path.join(tempfile.gettempdir(), f"sciml-test-site-{run}"), ignore_errors=True)

