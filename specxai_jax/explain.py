"""The explain API under its documented name, ``specxai_jax.explain.explain``: see :mod:`specxai_jax.attribution`."""

from specxai_jax.attribution import *  # noqa: F401,F403
from specxai_jax.attribution import __all__  # noqa: F401
