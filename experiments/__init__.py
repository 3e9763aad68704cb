"""Runnable experiments: ``python -m experiments.sweep_beta`` and the paper's other figures and tables."""
