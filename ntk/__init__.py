"""Neural tangent kernels of the project's networks: analytic, empirical, and their eigen-decay.

neural-tangents is loaded, made importable on current JAX (see ``ntk.nt_compat``), on first use:
``ntk.neural_tangents``, ``ntk.empirical`` or the ``stax_*`` helpers of ``ntk.analytic``. Importing this
package changes nothing; the closed forms in ``ntk.analytic`` work without neural-tangents. Started as
a command (``python -m ntk.spectrum``), the process first re-runs itself with glibc's malloc on huge
pages (:mod:`specxai_jax.launch`).
"""

from specxai_jax import launch

launch.start_command(__name__)

from ntk import nt_compat  # noqa: E402

__all__ = ["neural_tangents", "nt_compat"]


def __getattr__(name: str):
    """``ntk.neural_tangents``: the patched neural-tangents module, imported on first access."""
    if name == "neural_tangents":
        return nt_compat.load()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
