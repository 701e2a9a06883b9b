"""The plan runs in the session log: one row a plan run, one row a cell.

Each cell's run is an ordinary session (``sessions``); what is kept here is
the plan run itself — the plan file's text and sha256, start, end, status,
exit code, and per cell its device, package, input, settings, session,
verdict, reason and checks — so ``devicelab plan runs``/``show`` and the
reports can be made again from the log alone.

Every function takes an open :class:`~console.core.store.LogStore` (one
per thread, as always) and uses its connection.

The tables are part of the log's one schema (``console.core.schema``); the SQL
is the store's (``console.core.store.plans``), so plan runs live on SQLite and
PostgreSQL alike.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping, Sequence
from typing import Any

from console import __version__
from console.core.plan import Cell, Plan
from console.core.store import LogStore

#: plan run statuses: while it runs, then one word for how it ended
PLAN_STATUSES = ("running", "passed", "failed", "incomplete", "stopped", "interrupted")
#: cell verdicts: before it ran, then the outcome
CELL_VERDICTS = ("pending", "pass", "fail", "not run")
#: a console's process that started this long after the plan run did is another process
#: that got the same pid (``/proc/stat``'s boot time has whole seconds)
PID_REUSE_SLACK_S = 2.0

def _settings_json(cell: Cell) -> str:
    return json.dumps(cell.record(), sort_keys=True, separators=(",", ":"))


def record_plan_start(db: LogStore, plan: Plan, cells: Sequence[Cell] = ()) -> int:
    """A ``running`` plan run with its text and sha256, and every cell ``pending``
    (so a console that dies mid-plan leaves the whole matrix in the log)."""
    run_id = db.create_plan_run(name=plan.name, plan_text=plan.text, plan_sha256=plan.sha256,
                                plan_path=str(plan.path.resolve()), console_version=__version__,
                                console_host=socket.gethostname(), console_pid=os.getpid())
    for c in cells:
        record_cell(db, run_id, c, None, "pending", None)
    return run_id


def record_cell(db: LogStore, run_id: int, cell: Cell, session_id: int | None,
                verdict: str, reason: str | None,
                checks: Sequence[Mapping[str, Any]] = ()) -> None:
    """The cell's row, written again as it moves from pending to its verdict."""
    db.put_plan_cell([run_id, cell.idx, cell.device, cell.package, cell.input.spec,
                      _settings_json(cell), session_id, verdict, reason,
                      json.dumps(list(checks), default=str)])
    if session_id is not None:  # the session names its plan run too (sessions_overview)
        db.update_session(session_id, plan_run_id=run_id)


def record_plan_end(db: LogStore, run_id: int, status: str,
                    exit_code: int | None = None) -> None:
    db.end_plan_run(run_id, status, exit_code)


def _console_alive(pid: int | None, plan_started: float | None) -> bool:
    """Whether the process that started a plan run still runs (not a reused pid)."""
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    started = _process_started_unix(int(pid))
    return not (started is not None and plan_started is not None
                and started > float(plan_started) + PID_REUSE_SLACK_S)


def _process_started_unix(pid: int) -> float | None:
    from console.core.store.base import proc_start_time

    ticks = proc_start_time(pid)
    try:
        with open("/proc/stat") as fh:
            btime = next(float(ln.split()[1]) for ln in fh if ln.startswith("btime "))
        hz = os.sysconf("SC_CLK_TCK")
    except (OSError, StopIteration, ValueError, AttributeError):
        return None
    return None if ticks is None else btime + ticks / hz


def recover_interrupted_plan_runs(db: LogStore) -> list[int]:
    """Plan runs left ``running`` by a console that is gone (killed, crashed, the
    machine rebooted) marked ``interrupted``: their unfinished cells ``not run`` (the
    one that was running keeps its session, whose frames stay), the run ended at its
    last session's end. Only this machine's consoles can be judged (a team log also
    holds other machines' runs). Call after ``LogStore.recover_interrupted`` so the
    cells' sessions are already closed. The ids it marked."""
    if db.readonly:
        return []
    host = socket.gethostname()
    found = [r for r in db.running_plan_runs() if r["console_host"] == host
             and not _console_alive(r["console_pid"], r["started_unix_s"])]
    for r in found:
        ended = r["started_unix_s"]
        for c in db.plan_cells(r["id"]):
            sid = None if c.get("session_id") is None else int(c["session_id"])
            s = db.get_session(sid) if sid is not None else None
            if s is not None:
                ended = max(float(ended or 0), float(s.get("ended_unix_s") or 0)) or ended
            if c["verdict"] != "pending":
                continue
            if s is not None and sid is not None:
                why = (f"the console stopped while this cell ran (crash or killed); "
                       f"{db.frame_count(sid)} frames kept in session {sid}")
            else:
                why = "the console stopped before this cell ran (crash or killed)"
            db.put_plan_cell([r["id"], c["idx"], c["device"], c["package"], c["input"],
                              c["settings_json"], sid, "not run", why, c["checks_json"]
                              or "[]"])
        db.end_plan_run(r["id"], "interrupted", None, ended)
    return [int(r["id"]) for r in found]


def _legacy_times(r: dict[str, Any]) -> dict[str, Any]:
    r["started_at"], r["ended_at"] = r.get("started_unix_s"), r.get("ended_unix_s")
    return r


def list_plan_runs(db: LogStore, limit: int = 50, name: str | None = None
                   ) -> list[dict[str, Any]]:
    """Newest first, each with ``counts`` of its cells by verdict (no plan text)."""
    out = [_legacy_times(r) for r in db.plan_runs(limit, name)]
    for r in out:
        r["counts"] = db.plan_cell_counts(r["id"])
    return out


def get_plan_run(db: LogStore, ref: int | str) -> dict[str, Any] | None:
    """A plan run by id or uuid (prefix), with its ``cells`` in order (settings and
    checks decoded), or None."""
    run = db.plan_run(str(ref))
    if run is None:
        return None
    cells = []
    for c in db.plan_cells(run["id"]):
        c["settings"] = json.loads(c.pop("settings_json") or "{}")
        c["checks"] = json.loads(c.pop("checks_json") or "[]")
        cells.append(c)
    run["cells"] = cells
    run["counts"] = db.plan_cell_counts(run["id"])
    return _legacy_times(run)


def last_passed_session(db: LogStore, plan_name: str, cell: Cell,
                        before_run_id: int | None = None) -> int | None:
    """The session of the newest earlier run of the same plan whose same cell (device,
    package, input, settings) passed: the ``last = "passed"`` baseline."""
    return db.last_passed_cell_session(plan_name, cell.device, cell.package, cell.input.spec,
                                       _settings_json(cell),
                                       before_run_id if before_run_id is not None else -1)


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
