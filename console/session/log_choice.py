"""Which session log the window uses, and the Settings entry's questions about one.

The window's log is, in this order: ``devicelab gui --db``, ``DEVICELAB_DB``, the
one remembered in the settings file (``preferences.session_log``), the default
file. A server URL is remembered *without* its password — libpq finds it in
``~/.pgpass`` / ``PGPASSFILE`` or a ``PGSERVICE`` entry, so the settings file never
holds one. :func:`check_log` is what the "Test connection" button runs (in a job:
it may wait for a server's connect timeout).

What must not live here: Qt, the window's wording of the dialog.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from console.core.errors import UserError
from console.core.store import StoreError
from console.core.store.target import LogTarget, default_target, parse_target

#: the settings file's preference holding the window's session log (never a password)
PREF_KEY = "session_log"


class LogChoiceError(UserError):
    """The text typed for the session log is not one."""


def without_password(text: str) -> str:
    """``text`` with any password taken out of the URL (a path is returned as given)."""
    t = parse_target(text)
    if not t.is_server:
        return t.value
    parts = urlsplit(t.value)
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.split(':', 1)[0]}@{host}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if k.lower() != "password"])
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def window_log(cli_db: str | None, remembered: object = None) -> LogTarget:
    """The log the window opens: ``--db``, ``DEVICELAB_DB``, the remembered one, the
    default file (a remembered value that is not a log falls through)."""
    if cli_db:
        t = parse_target(os.path.expanduser(cli_db) if "://" not in cli_db else cli_db)
        return t
    if os.environ.get("DEVICELAB_DB"):
        return default_target()
    if isinstance(remembered, str) and remembered.strip():
        try:
            return parse_target(remembered)
        except StoreError:
            pass
    return default_target()


def parse_log(text: str) -> LogTarget:
    """What the user typed in Settings, as a log target; one line when it is not one."""
    try:
        return parse_target(text)
    except StoreError as exc:
        raise LogChoiceError(str(exc)) from None


@dataclass(frozen=True)
class LogCheck:
    """What "Test connection" found."""

    target: LogTarget
    sessions: int
    #: one line for the dialog (no password)
    text: str
    #: the log was upgraded to today's schema by this check
    upgraded: bool = False


def check_log(target: LogTarget | str) -> LogCheck:
    """Open the log as a run would (creating a server database on first use), count its
    sessions, close it. Raises a one-line UserError when it cannot be used."""
    from console.session.sessionlog import migration_line, open_log

    t = target if isinstance(target, LogTarget) else parse_log(target)
    with open_log(t, timeout=5.0) as st:
        st.check_writable()
        n = st.session_count()
        line = migration_line(st)
    kind = "PostgreSQL server" if t.is_server else "SQLite file"
    text = f"{kind} {t.display}: works, {n} session{'s' if n != 1 else ''}"
    if line:
        text += " (its schema was upgraded)"
    return LogCheck(t, n, text, upgraded=bool(line))


def credential_hint() -> str:
    """Where a server's password comes from, for the dialog (names, never values)."""
    have = [k for k in ("PGPASSFILE", "PGSERVICE", "PGSERVICEFILE", "PGSSLMODE")
            if os.environ.get(k)]
    where = f" (set here: {', '.join(have)})" if have else ""
    return ("A server's password is never stored here: libpq reads it from ~/.pgpass or "
            "PGPASSFILE, or use a PGSERVICE entry of pg_service.conf; sslmode=… goes in the "
            f"URL{where}.")
