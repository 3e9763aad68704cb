"""Test-session settings: one persistent XLA compilation cache, in a fresh temporary folder, for this
process and every process the tests start, so identical programs compile once per session (and the
user's own cache in ~/.cache is left alone)."""

import os
import tempfile

_cache = os.environ.setdefault("SPECXAI_COMPILE_CACHE", tempfile.mkdtemp(prefix="specxai-test-xla-"))
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _cache)          # read when jax is first imported
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.05")
