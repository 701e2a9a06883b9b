"""A plan run as a grid: devices as rows, the cells of one device as columns.

The window's Plan tab fills this grid live as cells finish, and its Matrix
tab shows a past plan run with the same grid; both read the figures and
words from here, so the live grid, the stored one and the HTML report agree.

Columns: a plan's cells are the same package × input × setting × repeat
sequence on every device (``console.core.plan.Plan.cells``), so column ``j``
is the ``j``-th cell of every device. A cell's **display verdict** is the
plan verdict (``pass``, ``fail``, ``not run``; ``pending`` before it ended)
except that a passing cell whose checks include an ``inconclusive`` one (a
budget whose interval includes its limit, a baseline comparison that could
not decide) reads ``inconclusive``: it did not fail, but it did not show it
passes either (``--strict-budgets`` would have failed it).

Qt-free; :func:`load_plan_runs` and :func:`load_plan_matrix` open the log
themselves (job threads), like ``console.session.browse``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.core.plan import Cell
from console.core.store import LogStore
from console.core.verdicts import INCONCLUSIVE
from console.session.browse import BrowseError, LogRef, existing_log
from console.session.plan_log import cells_of, get_plan_run, list_plan_runs
from console.session.plan_report import cell_figures
from console.session.plan_verdicts import Check, display_verdict

PENDING = "pending"
NOT_RUN = "not run"
#: every display verdict, in the order a legend lists them
DISPLAY_VERDICTS = ("pass", "fail", INCONCLUSIVE, NOT_RUN, PENDING)


def column_label(cell: Cell) -> str:
    """The column head of a cell position: package × input [setting, repeat]."""
    return cell.label


@dataclass(frozen=True)
class GridLayout:
    """Where each cell of a plan sits: ``positions[idx] = (row, column)``."""

    devices: list[str]
    columns: list[str]
    positions: dict[int, tuple[int, int]]


def grid_layout(cells: Sequence[Cell]) -> GridLayout:
    devices: list[str] = []
    columns: list[str] = []
    positions: dict[int, tuple[int, int]] = {}
    seen: dict[str, int] = {}
    for c in cells:
        if c.device not in devices:
            devices.append(c.device)
        r = devices.index(c.device)
        k = seen.get(c.device, 0)
        seen[c.device] = k + 1
        if k == len(columns):
            columns.append(column_label(c))
        positions[c.idx] = (r, k)
    return GridLayout(devices, columns, positions)


@dataclass(frozen=True)
class GridCell:
    """One cell of the grid as shown: the words, the figures and the session."""

    idx: int
    device: str
    label: str
    verdict: str  # a DISPLAY_VERDICTS word
    plan_verdict: str  # pass | fail | not run | pending
    reason: str
    session_id: int | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    fps: float | None = None
    accuracy: float | None = None
    #: (name, verdict word, one line) of each check
    checks: tuple[tuple[str, str, str], ...] = ()

    def figures_line(self) -> str:
        parts = []
        if self.p95_ms is not None:
            parts.append(f"p95 {self.p95_ms:.2f} ms")
        if self.fps is not None:
            parts.append(f"{self.fps:.0f} fps")
        if self.accuracy is not None:
            parts.append(f"top-1 {self.accuracy:.3f}")
        return " · ".join(parts)


def grid_cell(idx: int, device: str, label: str, verdict: str, reason: str,
              session_id: int | None, summary: Mapping[str, Any] | None,
              checks: Sequence[Check | Mapping[str, Any]] = ()) -> GridCell:
    figs = cell_figures(summary) if summary else {}
    chk = tuple((c.name, c.verdict, c.text) if isinstance(c, Check)
                else (str(c.get("name")), str(c.get("verdict")), str(c.get("text")))
                for c in checks)
    return GridCell(idx, device, label, display_verdict(verdict, checks), verdict, reason,
                    session_id, figs.get("p50_ms"), figs.get("p95_ms"), figs.get("fps"),
                    figs.get("accuracy"), chk)


@dataclass(frozen=True)
class PlanRunRow:
    """One line of the plan-run picker."""

    id: int
    uuid: str
    name: str
    status: str
    started_at: float | None
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        import datetime as _dt

        when = _dt.datetime.fromtimestamp(self.started_at).strftime("%Y-%m-%d %H:%M") \
            if self.started_at else "?"
        counts = ", ".join(f"{n} {k}" for k, n in sorted(self.counts.items()))
        return f"plan {self.name} · run {self.id} · {when} · {self.status} ({counts})"


@dataclass(frozen=True)
class PlanMatrix:
    """A stored plan run as a grid (:func:`build_plan_matrix`)."""

    run: PlanRunRow
    exit_code: int | None
    layout: GridLayout
    cells: dict[tuple[int, int], GridCell]

    def cell(self, row: int, col: int) -> GridCell | None:
        return self.cells.get((row, col))


def build_plan_matrix(store: LogStore, ref: int | str) -> PlanMatrix | None:
    """The grid of a stored plan run (None: no such run)."""
    run = get_plan_run(store, ref)
    if run is None:
        return None
    known = cells_of(run)
    stored = run["cells"]
    if len(known) == len(stored):
        layout = grid_layout([known[int(c["idx"])] for c in stored])
    else:  # the plan text no longer parses: lay out from the stored rows
        devices: list[str] = []
        columns: list[str] = []
        positions: dict[int, tuple[int, int]] = {}
        per: dict[str, int] = {}
        for c in stored:
            d = str(c["device"])
            if d not in devices:
                devices.append(d)
            k = per.get(d, 0)
            per[d] = k + 1
            if k == len(columns):
                columns.append(f"{Path(str(c['package'])).name} × {Path(str(c['input'])).name}")
            positions[int(c["idx"])] = (devices.index(d), k)
        layout = GridLayout(devices, columns, positions)
    cells: dict[tuple[int, int], GridCell] = {}
    for c in stored:
        idx = int(c["idx"])
        sid = c.get("session_id")
        s = store.get_session(int(sid)) if sid is not None else None
        cell = known.get(idx)
        label = cell.label if cell else layout.columns[layout.positions[idx][1]]
        cells[layout.positions[idx]] = grid_cell(
            idx, str(c["device"]), label, str(c["verdict"]), str(c.get("reason") or ""),
            int(sid) if sid is not None else None, (s or {}).get("summary"),
            c.get("checks") or [])
    row = PlanRunRow(int(run["id"]), str(run["uuid"]), str(run["name"]), str(run["status"]),
                     run.get("started_at"), dict(run.get("counts") or {}))
    return PlanMatrix(row, run.get("exit_code"), layout, cells)


def load_plan_runs(db_path: LogRef, limit: int = 100) -> list[PlanRunRow]:
    """Past plan runs, newest first (none when there is no log yet)."""
    st = existing_log(db_path)
    if st is None:
        return []
    with st:
        return [PlanRunRow(int(r["id"]), str(r["uuid"]), str(r["name"]), str(r["status"]),
                           r.get("started_at"), dict(r.get("counts") or {}))
                for r in list_plan_runs(st, limit=limit)]


def load_plan_matrix(db_path: LogRef, ref: int | str) -> PlanMatrix:
    st = existing_log(db_path)
    if st is None:
        raise BrowseError(f"no session log at {db_path}")
    with st:
        m = build_plan_matrix(st, ref)
    if m is None:
        raise BrowseError(f"no plan run {ref} in {db_path}")
    return m


def session_summary(db_path: LogRef, session_id: int) -> dict[str, Any] | None:
    """One session's summary (the live grid's figures for a cell that just ended)."""
    st = existing_log(db_path)
    if st is None:
        return None
    with st:
        s = st.get_session(int(session_id))
    return (s or {}).get("summary")
