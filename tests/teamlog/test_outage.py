"""The server going away mid-run loses nothing.

A real ``devicelab run`` records into a server of this test's own; the test stops
that server while frames are flowing and starts it again. Every frame must reach
the server (indices 0..n-1, once each), the session must end ``completed`` with
its summary, and the local spool must be empty afterwards. When the server only
comes back after the run has ended, the next ``devicelab`` command pushes the
rows and completes the session ("also on the next start").
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from helpers.postgres import PgServer, postgres_missing_reason, start_postgres, unavailable
from helpers.recording import DEVICELAB

from console.core.store.spool import spool_path
from console.core.store.target import parse_target
from teamlog.conftest import dl, run_args

pytestmark = pytest.mark.slow

FRAMES = 330  # at 50 fps: 6.6 s of run (the clip has 360 frames)


@pytest.fixture
def own_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[PgServer]:
    """A server only this test stops and starts (the shared one stays up)."""
    reason = postgres_missing_reason()
    if reason:
        unavailable("the outage tests", reason)
    srv = start_postgres()
    monkeypatch.setenv("PGPASSFILE", str(srv.pgpass))
    try:
        yield srv
    finally:
        srv.destroy()


def _count(srv: PgServer, db: str, sql: str) -> int:
    try:
        with psycopg.connect(srv.admin_url(db), connect_timeout=2) as c:
            return int(c.execute(sql).fetchone()[0])  # type: ignore[index, arg-type]
    except psycopg.Error:
        return -1


def _wait(cond, timeout: float, what: str, proc: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the run ended before {what}: {proc.communicate()}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def _start_run(url: str) -> subprocess.Popen[str]:
    return subprocess.Popen([DEVICELAB, *run_args(url, FRAMES, "--fps", "50", quiet=False)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)


def _all_there(srv: PgServer, db: str) -> None:
    with psycopg.connect(srv.admin_url(db)) as c:
        (status, n, error, summary), = c.execute(
            "SELECT status, frames_received, error, summary FROM sessions").fetchall()
        idx = [i for (i,) in c.execute("SELECT i FROM frames ORDER BY i").fetchall()]
        codes = [k for (k,) in c.execute("SELECT code FROM events ORDER BY ts_unix_s")]
        fps = c.execute("SELECT fps FROM sessions").fetchone()[0]  # type: ignore[index]
    assert (status, n, error) == ("completed", FRAMES, None)
    assert idx == list(range(FRAMES))  # every frame, once
    assert summary and fps and fps > 0
    assert "log_offline" in codes and codes.count("cold_start") == 1


def test_server_stopped_and_restarted_mid_run(own_server: PgServer) -> None:
    srv = own_server
    db = srv.create_database("outage")
    url = srv.url(db)
    proc = _start_run(url)
    try:
        _wait(lambda: _count(srv, db, "SELECT count(*) FROM frames") > 60, 120,
              "frames on the server", proc)
        srv.stop("fast")  # clients' connections are cut, as a server restart does
        spool = spool_path(parse_target(url))
        _wait(spool.is_file, 30, "the local spool", proc)
        time.sleep(2.0)  # the run goes on into the spool meanwhile
        assert proc.poll() is None
        srv.start()
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out + err
    assert "Traceback" not in out + err
    assert "went offline" in err  # the user is told the log went away
    _all_there(srv, db)
    with psycopg.connect(srv.admin_url(db)) as c:
        codes = [k for (k,) in c.execute("SELECT code FROM events")]
    assert "log_online" in codes
    from console.core.store.sqlite import SessionStore

    with SessionStore(spool) as sp:
        assert sp.session_count() == 0 and sp._scalar("SELECT count(*) FROM frames") == 0


def test_server_back_only_after_the_run_the_next_command_completes_it(
        own_server: PgServer, tmp_path: Path) -> None:
    srv = own_server
    db = srv.create_database("late")
    url = srv.url(db)
    proc = _start_run(url)
    try:
        _wait(lambda: _count(srv, db, "SELECT count(*) FROM frames") > 30, 120,
              "frames on the server", proc)
        srv.stop("immediate")  # as a crash looks to a client
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out + err
    assert "wait in the local spool" in out + err and "Traceback" not in out + err
    srv.start()
    # the server shows the session still running: never a summary of part of its rows
    assert _count(srv, db, "SELECT count(*) FROM sessions WHERE status = 'running'") == 1
    assert _count(srv, db, "SELECT count(*) FROM frames") < FRAMES
    res = dl("sessions", "list", "--db", url)  # the next start of any console
    assert res.returncode == 0, res.stderr
    _all_there(srv, db)
    again = dl("sessions", "show", "1", "--db", url)
    assert again.returncode == 0 and "completed" in again.stdout
