"""Settings sweeps in the session log: the SQL the sweep code needs.

A mixin of :class:`~console.core.store.base.LogStore` (like
:mod:`console.core.store.plans`), so both engines keep sweeps the same way;
``console.session.sweep`` gives them their meaning. One row a sweep: what
was swept (device, package, input, objective, the grid), when, how it
ended, the ranking with the best setting and its statistically
indistinguishable group (``result_json``) and whether the winner was saved
as the device's default. Each run of a sweep is an ordinary session whose
``sweep_id`` names its row.
"""

from __future__ import annotations

import time
import uuid as uuidlib
from typing import Any

from console.core.store.refs import find_by_ref


class SweepsMixin:
    """Needs ``_read``, ``_write``, ``_transaction`` and ``_execute`` of the store."""

    _read: Any
    _write: Any
    _transaction: Any
    _execute: Any

    def create_sweep(self, *, device: str, package: str, input: str, objective: str,
                     grid_json: str) -> tuple[int, str]:
        """A ``running`` sweep; its id and uuid."""
        uid = uuidlib.uuid4().hex
        with self._transaction():
            sid = self._execute(
                "INSERT INTO sweeps (uuid, device, package, input, objective, grid_json, "
                "started_unix_s, status, saved) VALUES (?,?,?,?,?,?,?,?,?) RETURNING id",
                [uid, device, package, input, objective, grid_json, time.time(), "running",
                 0]).fetchone()[0]
        return int(sid), uid

    def end_sweep(self, sweep_id: int, status: str, result_json: str) -> None:
        self._write("UPDATE sweeps SET status=?, result_json=?, ended_unix_s=? WHERE id=?",
                    [status, result_json, time.time(), sweep_id])

    def mark_sweep_saved(self, sweep_id: int) -> None:
        self._write("UPDATE sweeps SET saved=1 WHERE id=?", [sweep_id])

    def sweep(self, ref: str) -> dict[str, Any] | None:
        """A sweep by id or uuid (prefix), or None (none, or more than one)."""
        return find_by_ref(self._read, "sweeps", ref)

    def sweeps(self, limit: int = 50) -> list[dict[str, Any]]:
        """Newest first."""
        return list(self._read("SELECT * FROM sweeps ORDER BY started_unix_s DESC, id DESC "
                               "LIMIT ?", [limit]))

    def sweep_sessions(self, sweep_id: int) -> list[int]:
        return [int(r["id"]) for r in self._read(
            "SELECT id FROM sessions WHERE sweep_id = ? ORDER BY id", [sweep_id])]
