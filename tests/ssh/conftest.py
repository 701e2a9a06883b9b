"""Fixtures for the SSH tests: a real OpenSSH sshd on 127.0.0.1 is "the device".

- ``sshd`` (session): one server with its own host key, authorized_keys and a
  generated client key (tests/helpers/sshd.py). Absent sshd: skip with the
  reason locally, **fail** when ``CI=true``.
- ``ssh_env`` (per test): a private HOME (so ``~/.ssh/config`` and
  ``~/.ssh/known_hosts`` are the test's own, and no ssh-agent leaks in), a
  device work dir under tmp_path, and a factory for devices that run the
  agent with this venv's Python (root's login shell puts pyenv's ``python3``
  first on PATH here).
- ``home`` (per test): only the private HOME, for tests that need no sshd.
- After every test no agent of that test may still run on the device and no
  connection of it may still be open: the product promises both.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers.sshd import SshServer, serve_for_tests


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    yield from serve_for_tests(tmp_path_factory.mktemp("sshd"), "the SSH tests")


def agent_pids(pattern: str) -> list[int]:
    """Agents on the device (this machine) whose command line holds ``pattern``."""
    res = subprocess.run(["pgrep", "-f", "--", pattern], capture_output=True, text=True,
                         timeout=10)
    return [int(p) for p in res.stdout.split()]


def wait_no_agent(pattern: str, timeout: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        pids = agent_pids(pattern)
        if not pids or time.monotonic() > deadline:
            return pids
        time.sleep(0.1)


@dataclass
class SshEnv:
    server: SshServer
    home: Path
    workdir: Path
    python: str = sys.executable

    @property
    def url(self) -> str:
        return self.server.url

    def trust(self) -> None:
        """The user already knows the device: its key in ~/.ssh/known_hosts."""
        kh = self.home / ".ssh" / "known_hosts"
        with kh.open("a") as fh:
            fh.write(self.server.known_hosts_line())

    def device(self, spec: str | None = None, **kw: Any) -> Any:
        from console.devices.ssh import open_ssh_device

        kw.setdefault("python", self.python)
        kw.setdefault("workdir", str(self.workdir))
        if spec is None:
            kw.setdefault("key_file", str(self.server.client_key))
        return open_ssh_device(spec or self.url, **kw)

    def start_paced_run(self, package: Path, db_path: Path) -> Any:
        """A known device running 100 synthetic frames/s in a worker thread, as the
        window does: (device, run, listener, thread, box) — close the device after."""
        from helpers.faults import Collect, in_thread

        from console.devices.base import AgentOptions
        from console.session.run import Run, RunRequest

        self.trust()
        dev = self.device()
        ls = Collect()
        run = Run(dev, RunRequest(str(package), "synthetic:64x64", AgentOptions(fps=100)),
                  db_path, ls)
        t, box = in_thread(run)
        return dev, run, ls, t, box

    def env(self) -> dict[str, str]:
        """Environment for a ``devicelab`` subprocess acting as this test's user."""
        e = dict(os.environ)
        e["HOME"] = str(self.home)
        e.pop("SSH_AUTH_SOCK", None)
        return e


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private HOME with an empty ~/.ssh, for the tests that need no sshd."""
    h = tmp_path / "home"
    (h / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(h))
    return h


@pytest.fixture
def ssh_env(sshd: SshServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
            ) -> Iterator[SshEnv]:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    workdir = tmp_path / "device-cache"
    env = SshEnv(sshd, home, workdir)
    yield env
    left = wait_no_agent(str(workdir))
    open_conns = not sshd.wait_no_connections(10.0)
    if left:
        pytest.fail(f"agent processes still running on the device after the test: {left}")
    if open_conns:
        pytest.fail(f"SSH connections still open after the test: {sshd.connection_pids()}")
