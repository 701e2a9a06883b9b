"""The one writer of a running session: batches rows into the SQLite log.

The reader of the agent stream only appends tuples here (no IO on its
path); a writer thread commits them every :data:`FLUSH_INTERVAL_S` in one
transaction. If the console is killed, at most that last interval of
frames is lost and the database stays consistent (WAL + transactions).

A log *locked* by another process (another console deleting or importing
a large session holds the write lock longer than the busy timeout) is
transient: the batch goes back to the front of the buffers, in order, and
is retried at the next flush (a batch is one transaction, rolled back on
failure, so a retry never duplicates a row). Only after
:data:`LOCKED_GIVE_UP_S` of continuous locking, or :data:`MAX_PENDING_ROWS`
rows held in memory, does the recorder give up. Any other write failure
(disk full, read-only, damaged file) is fatal at once. A fatal failure is
kept in :attr:`error` and stops further writes — what was committed before
it stays.

A *server* log (PostgreSQL) that stops answering is not fatal either: each
batch goes to the local spool (``console.core.store.spool``) instead, the
recorder tries the server again every :data:`RECONNECT_S`, and once it
answers the spooled rows are pushed first, in order, then recording goes on
to the server. :attr:`offline` says which way rows are going now (the window
and the CLI show "log offline"); a run that ends while the server is away
leaves its last rows and its final fields in the spool, pushed by whichever
console reaches the server next.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from console.core.store import DatabaseLocked, LogStore, LogUnreachable, StoreError
from console.core.store.spool import Spool, drain
from console.core.store.target import LogTarget, open_store, parse_target

FLUSH_INTERVAL_S = 0.25
#: Continuous locking after which the recorder gives up (the run then fails).
LOCKED_GIVE_UP_S = 60.0
#: Rows (frames + telemetry + events) held in memory while the log is locked, at most.
MAX_PENDING_ROWS = 500_000
#: how often an offline server log is tried again
RECONNECT_S = 2.0
#: how long the end of a run waits for an offline server before leaving rows in the spool
FINISH_RECONNECT_S = 5.0


class Recorder(threading.Thread):
    def __init__(self, db_path: Path | str | LogTarget, session_id: int,
                 flush_interval: float = FLUSH_INTERVAL_S, session_uuid: str | None = None,
                 on_offline: Any = None) -> None:
        super().__init__(name=f"recorder-{session_id}", daemon=True)
        self.target = db_path if isinstance(db_path, LogTarget) else parse_target(db_path)
        self.db_path = self.target.display
        self.session_id = session_id
        #: the session's uuid: how its spooled rows find it on the server again
        self.session_uuid = session_uuid
        #: callback(offline: bool, text: str) when rows start/stop going to the spool
        self.on_offline = on_offline
        #: True while the server log is away and rows go to the local spool
        self.offline = False
        #: rows written to the spool this run (pushed or still waiting)
        self.spooled = 0
        self._next_try = 0.0
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
        #: monotonic time the current spell of locking began (None: not locked)
        self._locked_since: float | None = None
        #: wall time of that spell, for the event written once it ends
        self._locked_wall: float | None = None
        #: longest spell of locking survived so far (seconds)
        self.locked_longest_s = 0.0
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

    def finish(self, timeout: float = LOCKED_GIVE_UP_S + 30.0,
               **final_fields: Any) -> StoreError | None:
        """Flush everything, write the final session fields, close. Returns a write error.

        The default ``timeout`` outlasts the locked-log retry bound, so a log
        locked at the very end is still waited for (and given up on truthfully).
        """
        with self._lock:
            self._final = final_fields
        self._done.set()
        self._wake.set()
        self.join(timeout)
        if self.is_alive() and self.error is None:
            return StoreError(f"session log {self.db_path}: the last rows were not written "
                              f"within {timeout:.0f} s")
        return self.error

    # -- writer thread ------------------------------------------------------
    def _pending(self) -> bool:
        with self._lock:
            return bool(self._frames or self._telemetry or self._events or self._updates)

    def _flush(self, store: LogStore) -> bool:
        """Write what is buffered in one transaction. True when rows are held for a retry."""
        with self._lock:
            frames, self._frames = self._frames, []
            tele, self._telemetry = self._telemetry, []
            events, self._events = self._events, []
            updates, self._updates = self._updates, {}
        if not (frames or tele or events or updates):
            return False
        if self.error is not None:
            return False
        began = time.monotonic()
        received = self.frames_written + len(frames)
        if self.offline:
            return self._to_spool(frames, tele, events, received, updates)
        try:
            store.insert_batch(self.session_id, frames, tele, events,
                               frames_received=received if frames else None,
                               session_fields=updates or None)
        except DatabaseLocked:
            return self._locked(began, frames, tele, events, updates)
        except LogUnreachable as exc:
            self._go_offline(str(exc))
            return self._to_spool(frames, tele, events, received, updates)
        except StoreError as exc:
            self.error = exc
            return False
        self.frames_written = received
        self.batches += 1
        if self._locked_since is not None:
            self._lock_ended()
        return False

    def _locked(self, began: float, frames: list[tuple[Any, ...]],
                tele: list[tuple[Any, ...]], events: list[tuple[Any, ...]],
                updates: dict[str, Any]) -> bool:
        """Put a batch refused by a lock back in front of what arrived since, or give up.

        The spell of locking counts from the start of the first refused attempt
        (which itself already waited out the store's busy timeout)."""
        now = time.monotonic()
        if self._locked_since is None:
            self._locked_since, self._locked_wall = began, time.time() - (now - began)
        with self._lock:
            self._frames[:0] = frames
            self._telemetry[:0] = tele
            self._events[:0] = events
            self._updates = {**updates, **self._updates}
            held = len(self._frames) + len(self._telemetry) + len(self._events)
        locked_for = now - self._locked_since
        if locked_for < LOCKED_GIVE_UP_S and held <= MAX_PENDING_ROWS:
            return True
        why = (f"for {locked_for:.0f} s" if locked_for >= LOCKED_GIVE_UP_S
               else f"while {held} rows waited in memory")
        self.error = DatabaseLocked(
            f"session log {self.db_path} stayed locked by another process {why}; recording "
            f"stopped, {self.frames_written} frames kept — close the other console or tool "
            "using it, or pass --db with another file")
        with self._lock:  # dropped, as for any fatal write error
            self._frames, self._telemetry, self._events, self._updates = [], [], [], {}
        return False

    # -- a server log that went away -------------------------------------------
    def _go_offline(self, why: str) -> None:
        if self.session_uuid is None:
            self.error = LogUnreachable(why)
            return
        self.offline = True
        self._next_try = time.monotonic() + RECONNECT_S
        reason = why.split(" does not answer ", 1)[-1] if " does not answer " in why else why
        reason = reason.split("; check the server", 1)[0]
        text = (f"the session log {self.db_path} went offline {reason}; rows go to the local "
                "spool and are pushed when it answers")
        self.event("warning", "log_offline", text)
        if self.on_offline is not None:
            self.on_offline(True, text)

    def _to_spool(self, frames: list[tuple[Any, ...]], tele: list[tuple[Any, ...]],
                  events: list[tuple[Any, ...]], received: int, updates: dict[str, Any]
                  ) -> bool:
        if self.error is not None or self.session_uuid is None:
            return False
        try:
            with Spool(self.target) as sp:
                sp.add(self.session_uuid, frames, tele, events,
                       frames_received=received if frames else None,
                       session_fields=updates or None)
        except StoreError as exc:
            self.error = StoreError(f"the session log {self.db_path} is offline and the local "
                                    f"spool failed too: {exc}")
            return False
        self.frames_written = received
        self.spooled += len(frames) + len(tele) + len(events)
        return False

    def _reconnect(self, store: LogStore | None) -> LogStore | None:
        """Try the server again (at most every RECONNECT_S); push the spool when it answers."""
        if time.monotonic() < self._next_try:
            return store
        self._next_try = time.monotonic() + RECONNECT_S
        try:
            fresh = open_store(self.target, timeout=2.0)
        except StoreError:
            return store
        try:
            drain(self.target, fresh, only=self.session_uuid)
        except StoreError:
            fresh.close()
            return store
        if store is not None:
            store.close()
        self.offline = False
        text = f"the session log {self.db_path} answers again; spooled rows pushed"
        self.event("info", "log_online", text)
        if self.on_offline is not None:
            self.on_offline(False, text)
        return fresh

    def _lock_ended(self) -> None:
        assert self._locked_since is not None
        spell = time.monotonic() - self._locked_since
        self.locked_longest_s = max(self.locked_longest_s, spell)
        self.event("warning", "store_locked",
                    f"session log {self.db_path} was locked by another process for "
                    f"{spell:.1f} s; rows were held and written late, none lost",
                    ts=self._locked_wall)
        self._locked_since = self._locked_wall = None

    def _drain(self, store: LogStore | None) -> None:
        """Flush until nothing is buffered, a fatal error, or the locked-log bound."""
        while self.error is None and self._pending():
            if self._flush(store):  # type: ignore[arg-type]
                time.sleep(self.flush_interval)

    def run(self) -> None:
        store: LogStore | None
        try:
            store = open_store(self.target)
        except LogUnreachable as exc:
            store = None
            self._go_offline(str(exc))
        except StoreError as exc:
            self.error = exc
            self._opened.set()
            return
        self._opened.set()
        try:
            while not self._done.is_set():
                self._wake.wait(self.flush_interval)
                self._wake.clear()
                if self.offline:
                    store = self._reconnect(store)
                self._flush(store)  # type: ignore[arg-type]
            with self._lock:
                final = dict(self._final or {})
            deadline = time.monotonic() + FINISH_RECONNECT_S
            while self.offline and time.monotonic() < deadline:
                self._next_try = 0.0
                store = self._reconnect(store)
                if self.offline:
                    time.sleep(0.25)
            self._drain(store)
            if final:
                final.setdefault("frames_received", self.frames_written)
                if self.error is None:
                    self.update(**final)
                    self._drain(store)
                elif store is not None:  # rows were lost, but the end time etc. are worth a try
                    try:
                        store.update_session(self.session_id, **final)
                    except StoreError:
                        pass
        finally:
            if store is not None:
                store.close()
