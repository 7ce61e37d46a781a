"""Shared test helpers."""

import jax
import jax.numpy as jnp
import numpy as np


def tree_allclose(a, b, rtol=1e-7, atol=1e-9):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    if len(la) != len(lb):
        return False
    return all(np.allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol) for x, y in zip(la, lb))


def random_flags(shape, seed=0, p_solid=0.15, p_air=0.05):
    """A random FLUID/SOLID/AIR grid with an AIR layer on the top so the problem is well posed."""
    rng = np.random.default_rng(seed)
    u = rng.random(shape)
    flags = np.zeros(shape, np.int8)
    flags[u < p_solid] = 1
    flags[(u >= p_solid) & (u < p_solid + p_air)] = 2
    return flags


def scipy_poisson_reference(flags, h, boundary="dirichlet"):
    """Independent loop-based assembly of -Δ_h on FLUID cells (for checking the stencil operator)."""
    import itertools

    import scipy.sparse as sp

    FLUID, SOLID = 0, 1
    shape = flags.shape
    cells = [c for c in itertools.product(*[range(n) for n in shape]) if flags[c] == FLUID]
    index = {c: i for i, c in enumerate(cells)}
    rows, cols, vals = [], [], []
    for c in cells:
        diag = 0
        for a in range(len(shape)):
            for s in (-1, 1):
                nb = list(c)
                nb[a] += s
                nb = tuple(nb)
                inside = 0 <= nb[a] < shape[a]
                if not inside:
                    if boundary == "dirichlet":
                        diag += 1
                    continue
                if flags[nb] == SOLID:
                    continue
                diag += 1
                if flags[nb] == FLUID:
                    rows.append(index[c])
                    cols.append(index[nb])
                    vals.append(-1.0 / h**2)
        rows.append(index[c])
        cols.append(index[c])
        vals.append(diag / h**2)
    n = len(cells)
    return sp.csr_matrix((vals, (rows, cols)), shape=(n, n))


def spd_matrix(n, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, n))
    return (A @ A.T / n + np.eye(n)).astype(dtype)


def once_per_run(name, compute):
    """`compute()` (a JSON-serialisable result) run once per test run and shared by the xdist workers.

    A module-scoped fixture runs once per *worker* that gets one of the module's tests (pytest-xdist's default
    `load` scheduling spreads a module over both workers). The first worker computes under a file lock and stores
    the result under the run's temp folder (conftest sets SCIML_TEST_RUN and removes the folder at the end);
    the other reads it. Without SCIML_TEST_RUN (a single-file run outside conftest) it just computes.
    """
    import fcntl
    import json
    import os
    import pathlib
    import tempfile

    run = os.environ.get("SCIML_TEST_RUN")
    if not run:
        return compute()
    base = pathlib.Path(tempfile.gettempdir()) / f"sciml-test-site-{run}"
    base.mkdir(exist_ok=True)
    out = base / f"{name}.json"
    with open(base / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if out.exists():
            return json.loads(out.read_text())
        res = compute()
        out.write_text(json.dumps(res))
        return res
