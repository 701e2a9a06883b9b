"""What the live docks show about the current run, and the ~30 Hz display timer.

:class:`LivePresenter` listens to the :class:`~console.ui.live.supervisor.RunSupervisor`
and keeps the Run dock, the live view, the graphs, the summary panel and
the status bar in step with the run: it resets them when a run starts,
shows each state, progress line, cold start and agent event, and draws
the end state. Sampling rate is not repaint rate: the worker only fills
the supervisor's feed; the display timer drains it about 30 times a second
into the graphs and the live view, and updates the status bar and the live
summary at most twice a second.

What must not live here: starting or stopping runs (the window asks the
supervisor), dialogs, the session tabs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from console.core import protocol as P
from console.devices.base import DeployProgress
from console.session.live_state import cold_start_line
from console.session.run import RunResult
from console.ui import collector
from console.ui.live.graphs_tab import GraphsTab
from console.ui.live.run_panel import RunPanel
from console.ui.live.summary_panel import SummaryPanel
from console.ui.live.supervisor import RunSupervisor
from console.ui.live.view import LiveView
from console.ui.qt import QObject, QTimer, Slot
from console.ui.window.status import StatusBar

#: display timer period: ~30 Hz
TICK_MS = 33
#: status bar and live summary refresh period, seconds
STATUS_PERIOD_S = 0.5
#: how a plot with no data names a run's end (instead of "waiting for data…")
OUTCOMES = {"failed": "the run failed", "interrupted": "the run was interrupted",
            "stopped": "the run was stopped", "completed": "the run ended"}
#: states worth a line in the log while a run gets going
_LOGGED_STATES = ("verifying", "connecting", "deploying", "starting", "stopping")


class LivePresenter(QObject):
    def __init__(self, supervisor: RunSupervisor, graphs: GraphsTab, live_view: LiveView,
                 summary: SummaryPanel, run_panel: RunPanel, status: StatusBar,
                 log: Callable[..., None], report: Callable[[str, str], None],
                 db_path: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.supervisor = supervisor
        self.graphs = graphs
        self.live_view = live_view
        self.summary = summary
        self.run_panel = run_panel
        self.status = status
        #: log(level, text, code=""): a line in the log pane only
        self.log = log
        #: report(level, text): the log pane and the status bar
        self.report = report
        self.db_path = db_path
        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self.tick)
        self._last_status = 0.0
        s = supervisor
        s.stateChanged.connect(self._on_state)
        s.deployProgress.connect(self._on_progress)
        s.sessionCreated.connect(self._on_session)
        s.helloReceived.connect(self._on_hello)
        s.coldStart.connect(self._on_cold)
        s.eventReceived.connect(self._on_event)
        s.refused.connect(self._on_refused)
        s.hostKeyUnknown.connect(self._on_host_key)
        s.runFinished.connect(self._on_finished)

    @property
    def plots(self) -> Any:
        return self.graphs.plots

    # -- a run starts and ends ------------------------------------------------------
    def started(self, line: str) -> None:
        """A run was just started: empty docks that say so, and the timer going."""
        collector.install().freeze()  # no full collection of start-up objects mid-run
        self.plots.reset()
        self.live_view.reset("starting… the first frame appears after the model's cold start")
        self.summary.clear_summary("running…")
        self.status.show_session("session: starting")
        self.log("info", line)
        self.timer.start()

    def ended(self) -> None:
        """The run's thread ended: what arrived last, the final figures, the end state."""
        self.tick()
        self.update_status()  # the final figures (the tick updates them at most 2/s)
        self.timer.stop()
        collector.install().thaw()
        run = self.supervisor.run
        res = run.result if run is not None else None
        self.plots.stop(OUTCOMES.get(res.status, "") if res is not None
                        else "the run did not start")
        if res is None and self.live_view.shown_frame is None:
            self.live_view.set_placeholder("no frames")

    def refuse(self, text: str) -> None:
        """A run that cannot start (the docks said why already, e.g. an input the Input
        dock could not read): shown as a refusal by the run would be."""
        self.run_panel.set_state("refused", text)
        self.summary.show_refusal(text)
        self.live_view.reset(f"not started: {text}")

    # -- display timer ------------------------------------------------------------------
    @Slot()
    def tick(self) -> None:
        batch = self.supervisor.drain()
        self.supervisor.feed.preview_target = self.live_view.image_area()
        plots = self.plots
        if len(batch.frames) or batch.telemetry:
            plots.ingest(batch)
        plots.redraw()
        fps = plots.frames.fps_last_second()
        run = self.supervisor.run
        if batch.preview is not None:
            pv = batch.preview
            self.live_view.set_frame(pv.image, pv.i, pv.out, fps)
        elif len(batch.frames) and batch.last_out is not None:
            i, out = batch.last_out
            self.live_view.set_frame(None, i, out if run is None or not run.previews else None,
                                     fps)
        now = time.monotonic()
        if now - self._last_status >= STATUS_PERIOD_S:
            self._last_status = now
            self.update_status()

    def update_status(self) -> None:
        run = self.supervisor.run
        if run is None:
            return
        if self.supervisor.running and run.result is None:
            plots = self.plots
            self.summary.show_live(run.live_figures(
                plots.frames.fps_last_second(), plots.rolling_percentiles(), len(plots.spikes),
                plots.telemetry.samples))
        self.status.show_run(run)

    # -- the supervisor's signals ------------------------------------------------------
    def _on_state(self, state: str, text: str) -> None:
        if state == "finished":
            return  # the result says how it ended
        self.run_panel.set_state(state, text)
        if state in _LOGGED_STATES:
            self.log("info", text)
        if state == "running" and text == "running":
            self.live_view.set_placeholder("waiting for the first preview…")

    def _on_progress(self, p: DeployProgress) -> None:
        self.run_panel.show_progress(p)

    def _on_session(self, sid: int) -> None:
        self.status.show_session(f"session {sid}")
        run = self.supervisor.run
        replay_of = run.replay_of if run is not None else None
        self.log("info", f"session {sid} recording to {self.db_path}"
                 + (f" (replay of session {replay_of})" if replay_of is not None else ""))

    def _on_hello(self, msg: P.Hello) -> None:
        self.plots.set_device_facts(msg.device, msg.clock.get("wall") if msg.clock else None)
        self.log("info", f"agent {msg.agent_version} (pid {msg.pid}) on "
                         f"{msg.device.get('hostname')}")

    def _on_cold(self, msg: P.ColdStart) -> None:
        inp = msg.input or {}
        self.live_view.set_input_size(inp.get("width"), inp.get("height"))
        self.log("info", cold_start_line(msg))

    def _on_event(self, level: str, code: str, text: str) -> None:
        self.log(level, text, code)
        if code == "log_offline":  # a server log went away (warning) or answers (info)
            self.status.show_log_offline(level == "warning", text)
        if level in ("error", "warning"):
            self.plots.add_marker(None, level, text)
            if code == "no_preview":
                self.live_view.set_placeholder("no preview from this device: " + text)
        if level == "error":
            self.status.showMessage(text, 0)

    def _on_refused(self, text: str) -> None:
        self.run_panel.set_state("refused", text)
        self.summary.show_refusal(text)
        self.live_view.reset(f"not started: {text}")
        self.report("error", f"run refused: {text}")

    def _on_host_key(self, q: Any) -> None:
        self.run_panel.set_state("connecting", f"{q.device}: host key needs your confirmation")

    def _on_finished(self, result: RunResult) -> None:
        run = self.supervisor.run
        self.summary.show_result(result, run.device if run else "?", run.title if run else "",
                                 self.db_path)
        text = f"session {result.session_id} {result.status}"
        if result.error:
            text += f": {result.error}"
        self.run_panel.set_state(result.status, text)
        if self.live_view.shown_frame is None:  # "starting…" would still be there
            self.live_view.set_placeholder(text if result.error else f"{text}, no preview shown")
        level = "error" if result.status in ("failed", "interrupted") else "info"
        frames = (result.summary or {}).get("frames", 0)
        self.report(level, f"{text} ({frames} frames recorded)")
