"""`dcdm.solve`: the deep conjugate-direction method on top of `linalg.conjugate_directions`."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from .. import linalg
from ._validate import check_grid, check_op


def _check_solve_args(net, op, b, *, rtol, atol, maxiter, k_orth, refresh_every, safeguard, stall_tol,
                      stall_window, x0, history):
    from .._errors import check_finite, check_int, check_real

    if not callable(net):
        raise TypeError(f"`net` must be a callable network r -> q (e.g. a DCDMNet), got {type(net).__name__}.")
    check_op(op)
    check_grid("b", b, op)
    check_finite("b", b)
    if x0 is not None:
        check_grid("x0", x0, op)
        check_finite("x0", x0)
    check_real("rtol", rtol, minimum=0.0)
    check_real("atol", atol, minimum=0.0)
    if maxiter is not None:
        check_int("maxiter", maxiter, minimum=1)
    check_int("k_orth", k_orth, minimum=0)
    check_int("refresh_every", refresh_every, minimum=0)
    if not (safeguard is None or isinstance(safeguard, bool) or safeguard in ("cg", "jacobi") or callable(safeguard)):
        raise ValueError(f"`safeguard` must be True/False/None, 'cg', 'jacobi' or a callable r -> d, got {safeguard!r}.")
    check_real("stall_tol", stall_tol, minimum=0.0)
    check_int("stall_window", stall_window, minimum=0)
    if history is not None:
        check_int("history", history, minimum=1)


def network_direction(net: Callable, op) -> Callable:
    """The DCDM direction map ``r -> mask * f(r / ||r||)``.

    The residual is normalised to unit 2-norm (the network only sees directions; the line search fixes the
    scale), cast to the network's parameter dtype, and the output is zeroed off the FLUID cells and cast back.

    **Arguments:**

    - `net`: the network, a callable grid -> grid.
    - `op`: the operator; its `mask` (FLUID cells), if it has one, masks the output.

    **Returns:** a callable `r -> d` for [`linalg.conjugate_directions`][sciml.linalg.conjugate_directions].
    """
    mask = getattr(op, "mask", None)
    leaves = [x for x in jax.tree_util.tree_leaves(net) if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.floating)]
    net_dtype = leaves[0].dtype if leaves else None

    def direction(r):
        rn = jnp.sqrt(jnp.vdot(r, r).real)
        rhat = r / jnp.where(rn > 0, rn, 1)
        x = rhat.astype(net_dtype) if net_dtype is not None else rhat
        q = net(x).astype(r.dtype)
        return q if mask is None else jnp.where(mask, q, 0)

    return direction


def solve(
    net: Callable,
    op,
    b,
    *,
    rtol: float = 1e-6,
    atol: float = 0.0,
    maxiter: int | None = 500,
    k_orth: int = 2,
    refresh_every: int = 10,
    safeguard: bool | str | Callable | None = True,
    stall_tol: float = 1e-4,
    stall_window: int = 20,
    x0=None,
    history: int | None = None,
) -> linalg.Solution:
    """Solve ``A x = b`` with DCDM: network directions, A-orthogonalised against the last ``k_orth``.

    Each iteration: ``q = f(r/||r||)`` (masked to FLUID), Gram-Schmidt against the last ``k_orth`` directions
    (paper: 2), exact line search ``α = qᵀr / qᵀAq``; the true residual ``b − Ax`` replaces the recursive
    one every ``refresh_every`` iterations.  **Stall safeguard**: when the orthogonalised network direction
    is useless (``|qᵀr| ≤ stall_tol·‖q‖‖r‖``, zero or non-finite — the exact freeze DCDM shows once
    ``f(r)`` falls into the span of the previous directions) a CG direction (``"cg"``, the residual) or a
    Jacobi-PCG direction (``"jacobi"``) is taken instead; ``Solution.safeguard_steps`` counts them.

    **Arguments:**

    - `net`: any callable grid -> grid (a [`DCDMNet`][sciml.dcdm.DCDMNet], `IdentityNet`, `MatrixNet`, ...).
    - `op`: flag-grid Poisson operator (``linalg.poisson_operator``); `b`: grid-shaped right-hand side.
    - `rtol`, `atol`, `maxiter`, `x0`: stopping rule ``‖r‖ ≤ max(rtol·‖b‖, atol)`` and iteration cap.
    - `k_orth`: orthogonalisation window (default 2, as in the paper).
    - `refresh_every`: true-residual refresh period (0: never).
    - `safeguard`: ``True``/``"cg"`` (default), ``"jacobi"``, a callable ``r -> d``, or ``False``/``None``.
    - `stall_tol`: threshold of the stall test above.
    - `stall_window`: slow-stagnation test: when the residual has not halved within this many iterations the
      safeguard direction is used until it does (0 disables).
    - `history`: length of the residual-norm buffer (integer ≥ 1); `None` (default) uses
      `linalg.conjugate_directions`'s default (4096).

    **Returns:** a [`linalg.Solution`][sciml.linalg.Solution] with ``safeguard_steps``.  jit and vmap over
    right-hand sides work (``jax.vmap(lambda b: dcdm.solve(net, op, b))(B)``).

    **Example:**

    ```python
    net = dcdm.load_pretrained("dcdm-2d-64")
    sol = dcdm.solve(net, op, b, rtol=1e-6)
    sol.iterations, sol.safeguard_steps
    ```
    """
    _check_solve_args(net, op, b, rtol=rtol, atol=atol, maxiter=maxiter, k_orth=k_orth, refresh_every=refresh_every,
                      safeguard=safeguard, stall_tol=stall_tol, stall_window=stall_window, x0=x0, history=history)
    if safeguard is True:
        safeguard = "cg"
    elif safeguard is False:
        safeguard = None
    kw = {} if history is None else {"history": history}
    return linalg.conjugate_directions(
        op,
        b,
        network_direction(net, op),
        k_orth=k_orth,
        rtol=rtol,
        atol=atol,
        maxiter=maxiter,
        x0=x0,
        refresh_every=refresh_every,
        safeguard=safeguard,
        stall_tol=stall_tol,
        stall_window=stall_window if safeguard is not None else 0,
        **kw,
    )
