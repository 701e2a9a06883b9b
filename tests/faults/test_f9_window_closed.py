"""Fault 9: the window is closed mid-run.

The real main window (pytest-qt, offscreen) runs the demo recording on
This computer, and on an SSH device (a real sshd, tests/helpers/sshd.py);
mid-run the user closes the window. Expected: the run is stopped (not
abandoned), the agent is gone from the device, the session is ``stopped``
and holds every frame the window received; then the window goes away.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6")

from helpers.faults import alive, devicelab
from helpers.procs import allowed_pids, child_pids

from console.core.store import SessionStore

from .conftest import agent_pids, wait_no_agent


@pytest.fixture
def open_window(qtbot: Any) -> Iterator[Callable[..., Any]]:
    from console.ui.main_window import MainWindow, StartupChoices

    windows: list[Any] = []

    def make(**choices: Any) -> Any:
        w = MainWindow(StartupChoices(**choices))
        qtbot.addWidget(w)
        w.show()
        qtbot.waitExposed(w)
        windows.append(w)
        qtbot.waitUntil(lambda: not w.package.pending, timeout=30_000)
        if choices.get("device") == "local":  # probed at start; SSH devices on request
            qtbot.waitUntil(lambda: w.devices.current().state not in ("probing", "unknown"),
                            timeout=60_000)
        return w

    yield make
    import shiboken6

    for w in windows:  # a failed test must not leave a run behind
        if shiboken6.isValid(w) and w.running:
            w.supervisor.abort()
            qtbot.waitUntil(lambda w=w: not w.running, timeout=30_000)
        if shiboken6.isValid(w):
            w.jobs.wait_all()


def _start(qtbot: Any, w: Any, agents: Callable[[], list[int]]) -> list[int]:
    """Start a looping run from the window; return the agent's pid(s) once it streams."""
    w.input.fps_spin.setValue(60.0)
    w.input.loop_check.setChecked(True)
    w.start_run()
    qtbot.waitUntil(lambda: bool(agents()), timeout=60_000)
    qtbot.waitUntil(lambda: w.frames_received >= 30, timeout=60_000)
    return agents()


def _close_and_check(qtbot: Any, w: Any, db: Path) -> dict:
    w.close()  # the user clicks the window's close button
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=30_000)
    assert not w.running, "the run thread has ended"
    result = w.last_result
    assert result is not None and result.status == "stopped", result
    with SessionStore(db) as st:
        s = st.get_session(result.session_id)
        assert s["status"] == "stopped" and s["ended_at"] is not None
        # everything the window received is in the log
        assert st.frame_count(s["id"]) == s["frames_received"] == w.frames_received >= 30
    return s


def _local_agents() -> list[int]:
    return [p for p in child_pids() if p not in allowed_pids()]


def test_closing_the_window_stops_the_local_run_and_its_agent(
        open_window: Callable[..., Any], qtbot: Any, tmp_path: Path, demo_video: Path) -> None:
    db = tmp_path / "sessions.db"
    w = open_window(db_path=db, input=str(demo_video), device="local")
    agents = _start(qtbot, w, _local_agents)
    s = _close_and_check(qtbot, w, db)
    assert s["device_kind"] == "local"
    assert not any(alive(p) for p in agents), "the agent is gone"


@pytest.mark.ssh
def test_closing_the_window_stops_the_ssh_run_and_leaves_no_agent_on_the_device(
        open_window: Callable[..., Any], qtbot: Any, ssh_env: Any, tmp_path: Path,
        demo_video: Path) -> None:
    ssh_env.trust()
    res = devicelab("devices", "add", "bench", ssh_env.url, "--python", sys.executable,
                    "--workdir", str(ssh_env.workdir), "--key-file",
                    str(ssh_env.server.client_key), env=ssh_env.env())
    assert res.returncode == 0, res.stderr
    db = tmp_path / "sessions.db"
    w = open_window(db_path=db, input=str(demo_video), device="bench")
    assert w.devices.current().name == "bench"
    _start(qtbot, w, lambda: agent_pids(str(ssh_env.workdir)))
    s = _close_and_check(qtbot, w, db)
    assert s["device_kind"] == "ssh"
    assert wait_no_agent(str(ssh_env.workdir), timeout=5) == [], "agent left on the device"
