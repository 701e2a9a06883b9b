"""The SSH device: a lab board behind one :class:`~console.devices.base.Device`.

:func:`open_ssh_device` turns what a user typed (URL, saved name, alias)
into an unconnected :class:`SSHDevice`; :meth:`SSHDevice.connect` opens the
connection (:mod:`~console.devices.ssh.connection`). Probing is one remote
command; deploying is :class:`~console.devices.ssh.deploy.Deployer`'s;
running starts the agent with ``exec`` chains (login shell -> ``/bin/sh``
-> the agent) so the channel's process *is* the agent, and its pid is
printed before the exec (:class:`~console.devices.ssh.process.SSHAgentProcess`).
"""

from __future__ import annotations

import json
import logging
import shlex
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import paramiko

from console.core.inputs import InputSource
from console.core.package import Package
from console.devices import agent_bundle
from console.devices.base import (
    AgentOptions,
    AgentProcess,
    Deployment,
    Device,
    DeviceError,
    ProgressFn,
    agent_input_args,
    requirement_problems,
)
from console.devices.device_list import DEFAULT_CACHE_CAP_MB, DEFAULT_PYTHON
from console.devices.hostkeys import fingerprint_sha256
from console.devices.spec import DeviceSpec, did_you_mean
from console.devices.ssh.auth import PasswordPrompt, tty_prompt
from console.devices.ssh.cache import DEFAULT_WORKDIR, RemoteCache
from console.devices.ssh.config import load_ssh_config
from console.devices.ssh.connection import (
    COMMAND_TIMEOUT_S,
    CONNECT_TIMEOUT_S,
    RemoteResult,
    SSHConnection,
    cmd,
    connect_target,
    lost_error,
    python_missing,
)
from console.devices.ssh.deploy import Deployer
from console.devices.ssh.link import KEEPALIVE_S, LINK_DEAD_S
from console.devices.ssh.process import PID_MARKER, SSHAgentProcess
from console.devices.ssh.target import SSHTarget, literal_hosts, resolve_target

log = logging.getLogger("devicelab.ssh")

PROBE_TIMEOUT_S = 120.0


def open_ssh_device(spec: str | DeviceSpec, *, accept_new_host_key: bool = False,
                    accept_host_key_fingerprint: str | None = None, interactive: bool = False,
                    password_prompt: PasswordPrompt | None = None, key_file: str | None = None,
                    python: str | None = None, workdir: str | None = None,
                    connect_timeout: float = CONNECT_TIMEOUT_S,
                    cache_cap_mb: int | None = None,
                    notice: Callable[[str], None] | None = None) -> SSHDevice:
    """Resolve ``spec`` (URL, saved name, alias) into an unconnected :class:`SSHDevice`.

    Explicit arguments win over the saved device's fields. Nothing touches the
    network here; :meth:`SSHDevice.connect` does. A bare name that is neither
    saved nor in ``~/.ssh/config`` but one typo away from a saved name (or
    ``local``) is refused with the suggestion instead of failing at DNS.
    ``notice`` gets the one line saying a new host key was trusted without a
    dialog (the CLI prints it).
    """
    sp = DeviceSpec.parse(spec) if isinstance(spec, str) else spec
    if sp.kind != "ssh":
        raise DeviceError(f"{sp.name!r} is this computer, not an SSH device: "
                          "use ssh://user@host[:port], a saved device name or an alias")
    key_file = key_file or sp.key_file or None
    if sp.form == "url":
        target = resolve_target(sp.host, sp.user, sp.port, key_file)
        target = replace(target, label=sp.saved_name or target.url)
    else:
        cfg = load_ssh_config()
        if not sp.saved_name and sp.user is None and sp.host not in literal_hosts(cfg):
            near = did_you_mean(sp.host)
            if near is not None:
                raise DeviceError(f"unknown device {sp.host!r} — did you mean {near!r}? (a "
                                  f"host of that name: ssh://{sp.host})")
        target = resolve_target(sp.host, sp.user, None, key_file, label=sp.name, config=cfg)
    if password_prompt is None and interactive:
        password_prompt = tty_prompt
    return SSHDevice(target, sp, python=python or sp.python or DEFAULT_PYTHON,
                     workdir=workdir or sp.workdir,
                     accept_new_host_key=accept_new_host_key,
                     accept_host_key_fingerprint=accept_host_key_fingerprint,
                     password_prompt=password_prompt, connect_timeout=connect_timeout,
                     notice=notice,
                     cache_cap_bytes=(cache_cap_mb or sp.cache_cap_mb or DEFAULT_CACHE_CAP_MB)
                     * 1024 * 1024)


class SSHDevice(Device):
    kind = "ssh"

    def __init__(self, target: SSHTarget, spec: DeviceSpec, *,
                 python: str = DEFAULT_PYTHON, workdir: str = "",
                 accept_new_host_key: bool = False,
                 accept_host_key_fingerprint: str | None = None,
                 password_prompt: PasswordPrompt | None = None,
                 connect_timeout: float = CONNECT_TIMEOUT_S,
                 notice: Callable[[str], None] | None = None,
                 cache_cap_bytes: int = DEFAULT_CACHE_CAP_MB * 1024 * 1024,
                 keepalive_s: float = KEEPALIVE_S, link_dead_s: float = LINK_DEAD_S) -> None:
        super().__init__(spec)
        self.target = target
        self._cache = RemoteCache(self.describe, workdir, cache_cap_bytes)
        self._deployer = Deployer(self._cache, python, self.describe, lambda: self.address)
        self.accept_new_host_key = accept_new_host_key
        self.accept_host_key_fingerprint = accept_host_key_fingerprint
        self.password_prompt = password_prompt
        self.connect_timeout = connect_timeout
        self.notice = notice
        self.keepalive_s = keepalive_s
        self.link_dead_s = link_dead_s
        self._conn: SSHConnection | None = None
        self._lock = threading.Lock()
        #: agents left running by a lost link: (pid, bundle path), killed on reconnect
        self._orphans: list[tuple[int, str]] = []

    @property
    def notes(self) -> str:
        return self.spec.notes

    @property
    def python(self) -> str:
        """The interpreter the agent runs with on the device."""
        return self._deployer.python

    @python.setter
    def python(self, value: str) -> None:
        self._deployer.python = value

    @property
    def workdir(self) -> str:
        """The cache folder as configured ("" = the default); see :meth:`remote_workdir`."""
        return self._cache.workdir_setting

    @workdir.setter
    def workdir(self, value: str) -> None:
        self._cache.workdir_setting = value
        self._cache.reset()

    @property
    def cache_cap_bytes(self) -> int:
        return self._cache.cap_bytes

    @cache_cap_bytes.setter
    def cache_cap_bytes(self, value: int) -> None:
        self._cache.cap_bytes = value

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
                keepalive_s=self.keepalive_s, link_dead_s=self.link_dead_s,
                notice=self.notice)
            self._cache.reset()
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
        if not self.spec.saved_name:
            return self.target.label if self.spec.form == "url" else self.spec.address
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

    # probing ---------------------------------------------------------------------
    def _python_missing(self, res: RemoteResult) -> DeviceError:
        return python_missing(res, self.python, self.describe(), self.address)

    def probe(self) -> dict[str, Any]:
        """Device facts via ONE remote command, plus requirement problems with their fixes."""
        conn = self._require()
        command = cmd(self.python, "-", self.workdir or DEFAULT_WORKDIR)
        try:
            res = conn.run(command, stdin=agent_bundle.facts_source(), timeout=PROBE_TIMEOUT_S)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise lost_error(conn, self.describe(), "probe", exc) from None
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
        return self._cache.workdir(self._require())

    def deploy(self, package: Package, source: InputSource, progress: ProgressFn | None = None,
               cancel: threading.Event | None = None) -> Deployment:
        return self._deployer.deploy(self._require(), package, source, progress, cancel)

    def cache_usage(self) -> dict[str, Any]:
        """What the device cache holds: {"workdir", "bytes", "items": [{path, bytes, used}]}."""
        return self._cache.usage(self._require())

    # running -----------------------------------------------------------------------
    def start_agent(self, deployment: Deployment, options: AgentOptions) -> AgentProcess:
        conn = self._require()
        input_args, first_line = agent_input_args(deployment.input_spec)
        argv = [self.python, deployment.bundle_path, "run", "--package", deployment.package_dir,
                *input_args, *options.args()]
        if deployment.package_digest:
            argv += ["--expect-digest", deployment.package_digest]
        # The login shell runs `exec /bin/sh -c SCRIPT`; the script prints its pid
        # and execs the agent, so that pid is the agent's (and its process group).
        script = ("unset PYTHONPATH; printf '\\n%s%s\\n' " + shlex.quote(PID_MARKER.decode())
                  + ' "$$"; exec ' + cmd(*argv))
        command = "exec /bin/sh -c " + shlex.quote(script)
        try:
            chan = conn.open_exec(command, timeout=COMMAND_TIMEOUT_S)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            err = lost_error(conn, self.describe(), "starting the agent", exc)
            raise err from None
        proc = SSHAgentProcess(conn, chan, self.describe(), deployment.bundle_path,
                               self._note_orphan)
        if first_line:
            proc.send(first_line)
        return proc

    def invalidate_deployment(self, deployment: Deployment) -> None:
        """The agent refused the cached package: the next deploy uploads it again."""
        self._cache.suspects.add(deployment.package_dir)
