"""Fault 1 over SSH: the agent on the device is killed with SIGKILL mid-run.

The device is this machine behind a real sshd (tests/helpers/sshd.py), so the
agent's pid from its ``hello`` is a pid here. Expected as locally: the
session ``failed`` with ``killed by SIGKILL``, every received frame kept, no
agent and no connection left behind.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from helpers.faults import finish

from console.core.store import SessionStore

from .conftest import wait_no_agent

pytestmark = pytest.mark.ssh


def _kill_agent_mid_run(ssh_env, demo_package: Path, db_path: Path):
    dev, run, ls, t, box = ssh_env.start_paced_run(demo_package, db_path)
    try:
        hello = ls.wait_hello()
        ls.wait_frames(40)
        os.kill(hello.pid, signal.SIGKILL)
        result = finish(run, t, box)
    finally:
        if t.is_alive():
            run.abort()
            t.join(30)
        dev.close()
    assert wait_no_agent(str(ssh_env.workdir)) == []
    return result, ls


def test_agent_sigkilled_on_the_device_fails_with_reason_and_keeps_frames(
        ssh_env, demo_package: Path, db_path: Path) -> None:
    result, ls = _kill_agent_mid_run(ssh_env, demo_package, db_path)
    assert result.status == "failed"
    assert result.error == "the agent ended without a summary (killed by SIGKILL)"
    with SessionStore(db_path) as st:
        s = st.get_session(result.session_id)
        assert s["status"] == "failed" and s["error"] == result.error
        assert st.frame_count(s["id"]) == len(ls.frames) == s["frames_received"] >= 40
        assert any(e["code"] == "agent_died" for e in st.events(s["id"]))
