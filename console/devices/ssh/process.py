"""The agent running on a device at the far end of one SSH channel.

:class:`SSHAgentProcess` is the :class:`~console.devices.base.AgentProcess`
of an SSH device: stdout is the protocol stream (with the login shell's
chatter and the pid marker filtered out before the first JSON line), stderr
a bounded tail, stop a remote signal to the agent's process group. It does
not read the protocol: the run controller decodes it.
"""

from __future__ import annotations

import contextlib
import logging
import shlex
from collections import deque
from collections.abc import Callable

import paramiko

from console.devices.base import AgentProcess
from console.devices.ssh.connection import DEVICE_SIGNALS, EXIT_SIGNAL_ATTR, SSHConnection

log = logging.getLogger("devicelab.ssh")

PID_MARKER = b"devicelab-agent-pid "


class SSHAgentProcess(AgentProcess):
    """The agent on the far end of one SSH channel (see :class:`AgentProcess`).

    stdout carries the protocol; lines a login shell prints before the agent
    starts (rc-file chatter) and the pid marker are filtered out before the
    first JSON line. stderr is drained on every read into a bounded tail.
    """

    def __init__(self, conn: SSHConnection, chan: paramiko.Channel, label: str,
                 bundle_path: str = "",
                 on_orphan: Callable[[int, str], None] | None = None) -> None:
        self.conn = conn
        self.chan = chan
        self.label = label
        self.bundle_path = bundle_path
        self._on_orphan = on_orphan
        self.pid: int | None = None
        self._tail: deque[bytes] = deque(maxlen=64)
        self._pre = bytearray()
        self._started = False
        self._eof = False
        self._signalled: int | None = None

    # stdout ----------------------------------------------------------------
    def _filter_preamble(self, data: bytes) -> bytes:
        self._pre += data
        while True:
            nl = self._pre.find(b"\n")
            if nl < 0:
                if len(self._pre) > 65536:  # no newline for 64 KB: stop filtering
                    out = bytes(self._pre)
                    self._pre.clear()
                    self._started = True
                    return out
                return b""
            line = bytes(self._pre[:nl])
            if line.startswith(b"{"):
                out = bytes(self._pre)
                self._pre.clear()
                self._started = True
                return out
            del self._pre[:nl + 1]
            if line.startswith(PID_MARKER):
                with contextlib.suppress(ValueError):
                    self.pid = int(line[len(PID_MARKER):].strip())
            elif line.strip():
                self._tail.append(b"(stdout before the agent) " + line + b"\n")

    def read(self, timeout: float) -> bytes | None:
        self._drain_stderr()
        if self._eof:
            return b""
        self.chan.settimeout(max(0.0, timeout))
        try:
            data = self.chan.recv(65536)
        except TimeoutError:
            return None
        except (OSError, EOFError, paramiko.SSHException):
            data = b""
        if not data:
            self._eof = True
            self._drain_stderr()
            rest = bytes(self._pre)
            self._pre.clear()
            return rest if rest and self._started else b""
        self.conn.watch.note_activity()
        if not self._started:
            data = self._filter_preamble(data)
            if not data:
                return None
        return data

    def send(self, data: bytes) -> None:
        if self.chan.closed or not self.conn.alive():
            return
        try:
            self.chan.settimeout(5.0)
            self.chan.sendall(data)
        except (OSError, EOFError, paramiko.SSHException):
            pass  # gone; the reader sees EOF

    # stderr ----------------------------------------------------------------
    def _drain_stderr(self) -> None:
        try:
            while self.chan.recv_stderr_ready():
                b = self.chan.recv_stderr(65536)
                if not b:
                    break
                self._tail.append(b)
        except (OSError, EOFError, paramiko.SSHException):
            pass

    def stderr_text(self) -> str:
        self._drain_stderr()
        return b"".join(self._tail)[-8192:].decode("utf-8", "replace")

    # lifecycle ---------------------------------------------------------------
    def _finished(self) -> bool:
        """The agent is known to have ended (a channel closed by a dead link proves nothing)."""
        if self.chan.exit_status >= 0 or getattr(self.chan, EXIT_SIGNAL_ATTR, None):
            return True
        return self.chan.closed and self.conn.alive()

    def _remote_signal(self, name: str) -> bool:
        """Signal the agent's process group on the device (its own session leader);
        ``name`` as ``kill`` takes it (TERM, KILL)."""
        if self.pid is None or self._finished() or not self.conn.alive():
            return False
        pid = str(self.pid)
        command = (f"kill -{name} -- -{shlex.quote(pid)} 2>/dev/null || "
                   f"kill -{name} {shlex.quote(pid)}")
        try:
            self.conn.run(command, timeout=5.0)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            log.info("ssh %s: remote kill -%s %s failed: %s", self.label, name, pid, exc)
            return False
        self._signalled = DEVICE_SIGNALS[name]
        return True

    def terminate(self) -> None:
        self._remote_signal("TERM")

    def kill(self) -> None:
        if not self._remote_signal("KILL"):
            # cannot reach the device: closing the channel is all that is left
            # (sshd then closes the agent's stdin, and the agent stops)
            with contextlib.suppress(Exception):
                self.chan.close()

    def wait(self, timeout: float) -> int | None:
        if not self.chan.status_event.wait(max(0.0, timeout)):
            return None
        if self.chan.exit_status >= 0:
            return int(self.chan.exit_status)
        sig = getattr(self.chan, EXIT_SIGNAL_ATTR, None) or self._signalled
        return -sig if sig else None

    def link_ok(self) -> bool:
        return self.conn.alive()

    def close(self) -> None:
        finished = self._finished()
        if not finished and self.conn.alive():
            self._remote_signal("KILL")
            self.chan.status_event.wait(2.0)
        elif not finished and self.pid is not None and self._on_orphan is not None:
            # The link died under a running agent. It stops by itself once sshd
            # notices (stdin EOF), but a frozen link can keep it alive for long:
            # the device kills it at its next connection.
            self._on_orphan(self.pid, self.bundle_path)
        with contextlib.suppress(Exception):
            self.chan.close()

