"""The window's side of plans and sweeps: wiring the Plan tab, the Sweep dialog, closing.

Kept out of ``console.ui.main_window`` (which only assembles): the window
makes one :class:`PlanDesk`, and its menus call :meth:`show_sweep_dialog`.
A plan and a sweep each own a worker thread, so closing the window first
stops them (their sessions are kept) and closes when they have ended.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from console.ui.plan.view import PlanView
from console.ui.qt import QObject

if TYPE_CHECKING:
    from console.ui.main_window import MainWindow


class PlanDesk(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w = window
        self.view = PlanView(window.jobs, window.db_path, window.prefs,
                             busy_devices=window.supervisor.busy_devices)
        self.sweep_dialog: Any = None

    def wire(self) -> None:
        w = self.w
        self.view.message.connect(w.report)
        self.view.openSession.connect(w.show_session)
        self.view.finished.connect(self._on_ended)

    def _on_ended(self) -> None:
        """A plan or a sweep ended: the log has new sessions (or the window may close)."""
        w = self.w
        if w._closing and not w.running:
            w.close()
            return
        w.sessions_view.refresh()
        w.matrix_view.mark_stale()

    def show_sweep_dialog(self) -> None:
        """The Sweep dialog (non-modal), for the selected device, package and input."""
        from console.ui.plan.sweep_dialog import SweepDialog

        w = self.w
        dlg = self.sweep_dialog
        if dlg is None:
            entry = w.devices.current()
            dlg = SweepDialog(w.db_path, entry.spec if entry else "local",
                              w.package.path_edit.text().strip(),
                              w.input.spec() if w.input.kind() == "video" else "", w,
                              w.supervisor.busy_devices)
            dlg.message.connect(w.report)
            dlg.ended.connect(self._on_ended)
            self.sweep_dialog = dlg
        dlg.show()
        dlg.activateWindow()

    @property
    def busy(self) -> bool:
        return self.view.running or (self.sweep_dialog is not None and self.sweep_dialog.running)

    def stop_for_close(self) -> bool:
        """At close: True while a plan or sweep still runs (asked to stop; the window
        closes when it has ended), False when nothing keeps the window open."""
        if not self.busy:
            return False
        w = self.w
        if not w._closing:
            w._closing = True
            w._update_actions()
            w.report("info", "stopping the plan or sweep before closing (its sessions are "
                             "kept)…")
            self.view.stop()
            if self.sweep_dialog is not None and self.sweep_dialog.running:
                self.sweep_dialog.stop()
        if w.running:
            w.supervisor.stop()
        return True
