"""`dcdm.solve`: the deep conjugate-direction method on top of `linalg.conjugate_directions`."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from .. import linalg


def network_direction(net: Callable, op) -> Callable:
    """The DCDM direction map ``r -> mask * f(r / ||r||)``.

    The residual is normalised to unit 2-norm (the network only sees directions; the line search fixes the
    scale), cast to the network's parameter dtype, and the output is zeroed off the FLUID cells and cast back.
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

    **Returns:** a [`linalg.Solution`][sciml.linalg.Solution] with ``safeguard_steps``.  jit and vmap over
    right-hand sides work (``jax.vmap(lambda b: dcdm.solve(net, op, b))(B)``).

    **Example:**

    ```python
    net = dcdm.load_pretrained("dcdm-2d-64")
    sol = dcdm.solve(net, op, b, rtol=1e-6)
    sol.iterations, sol.safeguard_steps
    ```
    """
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
