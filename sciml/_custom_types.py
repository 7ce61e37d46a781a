"""Shape aliases used in jaxtyping annotations across sciml."""

from jaxtyping import Array, Float, Int, Bool  # noqa: F401

Grid = Float[Array, "*grid"]
FlagGrid = Int[Array, "*grid"]
Points = Float[Array, "n d"]
