"""Which session log: a SQLite file (the default) or a PostgreSQL server (a team's).

``--db``, ``DEVICELAB_DB`` and the window's Settings all name the log with one
string. :func:`parse_target` decides what it is — a ``postgresql://`` (or
``postgres://``) URL is never taken for a path (a console once made a folder
called ``postgresql:``) — and :func:`open_store` opens it. Credentials follow
libpq's own conventions (``~/.pgpass``/``PGPASSFILE``, ``PGSERVICE``,
``sslmode``): a password inside the URL is accepted, with a warning, and
:attr:`LogTarget.display` never shows it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from console.core.paths import data_dir
from console.core.store.base import LogStore
from console.core.store.errors import StoreError

_URL_SCHEMES = ("postgresql", "postgres")
_PASSWORD_IN_NETLOC = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@]*):[^@/]*@")
_PASSWORD_IN_QUERY = re.compile(r"([?&]password=)[^&]*", re.IGNORECASE)


def redact_db_url(url: str) -> str:
    """The URL without its password (netloc or ``?password=``)."""
    return _PASSWORD_IN_QUERY.sub(r"\1***", _PASSWORD_IN_NETLOC.sub(r"\1:***@", url))


@dataclass(frozen=True)
class LogTarget:
    kind: str  # "sqlite" | "postgresql"
    #: the file (sqlite) or the URL exactly as given (postgresql; may hold a password)
    value: str

    def __str__(self) -> str:  # what a message, a label or a log line shows
        return self.display

    def __repr__(self) -> str:  # never the password, even in a traceback's locals
        return f"LogTarget({self.kind!r}, {self.display!r})"

    @property
    def is_server(self) -> bool:
        return self.kind == "postgresql"

    @property
    def display(self) -> str:
        """For messages, settings and the log: never a password."""
        return redact_db_url(self.value) if self.is_server else self.value

    @property
    def has_password(self) -> bool:
        if not self.is_server:
            return False
        parts = urlsplit(self.value)
        return bool(parts.password) or any(k.lower() == "password"
                                           for k, _ in parse_qsl(parts.query))

    @property
    def path(self) -> Path:
        if self.is_server:
            raise StoreError(f"{self.display} is a database server, not a file")
        return Path(self.value).expanduser()

    def local_folder(self) -> Path:
        """Files that come with a server log's imported sessions, and its spool, live here."""
        parts = urlsplit(self.value)
        q = {k.lower(): v for k, v in parse_qsl(parts.query)}
        service = q.get("service") or (os.environ.get("PGSERVICE", "") if not parts.hostname
                                       and "host" not in q else "")
        where = (f"{parts.hostname or q.get('host') or 'socket'}_"
                 f"{parts.port or q.get('port') or 5432}"
                 f"{parts.path or '/' + q.get('dbname', '')}"
                 + (f"_service-{service}" if service else ""))
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", where)
        return data_dir() / "team-logs" / slug.strip("_")


def parse_target(text: str | os.PathLike[str]) -> LogTarget:
    s = os.fspath(text).strip()
    if not s:
        raise StoreError("no session log given: pass --db PATH or --db postgresql://…")
    scheme = s.split("://", 1)[0].lower() if "://" in s else ""
    if scheme in _URL_SCHEMES:
        return LogTarget("postgresql", s)
    if scheme:
        raise StoreError(f"session log {redact_db_url(s)}: unknown kind {scheme!r}; use a file "
                         "path or postgresql://user@host:port/dbname")
    return LogTarget("sqlite", s)


def default_target() -> LogTarget:
    """``DEVICELAB_DB`` if set, else the SQLite file in the user data folder."""
    env = os.environ.get("DEVICELAB_DB")
    if env:
        return parse_target(env)
    return LogTarget("sqlite", str(data_dir() / "sessions.db"))


def open_store(target: LogTarget | str | os.PathLike[str], *, readonly: bool = False,
               timeout: float = 5.0) -> LogStore:
    """The store for a target: SQLite or PostgreSQL, the same interface."""
    t = target if isinstance(target, LogTarget) else parse_target(target)
    if t.is_server:
        from console.core.store.postgres import PostgresStore

        return PostgresStore(t, readonly=readonly, timeout=timeout)
    from console.core.store.sqlite import SessionStore

    return SessionStore(t.path, readonly=readonly, timeout=timeout)
