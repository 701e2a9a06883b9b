"""What every session log does, whatever engine holds it.

:class:`LogStore` is written once against the schema of ``console.core.schema``
in SQL both engines speak (``?`` placeholders, double-quoted names, ``ON
CONFLICT DO NOTHING``, ``RETURNING``); a subclass supplies the connection, the
transactions, the error classification and the few spellings that differ
(placeholders, case-insensitive LIKE, "tag in a JSON list", bulk frame insert).

Names: rows are written and read by today's column names (they carry units);
readers get typed records (:meth:`session`, :meth:`sessions`) or, for code
that has not moved to them yet, dicts that also carry the pre-v3 keys.
Frames come back under their protocol names (``ts``, ``e2e``), as the agent
sent them. Nothing secret is ever written: callers pass descriptions that are
already redacted.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from console.core import schema as S
from console.core.records import (
    JSON_COLUMNS,
    NewSession,
    SessionRecord,
    decode_json_columns,
    encode_json,
    new_session_columns,
)
from console.core.store.errors import StoreError
from console.core.store.plans import PlanRunsMixin
from console.core.store.readings import SessionReadsMixin
from console.core.store.refs import find_by_ref
from console.core.store.rows import EVENT_COLUMNS, FRAME_COLUMNS, TELEMETRY_COLUMNS
from console.core.store.sweeps import SweepsMixin
from console.core.summary import Summary, headline

SCHEMA_VERSION = S.SCHEMA_VERSION
#: pre-v3 name -> today's, for readers that still look the old keys up
LEGACY_SESSION_KEYS = {"created_at": "created_unix_s", "started_at": "started_unix_s",
                       "ended_at": "ended_unix_s", "console_started": "console_started_ticks"}
_SESSION_COLUMNS = frozenset(S.column_names("sessions"))
#: tables whose rows belong to one session (deleted with it)
SESSION_TABLES = ("frames", "telemetry", "events", "bookmarks", "op_profiles")


def proc_start_time(pid: int) -> float | None:
    """Start time of a process (clock ticks since boot), to survive pid reuse."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read().decode("ascii", "replace")
        return float(data.rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def pid_alive(pid: int, started: float | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if started is not None:
        now = proc_start_time(pid)
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


def _ins(table: str, cols: Sequence[str], conflict: bool = False) -> str:
    names = ", ".join(f'"{c}"' for c in cols)
    sql = f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(cols))})'
    return sql + " ON CONFLICT DO NOTHING" if conflict else sql


INSERT_FRAME = _ins("frames", ("session_id", *FRAME_COLUMNS), conflict=True)
INSERT_TELEMETRY = _ins("telemetry", ("session_id", *TELEMETRY_COLUMNS))
INSERT_EVENT = _ins("events", ("session_id", *EVENT_COLUMNS))


class LogStore(SessionReadsMixin, PlanRunsMixin, SweepsMixin, ABC):
    """One connection to a session log. Not thread-safe: one per thread."""

    dialect: S.Dialect
    readonly: bool = False
    #: the versions this open migrated the log through (None: nothing to do)
    migrated_from: int | None = None

    # -- what an engine supplies ------------------------------------------------------
    @property
    @abstractmethod
    def where(self) -> str:
        """The log as a user reads it in a message (a path, or a URL without password)."""

    @property
    @abstractmethod
    def files_root(self) -> Path:
        """Local folder for files that come with imported sessions (packages, recordings)."""

    @abstractmethod
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement (``?`` placeholders); a cursor with fetchone/fetchall/rowcount."""

    @abstractmethod
    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    @abstractmethod
    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows as dicts keyed by column name."""

    @abstractmethod
    def _classify(self, exc: BaseException) -> StoreError | None:
        """The typed refusal for an engine error, or None when ``exc`` is not one."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def check_writable(self) -> None:
        """Fail now, with a clear reason, if a run could not be recorded."""

    def _insert_frames(self, session_id: int, frames: Sequence[tuple[Any, ...]]) -> None:
        self._executemany(INSERT_FRAME, [(session_id, *f) for f in frames])

    def _like(self) -> str:
        return "LIKE"

    def _has_tag(self) -> str:
        """SQL true when the session's JSON ``tags`` list holds the bound value."""
        return "EXISTS (SELECT 1 FROM json_each(sessions.tags) WHERE value = ?)"

    # -- plumbing ---------------------------------------------------------------------
    def __enter__(self) -> LogStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    #: the statement that starts a write transaction (an engine that can take the write
    #: lock at once says so here)
    _BEGIN = "BEGIN"

    def _begin(self) -> None:
        self._execute(self._BEGIN)

    def _commit(self) -> None:
        self._execute("COMMIT")

    def _rollback(self) -> None:
        self._execute("ROLLBACK")

    def _fail(self, exc: BaseException) -> BaseException:
        typed = self._classify(exc)
        return typed if typed is not None else exc

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows as dicts; a damaged page reads as the one "damaged" line, never a traceback."""
        try:
            return self._rows(sql, params)
        except Exception as exc:
            raise self._fail(exc) from None

    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        try:
            row = self._execute(sql, params).fetchone()
        except Exception as exc:
            raise self._fail(exc) from None
        return row[0] if row else None

    def _write(self, sql: str, params: Sequence[Any] = ()) -> Any:
        try:
            cur = self._execute(sql, params)
            if not self._autocommit():
                self._commit()
            return cur
        except Exception as exc:
            raise self._fail(exc) from None

    def _autocommit(self) -> bool:
        return True

    def transaction(self) -> Any:
        """All or nothing for a caller writing several things (a bundle import)."""
        return self._transaction()

    def _backfill_headline(self) -> None:
        """Sessions from before v3 get their headline columns from their summary JSON
        (inside the migration's transaction: both engines' migrate step calls it)."""
        for sid, summ in self._execute(
                "SELECT id, summary FROM sessions WHERE summary IS NOT NULL").fetchall():
            try:
                cols = session_columns({"summary": json.loads(summ)})
            except (ValueError, TypeError):
                continue
            cols.pop("summary")
            sets = ", ".join(f'"{k}" = ?' for k in cols)
            self._execute(f"UPDATE sessions SET {sets} WHERE id = ?", [*cols.values(), sid])

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """All or nothing; an engine error comes out typed, after the rollback."""
        try:
            self._begin()
            yield
            self._commit()
        except BaseException as exc:
            try:
                self._rollback()
            except Exception:
                pass
            if isinstance(exc, Exception):
                raise self._fail(exc) from None
            raise

    # -- sessions ---------------------------------------------------------------------
    def create_session(self, new: NewSession) -> int:
        """Insert a session (``running`` unless told) owned by this process; its id."""
        row: dict[str, Any] = {
            **new_session_columns(new),
            "uuid": new.uuid or uuid.uuid4().hex,
            "created_unix_s": time.time(),
            "console_pid": os.getpid(),
            "console_host": socket.gethostname(),
            "console_started_ticks": proc_start_time(os.getpid()),
        }
        return self.insert_session_row(row)

    def insert_session_row(self, row: Mapping[str, Any], *, in_transaction: bool = False
                           ) -> int:
        """A sessions row by column names (already encoded); its new id. Inside a
        caller's :meth:`transaction` pass ``in_transaction``."""
        cols = list(row)
        S.check_names("sessions", cols)
        sql = _ins("sessions", cols) + ' RETURNING "id"'
        if in_transaction:
            return int(self._execute(sql, [row[c] for c in cols]).fetchone()[0])
        with self._transaction():
            sid = self._execute(sql, [row[c] for c in cols]).fetchone()[0]
        return int(sid)

    def update_session(self, session_id: int, **fields: Any) -> None:
        """Set columns of a session (a summary also sets its headline columns)."""
        if not fields:
            return
        cols = session_columns(fields)
        sets = ", ".join(f'"{k}" = ?' for k in cols)
        self._write(f"UPDATE sessions SET {sets} WHERE id = ?", [*cols.values(), session_id])

    def session(self, session_id: int) -> SessionRecord | None:
        rows = self._read("SELECT * FROM sessions WHERE id = ?", [session_id])
        return SessionRecord.from_row(rows[0]) if rows else None

    def find(self, ref: str) -> SessionRecord | None:
        """By id, or by uuid / uuid prefix (bundles carry uuids)."""
        row = self._find_row(ref)
        return SessionRecord.from_row(row) if row else None

    def _find_row(self, ref: str) -> dict[str, Any] | None:
        return find_by_ref(self._read, "sessions", ref)

    def session_id_by_uuid(self, uuid_: str) -> int | None:
        return self._scalar("SELECT id FROM sessions WHERE uuid = ?", [uuid_])

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
        like = self._like()
        if device:
            where.append(f"(device_name {like} ? OR device_address {like} ?)")
            params += [f"%{device}%", f"%{device}%"]
        if package:
            where.append(f"(package_name {like} ? OR package_name || '@' || package_version = ?)")
            params += [f"%{package}%", package]
        if status:
            where.append("status = ?")
            params.append(status)
        if since is not None:
            where.append("created_unix_s >= ?")
            params.append(since)
        if tag:
            where.append(self._has_tag())
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

    def same_runs(self, package_digest: str, input_sha256: str, limit: int = 500
                  ) -> list[dict[str, Any]]:
        """Completed sessions of one package on one input (any device, any settings),
        newest first: the candidates for a device's identical sessions
        (``console.core.verdicts.noise``), which the caller narrows."""
        rows = self._read("SELECT * FROM sessions WHERE package_digest = ? AND "
                          "input_sha256 = ? AND status = 'completed' "
                          "ORDER BY created_unix_s DESC, id DESC LIMIT ?",
                          [package_digest, input_sha256, limit])
        return [legacy_session_dict(r) for r in rows]

    def session_count(self) -> int:
        return int(self._scalar("SELECT COUNT(*) FROM sessions"))

    def session_ids_replaying(self, session_id: int) -> list[int]:
        """Sessions that replay this one, newest first."""
        return [int(r["id"]) for r in self._read(
            "SELECT id FROM sessions WHERE replay_of = ? ORDER BY id DESC", [session_id])]

    def delete_session(self, session_id: int) -> bool:
        with self._transaction():
            for t in SESSION_TABLES:
                self._execute(f'DELETE FROM "{t}" WHERE session_id = ?', [session_id])
            self._execute("UPDATE sessions SET replay_of = NULL WHERE replay_of = ?",
                          [session_id])
            n = self._execute("DELETE FROM sessions WHERE id = ?", [session_id]).rowcount
        return bool(n and n > 0)

    def recover_interrupted(self) -> list[int]:
        """Mark ``running`` sessions whose console process is gone as ``interrupted``."""
        if self.readonly:
            return []
        host = socket.gethostname()
        found = []
        for r in self._read("SELECT id, console_pid, console_host, console_started_ticks "
                            "FROM sessions WHERE status = 'running'"):
            if r["console_host"] != host:
                continue  # another machine's console: only it can tell (team logs)
            if r["console_pid"] and pid_alive(r["console_pid"], r["console_started_ticks"]):
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

    # -- rows -------------------------------------------------------------------------
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
        with self._transaction():
            if frames:
                self._insert_frames(session_id, frames)
            if telemetry:
                self._executemany(INSERT_TELEMETRY, [(session_id, *t) for t in telemetry])
            if events:
                self._executemany(INSERT_EVENT, [(session_id, *e) for e in events])
            if frames_received is not None:
                self._execute("UPDATE sessions SET frames_received=? WHERE id=?",
                              [frames_received, session_id])
            if session_fields:
                cols = session_columns(session_fields)
                sets = ", ".join(f'"{k}" = ?' for k in cols)
                self._execute(f"UPDATE sessions SET {sets} WHERE id = ?",
                              [*cols.values(), session_id])

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
                    ) -> None:
        """Rows of a session table by column names (bundle import, push/pull)."""
        S.check_names(table, columns)
        try:
            self._executemany(_ins(table, columns, conflict=table == "frames"), rows)
        except Exception as exc:
            raise self._fail(exc) from None

    def table_rows(self, table: str, session_id: int, columns: Sequence[str]
                   ) -> Iterator[tuple[Any, ...]]:
        """A session's rows of one table, in a stable order, by column names."""
        S.check_names(table, columns)
        order = {"frames": "i", "bookmarks": "id", "op_profiles": "node"}.get(table,
                                                                              "ts_unix_s")
        cols = ", ".join(f'"{c}"' for c in columns)
        try:
            cur = self._execute(f'SELECT {cols} FROM "{table}" WHERE session_id=? ORDER BY '
                                f"{order}", [session_id])
            while True:
                chunk = cur.fetchmany(5000)
                if not chunk:
                    break
                yield from (tuple(r) for r in chunk)
        except Exception as exc:
            raise self._fail(exc) from None

    def add_event(self, session_id: int, level: str, code: str, text: str,
                  ts: float | None = None) -> None:
        self.insert_batch(session_id, [], [], [(ts or time.time(), level, code, text)])

    def add_bookmark(self, session_id: int, note: str, frame_i: int | None = None,
                     ts: float | None = None) -> int:
        with self._transaction():
            bid = self._execute("INSERT INTO bookmarks (session_id, frame_i, ts_unix_s, note, "
                                "created_unix_s) VALUES (?,?,?,?,?) RETURNING id",
                                [session_id, frame_i, ts, note, time.time()]).fetchone()[0]
        return int(bid)


def decode_json_fields(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [legacy_session_dict(r) for r in rows]
