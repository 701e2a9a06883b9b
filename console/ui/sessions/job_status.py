"""The Sessions tab's status line: the last outcome, and the long job that runs (if any).

One long job at a time (export, import, delete): while it runs the line
shows its progress and, for jobs the session layer can stop, a Cancel
button. The job reads a :class:`~console.ui.jobs.JobProgress` the line
polls ~10 times a second; no Qt object crosses into the job's thread.
"""

from __future__ import annotations

from console.ui.jobs import JobProgress
from console.ui.live.summary_panel import STATUS_COLORS
from console.ui.qt import (
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QTimer,
    QWidget,
    Signal,
)
from console.ui.widgets import text_label

POLL_MS = 100
LEVEL_COLORS = {"error": STATUS_COLORS["failed"], "warning": "#d99a00"}


class JobStatusLine(QWidget):
    #: a long job began or ended (what may be done changed)
    busyChanged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.label = text_label("", "sessionsStatus")
        lay.addWidget(self.label, 1)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(220)
        self.progress.setVisible(False)
        lay.addWidget(self.progress)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel)
        lay.addWidget(self.cancel_button)
        #: what the running job does (None: no job)
        self.what: str | None = None
        self.state: JobProgress | None = None
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._show_progress)

    @property
    def busy(self) -> bool:
        return self.what is not None

    def set_text(self, level: str, text: str) -> None:
        color = LEVEL_COLORS.get(level, "")
        self.label.setStyleSheet(f"color: {color}" if color else "")
        self.label.setText(text)

    def begin(self, what: str, cancellable: bool) -> JobProgress:
        self.what = what
        self.state = JobProgress()
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.progress.setFormat(what + " %p%")
        self.cancel_button.setVisible(cancellable)
        self._poll.start()
        self.busyChanged.emit()
        return self.state

    def end(self) -> None:
        self.what = None
        self._poll.stop()
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self.busyChanged.emit()

    def cancel(self) -> None:
        if self.state is not None:
            self.state.cancel.set()
            self.set_text("info", f"cancelling {self.what or 'the job'}…")

    def _show_progress(self) -> None:
        if self.state is None:
            return
        fraction, text = self.state.read()
        self.progress.setValue(int(fraction * 1000))
        if text:
            self.progress.setToolTip(text)
