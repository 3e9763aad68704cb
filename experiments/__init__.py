"""The project's commands, runnable from a checkout: ``python -m experiments.sweep_beta`` (the main job),
``explanation_gap``, ``reproduce`` and ``report``. Each is a thin call into :mod:`specxai_jax.cli`, whose
console scripts (``specxai-sweep`` …) run the same code after a plain ``pip install``. This folder is not
installed."""
