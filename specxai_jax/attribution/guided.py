"""GuidedBackprop: the gradient with negative signals stopped at every activation."""

from __future__ import annotations

import jax

from specxai_jax.attribution import rules
from specxai_jax.attribution.gradients import ApplyFn, resolve_target, select_score


def gradient_under_rule(rule: rules.Rule, apply_fn: ApplyFn, variables: dict, x: jax.Array,
                        target: jax.Array, score: str) -> jax.Array:
    """∇̃ₓ of the explained scalar with the backward pass governed by ``rule``; shape of x."""

    def total(inputs):
        with rules.backward_rule(rule):
            return select_score(apply_fn(variables, inputs), target, score).sum()

    grads = jax.grad(total)(x)
    rule.require_rule_aware_model()
    return grads


def guided_backprop(apply_fn: ApplyFn, variables: dict, x: jax.Array, target: jax.Array | None = None, *,
                    score: str = "log_prob") -> jax.Array:
    """Guided gradient of f_c (see :class:`rules.GuidedRule`), shape of x."""
    target = resolve_target(apply_fn, variables, x, target)
    return gradient_under_rule(rules.GuidedRule(), apply_fn, variables, x, target, score)
