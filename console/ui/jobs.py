"""Short one-off jobs off the GUI thread: probe a device, verify a package, read a video.

Each job is a plain callable run in its own QThread by a :class:`JobRunner`
(owned by the window); its result or its one-line error comes back as a
queued signal in the GUI thread. Exceptions never escape: a
:class:`console.core.errors.UserError` (or an ``OSError``, whose text names the
file) becomes its own message; anything else is logged with its
traceback and reported as an internal error naming the log file.

A job that the caller no longer cares about (the user picked another package
while the old one was still verifying) is not cancelled, its result is just
ignored by the ``token`` check in the caller.

Views that show a refusal in their own status line (the session tabs) wrap
their job with :func:`user_errors`: a refusal then comes back as a
:class:`JobFailure` result instead of an error. Long jobs report progress
and watch for Cancel through a :class:`JobProgress`.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from console.core.errors import EXPECTED_ERRORS
from console.ui.qt import QObject, Qt, QThread, Signal, Slot

log = logging.getLogger("devicelab.ui")


class _JobWorker(QObject):
    #: job id, ok, result or exception
    ended = Signal(int, bool, object)
    #: the job returned (connected straight to its thread's quit)
    done = Signal()

    def __init__(self, job_id: int, name: str, fn: Callable[[], Any]) -> None:
        super().__init__()
        self.job_id = job_id
        self.name = name
        self.fn = fn

    @Slot()
    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as exc:
            if not _expected(exc):
                log.error("job %s failed\n%s", self.name, traceback.format_exc())
            self.ended.emit(self.job_id, False, exc)
        else:
            self.ended.emit(self.job_id, True, result)
        finally:
            self.done.emit()


def _expected(exc: Exception) -> bool:
    """Errors whose message is already the one line a user should read."""
    return isinstance(exc, EXPECTED_ERRORS)


def error_text(exc: BaseException) -> str:
    """The one line shown for a failed job."""
    if isinstance(exc, Exception) and _expected(exc):
        return str(exc) or type(exc).__name__
    return f"internal error: {type(exc).__name__}: {exc} (traceback in the log file)"


@dataclass(frozen=True)
class JobFailure:
    """A job that ended with a one-line refusal a user should read (not a bug)."""

    text: str


def user_errors(fn: Callable[[], Any], prefix: str = "") -> Callable[[], Any]:
    """Wrap a job so that the session layer's refusals come back as a :class:`JobFailure`
    (unwrapped, the runner reports them through the job's error callback)."""

    def run() -> Any:
        try:
            return fn()
        except EXPECTED_ERRORS as exc:
            text = str(exc) or type(exc).__name__
            if isinstance(exc, OSError) and exc.strerror:
                text = f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
            return JobFailure(prefix + text)

    return run


class JobProgress:
    """Progress and cancellation shared between a job thread and a display timer.

    The session layer calls it (``progress(fraction, text)``) in the job's
    thread; the view's timer reads it ~10 times a second. No Qt here.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fraction = 0.0
        self._text = ""
        self.cancel = threading.Event()

    def __call__(self, fraction: float, text: str) -> None:
        with self._lock:
            self._fraction, self._text = fraction, text

    def read(self) -> tuple[float, str]:
        with self._lock:
            return self._fraction, self._text


class JobRunner(QObject):
    """Starts jobs, keeps them alive until they end, waits for them at shutdown.

    Callbacks run in the GUI thread: the worker's signal is delivered to this
    object's slot (queued), which then calls them. (A lambda connected straight
    to a worker signal would run in the worker thread.)
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._next = 0
        #: threads whose job returned, kept (with their worker) until the thread has ended:
        #: dropping the last Python reference deletes a QObject at once
        self._ending: list[tuple[QThread, _JobWorker]] = []
        self._jobs: dict[int, tuple[QThread, _JobWorker, Callable[[Any], None] | None,
                                    Callable[[BaseException], None] | None]] = {}

    def submit(self, name: str, fn: Callable[[], Any],
               on_result: Callable[[Any], None] | None = None,
               on_error: Callable[[BaseException], None] | None = None) -> int:
        self._next += 1
        job_id = self._next
        thread = QThread(self)
        thread.setObjectName(f"job-{name}")
        worker = _JobWorker(job_id, name, fn)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.ended.connect(self._on_ended)
        # quit() is thread-safe: called directly, the thread ends even while the GUI
        # thread is busy (or blocked in wait_all at shutdown)
        worker.done.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        thread.finished.connect(self._reap)
        self._jobs[job_id] = (thread, worker, on_result, on_error)
        thread.start()
        return job_id

    def busy(self) -> int:
        return len(self._jobs)

    @Slot(int, bool, object)
    def _on_ended(self, job_id: int, ok: bool, value: object) -> None:
        entry = self._jobs.pop(job_id, None)
        if entry is None:
            return
        thread, worker, on_result, on_error = entry
        self._ending.append((thread, worker))
        if ok and on_result is not None:
            on_result(value)
        elif not ok and on_error is not None:
            assert isinstance(value, BaseException)
            on_error(value)

    @Slot()
    def _reap(self) -> None:
        keep = []
        for thread, worker in self._ending:
            if thread.isFinished():
                thread.wait()
                thread.deleteLater()
                del worker
            else:
                keep.append((thread, worker))
        self._ending = keep

    def wait_all(self, timeout_ms: int = 10_000) -> bool:
        """Shutdown only: let every job end, then wait for its thread. Results are dropped."""
        ok = True
        threads = [t for t, _w, _r, _e in self._jobs.values()] + [t for t, _w in self._ending]
        for thread in threads:
            ok = thread.wait(timeout_ms) and ok
        self._jobs.clear()
        self._ending.clear()
        return ok
