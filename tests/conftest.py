"""Test-session settings: one persistent XLA compilation cache, in a fresh temporary folder, for this
process and every process the tests start, so identical programs compile once per session (and the
user's own cache in ~/.cache is left alone)."""

import atexit
import os
import shutil
import tempfile

if "SPECXAI_COMPILE_CACHE" not in os.environ:   # not inherited from a test run above this one: ours to remove
    os.environ["SPECXAI_COMPILE_CACHE"] = tempfile.mkdtemp(prefix="specxai-test-xla-")
    atexit.register(shutil.rmtree, os.environ["SPECXAI_COMPILE_CACHE"], ignore_errors=True)
_cache = os.environ["SPECXAI_COMPILE_CACHE"]
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _cache)          # read when jax is first imported
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.05")
