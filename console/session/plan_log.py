"""The plan runs in the session log: one row a plan run, one row a cell.

Each cell's run is an ordinary session (``sessions``); what is kept here is
the plan run itself — the plan file's text and sha256, start, end, status,
exit code, and per cell its device, package, input, settings, session,
verdict, reason and checks — so ``devicelab plan runs``/``show`` and the
reports can be made again from the log alone.

Every function takes an open :class:`~console.core.store.SessionStore` (one
per thread, as always) and uses its connection.

TEMPORARY: the two tables are created here with ``CREATE TABLE IF NOT
EXISTS`` until the store's one schema definition (SQLite and PostgreSQL)
takes them over; the functions below are the whole interface, so moving the
DDL changes nothing for callers.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid as uuidlib
from collections.abc import Mapping, Sequence
from typing import Any

from console import __version__
from console.core.plan import Cell, Plan
from console.core.store import SessionStore, StoreError

#: plan run statuses: while it runs, then one word for how it ended
PLAN_STATUSES = ("running", "passed", "failed", "incomplete", "stopped")
#: cell verdicts: before it ran, then the outcome
CELL_VERDICTS = ("pending", "pass", "fail", "not run")

# TEMPORARY (see the module docstring): moves into the store's schema module.
_DDL = (
    """CREATE TABLE IF NOT EXISTS plan_runs (
        id INTEGER PRIMARY KEY, uuid TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
        plan_text TEXT NOT NULL, plan_sha256 TEXT NOT NULL, plan_path TEXT,
        started_at REAL NOT NULL, ended_at REAL, status TEXT NOT NULL, exit_code INTEGER,
        console_version TEXT)""",
    """CREATE TABLE IF NOT EXISTS plan_cells (
        plan_run_id INTEGER NOT NULL REFERENCES plan_runs(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL, device TEXT NOT NULL, package TEXT NOT NULL,
        input TEXT NOT NULL, settings_json TEXT NOT NULL, session_id INTEGER,
        verdict TEXT NOT NULL, reason TEXT, checks_json TEXT,
        PRIMARY KEY (plan_run_id, idx))""",
    "CREATE INDEX IF NOT EXISTS plan_cells_session ON plan_cells(session_id)",
)


def _ensure(db: SessionStore) -> None:
    try:
        for stmt in _DDL:
            db.conn.execute(stmt)
    except sqlite3.Error as exc:
        raise StoreError(f"session log {db.path}: cannot create the plan tables: {exc}"
                         ) from None


def _has_tables(db: SessionStore) -> bool:
    row = db.conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND "
                          "name='plan_runs'").fetchone()
    return row is not None


def _exec(db: SessionStore, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
    try:
        return db.conn.execute(sql, params)
    except sqlite3.Error as exc:
        raise StoreError(f"session log {db.path}: {exc}") from None


def _settings_json(cell: Cell) -> str:
    return json.dumps(cell.record(), sort_keys=True, separators=(",", ":"))


def record_plan_start(db: SessionStore, plan: Plan, cells: Sequence[Cell] = ()) -> int:
    """A ``running`` plan run with its text and sha256, and every cell ``pending``
    (so a console that dies mid-plan leaves the whole matrix in the log)."""
    _ensure(db)
    cur = _exec(db, "INSERT INTO plan_runs (uuid, name, plan_text, plan_sha256, plan_path, "
                    "started_at, status, console_version) VALUES (?,?,?,?,?,?,?,?)",
                [uuidlib.uuid4().hex, plan.name, plan.text, plan.sha256,
                 str(plan.path.resolve()), time.time(), "running", __version__])
    run_id = int(cur.lastrowid or 0)
    for c in cells:
        record_cell(db, run_id, c, None, "pending", None)
    return run_id


def record_cell(db: SessionStore, run_id: int, cell: Cell, session_id: int | None,
                verdict: str, reason: str | None,
                checks: Sequence[Mapping[str, Any]] = ()) -> None:
    """The cell's row, written again as it moves from pending to its verdict."""
    _ensure(db)
    _exec(db, "INSERT OR REPLACE INTO plan_cells (plan_run_id, idx, device, package, input, "
              "settings_json, session_id, verdict, reason, checks_json) "
              "VALUES (?,?,?,?,?,?,?,?,?,?)",
          [run_id, cell.idx, cell.device, cell.package, cell.input.spec, _settings_json(cell),
           session_id, verdict, reason, json.dumps(list(checks), default=str)])


def record_plan_end(db: SessionStore, run_id: int, status: str,
                    exit_code: int | None = None) -> None:
    _exec(db, "UPDATE plan_runs SET status=?, exit_code=?, ended_at=? WHERE id=?",
          [status, exit_code, time.time(), run_id])


def _counts(db: SessionStore, run_id: int) -> dict[str, int]:
    return {str(v): int(n) for v, n in db.conn.execute(
        "SELECT verdict, COUNT(*) FROM plan_cells WHERE plan_run_id=? GROUP BY verdict",
        [run_id])}


def list_plan_runs(db: SessionStore, limit: int = 50, name: str | None = None
                   ) -> list[dict[str, Any]]:
    """Newest first, each with ``counts`` of its cells by verdict (no plan text)."""
    if not _has_tables(db):
        return []
    where, params = ("WHERE name = ?", [name]) if name else ("", [])
    rows = db.conn.execute(
        "SELECT id, uuid, name, plan_sha256, plan_path, started_at, ended_at, status, "
        f"exit_code, console_version FROM plan_runs {where} ORDER BY started_at DESC, id DESC "
        "LIMIT ?", [*params, limit])
    cols = [d[0] for d in rows.description]
    out = [dict(zip(cols, r)) for r in rows.fetchall()]
    for r in out:
        r["counts"] = _counts(db, r["id"])
    return out


def get_plan_run(db: SessionStore, ref: int | str) -> dict[str, Any] | None:
    """A plan run by id or uuid (prefix), with its ``cells`` in order (settings and
    checks decoded), or None."""
    if not _has_tables(db):
        return None
    r = str(ref).strip()
    if r.isdigit():
        cur = db.conn.execute("SELECT * FROM plan_runs WHERE id = ?", [int(r)])
    else:
        cur = db.conn.execute("SELECT * FROM plan_runs WHERE uuid LIKE ? LIMIT 2", [r + "%"])
    cols = [d[0] for d in cur.description]
    rows = cur.fetchall()
    if len(rows) != 1:
        return None
    run = dict(zip(cols, rows[0]))
    cur = db.conn.execute("SELECT * FROM plan_cells WHERE plan_run_id = ? ORDER BY idx",
                          [run["id"]])
    ccols = [d[0] for d in cur.description]
    cells = []
    for row in cur.fetchall():
        c = dict(zip(ccols, row))
        c["settings"] = json.loads(c.pop("settings_json") or "{}")
        c["checks"] = json.loads(c.pop("checks_json") or "[]")
        cells.append(c)
    run["cells"] = cells
    run["counts"] = _counts(db, run["id"])
    return run


def last_passed_session(db: SessionStore, plan_name: str, cell: Cell,
                        before_run_id: int | None = None) -> int | None:
    """The session of the newest earlier run of the same plan whose same cell (device,
    package, input, settings) passed: the ``last = "passed"`` baseline."""
    if not _has_tables(db):
        return None
    row = db.conn.execute(
        "SELECT c.session_id FROM plan_cells c JOIN plan_runs r ON r.id = c.plan_run_id "
        "WHERE r.name = ? AND c.device = ? AND c.package = ? AND c.input = ? "
        "AND c.settings_json = ? AND c.verdict = 'pass' AND c.session_id IS NOT NULL "
        "AND r.id != ? ORDER BY r.started_at DESC, r.id DESC LIMIT 1",
        [plan_name, cell.device, cell.package, cell.input.spec, _settings_json(cell),
         before_run_id if before_run_id is not None else -1]).fetchone()
    return int(row[0]) if row else None


def cells_of(run: Mapping[str, Any]) -> dict[int, Cell]:
    """The :class:`Cell` objects of a stored plan run, by index, made again from its plan
    text (same text, same device order: the same cells), so a report of a past run
    labels cells exactly as the run did. Empty when the text no longer parses."""
    from console.core.plan import parse_plan

    plan, _ = parse_plan(str(run["plan_text"]), str(run.get("plan_path") or "plan.toml"))
    if plan is None:
        return {}
    devices: list[str] = []
    for c in run.get("cells") or []:
        if c["device"] not in devices:
            devices.append(str(c["device"]))
    cells = plan.cells(devices)
    stored = {int(c["idx"]): c for c in run.get("cells") or []}
    out = {}
    for cell in cells:
        s = stored.get(cell.idx)
        if s is not None and s["device"] == cell.device and s["input"] == cell.input.spec:
            out[cell.idx] = cell
    return out
