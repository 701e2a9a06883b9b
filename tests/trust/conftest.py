"""Fixtures for signed-package tests: real Ed25519 keys and real package copies in tmp_path.

Every test already has its own DEVICELAB_HOME (tests/conftest.py), so the
trusted keys and the policy written here live in that test's settings only.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from console.core.manifest import SIGNATURE_NAME
from trust.support import KeyPair, make_key


@pytest.fixture
def package(demo_package: Path, tmp_path: Path) -> Path:
    """A private, unsigned copy of the demo package (tests change it freely)."""
    dest = tmp_path / "pkg" / "digits-cnn"
    shutil.copytree(demo_package, dest)
    (dest / SIGNATURE_NAME).unlink(missing_ok=True)
    return dest


@pytest.fixture
def release_key(tmp_path: Path) -> KeyPair:
    return make_key(tmp_path / "keys", "lab-release")


@pytest.fixture
def stranger_key(tmp_path: Path) -> KeyPair:
    return make_key(tmp_path / "keys", "stranger")
