"""The session log on a real SQLite file."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.sessions import add_session

from console.core import schema
from console.core.store import (
    SCHEMA_VERSION,
    DatabaseLocked,
    DatabaseReadOnly,
    SchemaTooNew,
    SessionStore,
    frame_row,
    telemetry_row,
)


def test_schema_versioned_and_wal(db_path: Path) -> None:
    with SessionStore(db_path) as st:
        assert st.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert st.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert {"sessions", "frames", "telemetry", "events", "bookmarks"} <= set(
            st.db.table_names())


def test_newer_schema_refused(db_path: Path) -> None:
    SessionStore(db_path).close()
    c = sqlite3.connect(db_path)
    c.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    c.close()
    with pytest.raises(SchemaTooNew, match="newer than this console"):
        SessionStore(db_path)


def test_rows_round_trip_and_json_fields(db_path: Path) -> None:
    with SessionStore(db_path) as st:
        sid = add_session(st, device_name="dev", settings={"fps": 5}, tags=["a", "b"])
        st.insert_batch(sid, [frame_row(0, 1.0, 0.1, 0.2, 0.3, 0.6, {"top": [[4, 0.9]]}),
                              frame_row(1, 2.0, 0.1, 0.2, 0.3, 0.6, {"top": [[5, 0.8]]})],
                        [telemetry_row(1.5, {"cpu_sys": 10.0, "thermal": {"a": 40.0, "b": 45.0}})],
                        [(1.0, "info", "x", "hello")], frames_received=2)
        s = st.get_session(sid)
        assert s["settings"] == {"fps": 5} and s["tags"] == ["a", "b"]
        assert s["frames_received"] == 2 and s["status"] == "running"
        arr = st.frame_arrays(sid)
        assert arr["top1"].tolist() == [4, 5]
        tel = st.telemetry(sid)
        assert tel[0]["thermal"] == {"a": 40.0, "b": 45.0} and tel[0]["ts"] == 1.5
        row = st.conn.execute("SELECT temp_max_c, power_max_w FROM telemetry").fetchone()
        assert row == (45.0, None)  # no power sensor: NULL, never 0
        assert [s["id"] for s in st.list_sessions(tag="b")] == [sid]
        assert st.list_sessions(tag="zzz") == []
        assert st.delete_session(sid)
        assert st.frame_count(sid) == 0 and st.get_session(sid) is None


def test_running_session_of_dead_console_becomes_interrupted(db_path: Path) -> None:
    # A real process creates a running session and dies without finishing it.
    code = (
        "import sys; from console.core.store import SessionStore, frame_row;"
        "sys.path.insert(0, 'tests'); from helpers.sessions import add_session;"
        f"st = SessionStore({str(db_path)!r}); sid = add_session(st, device_name='x');"
        "st.insert_batch(sid, [frame_row(i, float(i), 0, 0, 0, 0, {}) for i in range(3)], [], []);"
        "import os; os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    with SessionStore(db_path) as st:
        mine = add_session(st, device_name="alive")  # owned by this live process
        found = st.recover_interrupted()
        assert mine not in found and len(found) == 1
        s = st.get_session(found[0])
        assert s["status"] == "interrupted" and s["frames_received"] == 3
        assert "3 frames kept" in s["error"]
        assert st.get_session(mine)["status"] == "running"


def test_read_only_database_file(db_path: Path) -> None:
    """A log file this user may not write: by its mode, or (root ignores modes, and CI
    runs as root) by the immutable attribute, which binds root too."""
    SessionStore(db_path).close()
    if os.geteuid() == 0:
        res = subprocess.run(["chattr", "+i", str(db_path)], capture_output=True, text=True)
        assert res.returncode == 0, f"chattr +i failed here: {res.stderr.strip()}"
    else:
        db_path.chmod(0o444)
    try:
        with pytest.raises(DatabaseReadOnly):
            st = SessionStore(db_path)
            st.check_writable()
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(db_path)], capture_output=True)


def test_read_only_folder_even_as_root(tmp_path: Path) -> None:
    # A path whose parent is a regular file can never be created, root or not.
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DatabaseReadOnly, match="cannot create the folder"):
        SessionStore(blocker / "sub" / "sessions.db")


def test_locked_database_is_reported(db_path: Path) -> None:
    SessionStore(db_path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None);"
         "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(30)",
         str(db_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(DatabaseLocked, match="locked by another process"):
            st = SessionStore(db_path, timeout=0.2)
            st.check_writable()
    finally:
        holder.kill()
        holder.wait()


def _v1_log(path: Path) -> None:
    """A log as a schema-v1 console left it: one session, two frames (no read_ms)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    for stmt in schema.migration_sql(schema.SQLiteDialect(), 0, 1)[0][1]:
        conn.execute(stmt)
    conn.execute("PRAGMA user_version=1")
    conn.execute("INSERT INTO sessions (id, uuid, status, created_at) VALUES (1, 'u1', "
                 "'completed', 1.0)")
    conn.executemany("INSERT INTO frames VALUES (?,?,?,?,?,?,?,?,?,?)",
                     [(1, i, float(i), 0.1, 0.2, 0.3, 0.6, 4, 0.9, '{"top":[[4,0.9]]}')
                      for i in range(2)])
    conn.close()


def test_v1_log_migrates_to_read_ms_keeping_its_frames(db_path: Path) -> None:
    _v1_log(db_path)
    with SessionStore(db_path) as st:
        assert st.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
        assert [f["i"] for f in st.iter_frames(1)] == [0, 1]
        assert all(f["read_ms"] is None for f in st.iter_frames(1)), "old rows: not reported"
        assert np.isnan(st.frame_column(1, "read_ms")).all()
        assert st.frame_column(1, "e2e").tolist() == [0.6, 0.6]
        # New rows carry it, old and new side by side in one session.
        st.insert_batch(1, [frame_row(2, 2.0, 0.1, 0.2, 0.3, 0.6, {}, read_ms=1.25)], [], [])
        assert st.frame_column(1, "read_ms")[2] == 1.25
        assert st.integrity_check() == "ok"
    # A migrated log has the very schema of a new one.
    fresh = db_path.with_name("fresh.db")
    SessionStore(fresh).close()
    cols = [list(sqlite3.connect(p).execute("PRAGMA table_info(frames)")) for p in
            (db_path, fresh)]
    assert cols[0] == cols[1]


def test_read_ms_round_trips_and_is_optional(db_path: Path) -> None:
    with SessionStore(db_path) as st:
        sid = add_session(st, device_name="dev")
        st.insert_batch(sid, [frame_row(0, 1.0, 0.1, 0.2, 0.3, 0.6, {}, read_ms=0.75),
                              frame_row(1, 2.0, 0.1, 0.2, 0.3, 0.6, {})], [], [])
        got = st.frame_column(sid, "read_ms")
        assert got[0] == 0.75 and np.isnan(got[1])


def test_a_session_or_plan_run_is_named_by_id_or_uuid_prefix(db_path: Path) -> None:
    """An all-digit uuid prefix still finds its row; a short number is an id only.

    One uuid in 27 starts with eight digits: ``plan show`` with the prefix the
    CLI printed once answered "no plan run", and "77" once found the session
    whose uuid began 77.
    """
    with SessionStore(db_path) as st:
        a = add_session(st, device_name="a")
        b = add_session(st, device_name="b")
        st.conn.execute("UPDATE sessions SET uuid = ? WHERE id = ?", ["77123456" + "0" * 24, a])
        st.conn.execute("UPDATE sessions SET uuid = ? WHERE id = ?", ["ab" + "1" * 30, b])
        st.conn.commit()
        assert st.find(str(a)).id == a and st.find("77123456").id == a
        assert st.find("77") is None  # no session 77; never the uuid that starts 77
        assert st.find("ab").id == b and st.find(" AB11 ").id == b
        assert st.find("zz") is None and st.find("") is None
        run = st.create_plan_run(name="n", plan_text="", plan_sha256="", plan_path="",
                                 console_version="", console_host="", console_pid=0)
        st.conn.execute("UPDATE plan_runs SET uuid = ? WHERE id = ?", ["99696961" + "f" * 24, run])
        st.conn.commit()
        assert st.plan_run("99696961")["id"] == run and st.plan_run(str(run))["id"] == run
        assert st.plan_run("99") is None
