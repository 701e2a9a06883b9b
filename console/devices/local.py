""""This computer": the built-in device, an agent in a local subprocess.

Runs the very same agent bundle that SSH devices get, with this console's
Python, so local runs exercise the standalone agent. Nothing is copied:
the package directory and recording are used where they are (the agent
still checks the package hashes itself before loading it).

POSIX reads the agent's pipe with ``select`` and signals its process group;
elsewhere (Windows) a reader thread feeds a queue and the agent is stopped
with ``terminate``/``kill`` — the protocol's ``stop`` comes first either way.
"""

from __future__ import annotations

import os
import queue
import select
import signal
import subprocess
import sys
import threading
from collections import deque
from typing import Any

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
from console.devices.spec import LOCAL_ADDRESS, LOCAL_NAME, DeviceSpec

__all__ = ["LOCAL_ADDRESS", "LOCAL_NAME", "POSIX", "LocalAgentProcess", "LocalDevice", "agent_argv"]

POSIX = os.name == "posix"


class _StderrTail(threading.Thread):
    """Drains stderr so a chatty agent never blocks on a full pipe; keeps the tail."""

    def __init__(self, stream: Any) -> None:
        super().__init__(name="agent-stderr", daemon=True)
        self.stream = stream
        self.chunks: deque[bytes] = deque(maxlen=64)

    def run(self) -> None:
        try:
            while True:
                b = self.stream.read1(8192) if hasattr(self.stream, "read1") else \
                    self.stream.read(8192)
                if not b:
                    break
                self.chunks.append(b)
        except (OSError, ValueError):
            pass

    def text(self) -> str:
        return b"".join(self.chunks)[-8192:].decode("utf-8", "replace")


class _PipeReader(threading.Thread):
    """Reads the agent's stdout into a queue, for platforms where ``select`` cannot
    wait on a pipe (Windows). A chunk of b"" marks the end."""

    def __init__(self, fd: int) -> None:
        super().__init__(name="agent-stdout", daemon=True)
        self.fd = fd
        self.chunks: queue.Queue[bytes] = queue.Queue()

    def run(self) -> None:
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except OSError:
                data = b""
            self.chunks.put(data)
            if not data:
                return


class LocalAgentProcess(AgentProcess):
    def __init__(self, argv: list[str], env: dict[str, str] | None = None,
                 reader: str | None = None) -> None:
        """``reader``: "select" (POSIX default) or "thread" (elsewhere; tests force it
        here to exercise the path Windows takes)."""
        group: dict[str, Any] = (
            # Own process group: a terminal Ctrl-C reaches the console only,
            # which then stops the agent in order (stop, then signals).
            {"start_new_session": True} if POSIX
            else {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)})
        try:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                bufsize=0, env=env, **group)
        except OSError as exc:
            raise DeviceError(f"cannot start the agent with {argv[0]}: {exc.strerror}") from None
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._fd = self.proc.stdout.fileno()
        self._reader: _PipeReader | None = None
        if (reader or ("select" if POSIX else "thread")) == "thread":
            self._reader = _PipeReader(self._fd)
            self._reader.start()
        self._err = _StderrTail(self.proc.stderr)
        self._err.start()
        self._eof = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def read(self, timeout: float) -> bytes | None:
        if self._eof:
            return b""
        if self._reader is not None:
            try:
                data = self._reader.chunks.get(timeout=max(0.0, timeout))
            except queue.Empty:
                return None
        else:
            r, _, _ = select.select([self._fd], [], [], timeout)
            if not r:
                return None
            try:
                data = os.read(self._fd, 1 << 16)
            except OSError:
                data = b""
        if not data:
            self._eof = True
        return data

    def send(self, data: bytes) -> None:
        stdin = self.proc.stdin
        if stdin is None:
            return
        try:
            stdin.write(data)
            stdin.flush()
        except (OSError, ValueError):
            pass  # agent already gone; the reader sees EOF

    def close_stdin(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
        except OSError:
            pass

    def _signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                try:
                    self.proc.send_signal(sig)
                except ProcessLookupError:
                    pass

    def terminate(self) -> None:
        if POSIX:
            self._signal(signal.SIGTERM)
        elif self.proc.poll() is None:
            self.proc.terminate()

    def kill(self) -> None:
        if POSIX:
            self._signal(signal.SIGKILL)
        elif self.proc.poll() is None:
            self.proc.kill()

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stderr_text(self) -> str:
        self._err.join(0.2)
        return self._err.text()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()
            self.proc.wait(5)
        if self._reader is not None:
            # the agent is gone, so its pipe ends: let the reader see that before the fd is
            # closed (a closed fd number may be reused by another file at once)
            self._reader.join(2)
        for s in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                if s:
                    s.close()
            except OSError:
                pass
        self._err.join(1)


def agent_argv(python: str) -> list[str]:
    """How to start the agent here: the bundle, or the frozen app's own entry."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "--agent"]
    return [python, str(agent_bundle.local_bundle_path())]


class LocalDevice(Device):
    kind = "local"

    def __init__(self, python: str | None = None, reader: str | None = None) -> None:
        super().__init__(DeviceSpec.local())
        self.python = python or sys.executable
        #: how the agent's pipe is read: None = this platform's way (see LocalAgentProcess)
        self.reader = reader
        self._facts: dict[str, Any] | None = None

    def connect(self) -> None:
        return None

    def identity(self) -> dict[str, Any]:
        mid = None
        try:
            with open("/etc/machine-id") as fh:
                mid = fh.read().strip() or None
        except OSError:
            pass
        import socket

        return {"kind": "local", "hostname": socket.gethostname(), "machine_id": mid}

    def probe(self) -> dict[str, Any]:
        if getattr(sys, "frozen", False):
            argv = [sys.executable, "--agent", "facts"]
            stdin = None
        else:
            argv = [self.python, "-", os.getcwd()]
            stdin = agent_bundle.facts_source()
        try:
            res = subprocess.run(argv, input=stdin, capture_output=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DeviceError(f"probe of this computer failed: {exc}") from None
        import json

        try:
            facts: dict[str, Any] = json.loads(res.stdout.decode("utf-8").strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise DeviceError("probe of this computer printed no facts: "
                              + res.stderr.decode("utf-8", "replace")[-300:]) from None
        facts["requirements"] = requirement_problems(facts, self.python)
        self._facts = facts
        return facts

    def deploy(self, package: Package, source: InputSource, progress: ProgressFn | None = None,
               cancel: threading.Event | None = None) -> Deployment:
        return Deployment(package_dir=str(package.root), input_spec=source.spec,
                          bundle_path=str(agent_bundle.local_bundle_path()),
                          package_digest=package.digest)

    def start_agent(self, deployment: Deployment, options: AgentOptions) -> AgentProcess:
        input_args, first_line = agent_input_args(deployment.input_spec)
        argv = [*agent_argv(self.python), "run", "--package", deployment.package_dir,
                *input_args, *options.args()]
        if deployment.package_digest:
            argv += ["--expect-digest", deployment.package_digest]
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)  # the bundle must stand on its own
        proc = LocalAgentProcess(argv, env, self.reader)
        if first_line:
            proc.send(first_line)
        return proc
