"""Fault 8: the session database is read-only or locked by another process.

Expected: one clear line naming the file and what to do, BEFORE the run
starts: no session, no connection to the device, no agent.

How each is injected (this runs as root in CI, where file permissions mean
nothing):

- read-only: the database's folder bind-mounted read-only (the kernel
  refuses root too); and ``chattr +i`` (immutable) on the file itself when
  the file system supports it;
- locked: another real process holding SQLite's exclusive write lock
  (``BEGIN EXCLUSIVE``) on the same file.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.faults import Collect, devicelab, readonly_bind, user_lines

from console.core.store import SessionStore
from console.devices.local import LocalDevice
from console.session.run import Run, RunError, RunRequest

NOT_BEFORE_REFUSAL = ("[connecting]", "[deploying]", "[starting]", " recording\n")


def _existing_log(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "sessions.db"
    SessionStore(db).close()  # a log with its schema, as after earlier runs
    return db


def _refused_before_running(db: Path, demo_package: Path, fragment: str) -> None:
    # Through Run (as the window uses it): a RunError, and no step past the database.
    ls = Collect()
    with pytest.raises(RunError) as ei:
        Run(LocalDevice(), RunRequest(str(demo_package), "synthetic:32x32"), db, ls).execute()
    assert fragment in str(ei.value) and str(db) in str(ei.value)
    assert "\n" not in str(ei.value)
    assert ls.session_id is None
    assert ls.state_names() == ["verifying", "refused"], ls.states
    # Through the real command: exit 2 and one line.
    res = devicelab("run", "--db", str(db), "--package", str(demo_package), "--input",
                    "synthetic:32x32", "--frames", "5", timeout=60)
    assert res.returncode == 2, res.stderr
    lines = user_lines(res.stderr)
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("devicelab: error: ") and fragment in lines[0]
    assert "--db" in lines[0], "says what to do"
    assert not any(m in res.stderr for m in NOT_BEFORE_REFUSAL), res.stderr
    assert "Traceback" not in res.stderr + res.stdout


def test_read_only_mount_is_refused_before_the_run(demo_package: Path, tmp_path: Path) -> None:
    real = _existing_log(tmp_path / "real")
    with readonly_bind(real.parent, tmp_path / "ro") as ro:
        db = ro / real.name
        _refused_before_running(db, demo_package, "is on a read-only file system")
    with SessionStore(real) as st:
        assert st.list_sessions() == []


def test_read_only_mount_new_log_folder_is_refused(demo_package: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with readonly_bind(tmp_path / "empty", tmp_path / "ro") as ro:
        _refused_before_running(ro / "sub" / "sessions.db", demo_package,
                                "cannot create the folder for session log")


@pytest.fixture
def immutable_log(tmp_path: Path) -> Iterator[Path]:
    db = _existing_log(tmp_path / "imm")
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("chattr is not installed (e2fsprogs)")
    res = subprocess.run([chattr, "+i", str(db)], capture_output=True, text=True, timeout=30)
    if res.returncode != 0:
        pytest.skip(f"chattr +i is not supported here: {res.stderr.strip()}")
    try:
        yield db
    finally:
        subprocess.run([chattr, "-i", str(db)], capture_output=True, timeout=30)


def test_immutable_log_file_is_refused_before_the_run(demo_package: Path,
                                                      immutable_log: Path) -> None:
    _refused_before_running(immutable_log, demo_package, "is read-only")


def test_log_locked_by_another_process_is_refused_before_the_run(demo_package: Path,
                                                                 tmp_path: Path) -> None:
    db = _existing_log(tmp_path / "locked")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None);"
         "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); sys.stdin.read()",
         str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        _refused_before_running(db, demo_package, "is locked by another process")
    finally:
        holder.communicate("", timeout=30)  # EOF: the holder rolls back and exits
    # Once the other process lets go, the same log works.
    res = devicelab("run", "--db", str(db), "--package", str(demo_package), "--input",
                    "synthetic:32x32", "--frames", "5", timeout=120)
    assert res.returncode == 0, res.stderr


def test_consoles_opening_a_fresh_log_at_once_all_succeed(tmp_path: Path) -> None:
    """Two consoles (the window and a CLI run, or a test polling the log) creating the same
    new log at the same moment: the second must not re-run the schema migration."""
    code = ("import sys; from console.core.store import SessionStore; "
            "SessionStore(sys.argv[1]).close()")
    for k in range(10):  # without the fix: about 1 open in 9 failed here
        db = tmp_path / f"fresh-{k}.db"
        procs = [subprocess.Popen([sys.executable, "-c", code, str(db)],
                                  stderr=subprocess.PIPE, text=True) for _ in range(4)]
        errors = [p.communicate(timeout=60)[1] for p in procs]
        assert all(p.returncode == 0 for p in procs), "\n".join(errors)
        with SessionStore(db) as st:
            assert st.integrity_check() == "ok"
