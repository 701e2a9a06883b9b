"""Fixtures for the plan tests: lab devices made of real OpenSSH sshd servers on 127.0.0.1.

``lab`` builds saved SSH devices on demand, each with its **own** sshd (its own
host key, trusted in this test's ``~/.ssh/known_hosts``, its own client key
and device work dir), running the agent with this venv's Python — so one
device's sshd can be killed without touching the others. ``cpu_limit=``
puts that device's sshd (and so every agent it starts) in a CPU-bandwidth
cgroup (v1 ``cpu.cfs_quota_us``; root only). Without sshd or cgroups the
tests skip with the reason, and fail under ``CI=true``.

The netns lab (tests/helpers/netns.py, each device in its own network
namespace, one non-root with its own venv) replaces these loopback devices
where it is available.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers.procs import allow_pid
from helpers.sshd import SshdError, SshServer, start_sshd

CGROUP_CPU = Path("/sys/fs/cgroup/cpu")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(what: str, reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true: {what} must run, but {reason}")
    pytest.skip(f"{what}: {reason}")


@dataclass
class LabDevice:
    name: str
    server: SshServer
    workdir: Path
    cgroup: Path | None = None


@dataclass
class Lab:
    root: Path
    home: Path
    devices: list[LabDevice] = field(default_factory=list)

    def add(self, name: str, cpu_limit: tuple[int, int] | None = None) -> LabDevice:
        """A saved device ``name`` with its own sshd; ``cpu_limit`` (quota_us, period_us)."""
        from console.devices.device_list import SavedDevice, add_device

        try:
            srv = start_sshd(self.root / name)
        except SshdError as exc:
            unavailable("the plan SSH tests", str(exc))
            raise
        allow_pid(srv.proc.pid)
        dev = LabDevice(name, srv, self.root / name / "device-cache")
        self.devices.append(dev)
        if cpu_limit is not None:
            dev.cgroup = _cgroup(name, srv.proc.pid, *cpu_limit)
        with (self.home / ".ssh" / "known_hosts").open("a") as fh:
            fh.write(srv.known_hosts_line())
        add_device(SavedDevice(name=name, address=srv.url, python=sys.executable,
                               workdir=str(dev.workdir), key_file=str(srv.client_key)))
        return dev

    def close(self) -> None:
        for d in self.devices:
            d.server.stop()
            if d.cgroup is not None:
                _remove_cgroup(d.cgroup)


def _cgroup(name: str, pid: int, quota_us: int, period_us: int) -> Path:
    if os.geteuid() != 0 or not (CGROUP_CPU / "cgroup.procs").exists():
        unavailable("the CPU-limited device", "needs root and the cgroup v1 cpu controller at "
                    f"{CGROUP_CPU}")
    path = CGROUP_CPU / f"devicelab-plan-test-{os.getpid()}-{name}"
    path.mkdir(exist_ok=True)
    (path / "cpu.cfs_period_us").write_text(str(period_us))
    (path / "cpu.cfs_quota_us").write_text(str(quota_us))
    (path / "cgroup.procs").write_text(str(pid))  # what it starts from now on inherits it
    return path


def _remove_cgroup(path: Path) -> None:
    for _ in range(50):
        try:
            for pid in (path / "cgroup.procs").read_text().split():
                try:
                    (CGROUP_CPU / "cgroup.procs").write_text(pid)
                except OSError:
                    pass
            path.rmdir()
            return
        except OSError:
            time.sleep(0.1)


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    from helpers.sshd import sshd_missing_reason

    reason = sshd_missing_reason()
    if reason:
        unavailable("the plan SSH tests", reason)
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    the_lab = Lab(tmp_path / "lab", home)
    yield the_lab
    the_lab.close()
