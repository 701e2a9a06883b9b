"""Fault 15: a damaged session log (valid SQLite header, garbage inside), through the real
``devicelab`` — the read commands as well as a new run.

Expected: every command says the log is damaged and to move it aside, in one line with
exit 2 (not ``internal error: DatabaseError``, exit 70), and leaves the file exactly as
it was. (The check on open is console/core/store; tests/core/test_schema.py tests it on
the store itself.)
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from helpers.faults import devicelab, user_lines

DEMO_PACKAGE = Path(__file__).resolve().parents[2] / "resources" / "packages" / "digits-cnn"


@pytest.fixture(scope="module")
def recorded_then_damaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("damaged-log")
    db = d / "sessions.db"
    res = devicelab("run", "--db", str(db), "--package", str(DEMO_PACKAGE), "--input",
                    "synthetic:32x32", "--frames", "300", "--quiet", timeout=120,
                    env=dict(os.environ, DEVICELAB_HOME=str(d / "home")))
    assert res.returncode == 0, res.stderr
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    for k in range(page, len(data), 7):  # every page after the header page
        data[k] = (data[k] * 31 + 7) % 256
    db.write_bytes(bytes(data))
    c = sqlite3.connect(db)
    try:
        verdict = c.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        verdict = str(exc)
    finally:
        c.close()
    assert verdict != "ok"
    return db


@pytest.fixture
def damaged_log(recorded_then_damaged: Path, tmp_path: Path) -> Path:
    db = tmp_path / "sessions.db"
    shutil.copyfile(recorded_then_damaged, db)
    return db


COMMANDS = {
    "list": ["sessions", "list"],
    "show": ["sessions", "show", "1"],
    "export": ["sessions", "export", "1", "--format", "json", "-o", "-"],
    "compare": ["sessions", "compare", "1", "1"],
    "run": ["run", "--input", "synthetic:32x32", "--frames", "5"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_refuses_the_damaged_log_in_one_line(command: str, damaged_log: Path,
                                                           demo_package: Path) -> None:
    before = damaged_log.read_bytes()
    args = COMMANDS[command] + ["--db", str(damaged_log)]
    if command == "run":
        args += ["--package", str(demo_package)]
    res = devicelab(*args, timeout=120)
    assert res.returncode == 2, res.stderr
    lines = user_lines(res.stderr)
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"devicelab: error: session log {damaged_log} is damaged ("), \
        lines[0]
    assert "move it aside" in lines[0]
    assert "internal error" not in res.stderr and "Traceback" not in res.stderr
    assert damaged_log.read_bytes() == before, "the damaged log was written to"
