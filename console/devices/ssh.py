"""SSH devices: lab boards reached the way engineers already reach them.

A device is addressed as ``ssh://user@host[:port]``, by a saved device name
(:mod:`console.devices.device_list`) or by a ``~/.ssh/config`` alias
(HostName, User, Port, IdentityFile, IdentitiesOnly, UserKnownHostsFile and
ProxyJump are honoured; the URL's user and port win over the config, as on
the ``ssh`` command line). What lives here:

Connecting
    paramiko, with :class:`~console.devices.hostkeys.StrictHostKeyPolicy`
    (never ``AutoAddPolicy``) and an auth strategy that tries, in order, the
    given key file and IdentityFiles, the ssh-agent, ``~/.ssh/id_*``, then a
    password. Passphrases and passwords come from ``password_prompt`` (CLI:
    getpass on a terminal; window: a dialog) when needed and are never kept,
    logged or stored. Every connection gets keepalive pings that expect a
    reply and a watchdog that closes a transport silent for
    :data:`LINK_DEAD_S`, so a dead link ends every blocked call instead of
    hanging it, and ``link_ok()`` turns False within a few seconds.

Probing
    one remote command: the device's Python runs the facts script fed on
    stdin (``PYTHON - WORKDIR``).

Deploying
    over SFTP into a per-user cache on the device (default
    ``~/.cache/devicelab``, or the device's work dir), one folder per content
    hash: ``agent/<sha256>/agent.pyz``, ``packages/<manifest sha256>/…``,
    ``inputs/<sha256>/<file name>``. An item is uploaded into a ``.tmp-*``
    folder, its sizes and sha256 are checked *on the device*, a ``.complete``
    marker is written last and the folder is renamed into place, so a
    half-written item is never used and a complete one is never uploaded
    again. Old items are evicted oldest-first above a size cap, never those of
    the current run.

Running
    ``exec`` chains (login shell -> ``/bin/sh`` -> the agent) so the
    channel's process *is* the agent; its pid is printed before the exec.
    Stop is the protocol's ``stop``, then a remote signal to that pid, then
    closing the channel.

Every remote command line is assembled from :func:`shlex.quote`-d words
(:func:`_cmd`); no file name, manifest string or user field reaches a shell
unquoted.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import logging
import os
import posixpath
import re
import secrets
import shlex
import socket
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import paramiko
from paramiko.auth_strategy import AuthFailure, AuthSource, AuthStrategy, InMemoryPrivateKey

from console.core.inputs import InputSource
from console.core.manifest import MANIFEST_NAME, sha256_file
from console.core.package import Package
from console.devices import agent_bundle
from console.devices.base import (
    AgentOptions,
    AgentProcess,
    AuthenticationFailed,
    DeployCancelled,
    DeployError,
    Deployment,
    DeployProgress,
    Device,
    DeviceError,
    DeviceUnreachable,
    DiskFull,
    HostKeyChanged,
    HostKeyUnknown,
    LinkLost,
    ProgressFn,
    requirement_problems,
)
from console.devices.device_list import (
    DEFAULT_CACHE_CAP_MB,
    DEFAULT_PYTHON,
    get_device,
    parse_ssh_url,
)
from console.devices.hostkeys import (
    HostKeyStore,
    StrictHostKeyPolicy,
    fingerprint_sha256,
    known_hosts_name,
    user_known_hosts,
)

log = logging.getLogger("devicelab.ssh")

CONNECT_TIMEOUT_S = 10.0
#: A keepalive ping (that wants a reply) goes out this often ...
KEEPALIVE_S = 1.0
#: ... and a transport that answered nothing for this long is closed as dead.
LINK_DEAD_S = 5.0
COMMAND_TIMEOUT_S = 30.0
SFTP_TIMEOUT_S = 30.0
#: Extra silence allowed while uploading (keepalive replies can queue behind the
#: data); every chunk the link accepts, and every SFTP acknowledgement that comes
#: back (a slow link draining what was sent), counts as an answer, so a link that
#: dies mid-upload is closed after LINK_DEAD_S + this, not after SFTP_TIMEOUT_S.
UPLOAD_GRACE_S = 5.0
PROBE_TIMEOUT_S = 120.0
DEFAULT_WORKDIR = "~/.cache/devicelab"
MARKER = ".complete"
TMP_PREFIX = ".tmp-"
#: Partial uploads older than this (a console that died mid-upload) are removed.
STALE_TMP_S = 24 * 3600.0
UPLOAD_CHUNK = 256 * 1024
#: Kept free on the device beyond the upload itself.
SPACE_MARGIN = 1 << 20
PID_MARKER = b"devicelab-agent-pid "

PasswordPrompt = Callable[[str], "str | None"]


# --------------------------------------------------------------------------
# Addresses
# --------------------------------------------------------------------------

def _parse_hop(hop: str) -> tuple[str | None, str, int | None]:
    """A ProxyJump entry: ``[user@]host[:port]`` or ``ssh://…``."""
    if hop.startswith("ssh://"):
        return parse_ssh_url(hop)
    user, _, rest = hop.rpartition("@")
    m = re.match(r"^\[([^\]]+)\](?::(\d+))?$", rest) or re.match(r"^([^:]+)(?::(\d+))?$", rest)
    if not m or not m.group(1):
        raise DeviceError(f"bad ProxyJump entry {hop!r} in ~/.ssh/config: use "
                          "[user@]host[:port]")
    return user or None, m.group(1), int(m.group(2)) if m.group(2) else None


@dataclass(frozen=True)
class SSHTarget:
    """Where to connect and as whom, after ``~/.ssh/config`` was applied."""

    host: str
    port: int
    user: str
    label: str
    identity_files: tuple[str, ...] = ()
    identities_only: bool = False
    #: hops to go through first, first hop first (ProxyJump)
    jumps: tuple[SSHTarget, ...] = ()
    #: the user's known-hosts files (read only; default ~/.ssh/known_hosts)
    known_hosts_files: tuple[str, ...] = ()

    @property
    def hostkey_name(self) -> str:
        return known_hosts_name(self.host, self.port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ssh://{self.user}@{host}:{self.port}"


def ssh_config_path() -> Path:
    return Path(os.path.expanduser("~/.ssh/config"))


def _load_ssh_config() -> paramiko.SSHConfig:
    p = ssh_config_path()
    if not p.is_file():
        return paramiko.SSHConfig()
    try:
        return paramiko.SSHConfig.from_path(str(p))
    except Exception as exc:  # paramiko raises several kinds for a bad file
        raise DeviceError(f"cannot read {p}: {exc}; fix the file") from None


def resolve_target(host: str, user: str | None = None, port: int | None = None,
                   key_file: str | None = None, *, label: str | None = None,
                   config: paramiko.SSHConfig | None = None, _depth: int = 0) -> SSHTarget:
    """Apply ``~/.ssh/config`` to ``host`` (an alias or a host name)."""
    cfg = config if config is not None else _load_ssh_config()
    try:
        c = cfg.lookup(host)
    except Exception as exc:
        raise DeviceError(f"~/.ssh/config cannot be applied to {host!r}: {exc}") from None
    if c.get("proxycommand") and str(c.get("proxycommand")).lower() != "none":
        raise DeviceError(f"{host}: ProxyCommand in ~/.ssh/config is not supported by the "
                          "console; use ProxyJump instead")
    hostname = str(c.get("hostname") or host)
    try:
        the_port = int(port or c.get("port") or 22)
    except ValueError:
        raise DeviceError(f"~/.ssh/config: Port for {host!r} is not a number") from None
    the_user = user or c.get("user") or getpass.getuser()
    ids: list[str] = []
    if key_file:
        ids.append(os.path.expanduser(key_file))
    for p in c.get("identityfile") or []:
        ep = os.path.expanduser(p)
        if ep not in ids:
            ids.append(ep)
    khf: list[str] = []
    for p in str(c.get("userknownhostsfile") or "").split():
        khf.append(os.path.expanduser(p))
    jumps: list[SSHTarget] = []
    pj = str(c.get("proxyjump") or "")
    if pj and pj.lower() != "none":
        if _depth >= 5:
            raise DeviceError(f"ProxyJump chain for {host!r} is too long (a loop in "
                              "~/.ssh/config?)")
        for hop in pj.split(","):
            hu, hh, hp = _parse_hop(hop.strip())
            t = resolve_target(hh, hu, hp, config=cfg, _depth=_depth + 1)
            jumps.extend(t.jumps)
            jumps.append(replace(t, jumps=()))
    lab = label or (host if host != hostname else f"{the_user}@{hostname}:{the_port}")
    return SSHTarget(hostname, the_port, the_user, lab, tuple(ids),
                     str(c.get("identitiesonly", "no")).lower() == "yes", tuple(jumps),
                     tuple(khf))


def _tty_prompt(prompt: str) -> str | None:
    try:
        return getpass.getpass(prompt)
    except (EOFError, KeyboardInterrupt, OSError):
        return None


def open_ssh_device(spec: str, *, accept_new_host_key: bool = False,
                    accept_host_key_fingerprint: str | None = None, interactive: bool = False,
                    password_prompt: PasswordPrompt | None = None, key_file: str | None = None,
                    python: str | None = None, workdir: str | None = None,
                    connect_timeout: float = CONNECT_TIMEOUT_S,
                    cache_cap_mb: int | None = None) -> SSHDevice:
    """Resolve ``spec`` (URL, saved name, alias) into an unconnected :class:`SSHDevice`.

    Explicit arguments win over the saved device's fields. Nothing touches the
    network here; :meth:`SSHDevice.connect` does.
    """
    s = spec.strip()
    name = address = s
    notes = ""
    saved = None if s.startswith("ssh://") else get_device(s)
    if saved is not None:
        name, address, notes = saved.name, saved.address, saved.notes
        python = python or saved.python
        workdir = workdir or saved.workdir
        key_file = key_file or saved.key_file or None
        cache_cap_mb = cache_cap_mb or saved.cache_cap_mb
    if address.startswith("ssh://"):
        user, host, port = parse_ssh_url(address)
        target = resolve_target(host, user, port, key_file)
        target = replace(target, label=name if saved else target.url)
    else:
        if not re.match(r"^[A-Za-z0-9_.][A-Za-z0-9_.@%+:-]*$", address) or "://" in address:
            raise DeviceError(f"unknown device {address!r}: use local, ssh://user@host[:port], "
                              "a saved device name (devicelab devices list) or a ~/.ssh/config "
                              "alias")
        user, _, host = address.rpartition("@")
        target = resolve_target(host, user or None, None, key_file, label=name)
    if password_prompt is None and interactive:
        password_prompt = _tty_prompt
    return SSHDevice(target, name=name, address=address, python=python or DEFAULT_PYTHON,
                     workdir=workdir or "", notes=notes,
                     accept_new_host_key=accept_new_host_key,
                     accept_host_key_fingerprint=accept_host_key_fingerprint,
                     password_prompt=password_prompt, connect_timeout=connect_timeout,
                     cache_cap_bytes=(cache_cap_mb or DEFAULT_CACHE_CAP_MB) * 1024 * 1024)


def _cmd(*words: str) -> str:
    """One shell command line from words, every one of them quoted."""
    return " ".join(shlex.quote(str(w)) for w in words)


# --------------------------------------------------------------------------
# Authentication
# --------------------------------------------------------------------------

class _NoneProbe(AuthSource):
    """Auth "none": either lets us in or tells which methods the server allows."""

    def __init__(self, username: str, sink: _ConsoleAuth) -> None:
        super().__init__(username=username)
        self.sink = sink

    def authenticate(self, transport: paramiko.Transport) -> Any:
        try:
            return transport.auth_none(self.username)
        except paramiko.BadAuthenticationType as exc:
            self.sink.allowed = set(exc.allowed_types)
            raise


class _PromptedPassword(AuthSource):
    """The password asked for once, sent as "password" auth or, when the server offers
    only "keyboard-interactive" (PAM setups often do), as the answer to its hidden
    prompts. The password lives in this call only; nothing keeps it."""

    def __init__(self, username: str, ask: Callable[[], str | None],
                 allowed: Callable[[], set[str] | None]) -> None:
        super().__init__(username=username)
        self.ask = ask
        self.allowed = allowed

    def authenticate(self, transport: paramiko.Transport) -> Any:
        pw = self.ask()
        if not pw:
            raise paramiko.AuthenticationException("no password given")
        allowed = self.allowed()
        if allowed is not None and "password" not in allowed and \
                "keyboard-interactive" in allowed:
            return transport.auth_interactive(self.username, _answer_with(pw))
        return transport.auth_password(self.username, pw)


def _answer_with(pw: str) -> Callable[[str, str, list[tuple[str, bool]]], list[str]]:
    """A keyboard-interactive handler: the password for hidden prompts, once.

    Echoed prompts (not secrets: a user name, a menu) get an empty answer, and
    a second round of hidden prompts (an OTP after the password, or the server
    asking again after a wrong one) gets empty answers too, so the password is
    never sent twice and the login fails in one line instead of looping.
    """
    sent = False

    def handler(title: str, instructions: str, prompts: list[tuple[str, bool]]) -> list[str]:
        nonlocal sent
        hidden = [not echo for _text, echo in prompts]
        if any(hidden) and not sent:
            sent = True
            return [pw if h else "" for h in hidden]
        return ["" for _ in prompts]

    return handler


class _ConsoleAuth(AuthStrategy):
    """Key files, ssh-agent, default keys, then a prompted password (see module doc)."""

    def __init__(self, target: SSHTarget, prompt: PasswordPrompt | None) -> None:
        super().__init__(ssh_config=None)
        self.target = target
        self.prompt = prompt
        self.allowed: set[str] | None = None
        self.tried: list[str] = []
        self.notes: list[str] = []
        self.agent: paramiko.Agent | None = None

    def _load(self, path: str) -> paramiko.PKey | None:
        try:
            return paramiko.PKey.from_path(path)
        except paramiko.PasswordRequiredException:
            pass
        except TypeError as exc:  # cryptography's way of saying "needs a password"
            if "password" not in str(exc).lower():
                self.notes.append(f"key {path} unusable ({exc})")
                return None
        except FileNotFoundError:
            return None
        except Exception as exc:  # unknown key type, corrupt file, …
            self.notes.append(f"key {path} unusable ({exc})")
            return None
        if self.prompt is None:
            self.notes.append(f"key {path} needs its passphrase (run from a terminal, or add "
                              "it to ssh-agent)")
            return None
        for _ in range(3):
            pw = self.prompt(f"Passphrase for key {path}: ")
            if not pw:
                self.notes.append(f"no passphrase given for key {path}")
                return None
            try:
                return paramiko.PKey.from_path(path, pw.encode("utf-8"))
            except Exception:  # wrong passphrase (ValueError/SSHException by version)
                continue
        self.notes.append(f"wrong passphrase for key {path}")
        return None

    def get_sources(self) -> Iterator[AuthSource]:
        user = self.target.user
        yield _NoneProbe(user, self)
        allowed = self.allowed
        if allowed is None or "publickey" in allowed:
            seen: set[str] = set()
            defaults = [os.path.expanduser(f"~/.ssh/id_{k}") for k in ("ed25519", "ecdsa", "rsa")]
            files = list(self.target.identity_files)
            for path in files:
                if path in seen:
                    continue
                seen.add(path)
                if not os.path.isfile(path):
                    self.notes.append(f"key file {path} not found")
                    continue
                key = self._load(path)
                if key is not None:
                    self.tried.append(f"key {path}")
                    yield InMemoryPrivateKey(user, key)
            if not self.target.identities_only:
                try:
                    self.agent = paramiko.Agent()
                    agent_keys = list(self.agent.get_keys())
                except (paramiko.SSHException, OSError) as exc:
                    self.notes.append(f"ssh-agent unusable ({exc})")
                    agent_keys = []
                for k in agent_keys:
                    self.tried.append(f"agent key {fingerprint_sha256(k)}")
                    yield InMemoryPrivateKey(user, k)
                for path in defaults:
                    if path in seen or not os.path.isfile(path):
                        continue
                    seen.add(path)
                    key = self._load(path)
                    if key is not None:
                        self.tried.append(f"key {path}")
                        yield InMemoryPrivateKey(user, key)
        prompt = self.prompt
        if prompt is not None and (allowed is None
                                   or {"password", "keyboard-interactive"} & allowed):
            self.tried.append("password")
            t = self.target
            yield _PromptedPassword(user, lambda: prompt(f"Password for {t.user}@{t.host}: "),
                                    lambda: self.allowed)

    def close(self) -> None:
        if self.agent is not None:
            with contextlib.suppress(Exception):
                self.agent.close()
            self.agent = None

    def failure_text(self) -> str:
        t = self.target
        tried = ", ".join(self.tried) or "no key at all (no key file, ssh-agent or ~/.ssh/id_*)"
        notes = f" ({'; '.join(self.notes)})" if self.notes else ""
        return (f"SSH login as {t.user} on {t.hostkey_name} refused: tried {tried}{notes}; add "
                f"your public key to ~{t.user}/.ssh/authorized_keys on the device, or give the "
                "right key (--key-file, devicelab devices add … --key-file, or IdentityFile "
                "in ~/.ssh/config)")


# --------------------------------------------------------------------------
# The connection: transport(s), link watchdog, remote commands, SFTP
# --------------------------------------------------------------------------

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
        _hook_exit_signal(t)
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
                s = self.client.open_sftp()
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
    auth = _ConsoleAuth(target, prompt)
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


def connect_target(target: SSHTarget, *, accept_new: bool = False,
                   accept_fingerprint: str | None = None, prompt: PasswordPrompt | None = None,
                   timeout: float = CONNECT_TIMEOUT_S, keepalive_s: float = KEEPALIVE_S,
                   link_dead_s: float = LINK_DEAD_S) -> SSHConnection:
    """Open a verified, authenticated connection to ``target`` via its jump hosts."""
    files = [Path(f) for f in target.known_hosts_files] or [user_known_hosts()]
    store = HostKeyStore(files)
    policy = StrictHostKeyPolicy(store, accept_new=accept_new,
                                 accept_fingerprint=accept_fingerprint)
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
            clients.append(_connect_one(hop, sock, store, policy, prompt, timeout))
    except BaseException:
        for c in reversed(clients):
            c.close()
        raise
    t = clients[-1].get_transport()
    assert t is not None
    return SSHConnection(target, clients, t.get_remote_server_key(), keepalive_s, link_dead_s)


# --------------------------------------------------------------------------
# The running agent
# --------------------------------------------------------------------------

EXIT_SIGNAL_ATTR = "_devicelab_exit_signal"
#: Linux signal numbers by name: the device's numbering, whatever this console runs on
#: (Windows' ``signal`` module has no SIGKILL at all).
DEVICE_SIGNALS = {"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7,
                  "FPE": 8, "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13,
                  "ALRM": 14, "TERM": 15}
#: agent error codes that mean "the package on the device is not what was verified"
_REFUSAL_CODES = (b'"code":"package_invalid"', b'"code":"package_changed"')


def _hook_exit_signal(transport: paramiko.Transport) -> None:
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


class SSHAgentProcess(AgentProcess):
    """The agent on the far end of one SSH channel (see :class:`AgentProcess`).

    stdout carries the protocol; lines a login shell prints before the agent
    starts (rc-file chatter) and the pid marker are filtered out before the
    first JSON line. stderr is drained on every read into a bounded tail.
    """

    def __init__(self, conn: SSHConnection, chan: paramiko.Channel, label: str,
                 bundle_path: str = "",
                 on_orphan: Callable[[int, str], None] | None = None,
                 on_package_refused: Callable[[], None] | None = None) -> None:
        self.conn = conn
        self.chan = chan
        self.label = label
        self.bundle_path = bundle_path
        self._on_orphan = on_orphan
        self._on_package_refused = on_package_refused
        self._scan_tail = b""
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
        self._scan_for_refusal(data)
        return data

    def _scan_for_refusal(self, data: bytes) -> None:
        """The agent refusing the cached package means that cache item is damaged.

        Its ``error`` line (codes ``package_invalid``/``package_changed``) is
        spotted here, in the raw stream, so the device drops the item and the
        next deploy uploads it again instead of every later run failing alike.
        """
        if self._on_package_refused is None:
            return
        window = self._scan_tail + data
        if any(code in window for code in _REFUSAL_CODES):
            self._on_package_refused()
            self._on_package_refused = None
        self._scan_tail = window[-64:]

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


# --------------------------------------------------------------------------
# The device
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class _File:
    rel: str
    size: int
    sha256: str
    path: Path | None = None
    data: bytes | None = None


@dataclass(frozen=True)
class _Item:
    """One cache entry: a folder named by a content hash."""

    stage: str  # agent | package | input
    name: str
    section: str  # agent | packages | inputs
    key: str
    files: tuple[_File, ...]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


#: sizes and sha256 of files on the device (stdlib only, Python 3.6+)
_HASH_SCRIPT = (
    "import hashlib,json,sys\n"
    "out=[]\n"
    "for p in sys.argv[1:]:\n"
    " h=hashlib.sha256();n=0\n"
    " try:\n"
    "  f=open(p,'rb')\n"
    "  while True:\n"
    "   b=f.read(1048576)\n"
    "   if not b:break\n"
    "   h.update(b);n+=len(b)\n"
    "  f.close();out.append([n,h.hexdigest()])\n"
    " except OSError as e:out.append([None,str(e)])\n"
    "print(json.dumps(out))\n")
_FREE_SCRIPT = ("import os,sys\n"
                "s=os.statvfs(sys.argv[1])\n"
                "print(s.f_bavail*s.f_frsize)\n")


class SSHDevice(Device):
    kind = "ssh"

    def __init__(self, target: SSHTarget, *, name: str, address: str,
                 python: str = DEFAULT_PYTHON, workdir: str = "", notes: str = "",
                 accept_new_host_key: bool = False,
                 accept_host_key_fingerprint: str | None = None,
                 password_prompt: PasswordPrompt | None = None,
                 connect_timeout: float = CONNECT_TIMEOUT_S,
                 cache_cap_bytes: int = DEFAULT_CACHE_CAP_MB * 1024 * 1024,
                 keepalive_s: float = KEEPALIVE_S, link_dead_s: float = LINK_DEAD_S) -> None:
        super().__init__(name, address)
        self.target = target
        self.python = python
        self.workdir = workdir
        self.notes = notes
        self.accept_new_host_key = accept_new_host_key
        self.accept_host_key_fingerprint = accept_host_key_fingerprint
        self.password_prompt = password_prompt
        self.connect_timeout = connect_timeout
        self.cache_cap_bytes = cache_cap_bytes
        self.keepalive_s = keepalive_s
        self.link_dead_s = link_dead_s
        self._conn: SSHConnection | None = None
        self._lock = threading.Lock()
        self._remote_workdir: str | None = None
        #: agents left running by a lost link: (pid, bundle path), killed on reconnect
        self._orphans: list[tuple[int, str]] = []
        #: cache folders the agent refused (damaged on the device): replaced at next deploy
        self._suspects: set[str] = set()

    # connection ----------------------------------------------------------------
    def connect(self) -> None:
        with self._lock:
            if self._conn is not None and self._conn.alive():
                return
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._conn = connect_target(
                self.target, accept_new=self.accept_new_host_key,
                accept_fingerprint=self.accept_host_key_fingerprint,
                prompt=self.password_prompt, timeout=self.connect_timeout,
                keepalive_s=self.keepalive_s, link_dead_s=self.link_dead_s)
            self._remote_workdir = None
            if self._orphans:
                self._reap_orphans(self._conn)

    def _note_orphan(self, pid: int, bundle_path: str) -> None:
        self._orphans.append((pid, bundle_path))

    def _reap_orphans(self, conn: SSHConnection) -> None:
        """Stop agents a lost link left behind — only if that pid still runs our bundle."""
        checks = []
        for pid, bundle in self._orphans:
            p = shlex.quote(str(pid))
            mine = (f"tr '\\000' ' ' </proc/{p}/cmdline 2>/dev/null | "
                    f"grep -qF -- {shlex.quote(bundle)}")
            checks.append(f"if {mine}; then kill -TERM -- -{p} 2>/dev/null || kill -TERM {p}; "
                          f"sleep 1; if {mine}; then kill -KILL -- -{p} 2>/dev/null || "
                          f"kill -KILL {p}; fi; fi")
        try:
            conn.run("; ".join(checks) + "; true", timeout=15.0)
            log.info("ssh %s: stopped agents left by a lost link: %s", self.describe(),
                     [p for p, _ in self._orphans])
            self._orphans.clear()
        except (OSError, EOFError, paramiko.SSHException) as exc:
            log.info("ssh %s: could not stop orphaned agents: %s", self.describe(), exc)

    def _require(self) -> SSHConnection:
        self.connect()
        assert self._conn is not None
        return self._conn

    @property
    def connection(self) -> SSHConnection | None:
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def describe(self) -> str:
        if self.name == self.address:
            return self.target.label if self.address.startswith("ssh://") else self.address
        return f"{self.name} ({self.target.user}@{self.target.host}:{self.target.port})"

    def identity(self) -> dict[str, Any]:
        conn = self._require()
        key = conn.server_key
        ident: dict[str, Any] = {"kind": "ssh", "host": self.target.host,
                                 "port": self.target.port, "user": self.target.user,
                                 "host_key_type": key.get_name(),
                                 "host_key_sha256": fingerprint_sha256(key)}
        if self.target.jumps:
            ident["via"] = [f"{j.user}@{j.host}:{j.port}" for j in self.target.jumps]
        return ident

    def _lost(self, conn: SSHConnection, what: str, exc: BaseException) -> DeviceError:
        if not conn.alive():
            return LinkLost(f"connection to {self.describe()} lost during {what} "
                            f"({conn.dead_reason()}); check the device and run again")
        if isinstance(exc, socket.timeout):
            return DeviceError(f"{what} on {self.describe()} timed out; the device may be "
                               "overloaded, try again")
        return DeviceError(f"{what} on {self.describe()} failed: {exc}")

    # probing ---------------------------------------------------------------------
    def _python_missing(self, res: RemoteResult) -> DeviceError:
        return DeviceError(
            f"cannot run {self.python!r} on {self.describe()} (exit {res.status}: "
            f"{res.err_line() or 'no output'}); install Python 3.8+ there or set the device's "
            f"interpreter: devicelab devices add NAME {self.address} --python /path/to/python3 "
            "--replace")

    def probe(self) -> dict[str, Any]:
        """Device facts via ONE remote command, plus requirement problems with their fixes."""
        conn = self._require()
        command = _cmd(self.python, "-", self.workdir or DEFAULT_WORKDIR)
        try:
            res = conn.run(command, stdin=agent_bundle.facts_source(), timeout=PROBE_TIMEOUT_S)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise self._lost(conn, "probe", exc) from None
        lines = res.stdout.decode("utf-8", "replace").strip().splitlines()
        try:
            facts: dict[str, Any] = json.loads(lines[-1])
        except (ValueError, IndexError):
            raise self._python_missing(res) from None
        if not isinstance(facts, dict):
            raise self._python_missing(res)
        facts["requirements"] = requirement_problems(facts, self.python)
        return facts

    # deploying -------------------------------------------------------------------
    def remote_workdir(self) -> str:
        """The cache folder on the device as an absolute path (``~`` resolved via SFTP)."""
        if self._remote_workdir is None:
            conn = self._require()
            try:
                home = conn.sftp().normalize(".")
            except (OSError, EOFError, paramiko.SSHException) as exc:
                raise self._lost(conn, "opening SFTP", exc) from None
            wd = self.workdir or DEFAULT_WORKDIR
            if wd == "~":
                wd = home
            elif wd.startswith("~/"):
                wd = posixpath.join(home, wd[2:])
            elif not wd.startswith("/"):
                wd = posixpath.join(home, wd)
            self._remote_workdir = posixpath.normpath(wd)
        return self._remote_workdir

    def _items(self, package: Package, source: InputSource) -> list[_Item]:
        data, sha = agent_bundle.bundle()
        items = [_Item("agent", "agent.pyz", "agent", sha,
                       (_File("agent.pyz", len(data), sha, data=data),))]
        files = [_File(MANIFEST_NAME, len(package.manifest_bytes), package.digest,
                       data=package.manifest_bytes)]
        for rel, path in package.file_paths():
            if rel == MANIFEST_NAME:
                continue
            entry = package.manifest.files.get(rel)
            if entry is not None:
                files.append(_File(rel, entry.size, entry.sha256, path=path))
            else:  # the signature: not listed in the manifest
                files.append(_File(rel, path.stat().st_size, sha256_file(str(path)), path=path))
        items.append(_Item("package", package.title, "packages", package.digest, tuple(files)))
        if source.kind == "video":
            assert source.path is not None and source.sha256 is not None
            size = source.size if source.size is not None else source.path.stat().st_size
            items.append(_Item("input", source.path.name, "inputs", source.sha256,
                               (_File(source.path.name, size, source.sha256,
                                      path=source.path),)))
        return items

    def _final(self, item: _Item) -> str:
        return posixpath.join(self.remote_workdir(), item.section, item.key)

    def deploy(self, package: Package, source: InputSource, progress: ProgressFn | None = None,
               cancel: threading.Event | None = None) -> Deployment:
        conn = self._require()
        cancel = cancel or threading.Event()
        items = self._items(package, source)
        try:
            with conn.watch.relaxed(UPLOAD_GRACE_S):
                self._deploy(conn, items, progress, cancel)
        except DeviceError:
            raise
        except (OSError, EOFError, paramiko.SSHException) as exc:
            log.info("ssh deploy to %s failed", self.describe(), exc_info=True)
            raise self._lost(conn, "deploy", exc) from None
        by_stage = {it.stage: it for it in items}
        agent_dir = self._final(by_stage["agent"])
        input_spec = source.spec
        if "input" in by_stage:
            it = by_stage["input"]
            input_spec = posixpath.join(self._final(it), it.files[0].rel)
        return Deployment(package_dir=self._final(by_stage["package"]), input_spec=input_spec,
                          bundle_path=posixpath.join(agent_dir, "agent.pyz"),
                          package_digest=package.digest)

    def _deploy(self, conn: SSHConnection, items: list[_Item], progress: ProgressFn | None,
                cancel: threading.Event) -> None:
        sftp = conn.sftp()
        wd = self.remote_workdir()
        missing: list[_Item] = []
        for it in items:
            final = self._final(it)
            if final in self._suspects or not self._intact(sftp, it, final):
                # damaged after it was completed: out of the cache (marker first)
                _rmtree(sftp, final)
                self._suspects.discard(final)
                missing.append(it)
                continue
            with contextlib.suppress(OSError):
                sftp.utime(posixpath.join(final, MARKER), None)  # last use, for eviction
            if progress:
                progress(DeployProgress(it.stage, it.name, it.size, it.size, 0.0, cached=True))
        if not missing:
            return
        if cancel.is_set():
            raise DeployCancelled(f"deploy to {self.describe()} cancelled")
        for section in ("", "agent", "packages", "inputs"):
            self._mkdirs(sftp, posixpath.join(wd, section) if section else wd)
        need = sum(it.size for it in missing)
        keep = {(it.section, it.key) for it in items}
        free = self._free_bytes(conn, wd)
        if free < need + SPACE_MARGIN:
            self._clean_cache(sftp, keep, need + SPACE_MARGIN - free)
            free = self._free_bytes(conn, wd)
            if free < need + SPACE_MARGIN:
                raise self._disk_full(wd, need, free)
        tmps: dict[str, str] = {}
        try:
            for it in missing:
                tmp = posixpath.join(wd, it.section,
                                     f"{TMP_PREFIX}{it.key[:16]}-{secrets.token_hex(4)}")
                tmps[it.key] = tmp
                sftp.mkdir(tmp)
                self._upload(conn, sftp, it, tmp, progress, cancel, wd)
            self._verify(conn, missing, tmps)
            for it in missing:
                self._finalize(sftp, it, tmps.pop(it.key))
        finally:
            for tmp in tmps.values():  # cancelled or failed: never leave half an item
                with contextlib.suppress(Exception):
                    if conn.alive():
                        _rmtree(sftp, tmp)
        self._clean_cache(sftp, keep, 0)

    @staticmethod
    def _intact(sftp: paramiko.SFTPClient, item: _Item, final: str) -> bool:
        """A cache hit: marker present and every file at its size (one listing per folder).

        Same-size damage is left to the agent's own hash check, whose refusal
        marks the item as a suspect (see :meth:`SSHAgentProcess._scan_for_refusal`).
        """
        sizes: dict[str, int | None] = {}
        dirs = {posixpath.dirname(f.rel) for f in item.files}
        try:
            for d in sorted(dirs):
                for a in sftp.listdir_attr(posixpath.join(final, d) if d else final):
                    sizes[posixpath.join(d, a.filename) if d else a.filename] = a.st_size
        except FileNotFoundError:
            return False
        return MARKER in sizes and all(sizes.get(f.rel) == f.size for f in item.files)

    def _mkdirs(self, sftp: paramiko.SFTPClient, path: str) -> None:
        parts = path.strip("/").split("/")
        cur = ""
        for p in parts:
            cur += "/" + p
            try:
                st = sftp.stat(cur)
            except FileNotFoundError:
                try:
                    sftp.mkdir(cur, 0o700)
                except OSError as exc:
                    raise DeployError(f"cannot create {cur} on {self.describe()}: {exc}; check "
                                      "the device's work dir and its permissions") from None
                continue
            if st.st_mode is not None and not stat.S_ISDIR(st.st_mode):
                raise DeployError(f"{cur} on {self.describe()} is not a folder; choose another "
                                  "work dir (devicelab devices add … --workdir PATH --replace)")

    def _free_bytes(self, conn: SSHConnection, wd: str) -> int:
        res = conn.run(_cmd(self.python, "-c", _FREE_SCRIPT, wd))
        try:
            return int(res.stdout.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise self._python_missing(res) from None

    def _disk_full(self, wd: str, need: int, free: int) -> DiskFull:
        return DiskFull(
            f"not enough space on {self.describe()} in {wd}: the upload needs "
            f"{need / 1e6:.1f} MB, {max(free, 0) / 1e6:.1f} MB free; free space on the device "
            "or use another work dir (devicelab devices add NAME ADDRESS --workdir PATH "
            "--replace)")

    def _upload(self, conn: SSHConnection, sftp: paramiko.SFTPClient, item: _Item, tmp: str,
                progress: ProgressFn | None, cancel: threading.Event, wd: str) -> None:
        chan = sftp.get_channel()

        def in_flight() -> tuple[int, int]:
            # SFTP requests still unanswered (a slow link drains them one ack at a time)
            # and the channel's send window (it moves as the device takes data)
            return len(getattr(sftp, "_expecting", ())), int(chan.out_window_size)

        with conn.watch.probing(in_flight):
            self._upload_files(conn, sftp, item, tmp, progress, cancel, wd)

    def _upload_files(self, conn: SSHConnection, sftp: paramiko.SFTPClient, item: _Item,
                      tmp: str, progress: ProgressFn | None, cancel: threading.Event,
                      wd: str) -> None:
        total = item.size
        done = 0
        t0 = time.monotonic()
        last = 0.0
        made: set[str] = {tmp}
        for f in item.files:
            short = 0
            parent = posixpath.dirname(posixpath.join(tmp, f.rel))
            if parent not in made:
                rel_parent = posixpath.relpath(parent, tmp)
                cur = tmp
                for part in rel_parent.split("/"):
                    cur = posixpath.join(cur, part)
                    if cur not in made:
                        sftp.mkdir(cur)
                        made.add(cur)
            remote = posixpath.join(tmp, f.rel)
            try:
                with sftp.open(remote, "wb") as fh:
                    fh.set_pipelined(True)
                    src = f.data if f.data is not None else None
                    with contextlib.ExitStack() as stack:
                        local = None if src is not None else \
                            stack.enter_context(open(f.path, "rb"))  # type: ignore[arg-type]
                        off = 0
                        while True:
                            if cancel.is_set():
                                raise DeployCancelled(
                                    f"upload to {self.describe()} cancelled")
                            if src is not None:
                                chunk = src[off:off + UPLOAD_CHUNK]
                                off += len(chunk)
                            else:
                                assert local is not None
                                chunk = local.read(UPLOAD_CHUNK)
                            if not chunk:
                                break
                            fh.write(chunk)
                            conn.watch.note_activity()  # the link took it: alive
                            done += len(chunk)
                            now = time.monotonic()
                            if progress and (now - last > 0.1 or done >= total):
                                last = now
                                rate = done / (now - t0) if now > t0 else 0.0
                                progress(DeployProgress(item.stage, item.name, done, total, rate))
                # paramiko drops errors of pipelined writes still in flight at close:
                # the size on the device is the truth (a short file means ENOSPC & co)
                kept = sftp.stat(remote).st_size or 0
                if kept != f.size:
                    short = f.size - kept
                    raise OSError(f"the device kept {kept} of {f.size} bytes")
            except DeviceError:
                raise
            except OSError as exc:
                if isinstance(exc, socket.timeout) or not conn.alive():
                    raise
                if isinstance(exc, FileNotFoundError) and f.path is not None and \
                        not f.path.exists():
                    raise DeployError(f"{f.path} disappeared during the upload") from None
                # SFTP reports ENOSPC as a bare "Failure": look at the free space
                try:
                    free = self._free_bytes(conn, wd)
                except DeviceError:
                    free = -1
                need = max(total - done, 0) + short
                if 0 <= free < need + SPACE_MARGIN:
                    raise self._disk_full(wd, need, free) from None
                raise DeployError(f"upload of {item.name} to {self.describe()} failed at "
                                  f"{f.rel}: {exc}") from None
        if progress and total == 0:
            progress(DeployProgress(item.stage, item.name, 0, 0, 0.0))

    def _verify(self, conn: SSHConnection, items: list[_Item], tmps: dict[str, str]) -> None:
        """Sizes and sha256 of every uploaded file, computed on the device (one command)."""
        paths: list[str] = []
        expect: list[tuple[_Item, _File]] = []
        for it in items:
            for f in it.files:
                paths.append(posixpath.join(tmps[it.key], f.rel))
                expect.append((it, f))
        res = conn.run(_cmd(self.python, "-c", _HASH_SCRIPT, *paths), timeout=300.0)
        try:
            got = json.loads(res.stdout.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise self._python_missing(res) from None
        if not isinstance(got, list) or len(got) != len(expect):
            raise DeployError(f"checking the upload on {self.describe()} gave no usable answer")
        for (it, f), (size, digest) in zip(expect, got):
            if size != f.size or digest != f.sha256:
                what = digest if size is None else f"{size} bytes, sha256 {str(digest)[:12]}…"
                raise DeployError(
                    f"upload of {it.name} to {self.describe()} arrived damaged ({f.rel}: {what}; "
                    f"expected {f.size} bytes, sha256 {f.sha256[:12]}…); if the file changed "
                    "on this computer during the upload, run again")

    def _finalize(self, sftp: paramiko.SFTPClient, item: _Item, tmp: str) -> None:
        """Marker last, then rename into place: an item is complete or invisible."""
        info = {"key": item.key, "stage": item.stage, "name": item.name, "size": item.size,
                "files": [f.rel for f in item.files], "created": time.time()}
        with sftp.open(posixpath.join(tmp, MARKER), "wb") as fh:
            fh.write(json.dumps(info).encode())
        final = self._final(item)
        try:
            sftp.stat(final)
            exists = True
        except FileNotFoundError:
            exists = False
        if exists:
            try:
                sftp.stat(posixpath.join(final, MARKER))
                _rmtree(sftp, tmp)  # another console finished it first
                return
            except FileNotFoundError:
                _rmtree(sftp, final)  # an incomplete leftover under the final name
        try:
            sftp.posix_rename(tmp, final)
        except OSError:
            sftp.rename(tmp, final)

    def _clean_cache(self, sftp: paramiko.SFTPClient, keep: set[tuple[str, str]],
                     extra_free: int) -> int:
        """Evict the oldest items above the size cap (or to free ``extra_free``).

        Never the items of the current run (``keep``). Partial uploads older
        than :data:`STALE_TMP_S` go too. Returns the bytes freed.
        """
        wd = self.remote_workdir()
        now = time.time()
        entries: list[tuple[float, int, str]] = []
        total = 0
        for section in ("agent", "packages", "inputs"):
            base = posixpath.join(wd, section)
            try:
                listing = sftp.listdir_attr(base)
            except FileNotFoundError:
                continue
            for a in listing:
                path = posixpath.join(base, a.filename)
                if a.st_mode is None or not stat.S_ISDIR(a.st_mode):
                    continue
                if a.filename.startswith(TMP_PREFIX):
                    if now - (a.st_mtime or now) > STALE_TMP_S:
                        with contextlib.suppress(OSError):
                            _rmtree(sftp, path)
                    continue
                size, used = _tree_size(sftp, path)
                total += size
                if (section, a.filename) not in keep:
                    entries.append((used, size, path))
        freed = 0
        for _used, size, path in sorted(entries):
            if total <= self.cache_cap_bytes and freed >= extra_free:
                break
            try:
                _rmtree(sftp, path)
            except OSError as exc:
                log.info("ssh %s: cannot evict %s: %s", self.describe(), path, exc)
                continue
            total -= size
            freed += size
            log.info("ssh %s: evicted %s (%d bytes) from the device cache", self.describe(),
                     path, size)
        return freed

    def cache_usage(self) -> dict[str, Any]:
        """What the device cache holds: {"workdir", "bytes", "items": [{path, bytes, used}]}."""
        conn = self._require()
        sftp = conn.sftp()
        wd = self.remote_workdir()
        items = []
        for section in ("agent", "packages", "inputs"):
            try:
                listing = sftp.listdir_attr(posixpath.join(wd, section))
            except FileNotFoundError:
                continue
            for a in listing:
                if a.st_mode is not None and stat.S_ISDIR(a.st_mode) and \
                        not a.filename.startswith(TMP_PREFIX):
                    path = posixpath.join(wd, section, a.filename)
                    size, used = _tree_size(sftp, path)
                    items.append({"path": path, "bytes": size, "used": used})
        return {"workdir": wd, "bytes": sum(i["bytes"] for i in items), "items": items}

    # running -----------------------------------------------------------------------
    def start_agent(self, deployment: Deployment, options: AgentOptions) -> AgentProcess:
        conn = self._require()
        argv = [self.python, deployment.bundle_path, "run", "--package", deployment.package_dir,
                "--input", deployment.input_spec, *options.args()]
        if deployment.package_digest:
            argv += ["--expect-digest", deployment.package_digest]
        # The login shell runs `exec /bin/sh -c SCRIPT`; the script prints its pid
        # and execs the agent, so that pid is the agent's (and its process group).
        script = ("unset PYTHONPATH; printf '\\n%s%s\\n' " + shlex.quote(PID_MARKER.decode())
                  + ' "$$"; exec ' + _cmd(*argv))
        command = "exec /bin/sh -c " + shlex.quote(script)
        try:
            chan = conn.open_exec(command, timeout=COMMAND_TIMEOUT_S)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            err = self._lost(conn, "starting the agent", exc)
            raise err from None
        return SSHAgentProcess(conn, chan, self.describe(), deployment.bundle_path,
                               self._note_orphan,
                               lambda: self._suspects.add(deployment.package_dir))


def _tree_size(sftp: paramiko.SFTPClient, path: str) -> tuple[int, float]:
    """(bytes under ``path``, mtime of its marker or of the folder)."""
    total = 0
    used = 0.0
    for a in sftp.listdir_attr(path):
        p = posixpath.join(path, a.filename)
        if a.st_mode is not None and stat.S_ISDIR(a.st_mode):
            total += _tree_size(sftp, p)[0]
        else:
            total += a.st_size or 0
            if a.filename == MARKER:
                used = float(a.st_mtime or 0)
    return total, used


def _rmtree(sftp: paramiko.SFTPClient, path: str) -> None:
    """Remove a cache folder over SFTP (no shell): its marker first, so it stops counting."""
    try:
        listing = sftp.listdir_attr(path)
    except FileNotFoundError:
        return
    listing.sort(key=lambda a: a.filename != MARKER)
    for a in listing:
        p = posixpath.join(path, a.filename)
        if a.st_mode is not None and stat.S_ISDIR(a.st_mode):
            _rmtree(sftp, p)
        else:
            with contextlib.suppress(FileNotFoundError):
                sftp.remove(p)
    with contextlib.suppress(FileNotFoundError):
        sftp.rmdir(path)


__all__ = [
    "HostKeyChanged",
    "HostKeyUnknown",
    "LinkWatch",
    "RemoteResult",
    "SSHAgentProcess",
    "SSHConnection",
    "SSHDevice",
    "SSHTarget",
    "connect_target",
    "open_ssh_device",
    "parse_ssh_url",
    "resolve_target",
]

