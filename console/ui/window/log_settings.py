"""Settings → Session log: which log the window records into and browses.

A SQLite file (the default) or a team's PostgreSQL server, typed as the command
line's ``--db`` takes it. "Test connection" opens it the way a run would, in a
job (a server that does not answer takes its connect timeout, never the GUI
thread), and says in one line what it found or why it cannot be used. OK
remembers the choice in the settings file (``console.session.log_choice``) —
without any password: libpq reads that from ``~/.pgpass``/``PGPASSFILE`` or a
``PGSERVICE`` entry — and switches the window's tabs to it (after the run, when
one is going).

The session layer answers every question here; this file holds only widgets.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from console.session import browse
from console.session.log_choice import (
    PREF_KEY,
    LogCheck,
    LogChoiceError,
    check_log,
    credential_hint,
    parse_log,
    without_password,
)
from console.ui.jobs import JobFailure, error_text, user_errors
from console.ui.qt import (
    QAction,
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
    Signal,
    is_alive,
)
from console.ui.widgets import button, ok_cancel

if TYPE_CHECKING:
    from console.ui.main_window import MainWindow

OK_COLOR, BAD_COLOR = "#2f9e44", "#e03131"
PLACEHOLDER = "/path/to/sessions.db  or  postgresql://user@host:5432/devicelab"


class LogSettingsDialog(QDialog):
    """The Session log entry of Settings; :attr:`chosen` carries the new target."""

    #: the log target chosen (with its password, in memory only, if one was typed)
    chosen = Signal(object)
    #: a connection test ended (for tests): ok, its line
    tested = Signal(bool, str)

    def __init__(self, jobs: Any, current: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("logSettingsDialog")
        self.setWindowTitle("Session log")
        self.jobs = jobs
        self._token = 0
        lay = QVBoxLayout(self)
        intro = QLabel("Where runs are recorded and the Sessions tab reads from: a SQLite file "
                       "on this computer, or a PostgreSQL server a team shares.")
        intro.setWordWrap(True)
        lay.addWidget(intro)
        self.edit = QLineEdit(without_password(current.value) if current is not None else "")
        self.edit.setObjectName("logEdit")
        self.edit.setPlaceholderText(PLACEHOLDER)
        self.edit.setMinimumWidth(460)
        self.edit.textChanged.connect(self._edited)
        lay.addWidget(self.edit)
        hint = QLabel(credential_hint())
        hint.setObjectName("logHint")
        hint.setWordWrap(True)
        hint.setStyleSheet("color: gray")
        lay.addWidget(hint)
        row = QHBoxLayout()
        self.test_button = button("Test connection", self.test, name="testLogButton",
                                  into=row)
        self.result_label = QLabel("")
        self.result_label.setObjectName("logResult")
        self.result_label.setWordWrap(True)
        row.addWidget(self.result_label, 1)
        lay.addLayout(row)
        self.buttons = ok_cancel(self._accept, self.reject)
        lay.addWidget(self.buttons)

    def _say(self, ok: bool | None, text: str) -> None:
        color = OK_COLOR if ok else BAD_COLOR if ok is False else "gray"
        self.result_label.setText(f"<span style='color:{color}'>{html.escape(text)}</span>")
        self.result_label.setToolTip(text)

    def _edited(self) -> None:
        self._token += 1  # a test still running answers for the old text: ignored
        self.test_button.setEnabled(True)
        self._say(None, "")

    def _target(self) -> Any:
        try:
            return parse_log(self.edit.text())
        except LogChoiceError as exc:
            self._say(False, str(exc))
            return None

    def test(self) -> None:
        """Open the typed log in a job; one line in the dialog with what it found."""
        target = self._target()
        if target is None:
            self.tested.emit(False, self.result_label.toolTip())
            return
        self._token += 1
        token = self._token
        self.test_button.setEnabled(False)
        self._say(None, f"connecting to {target.display}…")

        def done(res: LogCheck | JobFailure) -> None:
            if not is_alive(self) or token != self._token:
                return
            self.test_button.setEnabled(True)
            if isinstance(res, JobFailure):
                self._say(False, res.text)
                self.tested.emit(False, res.text)
                return
            self._say(True, res.text)
            self.tested.emit(True, res.text)

        def failed(exc: BaseException) -> None:
            done(JobFailure(error_text(exc)))

        self.jobs.submit("test-log", user_errors(lambda: check_log(target)), done, failed)

    def _accept(self) -> None:
        target = self._target()
        if target is None:
            return
        self.chosen.emit(target)
        self.accept()


def use_log(w: MainWindow, target: Any) -> None:
    """Point the window's recording and every tab at ``target`` and remember it (without
    password). While a run records, the switch waits for its end."""
    w.prefs.save(**{PREF_KEY: without_password(target.value)})
    if target.has_password:
        w.report("warning", f"the session log URL carries a password: used now, never stored "
                            f"({target.display}); put it in ~/.pgpass for the next start")
    if w.running:
        w.report("info", f"the session log becomes {target.display} when the run ends "
                         "(restart the window, or choose it again then)")
        return
    w.db_path = target
    w.supervisor.db_path = target
    w.presenter.db_path = target.display
    w.bookmarks.db_path = target
    w.playback.db_path = target
    w.compare_view.db_path = target
    w.matrix_view.set_db_path(target)
    w.sessions_view.set_db_path(target)  # reads the list again
    w.report("info", f"session log: {target.display}")


def show_log_settings(w: MainWindow) -> LogSettingsDialog:
    dlg = LogSettingsDialog(w.jobs, browse.target_of(w.db_path), w)
    dlg.chosen.connect(lambda t: use_log(w, t))
    dlg.finished.connect(lambda _r: dlg.deleteLater())
    dlg.open()
    return dlg


def log_settings_action(w: MainWindow) -> QAction:
    """Settings → Session log… (the menu entry)."""
    act = QAction("Session log…", w)
    act.setObjectName("logSettingsAction")
    act.setStatusTip("Record into a SQLite file or a team's PostgreSQL server")
    act.triggered.connect(lambda _c=False: show_log_settings(w))
    return act
