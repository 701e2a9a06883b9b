"""A CPU-bandwidth cgroup for a test device: its processes get at most a share of a core.

cgroup v1 (these machines): ``/sys/fs/cgroup/cpu/NAME`` with ``cpu.cfs_quota_us`` and
``cpu.cfs_period_us``; v2 (unified): ``/sys/fs/cgroup/NAME/cpu.max`` ("quota period"),
after enabling the cpu controller in the root's ``cgroup.subtree_control``. (On a
v1 machine ``/sys/fs/cgroup/cpu.max`` is just a file nobody reads: the version is
detected from ``cgroup.controllers``, never guessed from a write that succeeds.)
Root only. A process added before it execs (``preexec_fn``) keeps every child in it.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


class CgroupError(Exception):
    """No CPU controller to limit with (the reason in words)."""


@dataclass
class CpuCgroup:
    """A CPU cgroup: v1 ``cpu/NAME/cpu.cfs_quota_us`` (+ ``cpu.shares``), or v2
    ``NAME/cpu.max`` (+ ``cpu.weight``)."""

    path: Path
    v2: bool

    @classmethod
    def create(cls, name: str, quota_us: int | None = None, period_us: int = 100000,
               weight: int | None = None) -> CpuCgroup:
        """A group with at most ``quota_us`` of CPU every ``period_us`` and/or the CPU
        ``weight`` (v2 scale: 1–10000, 100 a plain process; v1 ``cpu.shares`` =
        weight × 1024 / 100) against everything else on the machine."""
        if (CGROUP / "cgroup.controllers").is_file():  # v2 (unified) hierarchy
            if "cpu" not in (CGROUP / "cgroup.controllers").read_text().split():
                raise CgroupError(f"cgroup v2 at {CGROUP} has no cpu controller")
            ctl = CGROUP / "cgroup.subtree_control"
            if "cpu" not in ctl.read_text().split():
                try:
                    ctl.write_text("+cpu")
                except OSError as exc:
                    raise CgroupError(f"cannot enable the cpu controller in {ctl}: {exc}"
                                      ) from None
            path = CGROUP / name
            path.mkdir(exist_ok=True)
            if quota_us is not None:
                (path / "cpu.max").write_text(f"{quota_us} {period_us}")
            if weight is not None:
                (path / "cpu.weight").write_text(str(weight))
            return cls(path, True)
        v1 = CGROUP / "cpu"
        if not (v1 / "cpu.cfs_quota_us").is_file():
            raise CgroupError(f"no CPU cgroup controller: neither {CGROUP}/cgroup.controllers "
                              f"(v2) nor {v1}/cpu.cfs_quota_us (v1)")
        path = v1 / name
        path.mkdir(exist_ok=True)
        if quota_us is not None:
            (path / "cpu.cfs_period_us").write_text(str(period_us))
            (path / "cpu.cfs_quota_us").write_text(str(quota_us))
        if weight is not None:
            (path / "cpu.shares").write_text(str(max(2, weight * 1024 // 100)))
        return cls(path, False)

    @property
    def root(self) -> Path:
        return self.path.parent

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def throttled_s(self) -> float:
        """CPU time the group was made to wait (proof the limit bites)."""
        try:
            stat = dict(line.split() for line in (self.path / "cpu.stat").read_text()
                        .splitlines() if len(line.split()) == 2)
        except OSError:
            return 0.0
        if self.v2:
            return int(stat.get("throttled_usec", 0)) / 1e6
        return int(stat.get("throttled_time", 0)) / 1e9

    def remove(self) -> None:
        remove_cgroup(self.path)


def remove_cgroup(path: Path) -> None:
    """Move what is left in the group to its parent, then remove it (retried: a process
    may be exiting)."""
    for _ in range(50):
        try:
            for pid in (path / "cgroup.procs").read_text().split():
                with contextlib.suppress(OSError):
                    (path.parent / "cgroup.procs").write_text(pid)
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)
