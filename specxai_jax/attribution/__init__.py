"""Attribution methods behind :func:`specxai_jax.explain.explain` (one module per method family)."""
