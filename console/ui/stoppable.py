"""The stop/abort handshake of a long-running worker (a run, a plan), shared by both.

Stop and Abort may come from the GUI thread before the work has even been built (the
user presses Stop while the device connects); the flags are kept under a lock and
handed to the work the moment it exists (:meth:`Stoppable.attach`), so no request is
lost between the two threads. Qt-free: the workers are QObjects that mix this in.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol


class _Work(Protocol):
    def stop(self) -> None: ...
    def abort(self) -> None: ...


class Stoppable:
    """Mixed into a worker; call :meth:`_init_stoppable` in its ``__init__``."""

    def _init_stoppable(self) -> None:
        self._lock = threading.Lock()
        self._run: Any = None
        self._stop = False
        self._abort = False

    # -- any thread ----------------------------------------------------------------
    def stop(self) -> None:
        with self._lock:
            self._stop = True
            run = self._run
        if run is not None:
            run.stop()

    def abort(self) -> None:
        with self._lock:
            self._stop = self._abort = True
            run = self._run
        if run is not None:
            run.abort()

    # -- the worker's thread ---------------------------------------------------------
    def attach(self, work: _Work) -> None:
        """``work`` is what stop/abort reach from now on; a request made before it existed
        is passed on at once."""
        with self._lock:
            self._run = work
            stop, abort = self._stop, self._abort
        if abort:
            work.abort()
        elif stop:
            work.stop()
