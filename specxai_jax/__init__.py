"""specxai-jax: how complex gradient explanations are, and what smoothing them costs."""

__version__ = "0.1.0"
