"""Why the session log cannot be used, as one typed refusal each.

Callers catch :class:`StoreError` (a :class:`~console.core.errors.UserError`);
the subclasses let a caller act on the kind: wait out :class:`DatabaseLocked`,
tell a user to move a :class:`DatabaseCorrupt` file aside. Every message names
the log and says what to do.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from console.core.errors import UserError


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


class LogUnreachable(StoreError):
    """A log server (PostgreSQL) does not answer: the run spools rows locally."""


def damaged(where: object, detail: object) -> DatabaseCorrupt:
    return DatabaseCorrupt(f"session log {where} is damaged ({detail}) — move it aside to "
                           "start a new one (a copy may still be read with sqlite3 .recover)")


def on_readonly_fs(path: Path) -> bool:
    """True when the log's folder is on a file system mounted read-only (root cannot write)."""
    try:
        return bool(os.statvfs(path.parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def classify_sqlite(exc: sqlite3.Error, path: Path) -> StoreError:
    msg = str(exc).lower()
    if ("readonly" in msg or "read-only" in msg or "attempt to write" in msg
            or "unable to open" in msg) and on_readonly_fs(path):
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
        return damaged(path, exc)
    if "unable to open" in msg:
        return DatabaseReadOnly(f"cannot open session log {path}: {exc}; check the folder "
                                "exists and is writable")
    return StoreError(f"session log {path}: {exc}")
