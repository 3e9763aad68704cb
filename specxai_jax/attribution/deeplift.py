"""DeepLift with the rescale rule, against a reference input (default: the black image)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from specxai_jax.attribution import rules
from specxai_jax.attribution.gradients import ApplyFn, resolve_target, select_score


def deeplift(apply_fn: ApplyFn, variables: dict, x: jax.Array, target: jax.Array | None = None, *,
             baseline: jax.Array | float = 0.0, score: str = "log_prob", eps: float = 1e-10) -> jax.Array:
    """(x − x₀) ⊙ DeepLift multipliers, shape of x (see :class:`rules.RescaleRule`).

    As in Captum, inputs and references run as one batch [x; x₀] and the explained scalar of both
    halves is summed. With ``score="logit"`` the attributions sum to f(x) − f(x₀) (summation to
    delta); with "log_prob" the final log-softmax is linearised (its gradient), as Captum does.
    """
    target = resolve_target(apply_fn, variables, x, target)
    baseline = jnp.broadcast_to(jnp.asarray(baseline, x.dtype), x.shape)
    rule = rules.RescaleRule(eps)
    both_targets = jnp.concatenate([target, target])

    def total(inputs):
        with rules.backward_rule(rule):
            logits = apply_fn(variables, jnp.concatenate([inputs, baseline]))
            return select_score(logits, both_targets, score).sum()

    multipliers = jax.grad(total)(x)
    rule.require_rule_aware_model()
    return (x - baseline) * multipliers
