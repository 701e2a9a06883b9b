"""Opening the session log the way every command and the window do.

The log is a SQLite file or a PostgreSQL server (``console.core.store.target``).
Opening a server log also pushes whatever this machine's spool holds for it —
rows of a run that went on while the server was away — and computes the
summaries of runs that ended meanwhile (``console.session.finalize``): "the
next start" of any console reaches the server and completes them. Opening a
log for writing marks sessions and plan runs of consoles that died as
interrupted.
"""

from __future__ import annotations

import logging
import os
import sys

from console.core.store import LogStore, StoreError
from console.core.store.spool import drain, spool_path
from console.core.store.target import LogTarget, default_target, open_store, parse_target
from console.session.finalize import final_fields

log = logging.getLogger("devicelab.log")


def resolve(text: str | os.PathLike[str] | None) -> LogTarget:
    """``--db`` as given, else ``DEVICELAB_DB``, else the default file."""
    return parse_target(text) if text else default_target()


def warn_password(target: LogTarget) -> None:
    """A password in the URL works, but it is on the command line for anyone to see."""
    if target.has_password:
        print(f"devicelab: warning: the session log URL carries a password; it is used but never "
              f"stored or shown ({target.display}); put it in ~/.pgpass instead",
              file=sys.stderr)


def open_log(target: LogTarget, *, readonly: bool = False, timeout: float = 5.0) -> LogStore:
    """The store, with the spool pushed (server) or dead consoles' runs closed (file)."""
    store = open_store(target, readonly=readonly, timeout=timeout)
    try:
        if target.is_server and spool_path(target).is_file():
            n = drain(target, store, finalize=final_fields)
            if n:
                log.info("pushed %d spooled rows to %s", n, target.display)
        if not readonly:
            from console.session.plan_log import recover_interrupted_plan_runs

            store.recover_interrupted()
            recover_interrupted_plan_runs(store)
    except StoreError:
        store.close()
        raise
    return store


def migration_line(store: LogStore) -> str | None:
    """One line when opening migrated the log (never silently)."""
    if store.migrated_from is None:
        return None
    from console.core.schema import SCHEMA_VERSION

    return (f"devicelab: upgraded the session log {store.where} from schema "
            f"v{store.migrated_from} to v{SCHEMA_VERSION}")
