"""Ctrl+B during a run: a note at the newest frame of the running session.

The moment is taken when the key is pressed, not when the note has been
typed; the bookmark is drawn on the graphs at once and stored by a job
(the GUI thread never writes SQLite), through ``console.session.browse``.
"""

from __future__ import annotations

from collections.abc import Callable

from console.session import browse
from console.session.browse import LogRef
from console.ui.jobs import JobRunner
from console.ui.live.graphs_tab import GraphsTab
from console.ui.live.supervisor import RunSupervisor
from console.ui.qt import QInputDialog, QObject, QWidget, Signal


class LiveBookmarks(QObject):
    #: a bookmark was stored on this session id
    stored = Signal(int)

    def __init__(self, supervisor: RunSupervisor, graphs: GraphsTab, jobs: JobRunner,
                 db_path: LogRef, report: Callable[[str, str], None], parent: QWidget) -> None:
        super().__init__(parent)
        self.supervisor = supervisor
        self.graphs = graphs
        self.jobs = jobs
        self.db_path = db_path
        self.report = report
        self.dialog_parent = parent

    def ask(self) -> None:
        """Ask for a note at the newest frame of the run (nothing yet: say so)."""
        run = self.supervisor.run
        sid, moment = (run.session_id, run.newest_frame) if run is not None else (None, None)
        if sid is None or moment is None:
            self.report("info", "nothing to bookmark yet: the run has no frame so far")
            return
        frame_i, ts = moment
        note, ok = QInputDialog.getText(self.dialog_parent, "Bookmark",
                                        f"Note for session {sid} at frame {frame_i}:")
        if ok and note.strip():
            self.store(sid, frame_i, ts, note.strip())

    def store(self, session_id: int, frame_i: int, ts: float, note: str) -> None:
        """Draw the bookmark on the graphs and store it (a job)."""
        db = self.db_path
        self.graphs.plots.add_marker(ts, "bookmark", f"★ {note}")

        def done(bid: int) -> None:
            self.report("info", f"bookmark {bid} on session {session_id} at frame {frame_i}: "
                                f"{note}")
            self.stored.emit(session_id)

        self.jobs.submit("bookmark",
                         lambda: browse.add_live_bookmark(db, session_id, note, frame_i, ts),
                         done, lambda exc: self.report("error", f"bookmark not stored: {exc}"))
