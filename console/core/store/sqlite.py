"""The session log in one SQLite file (WAL): the embedded default, zero set-up.

The schema comes from ``console.core.schema`` (versioned with ``PRAGMA
user_version``, migrated forward with the same numbered migrations the
PostgreSQL log uses); a log from a newer console is refused rather than
damaged, and a damaged file is refused before anything is written into it.

Connections are not shared between threads: the run's writer thread opens its
own :class:`SessionStore`. Hot-path inserts use ``executemany`` (about 4x
faster than sqlite-utils' ``insert_all`` here, measured); schema, queries and
everything else go through sqlite-utils. Nothing secret is ever written:
callers pass descriptions that are already redacted.

Names: rows are read and written by today's column names (they carry units:
``e2e_ms``, ``started_unix_s``); the legacy dict readers (``get_session``,
``list_sessions``) also carry the pre-v3 keys so older callers keep working
while they move to :class:`~console.core.records.SessionRecord`.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import sqlite_utils

from console.core import schema as S
from console.core.records import (
    JSON_COLUMNS,
    NewSession,
    SessionRecord,
    decode_json_columns,
    encode_json,
    new_session_columns,
)
from console.core.store.errors import (
    DatabaseReadOnly,
    SchemaTooNew,
    StoreError,
    classify_sqlite,
    damaged,
    on_readonly_fs,
)
from console.core.store.rows import EVENT_COLUMNS, FRAME_COLUMN_OF, FRAME_COLUMNS, TELEMETRY_COLUMNS
from console.core.summary import Summary, headline

SCHEMA_VERSION = S.SCHEMA_VERSION
#: pre-v3 name -> today's, for readers that still look the old keys up
LEGACY_SESSION_KEYS = {"created_at": "created_unix_s", "started_at": "started_unix_s",
                       "ended_at": "ended_unix_s", "console_started": "console_started_ticks"}
_SESSION_COLUMNS = frozenset(S.column_names("sessions"))

_INSERT_FRAME = (f"INSERT OR IGNORE INTO frames (session_id, {', '.join(FRAME_COLUMNS)}) "
                 f"VALUES ({', '.join('?' * (len(FRAME_COLUMNS) + 1))})")
_INSERT_TELEMETRY = (f"INSERT INTO telemetry (session_id, {', '.join(TELEMETRY_COLUMNS)}) "
                     f"VALUES ({', '.join('?' * (len(TELEMETRY_COLUMNS) + 1))})")
_INSERT_EVENT = (f"INSERT INTO events (session_id, {', '.join(EVENT_COLUMNS)}) "
                 f"VALUES ({', '.join('?' * (len(EVENT_COLUMNS) + 1))})")

#: files found intact by ``quick_check`` in this process: (path, inode, size) of each.
#: A check costs a read of the whole file, so a process pays it once per log.
_CHECKED: set[tuple[str, int]] = set()
_CHECKED_LOCK = threading.Lock()


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


def legacy_session_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    """A decoded sessions row with the pre-v3 keys beside today's."""
    d = decode_json_columns(row)
    for old, new in LEGACY_SESSION_KEYS.items():
        if new in d:
            d[old] = d[new]
    return d


def session_columns(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Columns to write for ``fields`` (today's names; pre-v3 names accepted), JSON
    encoded; a summary brings its headline columns along. Unknown names are a bug."""
    out: dict[str, Any] = {}
    for k, v in fields.items():
        k = LEGACY_SESSION_KEYS.get(k, k)
        if k not in _SESSION_COLUMNS:
            raise KeyError(f"sessions has no column {k!r}")
        out[k] = encode_json(v) if k in JSON_COLUMNS else v
        if k == "summary":
            out.update(headline(Summary.from_dict(v)) if isinstance(v, dict) else
                       {c: None for c in headline(Summary.from_dict({}))})
    return out


class SessionStore:
    """One connection to the session log. Not thread-safe: one per thread."""

    dialect: S.Dialect = S.SQLiteDialect()

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
            raise classify_sqlite(exc, self.path) from None
        # Switching a fresh file to WAL and creating the schema can meet another console
        # doing the same at that moment; some of those lock waits return "locked" at once
        # instead of waiting out the busy timeout. Try again until the timeout has passed.
        deadline = time.monotonic() + timeout
        attempt = 0
        while True:
            try:
                self._check_intact()
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
                raise classify_sqlite(exc, self.path) from None
            except sqlite3.Error as exc:
                conn.close()
                raise classify_sqlite(exc, self.path) from None
            except BaseException:
                conn.close()
                raise

    # -- schema -------------------------------------------------------------------
    def _check_intact(self) -> None:
        """Refuse a damaged log before anything is written into it (``quick_check``: the
        page structure, without the slower index cross-checks of ``integrity_check``)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return  # a new file
        if st.st_size == 0:
            return
        key = (str(self.path.resolve()), st.st_ino)
        with _CHECKED_LOCK:
            if key in _CHECKED:
                return
        rows = self.conn.execute("PRAGMA quick_check(20)").fetchall()
        if [tuple(r) for r in rows] != [("ok",)]:
            problems = [ln.strip() for r in rows for ln in str(r[0]).splitlines()
                        if ln.strip() and not ln.startswith("***")]
            more = f" and {len(problems) - 1} more problems" if len(problems) > 1 else ""
            raise damaged(self.path, f"{problems[0] if problems else 'quick_check failed'}"
                                     f"{more}")
        with _CHECKED_LOCK:
            _CHECKED.add(key)

    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise SchemaTooNew(f"session log {self.path} has schema v{version}, newer than this "
                               f"console's v{SCHEMA_VERSION}; upgrade the console or use --db "
                               "with another file")
        if version == SCHEMA_VERSION:
            return
        if self.readonly:
            raise StoreError(f"session log {self.path} needs a schema upgrade (v{version} → "
                             f"v{SCHEMA_VERSION}); open it writable once")
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            # Another console may have migrated it while we waited for the write lock
            # (two processes opening a fresh log at once): read the version again.
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise SchemaTooNew(f"session log {self.path} has schema v{version}, newer than "
                                   f"this console's v{SCHEMA_VERSION}; upgrade the console or "
                                   "use --db with another file")
            steps = S.migration_sql(self.dialect, version)
            for _v, stmts in steps:
                for sql in stmts:
                    self.conn.execute(sql)
            if version > 0 and steps:
                self._backfill_headline()
            self.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        #: the versions this open migrated the log through (the CLI says so in one line)
        self.migrated_from = version if version > 0 else None

    migrated_from: int | None = None

    def _backfill_headline(self) -> None:
        """Sessions from before v3 get their headline columns from their summary JSON."""
        for sid, summ in self.conn.execute(
                "SELECT id, summary FROM sessions WHERE summary IS NOT NULL").fetchall():
            try:
                cols = session_columns({"summary": json.loads(summ)})
            except (ValueError, TypeError):
                continue
            cols.pop("summary")
            sets = ", ".join(f"[{k}] = ?" for k in cols)
            self.conn.execute(f"UPDATE sessions SET {sets} WHERE id = ?", [*cols.values(), sid])

    def check_writable(self) -> None:
        """Fail now, with a clear reason, if a run could not be recorded."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise classify_sqlite(exc, self.path) from None
        if not os.access(self.path, os.W_OK):
            if on_readonly_fs(self.path):
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
            raise classify_sqlite(exc, self.path) from None

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows as dicts; a damaged page reads as the one "damaged" line, never a traceback."""
        try:
            return list(self.db.query(sql, params))
        except sqlite3.Error as exc:
            raise classify_sqlite(exc, self.path) from None

    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        try:
            row = self.conn.execute(sql, params).fetchone()
        except sqlite3.Error as exc:
            raise classify_sqlite(exc, self.path) from None
        return row[0] if row else None

    # -- sessions -----------------------------------------------------------------
    def create_session(self, new: NewSession) -> int:
        """Insert a session (``running`` unless told) owned by this process; its id."""
        row: dict[str, Any] = {
            **new_session_columns(new),
            "uuid": new.uuid or uuid.uuid4().hex,
            "created_unix_s": time.time(),
            "console_pid": os.getpid(),
            "console_host": socket.gethostname(),
            "console_started_ticks": _proc_start_time(os.getpid()),
        }
        try:
            return int(self.db.table("sessions").insert(row).last_pk or 0)
        except sqlite3.Error as exc:
            raise classify_sqlite(exc, self.path) from None

    def update_session(self, session_id: int, **fields: Any) -> None:
        """Set columns of a session (a summary also sets its headline columns)."""
        if not fields:
            return
        cols = session_columns(fields)
        sets = ", ".join(f"[{k}] = ?" for k in cols)
        self._write(f"UPDATE sessions SET {sets} WHERE id = ?", [*cols.values(), session_id])

    def session(self, session_id: int) -> SessionRecord | None:
        rows = self._read("SELECT * FROM sessions WHERE id = ?", [session_id])
        return SessionRecord.from_row(rows[0]) if rows else None

    def find(self, ref: str) -> SessionRecord | None:
        """By id, or by uuid / uuid prefix (bundles carry uuids)."""
        row = self._find_row(ref)
        return SessionRecord.from_row(row) if row else None

    def _find_row(self, ref: str) -> dict[str, Any] | None:
        if ref.isdigit():
            rows = self._read("SELECT * FROM sessions WHERE id = ?", [int(ref)])
            return rows[0] if rows else None
        rows = self._read("SELECT * FROM sessions WHERE uuid LIKE ? LIMIT 2", [ref + "%"])
        return rows[0] if len(rows) == 1 else None

    def get_session(self, session_id: int) -> dict[str, Any] | None:
        rows = self._read("SELECT * FROM sessions WHERE id = ?", [session_id])
        return legacy_session_dict(rows[0]) if rows else None

    def find_session(self, ref: str) -> dict[str, Any] | None:
        row = self._find_row(ref)
        return legacy_session_dict(row) if row else None

    def _list_rows(self, *, device: str | None = None, package: str | None = None,
                   status: str | None = None, since: float | None = None,
                   tag: str | None = None, plan_run: int | None = None, limit: int = 200,
                   offset: int = 0) -> list[dict[str, Any]]:
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
            where.append("created_unix_s >= ?")
            params.append(since)
        if tag:
            where.append("EXISTS (SELECT 1 FROM json_each(sessions.tags) WHERE value = ?)")
            params.append(tag)
        if plan_run is not None:
            where.append("plan_run_id = ?")
            params.append(plan_run)
        sql = (f"SELECT * FROM sessions WHERE {' AND '.join(where)} "
               f"ORDER BY created_unix_s DESC, id DESC LIMIT ? OFFSET ?")
        return self._read(sql, [*params, limit, offset])

    def sessions(self, **filters: Any) -> list[SessionRecord]:
        """Newest first; filters as :meth:`list_sessions`, plus ``offset`` for paging."""
        return [SessionRecord.from_row(r) for r in self._list_rows(**filters)]

    def list_sessions(self, **filters: Any) -> list[dict[str, Any]]:
        return [legacy_session_dict(r) for r in self._list_rows(**filters)]

    def session_ids_replaying(self, session_id: int) -> list[int]:
        """Sessions that replay this one, newest first."""
        return [int(r["id"]) for r in self._read(
            "SELECT id FROM sessions WHERE replay_of = ? ORDER BY id DESC", [session_id])]

    def delete_session(self, session_id: int) -> bool:
        self._write("BEGIN IMMEDIATE")
        try:
            for t in ("frames", "telemetry", "events", "bookmarks", "op_profiles"):
                self.conn.execute(f"DELETE FROM {t} WHERE session_id = ?", [session_id])
            self.conn.execute("UPDATE sessions SET replay_of = NULL WHERE replay_of = ?",
                              [session_id])
            cur = self.conn.execute("DELETE FROM sessions WHERE id = ?", [session_id])
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self.conn.execute("ROLLBACK")
            raise classify_sqlite(exc, self.path) from None
        return cur.rowcount > 0

    def recover_interrupted(self) -> list[int]:
        """Mark ``running`` sessions whose console process is gone as ``interrupted``."""
        if self.readonly:
            return []
        host = socket.gethostname()
        found = []
        for r in self._read("SELECT id, console_pid, console_host, console_started_ticks "
                            "FROM sessions WHERE status = 'running'"):
            if r["console_host"] == host and r["console_pid"] and _pid_alive(
                    r["console_pid"], r["console_started_ticks"]):
                continue
            found.append(r["id"])
        for sid in found:
            n = self.frame_count(sid)
            self.update_session(sid, status="interrupted", frames_received=n,
                                error="the console stopped while recording (crash or killed); "
                                      f"{n} frames kept")
            if not self._scalar("SELECT ended_unix_s FROM sessions WHERE id=?", [sid]):
                last = self._scalar("SELECT MAX(ts_unix_s) FROM frames WHERE session_id=?",
                                    [sid])
                self.update_session(sid, ended_unix_s=last)
        return found

    # -- rows -----------------------------------------------------------------------
    def insert_batch(self, session_id: int, frames: Sequence[tuple[Any, ...]],
                     telemetry: Sequence[tuple[Any, ...]], events: Sequence[tuple[Any, ...]],
                     frames_received: int | None = None,
                     session_fields: Mapping[str, Any] | None = None) -> None:
        """One transaction: frame rows as ``frame_row`` builds them, telemetry rows as
        ``telemetry_row``, event rows ``(ts, level, code, text)``, and ``session_fields``
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
                c.executemany(_INSERT_TELEMETRY, [(session_id, *t) for t in telemetry])
            if events:
                c.executemany(_INSERT_EVENT, [(session_id, *e) for e in events])
            if frames_received is not None:
                c.execute("UPDATE sessions SET frames_received=? WHERE id=?",
                          [frames_received, session_id])
            if session_fields:
                cols = session_columns(session_fields)
                sets = ", ".join(f"[{k}] = ?" for k in cols)
                c.execute(f"UPDATE sessions SET {sets} WHERE id = ?", [*cols.values(), session_id])
            c.execute("COMMIT")
        except sqlite3.Error as exc:
            try:
                c.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            raise classify_sqlite(exc, self.path) from None

    def add_event(self, session_id: int, level: str, code: str, text: str,
                  ts: float | None = None) -> None:
        self.insert_batch(session_id, [], [], [(ts or time.time(), level, code, text)])

    def frame_count(self, session_id: int) -> int:
        return int(self._scalar("SELECT COUNT(*) FROM frames WHERE session_id=?", [session_id]))

    def telemetry_count(self, session_id: int) -> int:
        return int(self._scalar("SELECT COUNT(*) FROM telemetry WHERE session_id=?",
                                [session_id]))

    def event_count(self, session_id: int) -> int:
        return int(self._scalar("SELECT COUNT(*) FROM events WHERE session_id=?",
                                [session_id]))

    def first_frame_ts(self, session_id: int) -> float | None:
        return self._scalar("SELECT MIN(ts_unix_s) FROM frames WHERE session_id=?",
                            [session_id])

    def frame_arrays(self, session_id: int) -> dict[str, np.ndarray]:
        """Frame figures as arrays by their protocol names (ordered by frame index)."""
        keys = ("i", "ts", "pre", "infer", "post", "e2e", "top1")
        cols = ", ".join(FRAME_COLUMN_OF[k] for k in keys)
        try:
            rows = self.conn.execute(f"SELECT {cols} FROM frames WHERE session_id=? ORDER BY i",
                                     [session_id]).fetchall()
        except sqlite3.Error as exc:
            raise classify_sqlite(exc, self.path) from None
        if not rows:
            return {c: np.zeros(0) for c in keys}
        arr = np.array([[(-1 if v is None else v) for v in r] for r in rows], dtype=np.float64)
        out = {c: arr[:, k] for k, c in enumerate(keys)}
        out["i"] = out["i"].astype(np.int64)
        out["top1"] = out["top1"].astype(np.int64)
        return out

    def frame_column(self, session_id: int, name: str) -> np.ndarray:
        """One numeric frame figure (protocol name: ``e2e``, ``read_ms``…) as float64,
        ordered by index; NULL reads as NaN.

        Read in chunks into one preallocated array, so a multi-million-frame
        session costs 8 bytes a frame here, not a Python object per value.
        """
        column = FRAME_COLUMN_OF.get(name)
        if column is None:
            raise ValueError(f"not a numeric frame figure: {name!r}")
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
            raise classify_sqlite(exc, self.path) from None
        return out[:k]

    def iter_frames(self, session_id: int) -> Iterator[dict[str, Any]]:
        """Frames by their protocol names (``ts``, ``e2e``, ``out`` decoded), in order."""
        names = {v: k for k, v in FRAME_COLUMN_OF.items()}
        try:
            for r in self.db.query("SELECT * FROM frames WHERE session_id=? ORDER BY i",
                                   [session_id]):
                f = {names.get(k, k): v for k, v in r.items()}
                f["out"] = json.loads(f["out"]) if f.get("out") else None
                yield f
        except sqlite3.Error as exc:
            raise classify_sqlite(exc, self.path) from None

    def telemetry(self, session_id: int, keys: Collection[str] | None = None
                  ) -> list[dict[str, Any]]:
        """Telemetry samples with ``ts`` added, oldest first.

        ``keys`` keeps only those fields of each sample (a long session's
        full samples are a few KB each; a summary needs a handful of fields).
        """
        out = []
        try:
            cur = self.conn.execute("SELECT ts_unix_s, sample_json FROM telemetry "
                                    "WHERE session_id=? ORDER BY ts_unix_s", [session_id])
            for ts, sample in cur:
                s = json.loads(sample) if sample else {}
                if keys is not None:
                    s = {k: s[k] for k in keys if k in s}
                s["ts"] = ts
                out.append(s)
        except sqlite3.Error as exc:
            raise classify_sqlite(exc, self.path) from None
        return out

    def events(self, session_id: int) -> list[dict[str, Any]]:
        return self._read("SELECT ts_unix_s AS ts, level, code, text FROM events "
                          "WHERE session_id=? ORDER BY ts_unix_s", [session_id])

    def add_bookmark(self, session_id: int, note: str, frame_i: int | None = None,
                     ts: float | None = None) -> int:
        cur = self._write("INSERT INTO bookmarks (session_id, frame_i, ts_unix_s, note, "
                          "created_unix_s) VALUES (?,?,?,?,?)",
                          [session_id, frame_i, ts, note, time.time()])
        return int(cur.lastrowid or 0)

    def bookmarks(self, session_id: int) -> list[dict[str, Any]]:
        return self._read("SELECT id, session_id, frame_i, ts_unix_s AS ts, note, "
                          "created_unix_s AS created_at FROM bookmarks WHERE session_id=? "
                          "ORDER BY COALESCE(frame_i, 0), ts_unix_s", [session_id])

    def integrity_check(self) -> str:
        return str(self._scalar("PRAGMA integrity_check"))


def decode_json_fields(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [legacy_session_dict(r) for r in rows]
