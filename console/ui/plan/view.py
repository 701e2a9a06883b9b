"""The Plan tab: open a plan file, see its cells, run it on every device at once.

What a user does here: *Open plan…* (the file dialog opens in the folder of
the last plan), read what the check found (the same lines ``devicelab plan
check`` prints: one per problem, naming the key and its line; or the cells),
*Run plan* (checked again first: the file or a package may have changed),
watch the grid fill in (``console.ui.plan.grid``) with each device's own
live latency curve, *Stop* (every device's run ends ``stopped``, the
remaining cells are not run), and double-click a finished cell to open its
session in the Sessions tab.

The plan check runs in a job, the plan in a :class:`~console.ui.plan.worker.PlanWorker`
thread; a ~30 Hz display timer draws the curves from the frames buffer. The
GUI thread waits on nothing here.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from console.session.browse import LogRef
from console.session.plan_check import CheckedPlan, check_plan
from console.session.plan_matrix import DISPLAY_VERDICTS, GridCell, grid_layout
from console.session.plan_run import DeviceProgress, PlanResult
from console.ui.busy_devices import PLAN, BusyDevices
from console.ui.jobs import JobFailure, JobRunner, error_text, user_errors
from console.ui.plan.feed import CurveHistory, LatencyFeed
from console.ui.plan.grid import CELL_COLORS, VERDICT_WORDS, PlanGrid
from console.ui.plan.worker import PlanController, PlanWorker
from console.ui.qt import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QTimer,
    QWidget,
    Signal,
)
from console.ui.widgets import button, open_file, tab_layout, text_label

#: display timer period: ~30 Hz
DISPLAY_MS = 33
RUN_TIP = ("Check the plan again, then run every device at once (each device's cells one "
           "after another)")


def _checked_with_policy(path: str) -> tuple[CheckedPlan, Any]:
    from console.session.trust import package_policy

    policy = package_policy()
    return check_plan(path, package_policy=policy), policy


class PlanView(QWidget):
    """One plan at a time: open, check, run, stop; the live grid."""

    #: level, one line
    message = Signal(str, str)
    #: open this session in the Sessions tab
    openSession = Signal(int)
    #: a plan started (True) or its thread ended (False)
    runningChanged = Signal(bool)
    #: a check finished and its result is shown
    checked = Signal()
    #: the plan's thread ended (the log holds new sessions)
    finished = Signal()

    def __init__(self, jobs: JobRunner, db_path: LogRef, prefs: Any = None,
                 parent: QWidget | None = None,
                 busy_devices: BusyDevices | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("planView")
        self.jobs = jobs
        self.db_path = db_path
        self.prefs = prefs
        #: the devices the window's runs use (the window's own; a plan waits for them)
        self.busy_devices = busy_devices if busy_devices is not None else BusyDevices()
        self.plan: CheckedPlan | None = None
        self.policy: Any = None
        self.result: PlanResult | None = None
        self.run_id: int | None = None
        self.feed = LatencyFeed()
        self.histories: dict[str, CurveHistory] = {}
        self.controller = PlanController(self)
        self.controller.threadEnded.connect(self._on_thread_ended)
        self.controller.message.connect(self.message)
        self._token = 0
        self._checking = False
        self._start_after_check = False
        self._finished_cells = 0
        self._seen: set[tuple[str, str, str]] = set()
        self.timer = QTimer(self)
        self.timer.setInterval(DISPLAY_MS)
        self.timer.timeout.connect(self._draw)
        folder = prefs.get("plan_folder") if prefs is not None else None
        self.folder = Path(folder) if folder and Path(folder).is_dir() else Path.cwd()
        self._build()
        last = prefs.get("last_plan") if prefs is not None else None
        if last and Path(last).is_file():
            self.path_edit.setText(str(last))
        self._update()
        self.busy_devices.on_change(self._update)

    # -- construction ---------------------------------------------------------------
    def _build(self) -> None:
        lay = tab_layout(self)
        top = QHBoxLayout()
        top.addWidget(QLabel("Plan"))
        self.path_edit = QLineEdit()
        self.path_edit.setObjectName("planPath")
        self.path_edit.setPlaceholderText("a plan file (TOML, see docs/plans.md)")
        self.path_edit.returnPressed.connect(self.check)
        top.addWidget(self.path_edit, 1)
        self.open_button = button("Open plan…", self.open_dialog,
                                  "Choose a plan file; it is checked at once", into=top)
        self.check_button = button("Check", self.check,
                                   "Check the plan again (like devicelab plan check): "
                                   "every package verified, nothing connects", into=top)
        self.run_button = button("▶  Run plan", self.run, RUN_TIP, "planRun", top)
        self.stop_button = button("■  Stop", self.stop,
                                  "Stop every device cleanly: its session ends stopped, "
                                  "its remaining cells are not run", "planStop", top)
        lay.addLayout(top)
        self.info = text_label("Open a plan file: devices × packages × inputs × settings, "
                               "with budgets and a baseline (docs/plans.md).", "planInfo")
        lay.addWidget(self.info)
        self.status = QLabel("")
        self.status.setObjectName("planStatus")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        self.grid = PlanGrid(self)
        self.grid.openSession.connect(self.openSession)
        lay.addWidget(self.grid, 1)
        legend = QLabel("Rows are devices, columns each device's cells in order. " + " ".join(
            f"<span style='background:{CELL_COLORS[k]};color:#212529'>&nbsp;{VERDICT_WORDS[k]}"
            "&nbsp;</span>" for k in DISPLAY_VERDICTS)
            + " — INCONCLUSIVE: it did not fail, but a budget or the baseline comparison "
              "could not decide. Double-click a finished cell to open its session.")
        legend.setWordWrap(True)
        lay.addWidget(legend)

    @property
    def running(self) -> bool:
        return self.controller.running

    @property
    def busy(self) -> bool:
        """A check is going (or a plan runs)."""
        return self._checking or self.running

    def _update(self) -> None:
        running = self.running
        in_use = self._devices_in_use()
        self.run_button.setEnabled(not running and not self._checking and in_use is None
                                   and bool(self.path_edit.text().strip()))
        self.run_button.setToolTip(in_use or RUN_TIP)
        self.stop_button.setEnabled(running)
        for w in (self.open_button, self.check_button, self.path_edit):
            w.setEnabled(not running)

    def _devices_in_use(self) -> str | None:
        """Why the checked plan cannot run now (a device of it is busy), or None."""
        if self.plan is None or self.running:
            return None
        return self.busy_devices.refusal(self.plan.devices, PLAN)

    def set_db_path(self, path: LogRef) -> None:
        self.db_path = path

    # -- opening and checking -----------------------------------------------------------
    def open_dialog(self) -> None:
        chosen = open_file(self, "Open a test plan", str(self.folder), "planFileDialog",
                           "Test plans (*.toml);;All files (*)")
        if chosen is not None:
            self.open_path(chosen)

    def open_path(self, path: str | Path) -> None:
        """Take ``path`` as the plan (remembering its folder) and check it."""
        p = Path(path)
        self.folder = p.parent
        self.path_edit.setText(str(p))
        if self.prefs is not None:
            self.prefs.save(plan_folder=str(p.parent), last_plan=str(p))
        self.check()

    def check(self) -> None:
        if self.running:
            return
        path = self.path_edit.text().strip()
        if not path:
            return
        self._token += 1
        token = self._token
        self._checking = True
        self.info.setText(f"checking {html.escape(path)}… (every package is verified)")
        self._update()
        self.jobs.submit("plan-check", user_errors(lambda: _checked_with_policy(path)),
                         lambda r: self._on_checked(token, r),
                         lambda exc: self._on_check_error(token, exc))

    def _on_check_error(self, token: int, exc: BaseException) -> None:
        if token != self._token:
            return
        self._checking = False
        self._start_after_check = False
        self.info.setText(f"cannot check the plan: {html.escape(error_text(exc))}")
        self.message.emit("error", f"plan check: {error_text(exc)}")
        self._update()

    def _on_checked(self, token: int, r: Any) -> None:
        if token != self._token:
            return
        self._checking = False
        start, self._start_after_check = self._start_after_check, False
        if isinstance(r, JobFailure):
            self.plan = None
            self.info.setText(f"cannot check the plan: {html.escape(r.text)}")
            self.message.emit("error", f"plan check: {r.text}")
            self._update()
            self.checked.emit()
            return
        checked, policy = r
        self.plan, self.policy = checked, policy
        if not checked.ok:
            lines = checked.lines()
            self.info.setText("<span style='color:#c92a2a'><b>The plan has "
                              f"{len(lines)} problem{'s' * (len(lines) != 1)}:</b><br>"
                              + "<br>".join(html.escape(x) for x in lines) + "</span>")
            self.message.emit("error", f"plan refused: {lines[0] if lines else '?'}")
            self.grid.setRowCount(0)
            self.grid.setColumnCount(0)
        else:
            self.info.setText(html.escape(self.describe(checked)))
            self.grid.set_layout(grid_layout(checked.cells))
            self.histories = {d: CurveHistory() for d in checked.devices}
        self._update()
        self.checked.emit()
        if start and checked.ok:
            self._start(checked, policy)

    @staticmethod
    def describe(checked: CheckedPlan) -> str:
        plan = checked.plan
        assert plan is not None
        parts = [f"plan {plan.name}: {len(checked.devices)} device(s) × "
                 f"{len(plan.packages)} package(s) × {len(plan.inputs)} input(s) × "
                 f"{len(plan.settings())} setting(s)"
                 + (f" × {plan.repeats} repeats" if plan.repeats > 1 else "")
                 + f" = {len(checked.cells)} cells"]
        if checked.budgets:
            parts.append("budgets " + ", ".join(f"{k} = {v:g}"
                                                for k, v in checked.budgets.items()))
        if plan.baseline is not None:
            parts.append("baseline " + (f"tag {plan.baseline.tag}" if plan.baseline.tag
                                        else "the last passing run of each cell"))
        parts.append("ok, ready to run")
        return " · ".join(parts)

    # -- running ----------------------------------------------------------------------------
    def run(self) -> None:
        """Check the plan again, then run it."""
        if self.running or self._checking:
            return
        self._start_after_check = True
        self.check()

    def _start(self, checked: CheckedPlan, policy: Any) -> None:
        refusal = self.busy_devices.claim(PLAN, checked.devices)
        if refusal is not None:
            self._on_refused(refusal)
            return
        self.result = None
        self.run_id = None
        self._finished_cells = 0
        self._seen = set()
        self.feed.restart()
        self.histories = {d: CurveHistory() for d in checked.devices}
        self.grid.set_layout(grid_layout(checked.cells))
        w = PlanWorker(checked, self.db_path, self.feed, policy)
        w.planStarted.connect(self._on_started)
        w.deviceState.connect(self._on_device_state)
        w.deployProgress.connect(self._on_deploy)
        w.cellStarted.connect(self._on_cell_started)
        w.progress.connect(self._on_progress)
        w.eventReceived.connect(self._on_event)
        w.cellFinished.connect(self._on_cell)
        w.planFinished.connect(self._on_finished)
        w.refused.connect(self._on_refused)
        self.controller.start(w)
        self.timer.start()
        self.status.setText(f"starting plan {checked.plan.name if checked.plan else ''}…")
        self._update()
        self.runningChanged.emit(True)

    def stop(self) -> None:
        if not self.running:
            return
        self.controller.stop()
        self.status.setText("stopping every device (each run finishes its frame; the "
                            "sessions are kept)…")
        self.message.emit("info", "plan stop requested")

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Window closing: stop the plan and wait for its thread (the sessions are kept)."""
        if not self.running:
            return True
        self.controller.stop()
        ok = self.controller.wait(timeout_ms)
        if not ok:
            self.controller.abort()
            ok = self.controller.wait(10_000)
        self.timer.stop()
        return ok

    # -- the worker's signals ---------------------------------------------------------------
    def _on_started(self, run_id: int, uuid: str) -> None:
        self.run_id = run_id
        n = len(self.plan.cells) if self.plan else 0
        self.status.setText(f"plan run {run_id} ({uuid[:12]}): {n} cells running…")
        self.message.emit("info", f"plan run {run_id} started ({n} cells)")

    def _on_cell_started(self, idx: int) -> None:
        self.grid.set_running(idx)

    def _on_device_state(self, device: str, state: str, text: str) -> None:
        self.grid.set_device_state(device, f"{state}\n{text}" if text else state)

    def _on_deploy(self, device: str, p: Any) -> None:
        what = "already on the device" if p.cached else \
            f"{p.done / 1e6:.1f}/{p.total / 1e6:.1f} MB"
        self.grid.set_device_state(device, f"deploying\n{p.stage} {p.name}: {what}")

    def _on_progress(self, p: DeviceProgress) -> None:
        fps = "–" if p.fps is None else f"{p.fps:.1f}"
        p95 = "–" if p.p95_ms is None else f"{p.p95_ms:.2f} ms"
        self.grid.set_device_state(p.device, f"{p.state} · cell {p.index}/{p.total}\n"
                                             f"{p.frames} frames · {fps} fps · p95 {p95}")
        if p.cell is not None:
            self.grid.set_running(p.cell.idx, f"{p.frames} frames")

    def _on_event(self, device: str, level: str, code: str, text: str) -> None:
        # the same warning for every cell of a device (an unsigned package): said once
        if level in ("warning", "error") and (device, level, text) not in self._seen:
            self._seen.add((device, level, text))
            self.message.emit(level, f"{device}: {text}" if device else text)

    def _on_cell(self, cell: GridCell) -> None:
        self._finished_cells += 1
        self.grid.set_cell(cell)
        n = len(self.plan.cells) if self.plan else 0
        if self.run_id is not None and self.result is None:
            self.status.setText(f"plan run {self.run_id}: {self._finished_cells}/{n} cells "
                                "finished…")

    def _on_finished(self, result: PlanResult) -> None:
        self.result = result
        counts: dict[str, int] = {}
        for o in result.outcomes:
            counts[o.verdict] = counts.get(o.verdict, 0) + 1
        line = (f"plan run {result.run_id} {result.status} (exit status {result.exit_code}): "
                + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
        self.status.setText(line)
        self.message.emit("error" if result.exit_code == 1 else "info", line)

    def _on_refused(self, text: str) -> None:
        self.status.setText(f"plan not run: {text}")
        self.message.emit("error", f"plan not run: {text}")

    def _on_thread_ended(self) -> None:
        self.busy_devices.release(PLAN)
        self.timer.stop()
        self._draw()
        self._update()
        self.runningChanged.emit(False)
        self.finished.emit()

    # -- the display timer ------------------------------------------------------------------
    def _draw(self) -> None:
        for dev, rows in self.feed.drain().items():
            h = self.histories.get(dev)
            if h is None:
                h = self.histories[dev] = CurveHistory()
            h.extend(rows)
            x, y = h.points()
            self.grid.set_curve(dev, x, y)
