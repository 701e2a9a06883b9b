"""Copying sessions between two logs: a laptop's SQLite file and the team's server.

``devicelab sessions push`` and ``pull`` call :func:`copy_sessions`. A session is
the same session in every log by its uuid, so copying is idempotent: one the
other log already holds is reported "already there" and left alone (its
bookmarks and events came with it the first time). Each session is copied in
one transaction of the destination — all its rows or none — with its
bookmarks, events, telemetry and operator profile; a replay keeps its link
when the session it replays is (or arrives) in the destination, and files
imported with a session (a bundle's package and recording) travel too.

A session still recording is not copied (its rows are not all there yet).
Bundles stay the offline path.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from console.core import schema
from console.core.store import LogStore, StoreError
from console.core.store.base import LEGACY_SESSION_KEYS
from console.session.replay import imported_dir

#: columns that name something of the source log only (its ids, its plan runs)
_LOCAL = ("id", "replay_of", "plan_run_id", "sweep_id")
_ROW_TABLES = ("frames", "telemetry", "events", "bookmarks", "op_profiles")


class SyncError(StoreError):
    """A session cannot be copied; one line naming it and why."""


@dataclass(frozen=True)
class Copied:
    ref: str
    uuid: str
    source_id: int
    dest_id: int
    already_there: bool
    rows: int = 0
    note: str = ""


@dataclass
class SyncResult:
    copied: list[Copied] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def new(self) -> int:
        return sum(1 for c in self.copied if not c.already_there)


def _columns(table: str) -> list[str]:
    return [c for c in schema.column_names(table) if c not in ("session_id", "id")]


def copy_sessions(src: LogStore, dst: LogStore, refs: Sequence[str] = (), *,
                  progress: Callable[[str], None] | None = None) -> SyncResult:
    """Copy sessions ``refs`` (ids or uuid prefixes in ``src``; none: every finished one)."""
    out = SyncResult()
    if refs:
        rows = []
        for ref in refs:
            r = src.find_session(ref)
            if r is None:
                raise SyncError(f"no session {ref!r} in {src.where}")
            rows.append(r)
    else:
        rows = src.list_sessions(limit=1_000_000)[::-1]  # oldest first: replays after originals
    for s in rows:
        ref = str(s["id"])
        if s.get("status") == "running":
            out.skipped.append(f"session {ref} is still recording; copy it when it has ended")
            continue
        c = _copy_one(src, dst, s)
        out.copied.append(c)
        if progress is not None:
            progress(f"session {ref} → {dst.where}: "
                     + ("already there" if c.already_there else
                        f"copied as {c.dest_id} ({c.rows} rows){c.note}"))
    return out


def _copy_one(src: LogStore, dst: LogStore, s: dict[str, object]) -> Copied:
    uuid = str(s["uuid"])
    sid = int(s["id"])  # type: ignore[call-overload]
    have = dst.session_id_by_uuid(uuid)
    if have is not None:
        return Copied(str(sid), uuid, sid, have, True)
    raw = src._read("SELECT * FROM sessions WHERE id = ?", [sid])[0]
    row = {k: v for k, v in raw.items() if k not in _LOCAL and k not in LEGACY_SESSION_KEYS}
    note = ""
    orig = s.get("replay_of")
    if orig:
        orig_uuid = src._scalar("SELECT uuid FROM sessions WHERE id = ?", [orig])
        mapped = dst.session_id_by_uuid(str(orig_uuid)) if orig_uuid else None
        row["replay_of"] = mapped
        if mapped is None:
            note = " (the session it replays is not there: link dropped)"
    n = 0
    with dst.transaction():
        new_id = dst.insert_session_row(row, in_transaction=True)
        for table in _ROW_TABLES:
            cols = _columns(table)
            batch: list[tuple[object, ...]] = []
            for r in src.table_rows(table, sid, cols):
                batch.append((new_id, *r))
                if len(batch) >= 5000:
                    dst.insert_rows(table, ("session_id", *cols), batch)
                    n += len(batch)
                    batch = []
            if batch:
                dst.insert_rows(table, ("session_id", *cols), batch)
                n += len(batch)
    files = imported_dir(src, uuid)
    if files.is_dir():
        target = imported_dir(dst, uuid)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(files, target)
    return Copied(str(sid), uuid, sid, new_id, False, n, note)
