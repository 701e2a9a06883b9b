"""Export, import and delete on the Sessions tab: long jobs, one at a time.

Each runs in a job (``console.session.browse`` does the work) with its
progress, and Cancel where the session layer can stop, in the tab's status
line; the outcome is one line there and in the window's log. A refusal (a
bad bundle, a session still recording) is that line, never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.session import browse
from console.ui.jobs import JobFailure, JobProgress, error_text, user_errors
from console.ui.qt import QDialog, QFileDialog, QMessageBox, QObject
from console.ui.sessions.details import fmt_time
from console.ui.sessions.dialogs import ExportDialog

if TYPE_CHECKING:
    from console.ui.sessions.view import SessionsView


class SessionTransfers(QObject):
    def __init__(self, view: SessionsView) -> None:
        super().__init__(view)
        self.view = view
        self.status = view.status_line
        #: where Export and Import dialogs open: the last folder exported to
        self.export_folder = Path.home()
        self.last_export: Any = None
        self.last_import: Any = None

    def _failed(self, what: str, exc: BaseException) -> None:
        self.status.end()
        self.view.set_status("error", f"{what} failed: {error_text(exc)}")

    def _long_job(self, name: str, what: str, cancellable: bool,
                  work: Callable[[JobProgress], Any], done: Callable[[Any], None],
                  failed: str) -> None:
        """``work(progress)`` in a job, shown as ``what`` in the status line until it ends;
        then ``done(result)`` (a :class:`JobFailure` for a refusal); a bug is reported as
        "``failed`` failed: …"."""
        progress = self.status.begin(what, cancellable=cancellable)

        def ended(result: Any) -> None:
            self.status.end()
            done(result)

        self.view.jobs.submit(name, user_errors(lambda: work(progress)), ended,
                              lambda exc: self._failed(failed, exc))

    # -- export -----------------------------------------------------------------------
    def export(self, row: browse.SessionRow) -> None:
        """Ask where and how (the Export dialog), then export."""
        dlg = ExportDialog(row, self.export_folder, self.view)
        if dlg.exec() != QDialog.DialogCode.Accepted:
            return
        self.export_folder = dlg.path().parent
        self.export_to(row.id, dlg.fmt(), dlg.path(), with_package=dlg.with_package.isChecked(),
                       with_input=dlg.with_input.isChecked())

    def export_to(self, session_id: int, fmt: str, path: Path, *, with_package: bool = False,
                  with_input: bool = False) -> None:
        """Export in a job with progress and Cancel; the result line goes to the log."""
        if self.status.busy:
            return
        db, v = self.view.db_path, self.view

        def done(result: Any) -> None:
            self.last_export = result
            if isinstance(result, JobFailure):
                level = "info" if result.text == "export cancelled" else "error"
                v.set_status(level, f"export of session {session_id}: {result.text}"
                             + ("; nothing was written" if level == "info" else ""))
                return
            files = ", ".join(str(p) for p in result.paths)
            v.set_status("info", f"exported session {session_id} as {fmt} to {files}")
            for note in result.notes:
                v.message.emit("info", note)

        self._long_job("export", f"exporting session {session_id}", True,
                       lambda progress: browse.export(
                           db, session_id, fmt, path, with_package=with_package,
                           with_input=with_input, progress=progress, cancel=progress.cancel),
                       done, "the export")

    # -- import -----------------------------------------------------------------------
    def import_dialog(self) -> None:
        path, _f = QFileDialog.getOpenFileName(self.view, "Import a session bundle",
                                               str(self.export_folder),
                                               "Session bundles (*.dlbundle *.zip);;All files (*)")
        if path:
            self.import_file(Path(path))

    def import_file(self, path: Path) -> None:
        if self.status.busy:
            return
        db, v = self.view.db_path, self.view

        def done(result: Any) -> None:
            self.last_import = result
            if isinstance(result, JobFailure):
                v.set_status("error", f"import of {path} failed: {result.text}")
                return
            if result.already_present:
                v.set_status("info", f"{path.name}: session {result.session_id} is already in "
                                     "the log (nothing changed)")
            else:
                v.set_status("info", f"imported {path.name} as session {result.session_id}")
            for note in result.notes:
                v.message.emit("info", note)
            v.select_session(result.session_id)
            v.refresh()
            v.changed.emit()

        self._long_job("import", f"importing {path.name}", True,
                       lambda progress: browse.import_bundle(db, path, progress=progress,
                                                             cancel=progress.cancel),
                       done, "the import")

    # -- delete -----------------------------------------------------------------------
    def delete(self, ids: Sequence[int]) -> None:
        """Delete ``ids`` after the user confirmed it (the box names what goes)."""
        if not ids or self.status.busy:
            return
        v = self.view
        if len(ids) == 1:
            r = v.row(ids[0])
            what = (f"session {ids[0]}" + (f" ({r.package} on {r.device}, "
                                            f"{fmt_time(r.started)})" if r else ""))
        else:
            what = f"{len(ids)} sessions ({', '.join(str(i) for i in ids[:12])}" \
                   f"{'…' if len(ids) > 12 else ''})"
        box = QMessageBox(QMessageBox.Icon.Warning, "Delete sessions",
                          f"Delete {what}?\n\nIts frames, telemetry, events and bookmarks are "
                          "removed from the log, with any files imported with it. This cannot "
                          "be undone.", QMessageBox.StandardButton.NoButton, v)
        box.setObjectName("deleteConfirmation")
        yes = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        no = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(no)
        box.exec()
        if box.clickedButton() is not yes:
            v.set_status("info", "nothing deleted", report=False)
            return
        db, todo = v.db_path, list(ids)

        def done(result: Any) -> None:
            if isinstance(result, JobFailure):
                v.set_status("error", f"delete failed: {result.text}")
                return
            done_ids, problems = result
            for p in problems:
                v.message.emit("error", p)
            if done_ids:
                v.set_status("error" if problems else "info",
                             f"deleted session{'s' * (len(done_ids) > 1)} "
                             f"{', '.join(str(i) for i in done_ids)}"
                             + (f"; {len(problems)} refused (see the log)" if problems else ""))
            else:
                v.set_status("error", problems[0] if problems else "nothing deleted")
            v.refresh()
            v.changed.emit()

        self._long_job("delete", "deleting", False,
                       lambda _progress: browse.delete_sessions(db, todo), done, "deleting")
