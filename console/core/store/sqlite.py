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

import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlite_utils

from console.core import schema as S
from console.core.store.base import (
    LEGACY_SESSION_KEYS,
    SCHEMA_VERSION,
    LogStore,
    decode_json_fields,
    legacy_session_dict,
)
from console.core.store.errors import (
    DatabaseReadOnly,
    SchemaTooNew,
    StoreError,
    classify_sqlite,
    damaged,
    on_readonly_fs,
)

__all__ = ["LEGACY_SESSION_KEYS", "SCHEMA_VERSION", "SessionStore", "decode_json_fields",
           "legacy_session_dict"]

#: files found intact by ``quick_check`` in this process: (path, inode) of each.
#: A check costs a read of the whole file, so a process pays it once per log.
_CHECKED: set[tuple[str, int]] = set()
_CHECKED_LOCK = threading.Lock()


class SessionStore(LogStore):
    """The log in one SQLite file. Not thread-safe: one per thread."""

    dialect: S.Dialect = S.SQLiteDialect()
    #: the write lock at once: a second writer waits here (busy timeout), not mid-way
    _BEGIN = "BEGIN IMMEDIATE"

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
            if version == SCHEMA_VERSION:  # it did: nothing to do, nothing to say
                self.conn.execute("COMMIT")
                return
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

    @property
    def where(self) -> str:
        return str(self.path)

    @property
    def files_root(self) -> Path:
        return self.path.with_name(self.path.name + ".files")

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(sql, params)

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return list(self.db.query(sql, params))

    def _classify(self, exc: BaseException) -> StoreError | None:
        if isinstance(exc, StoreError):
            return exc
        if isinstance(exc, sqlite3.Error):
            return classify_sqlite(exc, self.path)
        return None

    def check_writable(self) -> None:
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

    def integrity_check(self) -> str:
        return str(self._scalar("PRAGMA integrity_check"))
