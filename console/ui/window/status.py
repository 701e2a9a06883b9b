"""The window's status bar: device, package, session, frames and elapsed time, always shown.

Transient messages (the last report line) use the bar's own message area;
these permanent labels say what the window is working with.
"""

from __future__ import annotations

from console.session.live_state import LiveRun
from console.ui.qt import QLabel, QStatusBar, QWidget


class StatusBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.device = QLabel()
        self.package = QLabel()
        self.session = QLabel("no session")
        self.frames = QLabel("frames 0 · dropped 0")
        self.frames.setObjectName("statusFrames")
        self.elapsed = QLabel("")
        #: shown while a server session log is away and rows go to the local spool
        self.log_state = QLabel("")
        self.log_state.setObjectName("statusLogOffline")
        self.log_state.setStyleSheet("color: #e03131")
        self.log_state.hide()
        for w in (self.device, self.package, self.session, self.frames, self.elapsed,
                  self.log_state):
            w.setContentsMargins(6, 0, 6, 0)
            self.addPermanentWidget(w)

    def show_device(self, name: str) -> None:
        self.device.setText(f"device: {name}")

    def show_package(self, title: str | None, refused: bool = False) -> None:
        """The package's title; '-' without one, 'refused' for one that did not verify."""
        self.package.setText("package: " + ("refused" if refused else title or "-"))

    def show_session(self, text: str) -> None:
        self.session.setText(text)

    def show_log_offline(self, offline: bool, text: str) -> None:
        """The session log's server went away (rows kept locally) or answers again."""
        self.log_state.setText("session log offline: rows kept locally" if offline else "")
        self.log_state.setToolTip(text)
        self.log_state.setVisible(offline)

    def show_run(self, run: LiveRun) -> None:
        """The run's frame count and (stopped when it ended) elapsed time."""
        self.frames.setText(run.frames_text())
        self.elapsed.setText(run.elapsed_text())
