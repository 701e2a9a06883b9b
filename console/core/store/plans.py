"""Plan runs and sweeps in the session log: the SQL the plan and sweep code needs.

A mixin of :class:`~console.core.store.base.LogStore`, so both engines keep plan
runs the same way; the session layer (``console.session.plan_log``) gives them
their meaning. Rows come back as dicts by today's column names.
"""

from __future__ import annotations

import time
import uuid as uuidlib
from collections.abc import Sequence
from typing import Any

from console.core.store.refs import find_by_ref

_CELL_COLS = ("plan_run_id", "idx", "device", "package", "input", "settings_json",
              "session_id", "verdict", "reason", "checks_json")


class PlanRunsMixin:
    """Needs ``_read``, ``_scalar``, ``_write`` and ``_transaction`` of the store."""

    _read: Any
    _scalar: Any
    _write: Any
    _transaction: Any
    _execute: Any

    def create_plan_run(self, *, name: str, plan_text: str, plan_sha256: str,
                        plan_path: str, console_version: str, console_host: str,
                        console_pid: int) -> int:
        with self._transaction():
            rid = self._execute(
                "INSERT INTO plan_runs (uuid, name, plan_text, plan_sha256, plan_path, "
                "started_unix_s, status, console_version, console_host, console_pid) "
                "VALUES (?,?,?,?,?,?,?,?,?,?) RETURNING id",
                [uuidlib.uuid4().hex, name, plan_text, plan_sha256, plan_path, time.time(),
                 "running", console_version, console_host, console_pid]).fetchone()[0]
        return int(rid)

    def put_plan_cell(self, values: Sequence[Any]) -> None:
        """A cell's row (:data:`_CELL_COLS` order), replaced as it moves to its verdict."""
        cols = ", ".join(_CELL_COLS)
        sets = ", ".join(f"{c} = excluded.{c}" for c in _CELL_COLS[2:])
        self._write(f"INSERT INTO plan_cells ({cols}) VALUES ({', '.join('?' * len(_CELL_COLS))}) "
                    f"ON CONFLICT (plan_run_id, idx) DO UPDATE SET {sets}", list(values))

    def end_plan_run(self, run_id: int, status: str, exit_code: int | None,
                     ended_unix_s: float | None = None) -> None:
        """The run's end (now unless ``ended_unix_s`` says when it really ended)."""
        self._write("UPDATE plan_runs SET status=?, exit_code=?, ended_unix_s=? WHERE id=?",
                    [status, exit_code, time.time() if ended_unix_s is None else ended_unix_s,
                     run_id])

    def running_plan_runs(self) -> list[dict[str, Any]]:
        """Plan runs still marked ``running``, with the console that runs them."""
        return list(self._read(
            "SELECT id, started_unix_s, console_host, console_pid FROM plan_runs "
            "WHERE status = 'running' ORDER BY id"))

    def plan_cell_counts(self, run_id: int) -> dict[str, int]:
        return {str(r["verdict"]): int(r["n"]) for r in self._read(
            "SELECT verdict, COUNT(*) AS n FROM plan_cells WHERE plan_run_id=? GROUP BY verdict",
            [run_id])}

    def plan_runs(self, limit: int = 50, name: str | None = None) -> list[dict[str, Any]]:
        where, params = ("WHERE name = ?", [name]) if name else ("", [])
        return list(self._read(
            "SELECT id, uuid, name, plan_sha256, plan_path, started_unix_s, ended_unix_s, "
            f"status, exit_code, console_version FROM plan_runs {where} "
            "ORDER BY started_unix_s DESC, id DESC LIMIT ?", [*params, limit]))

    def plan_run(self, ref: str) -> dict[str, Any] | None:
        return find_by_ref(self._read, "plan_runs", ref)

    def plan_cells(self, run_id: int) -> list[dict[str, Any]]:
        return list(self._read("SELECT * FROM plan_cells WHERE plan_run_id = ? ORDER BY idx",
                               [run_id]))

    def last_passed_cell_session(self, plan_name: str, device: str, package: str, input: str,
                                 settings_json: str, before_run_id: int) -> int | None:
        v = self._scalar(
            "SELECT c.session_id FROM plan_cells c JOIN plan_runs r ON r.id = c.plan_run_id "
            "WHERE r.name = ? AND c.device = ? AND c.package = ? AND c.input = ? "
            "AND c.settings_json = ? AND c.verdict = 'pass' AND c.session_id IS NOT NULL "
            "AND r.id != ? ORDER BY r.started_unix_s DESC, r.id DESC LIMIT 1",
            [plan_name, device, package, input, settings_json, before_run_id])
        return int(v) if v is not None else None
