"""Layer-wise relevance propagation, ε-rule, for ReLU conv nets (see :class:`rules.EpsilonRule`)."""

from __future__ import annotations

import jax

from specxai_jax.attribution import rules
from specxai_jax.attribution.gradients import ApplyFn, resolve_target, select_score


def lrp(apply_fn: ApplyFn, variables: dict, x: jax.Array, target: jax.Array | None = None, *,
        epsilon: float = 1e-9) -> jax.Array:
    """Relevance of each input value for the target **logit** (LRP starts from a logit), shape of x.

    The output relevance is the logit z_c (damped by z_c/(z_c + ε·sign z_c) like every layer, as
    Captum does); each conv/dense/max-pool layer applies the ε-rule, ReLU passes relevance on.
    Raises ValueError for non-ReLU activations and for batch norm / residual / attention layers.
    """
    target = resolve_target(apply_fn, variables, x, target)
    rule = rules.EpsilonRule(epsilon)

    def total(inputs):
        with rules.backward_rule(rule):
            logit = select_score(apply_fn(variables, inputs), target, "logit")
        return (logit * jax.lax.stop_gradient(rules.stabilized_ratio(logit, epsilon))).sum()

    grads = jax.grad(total)(x)
    rule.require_rule_aware_model()
    return x * grads
