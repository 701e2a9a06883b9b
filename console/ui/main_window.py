"""The Device Lab Console main window: it assembles the docks and tabs and wires them.

What lives here: which docks and tabs the window has and how they hand
work to each other — the Devices, Model package, Input and Run docks feed a
run request; a :class:`~console.ui.live.supervisor.RunSupervisor` runs it
(one at a time, a new run or a checked replay of a recorded session; its
:class:`~console.ui.busy_devices.BusyDevices` keeps the run, a plan run and a
sweep off each other's devices); a
:class:`~console.ui.live.presenter.LivePresenter` shows it in the live view,
graphs, summary and status bar; the session tabs (Sessions, Playback,
Compare, Matrix) browse the log; bookmarks; what follows a run (an unknown
host key to confirm, a replay to check). The frame around the docks
(commands and menus, layout, preferences, help boxes, startup choices) is
in ``console.ui.window``.

What must not live here: device, inference or recording logic (that is
``console.session`` / ``console.devices``), reaching into another dock's
widgets (docks have small public methods), and anything that waits on IO
in the GUI thread (jobs and the run worker do that).

Every error ends up in one place, :meth:`MainWindow.report`: the log pane,
the status bar and the log file; a refused or failed run also shows its
line in the Run dock and the summary panel. The window never dies of one.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from console.session.browse import ReplayStart
from console.session.run import RunResult
from console.session.trust import package_policy
from console.ui import collector
from console.ui import theme as themes
from console.ui.busy_devices import BusyDevices
from console.ui.devices.panel import DeviceEntry, DevicesPanel, open_for_window
from console.ui.jobs import JobRunner
from console.ui.live.bookmarks import LiveBookmarks
from console.ui.live.graphs_tab import GraphsTab
from console.ui.live.input_panel import InputPanel
from console.ui.live.launch import run_choice
from console.ui.live.present import PresentMode
from console.ui.live.presenter import LivePresenter
from console.ui.live.profile_view import add_profile_dock
from console.ui.live.run_panel import RunPanel
from console.ui.live.summary_panel import SummaryPanel
from console.ui.live.supervisor import Launch, RunSupervisor
from console.ui.live.view import LiveView
from console.ui.packages.panel import PackagePanel, dropped_path
from console.ui.plan.desk import PlanDesk
from console.ui.qt import (
    QCloseEvent,
    QDockWidget,
    QDragEnterEvent,
    QDropEvent,
    QMainWindow,
    QShowEvent,
    Qt,
    QTabWidget,
    QTimer,
    QWidget,
    Slot,
    on_color_scheme_changed,
)
from console.ui.sessions.compare import CompareView
from console.ui.sessions.matrix import MatrixView
from console.ui.sessions.playback import PlaybackView
from console.ui.sessions.view import SessionsView
from console.ui.window.actions import build_commands, build_menus
from console.ui.window.layout import WindowLayout, make_dock
from console.ui.window.log_pane import LogPane
from console.ui.window.prefs import Preferences
from console.ui.window.preload import preload
from console.ui.window.startup import StartupChoices, preselect
from console.ui.window.status import StatusBar

__all__ = ["MainWindow", "StartupChoices"]

log = logging.getLogger("devicelab.ui")


class MainWindow(QMainWindow):
    def __init__(self, choices: StartupChoices, theme_choice: str | None = None) -> None:
        super().__init__()
        # before any job thread exists: cycles holding widgets are freed in this thread only
        collector.install()
        self.setObjectName("mainWindow")
        self.setWindowTitle("Device Lab Console")
        self.setAcceptDrops(True)
        self.choices = choices
        self.db_path = choices.db_path
        self.jobs = JobRunner(self)
        self.prefs = Preferences(self.jobs, self)
        self.theme_choice = theme_choice or str(self.prefs.get("theme") or "system")
        self.theme = themes.resolve(self.theme_choice)
        self.supervisor = RunSupervisor(self.db_path, self, BusyDevices())
        self._closing = False
        #: keys or policy changed during a run: re-verify the package when it ends
        self._reverify_after_run = False
        self._preloaded = False
        self.commands = build_commands(self)
        self._build_docks()
        build_menus(self, self.commands, self._docks)
        #: presentation mode (View → Present, F11; Esc leaves)
        self.presentation = PresentMode(self)
        self.layout_state.restore()
        preselect(self)
        self._update_actions()
        self.supervisor.busy_devices.on_change(self._update_actions)
        if self.prefs.error:
            self.report("error", f"{self.prefs.error} (using defaults)")
        on_color_scheme_changed(self._on_scheme_changed)

    # -- construction ------------------------------------------------------------------
    def _dock(self, title: str, name: str, widget: QWidget,
              area: Qt.DockWidgetArea) -> QDockWidget:
        dock = make_dock(self, title, name, widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        self.setDockNestingEnabled(True)
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.graph_holder = GraphsTab(self.theme)
        self.sessions_view = SessionsView(self.jobs, self.db_path,
                                          lambda: self.devices.replay_choices())
        self.playback = PlaybackView(self.jobs, self.db_path, self.theme)
        self.compare_view = CompareView(self.jobs, self.db_path, self.theme)
        self.matrix_view = MatrixView(self.jobs, self.db_path)
        self.plan_desk = PlanDesk(self)
        self.plan_view = self.plan_desk.view
        self.tabs = QTabWidget()
        self.tabs.setObjectName("centralTabs")
        self.tabs.setDocumentMode(True)
        for w, title in ((self.graph_holder, "Live graphs"), (self.sessions_view, "Sessions"),
                         (self.playback, "Playback"), (self.compare_view, "Compare"),
                         (self.matrix_view, "Matrix"), (self.plan_view, "Plan")):
            self.tabs.addTab(w, title)
        self.tabs.currentChanged.connect(self._on_tab)
        self.setCentralWidget(self.tabs)

        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        self.run_panel = RunPanel(self.commands.start, self.commands.stop)
        self.package = PackagePanel(self.jobs)
        self.input = InputPanel(self.jobs)
        self.devices = DevicesPanel(self.jobs)
        self.live_view = LiveView()
        self.summary = SummaryPanel()
        self.log_pane = LogPane()
        self.run_dock = self._dock("Run", "runDock", self.run_panel, left)
        self.package_dock = self._dock("Model package", "packageDock", self.package, left)
        self.input_dock = self._dock("Input", "inputDock", self.input, left)
        self.devices_dock = self._dock("Devices", "devicesDock", self.devices, left)
        self.view_dock = self._dock("Live view", "liveViewDock", self.live_view, right)
        self.summary_dock = self._dock("Summary", "summaryDock", self.summary, right)
        self.log_dock = self._dock("Log", "logDock", self.log_pane,
                                   Qt.DockWidgetArea.BottomDockWidgetArea)
        self.profile_view, self.profile_dock = add_profile_dock(self, self.summary_dock)
        self.resizeDocks([self.run_dock, self.view_dock], [390, 470], Qt.Orientation.Horizontal)
        self.resizeDocks([self.log_dock], [150], Qt.Orientation.Vertical)
        self.resizeDocks([self.view_dock, self.summary_dock], [430, 330],
                         Qt.Orientation.Vertical)
        side = [self.run_dock, self.package_dock, self.input_dock, self.devices_dock,
                self.view_dock, self.summary_dock, self.profile_dock]
        self._docks = [*side, self.log_dock]
        self.layout_state = WindowLayout(self, self._docks, side, self.graph_holder)
        self.status = StatusBar()
        self.setStatusBar(self.status)
        self.presenter = LivePresenter(self.supervisor, self.graph_holder, self.live_view,
                                       self.summary, self.run_panel, self.status,
                                       self.log_pane.add, self.report, str(self.db_path), self)
        self.bookmarks = LiveBookmarks(self.supervisor, self.graph_holder, self.jobs,
                                       self.db_path, self.report, self)
        self._wire()

    def _wire(self) -> None:
        self.supervisor.profileReady.connect(self.profile_view.show_profile)
        sv = self.sessions_view
        for source in (sv, self.playback, self.compare_view, self.matrix_view, self.devices,
                       self.prefs, self.supervisor):
            source.message.connect(self.report)  # the one place every message goes
        sv.replayReady.connect(self.start_replay)
        sv.compareRequested.connect(self.show_comparison)
        sv.playRequested.connect(self.show_playback)
        sv.changed.connect(self.matrix_view.mark_stale)
        sv.bookmarkAdded.connect(self.playback.reload_bookmarks)
        self.playback.bookmarkRequested.connect(
            lambda sid, note, frame, t: sv.store_bookmark(sid, note, frame=frame, time_s=t))
        self.matrix_view.openSession.connect(self.show_session)
        self.plan_desk.wire()
        self.devices.selected.connect(self.show_device)
        self.devices.probed.connect(self._on_device_probed)
        self.package.verified.connect(self._on_package_verified)
        self.package.opened.connect(self._remember_package)
        self.graph_holder.spikeAnnotated.connect(
            lambda s: self.log_pane.add("warning", f"latency spike at {s.t:.1f} s: "
                                                   f"{s.label()}", "spike"))
        self.supervisor.sessionCreated.connect(lambda _sid: sv.refresh())
        self.supervisor.runEnded.connect(self._on_run_ended)
        self.bookmarks.stored.connect(sv.reload_details_of)

    @property
    def plots(self) -> Any:
        """The live graphs (built on first use, normally just after the first show)."""
        return self.graph_holder.plots

    # -- the current (or last) run -----------------------------------------------------
    @property
    def running(self) -> bool:
        return self.supervisor.running

    @property
    def frames_received(self) -> int:
        """Frames of the current (or last) run that reached the window."""
        run = self.supervisor.run
        return run.frames_total if run is not None else 0

    @property
    def last_result(self) -> RunResult | None:
        run = self.supervisor.run
        return run.result if run is not None else None

    @property
    def session_id(self) -> int | None:
        run = self.supervisor.run
        return run.session_id if run is not None else None

    @property
    def agent_pid(self) -> int | None:
        """The agent's pid on its device (from hello)."""
        run = self.supervisor.run
        return run.agent_pid if run is not None else None

    # -- messages ----------------------------------------------------------------------
    @Slot(str, str)
    def report(self, level: str, text: str) -> None:
        """The one place every message goes: log pane (+ log file) and status bar."""
        self.log_pane.add(level, text)
        self.status.showMessage(text, 0 if level == "error" else 6000)

    # -- device / package ----------------------------------------------------------------
    def show_device(self, e: DeviceEntry) -> None:
        """The selected device: its name in the status bar, its providers and cameras."""
        self.status.show_device(e.name)
        self._update_actions()  # Start says so when a plan run or sweep uses this device
        facts = e.facts
        self.package.set_providers(facts.get("providers") if facts else None)
        self.input.set_cameras(facts.get("cameras") if facts else None, e.name)

    def _on_device_probed(self, e: DeviceEntry) -> None:
        if self.devices.current() is e:
            self.show_device(e)

    def _on_package_verified(self, ver: Any) -> None:
        if ver is None:
            self.status.show_package(None)
            self.live_view.set_labels(None)
            return
        pkg = ver.package
        self.status.show_package(pkg.title if pkg else None, refused=pkg is None)
        if pkg is not None:
            self.live_view.set_labels(pkg.labels)
        if ver.ok:
            self.log_pane.add("info", f"package {pkg.title if pkg else ver.source} verified")
        else:
            self.report("error", f"package refused: {ver.first_line()}")

    def _remember_package(self, path: str) -> None:
        recent = [path] + [p for p in self.package.recent() if p != path]
        self.package.set_recent(recent)
        self.prefs.save(recent_packages=recent[:8])

    # -- run -----------------------------------------------------------------------------
    def _update_actions(self) -> None:
        running = self.running
        self.sessions_view.set_run_active(running or self._closing)
        self.commands.allow_start(not running and not self._closing,
                                  self.supervisor.refusal(self.devices.current()))
        self.commands.stop.setEnabled(running)
        self.commands.probe.setEnabled(not running)
        for dock in (self.package, self.input, self.devices):
            dock.set_editable(not running)

    def start_run(self) -> None:
        if self.running or self._closing:
            return
        choice = run_choice(self.package, self.input, self.devices, self.run_panel)
        if isinstance(choice, str):
            return self._refuse(choice)
        req = choice.request
        self.prefs.save(last_device=choice.entry.spec, last_package=req.package,
                        last_input=req.input if self.input.kind() != "stream" else "",
                        last_truth=req.truth or "", last_limits=choice.limits)
        if choice.package is not None:
            self.live_view.set_labels(choice.package.labels)
        self.launch(Launch(choice.entry, req, package_policy(), choice.title, choice.line))

    def start_replay(self, start: ReplayStart) -> None:
        """Run a replay the Sessions tab planned (package and input already checked
        against the recorded sha256) on the device it chose."""
        plan = start.plan
        if self.running or self._closing:
            self.report("error", f"cannot reproduce session {plan.original_id}: a run is going; "
                                 "reproduce it when the run has ended")
            return
        entry = self.devices.entry_for(plan.device)
        self.live_view.set_labels(start.labels)
        self.launch(Launch(entry, plan.request, package_policy(),
                           start.title or Path(plan.package_path).name,
                           f"reproducing session {plan.original_id} on {entry.name}: "
                           f"{Path(plan.package_path).name} with {plan.input_spec} "
                           "(sha256 checked)", plan.original_id))

    def launch(self, launch: Launch) -> None:
        """Start ``launch`` (again): the run is watched live, so the Live graphs tab (and
        its docks) come to the front."""
        if self.running or self._closing:
            return
        prompt = self.devices.prompt
        refusal = self.supervisor.start(launch, lambda: open_for_window(launch.entry, prompt))
        if refusal is not None:
            return self._refuse(refusal)
        self.tabs.setCurrentWidget(self.graph_holder)
        self.devices.set_state(launch.entry, "running", None)
        self.presenter.started(launch.line)
        self._update_actions()

    def start_when_ready(self) -> None:
        """Start once the preselected package has verified and the recording has been
        read (``--start``): a refusal of either is then a refusal, not a failed run."""
        if self.package.pending or self.input.pending:
            QTimer.singleShot(50, self, self.start_when_ready)  # not after the window went
            return
        self.start_run()

    def _refuse(self, text: str) -> None:
        self.presenter.refuse(text)
        self.report("error", f"cannot start: {text}")

    def stop_run(self) -> None:
        if not self.running:
            return
        self.supervisor.stop()
        self.run_panel.set_state("stopping", "asking the agent to finish its frame…")
        self.log_pane.add("info", "stop requested")

    @Slot()
    def _on_run_ended(self) -> None:
        self.presenter.ended()
        launch, run = self.supervisor.launch, self.supervisor.run
        entry = launch.entry if launch is not None else None
        if entry is not None and entry.state == "running":
            self.devices.set_state(entry, "ready" if entry.facts else "unknown", None)
        self._update_actions()
        if self._closing:
            self.close()
            return
        self.sessions_view.refresh()
        self.matrix_view.mark_stale()
        if self._reverify_after_run:
            self._reverify_after_run = False
            self._reverify_package()
        res = run.result if run is not None else None
        if run is not None and run.replay_of is not None and res is not None \
                and res.session_id is not None:
            self.sessions_view.check_replay(run.replay_of, res.session_id)
        q, self.supervisor.host_question = self.supervisor.host_question, None
        if q is not None and entry is not None and launch is not None:
            if self.devices.confirm_host_key(entry, q.host, q.key_type, q.fingerprint):
                self.log_pane.add("info", f"{entry.name}: trusting host key {q.fingerprint}")
                # the same run again (a replay stays a replay), now with that key
                QTimer.singleShot(0, lambda: self.launch(launch))
            else:
                self._refuse(f"{entry.name}: host key {q.fingerprint} refused; not connected")

    # -- session tabs --------------------------------------------------------------------
    def _on_tab(self, index: int) -> None:
        w = self.tabs.widget(index)
        self.layout_state.tab_shown(live=w is self.graph_holder)
        if w is self.sessions_view and not self.sessions_view.loaded:
            self.sessions_view.refresh()

    def show_session(self, session_id: int) -> None:
        """The Sessions tab with ``session_id`` selected and its details shown."""
        self.tabs.setCurrentWidget(self.sessions_view)
        self.sessions_view.select_session(session_id)

    def show_comparison(self, a: int, b: int) -> None:
        self.tabs.setCurrentWidget(self.compare_view)
        self.compare_view.set_pair(a, b)

    def show_playback(self, session_id: int, at: float | None = None) -> None:
        self.tabs.setCurrentWidget(self.playback)
        self.playback.load(session_id, at)

    def reset_layout(self) -> None:
        self.tabs.setCurrentWidget(self.graph_holder)
        self.layout_state.reset()

    # -- bookmarks -------------------------------------------------------------------------
    def bookmark_now(self) -> None:
        """Ctrl+B: a note at the newest frame of the run; without a run, at the
        playback's position when the Playback tab is shown."""
        if self.running:
            self.bookmarks.ask()
        elif self.tabs.currentWidget() is self.playback and self.playback.data is not None:
            self.playback.ask_bookmark()
        else:
            self.report("info", "nothing to bookmark: start a run (F5), or play back a "
                                "session (Sessions tab) and bookmark its playhead")

    # -- graphs / theme / trust ------------------------------------------------------------
    def toggle_pause(self) -> None:
        self.plots.set_paused(not self.plots.paused)

    def set_theme_choice(self, choice: str) -> None:
        self.theme_choice = choice
        self.prefs.save(theme=choice)
        self._apply_theme()

    def _on_scheme_changed(self, *_args: Any) -> None:
        if self.theme_choice == "system":
            self._apply_theme()

    def _apply_theme(self) -> None:
        self.theme = themes.apply_choice(self.theme_choice,
                                         (self.graph_holder, self.playback, self.compare_view))

    def show_trust_dialog(self) -> None:
        from console.ui.packages.trust_dialog import open_trust_dialog

        open_trust_dialog(self.jobs, self, self._reverify_package)

    def _reverify_package(self) -> None:
        """Keys or the policy changed: the current package's verdict may have too."""
        if self.running:
            self._reverify_after_run = True  # the run checked its own package
            return
        self.package.reverify()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._preloaded:  # the late imports, by a job, once on screen
            self._preloaded = True
            preload(self.jobs)
            QTimer.singleShot(0, self, self.layout_state.shown)

    # -- drag and drop anywhere in the window ------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if not self.running and dropped_path(event.mimeData()) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        p = dropped_path(event.mimeData())
        if p is not None and not self.running:
            event.acceptProposedAction()
            self.package.set_path(p)

    # -- closing ---------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        if self.plan_desk.stop_for_close():  # a plan or sweep first (sessions kept)
            event.ignore()
            return
        if self.running:
            event.ignore()
            if self._closing:
                self.report("warning", "still stopping the run; closing when it has ended")
                return
            self._closing = True
            self._update_actions()
            self.report("info", "stopping the run before closing (the session is kept)…")
            self.supervisor.stop()
            return
        self.presentation.set(False)
        self.presenter.timer.stop()
        self.playback.stop()
        self.layout_state.save()
        self.jobs.wait_all()
        self.prefs.flush()
        event.accept()
