"""Rows a server log could not take, kept in a local SQLite file until it answers.

When the PostgreSQL server goes away mid-run, the recorder writes each batch
here instead (one file per server, in the user data folder) and the run goes
on; when the server answers again — later in the same run, or at the next
start of any console on this machine — :func:`drain` pushes every spooled
row to the server session with the same uuid, then the session fields the run
set meanwhile (end time, status), and only then forgets them here. Frames are
keyed by (session, index) on the server, so pushing a batch twice (a console
killed between the server's commit and the spool's delete) adds no frame
twice.

A session whose run ended while the server was away has its final status
here but no summary: :func:`drain` calls the ``finalize`` it is given (the
session layer computes the summary from the rows now on the server) before
the status is written, so the server never shows ``completed`` before every
row reached it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from console.core.records import DeviceFacts, InputFacts, NewSession, PackageFacts
from console.core.store.base import LogStore
from console.core.store.rows import EVENT_COLUMNS, FRAME_COLUMNS, TELEMETRY_COLUMNS
from console.core.store.sqlite import SessionStore
from console.core.store.target import LogTarget

log = logging.getLogger("devicelab.spool")

_TABLES: dict[str, tuple[str, ...]] = {
    "frames": FRAME_COLUMNS, "telemetry": TELEMETRY_COLUMNS, "events": EVENT_COLUMNS,
    "bookmarks": ("frame_i", "ts_unix_s", "note", "created_unix_s")}
#: session columns a run sets after it started; pushed when not NULL in the spool
PUSHED_FIELDS = ("ended_unix_s", "error", "cold_start", "provider", "agent_version",
                 "device_facts", "frames_received", "agent_sent", "runtime", "runtime_version")
#: finalize(server_store, server_session_id) -> the final fields (status, summary, ...)
Finalize = Callable[[LogStore, int, Mapping[str, Any]], Mapping[str, Any]]

_LOCK = threading.Lock()  # one writer per spool file in this process


def spool_path(target: LogTarget) -> Path:
    return target.local_folder() / "spool.db"


class Spool:
    """The spool of one server log (a SQLite file with the log's own schema)."""

    def __init__(self, target: LogTarget) -> None:
        self.target = target
        self.path = spool_path(target)
        self.store = SessionStore(self.path)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _session(self, uuid: str) -> int:
        sid = self.store.session_id_by_uuid(uuid)
        if sid is None:
            sid = self.store.create_session(NewSession(
                DeviceFacts(), PackageFacts(), InputFacts(), {}, None, "", 0, uuid=uuid))
        return sid

    def add(self, uuid: str, frames: Sequence[tuple[Any, ...]],
            telemetry: Sequence[tuple[Any, ...]], events: Sequence[tuple[Any, ...]],
            frames_received: int | None = None,
            session_fields: Mapping[str, Any] | None = None) -> None:
        with _LOCK:
            sid = self._session(uuid)
            self.store.insert_batch(sid, frames, telemetry, events, frames_received,
                                    session_fields)

    def rows_waiting(self, uuid: str | None = None) -> int:
        where = "" if uuid is None else " WHERE session_id IN (SELECT id FROM sessions " \
                                        "WHERE uuid = ?)"
        params = [] if uuid is None else [uuid]
        return sum(int(self.store._scalar(f'SELECT COUNT(*) FROM "{t}"{where}', params))
                   for t in ("frames", "telemetry", "events"))

    def uuids(self) -> list[str]:
        return [str(r["uuid"]) for r in self.store._read("SELECT uuid FROM sessions ORDER BY id")]


def drain(target: LogTarget, server: LogStore, finalize: Finalize | None = None,
          only: str | None = None) -> int:
    """Push what the spool holds for ``target`` (one session, or all) to ``server``;
    the rows pushed. A session the server does not know is kept (and logged)."""
    if not spool_path(target).is_file():
        return 0
    pushed = 0
    with _LOCK, Spool(target) as sp:
        for uuid in sp.uuids():
            if only is not None and uuid != only:
                continue
            pushed += _push_one(sp, server, uuid, finalize)
    return pushed


def _push_one(sp: Spool, server: LogStore, uuid: str, finalize: Finalize | None) -> int:
    local = sp.store.session_id_by_uuid(uuid)
    remote = server.session_id_by_uuid(uuid)
    if local is None:
        return 0
    if remote is None:
        log.warning("spool %s: session %s is not on %s; kept", sp.path, uuid, server.where)
        return 0
    row = sp.store._read("SELECT * FROM sessions WHERE id = ?", [local])[0]
    n = 0
    with server._transaction():
        for table, cols in _TABLES.items():
            rows = list(sp.store.table_rows(table, local, cols))
            if rows:
                server._executemany(
                    f'INSERT INTO "{table}" (session_id, {", ".join(cols)}) VALUES '
                    f'({", ".join("?" * (len(cols) + 1))})'
                    + (" ON CONFLICT DO NOTHING" if table == "frames" else ""),
                    [(remote, *r) for r in rows])
                n += len(rows)
        fields = {k: row[k] for k in PUSHED_FIELDS if row.get(k) is not None}
        if fields:
            from console.core.store.base import session_columns

            cols_ = session_columns(_decoded(fields))
            sets = ", ".join(f'"{k}" = ?' for k in cols_)
            server._execute(f"UPDATE sessions SET {sets} WHERE id = ?", [*cols_.values(), remote])
    if row.get("status") not in (None, "running"):
        final: dict[str, Any] = {"status": row["status"]}
        if finalize is not None:
            server_row = server._read("SELECT * FROM sessions WHERE id = ?", [remote])[0]
            final.update(finalize(server, remote, _decoded(server_row)))
        server.update_session(remote, **final)
    sp.store.delete_session(local)
    log.info("spool %s: pushed %d rows of session %s to %s", sp.path, n, uuid, server.where)
    return n


def _decoded(fields: Mapping[str, Any]) -> dict[str, Any]:
    from console.core.records import decode_json_columns

    return decode_json_columns(fields)
