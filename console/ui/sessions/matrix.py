"""The Matrix tab: the compatibility matrix QA keeps by hand today, built from the log.

Rows are devices as they were when they ran (name, model, OS, kernel);
columns are package name@version × onnxruntime version × execution
provider; each cell is the latest ended session of that pair
(``console.session.matrix.build_matrix``, the same table as
``devicelab sessions matrix``): its e2e p95, FPS, budget verdict and
status, coloured by verdict. Double-clicking a cell opens its session in
the Sessions tab.

*Source* picks what the matrix is made of: every session (the compatibility
matrix above), or one **plan run** — then rows are the plan's devices and
columns its cells in order, each with its verdict (PASS, FAIL, INCONCLUSIVE,
NOT RUN), figures and session, as the Plan tab showed them
(``console.session.plan_matrix``).

The matrix is built in a job when the tab is shown and the log changed
since (a run ended, sessions were imported or deleted): never in the GUI
thread, never on every run.
"""

from __future__ import annotations

import html
from typing import Any

from console.session import browse, plan_matrix
from console.session.browse import LogRef
from console.ui.jobs import JobFailure, JobRunner, error_text, user_errors
from console.ui.plan.grid import paint_cell
from console.ui.qt import (
    QAbstractItemView,
    QBrush,
    QColor,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    Qt,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
    Signal,
)
from console.ui.sessions.details import fmt_time
from console.ui.widgets import button, tab_layout

#: (label, seconds back or None for everything)
SINCE = (("all sessions", None), ("last 24 hours", 86400.0), ("last 7 days", 7 * 86400.0),
         ("last 30 days", 30 * 86400.0))
#: cell background per verdict (light tints that read in both themes with dark text)
CELL_COLORS = {"pass": "#d3f9d8", "fail": "#ffc9c9", "inconclusive": "#ffec99",
               "none": "#e9ecef", "failed": "#ffa8a8"}
#: the budget words of ``console.session.budgets.overall_verdict``
VERDICT_TEXT = {"pass": "PASS", "fail": "FAIL", "inconclusive": "INCONCLUSIVE",
                "none": "no budget"}
SESSION_ROLE = Qt.ItemDataRole.UserRole + 1


def cell_text(cell: Any) -> str:
    p95 = "p95 –" if cell.p95_ms is None else f"p95 {cell.p95_ms:.2f} ms"
    fps = "– fps" if cell.fps is None else f"{cell.fps:.0f} fps"
    status = "" if cell.status == "completed" else f" · {cell.status.upper()}"
    return f"{p95} · {fps}\n{VERDICT_TEXT.get(cell.budget, cell.budget)}{status} · " \
           f"#{cell.session_id}"


class MatrixView(QWidget):
    """Devices × packages; double-click a cell to open its session."""

    message = Signal(str, str)
    #: open this session in the Sessions tab
    openSession = Signal(int)
    #: a build finished and the table shows it
    built = Signal()

    def __init__(self, jobs: JobRunner, db_path: LogRef, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("matrixView")
        self.jobs = jobs
        self.db_path = db_path
        self.matrix: Any = None
        self.stale = True
        self._token = 0
        self._pending = False
        lay = tab_layout(self)
        top = QHBoxLayout()
        top.addWidget(QLabel("Source"))
        self.source_combo = QComboBox()
        self.source_combo.setObjectName("matrixSource")
        self.source_combo.setToolTip("Every session in the log, or the cells of one plan run")
        self.source_combo.addItem("every session", None)
        self.source_combo.setMinimumContentsLength(28)
        self.source_combo.currentIndexChanged.connect(lambda _k: self._on_source())
        top.addWidget(self.source_combo)
        top.addWidget(QLabel("Sessions"))
        self.since_combo = QComboBox()
        for label, secs in SINCE:
            self.since_combo.addItem(label, secs)
        self.since_combo.currentIndexChanged.connect(lambda _k: self.refresh())
        top.addWidget(self.since_combo)
        self.refresh_button = button("Refresh", self.refresh, into=top)
        self.info = QLabel("")
        self.info.setStyleSheet("color: gray")
        self.info.setWordWrap(True)
        top.addWidget(self.info, 1)
        lay.addLayout(top)
        self.table = QTableWidget(0, 0)
        self.table.setObjectName("matrixTable")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(True)
        self.table.horizontalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignCenter)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setMinimumSectionSize(150)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.cellDoubleClicked.connect(self._on_double)
        lay.addWidget(self.table, 1)
        legend = QLabel(
            "Each cell: the latest ended session of that device and package column — "
            "end-to-end p95, FPS, budget verdict (" + " ".join(
                f"<span style='background:{CELL_COLORS[k]};color:#212529'>&nbsp;{v}&nbsp;"
                "</span>" for k, v in VERDICT_TEXT.items())
            + "), how it ended when not completed, and its session number. "
            "Double-click a cell to open the session.")
        legend.setWordWrap(True)
        lay.addWidget(legend)

    def set_db_path(self, path: LogRef) -> None:
        self.db_path = path
        self.mark_stale()

    def mark_stale(self) -> None:
        """The log changed: rebuild when the tab is next shown (or now if it is visible)."""
        self.stale = True
        if self.isVisible():
            self.refresh()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if self.stale and not self._pending:
            self.refresh()

    @property
    def busy(self) -> bool:
        return self._pending

    @property
    def plan_run(self) -> int | None:
        """The plan run shown (None: the matrix of every session)."""
        v = self.source_combo.currentData()
        return int(v) if v is not None else None

    def show_plan_run(self, run_id: int) -> None:
        """Show one plan run's grid (its entry is added to *Source* if not there yet)."""
        k = self.source_combo.findData(run_id)
        if k < 0:
            self.source_combo.addItem(f"plan run {run_id}", run_id)
            k = self.source_combo.count() - 1
        if k == self.source_combo.currentIndex():
            self.refresh()
        else:
            self.source_combo.setCurrentIndex(k)

    def _on_source(self) -> None:
        self.since_combo.setEnabled(self.plan_run is None)
        self.refresh()

    def refresh(self) -> None:
        self.stale = False
        self._token += 1
        token = self._token
        self._pending = True
        db, since, run = self.db_path, self.since_combo.currentData(), self.plan_run
        self.jobs.submit("plan-runs", user_errors(lambda: plan_matrix.load_plan_runs(db)),
                         lambda rows: self._on_plan_runs(token, rows))
        if run is not None:
            self.info.setText(f"reading plan run {run} from the log…")
            self.jobs.submit("plan-matrix",
                             user_errors(lambda: plan_matrix.load_plan_matrix(db, run)),
                             lambda m: self._on_matrix(token, m),
                             lambda exc: self._on_error(token, exc))
            return
        self.info.setText("building the matrix from the log…")
        self.jobs.submit("matrix", user_errors(lambda: browse.load_matrix(db, since)),
                         lambda m: self._on_matrix(token, m),
                         lambda exc: self._on_error(token, exc))

    def _on_plan_runs(self, token: int, rows: Any) -> None:
        if token != self._token or isinstance(rows, JobFailure):
            return
        combo = self.source_combo
        current = combo.currentData()
        combo.blockSignals(True)
        try:
            while combo.count() > 1:
                combo.removeItem(1)
            for r in rows:
                combo.addItem(r.label, r.id)
            if current is not None and combo.findData(current) < 0:
                combo.addItem(f"plan run {current}", current)
            combo.setCurrentIndex(max(0, combo.findData(current)) if current is not None
                                  else 0)
        finally:
            combo.blockSignals(False)

    def _on_error(self, token: int, exc: BaseException) -> None:
        if token == self._token:
            self._pending = False
            self.info.setText(f"cannot build the matrix: {error_text(exc)}")
            self.message.emit("error", f"matrix: {error_text(exc)}")

    def _on_matrix(self, token: int, m: Any) -> None:
        if token != self._token:
            return
        self._pending = False
        if isinstance(m, JobFailure):
            self.info.setText(f"cannot build the matrix: {m.text}")
            self.message.emit("error", f"matrix: {m.text}")
            return
        self.matrix = m
        if isinstance(m, plan_matrix.PlanMatrix):
            self._show_plan(m)
            self.built.emit()
            return
        t = self.table
        t.clear()
        t.setRowCount(len(m.rows))
        t.setColumnCount(len(m.columns))
        for c, col in enumerate(m.columns):
            head = QTableWidgetItem(f"{col.package}\n{col.runtime} {col.runtime_version}\n"
                                    f"{col.provider}")
            head.setToolTip(col.label)
            t.setHorizontalHeaderItem(c, head)
        for r, row in enumerate(m.rows):
            head = QTableWidgetItem(f"{row.name}\n{row.model}\n{row.os}\n{row.kernel}")
            head.setToolTip(row.label)
            t.setVerticalHeaderItem(r, head)
        for r in range(len(m.rows)):
            for c in range(len(m.columns)):
                cell = m.cell(r, c)
                if cell is None:
                    item = QTableWidgetItem("–")
                    item.setToolTip("no session of this package on this device")
                    item.setForeground(QBrush(QColor("#868e96")))
                else:
                    item = QTableWidgetItem(cell_text(cell))
                    key = "failed" if cell.status == "failed" else cell.budget
                    item.setBackground(QBrush(QColor(CELL_COLORS.get(key, CELL_COLORS["none"]))))
                    item.setForeground(QBrush(QColor("#212529")))
                    item.setData(SESSION_ROLE, cell.session_id)
                    failed = (f"\nbudgets failed: {', '.join(cell.budgets_failed)}"
                              if cell.budgets_failed else "")
                    item.setToolTip(f"session {cell.session_id}, {cell.status}, "
                                    f"{fmt_time(cell.started_at)}\n{cell.sessions} session"
                                    f"{'s' * (cell.sessions != 1)} of this pair in the log; "
                                    f"the latest is shown{failed}\ndouble-click to open it")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                t.setItem(r, c, item)
        t.resizeColumnsToContents()
        for c in range(len(m.columns)):
            t.setColumnWidth(c, max(220, min(300, t.columnWidth(c) + 24)))
        n = len(m.cells)
        self.info.setText(html.escape(
            f"{len(m.rows)} device row{'s' * (len(m.rows) != 1)} × {len(m.columns)} package "
            f"column{'s' * (len(m.columns) != 1)}, {n} cell{'s' * (n != 1)}")
            if n else "no ended sessions in the log (for this period): run something first")
        self.built.emit()

    def _show_plan(self, m: plan_matrix.PlanMatrix) -> None:
        t = self.table
        t.clear()
        lay = m.layout
        t.setRowCount(len(lay.devices))
        t.setColumnCount(len(lay.columns))
        for c, label in enumerate(lay.columns):
            head = QTableWidgetItem(f"#{c + 1}\n{label}")
            head.setToolTip(label)
            t.setHorizontalHeaderItem(c, head)
        for r, dev in enumerate(lay.devices):
            t.setVerticalHeaderItem(r, QTableWidgetItem(dev))
        for (r, c), cell in m.cells.items():
            item = QTableWidgetItem()
            paint_cell(item, cell)
            item.setData(SESSION_ROLE, cell.session_id)
            item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            t.setItem(r, c, item)
        for c in range(len(lay.columns)):
            t.setColumnWidth(c, 200)
        run = m.run
        counts = ", ".join(f"{n} {k}" for k, n in sorted(run.counts.items()))
        self.info.setText(html.escape(
            f"plan {run.name}, run {run.id} ({run.uuid[:12]}): {run.status}, exit status "
            f"{m.exit_code}; {len(lay.devices)} device{'s' * (len(lay.devices) != 1)} × "
            f"{len(lay.columns)} cell{'s' * (len(lay.columns) != 1)} each; {counts}"))

    def cell_session(self, row: int, col: int) -> int | None:
        item = self.table.item(row, col)
        v = item.data(SESSION_ROLE) if item is not None else None
        return int(v) if v is not None else None

    def _on_double(self, row: int, col: int) -> None:
        sid = self.cell_session(row, col)
        if sid is not None:
            self.openSession.emit(sid)
