"""Sharded MG-PCG == single-device MG-PCG on 4 fake CPU devices (subprocess), and its argument checks."""

import json
import os
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest

from sciml import linalg, parallel

HERE = pathlib.Path(__file__).parent
ROOT = HERE.parent


def test_sharded_mg_pcg_equals_single_device():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    # only the suite's XLA backend optimisation level (conftest: level 0, faster compiles) reaches the worker,
    # which adds its own fake-device count
    env["XLA_FLAGS"] = " ".join(f for f in os.environ.get("XLA_FLAGS", "").split()
                                if f.startswith(("--xla_backend_optimization_level", "--xla_cpu_use_fusion_emitters")))
    proc = subprocess.run([sys.executable, str(HERE / "_sharded_mg_worker.py")], capture_output=True, text=True,
                          timeout=600, env=env)
    line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    assert proc.returncode == 0 and line, proc.stderr[-3000:]
    res = json.loads(line[0][len("RESULT "):])
    assert res["devices"] == 4 and res["levels"] >= 3
    assert res["converged"]
    a, b = res["iters"]
    assert a == b
    assert res["err"] < 1e-10
    ts, t1 = res["true_residual"]  # a linalg.Solution: the true residual as on one device
    assert ts < 1e-10 and abs(ts - t1) <= 1e-3 * t1 + 1e-14
    assert res["cheb_converged"] and res["cheb_iters"][0] == res["cheb_iters"][1]
    assert res["cheb_err"] < 1e-10


def test_sharded_mg_pcg_validates():
    flags = np.zeros((6, 8), np.int8)
    flags[:, -1] = linalg.AIR
    op = linalg.poisson_operator(flags, dtype=np.float32)
    mesh = parallel.make_mesh((1,), ("x",))
    with pytest.raises(ValueError, match="axis"):
        parallel.sharded_mg_pcg(op, np.zeros((6, 8), np.float32), mesh, axis="y")
    with pytest.raises(ValueError, match="`b`"):
        parallel.sharded_mg_pcg(op, np.zeros((6, 7), np.float32), mesh)
    with pytest.raises(ValueError, match="min_rows"):
        parallel.sharded_mg_pcg(op, np.zeros((6, 8), np.float32), mesh, min_rows=0)
    with pytest.raises(TypeError, match="mesh"):
        parallel.sharded_mg_pcg(op, np.zeros((6, 8), np.float32), "mesh")
