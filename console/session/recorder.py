"""The one writer of a running session: batches rows into the SQLite log.

The reader of the agent stream only appends tuples here (no IO on its
path); a writer thread commits them every :data:`FLUSH_INTERVAL_S` in one
transaction. If the console is killed, at most that last interval of
frames is lost and the database stays consistent (WAL + transactions).
A write failure (disk full, file gone) is kept in :attr:`error` and stops
further writes — what was committed before it stays.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from console.core.store import SessionStore, StoreError

FLUSH_INTERVAL_S = 0.25


class Recorder(threading.Thread):
    def __init__(self, db_path: Path, session_id: int,
                 flush_interval: float = FLUSH_INTERVAL_S) -> None:
        super().__init__(name=f"recorder-{session_id}", daemon=True)
        self.db_path = db_path
        self.session_id = session_id
        self.flush_interval = flush_interval
        self._lock = threading.Lock()
        self._frames: list[tuple[Any, ...]] = []
        self._telemetry: list[tuple[Any, ...]] = []
        self._events: list[tuple[Any, ...]] = []
        self._updates: dict[str, Any] = {}
        self._done = threading.Event()
        self._wake = threading.Event()
        self.error: StoreError | None = None
        self.frames_written = 0
        self.batches = 0
        self._opened = threading.Event()
        self._final: dict[str, Any] | None = None

    # -- producer side (any thread) -----------------------------------------
    def frame(self, row: tuple[Any, ...]) -> None:
        with self._lock:
            self._frames.append(row)

    def telemetry(self, row: tuple[Any, ...]) -> None:
        with self._lock:
            self._telemetry.append(row)

    def event(self, level: str, code: str, text: str, ts: float | None = None) -> None:
        with self._lock:
            self._events.append((ts if ts is not None else time.time(), level, code, text))

    def update(self, **fields: Any) -> None:
        with self._lock:
            self._updates.update(fields)

    def finish(self, timeout: float = 30.0, **final_fields: Any) -> StoreError | None:
        """Flush everything, write the final session fields, close. Returns a write error."""
        with self._lock:
            self._final = final_fields
        self._done.set()
        self._wake.set()
        self.join(timeout)
        return self.error

    # -- writer thread ------------------------------------------------------
    def _flush(self, store: SessionStore) -> None:
        with self._lock:
            frames, self._frames = self._frames, []
            tele, self._telemetry = self._telemetry, []
            events, self._events = self._events, []
            updates, self._updates = self._updates, {}
        if not (frames or tele or events or updates):
            return
        if self.error is not None:
            return
        try:
            received = self.frames_written + len(frames)
            store.insert_batch(self.session_id, frames, tele, events,
                               frames_received=received if frames else None)
            self.frames_written = received
            if updates:
                store.update_session(self.session_id, **updates)
            self.batches += 1
        except StoreError as exc:
            self.error = exc

    def run(self) -> None:
        try:
            store = SessionStore(self.db_path)
        except StoreError as exc:
            self.error = exc
            self._opened.set()
            return
        self._opened.set()
        try:
            while not self._done.is_set():
                self._wake.wait(self.flush_interval)
                self._wake.clear()
                self._flush(store)
            self._flush(store)
            final = self._final or {}
            if final:
                try:
                    final.setdefault("frames_received", self.frames_written)
                    store.update_session(self.session_id, **final)
                except StoreError as exc:
                    self.error = self.error or exc
        finally:
            store.close()
