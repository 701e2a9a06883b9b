"""One authenticated SSH connection to a device (through its ProxyJump hops).

:func:`connect_target` opens the transports hop by hop, verifies every host
key with :class:`~console.devices.hostkeys.StrictHostKeyPolicy` (never
``AutoAddPolicy``), logs in with :class:`~console.devices.ssh.auth.ConsoleAuth`
and puts a :class:`~console.devices.ssh.link.LinkWatch` on the result.
:class:`SSHConnection` runs remote commands and hands out the SFTP client.

Every remote command line is assembled from :func:`shlex.quote`-d words
(:func:`cmd`); no file name, manifest string or user field reaches a shell
unquoted. What runs on the device lives in :mod:`~console.devices.ssh.process`
and :mod:`~console.devices.ssh.deploy`, not here.
"""

from __future__ import annotations

import contextlib
import logging
import shlex
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
from paramiko.auth_strategy import AuthFailure

from console.devices.base import (
    AuthenticationFailed,
    DeployError,
    DeviceError,
    DeviceUnreachable,
    LinkLost,
)
from console.devices.hostkeys import HostKeyStore, StrictHostKeyPolicy, user_known_hosts
from console.devices.ssh.auth import ConsoleAuth, PasswordPrompt
from console.devices.ssh.link import KEEPALIVE_S, LINK_DEAD_S, LinkWatch
from console.devices.ssh.target import SSHTarget

log = logging.getLogger("devicelab.ssh")

CONNECT_TIMEOUT_S = 10.0
COMMAND_TIMEOUT_S = 30.0
SFTP_TIMEOUT_S = 30.0

EXIT_SIGNAL_ATTR = "_devicelab_exit_signal"
#: Linux signal numbers by name: the device's numbering, whatever this console runs on
#: (Windows' ``signal`` module has no SIGKILL at all).
DEVICE_SIGNALS = {"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7,
                  "FPE": 8, "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13,
                  "ALRM": 14, "TERM": 15}


def cmd(*words: str) -> str:
    """One shell command line from words, every one of them quoted."""
    return " ".join(shlex.quote(str(w)) for w in words)


def hook_exit_signal(transport: paramiko.Transport) -> None:
    """Record ``exit-signal`` requests (paramiko ignores them) on their channel.

    paramiko dispatches channel messages through a class-level table, so the
    hook is an instance-level copy of that table on this one transport. The
    number lands in ``chan._devicelab_exit_signal`` so ``wait`` can report
    "killed by SIGKILL" instead of "exit status unknown".
    """
    from paramiko.common import MSG_CHANNEL_REQUEST

    table = dict(type(transport)._channel_handler_table)
    orig = table[MSG_CHANNEL_REQUEST]

    def handle(chan: paramiko.Channel, m: paramiko.Message) -> Any:
        try:
            pos = m.packet.tell()
            if m.get_text() == "exit-signal":
                m.get_boolean()
                name = m.get_text()
                with contextlib.suppress(KeyError):
                    setattr(chan, EXIT_SIGNAL_ATTR, DEVICE_SIGNALS[name])
            m.packet.seek(pos)
        except Exception:  # never break the channel over a diagnostic
            pass
        return orig(chan, m)

    table[MSG_CHANNEL_REQUEST] = handle
    transport._channel_handler_table = table



@dataclass(frozen=True)
class RemoteResult:
    status: int | None
    stdout: bytes
    stderr: bytes

    def err_line(self) -> str:
        lines = self.stderr.decode("utf-8", "replace").strip().splitlines()
        return lines[-1][:300] if lines else ""


class SSHConnection:
    """One authenticated connection (through its ProxyJump hops) to a device."""

    def __init__(self, target: SSHTarget, clients: list[paramiko.SSHClient],
                 server_key: paramiko.PKey, keepalive_s: float, link_dead_s: float) -> None:
        self.target = target
        self._clients = clients  # hops first, the device last
        self.client = clients[-1]
        t = self.client.get_transport()
        assert t is not None
        self.transport: paramiko.Transport = t
        self.server_key = server_key
        # NAT keepalive (no reply wanted); liveness itself is the LinkWatch's job
        t.set_keepalive(max(1, int(keepalive_s)))
        hook_exit_signal(t)
        self.watch = LinkWatch(t, target.label, keepalive_s, link_dead_s)
        self._sftp: paramiko.SFTPClient | None = None
        self._lock = threading.Lock()

    def alive(self) -> bool:
        return self.watch.alive()

    def dead_reason(self) -> str:
        return self.watch.dead_reason or "connection closed"

    def open_exec(self, command: str, timeout: float = COMMAND_TIMEOUT_S) -> paramiko.Channel:
        chan = self.transport.open_session(timeout=timeout)
        chan.settimeout(timeout)
        log.debug("ssh %s exec: %s", self.target.label, command)
        chan.exec_command(command)
        return chan

    def run(self, command: str, *, stdin: bytes | None = None,
            timeout: float = COMMAND_TIMEOUT_S) -> RemoteResult:
        """Run one remote command to its end; raises socket.timeout past ``timeout``."""
        deadline = time.monotonic() + timeout
        chan = self.open_exec(command, timeout)
        try:
            if stdin:
                chan.sendall(stdin)
            chan.shutdown_write()
            out = bytearray()
            while True:
                chan.settimeout(max(0.05, deadline - time.monotonic()))
                data = chan.recv(65536)
                if not data:
                    break
                out += data
                if time.monotonic() > deadline:
                    raise TimeoutError(f"remote command took longer than {timeout:.0f} s")
            err = bytearray()
            while chan.recv_stderr_ready() or not chan.eof_received:
                chan.settimeout(max(0.05, deadline - time.monotonic()))
                data = chan.recv_stderr(65536)
                if not data:
                    break
                err += data
            status: int | None = None
            if chan.status_event.wait(max(0.0, deadline - time.monotonic())):
                status = chan.exit_status if chan.exit_status >= 0 else None
            return RemoteResult(status, bytes(out), bytes(err))
        finally:
            chan.close()

    def sftp(self) -> paramiko.SFTPClient:
        with self._lock:
            ch0 = self._sftp.get_channel() if self._sftp is not None else None
            if self._sftp is None or ch0 is None or ch0.closed:
                try:
                    s = self.client.open_sftp()
                except (EOFError, paramiko.SSHException) as exc:
                    if not self.alive():
                        raise
                    # the link is fine: sshd refused the subsystem (or its server died)
                    raise DeployError(
                        f"{self.target.label} offers no SFTP subsystem (opening SFTP failed: "
                        f"{exc or type(exc).__name__}); the console uploads over SFTP: on the "
                        "device add 'Subsystem sftp internal-sftp' to /etc/ssh/sshd_config "
                        "and restart sshd") from None
                ch = s.get_channel()
                if ch is not None:
                    ch.settimeout(SFTP_TIMEOUT_S)
                self._sftp = s
            return self._sftp

    def close(self) -> None:
        self.watch.stop()
        if self._sftp is not None:
            with contextlib.suppress(Exception):
                self._sftp.close()
            self._sftp = None
        for c in reversed(self._clients):
            with contextlib.suppress(Exception):
                c.close()


def _connect_error(exc: BaseException, target: SSHTarget, timeout: float) -> DeviceError:
    where = f"{target.host}:{target.port}"
    name = "" if target.label in (target.url, where, target.host) else f" ({target.label})"
    if isinstance(exc, socket.gaierror):
        return DeviceUnreachable(f"cannot resolve host {target.host!r}{name}: {exc.strerror}; "
                                 "check the address, the saved device or ~/.ssh/config")
    if isinstance(exc, (paramiko.ssh_exception.NoValidConnectionsError, ConnectionRefusedError)):
        return DeviceUnreachable(f"{where}{name} refused the connection: is the device up and "
                                 f"sshd listening on port {target.port}?")
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return DeviceUnreachable(f"no answer from {where}{name} within {timeout:.0f} s: is the "
                                 "device on and reachable from this computer?")
    if isinstance(exc, OSError):
        return DeviceUnreachable(f"cannot reach {where}{name}: {exc.strerror or exc}; check the "
                                 "network and the address")
    if isinstance(exc, paramiko.ChannelException):
        return DeviceUnreachable(f"the jump host cannot reach {where}{name}: {exc}; check "
                                 "ProxyJump in ~/.ssh/config")
    return DeviceUnreachable(f"SSH handshake with {where}{name} failed: {exc or type(exc).__name__}"
                             "; is that an SSH server?")


def _connect_one(target: SSHTarget, sock: Any, store: HostKeyStore,
                 policy: StrictHostKeyPolicy, prompt: PasswordPrompt | None,
                 timeout: float) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(policy)  # the client itself knows no keys
    auth = ConsoleAuth(target, prompt)
    name = target.hostkey_name

    def transport_factory(s: Any, disabled_algorithms: Any = None) -> paramiko.Transport:
        t = paramiko.Transport(s, disabled_algorithms=disabled_algorithms)
        opts = t.get_security_options()
        opts.key_types = tuple(store.preferred_key_types(name, list(opts.key_types)))
        # AES-GCM first: one AEAD pass per packet instead of CTR + HMAC (cheaper for
        # sshd and for us at thousands of small protocol lines per second)
        gcm = [c for c in ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
               if c in opts.ciphers]
        opts.ciphers = tuple(gcm + [c for c in opts.ciphers if c not in gcm])
        return t

    try:
        client.connect(target.host, target.port, username=target.user, sock=sock,
                       timeout=timeout, banner_timeout=timeout, auth_timeout=timeout,
                       channel_timeout=timeout, allow_agent=False, look_for_keys=False,
                       auth_strategy=auth, transport_factory=transport_factory)
    except DeviceError:
        client.close()
        raise
    except (AuthFailure, paramiko.AuthenticationException):
        client.close()
        raise AuthenticationFailed(auth.failure_text()) from None
    except (OSError, EOFError, paramiko.SSHException) as exc:
        client.close()
        log.info("ssh connect to %s failed", target.label, exc_info=True)
        raise _connect_error(exc, target, timeout) from None
    except BaseException:
        client.close()
        raise
    finally:
        auth.close()
    return client


def host_key_policy(hop: SSHTarget, *, accept_new: bool = False,
                    accept_fingerprint: str | None = None,
                    notice: Callable[[str], None] | None = None
                    ) -> tuple[HostKeyStore, StrictHostKeyPolicy]:
    """The known-hosts files and the trust rules for one hop, from its own config
    (UserKnownHostsFile, StrictHostKeyChecking, HostKeyAlias), as ``ssh`` applies
    each ProxyJump hop's own settings."""
    files = [Path(f) for f in hop.known_hosts_files] or [user_known_hosts()]
    store = HostKeyStore(files)
    return store, StrictHostKeyPolicy(store, accept_new=accept_new,
                                      accept_fingerprint=accept_fingerprint,
                                      name=hop.hostkey_name,
                                      config_rule=hop.strict_host_key_checking, notice=notice)


def connect_target(target: SSHTarget, *, accept_new: bool = False,
                   accept_fingerprint: str | None = None, prompt: PasswordPrompt | None = None,
                   timeout: float = CONNECT_TIMEOUT_S, keepalive_s: float = KEEPALIVE_S,
                   link_dead_s: float = LINK_DEAD_S,
                   notice: Callable[[str], None] | None = None) -> SSHConnection:
    """Open a verified, authenticated connection to ``target`` via its jump hosts.

    ``notice`` gets one line when a new host key is trusted without a dialog
    (``--accept-new-host-key``, or StrictHostKeyChecking accept-new in the config).
    """
    clients: list[paramiko.SSHClient] = []
    try:
        sock = None
        for hop in (*target.jumps, target):
            if clients:
                prev = clients[-1].get_transport()
                assert prev is not None
                try:
                    sock = prev.open_channel("direct-tcpip", (hop.host, hop.port),
                                             ("127.0.0.1", 0), timeout=timeout)
                except (OSError, EOFError, paramiko.SSHException) as exc:
                    raise _connect_error(exc, hop, timeout) from None
            store, policy = host_key_policy(hop, accept_new=accept_new,
                                            accept_fingerprint=accept_fingerprint,
                                            notice=notice)
            clients.append(_connect_one(hop, sock, store, policy, prompt, timeout))
    except BaseException:
        for c in reversed(clients):
            c.close()
        raise
    t = clients[-1].get_transport()
    assert t is not None
    return SSHConnection(target, clients, t.get_remote_server_key(), keepalive_s, link_dead_s)


def lost_error(conn: SSHConnection, where: str, what: str, exc: BaseException) -> DeviceError:
    """The one line for a remote call that failed: link lost, timed out, or refused."""
    if not conn.alive():
        return LinkLost(f"connection to {where} lost during {what} "
                        f"({conn.dead_reason()}); check the device and run again")
    if isinstance(exc, socket.timeout):
        return DeviceError(f"{what} on {where} timed out; the device may be "
                           "overloaded, try again")
    return DeviceError(f"{what} on {where} failed: {exc}")


def python_missing(res: RemoteResult, python: str, where: str, address: str) -> DeviceError:
    """The device's interpreter gave no usable answer: how to point the console at one."""
    return DeviceError(
        f"cannot run {python!r} on {where} (exit {res.status}: "
        f"{res.err_line() or 'no output'}); install Python 3.8+ there or set the device's "
        f"interpreter: devicelab devices add NAME {address} --python /path/to/python3 "
        "--replace")
