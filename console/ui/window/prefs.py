"""User preferences of the window (theme, last device/package/input, recent packages).

They live in the settings file's ``preferences`` (``console.core.settings``).
The window reads them once when it is built; every change is at once in
:attr:`Preferences.values` and written by a job (the GUI thread never
writes the file while the window is open). Writes go one at a time, in
order: changes that arrive while a write runs are merged and written next
(the newest value of a key wins); what is still pending when the window
closes is written by :meth:`Preferences.flush`.
"""

from __future__ import annotations

import logging
from typing import Any

from console.core.settings import SettingsError, load_settings, update_settings
from console.ui.jobs import JobRunner, error_text
from console.ui.qt import QObject, Signal

log = logging.getLogger("devicelab.ui")


class Preferences(QObject):
    #: level, one line (a write that failed)
    message = Signal(str, str)

    def __init__(self, jobs: JobRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.values: dict[str, Any] = {}
        #: why the settings file could not be read (the window says so once it is up)
        self.error: str | None = None
        self._pending: dict[str, Any] = {}
        self._writing = False
        try:
            self.values = dict(load_settings().preferences)
        except SettingsError as exc:
            self.error = str(exc)

    @property
    def writing(self) -> bool:
        """A write job is running."""
        return self._writing

    @property
    def pending(self) -> dict[str, Any]:
        """Changes not written yet (the next job, or :meth:`flush`, writes them)."""
        return dict(self._pending)

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def save(self, **changes: Any) -> None:
        """Remember ``changes``: at once here, in the settings file by a job."""
        self.values.update(changes)
        self._pending.update(changes)
        if not self._writing:
            self._write()

    def _write(self) -> None:
        changes, self._pending = self._pending, {}
        self._writing = True

        def change(s: Any) -> None:
            s.preferences.update(changes)

        def ended(exc: BaseException | None = None) -> None:
            self._writing = False
            if exc is not None:
                self.message.emit("warning", f"preferences not saved: {error_text(exc)}")
            if self._pending:
                self._write()

        self.jobs.submit("save-prefs", lambda: update_settings(change), lambda _s: ended(),
                         ended)

    def flush(self) -> None:
        """At close, after the jobs ended: write what no job wrote (synchronously)."""
        changes, self._pending = self._pending, {}
        if not changes:
            return
        try:
            update_settings(lambda s: s.preferences.update(changes))
        except SettingsError as exc:
            log.warning("preferences not saved at close: %s", exc)
