"""Layer-wise relevance propagation, ε-rule, for chains of conv/dense, ReLU and max pooling."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from specxai_jax.attribution import backward
from specxai_jax.attribution.core import ApplyFn, as_model, check_score, resolve_target, select_score

LINEAR = frozenset({"neg", "reshape", "transpose", "broadcast_in_dim", "squeeze", "expand_dims", "pad", "slice",
                    "dynamic_slice", "concatenate", "reduce_sum", "convert_element_type", "copy", "copy_p", "rev",
                    "stop_gradient", "reduce_precision"})
BILINEAR = frozenset({"add", "sub", "add_any", "mul", "dot_general", "conv_general_dilated"})  # linear in one signal
PROBE = np.array([-3.0, -1.0, -0.25, 0.0, 0.25, 1.0, 3.0])


def stabilized_ratio(z: jax.Array, epsilon: float) -> jax.Array:
    """z / (z + ε·sign(z)) with sign(0) = 1: the ε-rule's damping of a layer output z."""
    sign = jnp.where(z >= 0, 1.0, -1.0).astype(z.dtype)
    return z / (z + epsilon * sign)


class EpsilonRule(backward.Rule):
    """LRP-ε as a modified gradient (x ⊙ ∇̃ = relevance) for chains conv/dense → ReLU → max-pool.

    Every ReLU input and max-pool output is a linear layer's output z; the ε-rule
    R_in = x ⊙ Wᵀ(R_z / (z + ε·sign z)) is the gradient with the upstream factor z / (z + ε·sign z).
    ReLU passes relevance unchanged. Eval-mode batch norm is affine and folds into its layer. An
    activation unit must act as ReLU (checked on probe values: SoftPlus/Gauss with β = inf pass);
    where that is known only at run time (β traced), a non-ReLU activation makes the result NaN.
    Residual sums, attention, and other nonlinearities raise ValueError.
    """

    method = "lrp"

    def __init__(self, epsilon: float = 1e-9):
        super().__init__()
        self.epsilon = epsilon

    def check(self, eqn, dependent):
        name = eqn.primitive.name
        if name in LINEAR or (name in BILINEAR and sum(dependent) == 1):
            return
        if (name == "div" and dependent == [True, False]) or (name == "select_n" and not dependent[0]):
            return
        what = {"add": "a residual sum", "sub": "a residual sum", "add_any": "a residual sum",
                "dot_general": "a product of two signals (attention)",
                "mul": "a product of two signals"}.get(name, name)
        raise ValueError(f"LRP (ε-rule) is implemented for conv/dense, ReLU and max-pool chains; this model "
                         f"applies {what} to the input's signal")

    def forward(self, kind, fn, x):
        if kind != "activation":
            return jnp.ones((), x.dtype)
        with jax.ensure_compile_time_eval():
            probe = jnp.resize(jnp.asarray(PROBE, x.dtype), x.shape)
            acts_as_relu = jnp.all(jnp.abs(fn(probe) - jnp.maximum(probe, 0)) <= 1e-6)
        if not isinstance(acts_as_relu, jax.core.Tracer) and not bool(acts_as_relu):
            raise ValueError("LRP (ε-rule) is defined for ReLU networks; this model uses an activation that is "
                             "not ReLU")
        return jnp.where(acts_as_relu, 1.0, jnp.nan).astype(x.dtype)

    def backward(self, kind, x, y, g, plain, aux):
        if kind == "pool":
            return plain(g * stabilized_ratio(y, self.epsilon))
        return g * (x > 0) * stabilized_ratio(x, self.epsilon) * aux


def lrp(apply_fn: ApplyFn, variables, x: jax.Array, target: jax.Array | None = None, *,
        epsilon: float = 1e-9, score: str = "logit") -> jax.Array:
    """Relevance of each input value for the target **logit** (LRP starts from a logit), shape of x.

    The output relevance is the logit z_c (damped by z_c/(z_c + ε·sign z_c) like every layer, as
    Captum does); each conv/dense/max-pool layer applies the ε-rule, ReLU passes relevance on
    (see :class:`EpsilonRule` for what is refused). ``score`` must be "logit".
    """
    check_score(score)
    if score != "logit":
        raise ValueError("lrp decomposes the target logit: use score='logit' (the default)")
    apply = as_model(apply_fn).apply
    target = resolve_target(apply_fn, variables, x, target)

    def objective(logits):
        logit = select_score(logits, target, "logit")
        return (logit * jax.lax.stop_gradient(stabilized_ratio(logit, epsilon))).sum()

    return x * backward.modified_gradient(EpsilonRule(epsilon), lambda inputs: apply(variables, inputs), x, objective)
