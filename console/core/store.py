"""The session log: one SQLite file (WAL) holding every run, frame and sample.

Schema is versioned with ``PRAGMA user_version`` and migrated forward in
:data:`MIGRATIONS`; a database from a newer console is refused rather than
damaged. Tables:

``sessions``   one row a run: device facts and identity, package identity and
               manifest, input description and sha256, all settings, versions,
               times, status (running/completed/stopped/failed/interrupted),
               error text, summary, the console process that owns it.
``frames``     per frame: index, capture time, stage latencies, top-1, outputs,
               and (schema v2) ``read_ms``, the time the source took to deliver
               the frame (NULL when the agent did not report it).
``telemetry``  per sample: the common figures as columns + the full sample.
``events``     agent and console events, warnings and errors.
``bookmarks``  notes on a moment of a session.

Connections are not shared between threads: the run's writer thread opens
its own :class:`SessionStore`. Hot-path inserts use ``executemany`` (about
4x faster than sqlite-utils' ``insert_all`` here, measured); schema,
queries and everything else go through sqlite-utils. Nothing secret is
ever written: callers pass descriptions that are already redacted.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import sqlite_utils

from console.core.errors import UserError

SCHEMA_VERSION = 2
STATUSES = ("running", "completed", "stopped", "failed", "interrupted")
#: Numeric columns of ``frames`` that :meth:`SessionStore.frame_column` reads.
_FRAME_NUMERIC = ("i", "ts", "pre", "infer", "post", "e2e", "top1", "top1_score", "read_ms")
#: Columns of a frame row as :func:`frame_row` builds it (after ``session_id``).
FRAME_COLUMNS = ("i", "ts", "pre", "infer", "post", "e2e", "top1", "top1_score", "out",
                 "read_ms")
#: Session columns stored as JSON text (decoded on read).
JSON_FIELDS = ("device_identity", "device_facts", "package_manifest", "input_info",
                "settings", "summary", "cold_start", "tags")


class StoreError(UserError):
    """The session log cannot be used; the message says which file and what to do."""


class DatabaseLocked(StoreError):
    pass


class DatabaseReadOnly(StoreError):
    pass


class SchemaTooNew(StoreError):
    pass


class DatabaseCorrupt(StoreError):
    pass


class DiskFull(StoreError):
    pass


def _migrate_1(db: sqlite_utils.Database) -> None:
    sessions = db.table("sessions")
    sessions.create({
        "id": int, "uuid": str, "created_at": float, "started_at": float, "ended_at": float,
        "status": str, "error": str,
        "device_kind": str, "device_address": str, "device_name": str,
        "device_identity": str, "device_facts": str,
        "package_name": str, "package_version": str, "package_digest": str,
        "package_model_sha256": str, "package_source": str, "package_manifest": str,
        "package_signer": str,
        "input_kind": str, "input_desc": str, "input_sha256": str, "input_info": str,
        "settings": str, "provider": str, "cold_start": str, "summary": str,
        "frames_received": int, "console_version": str, "agent_version": str,
        "protocol_version": int, "note": str, "tags": str, "replay_of": int,
        "console_pid": int, "console_host": str, "console_started": float,
    }, pk="id", not_null={"uuid", "status", "created_at"}, defaults={"frames_received": 0})
    sessions.create_index(["uuid"], unique=True)
    sessions.create_index(["started_at"])
    db.execute("""CREATE TABLE frames (
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        i INTEGER NOT NULL, ts REAL NOT NULL,
        pre REAL, infer REAL, post REAL, e2e REAL,
        top1 INTEGER, top1_score REAL, out TEXT,
        PRIMARY KEY (session_id, i)) WITHOUT ROWID""")
    db.execute("""CREATE TABLE telemetry (
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        ts REAL NOT NULL, cpu_sys REAL, cpu_agent REAL, rss_mb REAL, mem_used_mb REAL,
        mem_total_mb REAL, temp_max_c REAL, power_w REAL, sampler_cpu REAL, sample TEXT)""")
    db.execute("CREATE INDEX telemetry_session ON telemetry(session_id, ts)")
    db.execute("""CREATE TABLE events (
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        ts REAL NOT NULL, level TEXT NOT NULL, code TEXT, text TEXT)""")
    db.execute("CREATE INDEX events_session ON events(session_id, ts)")
    db.execute("""CREATE TABLE bookmarks (
        id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL REFERENCES sessions(id)
        ON DELETE CASCADE, frame_i INTEGER, ts REAL, note TEXT, created_at REAL)""")


def _migrate_2(db: sqlite_utils.Database) -> None:
    # Per-frame source read time (protocol v1 Frame.read_ms). ADD COLUMN only edits the
    # schema: old rows read NULL ("not reported"), no table rewrite on a large log.
    db.execute("ALTER TABLE frames ADD COLUMN read_ms REAL")


MIGRATIONS = {1: _migrate_1, 2: _migrate_2}


def _proc_start_time(pid: int) -> float | None:
    """Start time of a process (clock ticks since boot), to survive pid reuse."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read().decode("ascii", "replace")
        return float(data.rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _pid_alive(pid: int, started: float | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if started is not None:
        now = _proc_start_time(pid)
        if now is not None and now != started:
            return False  # pid reused by another process
    return True


def _on_readonly_fs(path: Path) -> bool:
    """True when the log's folder is on a file system mounted read-only (root cannot write)."""
    try:
        return bool(os.statvfs(path.parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _classify(exc: sqlite3.Error, path: Path) -> StoreError:
    msg = str(exc).lower()
    if ("readonly" in msg or "read-only" in msg or "attempt to write" in msg
            or "unable to open" in msg) and _on_readonly_fs(path):
        return DatabaseReadOnly(f"session log {path} is on a read-only file system; pass --db "
                                "with a path on a writable disk")
    if "locked" in msg or "busy" in msg:
        return DatabaseLocked(f"session log {path} is locked by another process; close the "
                              "other console or tool using it, or pass --db with another file")
    if "readonly" in msg or "read-only" in msg or "attempt to write" in msg:
        return DatabaseReadOnly(f"session log {path} is read-only; fix its permissions or "
                                "pass --db with a writable path")
    if "disk is full" in msg or "disk i/o" in msg:
        return DiskFull(f"cannot write the session log {path}: {exc} (disk full?)")
    if "malformed" in msg or "not a database" in msg:
        return DatabaseCorrupt(f"session log {path} is damaged ({exc}); move it aside to start "
                               "a new one")
    if "unable to open" in msg:
        return DatabaseReadOnly(f"cannot open session log {path}: {exc}; check the folder "
                                "exists and is writable")
    return StoreError(f"session log {path}: {exc}")


def _dec(row: dict[str, Any]) -> dict[str, Any]:
    for k in JSON_FIELDS:
        if k in row and isinstance(row[k], str):
            try:
                row[k] = json.loads(row[k])
            except ValueError:
                pass
    return row


def _enc(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), default=str)


_INSERT_FRAME = (f"INSERT OR IGNORE INTO frames (session_id, {', '.join(FRAME_COLUMNS)}) "
                 f"VALUES ({', '.join('?' * (len(FRAME_COLUMNS) + 1))})")


class SessionStore:
    """One connection to the session log. Not thread-safe: one per thread."""

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False,
                 timeout: float = 5.0) -> None:
        self.path = Path(path).expanduser()
        self.readonly = readonly
        if not readonly:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseReadOnly(f"cannot create the folder for session log {self.path}: "
                                       f"{exc.strerror}; pass --db with a writable path"
                                       ) from None
        elif not self.path.exists():
            raise StoreError(f"session log {self.path} does not exist")
        try:
            if readonly:
                conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=timeout,
                                       isolation_level=None, check_same_thread=False)
            else:
                conn = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None,
                                       check_same_thread=False)
            self.conn = conn
            self.db = sqlite_utils.Database(conn)
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise _classify(exc, self.path) from None
        # Switching a fresh file to WAL and creating the schema can meet another console
        # doing the same at that moment; some of those lock waits return "locked" at once
        # instead of waiting out the busy timeout. Try again until the timeout has passed.
        deadline = time.monotonic() + timeout
        attempt = 0
        while True:
            try:
                if not readonly:
                    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
                    if mode != "wal":
                        conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute("PRAGMA synchronous=NORMAL")
                self._migrate()
                break
            except sqlite3.OperationalError as exc:
                text = str(exc).lower()
                if ("locked" in text or "busy" in text) and time.monotonic() < deadline:
                    attempt += 1
                    time.sleep(min(0.5, 0.02 * attempt))
                    continue
                conn.close()
                raise _classify(exc, self.path) from None
            except sqlite3.Error as exc:
                conn.close()
                raise _classify(exc, self.path) from None
            except BaseException:
                conn.close()
                raise

    # -- schema ---------------------------------------------------------------
    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise SchemaTooNew(f"session log {self.path} has schema v{version}, newer than this "
                               f"console's v{SCHEMA_VERSION}; upgrade the console or use --db "
                               "with another file")
        if version == SCHEMA_VERSION:
            return
        if self.readonly:
            raise StoreError(f"session log {self.path} needs a schema upgrade; open it writable")
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            # Another console may have migrated it while we waited for the write lock
            # (two processes opening a fresh log at once): read the version again.
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise SchemaTooNew(f"session log {self.path} has schema v{version}, newer than "
                                   f"this console's v{SCHEMA_VERSION}; upgrade the console or "
                                   "use --db with another file")
            for v in range(version + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[v](self.db)
            if version < SCHEMA_VERSION:
                self.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def check_writable(self) -> None:
        """Fail now, with a clear reason, if a run could not be recorded."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise _classify(exc, self.path) from None
        if not os.access(self.path, os.W_OK):
            if _on_readonly_fs(self.path):
                raise DatabaseReadOnly(f"session log {self.path} is on a read-only file system; "
                                       "pass --db with a path on a writable disk")
            raise DatabaseReadOnly(f"session log {self.path} is read-only; fix its permissions "
                                   "or pass --db with a writable path")

    def close(self) -> None:
        try:
            self.conn.close()
        except sqlite3.Error:
            pass

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise _classify(exc, self.path) from None

    # -- sessions -------------------------------------------------------------
    def create_session(self, **fields: Any) -> int:
        """Insert a ``running`` session owned by this process; returns its id."""
        row: dict[str, Any] = {
            "uuid": fields.pop("uuid", None) or uuid.uuid4().hex,
            "created_at": time.time(),
            "status": fields.pop("status", "running"),
            "console_pid": os.getpid(),
            "console_host": socket.gethostname(),
            "console_started": _proc_start_time(os.getpid()),
        }
        for k, v in fields.items():
            row[k] = _enc(v) if k in JSON_FIELDS else v
        try:
            return int(self.db.table("sessions").insert(row).last_pk or 0)
        except sqlite3.Error as exc:
            raise _classify(exc, self.path) from None

    def update_session(self, session_id: int, **fields: Any) -> None:
        if not fields:
            return
        cols = ", ".join(f"[{k}] = ?" for k in fields)
        vals = [_enc(v) if k in JSON_FIELDS else v for k, v in fields.items()]
        self._write(f"UPDATE sessions SET {cols} WHERE id = ?", [*vals, session_id])

    def get_session(self, session_id: int) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM sessions WHERE id = ?", [session_id]))
        return _dec(rows[0]) if rows else None

    def find_session(self, ref: str) -> dict[str, Any] | None:
        """By id, or by uuid / uuid prefix (bundles carry uuids)."""
        if ref.isdigit():
            return self.get_session(int(ref))
        rows = list(self.db.query("SELECT * FROM sessions WHERE uuid LIKE ? LIMIT 2",
                                  [ref + "%"]))
        return _dec(rows[0]) if len(rows) == 1 else None

    def list_sessions(self, *, device: str | None = None, package: str | None = None,
                      status: str | None = None, since: float | None = None,
                      tag: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        where: list[str] = ["1=1"]
        params: list[Any] = []
        if device:
            where.append("(device_name LIKE ? OR device_address LIKE ?)")
            params += [f"%{device}%", f"%{device}%"]
        if package:
            where.append("(package_name LIKE ? OR package_name || '@' || package_version = ?)")
            params += [f"%{package}%", package]
        if status:
            where.append("status = ?")
            params.append(status)
        if since is not None:
            where.append("created_at >= ?")
            params.append(since)
        if tag:
            where.append("EXISTS (SELECT 1 FROM json_each(sessions.tags) WHERE value = ?)")
            params.append(tag)
        sql = (f"SELECT * FROM sessions WHERE {' AND '.join(where)} "
               f"ORDER BY created_at DESC, id DESC LIMIT ?")
        return [_dec(r) for r in self.db.query(sql, [*params, limit])]

    def delete_session(self, session_id: int) -> bool:
        self._write("BEGIN IMMEDIATE")
        try:
            for t in ("frames", "telemetry", "events", "bookmarks"):
                self.conn.execute(f"DELETE FROM {t} WHERE session_id = ?", [session_id])
            cur = self.conn.execute("DELETE FROM sessions WHERE id = ?", [session_id])
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self.conn.execute("ROLLBACK")
            raise _classify(exc, self.path) from None
        return cur.rowcount > 0

    def recover_interrupted(self) -> list[int]:
        """Mark ``running`` sessions whose console process is gone as ``interrupted``."""
        if self.readonly:
            return []
        host = socket.gethostname()
        found = []
        for r in self.db.query("SELECT id, console_pid, console_host, console_started "
                               "FROM sessions WHERE status = 'running'"):
            if r["console_host"] == host and r["console_pid"] and _pid_alive(
                    r["console_pid"], r["console_started"]):
                continue
            found.append(r["id"])
        for sid in found:
            n = self.frame_count(sid)
            self.update_session(sid, status="interrupted", frames_received=n,
                                error="the console stopped while recording (crash or killed); "
                                      f"{n} frames kept")
            if self.get_session(sid) and not (self.get_session(sid) or {}).get("ended_at"):
                last = self.conn.execute("SELECT MAX(ts) FROM frames WHERE session_id=?",
                                         [sid]).fetchone()[0]
                self.update_session(sid, ended_at=last)
        return found

    # -- rows -----------------------------------------------------------------
    def insert_batch(self, session_id: int, frames: Sequence[tuple[Any, ...]],
                     telemetry: Sequence[tuple[Any, ...]], events: Sequence[tuple[Any, ...]],
                     frames_received: int | None = None,
                     session_fields: Mapping[str, Any] | None = None) -> None:
        """One transaction: frame rows as :func:`frame_row` builds them (:data:`FRAME_COLUMNS`),
        telemetry rows ``(ts, cpu_sys, cpu_agent, rss, used, total, tmax, power, sampler,
        sample_json)``, event rows ``(ts, level, code, text)``, and ``session_fields``
        written to the session row.

        All or nothing: on any error the transaction is rolled back, so a caller may
        retry the very same batch (after :class:`DatabaseLocked`) without duplicating
        telemetry or event rows."""
        c = self.conn
        try:
            c.execute("BEGIN IMMEDIATE")
            if frames:
                c.executemany(_INSERT_FRAME, [(session_id, *f) for f in frames])
            if telemetry:
                c.executemany("INSERT INTO telemetry VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                              [(session_id, *t) for t in telemetry])
            if events:
                c.executemany("INSERT INTO events VALUES (?,?,?,?,?)",
                              [(session_id, *e) for e in events])
            if frames_received is not None:
                c.execute("UPDATE sessions SET frames_received=? WHERE id=?",
                          [frames_received, session_id])
            if session_fields:
                cols = ", ".join(f"[{k}] = ?" for k in session_fields)
                vals = [_enc(v) if k in JSON_FIELDS else v for k, v in session_fields.items()]
                c.execute(f"UPDATE sessions SET {cols} WHERE id = ?", [*vals, session_id])
            c.execute("COMMIT")
        except sqlite3.Error as exc:
            try:
                c.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            raise _classify(exc, self.path) from None

    def add_event(self, session_id: int, level: str, code: str, text: str,
                  ts: float | None = None) -> None:
        self.insert_batch(session_id, [], [], [(ts or time.time(), level, code, text)])

    def frame_count(self, session_id: int) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM frames WHERE session_id=?",
                                     [session_id]).fetchone()[0])

    def frame_arrays(self, session_id: int) -> dict[str, np.ndarray]:
        """Columns of the frames table as arrays (ordered by frame index)."""
        rows = self.conn.execute(
            "SELECT i, ts, pre, infer, post, e2e, top1 FROM frames WHERE session_id=? "
            "ORDER BY i", [session_id]).fetchall()
        cols = ("i", "ts", "pre", "infer", "post", "e2e", "top1")
        if not rows:
            return {c: np.zeros(0) for c in cols}
        arr = np.array([[(-1 if v is None else v) for v in r] for r in rows], dtype=np.float64)
        out = {c: arr[:, k] for k, c in enumerate(cols)}
        out["i"] = out["i"].astype(np.int64)
        out["top1"] = out["top1"].astype(np.int64)
        return out

    def frame_column(self, session_id: int, column: str) -> np.ndarray:
        """One numeric column of a session's frames (ordered by index) as float64.

        Read in chunks into one preallocated array, so a multi-million-frame
        session costs 8 bytes a frame here, not a Python object per value
        (``frame_arrays`` builds all columns at once through Python lists).
        NULL reads as NaN.
        """
        if column not in _FRAME_NUMERIC:
            raise ValueError(f"not a numeric frame column: {column!r}")
        try:
            n = self.frame_count(session_id)
            out = np.empty(n, dtype=np.float64)
            cur = self.conn.execute(f"SELECT {column} FROM frames WHERE session_id=? ORDER BY i",
                                    [session_id])
            k = 0
            while k < n:
                rows = cur.fetchmany(min(65536, n - k))
                if not rows:
                    break
                out[k:k + len(rows)] = [np.nan if r[0] is None else r[0] for r in rows]
                k += len(rows)
            cur.close()
        except sqlite3.Error as exc:
            raise _classify(exc, self.path) from None
        return out[:k]

    def iter_frames(self, session_id: int) -> Iterator[dict[str, Any]]:
        for r in self.db.query("SELECT * FROM frames WHERE session_id=? ORDER BY i",
                               [session_id]):
            r["out"] = json.loads(r["out"]) if r["out"] else None
            yield r

    def telemetry(self, session_id: int, keys: Collection[str] | None = None
                  ) -> list[dict[str, Any]]:
        """Telemetry samples with ``ts`` added, oldest first.

        ``keys`` keeps only those fields of each sample (a long session's
        full samples are a few KB each; a summary needs a handful of fields).
        """
        out = []
        for ts, sample in self.conn.execute(
                "SELECT ts, sample FROM telemetry WHERE session_id=? ORDER BY ts", [session_id]):
            s = json.loads(sample) if sample else {}
            if keys is not None:
                s = {k: s[k] for k in keys if k in s}
            s["ts"] = ts
            out.append(s)
        return out

    def events(self, session_id: int) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT ts, level, code, text FROM events WHERE session_id=? "
                                  "ORDER BY ts", [session_id]))

    def add_bookmark(self, session_id: int, note: str, frame_i: int | None = None,
                     ts: float | None = None) -> int:
        cur = self._write("INSERT INTO bookmarks (session_id, frame_i, ts, note, created_at) "
                          "VALUES (?,?,?,?,?)", [session_id, frame_i, ts, note, time.time()])
        return int(cur.lastrowid or 0)

    def bookmarks(self, session_id: int) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT * FROM bookmarks WHERE session_id=? ORDER BY "
                                  "COALESCE(frame_i, 0), ts", [session_id]))

    def integrity_check(self) -> str:
        return str(self.conn.execute("PRAGMA integrity_check").fetchone()[0])

    # -- queries for browsing ------------------------------------------------------------
    # What the window's Sessions tab asks (through console.session.browse): one
    # aggregate each, so a long session costs one index scan, not its rows.
    def telemetry_count(self, session_id: int) -> int:
        """Telemetry samples recorded for a session."""
        return int(self.conn.execute("SELECT COUNT(*) FROM telemetry WHERE session_id=?",
                                     [session_id]).fetchone()[0])

    def first_frame_ts(self, session_id: int) -> float | None:
        """Device time of a session's first frame (bookmark times count from it);
        None without frames."""
        first = self.conn.execute("SELECT MIN(ts) FROM frames WHERE session_id=?",
                                  [session_id]).fetchone()[0]
        return float(first) if first is not None else None


def telemetry_row(ts: float, sample: dict[str, Any]) -> tuple[Any, ...]:
    """Flatten the common telemetry figures into columns; the full sample stays as JSON."""
    thermal = sample.get("thermal") or {}
    power = sample.get("power_w") or {}
    return (ts, sample.get("cpu_sys"), sample.get("cpu_agent"), sample.get("rss_mb"),
            sample.get("mem_used_mb"), sample.get("mem_total_mb"),
            max(thermal.values()) if thermal else None,
            max(power.values()) if power else None,
            sample.get("sampler_cpu"), json.dumps(sample, separators=(",", ":")))


def frame_row(i: int, ts: float, pre: float, infer: float, post: float, e2e: float,
              out: dict[str, Any], read_ms: float | None = None) -> tuple[Any, ...]:
    """A frames row (:data:`FRAME_COLUMNS`); ``read_ms`` None when the agent did not send it."""
    top = out.get("top")
    top1, score = (top[0][0], top[0][1]) if top else (None, None)
    return (i, ts, pre, infer, post, e2e, top1, score, json.dumps(out, separators=(",", ":")),
            read_ms)


def decode_json_fields(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [_dec(dict(r)) for r in rows]
