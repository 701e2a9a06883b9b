"""The network-namespace lab leaves nothing behind: its own teardown, and what runs of
dead pids left (a test session killed before its finalisers) at the next build."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers.cpu_cgroup import CpuCgroup
from helpers.netns import (
    IP,
    LabSpec,
    build_lab,
    clean_stale,
    netns_missing_reason,
    unavailable,
)

pytestmark = pytest.mark.ssh


@pytest.fixture(autouse=True)
def _root_only() -> None:
    reason = netns_missing_reason()
    if reason:
        unavailable("the network-namespace lab tests", reason)


def _netns() -> set[str]:
    out = subprocess.run([IP, "netns", "list"], capture_output=True, text=True).stdout
    return {ln.split()[0] for ln in out.splitlines() if ln.strip()}


def _link_exists(name: str) -> bool:
    return subprocess.run([IP, "link", "show", name], capture_output=True).returncode == 0


def _leftovers(pid: int) -> tuple[str, str, CpuCgroup, Path]:
    """What a run of ``pid`` would have made: a namespace, a link, a cgroup, a folder."""
    ns, link = f"dlab-{pid}-0", f"dl{pid}h0"
    subprocess.run([IP, "netns", "add", ns], check=True)
    subprocess.run([IP, "link", "add", link, "type", "veth", "peer", "name", f"dl{pid}d0"],
                   check=True)
    group = CpuCgroup.create(f"devicelab-netns-{pid}-0", 50000, 100000)
    folder = Path(f"/tmp/devicelab-netns-{pid}-0")
    folder.mkdir()
    return ns, link, group, folder


def test_stale_leftovers_of_dead_pids_go_those_of_live_runs_stay() -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid is free now: a run that was killed
    alive = subprocess.Popen(["sleep", "120"])  # a run still going on
    made: list[tuple[str, str, CpuCgroup, Path]] = []
    try:
        made.append(_leftovers(gone.pid))
        made.append(_leftovers(alive.pid))
        removed = clean_stale()
        (ns, link, group, folder), live = made
        assert f"netns {ns}" in removed
        assert ns not in _netns() and not _link_exists(link)
        assert not group.path.exists() and not folder.exists()
        ns, link, group, folder = live
        assert ns in _netns() and _link_exists(link) and group.path.exists() and folder.exists()
    finally:
        alive.kill()
        alive.wait(10)
        for ns, link, group, folder in made:
            subprocess.run([IP, "netns", "del", ns], capture_output=True)
            subprocess.run([IP, "link", "del", link], capture_output=True)
            group.remove()
            if folder.exists():
                folder.rmdir()


def test_close_removes_what_the_build_made() -> None:
    lab = build_lab([LabSpec("one", cpu=(50000, 100000))])
    try:
        d = lab["one"]
        assert d.ns in _netns() and _link_exists(d.link)
        assert d.cgroup is not None and d.proc is not None
        assert d.proc.pid in d.cgroup.pids()  # the sshd runs in its limit
        assert d.proc.pid in d.pids()  # and in its namespace
    finally:
        lab.close()
    assert d.ns not in _netns() and not _link_exists(d.link)
    assert not d.cgroup.path.exists() and not lab.root.exists()
    assert d.proc.poll() is not None  # its sshd is gone too
