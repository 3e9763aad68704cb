"""Neural tangent kernels of the project's networks: analytic, empirical, and their eigen-decay.

Importing this package first makes neural-tangents importable on current JAX (see ``ntk.nt_compat``).
"""

from ntk import nt_compat

neural_tangents = nt_compat.load()

__all__ = ["neural_tangents", "nt_compat"]
