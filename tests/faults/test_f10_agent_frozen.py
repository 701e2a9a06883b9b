"""Fault 10: the agent freezes on a live link (SIGSTOP on the device).

Expected: no frame or telemetry for AGENT_SILENT_S (the link still answers) ends the
run ``interrupted: the agent stopped responding``, with every frame received kept, the
session's end at the last data (not when someone noticed), and the agent gone. Before
this, a frozen agent went unnoticed until Ctrl-C, which then took 8.5 s and recorded
``stopped``.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from helpers.faults import Collect, alive, finish, in_thread, wait_gone

from console.core.store import SessionStore
from console.devices.base import AgentOptions
from console.devices.local import LocalDevice
from console.session.run import AGENT_SILENT_S, Run, RunRequest


def test_frozen_agent_ends_interrupted_and_keeps_its_frames(
        demo_package: Path, demo_video: Path, db_path: Path) -> None:
    ls = Collect()
    req = RunRequest(str(demo_package), str(demo_video), AgentOptions(loop=True, fps=50))
    run = Run(LocalDevice(), req, db_path, ls)
    t, box = in_thread(run)
    hello = ls.wait_hello()
    ls.wait_frames(40)
    os.kill(hello.pid, signal.SIGSTOP)
    frozen_at = time.time()
    try:
        result = finish(run, t, box, timeout=AGENT_SILENT_S + 30)
    finally:
        if alive(hello.pid):
            os.kill(hello.pid, signal.SIGKILL)
    noticed = time.time() - frozen_at
    assert result.status == "interrupted", result
    assert result.error is not None and "the agent stopped responding" in result.error
    assert noticed < AGENT_SILENT_S + 10, f"took {noticed:.1f} s to notice"
    assert wait_gone(hello.pid, 5), "the frozen agent was left behind"
    with SessionStore(db_path) as st:
        rec = st.session(result.session_id)  # type: ignore[arg-type]
        assert rec is not None and rec.status == "interrupted"
        assert st.frame_count(rec.id) == len(ls.frames) == rec.frames_received >= 40
        last_ts = float(st.frame_column(rec.id, "ts")[-1])
        assert rec.ended_unix_s is not None
        # the session ends at the last data, not seconds later when the silence was noticed
        assert rec.ended_unix_s - last_ts < 1.0, (rec.ended_unix_s, last_ts)
        assert any(e["code"] == "agent_unresponsive" for e in st.events(rec.id))
