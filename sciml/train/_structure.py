"""Tree structure records (leaf paths, shapes, dtypes) saved next to checkpoints and model files, and the
comparison that turns a mismatch into a readable error."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np


def _dtype_name(x) -> str:
    return str(np.dtype(getattr(x, "dtype", None) or np.asarray(x).dtype))


def describe(tree, prefix: str = "") -> list[dict]:
    """`[{"path", "shape", "dtype"}, ...]` for the array leaves of `tree`, in flattening order."""
    out = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        out.append({"path": prefix + jax.tree_util.keystr(path), "shape": [int(d) for d in np.shape(leaf)],
                    "dtype": _dtype_name(leaf)})
    return out


def _fmt(rec) -> str:
    return f"shape {tuple(rec['shape'])} {rec['dtype']}"


def differences(saved: list[dict], current: list[dict], limit: int = 4) -> list[str]:
    """Human-readable differences between two `describe` records (empty when they agree)."""
    msgs = []
    sp = {r["path"]: r for r in saved}
    cp = {r["path"]: r for r in current}
    only_saved = [p for p in sp if p not in cp]
    only_current = [p for p in cp if p not in sp]
    if only_saved:
        msgs.append(f"{len(only_saved)} leaves only in the saved file, e.g. {', '.join(only_saved[:limit])}")
    if only_current:
        msgs.append(f"{len(only_current)} leaves only in the current model/optimiser, e.g. "
                    f"{', '.join(only_current[:limit])}")
    diff = [p for p in sp if p in cp and (sp[p]["shape"] != cp[p]["shape"] or sp[p]["dtype"] != cp[p]["dtype"])]
    for p in diff[:limit]:
        msgs.append(f"{p}: {_fmt(sp[p])} saved, {_fmt(cp[p])} now")
    if len(diff) > limit:
        msgs.append(f"... and {len(diff) - limit} more leaves with different shape/dtype")
    if not msgs and [r["path"] for r in saved] != [r["path"] for r in current]:
        msgs.append("the leaves are the same but in a different order")
    return msgs


def all_finite(tree, allow_inf: bool = False):
    """A traced boolean: every floating leaf of `tree` is finite (or, with `allow_inf`, free of NaN)."""
    leaves = [l for l in jax.tree.leaves(tree) if eqx.is_inexact_array(l)]
    if not leaves:
        return jnp.asarray(True)
    test = (lambda l: ~jnp.any(jnp.isnan(l))) if allow_inf else (lambda l: jnp.all(jnp.isfinite(l)))
    return jnp.all(jnp.stack([test(l) for l in leaves]))


@jax.jit
def _state_finite(params, opt_state):
    return all_finite(params), all_finite(opt_state, allow_inf=True)


def nonfinite_report(params, opt_state) -> str | None:
    """`None` when `params` are finite and `opt_state` has no NaN (L-BFGS keeps Inf sentinels); else which is not."""
    p_ok, s_ok = (bool(v) for v in _state_finite(params, opt_state))
    if p_ok and s_ok:
        return None
    return " and ".join(n for n, ok in (("parameters", p_ok), ("optimiser state", s_ok)) if not ok) + " not finite"
