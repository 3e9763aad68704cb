"""Modified backward passes on a model's own computation (GuidedBackprop, DeepLift, LRP).

The model's forward function is traced to a jaxpr and evaluated again, equation by equation. The
equations that are *units* get the method's backward rule (a ``jax.custom_vjp`` around the very same
equation, so forward values are unchanged); every other equation is bound as traced. Units:

- **ReLU**: ``max(x, 0)`` with a constant zero — ``jnp.maximum(x, 0)``, ``jax.nn.relu``, ``flax.linen.relu``;
- **activation**: a function call (``jax.jit`` or ``jax.custom_jvp``) that maps one array elementwise,
  possibly with scalar extras such as β — ``jax.nn.relu``/``softplus``/``silu``/``relu6``…, the project's
  SoftPlus (a ``custom_jvp``) and every :mod:`specxai_jax.ops.activations` function its models call
  through ``jax.jit`` (:mod:`specxai_jax.models.layers`);
- **max pooling**: ``reduce_window_max`` (``flax.linen.max_pool``, ``lax.reduce_window``), ``reduce_max``
  over axes between the batch (first) and channel (last) axis (a global or reshaped-window max pooling;
  softmax's max over the class axis is none), and a function call taking one (B, H, W, C) array to a
  smaller (B, h, w, C) whose body takes a max or an argmax (:func:`specxai_jax.ops.pooling.max_pool` under
  ``jax.jit``, as the project's models call it).

Equations whose results reach the output only through ``stop_gradient`` carry no gradient and are
bound as traced, never units: e.g. the max that ``jax.nn.softmax``/``log_softmax``/``logsumexp`` subtract.

Calls (``jit``, ``custom_jvp_call``, ``custom_vjp_call``, ``closed_call``, ``checkpoint``) that hold
units are evaluated equation by equation too, so their own derivative rules give way to the units';
calls without units are bound unchanged. Control flow (``scan``, ``while``, ``cond``) is bound as is:
units inside it keep their plain gradients. Activations written inline as arithmetic
(``x * ndtr(x)``) are not units and are differentiated plainly, as Captum does for modules other than
its supported ones. A rule may refuse equations it has no rule for (:meth:`Rule.check`), and a
method that finds no ReLU or activation unit raises, so a model is never silently given the plain
gradient.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core

from specxai_jax.ops import fast_forms

CALLS = ("jit", "closed_call", "custom_jvp_call", "custom_vjp_call", "checkpoint")
NOT_ELEMENTWISE = frozenset({
    "transpose", "rev", "reshape", "dot_general", "conv_general_dilated", "reduce_sum", "reduce_max", "reduce_min",
    "reduce_prod", "reduce_and", "reduce_or", "argmax", "argmin", "cumsum", "cumprod", "cummax", "cummin",
    "cumlogsumexp", "sort", "gather", "scatter", "scatter-add", "scatter_add", "dynamic_slice",
    "dynamic_update_slice", "slice", "pad", "concatenate", "reduce_window_max", "reduce_window_sum",
    "reduce_window", "select_and_scatter_add", "select_and_gather_add", "scan", "while", "cond", "top_k"})
MAX_REDUCTIONS = frozenset({"reduce_max", "reduce_window_max", "argmax"})
MIXING = frozenset({"dot_general", "conv_general_dilated"})


@dataclasses.dataclass(frozen=True)
class Unit:
    """An equation with a rule: ``kind`` ∈ {relu, activation, pool}; ``position``: its array operand."""

    kind: str
    position: int


class Rule:
    """Plain gradients; a method's rule overrides :meth:`backward` (and :meth:`forward`, :meth:`check`)."""

    method = "modified gradient"

    def __init__(self):
        self.activations_seen = 0

    def forward(self, kind: str, fn: Callable, x: jax.Array) -> jax.Array:
        """A scalar passed to :meth:`backward` as ``aux`` (computed on the forward pass); 1 by default."""
        return jnp.ones((), x.dtype)

    def backward(self, kind: str, x: jax.Array, y: jax.Array, g: jax.Array, plain: Callable,
                 aux: jax.Array) -> jax.Array:
        """Cotangent of a unit's input x given y = unit(x), output cotangent g and ``plain`` (its VJP)."""
        return plain(g)

    def check(self, eqn, dependent: list[bool]) -> None:
        """Called for each non-unit equation with an input-dependent operand; raise to refuse it.

        ``dependent[i]``: whether operand i carries the input's signal (a ``stop_gradient``'ed one does not).
        """


def modified_gradient(rule: Rule, forward: Callable, x: jax.Array, objective: Callable) -> jax.Array:
    """∇ₓ objective(forward(x)) with every unit of ``forward``'s computation following ``rule``; shape of x.

    Raises ValueError when ``forward`` holds no ReLU or activation unit.
    """
    with fast_forms.forced(False, "pool_before_activation"):   # the units in the order the model defines them
        closed, shape = jax.make_jaxpr(forward, return_shape=True)(x)
    tree = jax.tree.structure(shape)

    def total(inputs):
        return objective(jax.tree.unflatten(tree, _evaluate(rule, closed.jaxpr, closed.consts, [inputs], [True],
                                                             [True])))

    grads = jax.grad(total)(x)
    if rule.activations_seen == 0:
        raise ValueError(
            f"{rule.method} found no ReLU or activation in the model's computation; it recognizes max(x, 0) "
            "(jax.nn.relu, flax.linen.relu) and elementwise jax.jit/custom_jvp activations (jax.nn.softplus, …)")
    return grads


def paired_difference(a: jax.Array) -> jax.Array:
    """For a batch [inputs; references] (2n, …): [a_in − a_ref; a_in − a_ref]."""
    half = a.shape[0] // 2
    delta = a[:half] - a[half:]
    return jnp.concatenate([delta, delta])


# ----- recognizing units ---------------------------------------------------------------------------


def inner_jaxpr(eqn) -> tuple | None:
    """(jaxpr, consts) of a call equation, else None."""
    if eqn.primitive.name not in CALLS:
        return None
    inner = eqn.params.get("jaxpr", eqn.params.get("call_jaxpr"))
    if isinstance(inner, core.ClosedJaxpr):
        return inner.jaxpr, inner.consts
    return (inner, []) if isinstance(inner, core.Jaxpr) else None


def _shape(var) -> tuple:
    return tuple(getattr(var.aval, "shape", ()))


def _is_zero(value) -> bool:
    """A concrete constant that is all zeros."""
    if value is None or isinstance(value, jax.core.Tracer):
        return False
    return bool(np.all(np.asarray(value) == 0))


def _elementwise(jaxpr, shape: tuple) -> bool:
    """Every equation maps arrays of ``shape`` (or scalars) entry by entry."""
    for eqn in jaxpr.eqns:
        if eqn.primitive.name in NOT_ELEMENTWISE:
            return False
        if any(_shape(v) not in (shape, ()) for v in (*eqn.invars, *eqn.outvars)):
            return False
        inner = inner_jaxpr(eqn)
        if inner is not None and not _elementwise(inner[0], shape):
            return False
    return True


def _uses(jaxpr, names: frozenset) -> bool:
    """The jaxpr (or a call inside it) has an equation of one of these primitives."""
    return any(eqn.primitive.name in names or ((inner := inner_jaxpr(eqn)) is not None and _uses(inner[0], names))
               for eqn in jaxpr.eqns)


def _spatial_reduction(eqn) -> bool:
    """A reduction of an array of rank ≥ 3 over axes other than its first (batch) and last (channel)."""
    rank = len(_shape(eqn.invars[0]))
    return rank >= 3 and all(0 < axis < rank - 1 for axis in eqn.params["axes"])


def _gradient_carriers(jaxpr) -> set:
    """The variables whose values reach the jaxpr's outputs other than through ``stop_gradient``."""
    live = {v for v in jaxpr.outvars if not isinstance(v, core.Literal)}
    for eqn in reversed(jaxpr.eqns):
        if eqn.primitive.name != "stop_gradient" and any(v in live for v in eqn.outvars):
            live.update(v for v in eqn.invars if not isinstance(v, core.Literal))
    return live


def _carries_gradient(eqn, live: set) -> bool:
    return any(v in live for v in eqn.outvars)


def _pools(shape: tuple, out: tuple) -> bool:
    """(B, H, W, C) → (B, h, w, C) with h ≤ H, w ≤ W and a smaller map."""
    return (len(shape) == len(out) == 4 and out[0] == shape[0] and out[3] == shape[3]
            and out[1] <= shape[1] and out[2] <= shape[2] and out[1:3] != shape[1:3])


def classify(eqn, values: list) -> Unit | None:
    """The unit this equation is, given its operand values (None where unknown), else None."""
    name = eqn.primitive.name
    if name == "max" and len(eqn.invars) == 2:
        for k in (0, 1):
            if _is_zero(values[1 - k]) and _shape(eqn.invars[k]) == _shape(eqn.outvars[0]):
                return Unit("relu", k)
        return None
    if name == "reduce_window_max" or (name == "reduce_max" and _spatial_reduction(eqn)):
        return Unit("pool", 0)
    inner = inner_jaxpr(eqn)
    arrays = [k for k, var in enumerate(eqn.invars) if _shape(var) != ()]
    if inner is None or len(eqn.outvars) != 1 or len(arrays) != 1:
        return None
    k = arrays[0]
    shape, out = _shape(eqn.invars[k]), _shape(eqn.outvars[0])
    if out == shape and _elementwise(inner[0], shape):
        return Unit("activation", k)
    if _pools(shape, out) and _uses(inner[0], MAX_REDUCTIONS) and not _uses(inner[0], MIXING):
        return Unit("pool", k)
    return None


def _holds_unit(jaxpr, consts) -> bool:
    """Whether a unit appears anywhere in the jaxpr (operand values known only for literals and consts)."""
    known, live = dict(zip(jaxpr.constvars, consts)), _gradient_carriers(jaxpr)
    for eqn in jaxpr.eqns:
        if not _carries_gradient(eqn, live):
            continue
        values = [v.val if isinstance(v, core.Literal) else known.get(v) for v in eqn.invars]
        if classify(eqn, values) is not None:
            return True
        inner = inner_jaxpr(eqn)
        if inner is not None and _holds_unit(*inner):
            return True
    return False


# ----- evaluating with rules ------------------------------------------------------------------------


def _bind(eqn, args: list) -> list:
    with eqn.ctx.manager:
        out = eqn.primitive.bind(*args, **eqn.primitive.get_bind_params(eqn.params))
    return list(out) if eqn.primitive.multiple_results else [out]


def _flow(jaxpr, dependent: list[bool], signal: list[bool]):
    """Yield (eqn, dependent, signal) per equation: whether each operand depends on the explained input,
    and whether it carries the input's signal (depends on it other than through ``stop_gradient``)."""
    depends, carries = dict(zip(jaxpr.invars, dependent)), dict(zip(jaxpr.invars, signal))
    for eqn in jaxpr.eqns:
        flags = [not isinstance(v, core.Literal) and depends.get(v, False) for v in eqn.invars]
        signals = [not isinstance(v, core.Literal) and carries.get(v, False) for v in eqn.invars]
        depends.update((v, any(flags)) for v in eqn.outvars)
        carries.update((v, any(signals) and eqn.primitive.name != "stop_gradient") for v in eqn.outvars)
        yield eqn, flags, signals


def _evaluate(rule: Rule, jaxpr, consts, args: list, dependent: list[bool], signal: list[bool]) -> list:
    """Evaluate ``jaxpr``; for argument i, ``dependent[i]``: whether it depends on the explained input,
    ``signal[i]``: whether it does other than through ``stop_gradient``."""
    env, live = dict(zip(jaxpr.constvars, consts)), _gradient_carriers(jaxpr)
    env.update(zip(jaxpr.invars, args))

    def read(var):
        return var.val if isinstance(var, core.Literal) else env[var]

    for eqn, flags, signals in _flow(jaxpr, dependent, signal):
        values = [read(v) for v in eqn.invars]
        if any(flags) and _carries_gradient(eqn, live):
            outs = _evaluate_dependent(rule, eqn, values, flags, signals)
        else:
            outs = _bind(eqn, values)
        env.update(zip(eqn.outvars, outs))
    return [read(v) for v in jaxpr.outvars]


def _evaluate_dependent(rule: Rule, eqn, values: list, flags: list[bool], signals: list[bool]) -> list:
    unit = classify(eqn, values)
    if unit is not None and signals[unit.position]:
        rule.activations_seen += unit.kind != "pool"
        return [_substitute(rule, unit, eqn, values)]
    inner = inner_jaxpr(eqn)
    if inner is not None and _holds_unit(*inner):
        return _evaluate(rule, inner[0], inner[1], values, flags, signals)
    if inner is not None:
        _check_static(rule, inner[0], flags, signals)
    else:
        rule.check(eqn, signals)
    return _bind(eqn, values)


def _check_static(rule: Rule, jaxpr, dependent: list[bool], signal: list[bool]) -> None:
    """:meth:`Rule.check` on every input-dependent non-unit equation of a call that is bound as is."""
    live = _gradient_carriers(jaxpr)
    for eqn, flags, signals in _flow(jaxpr, dependent, signal):
        if not any(flags) or not _carries_gradient(eqn, live):
            continue
        inner = inner_jaxpr(eqn)
        if inner is not None:
            _check_static(rule, inner[0], flags, signals)
        elif classify(eqn, [v.val if isinstance(v, core.Literal) else None for v in eqn.invars]) is None:
            rule.check(eqn, signals)


def _zero_cotangent(value):
    value = jnp.asarray(value)
    if jnp.issubdtype(value.dtype, jnp.inexact):
        return jnp.zeros_like(value)
    return np.zeros(value.shape, jax.dtypes.float0)


def _substitute(rule: Rule, unit: Unit, eqn, values: list) -> jax.Array:
    """The unit's output, the same value, with ``rule``'s backward pass."""
    k = unit.position
    others = tuple(values[:k] + values[k + 1:])

    def fn(u, rest):
        return _bind(eqn, [*rest[:k], u, *rest[k:]])[0]

    aux = rule.forward(unit.kind, lambda u: fn(u, others), values[k])

    @jax.custom_vjp
    def wrapped(u, aux, rest):
        return fn(u, rest)

    def forward(u, aux, rest):
        y = fn(u, rest)
        return y, (u, y, aux, rest)

    def backward(residuals, g):
        u, y, aux, rest = residuals

        def plain(cotangent):
            return jax.vjp(lambda v: fn(v, rest), u)[1](cotangent)[0]

        grad = rule.backward(unit.kind, u, y, g, plain, aux)
        return grad, jnp.zeros_like(aux), jax.tree.map(_zero_cotangent, rest)

    wrapped.defvjp(forward, backward)
    return wrapped(values[k], aux, tuple(jnp.asarray(v) for v in others))
