"""The log pane: agent events, warnings and errors with time stamps, copyable.

Every line also goes to the log file (``devicelab.log`` in the log folder)
through :mod:`logging`, so what a user saw can be found again. The pane
holds at most :data:`MAX_LINES` lines; the file keeps everything.
"""

from __future__ import annotations

import html
import logging
import time

from console.ui.qt import (
    QFontDatabase,
    QGuiApplication,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QTextOption,
    QVBoxLayout,
    QWidget,
)

MAX_LINES = 5000
LEVEL_COLORS = {"error": "#e5484d", "warning": "#d99a00", "info": "", "debug": "#888888"}
_PY_LEVELS = {"error": logging.ERROR, "warning": logging.WARNING, "info": logging.INFO,
              "debug": logging.DEBUG}
log = logging.getLogger("devicelab.ui")


class LogPane(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.setSpacing(2)
        self.text = QPlainTextEdit()
        self.text.setObjectName("logText")
        self.text.setReadOnly(True)
        self.text.setMaximumBlockCount(MAX_LINES)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        # long lines wrap (a path or an error is read whole, not by scrolling sideways)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.text.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        lay.addWidget(self.text, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        copy = QPushButton("Copy all")
        copy.setToolTip("Copy the whole log to the clipboard (or select lines and Ctrl+C)")
        copy.clicked.connect(self.copy_all)
        clear = QPushButton("Clear")
        clear.clicked.connect(self.text.clear)
        row.addWidget(copy)
        row.addWidget(clear)
        lay.addLayout(row)
        self.lines: list[tuple[str, str]] = []  # (level, text), newest last, capped

    def add(self, level: str, text: str, code: str = "") -> None:
        """Append one line: ``HH:MM:SS.mmm  LEVEL  [code] text``."""
        now = time.time()
        stamp = time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"
        head = f"{stamp}  {level.upper():<7}"
        body = f"[{code}] {text}" if code else text
        color = LEVEL_COLORS.get(level, "")
        esc = html.escape(f"{head} {body}")
        self.text.appendHtml(f'<span style="color:{color}">{esc}</span>' if color else esc)
        self.lines.append((level, body))
        if len(self.lines) > MAX_LINES:
            del self.lines[: len(self.lines) - MAX_LINES]
        log.log(_PY_LEVELS.get(level, logging.INFO), "%s", body)

    def copy_all(self) -> None:
        QGuiApplication.clipboard().setText(self.text.toPlainText())
