"""Sidecars name the code that made them: the checkout's commit when xlt runs from git."""

from __future__ import annotations

import subprocess

import pytest
from support.data import REPO

from xlt.provenance.records import code_version


def test_code_version_is_the_checkouts_commit():
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert code_version()["git_commit"] == head
