"""A plan over the network-namespace lab (tests/helpers/netns.py): three SSH devices, each
its own sshd in its own network namespace — ``plain``; ``throttled`` (its sshd, and so
its agents, in a CPU-bandwidth cgroup); ``unprivileged`` (a non-root login whose own
venv holds onnxruntime: the saved device's --python)."""

from __future__ import annotations

import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

#: the root conftest loads the lab as a plugin (pytest_plugins) where it has it
_AS_PLUGIN = "helpers.netns" in sys.modules
netns = pytest.importorskip("helpers.netns", reason="the network-namespace lab "
                            "(tests/helpers/netns.py) is not in this tree")
if not _AS_PLUGIN:
    netns_lab = netns.netns_lab  # its session fixture, used here by name

from console.core.store import SessionStore  # noqa: E402
from console.devices.device_list import SavedDevice, add_device  # noqa: E402
from console.session.plan_check import check_plan  # noqa: E402
from console.session.plan_log import get_plan_run  # noqa: E402
from console.session.plan_report import render_plan_html  # noqa: E402
from console.session.plan_run import (  # noqa: E402
    EXIT_DEVICE,
    DeviceProgress,
    PlanListener,
    PlanResult,
    PlanRun,
)

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "resources" / "packages" / "digits-cnn"
PKG8 = ROOT / "resources" / "packages" / "digits-cnn-int8"
NAMES = ("plain", "throttled", "unprivileged")

pytestmark = [pytest.mark.ssh, pytest.mark.slow]


@pytest.fixture
def saved_lab(netns_lab: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The lab's devices saved under their names, their host keys known to this user."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    for d in netns_lab:
        d.start()  # a test before may have killed it
        d.trust(home / ".ssh" / "known_hosts")
        add_device(SavedDevice(name=d.name, address=d.url, python=d.python,
                               workdir=str(d.workdir), key_file=str(d.client_key)))
    yield netns_lab
    for d in netns_lab:
        d.start()
        left = d.wait_idle()
        assert not left, f"processes left on {d.name} after the test: {left}"


def _plan(tmp_path: Path, run: str, inputs: str = '["synthetic:640x480"]') -> Path:
    p = tmp_path / "plan.toml"
    p.write_text(f'name = "lab"\ndevices = {list(NAMES)!r}\n'.replace("'", '"')
                 + f'packages = ["{PKG}", "{PKG8}"]\ninputs = {inputs}\n[run]\n{run}\n')
    return p


class _Frames(PlanListener):
    def __init__(self) -> None:
        self.frames: dict[str, int] = {}

    def progress(self, p: DeviceProgress) -> None:
        self.frames[p.device] = p.frames


def test_three_namespace_devices_the_throttled_one_slower_the_unprivileged_one_its_venv(
        saved_lab: Any, tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    checked = check_plan(_plan(tmp_path, "frames = 100"))
    assert checked.ok, checked.lines()
    result = PlanRun(checked, db).execute()
    assert result.exit_code == 0, [(o.cell.device, o.reason) for o in result.outcomes]
    with SessionStore(db, readonly=True) as st:
        run = get_plan_run(st, result.run_id)
        assert run is not None
        page = render_plan_html(st, run)
        unpriv = [st.get_session(c["session_id"]) for c in run["cells"]
                  if c["device"] == "unprivileged"]
    assert all(s and s["device_identity"]["user"] == netns.DEVICE_USER for s in unpriv)
    assert all(s and s["device_facts"]["python_executable"] == saved_lab["unprivileged"].python
               for s in unpriv)
    shown: dict[str, list[tuple[float, float]]] = {}
    for dev, p95, fps in re.findall(r"data-device='([^']+)' data-verdict='pass' "
                                    r"data-p50-ms='[^']*' data-p95-ms='([^']+)' "
                                    r"data-fps='([^']+)'", page):
        shown.setdefault(dev, []).append((float(p95), float(fps)))
    assert set(shown) == set(NAMES)
    for (p95_t, fps_t), (p95_p, fps_p) in zip(shown["throttled"], shown["plain"]):
        assert p95_t > p95_p and fps_t < fps_p, shown


def test_a_device_killed_mid_plan_is_lost_the_others_pass(saved_lab: Any,
                                                          tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    checked = check_plan(_plan(tmp_path, "fps = 30\nframes = 150", '["synthetic:64x64"]'))
    assert checked.ok, checked.lines()
    ls = _Frames()
    box: dict[str, PlanResult] = {}
    t = threading.Thread(target=lambda: box.update(r=PlanRun(checked, db, ls).execute()))
    t.start()
    deadline = time.monotonic() + 120
    while ls.frames.get("plain", 0) < 20:
        assert time.monotonic() < deadline and t.is_alive(), "plain never streamed"
        time.sleep(0.05)
    saved_lab["plain"].kill()  # every process in its namespace: sshd, session, agent
    t.join(180)
    assert not t.is_alive()
    result = box["r"]
    for o in result.outcomes:
        if o.cell.device == "plain":
            assert o.verdict == "not run" and o.reason.startswith("device lost"), o.reason
        else:
            assert o.verdict == "pass", (o.cell.device, o.reason)
    assert result.exit_code == EXIT_DEVICE
    hit = next(o for o in result.outcomes if o.cell.device == "plain" and o.session_id)
    with SessionStore(db, readonly=True) as st:
        s = st.get_session(hit.session_id or 0)
        assert s is not None and s["status"] == "interrupted"
        assert st.frame_count(s["id"]) == s["frames_received"] >= 20
