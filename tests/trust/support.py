"""Shared by the signed-package tests: the real CLI, and real key pairs in a folder."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from console.core.signing import TrustedKey, generate_key

DEVICELAB = str(Path(sys.executable).parent / "devicelab")


def dl(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """The real ``devicelab`` command, as a user runs it."""
    return subprocess.run([DEVICELAB, *args], capture_output=True, text=True, timeout=timeout,
                          **kw)


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path
    key: TrustedKey


def make_key(folder: Path, name: str, passphrase: bytes | None = None) -> KeyPair:
    folder.mkdir(parents=True, exist_ok=True)
    priv = folder / name
    key = generate_key(priv, name, passphrase)
    return KeyPair(priv, priv.with_name(priv.name + ".pub"), key)
