import os

os.environ.setdefault("MPLBACKEND", "Agg")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)


@pytest.fixture
def getkey():
    """Fresh PRNG keys: `getkey()` returns a new key each call."""
    state = {"i": 0}

    def _get():
        state["i"] += 1
        return jax.random.key(state["i"])

    return _get
