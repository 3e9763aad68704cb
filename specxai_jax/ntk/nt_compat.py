"""Run neural-tangents 0.6.5 on current JAX, without TensorFlow; loaded on first use.

neural-tangents' last release predates JAX 0.6: its import reads names that moved out of ``jax.core``
and the removed ``jax.util``, its ``experimental`` subpackage needs TensorFlow, and its
structured-derivatives NTK calls JAX AD internals whose shape changed. :func:`load` imports it with
each gap filled, and only the gaps this JAX has (feature-detected), so it is a no-op on old JAX.

Every private JAX name used here is listed in :data:`PRIVATE_JAX_NAMES`; :func:`missing_private_names`
reports the ones a JAX upgrade removed (the compatibility tests assert it is empty).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import sys
import types
from typing import Any

import jax
import jax.extend.core
import jax.interpreters.ad

from specxai_jax.errors import NeuralTangentsMissing

INSTALL_COMMAND = "pip install --no-deps neural-tangents==0.6.5"

# Private JAX names this module reads (dotted paths). Keep in sync with the code below.
PRIVATE_JAX_NAMES = (
    "jax._src.util.safe_map",
    "jax._src.util.safe_zip",
    "jax._src.source_info_util.transform_name_stack",
    "jax._src.source_info_util.current_name_stack",
    "jax._src.source_info_util.user_context",
    "jax._src.interpreters.ad.reducing_transposes",
    "jax._src.core.Primitive.call_primitive",  # read by neural-tangents on every jaxpr equation
)

# Names neural-tangents imports from ``jax.core``; moved to ``jax.extend.core`` (public) in JAX 0.6.
_MOVED_CORE_NAMES = ("Jaxpr", "JaxprEqn", "Literal", "Var", "Primitive")


def _resolve(dotted: str):
    """Object at a dotted path ``package.module.attr.attr``; raises ImportError/AttributeError."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(dotted)


def missing_private_names() -> list[str]:
    """The entries of :data:`PRIVATE_JAX_NAMES` that this JAX no longer has."""
    missing = []
    for dotted in PRIVATE_JAX_NAMES:
        try:
            _resolve(dotted)
        except (ImportError, AttributeError):
            missing.append(dotted)
    return missing


@contextlib.contextmanager
def _temporary_attributes(obj, values: dict):
    """Set the attributes of ``values`` that ``obj`` lacks; remove them again on exit."""
    added = [name for name in values if not hasattr(obj, name)]
    for name in added:
        setattr(obj, name, values[name])
    try:
        yield added
    finally:
        for name in added:
            delattr(obj, name)


@contextlib.contextmanager
def _temporary_jax_util():
    """Register a stand-in for the removed ``jax.util`` while the body runs (if JAX lacks it)."""
    try:
        importlib.import_module("jax.util")
    except ImportError:
        sys.modules["jax.util"] = _jax_util_stub()
        try:
            yield
        finally:
            sys.modules.pop("jax.util", None)
    else:
        yield


def _jax_util_stub() -> types.ModuleType:
    """Stand-in for the removed ``jax.util`` with the two helpers neural-tangents imports."""
    from jax._src import util

    module = types.ModuleType("jax.util")
    setattr(module, "safe_map", util.safe_map)
    setattr(module, "safe_zip", util.safe_zip)
    return module



def _experimental_stub() -> types.ModuleType:
    """Stand-in for ``neural_tangents.experimental`` (TensorFlow interop through tf2jax/jax2tf, which this
    project does not install or use) that explains itself when used."""
    module = types.ModuleType("neural_tangents.experimental")
    module.__doc__ = "neural-tangents' TensorFlow helpers; not loaded (they need tf2jax and jax2tf)."

    def needs_tensorflow(*args, **kwargs):
        raise ImportError("neural_tangents.experimental (TensorFlow interop) is not loaded: it needs tf2jax and jax2tf")

    for name in ("empirical_ntk_fn_tf", "get_apply_fn_and_params"):
        setattr(module, name, needs_tensorflow)
    return module


def _legacy_linearize(fun, *primals, has_aux: bool = False):
    """Old ``ad.linearize`` contract, ``(primals_out, pvals, jaxpr, consts)``, from public JAX APIs.

    ``fun`` is a flat ``lu.WrappedFun``; the returned jaxpr maps input tangents to output tangents.
    """
    if has_aux:
        raise NotImplementedError("has_aux is not used by neural-tangents")
    primals_out, tangent_fn = jax.linearize(lambda *args: tuple(fun.call_wrapped(*args)), *primals)
    closed = jax.make_jaxpr(tangent_fn)(*primals)
    unknown = [_UnknownPval()] * len(primals_out)
    return list(primals_out), unknown, closed.jaxpr, list(closed.consts)


class _UnknownPval:
    """Partial value whose tangent is traced (every output of ``_legacy_linearize``)."""

    @staticmethod
    def is_known() -> bool:
        return False


class _NoDynamicShapes:
    """Stand-in for the removed ``core.DShapedArray``: no aval is one."""


class _ModuleProxy(types.ModuleType):
    """A module whose listed attributes override, and otherwise defer to, ``base``."""

    def __init__(self, base: types.ModuleType, overrides: dict):
        super().__init__(base.__name__)
        self._base = base
        self.__dict__.update(overrides)

    def __getattr__(self, name):
        return getattr(self._base, name)


def _ad_overrides(ad) -> dict:
    """Replacements for the AD internals the structured-derivatives NTK reads but JAX dropped."""
    from jax._src import source_info_util
    from jax._src.interpreters import ad as ad_internal

    overrides: dict[str, Any] = {}
    if not hasattr(ad, "source_info_util"):
        overrides["source_info_util"] = source_info_util
    if not hasattr(ad, "reducing_transposes"):
        overrides["reducing_transposes"] = ad_internal.reducing_transposes
    if not hasattr(ad, "config"):
        # neural-tangents' optional self-check uses the removed ``core.lattice_join``; keep it off.
        overrides["config"] = types.SimpleNamespace(jax_enable_checks=False)
    takes_varargs = any(p.kind is p.VAR_POSITIONAL for p in inspect.signature(ad.linearize).parameters.values())
    if not takes_varargs:
        overrides["linearize"] = _legacy_linearize
    return overrides


def _get_flops(f, optimize: bool, *args, **kwargs) -> float:
    """FLOP estimate of ``jit(f)``; JAX's ``cost_analysis`` returns a dict now (a list of dicts before)."""
    lowered = jax.jit(f).lower(*args, **kwargs)
    analysis: Any = lowered.compile().cost_analysis() if optimize else lowered.cost_analysis()
    if isinstance(analysis, (list, tuple)):
        analysis = analysis[0]
    return analysis["flops"]


def _patch_empirical(empirical) -> None:
    """Hand neural-tangents' empirical module the AD names it expects (idempotent)."""
    if not isinstance(empirical.ad, _ModuleProxy):
        empirical.ad = _ModuleProxy(empirical.ad, _ad_overrides(empirical.ad))
    if not isinstance(empirical.core, _ModuleProxy) and not hasattr(empirical.core, "DShapedArray"):
        empirical.core = _ModuleProxy(empirical.core, {"DShapedArray": _NoDynamicShapes})
    empirical._get_flops = _get_flops
    primitive = jax.extend.core.Primitive
    if not hasattr(primitive, "map_primitive"):
        setattr(primitive, "map_primitive", False)  # Map primitives (pmap) left JAX's jaxprs; none is one.


def load() -> types.ModuleType:
    """Import and return ``neural_tangents``, filling the gaps this JAX has. Safe to call twice.

    Raises :class:`NeuralTangentsMissing` (one line naming the install command) when it is not installed.
    """
    if "neural_tangents" in sys.modules:
        return sys.modules["neural_tangents"]
    moved = {name: getattr(jax.extend.core, name) for name in _MOVED_CORE_NAMES}
    # Its TensorFlow interop would import TensorFlow and the tf2jax it declares; nothing here uses it.
    sys.modules["neural_tangents.experimental"] = _experimental_stub()
    placeholder_zeros_like = jax.extend.core.Primitive("zeros_like")
    with (
        _temporary_attributes(jax.core, moved),
        _temporary_attributes(jax.interpreters.ad, {"zeros_like_p": placeholder_zeros_like}),
        _temporary_jax_util(),
    ):
        try:
            import neural_tangents
        except ModuleNotFoundError as error:
            if error.name != "neural_tangents":
                raise
            sys.modules.pop("neural_tangents.experimental", None)
            raise NeuralTangentsMissing("the NTK code needs neural-tangents, which is not installed; install it "
                                        f"with: {INSTALL_COMMAND} (the README's install command does)") from None
    _drop_placeholder_rules(placeholder_zeros_like)
    _patch_empirical(neural_tangents._src.empirical)
    return neural_tangents


def _drop_placeholder_rules(placeholder) -> None:
    """Remove the rules neural-tangents registered for the placeholder ``zeros_like_p``."""
    from neural_tangents._src.utils import rules

    for table in (rules.STRUCTURE_RULES, rules.JACOBIAN_RULES):
        table.pop(placeholder, None)
