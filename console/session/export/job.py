"""What every export shares: its errors, its result and its progress/cancel handle.

The format modules (``csv_export``, ``json_export``, ``mcap_export``,
``html_report``) and the bundle writer take a :class:`Job` and return an
:class:`ExportResult`; nothing here knows a format, writes a file or prints.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.core.errors import UserError
from console.core.store import LogStore

Progress = Callable[[float, str], None]


class ExportError(UserError):
    """The export failed; one line naming the file or session and what to do."""


class ExportCancelled(ExportError):
    pass


@dataclass(frozen=True)
class ExportResult:
    format: str
    paths: list[Path]
    frames: int = 0
    telemetry: int = 0
    events: int = 0
    notes: list[str] = field(default_factory=list)


class Job:
    """Progress + cancellation for one export."""

    def __init__(self, progress: Progress | None, cancel: threading.Event | None) -> None:
        self.progress = progress
        self.cancel = cancel
        self._last = -1.0

    def step(self, fraction: float, text: str) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise ExportCancelled("export cancelled")
        if self.progress is not None and (fraction - self._last >= 0.01 or fraction >= 1.0):
            self._last = fraction
            self.progress(min(1.0, max(0.0, fraction)), text)


def find_session(store: LogStore, ref: int | str) -> dict[str, Any]:
    s = store.find_session(str(ref))
    if s is None:
        raise ExportError(f"no session {ref!r} in {store.where}")
    return s
