"""The `Solution` module returned by every sciml linear solver."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

#: result codes
SUCCESSFUL = 0
MAX_STEPS_REACHED = 1
BREAKDOWN = 2

RESULT_MESSAGES = {
    SUCCESSFUL: "converged to the requested relative residual",
    MAX_STEPS_REACHED: "maxiter reached before the requested relative residual",
    BREAKDOWN: "breakdown: a search direction with pᵀAp <= 0 or qᵀr = 0 (operator not SPD, or a stalled direction)",
}


class Solution(eqx.Module):
    """Result of a Krylov / conjugate-direction solve.

    **Fields:**

    - `value`: the solution, with the right-hand side's (grid) shape.
    - `iterations`: number of iterations taken (int32 scalar; batched under vmap).
    - `residual_norms`: relative residual norms `‖b − A x_k‖/‖b‖` for `k = 0, 1, …`, a fixed-size buffer
      padded with NaN (its length is `min(maxiter, history) + 1`; later iterations overwrite the last slot).
    - `converged`: whether the relative residual reached `rtol`.
    - `result`: result code (`SUCCESSFUL`, `MAX_STEPS_REACHED` or `BREAKDOWN`).
    - `safeguard_steps`: number of iterations in which a safeguard direction replaced the proposed one
      (only `conjugate_directions`; 0 otherwise).
    """

    value: Float[Array, "*grid"]
    iterations: Int[Array, ""]
    residual_norms: Float[Array, " h"]
    converged: Bool[Array, ""]
    result: Int[Array, ""]
    safeguard_steps: Int[Array, ""]

    @property
    def final_residual(self):
        """The last recorded relative residual."""
        idx = jnp.minimum(self.iterations, self.residual_norms.shape[-1] - 1)
        return jnp.take_along_axis(self.residual_norms, jnp.asarray(idx)[..., None], axis=-1)[..., 0]

    def message(self) -> str:
        """A human-readable description of the result code (concrete solutions only)."""
        return RESULT_MESSAGES[int(self.result)]
