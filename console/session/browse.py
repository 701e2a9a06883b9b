"""Browsing the session log for the window: one function per question a view asks.

Each function opens the log itself (one connection per thread: they run
in the window's job threads), answers one question with plain dataclasses
and closes it again. The window never imports the store: what it reads or
writes in the log goes through here (an import-linter contract holds it).

A question about a log that does not exist yet answers "nothing" (browsing
must not create an empty log file); a refusal a user should read (a
session no longer there, a replay that does not match) raises a
:class:`~console.core.errors.UserError` with its one line.

What must not live here: Qt, HTML, wording of the window's own.
"""

from __future__ import annotations

from pathlib import Path

from console.core.errors import UserError
from console.core.store import SessionStore


class BrowseError(UserError):
    """A question about the log that has no answer (no log, no such session)."""


def _open(db_path: Path) -> SessionStore:
    return SessionStore(db_path)


# -- the running session ---------------------------------------------------------------
def add_live_bookmark(db_path: Path, session_id: int, note: str, frame_i: int,
                      ts: float) -> int:
    """A bookmark at a frame of the session being recorded; returns its id."""
    with _open(db_path) as st:
        return st.add_bookmark(session_id, note, frame_i=frame_i, ts=ts)


def replay_problems(db_path: Path, original_id: int, replay_id: int) -> list[str]:
    """After a replay: what the new session recorded that differs from the original
    (a file replaced while it ran); empty when it reproduces it exactly."""
    from console.session.replay import verify_replayed

    with _open(db_path) as st:
        return verify_replayed(st, original_id, replay_id)
