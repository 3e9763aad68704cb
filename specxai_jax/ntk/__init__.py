"""Neural tangent kernels of the project's networks: analytic, empirical, and their eigen-decay.

neural-tangents is loaded, made importable on current JAX (see :mod:`.nt_compat`), on first use:
``specxai_jax.ntk.neural_tangents``, :mod:`.empirical` or the ``stax_*`` helpers of :mod:`.analytic`.
Importing this package changes nothing; the closed forms in :mod:`.analytic` work without neural-tangents.
Lemma 1's numerical verification is :mod:`.verify_lemma1`; trained sweeps against the kernels,
:mod:`.compare_trained`.
"""

from specxai_jax.ntk import nt_compat

__all__ = ["neural_tangents", "nt_compat"]


def __getattr__(name: str):
    """``specxai_jax.ntk.neural_tangents``: the patched neural-tangents module, imported on first access."""
    if name == "neural_tangents":
        return nt_compat.load()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
