"""GuidedBackprop: the gradient with negative signals stopped at every activation."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from specxai_jax.attribution import backward
from specxai_jax.attribution.core import ApplyFn, as_model, check_score, resolve_target, select_score


class GuidedRule(backward.Rule):
    """The cotangent leaving every ReLU/activation unit is clamped at zero, relu(φ'(x)·g); pooling is plain.

    For ReLU this is Captum's GuidedBackprop. Captum hooks ReLU modules only; here every activation
    unit gets the same clamp (for SoftPlus φ' > 0, so it equals φ'(x)·relu(g)).
    """

    method = "guided_backprop"

    def backward(self, kind, x, y, g, plain, aux):
        return plain(g) if kind == "pool" else jnp.maximum(plain(g), 0.0)


def guided_backprop(apply_fn: ApplyFn, variables, x: jax.Array, target: jax.Array | None = None, *,
                    score: str = "log_prob") -> jax.Array:
    """Guided gradient of the explained scalar (see :class:`GuidedRule`), shape of x."""
    check_score(score)
    apply = as_model(apply_fn).apply
    target = resolve_target(apply_fn, variables, x, target)
    return backward.modified_gradient(GuidedRule(), lambda inputs: apply(variables, inputs), x,
                                      lambda logits: select_score(logits, target, score).sum())
