"""Shared by the team-log tests: the real ``devicelab`` command against a real server.

The servers come from tests/conftest.py (``postgres``, ``pg_db``); here are the
command runner and what every test checks about a refusal (one line, no traceback).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from helpers.recording import DEVICELAB, PKG, VIDEO

__all__ = ["PKG", "VIDEO", "dl", "one_error_line", "run_args", "secrets_in"]


def dl(*args: str, timeout: float = 300, env: dict[str, str] | None = None
       ) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([DEVICELAB, *args], capture_output=True, text=True, timeout=timeout,
                         stdin=subprocess.DEVNULL, env=env)
    assert "Traceback" not in res.stdout + res.stderr, res.stdout + res.stderr
    return res


def run_args(db: str, frames: int = 120, *extra: str, package: Path = PKG,
             quiet: bool = True) -> list[str]:
    """``devicelab run`` of the demo package on this computer, recorded in ``db``
    (the clip has 360 frames)."""
    return ["run", "--device", "local", "--package", str(package), "--input", str(VIDEO),
            "--frames", str(frames), "--telemetry-ms", "20", *(["--quiet"] if quiet else []),
            "--db", db, *extra]


def one_error_line(res: subprocess.CompletedProcess[str], *, warnings: int = 0) -> str:
    """The refusal: exactly one ``devicelab: error:`` line (after ``warnings`` warning lines)."""
    lines = res.stderr.strip().splitlines()
    errors = [ln for ln in lines if ln.startswith("devicelab: error: ")]
    assert len(errors) == 1 and len(lines) == 1 + warnings, res.stderr
    assert all(ln.startswith("devicelab: warning: ") for ln in lines if ln not in errors)
    return errors[0]


def secrets_in(folder: Path, secret: str) -> list[str]:
    """Files under ``folder`` holding ``secret`` (bytes, so SQLite spools count too)."""
    hits = []
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            p = Path(dirpath) / name
            try:
                if secret.encode() in p.read_bytes():
                    hits.append(str(p))
            except OSError:
                pass
    return hits
