"""DeepLift with the rescale rule, against a reference input (default: the black image)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from specxai_jax.attribution import backward
from specxai_jax.attribution.backward import paired_difference
from specxai_jax.attribution.core import ApplyFn, as_model, check_score, resolve_target, select_score

SELECTIONS = ("argmax", "argmin", "sort", "top_k")


class RescaleRule(backward.Rule):
    """DeepLift's rescale rule on a batch [inputs; references] (2n, …), as Captum computes it.

    Activations: multiplier Δy/Δx (the plain gradient where |Δx| < eps). Max pooling: Captum's rule,
    the output difference split between the input's and the reference's argmax and divided by Δx.
    Other operations are linearised (their gradient); a selection (argmax, sort) outside a
    recognized pooling is refused, since its gradient would silently replace the pooling rule.
    """

    method = "deeplift"

    def __init__(self, eps: float = 1e-10):
        super().__init__()
        self.eps = eps

    def check(self, eqn, dependent):
        if eqn.primitive.name in SELECTIONS:
            raise ValueError(f"deeplift has no rule for {eqn.primitive.name} on the input's signal (a max pooling "
                             "it does not recognize?); pool with flax.linen.max_pool or lax.reduce_window")

    def backward(self, kind, x, y, g, plain, aux):
        delta_in = paired_difference(x)
        small = jnp.abs(delta_in) < self.eps
        safe = jnp.where(small, 1.0, delta_in)
        if kind != "pool":
            return jnp.where(small, plain(g), g * paired_difference(y) / safe)
        half = x.shape[0] // 2
        cross_max = jnp.maximum(y[:half], y[half:])
        delta_out = jnp.concatenate([cross_max - y[half:], y[:half] - cross_max])
        routed = plain(g * delta_out)
        routed = jnp.concatenate([routed[:half] + routed[half:]] * 2)
        return jnp.where(small, plain(g), routed / safe)


def deeplift(apply_fn: ApplyFn, variables, x: jax.Array, target: jax.Array | None = None, *,
             baseline: jax.Array | float = 0.0, score: str = "log_prob", eps: float = 1e-10) -> jax.Array:
    """(x − x₀) ⊙ DeepLift multipliers, shape of x (see :class:`RescaleRule`).

    As in Captum, inputs and references run as one batch [x; x₀] and the explained scalar of both
    halves is summed. With ``score="logit"`` the attributions sum to f(x) − f(x₀) (summation to
    delta); with "log_prob" the final log-softmax is linearised (its gradient), as Captum does.
    """
    check_score(score)
    apply = as_model(apply_fn).apply
    target = resolve_target(apply_fn, variables, x, target)
    baseline = jnp.broadcast_to(jnp.asarray(baseline, x.dtype), x.shape)
    both_targets = jnp.concatenate([target, target])
    multipliers = backward.modified_gradient(
        RescaleRule(eps), lambda inputs: apply(variables, jnp.concatenate([inputs, baseline])), x,
        lambda logits: select_score(logits, both_targets, score).sum())
    return (x - baseline) * multipliers
