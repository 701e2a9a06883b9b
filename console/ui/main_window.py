"""The Device Lab Console main window: docks around the live graphs, one run at a time.

What lives here: the wiring. Which device, package and input are chosen
(the docks), starting and stopping a run (a :class:`RunWorker` in its own
QThread via :class:`RunController`) — a new one or a checked replay of a
recorded session — the ~30 Hz display timer that drains the run's
:class:`LiveFeed` into the live view and graphs, bookmarks taken during a
run, the status bar, the log pane and the summary panel, the session tabs
(Sessions, Playback, Compare, Matrix: ``console.ui.sessions.view`` and
friends) and how they hand work to each other, window state (QSettings)
and user preferences (the settings file).

What must not live here: device, inference or recording logic (that is
``console.session`` / ``console.devices``), and anything that waits on IO in
the GUI thread (jobs and the run worker do that).

Every error ends up in one place, :meth:`MainWindow.report`: the log pane,
the status bar and the log file; a refused or failed run also shows its
line in the Run dock and the summary panel. The window never dies of one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console import __version__
from console.core import protocol as P
from console.core.paths import config_dir, log_dir, resources_dir
from console.core.settings import SettingsError, load_settings, update_settings
from console.devices.base import AgentOptions, DeployProgress
from console.session.run import RunRequest, RunResult
from console.ui import collector
from console.ui import theme as themes
from console.ui.devices.panel import DeviceEntry, DevicesPanel, HostKeyDialog, open_for_window
from console.ui.jobs import JobRunner, error_text
from console.ui.live.data import LiveFeed
from console.ui.live.input_panel import InputPanel, truth_for
from console.ui.live.run_panel import RunPanel
from console.ui.live.run_worker import HostKeyQuestion, RunController, RunWorker
from console.ui.live.summary_panel import SummaryPanel
from console.ui.live.view import LiveView
from console.ui.packages.panel import PackagePanel, _dropped_path
from console.ui.qt import (
    QAction,
    QActionGroup,
    QApplication,
    QByteArray,
    QCloseEvent,
    QDialog,
    QDockWidget,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSettings,
    QShowEvent,
    Qt,
    QTabWidget,
    QTimer,
    QVBoxLayout,
    QWidget,
    Slot,
    on_color_scheme_changed,
)
from console.ui.sessions.compare import CompareView
from console.ui.sessions.matrix import MatrixView
from console.ui.sessions.playback import PlaybackView
from console.ui.sessions.view import ReplayStart, SessionsView
from console.ui.window.log_pane import LogPane
from console.ui.wording import SIGNING, for_window

log = logging.getLogger("devicelab.ui")

#: display timer period: ~30 Hz
TICK_MS = 33
#: after Stop (or closing), how long the agent gets before it is killed
STOP_DEADLINE_MS = 12_000
#: the window's preview request: enough to look smooth, cheap on a board
PREVIEW_FPS = 15.0
PREVIEW_WIDTH = 480
STATE_VERSION = 1
DEMO_PACKAGE = ("packages", "digits-cnn")
DEMO_VIDEO = ("recordings", "digits-demo.avi")


@dataclass
class StartupChoices:
    """What the command line asked for (anything None falls back to preferences/demo)."""

    db_path: Path
    package: str | None = None
    input: str | None = None
    truth: str | None = None
    device: str | None = None
    start: bool = False


def demo_package() -> Path:
    return resources_dir().joinpath(*DEMO_PACKAGE)


def demo_video() -> Path:
    return resources_dir().joinpath(*DEMO_VIDEO)


def cold_start_line(msg: P.ColdStart) -> str:
    """The log line for a cold start: every figure with its unit and what it measured."""
    return (f"cold start {msg.total_ms:.0f} ms on {msg.provider}: package check "
            f"{msg.package_ms:.0f} ms + onnxruntime session {msg.session_ms:.0f} ms + first "
            f"inference {msg.first_infer_ms:.1f} ms")


class MainWindow(QMainWindow):
    devices: DevicesPanel
    package: PackagePanel
    input: InputPanel
    log_pane: LogPane

    def __init__(self, choices: StartupChoices, theme_choice: str | None = None) -> None:
        super().__init__()
        # before any job thread exists: cycles holding widgets are freed in this thread only
        collector.install()
        self.setObjectName("mainWindow")
        self.setWindowTitle("Device Lab Console")
        self.setAcceptDrops(True)
        self.choices = choices
        self.db_path = choices.db_path
        self.prefs: dict[str, Any] = {}
        #: preferences changed but not written yet; a write job is running
        self._prefs_pending: dict[str, Any] = {}
        self._prefs_writing = False
        self._settings_error: str | None = None
        try:
            self.prefs = dict(load_settings().preferences)
        except SettingsError as exc:
            self._settings_error = str(exc)
        self.theme_choice = theme_choice or str(self.prefs.get("theme") or "system")
        self.theme = themes.resolve(self.theme_choice)

        self.jobs = JobRunner(self)
        self.runs = RunController(self)
        self.runs.threadEnded.connect(self._on_run_thread_ended)
        self.feed = LiveFeed()
        self.worker: RunWorker | None = None
        self.run_entry: DeviceEntry | None = None
        self.last_result: RunResult | None = None
        self.session_id: int | None = None
        #: the agent's pid on its device (from hello)
        self.agent_pid: int | None = None
        self._closing = False
        self._restart_after: DeviceEntry | None = None
        self._host_question: HostKeyQuestion | None = None
        self._run_started = 0.0
        self._run_ended: float | None = None
        self._frames_total = 0
        self._max_index = -1
        self._last_status = 0.0
        self._previews = 0
        self._cold_ms: float | None = None
        self._warnings = 0
        self._errors = 0
        #: (frame index, device ts) of the newest frame of the run (bookmarks)
        self._newest_frame: tuple[int, float] | None = None
        #: what the run is (for the summary's title): package title
        self._run_title = ""
        #: the session the running replay reproduces
        self._replay_of: int | None = None
        #: keys or policy changed during a run: re-verify the package when it ends
        self._reverify_after_run = False
        #: what the last run was started with (entry, request, policy, title, line,
        #: replay_of), to start it again once an unknown host key is trusted
        self._last_launch: tuple[Any, ...] | None = None
        #: the dock layout of the Live graphs tab while a session tab is shown
        self._live_state: QByteArray | None = None
        self._deadline = QTimer(self)
        self._deadline.setSingleShot(True)
        self._deadline.timeout.connect(self._stop_deadline)

        self._build_actions()
        self._build_widgets()
        self._build_menus()
        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self._restore_window()
        self._preselect()
        self._update_actions()
        if self._settings_error:
            self.report("error", f"{self._settings_error} (using defaults)")
        on_color_scheme_changed(self._on_scheme_changed)

    # -- construction ----------------------------------------------------------------
    def _action(self, text: str, slot: Any,
                shortcut: QKeySequence | QKeySequence.StandardKey | str | None = None,
                tip: str = "") -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
            act.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        if tip:
            act.setToolTip(tip + (f" ({act.shortcut().toString()})" if shortcut else ""))
            act.setStatusTip(tip)
        act.triggered.connect(slot)
        return act

    def _build_actions(self) -> None:
        self.start_action = self._action("▶  Start", self.start_run, "F5",
                                         "Run the package on the device")
        self.start_action.setObjectName("startAction")
        self.stop_action = self._action("■  Stop", self.stop_run, "Shift+F5",
                                        "Stop the run cleanly; the session is kept")
        self.stop_action.setObjectName("stopAction")
        self.probe_action = self._action("Probe device", lambda: self.devices.probe(), "Ctrl+P",
                                         "Connect to the selected device and read its card")
        self.open_dir_action = self._action("Open package folder…",
                                            lambda: self.package.choose_folder(), "Ctrl+O")
        self.open_zip_action = self._action("Open package .zip…",
                                            lambda: self.package.choose_zip(), "Ctrl+Shift+O")
        self.open_video_action = self._action("Open recording…",
                                              lambda: self.input.choose_video(), "Ctrl+I")
        self.pause_action = self._action("Pause graphs", self._toggle_pause, "Ctrl+Space",
                                         "Freeze the graphs to inspect them")
        self.quit_action = self._action("Quit", self.close, QKeySequence.StandardKey.Quit)
        self.help_action = self._action("Keyboard shortcuts", self._show_shortcuts, "F1")
        self.reset_layout_action = self._action("Reset layout", self._reset_layout)
        self.trust_action = self._action(
            "Package signing…", self._show_trust_dialog, "Ctrl+Shift+K",
            "Trusted signing keys and what happens to unsigned packages")
        self.trust_action.setObjectName("trustAction")
        self.bookmark_action = self._action(
            "Bookmark this moment…", self.bookmark_now, "Ctrl+B",
            "Store a note at the current frame of the run (or of the playback)")
        self.bookmark_action.setObjectName("bookmarkAction")
        self.tab_actions = [
            self._action(name, lambda _c=False, k=k: self.tabs.setCurrentIndex(k),
                         f"Ctrl+{k + 1}", f"Show the {name} tab")
            for k, name in enumerate(("Live graphs", "Sessions", "Playback", "Compare",
                                      "Matrix"))]

    def _dock(self, title: str, name: str, widget: QWidget,
              area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        return dock

    def _build_widgets(self) -> None:
        self.setDockNestingEnabled(True)
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        # The graphs (pyqtgraph: ~0.2 s to import, more to lay out and paint) are built
        # right after the window is first shown, so the window appears sooner.
        self._plots: Any = None
        self._graph_window_s: int | None = None
        self.graph_holder = QWidget()
        gl = self._graph_layout = QVBoxLayout(self.graph_holder)
        gl.setContentsMargins(0, 0, 0, 0)
        self._graph_loading = QLabel("loading the graphs…")
        self._graph_loading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        gl.addWidget(self._graph_loading)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("centralTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.graph_holder, "Live graphs")
        self.sessions_view = SessionsView(self.jobs, self.db_path, self._replay_devices)
        self.playback = PlaybackView(self.jobs, self.db_path, self.theme)
        self.compare_view = CompareView(self.jobs, self.db_path, self.theme)
        self.matrix_view = MatrixView(self.jobs, self.db_path)
        self.tabs.addTab(self.sessions_view, "Sessions")
        self.tabs.addTab(self.playback, "Playback")
        self.tabs.addTab(self.compare_view, "Compare")
        self.tabs.addTab(self.matrix_view, "Matrix")
        self.tabs.currentChanged.connect(self._on_tab)
        self.setCentralWidget(self.tabs)
        sv = self.sessions_view
        sv.message.connect(self.report)
        sv.replayReady.connect(self.start_replay)
        sv.compareRequested.connect(self.show_comparison)
        sv.playRequested.connect(self.show_playback)
        sv.changed.connect(self.matrix_view.mark_stale)
        sv.bookmarkAdded.connect(self.playback.reload_bookmarks)
        self.playback.message.connect(self.report)
        self.playback.bookmarkRequested.connect(
            lambda sid, note, frame, t: self.sessions_view.store_bookmark(
                sid, note, frame=frame, time_s=t))
        self.compare_view.message.connect(self.report)
        self.matrix_view.message.connect(self.report)
        self.matrix_view.openSession.connect(self.show_session)

        left = Qt.DockWidgetArea.LeftDockWidgetArea
        right = Qt.DockWidgetArea.RightDockWidgetArea
        self.run_panel = RunPanel(self.start_action, self.stop_action)
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
        self.resizeDocks([self.run_dock, self.view_dock], [390, 470],
                         Qt.Orientation.Horizontal)
        self.resizeDocks([self.log_dock], [150], Qt.Orientation.Vertical)
        self.resizeDocks([self.view_dock, self.summary_dock], [430, 330],
                         Qt.Orientation.Vertical)
        self._default_state = self.saveState(STATE_VERSION)

        self.devices.message.connect(self.report)
        self.devices.selected.connect(self._on_device_selected)
        self.devices.probed.connect(self._on_device_probed)
        self.package.verified.connect(self._on_package_verified)
        self.package.opened.connect(self._remember_package)

        sb = self.statusBar()
        self.status_device = QLabel()
        self.status_package = QLabel()
        self.status_session = QLabel("no session")
        self.status_frames = QLabel("frames 0 · dropped 0")
        self.status_frames.setObjectName("statusFrames")
        self.status_elapsed = QLabel("")
        for w in (self.status_device, self.status_package, self.status_session,
                  self.status_frames, self.status_elapsed):
            w.setContentsMargins(6, 0, 6, 0)
            sb.addPermanentWidget(w)

    def _build_menus(self) -> None:
        mb = self.menuBar()
        m = mb.addMenu("&File")
        for a in (self.open_dir_action, self.open_zip_action, self.open_video_action):
            m.addAction(a)
        m.addSeparator()
        m.addAction(self.quit_action)
        m = mb.addMenu("&Run")
        for a in (self.start_action, self.stop_action, self.probe_action):
            m.addAction(a)
        m.addSeparator()
        m.addAction(self.bookmark_action)
        sv = self.sessions_view
        m = mb.addMenu("&Sessions")
        for a in (sv.reproduce_action, sv.compare_action, sv.play_action):
            m.addAction(a)
        m.addSeparator()
        for a in (sv.export_action, sv.import_action, sv.delete_action):
            m.addAction(a)
        m.addSeparator()
        m.addAction(sv.refresh_action)
        m = mb.addMenu("&View")
        for d in (self.run_dock, self.package_dock, self.input_dock, self.devices_dock,
                  self.view_dock, self.summary_dock, self.log_dock):
            m.addAction(d.toggleViewAction())
        m.addSeparator()
        for a in self.tab_actions:
            m.addAction(a)
        m.addSeparator()
        m.addAction(self.pause_action)
        m.addAction(self.reset_layout_action)
        tm = m.addMenu("Theme")
        group = QActionGroup(self)
        for choice in themes.CHOICES:
            act = QAction(choice.capitalize() if choice != "system" else "Follow the system",
                          self)
            act.setCheckable(True)
            act.setChecked(choice == self.theme_choice)
            act.triggered.connect(lambda _c=False, ch=choice: self.set_theme_choice(ch))
            group.addAction(act)
            tm.addAction(act)
        m = mb.addMenu("Se&ttings")
        m.addAction(self.trust_action)
        m = mb.addMenu("&Help")
        m.addAction(self.help_action)
        m.addAction(self._action("Where are my files?", self._show_paths))
        m.addAction(self._action("About", self._show_about))
        tb = self.addToolBar("Main")
        tb.setObjectName("mainToolBar")
        tb.setMovable(False)
        for a in (self.start_action, self.stop_action):
            tb.addAction(a)
        tb.addSeparator()
        tb.addAction(self.probe_action)
        tb.addAction(self.pause_action)
        tb.addAction(self.bookmark_action)

    @property
    def plots(self) -> Any:
        """The live graphs, built on first use (normally just after the first show)."""
        if self._plots is None:
            from console.ui.live.plots import LivePlots

            plots = LivePlots(theme=self.theme)
            plots.spikeAnnotated.connect(self._on_spike)
            if self._graph_window_s is not None:
                plots.window_spin.setValue(self._graph_window_s)
            self._graph_loading.hide()
            self._graph_layout.addWidget(plots)
            self._plots = plots
        return self._plots

    def _on_spike(self, spike: Any) -> None:
        self.log_pane.add("warning", f"latency spike at {spike.t:.1f} s: {spike.label()}",
                          "spike")

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._plots is None:
            QTimer.singleShot(30, lambda: self.plots)

    # -- window state --------------------------------------------------------------------
    def _qsettings(self) -> QSettings:
        return QSettings(str(config_dir() / "window.ini"), QSettings.Format.IniFormat)

    def _restore_window(self) -> None:
        qs = self._qsettings()
        geo = qs.value("geometry")
        state = qs.value("state")
        if isinstance(geo, QByteArray) and not geo.isEmpty():
            self.restoreGeometry(geo)
        else:
            screen = QApplication.primaryScreen()
            avail = screen.availableGeometry() if screen is not None else None
            if avail is not None:
                w, h = min(1600, avail.width()), min(1000, avail.height())
                self.resize(w, h)
                self.move(avail.x() + (avail.width() - w) // 2,
                          avail.y() + (avail.height() - h) // 2)
            else:
                self.resize(1600, 1000)
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state, STATE_VERSION)
        window_s = qs.value("graph_window_s")
        if window_s is not None:
            try:
                self._graph_window_s = int(str(window_s))
            except (TypeError, ValueError):
                pass

    def _save_window(self) -> None:
        qs = self._qsettings()
        qs.setValue("geometry", self.saveGeometry())
        # on a session tab, the layout worth keeping is the live one
        qs.setValue("state", self._live_state if self._live_state is not None
                    else self.saveState(STATE_VERSION))
        if self._plots is not None:
            qs.setValue("graph_window_s", self._plots.window_spin.value())
        qs.sync()

    def _reset_layout(self) -> None:
        self._live_state = None
        self.tabs.setCurrentWidget(self.graph_holder)
        self.restoreState(self._default_state, STATE_VERSION)
        for d in (self.run_dock, self.package_dock, self.input_dock, self.devices_dock,
                  self.view_dock, self.summary_dock, self.log_dock):
            d.setVisible(True)

    # -- preferences ---------------------------------------------------------------------
    def _save_prefs(self, **changes: Any) -> None:
        """Remember preferences: at once in ``self.prefs``, in the settings file by a job.

        One write at a time, in order: changes that arrive while a write runs are
        merged and written next (the newest value of a key wins). What is still
        pending when the window closes is written by :meth:`closeEvent`.
        """
        self.prefs.update(changes)
        self._prefs_pending.update(changes)
        if not self._prefs_writing:
            self._write_prefs()

    def _write_prefs(self) -> None:
        changes, self._prefs_pending = self._prefs_pending, {}
        self._prefs_writing = True

        def change(s: Any) -> None:
            s.preferences.update(changes)

        def ended(exc: BaseException | None = None) -> None:
            self._prefs_writing = False
            if exc is not None:
                self.report("warning", f"preferences not saved: {error_text(exc)}")
            if self._prefs_pending:
                self._write_prefs()

        self.jobs.submit("save-prefs", lambda: update_settings(change), lambda _s: ended(),
                         ended)

    def _flush_prefs(self) -> None:
        """At close, after the jobs ended: write what no job wrote (synchronously)."""
        changes, self._prefs_pending = self._prefs_pending, {}
        if not changes:
            return
        try:
            update_settings(lambda s: s.preferences.update(changes))
        except SettingsError as exc:
            log.warning("preferences not saved at close: %s", exc)

    def _remember_package(self, path: str) -> None:
        recent = [path] + [p for p in self.package.recent() if p != path]
        self.package.set_recent(recent)
        self._save_prefs(recent_packages=recent[:8])

    def _preselect(self) -> None:
        """First start: This computer, the demo package and recording (with its truth),
        so Start works at once. Later: what was used last, unless the command line says."""
        c, p = self.choices, self.prefs
        recent = [r for r in p.get("recent_packages") or [] if isinstance(r, str)]
        self.package.set_recent(recent)
        device = c.device or p.get("last_device") or "local"
        if not self.devices.select(str(device)):
            if c.device:
                self.report("error", f"device {c.device!r} is not in the device list; using "
                                     "This computer (add it in the Devices dock)")
            self.devices.select("local")
        current = self.devices.current()
        if current is not None:
            self._on_device_selected(current)
        pkg = c.package or p.get("last_package")
        if not pkg or (not c.package and not Path(str(pkg)).exists()):
            pkg = str(demo_package()) if demo_package().exists() else ""
        limits = p.get("last_limits") if isinstance(p.get("last_limits"), dict) else None
        if c.input:
            self._set_input_text(c.input, c.truth)
        elif p.get("last_input") and self._input_exists(str(p["last_input"])):
            self._set_input_text(str(p["last_input"]), p.get("last_truth"))
        elif demo_video().exists():
            self.input.set_video(str(demo_video()), truth_for(str(demo_video())) or "")
            if limits is None:
                self.input.fps_spin.setValue(30.0)  # the recording's own rate: watchable
        if limits:
            self.input.frames_spin.setValue(int(limits.get("frames") or 0))
            self.input.duration_spin.setValue(float(limits.get("duration") or 0))
            self.input.fps_spin.setValue(float(limits.get("fps") or 0))
            self.input.loop_check.setChecked(bool(limits.get("loop")))
        if pkg:
            self.package.set_path(str(pkg))
        local = self.devices.current()
        if local is not None and local.kind == "local":
            self.devices.probe(local)

    @staticmethod
    def _input_exists(text: str) -> bool:
        if text.startswith(("synthetic", "camera:", "/dev/video")) or "://" in text:
            return True
        return Path(text).expanduser().exists()

    def _set_input_text(self, text: str, truth: str | None) -> None:
        t = text.strip()
        if t.startswith("synthetic"):
            self.input.set_kind("synthetic")
            if ":" in t:
                try:
                    w, h = (int(v) for v in t.split(":", 1)[1].split("x"))
                    self.input.syn_w.setValue(w)
                    self.input.syn_h.setValue(h)
                except ValueError:
                    self.report("error", f"bad synthetic input {t!r}: use synthetic:WIDTHxHEIGHT")
        elif t.startswith(("camera:", "/dev/video")):
            self.input.set_kind("camera")
            idx = t.split(":", 1)[1] if t.startswith("camera:") else t[len("/dev/video"):]
            self.input.camera_combo.addItem(f"/dev/video{idx}", f"camera:{idx}")
            self.input.camera_combo.setEnabled(True)
        elif "://" in t:
            self.input.set_kind("stream")
            self.input.url_edit.setText(t)
        else:
            self.input.set_video(t, truth)

    # -- errors and messages --------------------------------------------------------------
    @Slot(str, str)
    def report(self, level: str, text: str) -> None:
        """The one place every message goes: log pane (+ log file) and status bar."""
        self.log_pane.add(level, text)
        self.statusBar().showMessage(text, 0 if level == "error" else 6000)

    # -- device / package reactions ----------------------------------------------------------
    def _on_device_selected(self, e: DeviceEntry) -> None:
        self.status_device.setText(f"device: {e.name}")
        self._apply_facts(e)

    def _on_device_probed(self, e: DeviceEntry) -> None:
        if self.devices.current() is e:
            self._apply_facts(e)

    def _apply_facts(self, e: DeviceEntry) -> None:
        facts = e.facts
        self.package.set_providers(facts.get("providers") if facts else None)
        self.input.set_cameras(facts.get("cameras") if facts else None, e.name)

    def _on_package_verified(self, ver: Any) -> None:
        if ver is None:
            self.status_package.setText("package: -")
            self.live_view.set_labels(None)
            return
        pkg = ver.package
        self.status_package.setText(f"package: {pkg.title}" if pkg else "package: refused")
        if pkg is not None:
            self.live_view.set_labels(pkg.labels)
        if ver.ok:
            self.log_pane.add("info", f"package {pkg.title if pkg else ver.source} verified")
        else:
            self.report("error", f"package refused: {ver.first_line()}")

    # -- run ------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.runs.running

    @property
    def frames_received(self) -> int:
        """Frames of the current (or last) run that reached the window."""
        return self._frames_total

    def _update_actions(self) -> None:
        running = self.running
        self.sessions_view.set_run_active(running or self._closing)
        self.start_action.setEnabled(not running and not self._closing)
        self.stop_action.setEnabled(running)
        self.probe_action.setEnabled(not running)
        self.package.set_editable(not running)
        self.input.set_editable(not running)
        self.devices.set_editable(not running)

    def start_run(self) -> None:
        if self.running or self._closing:
            return
        pkg_path = self.package.path_edit.text().strip()
        if not pkg_path:
            self._refuse("choose a model package first (Model package dock, Ctrl+O)")
            return
        ver = self.package.verification
        if ver is not None and not ver.ok and str(ver.source) == pkg_path:
            self._refuse(f"package refused: {for_window(ver.first_line(), SIGNING)}")
            return
        spec = self.input.spec()
        if not spec:
            kind = self.input.kind()
            self._refuse({"video": "choose a recording first (Input dock, Ctrl+I)",
                          "camera": "no camera chosen: probe the device (Ctrl+P) and pick one",
                          "stream": "enter a stream URL first (Input dock)"}.get(
                              kind, "choose an input first"))
            return
        entry = self.devices.current()
        if entry is None:
            self._refuse("choose a device first (Devices dock)")
            return
        limits = self.input.limits()
        opts = AgentOptions(frames=int(limits["frames"]), duration=float(limits["duration"]),
                            fps=float(limits["fps"]), loop=bool(limits["loop"]),
                            provider=self.package.provider(), preview_fps=PREVIEW_FPS,
                            preview_width=PREVIEW_WIDTH, telemetry_ms=100.0)
        note = self.run_panel.note_edit.text().strip()
        request = RunRequest(package=pkg_path, input=spec, options=opts, note=note,
                             truth=self.input.truth())
        from console.session.trust import package_policy

        policy = package_policy()
        self._save_prefs(last_device=entry.spec, last_package=pkg_path,
                         last_input=spec if self.input.kind() != "stream" else "",
                         last_truth=self.input.truth() or "", last_limits=limits)
        pkg = ver.package if ver is not None and ver.ok else None
        if pkg is not None:
            self.live_view.set_labels(pkg.labels)
        self._replay_of = None
        self._launch(entry, request, policy, pkg.title if pkg else Path(pkg_path).name,
                     f"starting {Path(pkg_path).name} on {entry.name} with "
                     f"{self.input.describe()}" + (f" — note: {note}" if note else ""))

    def start_replay(self, start: ReplayStart) -> None:
        """Run a replay the Sessions tab planned (package and input already checked
        against the recorded sha256) on the device it chose."""
        plan = start.plan
        if self.running or self._closing:
            self.report("error", f"cannot reproduce session {plan.original_id}: a run is going; "
                                 "reproduce it when the run has ended")
            return
        entry = self._device_entry(plan.device)
        from console.session.trust import package_policy

        policy = package_policy()
        self.live_view.set_labels(start.labels)
        self._replay_of = plan.original_id
        self._launch(entry, plan.request, policy, start.title or Path(plan.package_path).name,
                     f"reproducing session {plan.original_id} on {entry.name}: "
                     f"{Path(plan.package_path).name} with {plan.input_spec} (sha256 checked)")

    def _relaunch(self) -> None:
        if self._last_launch is None or self.running or self._closing:
            return
        entry, request, policy, title, line, replay_of = self._last_launch
        self._replay_of = replay_of
        self._launch(entry, request, policy, title, line)

    def _device_entry(self, spec: str) -> DeviceEntry:
        """The Devices dock's entry for ``spec`` (name, spec or address), or a new one
        for a recorded SSH address that is not saved."""
        for e in self.devices.entries:
            if spec in (e.spec, e.name) or (e.kind == "ssh" and spec == e.address):
                return e
        if spec == "local":
            return self.devices.entries[0]
        return DeviceEntry(spec, spec, spec, "ssh")

    def _replay_devices(self) -> list[tuple[str, str]]:
        return [(e.name if e.kind == "local" else f"{e.name} — {e.address}", e.spec)
                for e in self.devices.entries]

    def _launch(self, entry: DeviceEntry, request: RunRequest, policy: Any, title: str,
                line: str) -> None:
        """Start ``request`` on ``entry``: the one place a run's worker is made.
        The run is watched live: the Live graphs tab (and its docks) come to the front."""
        self._last_launch = (entry, request, policy, title, line, self._replay_of)
        self.tabs.setCurrentWidget(self.graph_holder)
        self.feed = LiveFeed()
        prompt = self.devices.prompt
        worker = RunWorker(lambda: open_for_window(entry, prompt), request, self.db_path, self.feed,
                           policy, entry.name)
        worker.stateChanged.connect(self._on_state)
        worker.deployProgress.connect(self._on_progress)
        worker.sessionCreated.connect(self._on_session)
        worker.helloReceived.connect(self._on_hello)
        worker.coldStart.connect(self._on_cold)
        worker.eventReceived.connect(self._on_event)
        worker.refused.connect(self._on_refused)
        worker.hostKeyUnknown.connect(self._on_host_key)
        worker.runFinished.connect(self._on_finished)
        self.worker = worker
        self.run_entry = entry
        self.session_id = None
        self.agent_pid = None
        self.last_result = None
        self._run_title = title
        self._newest_frame = None
        self._frames_total = 0
        self._max_index = -1
        self._previews = 0
        self._cold_ms = None
        self._warnings = self._errors = 0
        self._run_started = time.monotonic()
        self._run_ended = None
        self.plots.reset()
        self.live_view.reset("starting… the first frame appears after the model's cold start")
        self.summary.clear_summary("running…")
        self.status_session.setText("session: starting")
        self.devices.set_state(entry, "running", None)
        self.log_pane.add("info", line)
        self.runs.start(worker)
        self.timer.start()
        self._update_actions()

    def start_when_ready(self) -> None:
        """Start once the preselected package has verified (``--start``)."""
        if self.package.pending:
            def once(_ver: Any) -> None:
                self.package.verified.disconnect(once)
                QTimer.singleShot(0, self.start_run)

            self.package.verified.connect(once)
        else:
            self.start_run()

    def _refuse(self, text: str) -> None:
        self.run_panel.set_state("refused", text)
        self.report("error", f"cannot start: {text}")

    def stop_run(self) -> None:
        if not self.running:
            return
        self.runs.stop()
        self.run_panel.set_state("stopping", "asking the agent to finish its frame…")
        self.log_pane.add("info", "stop requested")
        self._deadline.start(STOP_DEADLINE_MS)

    def _stop_deadline(self) -> None:
        if self.running:
            self.report("warning", "the agent did not stop in time: killing it")
            self.runs.abort()

    # -- worker signals (GUI thread) --------------------------------------------------------
    def _on_state(self, state: str, text: str) -> None:
        if state == "finished":
            return  # the result says how it ended
        self.run_panel.set_state(state, text)
        if state in ("verifying", "connecting", "deploying", "starting", "stopping"):
            self.log_pane.add("info", text)
        if state == "running" and text == "running":
            self.live_view.set_placeholder("waiting for the first preview…")

    def _on_progress(self, p: DeployProgress) -> None:
        self.run_panel.show_progress(p)

    def _on_session(self, sid: int) -> None:
        self.session_id = sid
        self.status_session.setText(f"session {sid}")
        self.log_pane.add("info", f"session {sid} recording to {self.db_path}"
                          + (f" (replay of session {self._replay_of})"
                             if self._replay_of is not None else ""))
        self.sessions_view.refresh()

    def _on_hello(self, msg: P.Hello) -> None:
        self.agent_pid = msg.pid
        self.plots.set_device_facts(msg.device, msg.clock.get("wall") if msg.clock else None)
        entry = self.run_entry
        if entry is not None and entry.facts is None:
            entry.facts = dict(msg.device)  # the agent's own facts: a card without a probe
        self.log_pane.add("info", f"agent {msg.agent_version} (pid {msg.pid}) on "
                                  f"{msg.device.get('hostname')}")

    def _on_cold(self, msg: P.ColdStart) -> None:
        inp = msg.input or {}
        self._cold_ms = msg.total_ms
        self.live_view.set_input_size(inp.get("width"), inp.get("height"))
        self.log_pane.add("info", cold_start_line(msg))

    def _on_event(self, level: str, code: str, text: str) -> None:
        self.log_pane.add(level, text, code)
        self._warnings += level == "warning"
        self._errors += level == "error"
        if level in ("error", "warning"):
            self.plots.add_marker(None, level, text)
            if code == "no_preview":
                self.live_view.set_placeholder("no preview from this device: " + text)
        if level == "error":
            self.statusBar().showMessage(text, 0)

    def _on_refused(self, text: str) -> None:
        self.run_panel.set_state("refused", text)
        self.summary.show_refusal(text)
        self.live_view.reset(f"not started: {text}")
        self.report("error", f"run refused: {text}")

    def _on_host_key(self, q: HostKeyQuestion) -> None:
        self._host_question = q
        self.run_panel.set_state("connecting", f"{q.device}: host key needs your confirmation")

    def _on_finished(self, result: RunResult) -> None:
        self.last_result = result
        self._run_ended = time.monotonic()
        entry = self.run_entry
        self.summary.show_result(result, entry.name if entry else "?", self._run_title,
                                 str(self.db_path))
        text = f"session {result.session_id} {result.status}"
        if result.error:
            text += f": {result.error}"
        self.run_panel.set_state(result.status, text)
        level = "error" if result.status in ("failed", "interrupted") else "info"
        frames = (result.summary or {}).get("frames", 0)
        self.report(level, f"{text} ({frames} frames recorded)")

    @Slot()
    def _on_run_thread_ended(self) -> None:
        self._deadline.stop()
        self._tick()  # what arrived last
        if self._run_ended is None:  # refused or killed: no result, the clock stops all the same
            self._run_ended = time.monotonic()
        self._update_status()  # the final figures (the tick updates them at most 2/s)
        self.timer.stop()
        self.plots.stop()
        entry = self.run_entry
        if entry is not None and entry.state == "running":
            self.devices.set_state(entry, "ready" if entry.facts else "unknown", None)
        if self.last_result is None and self.live_view.shown_frame is None:
            self.live_view.set_placeholder("no frames")
        self.worker = None
        self._update_actions()
        if self._closing:
            self.close()
            return
        self.sessions_view.refresh()
        self.matrix_view.mark_stale()
        if self._reverify_after_run:
            self._reverify_after_run = False
            self._reverify_package()
        original, self._replay_of = self._replay_of, None
        res = self.last_result
        if original is not None and res is not None and res.session_id is not None:
            self._check_replay(original, res.session_id)
        q, self._host_question = self._host_question, None
        if q is not None and entry is not None:
            dlg = HostKeyDialog(q.device, q.host, q.key_type, q.fingerprint, self)
            if dlg.exec() == QDialog.DialogCode.Accepted:
                entry.accepted_fingerprint = q.fingerprint
                self.log_pane.add("info", f"{entry.name}: trusting host key {q.fingerprint}")
                # the same run again (a replay stays a replay), now with that key
                QTimer.singleShot(0, self._relaunch)
            else:
                self.devices.set_state(entry, "error", f"host key refused ({q.fingerprint})")
                self._refuse(f"{entry.name}: host key {q.fingerprint} refused; not connected")

    def _check_replay(self, original: int, replay: int) -> None:
        """After a replay: did the new session record the same hashes (a file replaced
        while it ran would not)? Read in a job."""
        db = self.db_path

        def work() -> list[str]:
            from console.core.store import SessionStore
            from console.session.replay import verify_replayed

            with SessionStore(db) as st:
                return verify_replayed(st, original, replay)

        def done(problems: list[str]) -> None:
            for p in problems:
                self.report("warning", f"the replay is not exact: {p} (a file changed during "
                                       "the run)")
            if not problems:
                self.log_pane.add("info", f"session {replay} reproduces session {original}: "
                                          "same package, model and input sha256")

        self.jobs.submit("replay-check", work, done,
                         lambda exc: self.report("warning", "could not check the replay: "
                                                 + str(exc)))

    # -- session tabs --------------------------------------------------------------------
    def _on_tab(self, index: int) -> None:
        w = self.tabs.widget(index)
        live = w is self.graph_holder
        if not live and self._live_state is None:
            # Session tabs are wide tables and plots: the run's side docks make room
            # (the log stays). The live layout comes back with the Live graphs tab.
            self._live_state = self.saveState(STATE_VERSION)
            for d in self._side_docks():
                d.setVisible(False)
        elif live and self._live_state is not None:
            state, self._live_state = self._live_state, None
            self.restoreState(state, STATE_VERSION)
        if w is self.sessions_view and not self.sessions_view.loaded:
            self.sessions_view.refresh()

    def _side_docks(self) -> list[QDockWidget]:
        return [self.run_dock, self.package_dock, self.input_dock, self.devices_dock,
                self.view_dock, self.summary_dock]

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

    # -- bookmarks -------------------------------------------------------------------------
    def bookmark_now(self) -> None:
        """Ctrl+B: a note at the newest frame of the run; without a run, at the
        playback's position when the Playback tab is shown."""
        if not self.running:
            if self.tabs.currentWidget() is self.playback and self.playback.data is not None:
                self.playback.ask_bookmark()
            else:
                self.report("info", "nothing to bookmark: start a run (F5), or play back a "
                                    "session (Sessions tab) and bookmark its playhead")
            return
        sid, moment = self.session_id, self._newest_frame
        if sid is None or moment is None:
            self.report("info", "nothing to bookmark yet: the run has no frame so far")
            return
        frame_i, ts = moment  # the moment the key was pressed, not when the note is typed
        from console.ui.qt import QInputDialog

        note, ok = QInputDialog.getText(self, "Bookmark",
                                        f"Note for session {sid} at frame {frame_i}:")
        note = note.strip()
        if not ok or not note:
            return
        self.store_live_bookmark(sid, frame_i, ts, note)

    def store_live_bookmark(self, session_id: int, frame_i: int, ts: float, note: str) -> None:
        """Store a bookmark of the running session (a job: the GUI never writes SQLite)."""
        db = self.db_path
        self.plots.add_marker(ts, "bookmark", f"★ {note}")

        def work() -> int:
            from console.core.store import SessionStore

            with SessionStore(db) as st:
                return st.add_bookmark(session_id, note, frame_i=frame_i, ts=ts)

        def done(bid: int) -> None:
            self.report("info", f"bookmark {bid} on session {session_id} at frame {frame_i}: "
                                f"{note}")
            if self.sessions_view.current_id() == session_id:
                self.sessions_view.reload_details()

        self.jobs.submit("bookmark", work, done,
                         lambda exc: self.report("error", "bookmark not stored: "
                                                 + str(exc)))

    # -- display timer ---------------------------------------------------------------------
    @Slot()
    def _tick(self) -> None:
        batch = self.feed.drain()
        if len(batch.frames) or batch.telemetry:
            self.plots.ingest(batch)
            if len(batch.frames):
                k = int(batch.frames[:, 5].argmax())
                newest = int(batch.frames[k, 5])
                self._max_index = max(self._max_index, newest)
                if self._newest_frame is None or newest > self._newest_frame[0]:
                    self._newest_frame = (newest, float(batch.frames[k, 0]))
        self._frames_total = batch.frames_total
        self.plots.redraw()
        fps = self._current_fps()
        if batch.preview is not None:
            self._previews += 1
            pv = batch.preview
            self.live_view.set_frame(pv.image, pv.i, pv.out, fps)
        elif len(batch.frames) and batch.last_out is not None:
            i, out = batch.last_out
            self.live_view.set_frame(None, i, out if not self._previews else None, fps)
        now = time.monotonic()
        if now - self._last_status >= 0.5:
            self._last_status = now
            self._update_status()

    def _current_fps(self) -> float | None:
        fh = self.plots.frames
        last = fh.last_t()
        if last is None:
            return None
        sl = fh.window(last - 1.0)
        n = sl.stop - sl.start
        if n < 2:
            return None
        ts = fh.column("ts")[sl]
        span = float(ts[-1] - ts[0])
        return (n - 1) / span if span > 0 else None

    def _update_live_summary(self) -> None:
        plots = self.plots
        fig: dict[str, Any] = {}
        if self.session_id is not None:
            fig["session"] = self.session_id
        fig["frames received"] = f"{self._frames_total:,}".replace(",", " ")
        dropped = max(0, self._max_index + 1 - self._frames_total)
        if dropped:
            fig["dropped"] = dropped
        fps = self._current_fps()
        fig["fps (last second)"] = f"{fps:.1f}" if fps is not None else "-"
        pct = plots.rolling_percentiles()
        if pct is not None:
            p50, p95, p99 = pct
            fig["end-to-end (rolling)"] = f"p50 {p50:.3f} · p95 {p95:.3f} · p99 {p99:.3f} ms"
        if self._cold_ms is not None:
            fig["cold start"] = f"{self._cold_ms:.1f} ms"
        fig["latency spikes"] = len(plots.spikes)
        fig["telemetry samples"] = plots.telemetry.samples
        if self._warnings or self._errors:
            fig["agent events"] = (f"{self._warnings} warning{'s' * (self._warnings != 1)}, "
                                   f"{self._errors} error{'s' * (self._errors != 1)}")
        self.summary.show_live(fig)

    def _update_status(self) -> None:
        if self.running and self.last_result is None:
            self._update_live_summary()
        dropped = max(0, self._max_index + 1 - self._frames_total)
        self.status_frames.setText(f"frames {self._frames_total:,}".replace(",", " ")
                                   + f" · dropped {dropped}")
        if self._run_started:
            end = self._run_ended or time.monotonic()
            el = end - self._run_started
            self.status_elapsed.setText(f"elapsed {int(el // 60):d}:{el % 60:04.1f}")

    # -- graphs / theme / help ---------------------------------------------------------------
    def _toggle_pause(self) -> None:
        self.plots.set_paused(not self.plots.paused)

    def set_theme_choice(self, choice: str) -> None:
        self.theme_choice = choice
        self._save_prefs(theme=choice)
        self._apply_theme()

    def _on_scheme_changed(self, *_args: Any) -> None:
        if self.theme_choice == "system":
            self._apply_theme()

    def _apply_theme(self) -> None:
        self.theme = themes.resolve(self.theme_choice)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            themes.apply(app, self.theme)
        self.plots.set_theme(self.theme)
        self.playback.set_theme(self.theme)
        self.compare_view.set_theme(self.theme)

    def _show_shortcuts(self) -> None:
        rows = [("F5", "Start the run"), ("Shift+F5", "Stop the run (the session is kept)"),
                ("Ctrl+P", "Probe the selected device"), ("Ctrl+O", "Open a package folder"),
                ("Ctrl+Shift+O", "Open a package .zip"), ("Ctrl+I", "Open a recording"),
                ("Ctrl+Space", "Pause / resume the graphs"),
                ("Ctrl+B", "Bookmark the current frame of the run (or of the playback)"),
                ("Ctrl+1 … Ctrl+5", "Live graphs, Sessions, Playback, Compare, Matrix"),
                ("Del", "Delete the selected sessions (asks first; in the sessions table)"),
                ("Ctrl+Shift+K", "Package signing: trusted keys, unsigned-package policy"),
                ("F1", "This list"),
                ("Ctrl+Q", "Quit (stops a run cleanly first)")]
        QMessageBox.information(self, "Keyboard shortcuts",
                                "<table>" + "".join(f"<tr><td><b>{k}</b>&nbsp;&nbsp;</td>"
                                                    f"<td>{v}</td></tr>" for k, v in rows)
                                + "</table>")

    def _show_trust_dialog(self) -> None:
        from console.ui.packages.trust_dialog import TrustDialog

        dlg = TrustDialog(self.jobs, self)
        dlg.changed.connect(self._reverify_package)
        dlg.exec()
        dlg.deleteLater()

    def _reverify_package(self) -> None:
        """Keys or the policy changed: the current package's verdict may have too."""
        if self.running:
            self._reverify_after_run = True  # the run checked its own package
            return
        path = self.package.path_edit.text().strip()
        if path:
            self.package.set_path(path)

    def _show_paths(self) -> None:
        QMessageBox.information(
            self, "Where are my files?",
            f"Session log: {self.db_path}\nSettings: {config_dir() / 'settings.json'}\n"
            f"Window layout: {config_dir() / 'window.ini'}\n"
            f"Log file (tracebacks): {log_dir() / 'devicelab.log'}")

    def _show_about(self) -> None:
        QMessageBox.about(self, "About Device Lab Console",
                          f"Device Lab Console {__version__}\nRun ONNX model packages on lab "
                          "devices, watch latency and telemetry live, keep an exact session "
                          "log.")

    # -- drag and drop anywhere in the window ------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if not self.running and _dropped_path(event.mimeData()) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        p = _dropped_path(event.mimeData())
        if p is not None and not self.running:
            event.acceptProposedAction()
            self.package.set_path(p)

    # -- closing ---------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        if self.running:
            event.ignore()
            if self._closing:
                self.report("warning", "still stopping the run; closing when it has ended")
                return
            self._closing = True
            self._update_actions()
            self.report("info", "stopping the run before closing (the session is kept)…")
            self.runs.stop()
            self._deadline.start(STOP_DEADLINE_MS)
            return
        self.timer.stop()
        self.playback.stop()
        self._save_window()
        self.jobs.wait_all()
        self._flush_prefs()
        event.accept()
