"""Fault 1: the agent is killed with SIGKILL mid-run (here; over SSH in test_f1_ssh.py).

Expected: the session ends ``failed`` with the reason (``killed by SIGKILL``)
and every frame the console received before the kill is in the log.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

from helpers.faults import (
    Collect,
    alive,
    devicelab_popen,
    finish,
    in_thread,
    user_lines,
    wait_gone,
)
from helpers.procs import child_pids

from console.core.store import SessionStore
from console.devices.base import AgentOptions
from console.devices.local import LocalDevice
from console.session.run import Run, RunRequest


def test_agent_sigkilled_mid_run_fails_with_reason_and_keeps_frames(
        demo_package: Path, demo_video: Path, db_path: Path) -> None:
    ls = Collect()
    req = RunRequest(str(demo_package), str(demo_video), AgentOptions(loop=True, fps=200))
    run = Run(LocalDevice(), req, db_path, ls)
    t, box = in_thread(run)
    hello = ls.wait_hello()
    ls.wait_frames(50)
    os.kill(hello.pid, signal.SIGKILL)
    result = finish(run, t, box)
    assert result.status == "failed"
    assert result.error == "the agent ended without a summary (killed by SIGKILL)"
    assert not alive(hello.pid)
    with SessionStore(db_path) as st:
        s = st.get_session(result.session_id)
        assert s["status"] == "failed" and s["error"] == result.error
        assert st.frame_count(s["id"]) == len(ls.frames) == s["frames_received"] >= 50
        assert [int(i) for i in st.frame_column(s["id"], "i")] == [f.i for f in ls.frames]
        assert s["summary"]["frames"] == len(ls.frames)
        assert any(e["code"] == "agent_died" for e in st.events(s["id"]))


def test_cli_reports_the_killed_agent_in_one_line(demo_package: Path, demo_video: Path,
                                                  tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    proc = devicelab_popen("run", "--db", str(db), "--package", str(demo_package),
                           "--input", str(demo_video), "--loop", "--fps", "200")
    try:
        agent = None
        deadline = time.monotonic() + 60
        frames = 0
        while time.monotonic() < deadline:
            kids = child_pids(proc.pid)
            if kids and db.exists():
                agent = kids[0]
                with sqlite3.connect(db) as c:
                    frames = c.execute("SELECT COUNT(*) FROM frames").fetchone()[0]
                if frames >= 50:
                    break
            time.sleep(0.1)
        assert agent is not None and frames >= 50, "the run never got going"
        os.kill(agent, signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert wait_gone(agent, 5)
    assert proc.returncode == 1
    lines = user_lines(err)
    assert len(lines) == 1, err
    assert lines[0].startswith("devicelab: run failed: the agent ended without a summary "
                               "(killed by SIGKILL) (frames kept: ")
    kept = int(lines[0].rsplit("frames kept: ", 1)[1].rstrip(")"))
    assert "Traceback" not in err + out
    with SessionStore(db) as st:
        (s,) = st.list_sessions()
        assert s["status"] == "failed" and "killed by SIGKILL" in s["error"]
        assert st.frame_count(s["id"]) == kept == s["frames_received"] >= frames
