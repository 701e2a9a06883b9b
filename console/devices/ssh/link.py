"""Knowing when the link to a device is dead: keepalives that expect a reply.

:class:`LinkWatch` runs two daemon threads per connection (ping, watchdog)
and closes a transport that answered nothing for :data:`LINK_DEAD_S`, which
wakes every blocked paramiko call with an error. Uploads widen the window
(:meth:`LinkWatch.relaxed`) and count SFTP acknowledgements as answers
(:meth:`LinkWatch.probing`). Nothing here opens connections.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import paramiko

log = logging.getLogger("devicelab.ssh")

#: A keepalive ping (that wants a reply) goes out this often ...
KEEPALIVE_S = 1.0
#: ... and a transport that answered nothing for this long is closed as dead.
LINK_DEAD_S = 5.0


class LinkWatch:
    """Keepalives that expect a reply, and a watchdog that closes a silent transport.

    paramiko's own ``set_keepalive`` sends pings without reply (fine for NAT
    tables, blind to a dead peer), and a blocked paramiko call waits until
    the transport dies; TCP alone takes minutes to give up. So one daemon
    thread sends ``keepalive@openssh.com`` with want-reply every
    ``interval`` seconds and another closes the transport once nothing came
    back for ``dead_after`` seconds — which wakes every waiter with an error.
    Data received from the device counts as an answer too (``note_activity``).
    """

    def __init__(self, transport: paramiko.Transport, label: str,
                 interval: float = KEEPALIVE_S, dead_after: float = LINK_DEAD_S) -> None:
        self.transport = transport
        self.label = label
        self.interval = interval
        self.dead_after = dead_after
        self._grace = 0.0
        #: callables whose value changes when data arrives (see :meth:`probing`)
        self._probes: list[Callable[[], Any]] = []
        self._probed: Any = None
        self.last_reply = time.monotonic()
        self.dead_reason: str | None = None
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._ping, name=f"ssh-ping {label}",
                                          daemon=True),
                         threading.Thread(target=self._watch, name=f"ssh-watch {label}",
                                          daemon=True)]
        for t in self._threads:
            t.start()

    def note_activity(self) -> None:
        self.last_reply = time.monotonic()

    @contextlib.contextmanager
    def probing(self, probe: Callable[[], Any]) -> Iterator[None]:
        """While inside, a change in ``probe()`` counts as an answer. An upload's SFTP
        channel receives a write acknowledgement every chunk even while a slow link
        drains the data already sent — when the keepalive replies wait behind that
        data and no write returns (closing the file waits for all of them)."""
        self._probes.append(probe)
        try:
            yield
        finally:
            self._probes.remove(probe)
            self.note_activity()

    def _probe_moved(self) -> bool:
        if not self._probes:
            return False
        try:
            now = tuple(p() for p in self._probes)
        except Exception:  # a torn-down channel: no evidence either way
            return False
        moved = self._probed is not None and now != self._probed
        self._probed = now
        return moved

    @contextlib.contextmanager
    def relaxed(self, seconds: float) -> Iterator[None]:
        """Allow longer silences (a big upload can queue pings behind its data)."""
        self._grace = seconds
        try:
            yield
        finally:
            self._grace = 0.0
            self.note_activity()

    def _ping(self) -> None:
        t = self.transport
        while not self._stop.is_set() and t.is_active():
            try:
                t.global_request("keepalive@openssh.com", wait=True)
            except Exception:  # transport torn down under us
                return
            if not t.is_active():
                return
            self.last_reply = time.monotonic()
            self._stop.wait(self.interval)

    def _watch(self) -> None:
        t = self.transport
        while not self._stop.wait(min(0.25, self.interval)):
            if not t.is_active():
                if self.dead_reason is None:
                    exc = t.get_exception()
                    self.dead_reason = f"connection closed ({exc})" if exc else "connection closed"
                return
            if self._probe_moved():
                self.note_activity()
            silent = time.monotonic() - self.last_reply
            if silent > self.dead_after + self._grace:
                self.dead_reason = f"no answer from the device for {silent:.1f} s"
                log.warning("ssh %s: %s; closing the transport", self.label, self.dead_reason)
                with contextlib.suppress(Exception):
                    t.close()
                return

    def alive(self) -> bool:
        return self.dead_reason is None and self.transport.is_active()

    def stop(self) -> None:
        self._stop.set()

