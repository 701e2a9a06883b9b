"""Fault 2: the SSH link is cut mid-run, and the device comes back later.

Injected for real on a private sshd (tests/helpers/sshd.py): mid-run the
whole server dies (SIGKILL to the listener and to the connection's sshd
processes: the device "reboots"), then it is started again on the same port
with the same host key. The user runs the real ``devicelab run`` against a
saved device. Expected: the run ends ``interrupted`` within a few seconds
(no hang) with one line and every received frame kept; the agent on the
device stops by itself; once the server is back, a new run works.
(The frozen-link variant, sshd SIGSTOPped so TCP stays up, is in
tests/ssh/test_run.py: keepalives detect it.)
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.faults import devicelab, devicelab_popen, user_lines
from helpers.sshd import SSHD, SshdError, SshServer, sshd_missing_reason, start_sshd

from console.core.store import SessionStore

from .conftest import wait_no_agent

pytestmark = pytest.mark.ssh


def _need_sshd(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true: the SSH faults must run, but {reason}")
    pytest.skip(f"needs a real sshd: {reason}")


def _restart(srv: SshServer) -> SshServer:
    """The same server (config, port, host key) started again: the device is back."""
    with srv.log.open("ab") as err:
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(srv.root / "sshd_config")],
                                stdin=subprocess.DEVNULL, stdout=err, stderr=err)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", srv.port), timeout=1) as s:
                s.settimeout(2)
                if s.recv(64).startswith(b"SSH-"):
                    return dataclasses.replace(srv, proc=proc)
        except OSError:
            time.sleep(0.1)
    proc.kill()
    proc.wait(10)
    pytest.fail(f"sshd did not come back on port {srv.port}: {srv.log_tail()}")


@pytest.fixture
def device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """A private sshd this test may kill, and a saved device "bench" pointing at it."""
    reason = sshd_missing_reason()
    if reason:
        _need_sshd(reason)
    try:
        srv = start_sshd(tmp_path / "sshd")
    except SshdError as exc:
        _need_sshd(str(exc))
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    (home / ".ssh" / "known_hosts").write_text(srv.known_hosts_line())
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    workdir = tmp_path / "device-cache"
    box = {"server": srv, "workdir": workdir}
    try:
        res = devicelab("devices", "add", "bench", srv.url, "--python", sys.executable,
                        "--workdir", str(workdir), "--key-file", str(srv.client_key))
        assert res.returncode == 0, res.stderr
        yield box
    finally:
        box["server"].stop()
    assert wait_no_agent(str(workdir)) == []


def _frames(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as c:
            return int(c.execute("SELECT COUNT(*) FROM frames").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_link_cut_mid_run_is_interrupted_quickly_and_a_new_run_works_when_back(
        device: dict, demo_package: Path, demo_video: Path, tmp_path: Path) -> None:
    srv: SshServer = device["server"]
    db = tmp_path / "sessions.db"
    console = devicelab_popen("run", "--device", "bench", "--db", str(db), "--package",
                              str(demo_package), "--input", str(demo_video), "--loop",
                              "--fps", "60")
    try:
        deadline = time.monotonic() + 90
        while _frames(db) < 40:
            assert time.monotonic() < deadline and console.poll() is None, \
                console.stderr.read() if console.poll() is not None else "no frames"
            time.sleep(0.1)
        cut = srv.signal_connections(signal.SIGKILL)
        srv.proc.kill()  # the listener too: the device is gone
        srv.proc.wait(10)
        t_cut = time.monotonic()
        assert cut, "there was a connection to cut"
        out, err = console.communicate(timeout=60)
        noticed = time.monotonic() - t_cut
    finally:
        if console.poll() is None:
            console.kill()
            console.communicate()
    print(f"\nlink cut: devicelab ended {noticed:.1f} s later")
    assert noticed < 15, f"the run took {noticed:.1f} s to notice the link was gone"
    assert console.returncode == 1
    lines = user_lines(err)
    assert len(lines) == 1, err
    assert lines[0].startswith("devicelab: run interrupted: connection to bench")
    assert "lost" in lines[0]
    kept = int(lines[0].rsplit("frames kept: ", 1)[1].rstrip(")"))
    assert "Traceback" not in out + err
    with SessionStore(db) as st:
        (s,) = st.list_sessions()
        assert s["status"] == "interrupted" and "lost" in s["error"]
        assert st.frame_count(s["id"]) == kept == s["frames_received"] >= 40
    # the orphaned agent notices (stdin EOF) and stops by itself
    assert wait_no_agent(str(device["workdir"])) == []

    device["server"] = srv = _restart(srv)
    res = devicelab("run", "--device", "bench", "--db", str(db), "--package",
                    str(demo_package), "--input", "synthetic:64x64", "--frames", "25")
    assert res.returncode == 0, res.stderr
    with SessionStore(db) as st:
        latest = st.list_sessions()[0]
        assert latest["status"] == "completed" and latest["frames_received"] == 25
