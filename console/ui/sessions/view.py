"""The Sessions tab: browse the session log and act on recorded sessions.

What lives here: the tab's assembly — search and status filter over the
sessions table (``model``), the details pane with the bookmarks
(``details``), the toolbar of actions on a selection — Reproduce (replay on
the recorded or another device, checked against the recorded sha256
first), Compare (two sessions), Play back, Export, Import bundle and Delete
(``transfers``, after a confirmation) — and the status line (``job_status``).

What must not live here: reading or writing the log, in any thread. Every
question is a job on the window's :class:`~console.ui.jobs.JobRunner`
calling ``console.session.browse``, which returns dataclasses; this module
only asks and shows. Starting the replay run itself is the window's job
(one run at a time): this view hands it a checked
:class:`~console.session.browse.ReplayStart`.

A session-layer refusal (a changed package, a bad bundle, a session still
recording) is a one-line message in the status line and the window's log,
never a traceback: jobs are wrapped by :func:`~console.ui.jobs.user_errors`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from console.session import browse
from console.session.browse import LogRef, SessionDetails, SessionRow
from console.ui.jobs import JobFailure, JobRunner, error_text, user_errors
from console.ui.qt import (
    QAction,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QModelIndex,
    QSplitter,
    Qt,
    QToolBar,
    QWidget,
    Signal,
)
from console.ui.sessions.details import DetailsPane
from console.ui.sessions.dialogs import BookmarkDialog, ReproduceDialog
from console.ui.sessions.job_status import JobStatusLine
from console.ui.sessions.model import SessionsTable
from console.ui.sessions.transfers import SessionTransfers
from console.ui.widgets import tab_layout
from console.ui.wording import REPRODUCE, for_window

STATUSES = ("completed", "stopped", "failed", "interrupted", "running")
REPRODUCE_TIP = ("Run the selected session again with its recorded package, input and "
                 "settings (checked by sha256 first)")


class SessionsView(QWidget):
    """The Sessions tab. Signals go to the window, which owns runs and the other tabs."""

    #: level, one line (to the window's report: log pane, status bar, log file)
    message = Signal(str, str)
    #: a checked replay (``console.session.browse.ReplayStart``) the window should run
    replayReady = Signal(object)
    #: compare session B (candidate) against A (reference): a, b
    compareRequested = Signal(int, int)
    #: play back a session: id, time in s from its first frame (or None)
    playRequested = Signal(int, object)
    #: sessions were added, deleted or imported (the matrix is stale)
    changed = Signal()
    #: a bookmark was added to this session id
    bookmarkAdded = Signal(int)

    def __init__(self, jobs: JobRunner, db_path: LogRef,
                 devices: Callable[[], Sequence[tuple[str, str]]] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sessionsView")
        self.jobs = jobs
        self.db_path = db_path
        #: (name, spec) of the devices a replay may run on (the Devices dock's list)
        self.devices = devices or (lambda: [])
        #: where Reproduce's file dialogs open: the last folder a copy was chosen in
        self.copy_folder = Path.home()
        #: the copies last chosen to reproduce each session (offered again after a refusal)
        self._copies: dict[int, tuple[str | None, str | None]] = {}
        self.run_active = False
        self.loaded = False
        self._list_token = 0
        self._details_token = 0
        #: the session whose details are shown or being read
        self._details_token_id: int | None = None
        self._pending_select: int | None = None
        self._build()
        self.transfers = SessionTransfers(self)
        self._update_actions()

    # -- construction -------------------------------------------------------------
    def _build(self) -> None:
        lay = tab_layout(self)
        top = QHBoxLayout()
        self.search_edit = QLineEdit()
        self.search_edit.setObjectName("sessionSearch")
        self.search_edit.setPlaceholderText("Search: device, package, input, note, #tag, "
                                            "status, id…")
        self.search_edit.setClearButtonEnabled(True)
        top.addWidget(self.search_edit, 3)
        self.status_combo = QComboBox()
        self.status_combo.addItem("all statuses", "")
        for st in STATUSES:
            self.status_combo.addItem(st, st)
        top.addWidget(self.status_combo)
        self.count_label = QLabel("")
        self.count_label.setStyleSheet("color: gray")
        top.addWidget(self.count_label)
        lay.addLayout(top)

        bar = QToolBar()
        bar.setObjectName("sessionsToolBar")
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)

        def act(text: str, slot: Callable[[], None], tip: str) -> QAction:
            a = QAction(text, self)
            a.setToolTip(tip)
            a.setStatusTip(tip)
            a.triggered.connect(slot)
            bar.addAction(a)
            return a

        self.reproduce_action = act("Reproduce…", self.reproduce, REPRODUCE_TIP)
        self.compare_action = act("Compare", self.compare,
                                  "Compare two selected sessions (the older is the reference)")
        self.play_action = act("Play back", self.play,
                               "Play the selected session in the graphs, with a timeline")
        bar.addSeparator()
        self.export_action = act("Export…", self.export,
                                 "Export the selected session: HTML report, CSV, JSON, MCAP "
                                 "or a portable bundle")
        self.import_action = act("Import bundle…", self.import_dialog,
                                 "Import a session bundle into this log")
        bar.addSeparator()
        self.delete_action = act("Delete…", self.delete_selected,
                                 "Delete the selected sessions (asks first; Del in the table)")
        self.refresh_action = act("Refresh", self.refresh, "Read the session log again")
        lay.addWidget(bar)

        self.table = SessionsTable()
        self.proxy = self.table.proxy
        self.table.doubleClicked.connect(lambda _i: self.play())
        self.table.deleteRequested.connect(self.delete_selected)
        sel = self.table.selectionModel()
        sel.selectionChanged.connect(lambda *_a: self._update_actions())
        sel.currentRowChanged.connect(self._on_current)
        self.pane = DetailsPane()
        self.pane.addBookmark.connect(self.add_bookmark)
        self.pane.playFrom.connect(self._play_from)
        split = QSplitter(Qt.Orientation.Vertical)
        split.setObjectName("sessionsSplitter")
        split.addWidget(self.table)
        split.addWidget(self.pane)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        lay.addWidget(split, 1)
        self.status_line = JobStatusLine()
        self.status_line.busyChanged.connect(self._update_actions)
        lay.addWidget(self.status_line)

        self.search_edit.textChanged.connect(self._on_filter)
        self.status_combo.currentIndexChanged.connect(
            lambda _k: self._on_filter_status(str(self.status_combo.currentData() or "")))

    # -- public -------------------------------------------------------------------
    @property
    def details(self) -> SessionDetails | None:
        """What the details pane shows (None: nothing)."""
        return self.pane.details

    @property
    def busy(self) -> bool:
        """An export, import or delete is running."""
        return self.status_line.busy

    def set_db_path(self, path: LogRef) -> None:
        self.db_path = path
        self.refresh()

    def set_run_active(self, active: bool) -> None:
        """One run at a time: Reproduce waits while the window runs something."""
        self.run_active = active
        self._update_actions()

    def refresh(self) -> None:
        """Read the list again (a job); the selection is kept."""
        self._list_token += 1
        token = self._list_token
        db = self.db_path
        self.jobs.submit("sessions-list", user_errors(lambda: browse.list_rows(db)),
                         lambda rows: self._on_rows(token, rows),
                         lambda exc: self._job_error("reading the session log", exc))

    def select_session(self, session_id: int) -> None:
        """Select (and show) a session; read the list first if it is not in it yet."""
        if not self._select_ids([session_id], current=session_id):
            self._pending_select = session_id
            self.refresh()

    def selected_ids(self) -> list[int]:
        return self.table.selected_ids()

    def current_id(self) -> int | None:
        return self.table.current_id()

    def row(self, session_id: int) -> SessionRow | None:
        return self.table.row(session_id)

    def visible_ids(self) -> list[int]:
        """Session ids in the order the table shows them (for tests and the count)."""
        return self.table.visible_ids()

    def set_status(self, level: str, text: str, report: bool = True) -> None:
        """The status line (and, with ``report``, the window's log and status bar)."""
        self.status_line.set_text(level, text)
        if report:
            self.message.emit(level, text)

    def check_replay(self, original: int, replay: int) -> None:
        """After a replay ran: did the new session record the same hashes (a file replaced
        while it ran would not)? Read in a job; the outcome goes to the window's log."""
        db = self.db_path

        def done(problems: list[str]) -> None:
            for p in problems:
                self.message.emit("warning", f"the replay is not exact: {p} (a file changed "
                                             "during the run)")
            if not problems:
                self.message.emit("info", f"session {replay} reproduces session {original}: "
                                          "same package, model and input sha256")

        self.jobs.submit("replay-check", lambda: browse.replay_problems(db, original, replay),
                         done, lambda exc: self.message.emit(
                             "warning", f"could not check the replay: {exc}"))

    # -- list ---------------------------------------------------------------------
    def _on_rows(self, token: int, rows: Any) -> None:
        if token != self._list_token:
            return
        if isinstance(rows, JobFailure):
            self.set_status("error", f"cannot read the session log: {rows.text}")
            return
        keep, current = self.selected_ids(), self.current_id()
        self.table.source.set_rows(rows)
        self.loaded = True
        if self._pending_select is not None:
            keep, current = [self._pending_select], self._pending_select
            self._pending_select = None
        if not self._select_ids(keep, current):
            self._show_details(None)
        self.count_label.setText(self.table.count_text())
        self._update_actions()

    def _select_ids(self, ids: Sequence[int], current: int | None) -> bool:
        shown = self.table.select_ids(ids, current)
        if shown is None:
            return False
        self._load_details(shown)
        return True

    def _on_filter(self, text: str) -> None:
        self.proxy.set_search(text)
        self.count_label.setText(self.table.count_text())

    def _on_filter_status(self, status: str) -> None:
        self.proxy.set_status(status)
        self.count_label.setText(self.table.count_text())

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self._load_details(self.table.id_at(current))

    def _update_actions(self) -> None:
        ids = self.selected_ids()
        one, idle = len(ids) == 1, not self.busy
        self.reproduce_action.setEnabled(one and not self.run_active)
        self.reproduce_action.setToolTip(
            REPRODUCE_TIP if not self.run_active else
            "A run is going: reproduce when it has ended (one run at a time)")
        self.compare_action.setEnabled(len(ids) == 2)
        self.play_action.setEnabled(one)
        self.export_action.setEnabled(one and idle)
        self.import_action.setEnabled(idle)
        self.delete_action.setEnabled(bool(ids) and idle)

    # -- details ------------------------------------------------------------------
    def _load_details(self, session_id: int) -> None:
        if self._details_token_id == session_id:
            return  # shown, or being read
        self._details_token += 1
        token = self._details_token
        self._details_token_id = session_id
        db = self.db_path
        self.jobs.submit("session-details",
                         user_errors(lambda: browse.load_details(db, session_id)),
                         lambda d: self._on_details(token, d),
                         lambda exc: self._job_error("reading the session", exc))

    def reload_details_of(self, session_id: int) -> None:
        """Read the details again if they show ``session_id`` (it changed)."""
        if self.current_id() == session_id:
            self.reload_details()

    def reload_details(self) -> None:
        sid = self.current_id()
        self._details_token_id = None
        if sid is not None:
            self._load_details(sid)

    def _on_details(self, token: int, d: Any) -> None:
        if token != self._details_token:
            return
        if isinstance(d, JobFailure):
            self._show_details(None, d.text)
        else:
            self._show_details(d)

    def _show_details(self, d: SessionDetails | None, why: str = "") -> None:
        if d is None:
            self._details_token_id = None
        self.pane.show_details(d, why)

    def _job_error(self, what: str, exc: BaseException) -> None:
        self.set_status("error", f"{what} failed: {error_text(exc)}")

    # -- actions ------------------------------------------------------------------
    def _single(self) -> SessionRow | None:
        ids = self.selected_ids()
        return self.row(ids[0]) if len(ids) == 1 else None

    def reproduce(self, device: str | None = None, ask: bool = True,
                  package: str | None = None, input: str | None = None) -> None:
        """Reproduce the selected session; ``ask`` shows the dialog (device, and copies of
        the package and the recording to use instead of the recorded paths)."""
        row = self._single()
        if row is None or self.run_active:
            return
        if ask:
            last = self._copies.get(row.id, (None, None))
            dlg = ReproduceDialog(row, list(self.devices()), self, folder=self.copy_folder,
                                  package=package or last[0] or "",
                                  input=input or last[1] or "")
            try:
                accepted = dlg.exec() == QDialog.DialogCode.Accepted
                self.copy_folder = dlg.folder
                if not accepted:
                    return
                device, package, input = dlg.device_spec(), dlg.package_copy(), dlg.input_copy()
            finally:
                dlg.deleteLater()  # one dialog per Reproduce, not one kept per click
        # offered again if this attempt is refused (the user fixes one field, not all)
        self._copies[row.id] = (package, input)
        self.set_status("info", f"checking the package and input of session {row.id} against "
                                "what it recorded…", report=False)
        db, sid = self.db_path, row.id
        self.jobs.submit(
            "replay-plan", user_errors(lambda: browse.plan_replay_start(
                db, sid, device, package, input), "replay refused: "),
            self._on_plan, lambda exc: self._job_error("planning the replay", exc))

    def _on_plan(self, result: Any) -> None:
        if isinstance(result, JobFailure):
            self.set_status("error", for_window(result.text, REPRODUCE))
            return
        plan = result.plan
        for note in result.notes:
            self.message.emit("info", f"replay of session {plan.original_id}: {note}")
        self.set_status("info", f"replaying session {plan.original_id} on {plan.device}: "
                                f"package and input match the recorded sha256", report=False)
        self.replayReady.emit(result)

    def compare(self) -> None:
        ids = self.selected_ids()
        if len(ids) == 2:
            self.compareRequested.emit(ids[0], ids[1])

    def play(self) -> None:
        row = self._single()
        if row is not None:
            self.playRequested.emit(row.id, None)

    def _play_from(self, t: float | None) -> None:
        d = self.details
        if d is not None and d.session.get("id") is not None:
            self.playRequested.emit(int(d.session["id"]), t)

    def add_bookmark(self) -> None:
        d = self.details
        if d is None:
            return
        s = d.session
        frames = int(s.get("frames_received") or 0)
        summ = s.get("summary") or {}
        dlg = BookmarkDialog(f"Bookmark in session {s['id']}", 0, max(0, frames - 1), 0.0,
                             float(summ.get("duration_s") or 0.0) + 1.0, self)
        if dlg.exec() != QDialog.DialogCode.Accepted:
            return
        frame, t = dlg.moment()
        self.store_bookmark(int(s["id"]), dlg.note(), frame=frame, time_s=t)

    def store_bookmark(self, session_id: int, note: str, *, frame: int | None = None,
                       time_s: float | None = None) -> None:
        """Resolve the moment and store the bookmark (a job); reports the outcome."""
        db = self.db_path

        def done(result: Any) -> None:
            if isinstance(result, JobFailure):
                self.set_status("error", f"bookmark not stored: {result.text}")
                return
            bid, m = result
            where = (f"frame {m.frame_i}, " if m.frame_i is not None else "") + f"{m.t:.3f} s"
            self.set_status("info", f"bookmark {bid} on session {session_id} at {where}: {note}")
            self.reload_details_of(session_id)
            self.bookmarkAdded.emit(session_id)

        self.jobs.submit("bookmark", user_errors(
            lambda: browse.add_bookmark(db, session_id, note, frame, time_s)), done,
            lambda exc: self._job_error("storing the bookmark", exc))

    def export(self) -> None:
        row = self._single()
        if row is not None and not self.busy:
            self.transfers.export(row)

    def import_dialog(self) -> None:
        if not self.busy:
            self.transfers.import_dialog()

    def delete_selected(self) -> None:
        if not self.busy:
            self.transfers.delete(self.selected_ids())
