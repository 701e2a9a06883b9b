"""The Qt adapter around the Qt-free :class:`~console.session.run.Run` (ScopeFoundry's split).

One :class:`RunWorker` (a QObject moved to its own QThread) per run. It
opens the device and calls :meth:`Run.execute` there, so the GUI thread
never waits on SSH, deploy or inference. Low-rate news (state, deploy
progress, hello, cold start, events, the result) travels as typed signals
carrying the protocol dataclasses; high-rate data (frames, telemetry,
previews) goes into a :class:`~console.ui.live.data.LiveFeed` that the
window's display timer drains, so a 1 000-frame/s device cannot flood the
event loop. Recording every frame is the run's own writer thread's job; the
GUI thread never touches SQLite here.

:class:`~console.ui.worker_thread.WorkerThread` lives in the GUI thread: it
starts the thread, forwards Stop (``Run.stop`` is thread-safe) and cleans up
when the thread ends. Nothing here touches a widget.
"""

from __future__ import annotations

import base64
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from console.core import protocol as P
from console.core.op_profile import OpProfile
from console.devices.base import DeployProgress, Device, DeviceError, HostKeyUnknown
from console.session.browse import LogRef
from console.session.run import Run, RunListener, RunRequest, RunResult
from console.ui.live.data import LiveFeed
from console.ui.qt import QImage, QObject, Qt, Signal, Slot
from console.ui.stoppable import Stoppable
from console.ui.worker_thread import reported

log = logging.getLogger("devicelab.ui")

#: Deploy progress signals at most this often (the final one always goes).
PROGRESS_INTERVAL_S = 0.05
#: Agent events forwarded per second before the rest are counted, not shown.
EVENTS_PER_SECOND = 20


@dataclass(frozen=True)
class HostKeyQuestion:
    """An SSH host the console has never seen: what the user must confirm."""

    device: str
    host: str
    key_type: str
    fingerprint: str
    message: str


class _Listener(RunListener):
    """Runs in the worker thread: fills the feed, emits the low-rate signals."""

    def __init__(self, worker: RunWorker, feed: LiveFeed) -> None:
        self.w = worker
        self.feed = feed
        self._last_progress = 0.0
        self._ev_window = 0.0
        self._ev_count = 0
        self._ev_dropped = 0

    def state(self, state: str, text: str) -> None:
        self.w.stateChanged.emit(state, text)

    def deploy_progress(self, p: DeployProgress) -> None:
        now = time.monotonic()
        if p.done >= p.total or p.cached or now - self._last_progress >= PROGRESS_INTERVAL_S:
            self._last_progress = now
            self.w.deployProgress.emit(p)

    def session_created(self, session_id: int) -> None:
        self.w.sessionCreated.emit(session_id)

    def hello(self, msg: P.Hello) -> None:
        self.w.helloReceived.emit(msg)

    def cold(self, msg: P.ColdStart) -> None:
        self.w.coldStart.emit(msg)

    def profile(self, profile: OpProfile) -> None:
        self.w.profileReady.emit(profile)

    def frame(self, msg: P.Frame) -> None:
        self.feed.add_frame(msg)

    def preview(self, msg: P.Preview) -> None:
        # QImage (unlike QPixmap) may be built outside the GUI thread: decode here.
        try:
            data = base64.b64decode(msg.jpeg, validate=False)
        except ValueError:
            return
        image = QImage.fromData(data)
        if image.isNull():
            return
        target = self.feed.preview_target  # scaled here, not in the GUI thread
        if target is not None and (image.width(), image.height()) != target:
            image = image.scaled(target[0], target[1], Qt.AspectRatioMode.KeepAspectRatio,
                                 Qt.TransformationMode.SmoothTransformation)
        self.feed.set_preview(msg.i, msg.ts, msg.w, msg.h, image)

    def telemetry(self, msg: P.Telemetry) -> None:
        self.feed.add_telemetry(msg.ts, dict(msg.sample))

    def event(self, level: str, code: str, text: str) -> None:
        now = time.monotonic()
        if now - self._ev_window >= 1.0:
            if self._ev_dropped:
                self.w.eventReceived.emit(
                    "warning", "events_dropped",
                    f"{self._ev_dropped} more agent events in one second not shown here "
                    "(all are in the session log)")
            self._ev_window, self._ev_count, self._ev_dropped = now, 0, 0
        self._ev_count += 1
        if self._ev_count > EVENTS_PER_SECOND and level != "error":
            self._ev_dropped += 1
            return
        self.w.eventReceived.emit(level, code, text)

    def finished(self, result: RunResult) -> None:
        self.w.runFinished.emit(result)


class RunSignals(QObject):
    """What a run tells the window, typed: the worker emits these in its thread and the
    :class:`~console.ui.live.supervisor.RunSupervisor` passes them on (queued) in the GUI
    thread, noting what it keeps on the way; one list, so the two cannot drift apart."""

    stateChanged = Signal(str, str)
    deployProgress = Signal(DeployProgress)
    sessionCreated = Signal(int)
    helloReceived = Signal(P.Hello)
    coldStart = Signal(P.ColdStart)
    #: the operator profile (console.core.op_profile.OpProfile) of a --profile run
    profileReady = Signal(object)
    #: level, code, text
    eventReceived = Signal(str, str, str)
    #: the run was refused before a session existed: one line for the user
    refused = Signal(str)
    hostKeyUnknown = Signal(HostKeyQuestion)
    runFinished = Signal(RunResult)


class RunWorker(Stoppable, RunSignals):
    """One run in one QThread. Signals are queued to the GUI thread."""

    #: always the last signal, whatever happened
    done = Signal()

    def __init__(self, make_device: Callable[[], Device], request: RunRequest,
                 db_path: LogRef, feed: LiveFeed, package_policy: Any = None,
                 device_label: str = "") -> None:
        super().__init__()
        self.make_device = make_device
        self.request = request
        self.db_path = db_path
        self.feed = feed
        self.package_policy = package_policy
        self.device_label = device_label
        self._init_stoppable()

    # -- worker thread --------------------------------------------------------
    @Slot()
    def execute(self) -> None:
        device: Device | None = None
        with reported(self, "run worker"):
            try:
                if self._stop:
                    self.refused.emit("run cancelled before it started")
                    return
                self.stateChanged.emit("connecting", f"opening {self.device_label}")
                try:
                    device = self.make_device()
                    # Connect here, not inside Run: an unknown host key must reach the
                    # window as HostKeyUnknown (a question), not as a refusal line.
                    device.connect()
                except HostKeyUnknown:
                    raise  # a question, asked below like one raised inside the run
                except DeviceError as exc:
                    self.refused.emit(str(exc))
                    return
                run = Run(device, self.request, self.db_path, _Listener(self, self.feed),
                          package_policy=self.package_policy)
                self.attach(run)
                run.execute()
            except HostKeyUnknown as exc:  # from connect(), here or inside the run
                self.hostKeyUnknown.emit(HostKeyQuestion(self.device_label, exc.host,
                                                         exc.key_type, exc.fingerprint,
                                                         str(exc)))
            finally:
                if device is not None:
                    try:
                        device.close()
                    except Exception:
                        log.warning("closing %s failed\n%s", self.device_label,
                                    traceback.format_exc())
