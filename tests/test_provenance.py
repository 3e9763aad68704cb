"""Runs record the git commit of the checkout that produced them (none outside a git checkout)."""

import shutil
import subprocess

from specxai_jax.storage import provenance


def test_commit_of_this_checkout_or_none(tmp_path, monkeypatch):
    expected = None
    if shutil.which("git"):
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=provenance.ROOT, capture_output=True, text=True)
        expected = head.stdout.strip() if head.returncode == 0 else None
    commit = provenance.git_commit()
    if expected is None:
        assert commit is None
    else:
        assert commit in (expected, expected + "-dirty")
    monkeypatch.setattr(provenance, "ROOT", tmp_path)  # a folder that is no git checkout
    assert provenance.git_commit() is None
