"""Wrappers the trainer uses around a scalar model: several fields (systems) and trainable PDE coefficients."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float


class FieldStack(eqx.Module):
    """One scalar model per unknown field of a system (`Problem(n_fields > 1)`).

    **Arguments:**

    - `models`: a non-empty sequence of scalar models (each with `derivatives(xs, required)` and `predict(xs)`,
      e.g. [`PIG`][sciml.pig.PIG] or [`MLPPINN`][sciml.pig.MLPPINN]), one per field.

    **Raises:** `ValueError` for an empty sequence.
    """

    models: tuple

    def __init__(self, models):
        models = tuple(models)
        if len(models) < 1:
            raise ValueError("`models` must hold at least one model.")
        self.models = models

    @property
    def n_fields(self) -> int:
        return len(self.models)

    @property
    def ndim(self) -> int:
        return self.models[0].ndim

    def derivatives(self, xs, required):
        """Every field's value and derivatives at a batch of points.

        **Arguments:**

        - `xs`: points, shape `(P, d)`.
        - `required`: derivative requests `(i,)`, `(i, j)`.

        **Returns:** a list (one per field) of dicts from each request to an array of shape `(P,)`.
        """
        return [m.derivatives(xs, required) for m in self.models]

    def predict(self, xs: Float[Array, "P d"], chunk_size: int | None = 4096) -> Float[Array, "P m"]:
        """Every field at many points.

        **Arguments:**

        - `xs`: points, shape `(P, d)`.
        - `chunk_size`: points per chunk, passed to each model's `predict` (default 4096).

        **Returns:** shape `(P, n_fields)`.
        """
        return jnp.stack([m.predict(xs, chunk_size=chunk_size) for m in self.models], axis=-1)


class WithParams(eqx.Module):
    """A model together with the PDE coefficients being identified (inverse problems): `params` is a dict of
    scalar arrays, trained with the model."""

    model: eqx.Module
    params: dict

    @property
    def ndim(self) -> int:
        return self.model.ndim

    def derivatives(self, xs, required):
        return self.model.derivatives(xs, required)

    def predict(self, xs, chunk_size: int | None = 4096):
        return self.model.predict(xs, chunk_size=chunk_size)


def unwrap(state):
    """`(model, params)` from a trained pytree: params are `{}` unless coefficients are identified."""
    if isinstance(state, WithParams):
        return state.model, {k: v for k, v in state.params.items()}
    return state, {}


def field_models(model, n_fields: int):
    """The per-field models of `model` (a `FieldStack` or a single scalar model when `n_fields == 1`)."""
    if isinstance(model, FieldStack):
        if model.n_fields != n_fields:
            raise ValueError(f"`model` has {model.n_fields} fields, the problem {n_fields}.")
        return model.models
    if n_fields != 1:
        raise ValueError(f"the problem has {n_fields} fields: pass `model=pig.FieldStack([...])` with one model "
                         "per field (or let pig.train build it).")
    return (model,)


def stop_gradient_tree(tree):
    return jax.tree.map(jax.lax.stop_gradient, tree)
