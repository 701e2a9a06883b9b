"""The run dock: Start / Stop, what the run is doing, deploy progress, a note, Profile.

The buttons show the window's Start (F5) and Stop (Shift+F5) actions; this
widget holds no run logic, it only displays the state the run reports.
"""

from __future__ import annotations

import html

from console.devices.base import DeployProgress
from console.ui.qt import (
    QAction,
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QProgressBar,
    QResizeEvent,
    QSpinBox,
    Qt,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from console.ui.widgets import text_label

#: lines of the state text the dock makes room for (the whole text is the tooltip)
MAX_STATE_LINES = 6
STATE_COLORS = {"refused": "#e03131", "failed": "#e03131", "interrupted": "#e8590c",
                "running": "#2f9e44", "completed": "#2f9e44", "stopped": "#1c7ed6",
                "stopping": "#f08c00"}


class RunPanel(QWidget):
    def __init__(self, start: QAction, stop: QAction, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        row = QHBoxLayout()
        self.start_button = QToolButton()
        self.start_button.setObjectName("startButton")
        self.start_button.setDefaultAction(start)
        self.start_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.start_button.setMinimumHeight(30)
        self.stop_button = QToolButton()
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setDefaultAction(stop)
        self.stop_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.stop_button.setMinimumHeight(30)
        row.addWidget(self.start_button, 1)
        row.addWidget(self.stop_button, 1)
        lay.addLayout(row)
        self.state_label = text_label("Ready.", "runState")
        lay.addWidget(self.state_label)
        self.progress = QProgressBar()
        self.progress.setObjectName("deployProgress")
        self.progress.setTextVisible(True)
        self.progress.setVisible(False)
        lay.addWidget(self.progress)
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        self.note_edit = QLineEdit()
        self.note_edit.setObjectName("runNote")
        self.note_edit.setPlaceholderText(
            "a note for this session; #words become tags, e.g. 'fan off #thermal'")
        form.addRow("Note", self.note_edit)
        # --profile N: the runtime's own per-operator profiler over N frames after a warm-up
        prof_row = QHBoxLayout()
        self.profile_check = QCheckBox("Profile")
        self.profile_check.setObjectName("profileCheck")
        self.profile_check.setToolTip(
            "Profile operators with the runtime's own profiler (onnxruntime, OpenVINO; "
            "LiteRT has none) over the frames after a 10-frame warm-up; the ranked chart "
            "appears in the Operator profile dock")
        self.profile_frames_box = QSpinBox()
        self.profile_frames_box.setObjectName("profileFrames")
        self.profile_frames_box.setRange(1, 100000)
        self.profile_frames_box.setValue(100)
        self.profile_frames_box.setSuffix(" frames")
        self.profile_frames_box.setEnabled(False)
        self.profile_check.toggled.connect(self.profile_frames_box.setEnabled)
        prof_row.addWidget(self.profile_check)
        prof_row.addWidget(self.profile_frames_box, 1)
        form.addRow("Operators", prof_row)
        lay.addLayout(form)
        self.state = "ready"
        #: the newest deploy progress shown (None until a deploy reports)
        self.last_progress: DeployProgress | None = None

    def profile_frames(self) -> int:
        """Frames to profile in the next run (0: Profile is not ticked)."""
        return self.profile_frames_box.value() if self.profile_check.isChecked() else 0

    def note(self) -> str:
        """The note the user typed for the next run ('' for none)."""
        return self.note_edit.text().strip()

    def set_state(self, state: str, text: str) -> None:
        self.state = state
        color = STATE_COLORS.get(state)
        body = "" if text == state else " — " + html.escape(text)
        self.state_label.setText(f"<b style='color:{color}'>{html.escape(state)}</b>{body}"
                                 if color else f"<b>{html.escape(state)}</b>{body}")
        self.state_label.setToolTip("" if text == state else f"{state} — {text}")
        if state not in ("deploying", "connecting"):
            self.progress.setVisible(False)
        self._fit_state()

    def _fit_state(self) -> None:
        """The label asks for the height its wrapped lines need (up to
        :data:`MAX_STATE_LINES`): a dock does not grow for a word-wrapped label by
        itself, so a long error was cut off mid-line."""
        label = self.state_label
        width = label.width() if label.width() > 50 else max(200, self.width() - 12)
        need = label.heightForWidth(width)
        cap = label.fontMetrics().lineSpacing() * MAX_STATE_LINES + 4
        label.setMinimumHeight(max(label.fontMetrics().lineSpacing(), min(need, cap)))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_state()

    def show_progress(self, p: DeployProgress) -> None:
        self.last_progress = p
        self.progress.setVisible(True)
        if p.cached:
            self.progress.setRange(0, 1)
            self.progress.setValue(1)
            self.progress.setFormat(f"{p.stage} {p.name}: already on the device")
            return
        total = max(1, p.total)
        # QProgressBar holds ints: show KiB so multi-GB uploads fit.
        self.progress.setRange(0, max(1, total // 1024))
        self.progress.setValue(min(total, p.done) // 1024)
        rate = f", {p.rate_bps / 1e6:.1f} MB/s" if p.rate_bps else ""
        self.progress.setFormat(f"{p.stage} {p.name}: {p.done / 1e6:.1f} / {total / 1e6:.1f} MB"
                                f" (%p%{rate})")
