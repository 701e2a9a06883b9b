"""An older log brought to today's schema: a PostgreSQL database built with the v1/v2
DDL of ``console.core.schema``'s own migrations, and release 1's SQLite file pushed to
the server — each upgraded with one clear line, never silently, and read the same.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from helpers.recording import DEVICELAB

from console.core import schema as S
from console.core.ddl import PostgresDialect
from console.core.store.postgres import _MIGRATION_LOCK as MIGRATION_LOCK
from teamlog.conftest import dl

LEGACY = Path(__file__).resolve().parents[1] / "data" / "legacy" / "v2-log.db"
#: the tables of release 1 (v1/v2), in the order their rows may be inserted
_OLD_TABLES = ("sessions", "frames", "telemetry", "events", "bookmarks")


def _old_database(url: str, version: int, tmp: Path) -> None:
    """The database as a console at ``version`` left it, holding release 1's session,
    built as that console did: the migrations' own DDL, the schema-version row."""
    copy = shutil.copy(LEGACY, tmp / "legacy-source.db")  # even a reader adds -wal/-shm
    src = sqlite3.connect(copy)
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("CREATE TABLE devicelab_schema (version INTEGER NOT NULL)")
        c.execute("INSERT INTO devicelab_schema VALUES (%s)", [version])
        for _v, stmts in S.migration_sql(PostgresDialect(), 0, version):
            for stmt in stmts:
                c.execute(stmt)  # type: ignore[arg-type]
        have = S.current(version)
        for table in _OLD_TABLES:
            cols = [n for n in have.tables[table].names
                    if n != "id" or table == "sessions"]
            # release 1 names its columns as v2 did: select them under the names at `version`
            old = {new: o for o, new in S.renames_after(2).get(table, {}).items()}
            legacy = {r[1] for r in src.execute(f"PRAGMA table_info({table})")}
            exprs = [old.get(n, n) if old.get(n, n) in legacy else "NULL" for n in cols]
            rows = src.execute(f"SELECT {', '.join(exprs)} FROM {table}").fetchall()
            with c.cursor() as cur:
                cur.executemany(f'INSERT INTO "{table}" ({", ".join(cols)}) VALUES '
                                f'({", ".join(["%s"] * len(cols))})', rows)
        c.execute("SELECT setval(pg_get_serial_sequence('sessions', 'id'), "
                  "(SELECT max(id) FROM sessions))")
    src.close()


def _show(db: str, ref: str) -> list[str]:
    res = dl("sessions", "show", ref, "--db", db)
    assert res.returncode == 0, res.stderr
    return res.stdout.splitlines()


@pytest.mark.parametrize("version", [1, 2, 4])
def test_an_older_server_database_is_migrated_with_one_line(pg_db, tmp_path: Path,
                                                            version: int) -> None:
    _old_database(pg_db.url, version, tmp_path)
    res = dl("sessions", "list", "--db", pg_db.url)
    assert res.returncode == 0, res.stderr
    assert res.stderr.strip().splitlines() == [
        f"devicelab: upgraded the session log {pg_db.url} from schema v{version} to "
        f"v{S.SCHEMA_VERSION}"]
    assert "digits-cnn" in res.stdout
    again = dl("sessions", "list", "--db", pg_db.url)
    assert again.returncode == 0 and again.stderr == ""  # once
    assert pg_db.query("SELECT version FROM devicelab_schema") == [(S.SCHEMA_VERSION,)]
    # today's names, and the headline figures backfilled from the summary JSON
    (summary, p95, fps, frames), = pg_db.query(
        "SELECT summary, e2e_p95_ms, fps, frames_received FROM sessions")
    figures = json.loads(str(summary))
    assert p95 == pytest.approx(figures["latency_ms"]["e2e"]["p95"])
    assert fps == pytest.approx(figures["fps"])
    assert pg_db.query("SELECT count(*), min(e2e_ms) > 0 FROM frames") == [(frames, True)]
    assert pg_db.query("SELECT count(*) FROM sessions_overview") == [(1,)]
    if version == 1:
        assert pg_db.query("SELECT count(read_ms) FROM frames") == [(0,)]
    # v5: the frames' per-row foreign key became statement triggers
    assert pg_db.query("SELECT count(*) FROM pg_constraint WHERE conrelid = 'frames'::regclass "
                       "AND contype = 'f'") == [(0,)]
    assert sorted(n for (n,) in pg_db.query(
        "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")) == [
        "frames_session_id_insert_check", "frames_session_id_update_check",
        "sessions_frames_cascade"]
    # the same session read from the migrated SQLite file shows the same
    copy = shutil.copy(LEGACY, tmp_path / "v2.db")
    assert _show(pg_db.url, "1") == _show(str(copy), "1")
    res = dl("sessions", "export", "1", "--format", "csv", "-o", str(tmp_path / "f.csv"),
             "--db", pg_db.url)
    assert res.returncode == 0, res.stderr
    head = (tmp_path / "f.csv").read_text().splitlines()[0]
    assert "e2e_ms" in head and "infer_ms" in head


def test_two_consoles_opening_an_old_database_migrate_it_once(pg_db, tmp_path: Path) -> None:
    _old_database(pg_db.url, 1, tmp_path)
    # Hold the migration lock until all three wait on it: they all found v1 and queue up.
    holder = psycopg.connect(pg_db.admin_url, autocommit=True)
    holder.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK])
    procs = [subprocess.Popen([DEVICELAB, "sessions", "list", "--db", pg_db.url],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and pg_db.query(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    ) != [(3,)]:
        assert all(p.poll() is None for p in procs)
        time.sleep(0.1)
    holder.close()
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    lines = [ln for _o, e in outs for ln in e.splitlines()]
    assert len(lines) == 1 and f"from schema v1 to v{S.SCHEMA_VERSION}" in lines[0], lines
    assert pg_db.query("SELECT count(*) FROM sessions") == [(1,)]


def test_release_one_sqlite_log_pushed_to_the_server(pg_db, tmp_path: Path) -> None:
    copy = Path(shutil.copy(LEGACY, tmp_path / "v2-log.db"))  # opening it migrates it
    res = dl("sessions", "push", "--db", str(copy), "--to", pg_db.url)
    assert res.returncode == 0, res.stderr
    assert f"upgraded the session log {copy} from schema v2 to v{S.SCHEMA_VERSION}" in res.stderr
    assert "1 copied, 0 already there" in res.stdout
    assert _show(pg_db.url, "1") == _show(str(copy), "1")
    src = sqlite3.connect(copy)
    for table, order in (("frames", "i"), ("telemetry", "ts_unix_s"), ("events", "ts_unix_s"),
                         ("bookmarks", "id")):
        cols = [c for c in S.column_names(table) if c not in ("session_id", "id")]
        want = src.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {order}").fetchall()
        got = pg_db.query(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {order}")
        assert got == want, table
    src.close()
    again = dl("sessions", "push", "--db", str(copy), "--to", pg_db.url)
    assert again.returncode == 0 and "already there" in again.stdout
    assert "0 copied, 1 already there" in again.stdout
    assert "upgraded" not in again.stderr
