"""The Qt adapter around the Qt-free plan runner (``console.session.plan_run.PlanRun``).

One :class:`PlanWorker` (a QObject moved to its own QThread) per plan run:
it calls :meth:`PlanRun.execute` there, so the GUI thread never waits on a
device. The plan's device threads call the worker's listener; it re-emits
each event as a typed signal (queued to the GUI thread) carrying the plan
runner's own dataclasses. Frames do not travel as signals: they go into a
:class:`~console.ui.plan.feed.LatencyFeed` that the tab's display timer
drains. A finished cell's figures are read from the log here, in the
device's thread, before its signal goes (the GUI thread reads no log).

:class:`PlanController` lives in the GUI thread: it starts the thread,
forwards Stop (``PlanRun.stop`` is thread-safe: every device's run ends
``stopped``), kills the agents when Stop is not obeyed in time, and cleans up
when the thread ends. Nothing here touches a widget.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from console.core import protocol as P
from console.core.plan import Cell
from console.devices.base import DeployProgress
from console.session.browse import LogRef
from console.session.plan_check import CheckedPlan
from console.session.plan_matrix import GridCell, grid_cell, session_summary
from console.session.plan_run import (
    CellOutcome,
    DeviceProgress,
    PlanListener,
    PlanResult,
    PlanRun,
)
from console.ui.plan.feed import LatencyFeed
from console.ui.qt import QObject, QTimer, Signal, Slot
from console.ui.stoppable import Stoppable
from console.ui.worker_thread import WorkerThread, reported

log = logging.getLogger("devicelab.ui")

#: agent events forwarded per second (all devices) before the rest are only counted
EVENTS_PER_SECOND = 20
#: deploy progress per device at most this often (the last one of an item always goes)
DEPLOY_INTERVAL_S = 0.1
#: after Stop, how long the devices get before their agents are killed
STOP_DEADLINE_MS = 20_000


class _Listener(PlanListener):
    """Runs in the plan's device threads: signals out, frames into the feed."""

    def __init__(self, worker: PlanWorker) -> None:
        self.w = worker
        self._lock = threading.Lock()
        self._ev_window = 0.0
        self._ev_count = 0
        self._ev_dropped = 0
        self._deploy_last: dict[str, float] = {}

    def plan_started(self, run_id: int, uuid: str, cells: Sequence[Cell]) -> None:
        self.w.planStarted.emit(run_id, uuid)

    def device_state(self, device: str, state: str, text: str) -> None:
        self.w.deviceState.emit(device, state, text)

    def deploy_progress(self, device: str, p: DeployProgress) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._deploy_last.get(device, 0.0)
            go = p.cached or p.done >= p.total or now - last >= DEPLOY_INTERVAL_S
            if go:
                self._deploy_last[device] = now
        if go:
            self.w.deployProgress.emit(device, p)

    def cell_started(self, cell: Cell) -> None:
        self.w.cellStarted.emit(cell.idx)

    def cell_session(self, cell: Cell, session_id: int) -> None:
        self.w.cellSession.emit(cell.idx, session_id)

    def progress(self, p: DeviceProgress) -> None:
        self.w.progress.emit(p)

    def frame(self, device: str, msg: P.Frame) -> None:
        self.w.feed.add(device, msg.e2e)

    def event(self, device: str, level: str, code: str, text: str) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._ev_window >= 1.0:
                dropped = self._ev_dropped
                self._ev_window, self._ev_count, self._ev_dropped = now, 0, 0
            else:
                dropped = 0
            self._ev_count += 1
            drop = self._ev_count > EVENTS_PER_SECOND and level != "error"
            if drop:
                self._ev_dropped += 1
        if dropped:
            self.w.eventReceived.emit("", "warning", "events_dropped",
                                      f"{dropped} more agent events in one second not shown "
                                      "here (all are in the session log)")
        if not drop:
            self.w.eventReceived.emit(device, level, code, text)

    def cell_finished(self, outcome: CellOutcome) -> None:
        summary = None
        if outcome.session_id is not None:
            try:
                summary = session_summary(self.w.db_path, outcome.session_id)
            except Exception:  # the grid then shows the verdict without figures
                log.warning("reading session %s for the plan grid failed\n%s",
                            outcome.session_id, traceback.format_exc())
        self.w.cellFinished.emit(grid_cell(
            outcome.cell.idx, outcome.cell.device, outcome.cell.label, outcome.verdict,
            outcome.reason, outcome.session_id, summary, outcome.checks))

    def plan_finished(self, result: PlanResult) -> None:
        self.w.planFinished.emit(result)


class PlanWorker(Stoppable, QObject):
    """One plan run in one QThread. Signals are queued to the GUI thread."""

    #: run id, uuid
    planStarted = Signal(int, str)
    #: device, state, text
    deviceState = Signal(str, str, str)
    deployProgress = Signal(str, DeployProgress)
    #: cell index
    cellStarted = Signal(int)
    #: cell index, session id
    cellSession = Signal(int, int)
    progress = Signal(DeviceProgress)
    #: device ("" for the plan), level, code, text
    eventReceived = Signal(str, str, str, str)
    cellFinished = Signal(GridCell)
    planFinished = Signal(PlanResult)
    #: the plan could not start (the log cannot be opened): one line
    refused = Signal(str)
    #: always the last signal
    done = Signal()

    def __init__(self, checked: CheckedPlan, db_path: LogRef, feed: LatencyFeed,
                 package_policy: Any = None,
                 open_device: Callable[[str], Any] | None = None) -> None:
        super().__init__()
        self.checked = checked
        self.db_path = db_path
        self.feed = feed
        self.package_policy = package_policy
        self.open_device = open_device
        self._init_stoppable()

    # -- worker thread ----------------------------------------------------------------
    @Slot()
    def execute(self) -> None:
        with reported(self, "plan worker"):
            prun = PlanRun(self.checked, self.db_path, _Listener(self),
                           open_device=self.open_device, package_policy=self.package_policy)
            self.attach(prun)
            prun.execute()


class PlanController(WorkerThread):
    """GUI-thread owner of the plan's thread and worker (one plan at a time), with the
    Stop deadline: agents that do not obey Stop in time are killed."""

    #: level, one line
    message = Signal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__("plan-worker", parent)
        self._deadline = QTimer(self)
        self._deadline.setSingleShot(True)
        self._deadline.timeout.connect(self._deadline_missed)

    def stop(self) -> None:
        """Every device's current run stops cleanly; agents that do not are killed."""
        if self.worker is None:
            return
        super().stop()
        if not self._deadline.isActive():
            self._deadline.start(STOP_DEADLINE_MS)

    def _deadline_missed(self) -> None:
        if self.running:
            self.message.emit("warning", "a device did not stop in time: killing its agent")
            self.abort()

    def _ended(self) -> None:
        self._deadline.stop()
