"""Runnable experiments: ``python -m experiments.sweep_beta`` and the paper's other figures and tables.

Started as a command, the process first re-runs itself with glibc's malloc on huge pages
(:mod:`specxai_jax.launch`); imported, this package does nothing.
"""

from specxai_jax import launch

launch.start_command(__name__)
