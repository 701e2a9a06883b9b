"""Ask the user for an SSH password or key passphrase from a worker thread.

The SSH device calls its ``password_prompt`` from whatever thread is
connecting (a probe job, a run worker). :class:`PasswordPrompt` is that
callable for the window: it hands the question to the GUI thread with a
blocking queued signal, the GUI thread shows a password dialog, and the
answer goes straight back to the caller. Nothing keeps, logs or stores it.
"""

from __future__ import annotations

import threading

from console.ui.qt import QInputDialog, QLineEdit, QObject, Qt, QThread, QWidget, Signal, Slot


class PasswordPrompt(QObject):
    """Callable ``prompt(text) -> str | None`` usable from any thread."""

    _ask = Signal(str)

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._parent = parent
        self._lock = threading.Lock()  # one question at a time
        self._answer: str | None = None
        self._ask.connect(self._on_ask, Qt.ConnectionType.BlockingQueuedConnection)

    def __call__(self, text: str) -> str | None:
        with self._lock:
            self._answer = None
            if QThread.currentThread() is self.thread():
                self._on_ask(text)  # a blocking queued emit from the GUI thread would deadlock
            else:
                self._ask.emit(text)
            answer, self._answer = self._answer, None
            return answer

    @Slot(str)
    def _on_ask(self, text: str) -> None:
        value, ok = QInputDialog.getText(self._parent, "SSH", text, QLineEdit.EchoMode.Password)
        self._answer = value if ok else None
