"""The `Solution` module returned by every sciml linear solver."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

#: result codes
SUCCESSFUL = 0
MAX_STEPS_REACHED = 1
BREAKDOWN = 2
STAGNATED = 3
INCOMPATIBLE_RHS = 4

RESULT_MESSAGES = {
    SUCCESSFUL: "converged to the requested relative residual",
    MAX_STEPS_REACHED: "maxiter reached before the requested relative residual",
    BREAKDOWN: "breakdown: a search direction with pᵀAp <= 0 or qᵀr = 0 (operator not SPD, or a stalled direction)",
    STAGNATED: "the updated residual reached the tolerance but the true residual ‖b − A x‖ did not: the tolerance is "
    "below what this dtype can resolve for this problem (use float64 or a larger rtol)",
    INCOMPATIBLE_RHS: "the right-hand side has a component in the null space of a pure-Neumann operator (A x = b has "
    "no solution); the projected system was solved. Pass project_rhs=True to accept the least-squares solution, or "
    "remove the component with op.project(b)",
}


class Solution(eqx.Module):
    """Result of a Krylov / conjugate-direction solve.

    **Fields:**

    - `value`: the solution, with the right-hand side's (grid) shape.
    - `iterations`: number of iterations taken (int32 scalar; batched under vmap).
    - `residual_norms`: relative residual norms `‖b − A x_k‖/‖b‖` for `k = 0, 1, …`, a fixed-size buffer
      padded with NaN (its length is `min(maxiter, history) + 1`; later iterations overwrite the last slot).
    - `converged`: whether the true residual `‖b − A x‖` reached `max(rtol·‖b‖, atol)`.
    - `result`: result code (`SUCCESSFUL`, `MAX_STEPS_REACHED`, `BREAKDOWN`, `STAGNATED`:
      the true residual stayed above the tolerance although the updated one went below it, or
      `INCOMPATIBLE_RHS`: see `rhs_removed`); `message()` explains it.
    - `safeguard_steps`: number of iterations in which a safeguard direction replaced the proposed one
      (only `conjugate_directions`; 0 otherwise).
    - `true_residual`: the true relative residual `‖b − A x‖/‖b‖` recomputed from the returned `value` (one
      extra `mv`), with `b` the right-hand side the solver was asked to satisfy (the projected one when
      `project_rhs=True`). `converged` is decided on this value, never on the recursively updated residual
      alone, so rounding cannot make a solve look better than it is.
    - `rhs_removed`: the relative size `‖b_F − P b_F‖/‖b_F‖` of the component of the right-hand side that the
      pure-Neumann projection `P` removed (`b_F`: `b` on the FLUID cells; entries off FLUID cells are ignored
      by design and not counted). 0 when the operator has no null space; close to 1 for an incompatible
      right-hand side such as `b = 1` in a closed box. Without `project_rhs=True` a removed part larger than
      the tolerance means the system has no solution and `converged` is `False`.
    """

    value: Float[Array, "*grid"]
    iterations: Int[Array, ""]
    residual_norms: Float[Array, " h"]
    converged: Bool[Array, ""]
    result: Int[Array, ""]
    safeguard_steps: Int[Array, ""]
    true_residual: Float[Array, ""] = 0.0
    rhs_removed: Float[Array, ""] = 0.0

    @property
    def final_residual(self):
        """The last recorded relative residual."""
        idx = jnp.minimum(self.iterations, self.residual_norms.shape[-1] - 1)
        return jnp.take_along_axis(self.residual_norms, jnp.asarray(idx)[..., None], axis=-1)[..., 0]

    def message(self) -> str:
        """A human-readable description of the result code (concrete solutions only)."""
        return RESULT_MESSAGES[int(self.result)]
