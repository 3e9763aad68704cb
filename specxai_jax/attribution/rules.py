"""Backward-rule overrides for modified-gradient methods (GuidedBackprop, DeepLift, LRP).

Models route their activations, max pooling and non-elementwise layers through this module
(``activation``, ``max_pool``, ``layer``) and expose the GradCAM feature map with
``expose_feature_map``. Inside ``with backward_rule(rule):`` the forward pass is unchanged but the
backward pass of those ops follows the rule (``jax.custom_vjp``); outside any rule they are the
plain ops. The rule is read at trace time, so enter it inside the function that gets jit-compiled.
"""

from __future__ import annotations

import contextlib
import contextvars

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from specxai_jax import activations, pooling

_RULE: contextvars.ContextVar = contextvars.ContextVar("backward_rule", default=None)


class Rule:
    """Plain gradients; subclasses override the backward pass of activations and max pooling."""

    method = "gradient"

    def __init__(self):
        self.activations_seen = 0

    def activation(self, family: str, fn, x: jax.Array, beta: jax.Array) -> jax.Array:
        return fn(x, beta)

    def max_pool(self, x: jax.Array, window: int) -> jax.Array:
        return pooling.max_pool(x, window)

    def layer(self, kind: str) -> None:
        """Called by models for non-elementwise layers (batch_norm, residual, attention, …)."""

    def require_rule_aware_model(self) -> None:
        """Raise if the traced model never called :func:`activation` (its backward would be plain)."""
        if self.activations_seen == 0:
            raise ValueError(
                f"{self.method} needs a model whose activations go through specxai_jax.attribution.rules."
                "activation (and max pooling through rules.max_pool); this model's do not, so its "
                "backward pass would be the plain gradient")


@contextlib.contextmanager
def backward_rule(rule: Rule):
    """Make ``rule`` govern the backward pass of rule-aware ops traced inside the block."""
    token = _RULE.set(rule)
    try:
        yield rule
    finally:
        _RULE.reset(token)


def activation(family: str):
    """Rule-aware activation ``f(x, beta)`` of the family (see :func:`specxai_jax.activations.get`)."""
    fn = activations.get(family)

    def apply(x: jax.Array, beta: jax.Array) -> jax.Array:
        rule = _RULE.get()
        if rule is None:
            return fn(x, beta)
        rule.activations_seen += 1
        return rule.activation(family, fn, x, jnp.asarray(beta, x.dtype))

    return apply


def max_pool(x: jax.Array, window: int = 2) -> jax.Array:
    """Rule-aware window×window max pooling, stride = window, VALID: (B, H, W, C) → (B, H//w, W//w, C)."""
    rule = _RULE.get()
    return Rule.max_pool(None, x, window) if rule is None else rule.max_pool(x, window)


def layer(kind: str) -> None:
    """Tell the active rule that the model has a non-elementwise layer of this kind (it may refuse)."""
    rule = _RULE.get()
    if rule is not None:
        rule.layer(kind)


def expose_feature_map(module: nn.Module, name: str, x: jax.Array) -> jax.Array:
    """Make feature map x (B, h, w, K) visible to GradCAM: a perturbation (its gradient) and a sown value."""
    x = module.perturb(name, x)
    module.sow("intermediates", name, x)
    return x


# ----- shared pieces ---------------------------------------------------------------------------


def _plain_vjp(fn, x, beta, g):
    """Ordinary cotangent of x for y = fn(x, beta) and output cotangent g."""
    return jax.vjp(lambda u: fn(u, beta), x)[1](g)[0]


def _with_backward(fn, backward):
    """fn(x, beta) whose x-cotangent is ``backward(x, y, beta, g)`` (β gets a zero cotangent)."""

    @jax.custom_vjp
    def wrapped(x, beta):
        return fn(x, beta)

    def forward(x, beta):
        y = fn(x, beta)
        return y, (x, y, beta)

    def reverse(residuals, g):
        x, y, beta = residuals
        return backward(x, y, beta, g), jnp.zeros_like(beta)

    wrapped.defvjp(forward, reverse)
    return wrapped


def pool_windows(x: jax.Array, window: int) -> jax.Array:
    """(B, H, W, C) → (B, H//w, W//w, C, w·w), window entries in row-major order (remainder cropped)."""
    b, h, w, c = x.shape
    hh, ww = h // window, w // window
    x = x[:, : hh * window, : ww * window]
    x = x.reshape(b, hh, window, ww, window, c).transpose(0, 1, 3, 5, 2, 4)
    return x.reshape(b, hh, ww, c, window * window)


def unpool_windows(values: jax.Array, shape: tuple, window: int) -> jax.Array:
    """Inverse of :func:`pool_windows`: (B, h, w, C, w·w) → ``shape`` (cropped border gets zeros)."""
    b, hh, ww, c, _ = values.shape
    x = values.reshape(b, hh, ww, c, window, window).transpose(0, 1, 4, 2, 5, 3)
    x = x.reshape(b, hh * window, ww * window, c)
    return jnp.pad(x, ((0, 0), (0, shape[1] - x.shape[1]), (0, shape[2] - x.shape[2]), (0, 0)))


def paired_difference(a: jax.Array) -> jax.Array:
    """For a batch [inputs; references] (2n, …): [a_in − a_ref; a_in − a_ref]."""
    half = a.shape[0] // 2
    delta = a[:half] - a[half:]
    return jnp.concatenate([delta, delta])


# ----- GuidedBackprop --------------------------------------------------------------------------


class GuidedRule(Rule):
    """GuidedBackprop: the gradient leaving every activation is clamped at zero, relu(φ'(x)·g).

    For ReLU this is Captum's GuidedBackprop. Captum hooks only ReLU modules; here every activation
    family gets the same clamp (for SoftPlus φ' > 0, so it equals φ'(x)·relu(g)).
    """

    method = "guided_backprop"

    def activation(self, family, fn, x, beta):
        def backward(x, y, beta, g):
            return jnp.maximum(_plain_vjp(fn, x, beta, g), 0.0)

        return _with_backward(fn, backward)(x, beta)


# ----- DeepLift (rescale rule) -----------------------------------------------------------------


class RescaleRule(Rule):
    """DeepLift's rescale rule on a batch [inputs; references] (2n, …), as Captum computes it.

    Activations: multiplier Δy/Δx (the plain gradient where |Δx| < eps). Max pooling: Captum's rule,
    the output difference split between the input's and the reference's argmax (first maximum in
    row-major window order, as PyTorch) and divided by Δx. Other layers are linearised (gradient).
    """

    method = "deeplift"

    def __init__(self, eps: float = 1e-10):
        super().__init__()
        self.eps = eps

    def activation(self, family, fn, x, beta):
        eps = self.eps

        def backward(x, y, beta, g):
            delta_in, delta_out = paired_difference(x), paired_difference(y)
            small = jnp.abs(delta_in) < eps
            ratio = g * delta_out / jnp.where(small, 1.0, delta_in)
            return jnp.where(small, _plain_vjp(fn, x, beta, g), ratio)

        return _with_backward(fn, backward)(x, beta)

    def max_pool(self, x, window):
        eps = self.eps

        def pool(u, unused_beta):
            return pool_windows(u, window).max(axis=-1)

        def backward(x, y, beta, g):
            half = x.shape[0] // 2
            windows = pool_windows(x, window)
            winner = jax.nn.one_hot(jnp.argmax(windows, axis=-1), window * window, dtype=x.dtype)
            cross_max = jnp.maximum(y[:half], y[half:])
            delta_out = jnp.concatenate([cross_max - y[half:], y[:half] - cross_max])
            routed = unpool_windows((g * delta_out)[..., None] * winner, x.shape, window)
            routed = jnp.concatenate([routed[:half] + routed[half:]] * 2)
            plain = unpool_windows(g[..., None] * winner, x.shape, window)
            delta_in = paired_difference(x)
            small = jnp.abs(delta_in) < eps
            return jnp.where(small, plain, routed / jnp.where(small, 1.0, delta_in))

        return _with_backward(pool, backward)(x, jnp.zeros((), x.dtype))


# ----- LRP (ε-rule) ----------------------------------------------------------------------------


def stabilized_ratio(z: jax.Array, epsilon: float) -> jax.Array:
    """z / (z + ε·sign(z)) with sign(0) = 1: the ε-rule's damping of a layer output z."""
    sign = jnp.where(z >= 0, 1.0, -1.0).astype(z.dtype)
    return z / (z + epsilon * sign)


class EpsilonRule(Rule):
    """LRP-ε for chains of conv/dense → ReLU → max-pool, as a modified gradient (x ⊙ ∇̃ = relevance).

    Every activation input and max-pool output is a linear layer's output z; the ε-rule
    R_in = x ⊙ Wᵀ(R_z / (z + ε·sign z)) is the gradient with the upstream factor z / (z + ε·sign z).
    ReLU passes relevance unchanged. Only ReLU is defined: GELU raises, SoftPlus/Gauss raise when β
    is a concrete finite number and turn the attribution into NaN when β is traced and finite.
    Models with batch norm, residual sums or attention raise (no ε-rule is implemented for them).
    """

    method = "lrp"

    def __init__(self, epsilon: float = 1e-9):
        super().__init__()
        self.epsilon = epsilon

    def layer(self, kind):
        raise ValueError(f"LRP (ε-rule) is implemented for conv/dense/ReLU/max-pool chains only; "
                         f"this model has {kind} layers")

    def activation(self, family, fn, x, beta):
        relu_gate = _relu_gate(family, beta)
        epsilon = self.epsilon

        def backward(x, y, beta, g):
            return g * (x > 0) * stabilized_ratio(x, epsilon) * relu_gate

        return _with_backward(activations.relu, backward)(x, beta)

    def max_pool(self, x, window):
        epsilon = self.epsilon

        def pool(u, unused_beta):
            return pooling.max_pool(u, window)

        def backward(x, y, beta, g):
            return _plain_vjp(pool, x, beta, g * stabilized_ratio(y, epsilon))

        return _with_backward(pool, backward)(x, jnp.zeros((), x.dtype))


def _relu_gate(family: str, beta: jax.Array) -> jax.Array | float:
    """1 when the activation is ReLU; raises (or NaN when β is traced) otherwise — LRP needs ReLU."""
    if family == "relu":
        return 1.0
    if family not in activations.SMOOTHED:
        raise ValueError(f"LRP (ε-rule) is defined for ReLU networks; this model uses {family}")
    if isinstance(beta, jax.core.Tracer):
        return jnp.where(jnp.isinf(beta), 1.0, jnp.nan)
    if np.isfinite(np.asarray(beta)).any():
        raise ValueError(f"LRP (ε-rule) is defined for ReLU networks; this model uses {family}(β={float(beta)}) "
                         "(only β = inf, i.e. ReLU, is supported)")
    return 1.0
