"""One long worker's QThread, seen from both sides: a run, a plan run, a sweep.

The window's long workers (``ui/live/run_worker.py``, ``ui/plan/worker.py``,
``ui/plan/sweep_dialog.py``) are QObjects moved to a thread of their own. They
share two things, kept here so that they cannot drift apart:

- :class:`WorkerThread` (GUI thread): starts the thread, forwards Stop and Abort,
  and lets go of the thread and the worker only once the thread has really ended
  (dropping the last Python reference deletes a QObject at once).
- :func:`reported` (worker thread): the body of a worker's ``execute``. A refusal
  becomes its one line, a bug becomes an internal-error line with its traceback in
  the log file, and ``done`` goes last whatever happened, so the thread always ends.

Nothing here touches a widget.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from console.session.run import RunError
from console.ui.qt import QObject, Qt, QThread, Signal, Slot

log = logging.getLogger("devicelab.ui")


class _Worker(Protocol):
    done: Any  # Signal(): always the worker's last signal
    refused: Any  # Signal(str): one line for the user

    def moveToThread(self, thread: QThread) -> bool: ...  # a QObject
    def execute(self) -> None: ...
    def stop(self) -> None: ...
    def abort(self) -> None: ...


def internal_error_line(exc: BaseException) -> str:
    """What the user reads about a bug in a worker (the traceback is in the log file)."""
    return f"internal error: {type(exc).__name__}: {exc} (traceback in the log file)"


@contextmanager
def reported(worker: _Worker, what: str,
             refusals: tuple[type[Exception], ...] = (RunError,)) -> Iterator[None]:
    """Wrap a worker's ``execute``: ``refusals`` become ``refused`` with their one line,
    anything else is logged as ``what`` crashing (never kill the thread silently);
    ``done`` is emitted last in every case."""
    try:
        yield
    except refusals as exc:
        worker.refused.emit(str(exc))
    except Exception as exc:
        log.error("%s crashed\n%s", what, traceback.format_exc())
        worker.refused.emit(internal_error_line(exc))
    finally:
        worker.done.emit()


class WorkerThread(QObject):
    """GUI-thread owner of one worker and its QThread at a time."""

    #: emitted (in the GUI thread) once the worker's thread has really ended
    threadEnded = Signal()

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        #: the thread's name (seen in debuggers and in the dangling-thread test fixture)
        self.name = name
        self.qthread: QThread | None = None
        self.worker: _Worker | None = None

    @property
    def running(self) -> bool:
        return self.qthread is not None

    def start(self, worker: _Worker) -> None:
        if self.qthread is not None:
            raise RuntimeError(f"{self.name} is already running")
        thread = QThread(self)
        thread.setObjectName(self.name)
        worker.moveToThread(thread)
        thread.started.connect(worker.execute)
        # quit() is thread-safe; direct, so the thread ends even if the GUI thread is busy
        worker.done.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        thread.finished.connect(self._on_finished)
        self.qthread, self.worker = thread, worker
        thread.start()

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()

    def abort(self) -> None:
        if self.worker is not None:
            self.worker.abort()

    def wait(self, timeout_ms: int) -> bool:
        """Block until the thread ends (only for shutdown, never during normal use)."""
        return self.qthread is None or self.qthread.wait(timeout_ms)

    def _ended(self) -> None:
        """The thread has ended, before :attr:`threadEnded` goes (for subclasses)."""

    @Slot()
    def _on_finished(self) -> None:
        self._ended()
        thread = self.qthread
        # The worker's Python reference goes only now, after its thread has ended.
        self.qthread = self.worker = None
        if thread is not None:
            thread.wait()
            thread.deleteLater()
        self.threadEnded.emit()
