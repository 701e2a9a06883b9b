"""The current run, seen from the GUI thread: one owner for its worker, feed and state.

:class:`RunSupervisor` makes the run's :class:`~console.ui.live.run_worker.RunWorker`
(the only place one is made), starts it through a :class:`WorkerThread`,
receives the worker's queued signals, keeps the Qt-free
:class:`~console.session.live_state.LiveRun` up to date and forwards each
signal, typed, to whoever shows it (the window). It also owns the stop
deadline (an agent that does not finish its frame in time is killed) and
remembers what the last run was started with, so that the same run can be
started again once an unknown SSH host key is trusted.

What must not live here: widgets, dialogs, the display timer. The window
decides what a refusal or a host-key question looks like.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from console.core import protocol as P
from console.devices.base import Device
from console.session.browse import LogRef
from console.session.live_state import LiveRun
from console.session.run import RunRequest, RunResult
from console.session.trust import UNSIGNED_WARNING
from console.ui.busy_devices import RUN, BusyDevices
from console.ui.devices.panel import DeviceEntry
from console.ui.live.data import FRAME_COLUMNS, Batch, LiveFeed
from console.ui.live.run_worker import HostKeyQuestion, RunSignals, RunWorker
from console.ui.qt import QObject, QTimer, Signal, Slot
from console.ui.worker_thread import WorkerThread

#: the window's line for an unsigned package the policy lets run
UNSIGNED_NOTE = ("package is unsigned: allowed by the signing policy (warn); "
                 "Settings → Package signing to refuse unsigned packages")
#: after Stop (or closing), how long the agent gets before it is killed
STOP_DEADLINE_MS = 12_000
_I = FRAME_COLUMNS.index("i")
_TS = FRAME_COLUMNS.index("ts")


@dataclass(frozen=True)
class Launch:
    """What a run is started with: kept to start the very same run again."""

    entry: DeviceEntry
    request: RunRequest
    policy: Any  # console.session.trust package policy (callable) or None
    title: str
    #: the log line that says what starts
    line: str
    replay_of: int | None = None


class RunSupervisor(RunSignals):
    """Owns the run's worker and thread, its live feed and its :class:`LiveRun`.

    Passes on every :class:`RunSignals` signal of the worker (in the GUI thread)."""

    #: the run's thread has really ended (always last)
    runEnded = Signal()
    #: level, one line for the window's report
    message = Signal(str, str)

    def __init__(self, db_path: LogRef, parent: QObject | None = None,
                 busy_devices: BusyDevices | None = None) -> None:
        super().__init__(parent)
        self.db_path = db_path
        #: the devices the window's runs use (a plan run or a sweep may hold this one's)
        self.busy_devices = busy_devices if busy_devices is not None else BusyDevices()
        self.controller = WorkerThread("run-worker", self)
        self.controller.threadEnded.connect(self._on_thread_ended)
        self.feed = LiveFeed()
        self.worker: RunWorker | None = None
        #: the run being shown (the last one once it ended); None before the first
        self.run: LiveRun | None = None
        #: what the last run was started with
        self.launch: Launch | None = None
        #: an unknown host key the last run stopped at (asked when its thread ended)
        self.host_question: HostKeyQuestion | None = None
        self._deadline = QTimer(self)
        self._deadline.setSingleShot(True)
        self._deadline.timeout.connect(self._deadline_missed)

    @property
    def running(self) -> bool:
        return self.controller.running

    def refusal(self, entry: DeviceEntry | None) -> str | None:
        """Why a run on ``entry`` cannot start now (a plan run or a sweep uses its device),
        or None."""
        if entry is None or self.running:
            return None
        return self.busy_devices.refusal([entry.spec], RUN)

    def start(self, launch: Launch, open_device: Callable[[], Device]) -> str | None:
        """Start ``launch`` (a fresh feed and a fresh :class:`LiveRun` for it, in
        :attr:`run`), or return the line that refuses it: another run uses its device."""
        refusal = self.busy_devices.claim(RUN, [launch.entry.spec])
        if refusal is not None:
            return refusal
        self.launch = launch
        self.host_question = None
        self.feed = LiveFeed()
        worker = RunWorker(open_device, launch.request, self.db_path, self.feed, launch.policy,
                           launch.entry.name)
        # signal to signal where nothing is to note (queued: this object is the receiver)
        worker.stateChanged.connect(self.stateChanged)
        worker.deployProgress.connect(self.deployProgress)
        worker.refused.connect(self.refused)
        worker.profileReady.connect(self.profileReady)
        worker.sessionCreated.connect(self._on_session)
        worker.helloReceived.connect(self._on_hello)
        worker.coldStart.connect(self._on_cold)
        worker.eventReceived.connect(self._on_event)
        worker.hostKeyUnknown.connect(self._on_host_key)
        worker.runFinished.connect(self._on_finished)
        self.worker = worker
        self.run = LiveRun(launch.title, launch.entry.name, launch.replay_of)
        self.controller.start(worker)
        return None

    def stop(self) -> None:
        """Ask the agent to finish its frame; kill it if it has not after the deadline."""
        if not self.running:
            return
        self.controller.stop()
        self._deadline.start(STOP_DEADLINE_MS)

    def abort(self) -> None:
        self.controller.abort()

    def drain(self) -> Batch:
        """What the run produced since the last call (display timer), noted in the state."""
        batch = self.feed.drain()
        if self.run is not None:
            self.run.note_frames(batch.frames[:, _I], batch.frames[:, _TS], batch.frames_total)
            self.run.previews += batch.preview is not None
        return batch

    # -- the worker's signals (queued to the GUI thread) ----------------------------
    @Slot(int)
    def _on_session(self, sid: int) -> None:
        if self.run is not None:
            self.run.session_id = sid
        self.sessionCreated.emit(sid)

    @Slot(P.Hello)
    def _on_hello(self, msg: P.Hello) -> None:
        if self.run is not None:
            self.run.agent_pid = msg.pid
        entry = self.launch.entry if self.launch is not None else None
        if entry is not None and entry.facts is None:
            entry.facts = dict(msg.device)  # the agent's own facts: a card without a probe
        self.helloReceived.emit(msg)

    @Slot(P.ColdStart)
    def _on_cold(self, msg: P.ColdStart) -> None:
        if self.run is not None:
            self.run.cold_ms = msg.total_ms
        self.coldStart.emit(msg)

    @Slot(str, str, str)
    def _on_event(self, level: str, code: str, text: str) -> None:
        if code == "package" and text == UNSIGNED_WARNING:
            # under the default `warn` policy an unsigned package is information, not an
            # alarm (no amber marker on every demo run); `refuse` never gets here
            level, text = "info", UNSIGNED_NOTE
        if self.run is not None:
            self.run.note_event(level)
        self.eventReceived.emit(level, code, text)

    @Slot(HostKeyQuestion)
    def _on_host_key(self, q: HostKeyQuestion) -> None:
        self.host_question = q
        self.hostKeyUnknown.emit(q)

    @Slot(RunResult)
    def _on_finished(self, result: RunResult) -> None:
        if self.run is not None:
            self.run.finish(result)
        self.runFinished.emit(result)

    @Slot()
    def _on_thread_ended(self) -> None:
        self._deadline.stop()
        self.busy_devices.release(RUN)
        if self.run is not None:
            self.run.end()
        self.worker = None
        self.runEnded.emit()

    def _deadline_missed(self) -> None:
        if self.running:
            self.message.emit("warning", "the agent did not stop in time: killing it")
            self.abort()
