"""Plans on real SSH devices (each its own sshd): deployed once, a device lost mid-plan,
a CPU-limited device measurably slower in the report."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from console.core.store import SessionStore
from console.devices.base import DeployProgress
from console.session.plan_check import check_plan
from console.session.plan_log import get_plan_run
from console.session.plan_report import render_plan_html
from console.session.plan_run import EXIT_DEVICE, DeviceProgress, PlanListener, PlanResult, PlanRun

from .conftest import Lab

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "resources" / "packages" / "digits-cnn"
VIDEO = ROOT / "resources" / "recordings" / "digits-demo.avi"

pytestmark = [pytest.mark.ssh, pytest.mark.slow]


class Watch(PlanListener):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.deploys: list[tuple[str, DeployProgress]] = []
        self.frames: dict[str, int] = {}
        self.outcomes: list[Any] = []

    def deploy_progress(self, device: str, p: DeployProgress) -> None:
        with self.lock:
            self.deploys.append((device, p))

    def progress(self, p: DeviceProgress) -> None:
        with self.lock:
            self.frames[p.device] = p.frames

    def cell_finished(self, outcome: Any) -> None:
        with self.lock:
            self.outcomes.append(outcome)


def plan_file(tmp_path: Path, devices: list[str], inputs: list[str], run: str) -> Path:
    p = tmp_path / "plan.toml"
    quoted = ", ".join(f'"{d}"' for d in devices)
    p.write_text(f'name = "ssh-plan"\ndevices = [{quoted}]\npackages = ["{PKG}"]\n'
                 f'inputs = [{", ".join(chr(34) + i + chr(34) for i in inputs)}]\n'
                 f'[run]\n{run}\n')
    return p


def run_plan(path: Path, db: Path, ls: PlanListener) -> PlanResult:
    checked = check_plan(path)
    assert checked.ok, checked.lines()
    return PlanRun(checked, db, ls).execute()


def agents_of(workdir: Path) -> list[int]:
    res = subprocess.run(["pgrep", "-f", "--", str(workdir)], capture_output=True, text=True,
                         timeout=10)
    return [int(p) for p in res.stdout.split()]


def test_packages_and_recordings_are_deployed_once_per_plan(lab: Lab, tmp_path: Path) -> None:
    dev = lab.add("board-a")
    path = plan_file(tmp_path, ["board-a"], [str(VIDEO)], "frames = [20, 30, 40]")
    ls = Watch()
    result = run_plan(path, tmp_path / "s.db", ls)
    assert result.exit_code == 0, [o.reason for o in result.outcomes]
    uploaded = {(p.stage, p.name) for _, p in ls.deploys if not p.cached}
    assert uploaded == {("agent", "agent.pyz"), ("package", "digits-cnn@1.0.0"),
                        ("input", VIDEO.name)}
    # the three cells' own deploys were answered without going to the device again
    assert sum(1 for _, p in ls.deploys if p.cached) >= 3
    assert len(list((dev.workdir / "packages").iterdir())) == 1
    assert len(list((dev.workdir / "inputs").iterdir())) == 1


def test_a_device_whose_sshd_dies_mid_plan_is_lost_and_the_others_carry_on(
        lab: Lab, tmp_path: Path) -> None:
    lab.add("board-a")
    victim = lab.add("board-b")
    path = plan_file(tmp_path, ["local", "board-a", "board-b"],
                     ["synthetic:64x64", "synthetic:48x48"], "fps = 40\nframes = 160")
    db = tmp_path / "s.db"
    ls = Watch()
    box: dict[str, Any] = {}
    t = threading.Thread(target=lambda: box.update(r=run_plan(path, db, ls)), name="plan")
    t.start()
    deadline = time.monotonic() + 90
    while ls.frames.get("board-b", 0) < 20:
        assert time.monotonic() < deadline and t.is_alive(), "board-b never streamed"
        time.sleep(0.05)
    victim.server.stop()  # the device's sshd and its connections: SIGKILL
    t.join(120)
    assert not t.is_alive(), "the plan did not end after a device was lost"
    result: PlanResult = box["r"]
    by = {(o.cell.device, o.cell.input.spec): o for o in result.outcomes}
    for dev in ("local", "board-a"):
        for inp in ("synthetic:64x64", "synthetic:48x48"):
            assert by[(dev, inp)].verdict == "pass", by[(dev, inp)].reason
    hit, after = by[("board-b", "synthetic:64x64")], by[("board-b", "synthetic:48x48")]
    assert hit.verdict == after.verdict == "not run"
    assert hit.reason.startswith("device lost") and after.reason.startswith("device lost")
    assert result.exit_code == EXIT_DEVICE  # no product failure, a device could not be used
    assert hit.session_id is not None
    with SessionStore(db, readonly=True) as st:
        s = st.get_session(hit.session_id)
        assert s is not None and s["status"] == "interrupted"
        kept = st.frame_count(hit.session_id)
        assert kept >= 20 and kept == s["frames_received"]  # nothing received is lost
        run = get_plan_run(st, result.run_id)
    assert run is not None and run["status"] == "incomplete" and run["exit_code"] == 3
    deadline = time.monotonic() + 20
    while agents_of(victim.workdir) and time.monotonic() < deadline:
        time.sleep(0.2)  # the orphaned agent dies on its broken pipe
    assert agents_of(victim.workdir) == []


def test_a_cpu_limited_device_shows_slower_in_the_report(lab: Lab, tmp_path: Path) -> None:
    lab.add("board-fast")
    slow = lab.add("board-slow", cpu_limit=(1000, 10000))  # 1 ms of CPU every 10 ms
    # 640x480 frames: the resize alone takes about the whole quota, so most frames wait
    path = plan_file(tmp_path, ["board-fast", "board-slow"], ["synthetic:640x480"],
                     "frames = 100")
    db = tmp_path / "s.db"
    result = run_plan(path, db, Watch())
    assert result.exit_code == 0, [o.reason for o in result.outcomes]
    assert slow.cgroup is not None
    with SessionStore(db, readonly=True) as st:
        page = render_plan_html(st, get_plan_run(st, result.run_id) or {})
    shown = {dev: (float(p95), float(fps)) for dev, p95, fps in re.findall(
        r"data-device='([^']+)' data-verdict='pass' data-p50-ms='[^']*' data-p95-ms='([^']+)' "
        r"data-fps='([^']+)'", page)}
    assert set(shown) == {"board-fast", "board-slow"}
    (fast_p95, fast_fps), (slow_p95, slow_fps) = shown["board-fast"], shown["board-slow"]
    assert slow_p95 > 2 * fast_p95 and slow_fps < fast_fps / 2, shown
