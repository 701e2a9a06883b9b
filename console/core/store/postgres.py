"""The session log on a PostgreSQL server: one history for a whole lab.

Same schema, same numbered migrations and the same :class:`LogStore` code as
the SQLite file; what differs lives here: the connection (psycopg 3, libpq's
own handling of ``~/.pgpass``, ``PGSERVICE`` and ``sslmode``), the schema
version (a one-row table instead of ``PRAGMA user_version``; migrations run
under an advisory lock so two consoles starting at once migrate once), the
placeholders, and the hot path: frames go in with ``COPY`` (optimistically;
a batch that repeats a frame index falls back to ``INSERT … ON CONFLICT DO
NOTHING`` inside the same transaction).

Errors come back typed: a server that does not answer is
:class:`~console.core.store.errors.LogUnreachable` (the recorder spools rows
locally and carries on), a refused login one line naming the user and where
libpq looks for passwords. No message ever holds a password.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from console.core import schema as S
from console.core.store.base import LogStore
from console.core.store.errors import (
    DatabaseReadOnly,
    DiskFull,
    LogUnreachable,
    SchemaTooNew,
    StoreError,
)
from console.core.store.rows import FRAME_COLUMNS
from console.core.store.target import LogTarget, redact_db_url

_PG_TYPE = {S.INTEGER: "int8", S.REAL: "float8", S.TEXT: "text"}
_FRAME_COPY_COLUMNS = ("session_id", *FRAME_COLUMNS)
_COPY_FRAMES = (f"COPY frames ({', '.join(f'{chr(34)}{c}{chr(34)}' for c in _FRAME_COPY_COLUMNS)})"
                " FROM STDIN (FORMAT BINARY)")
#: the frames row's PostgreSQL types, in COPY order (from the schema: a new column is one edit)
_FRAME_TYPES = [_PG_TYPE[S.current().tables["frames"].column(c).type]
                for c in _FRAME_COPY_COLUMNS]
#: advisory lock key for migrations ("devl" in ASCII)
_MIGRATION_LOCK = 0x6465766C
_VERSION_TABLE = "devicelab_schema"


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise StoreError("a PostgreSQL session log needs psycopg: pip install "
                         "'psycopg[binary]'") from None
    return psycopg


def _sql(sql: str) -> str:
    return sql.replace("?", "%s")


class PostgresStore(LogStore):
    """One connection to a PostgreSQL log. Not thread-safe: one per thread."""

    dialect: S.Dialect = S.PostgresDialect()

    def __init__(self, target: LogTarget, *, readonly: bool = False,
                 timeout: float = 5.0) -> None:
        self.target = target
        self.readonly = readonly
        self._where = target.display
        pg = _psycopg()
        self._pg = pg
        try:
            self.conn = pg.connect(target.value, autocommit=True,
                                   connect_timeout=max(1, round(timeout)),
                                   application_name="devicelab")
        except pg.Error as exc:
            if "does not exist" in str(exc) and 'database "' in str(exc) and not readonly:
                self._create_database(exc)
                try:
                    self.conn = pg.connect(target.value, autocommit=True,
                                           connect_timeout=max(1, round(timeout)),
                                           application_name="devicelab")
                except pg.Error as exc2:
                    raise self._fail(exc2) from None
            else:
                raise self._fail(exc) from None
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    # -- engine -----------------------------------------------------------------------
    @property
    def where(self) -> str:
        return self._where

    @property
    def files_root(self) -> Path:
        return self.target.local_folder() / "files"

    @property
    def path(self) -> str:
        """Where, for messages (a URL is never a path: see ``LogTarget``)."""
        return self._where

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(_sql(sql), list(params) if params else None)

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            with self.conn.cursor() as cur:
                cur.executemany(_sql(sql), rows)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        from psycopg.rows import dict_row

        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(_sql(sql), list(params) if params else None)
            return list(cur.fetchall()) if cur.description else []

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:
            pass

    def __enter__(self) -> PostgresStore:
        return self

    def _like(self) -> str:
        return "ILIKE"

    def _has_tag(self) -> str:
        return "(tags IS NOT NULL AND jsonb_exists(tags::jsonb, ?))"

    def _insert_frames(self, session_id: int, frames: Sequence[tuple[Any, ...]]) -> None:
        """Binary COPY, the fast path; a batch repeating an index goes row by row, ignoring
        repeats.

        Binary, with the column types given: psycopg then packs each row in C without
        asking Python what a value is (3x less client CPU than text COPY, measured), and
        the server reads doubles without parsing decimal text (benchmarks/store.py)."""
        self.conn.execute("SAVEPOINT frames_copy")
        try:
            with self.conn.cursor() as cur, cur.copy(_COPY_FRAMES) as cp:
                cp.set_types(_FRAME_TYPES)
                write = cp.write_row
                for f in frames:
                    write((session_id, *f))
        except self._pg.errors.UniqueViolation:
            self.conn.execute("ROLLBACK TO SAVEPOINT frames_copy")
            super()._insert_frames(session_id, frames)
        except (TypeError, ValueError, OverflowError) as exc:  # a value of the wrong kind
            raise StoreError(f"session log {self._where}: a frame of session {session_id} "
                             f"cannot be written ({exc})") from None
        self.conn.execute("RELEASE SAVEPOINT frames_copy")

    def _classify(self, exc: BaseException) -> StoreError | None:
        if isinstance(exc, StoreError):
            return exc
        pg = self._pg
        if not isinstance(exc, pg.Error):
            return None
        text = redact_db_url(str(exc).strip().splitlines()[0] if str(exc).strip() else "")
        low = text.lower()
        where = self._where
        if "password authentication failed" in low or "no password supplied" in low:
            user = re.search(r'for user "([^"]+)"', text)
            who = f" for user {user.group(1)}" if user else ""
            return StoreError(f"session log {where}: the server refused the login{who}; put the "
                              "password in ~/.pgpass (or PGPASSFILE), or use PGSERVICE — never in "
                              "a shared script")
        if isinstance(exc, pg.OperationalError) and (
                "connection refused" in low or "could not connect" in low
                or "timeout" in low or "server closed" in low or "terminating connection" in low
                or "connection is lost" in low or "no route" in low
                or "could not translate host" in low or "connection to server" in low
                or "failed to resolve host" in low or "name or service not known" in low
                or "consuming input failed" in low or "the connection is closed" in low):
            return LogUnreachable(f"session log {where} does not answer ({text}); check the "
                                  "server is running and reachable")
        if "the connection is closed" in low or "connection is closed" in low:
            return LogUnreachable(f"session log {where}: the connection was lost; it is opened "
                                  "again at the next write")
        if isinstance(exc, pg.errors.InsufficientPrivilege):
            return DatabaseReadOnly(f"session log {where}: {text}; ask the server's owner to "
                                    "grant this user write access, or use another --db")
        if isinstance(exc, pg.errors.DiskFull):
            return DiskFull(f"session log {where}: the server's disk is full ({text})")
        if isinstance(exc, pg.errors.ReadOnlySqlTransaction):
            return DatabaseReadOnly(f"session log {where} is a read-only server ({text})")
        return StoreError(f"session log {where}: {text}")

    def check_writable(self) -> None:
        ok = self._scalar("SELECT has_table_privilege('sessions', 'INSERT') AND "
                          "has_table_privilege('frames', 'INSERT')")
        if not ok:
            raise DatabaseReadOnly(f"session log {self._where}: this user may not write "
                                   "sessions; ask the server's owner to grant it, or use another "
                                   "--db")
        if self._scalar("SELECT pg_is_in_recovery()"):
            raise DatabaseReadOnly(f"session log {self._where} is a read-only replica; point "
                                   "--db at the primary server")

    # -- schema ------------------------------------------------------------------------
    def _create_database(self, original: BaseException) -> None:
        """A fresh database on first use, when the user may create one."""
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(self.target.value)
        name = parts.path.lstrip("/")
        if not name or not re.fullmatch(r"[A-Za-z0-9_]+", name):
            raise self._fail(original) from None
        admin = urlunsplit(parts._replace(path="/postgres"))
        try:
            with self._pg.connect(admin, autocommit=True, connect_timeout=5) as c:
                c.execute(f'CREATE DATABASE "{name}"')
        except self._pg.errors.DuplicateDatabase:
            return  # another console made it at the same moment
        except self._pg.Error as exc:
            raise StoreError(f"session log {self._where}: the database {name} does not exist and "
                             f"this user cannot create it ({redact_db_url(str(exc).strip())}); "
                             "ask the server's owner to create it") from None

    def _version(self) -> int:
        # pg_tables, not to_regclass(): a catalog scan under this statement's snapshot sees
        # a table another console committed while we waited for the migration lock (the
        # relation cache behind to_regclass() is not refreshed by an advisory lock)
        exists = self._scalar("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables WHERE "
                              "schemaname = current_schema() AND tablename = ?)",
                              [_VERSION_TABLE])
        if not exists:
            return 0
        return int(self._scalar(f"SELECT version FROM {_VERSION_TABLE}") or 0)

    def _migrate(self) -> None:
        version = self._version()
        if version > S.SCHEMA_VERSION:
            raise SchemaTooNew(f"session log {self._where} has schema v{version}, newer than "
                               f"this console's v{S.SCHEMA_VERSION}; upgrade the console")
        if version == S.SCHEMA_VERSION:
            return
        if self.readonly:
            raise StoreError(f"session log {self._where} needs a schema upgrade (v{version} → "
                             f"v{S.SCHEMA_VERSION}); open it writable once")
        # all or nothing, under the migration lock (held to the end of the transaction)
        with self._transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", [_MIGRATION_LOCK])
            version = self._version()  # another console may have migrated meanwhile
            if version > S.SCHEMA_VERSION:
                raise SchemaTooNew(f"session log {self._where} has schema v{version}, newer "
                                   f"than this console's v{S.SCHEMA_VERSION}; upgrade the "
                                   "console")
            if version == S.SCHEMA_VERSION:  # it did: nothing to do, nothing to say
                return
            if version == 0:
                self.conn.execute(f"CREATE TABLE {_VERSION_TABLE} (version INTEGER NOT NULL)")
                self.conn.execute(f"INSERT INTO {_VERSION_TABLE} VALUES (0)")
            for _v, stmts in S.migration_sql(self.dialect, version):
                for stmt in stmts:
                    self.conn.execute(stmt)
            if 0 < version < S.SCHEMA_VERSION:
                self._backfill_headline()
            self.conn.execute(f"UPDATE {_VERSION_TABLE} SET version = %s", [S.SCHEMA_VERSION])
        self.migrated_from = version if version > 0 else None

    def ping(self) -> bool:
        """True when the server answers now (the spool uses it to know when to push)."""
        try:
            self.conn.execute("SELECT 1")
            return True
        except Exception:
            return False


def wait_for_server(target: LogTarget, timeout: float) -> bool:
    """Poll until the server accepts a connection (tests and the spool's pusher)."""
    pg = _psycopg()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with pg.connect(target.value, connect_timeout=2):
                return True
        except pg.Error:
            time.sleep(0.2)
    return False


def environment_hint() -> str:
    """Where libpq looks for credentials, for messages (no values)."""
    keys = [k for k in ("PGPASSFILE", "PGSERVICE", "PGSERVICEFILE", "PGSSLMODE")
            if os.environ.get(k)]
    return ", ".join(keys) if keys else "~/.pgpass"
