"""The NTK commands, runnable from a checkout: ``python -m ntk.verify_lemma1`` and ``python -m
ntk.compare_trained``. The NTK code is :mod:`specxai_jax.ntk`; this folder is not installed."""
