"""The real ``devicelab`` command, as a user runs it (subprocess)."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.procs import as_from_a_terminal

from console.core.store import SessionStore

ROOT = Path(__file__).resolve().parent.parent
DEVICELAB = str(Path(sys.executable).parent / "devicelab")


def dl(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([DEVICELAB, *args], capture_output=True, text=True, timeout=timeout,
                          **kw)


def test_version_comes_from_pyproject() -> None:
    want = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)[1]
    res = dl("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"devicelab {want}"


@pytest.mark.parametrize("cmd", [
    [], ["package"], ["sessions"], ["devices"], ["keys"], ["gui"],
    ["run"], ["package", "verify"], ["package", "build"], ["package", "keygen"],
    ["package", "sign"], ["sessions", "list"], ["sessions", "show"], ["sessions", "replay"],
    ["sessions", "compare"], ["sessions", "export"], ["sessions", "import"],
    ["sessions", "matrix"], ["sessions", "bookmark"], ["sessions", "delete"],
    ["devices", "probe"], ["devices", "add"], ["devices", "list"], ["devices", "remove"],
    ["keys", "add"], ["keys", "list"], ["keys", "remove"], ["keys", "policy"]])
def test_every_command_has_help_with_example(cmd: list[str]) -> None:
    res = dl(*cmd, "--help")
    assert res.returncode == 0
    assert "example" in res.stdout


def test_package_verify_good_and_tampered(demo_package: Path, tmp_path: Path) -> None:
    assert dl("package", "verify", str(demo_package)).returncode == 0
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(demo_package, bad)
    data = bytearray((bad / "model.onnx").read_bytes())
    data[100] ^= 0xFF
    (bad / "model.onnx").write_bytes(bytes(data))
    res = dl("package", "verify", str(bad))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "model.onnx: sha256" in lines[0]
    assert "Traceback" not in res.stderr + res.stdout


def test_run_refuses_bad_package_with_one_line(tmp_path: Path, demo_package: Path) -> None:
    res = dl("run", "--package", str(tmp_path), "--input", "synthetic", "--db",
             str(tmp_path / "s.db"))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1].startswith("devicelab: error: package refused:")
    assert "Traceback" not in res.stderr


def test_run_demo_then_list_and_show(demo_package: Path, demo_video: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    res = dl("run", "--device", "local", "--package", str(demo_package), "--input",
             str(demo_video), "--json", "--db", db)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["status"] == "completed"
    sid = out["session_id"]
    lst = dl("sessions", "list", "--db", db)
    assert lst.returncode == 0 and "digits-cnn@" in lst.stdout and "completed" in lst.stdout
    show = dl("sessions", "show", str(sid), "--db", db)
    assert show.returncode == 0
    assert f"session {sid}" in show.stdout and "p99.9" in show.stdout
    assert dl("sessions", "show", "9999", "--db", db).returncode == 2


def _agent_pids(home: str) -> list[int]:
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as fh:
                    cmd = fh.read().decode(errors="replace")
            except OSError:
                continue
            if home in cmd and ".pyz" in cmd:
                pids.append(int(d))
    return pids


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=["ctrl-c", "sigterm", "sighup"])
def test_a_stop_signal_stops_cleanly_and_keeps_session(demo_package: Path, tmp_path: Path,
                                                       devicelab_home: Path, sig: int) -> None:
    """Ctrl-C at a terminal, SIGTERM from `timeout`/CI, SIGHUP from a closed terminal:
    the session ends `stopped` with its summary, not `running` until the next start."""
    db = str(tmp_path / "s.db")
    proc = subprocess.Popen([DEVICELAB, "run", "--package", str(demo_package), "--input",
                             "synthetic:64x64", "--fps", "100", "--json", "--db", db],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=as_from_a_terminal)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.3)
            if Path(db).exists():
                with SessionStore(db) as st:
                    rows = st.list_sessions()
                    if rows and st.frame_count(rows[0]["id"]) > 10:
                        break
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    result = json.loads(out)
    assert result["status"] == "stopped"
    with SessionStore(db) as st:
        s = st.get_session(result["session_id"])
        assert s["status"] == "stopped"
        assert st.frame_count(s["id"]) == s["summary"]["frames"] > 10
    assert _agent_pids(str(devicelab_home)) == []


def test_an_internal_error_never_writes_a_stream_password_to_the_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The unexpected-error path logs the command line and the traceback; a stream URL
    there carries a password, which must reach neither the log file nor the terminal."""
    import console.cli as cli
    import console.cli.run as run_cmd
    from console.core.paths import log_dir

    def broken(args: object) -> int:  # an unforeseen failure inside the command
        raise RuntimeError(f"cannot open {args.input}")  # type: ignore[attr-defined]

    monkeypatch.setattr(run_cmd, "cmd_run", broken)
    root = logging.getLogger()  # a log file of an earlier in-process test must not catch it
    monkeypatch.setattr(root, "handlers",
                        [h for h in root.handlers if not isinstance(h, logging.FileHandler)])
    url = "rtsp://admin:hunter2@10.0.0.5:554/stream1"
    code = cli.main(["run", "--device", "local", "--package", "p", "--input", url,
                     "--db", str(tmp_path / "s.db")])
    err = capsys.readouterr().err
    for h in root.handlers:
        h.flush()
    assert code == 70 and "internal error: RuntimeError" in err
    log = (log_dir() / "devicelab.log").read_text()
    assert "rtsp://admin:***@10.0.0.5:554/stream1" in log and "RuntimeError" in log
    assert "hunter2" not in log and "hunter2" not in err


def _wait_for_frames(db: str, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if Path(db).exists():
            with SessionStore(db) as st:
                rows = st.list_sessions()
                if rows and st.frame_count(rows[0]["id"]) >= n:
                    return
    raise AssertionError(f"no {n} frames recorded in {timeout} s")


def test_closing_the_terminal_stops_the_run_in_order(demo_package: Path, tmp_path: Path,
                                                     devicelab_home: Path) -> None:
    """The terminal goes away mid-run (SIGHUP, then every write fails with EIO): the
    session ends `stopped` with its summary, not `failed` by a console error."""
    import pty

    db = str(tmp_path / "s.db")
    pid, fd = pty.fork()
    if pid == 0:  # the child: devicelab on the pty as its terminal
        as_from_a_terminal()
        os.execv(DEVICELAB, [DEVICELAB, "run", "--device", "local", "--package",
                             str(demo_package), "--input", "synthetic", "--duration", "30",
                             "--fps", "20", "--db", db])
    try:
        _wait_for_frames(db, 10)
        os.close(fd)  # the terminal window closed
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("devicelab did not end after its terminal closed")
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    with SessionStore(db) as st:
        (s,) = st.list_sessions()
        assert s["status"] == "stopped" and s["error"] is None, (s["status"], s["error"])
        assert s["summary"]["frames"] == st.frame_count(s["id"]) >= 10
    log = devicelab_home / "data" / "logs" / "devicelab.log"
    assert not log.exists() or "unexpected error" not in log.read_text()
    assert _agent_pids(str(devicelab_home)) == []


def test_a_run_started_with_nohup_survives_a_hangup(demo_package: Path, tmp_path: Path) -> None:
    """`nohup devicelab run …`: SIGHUP ignored at start stays ignored."""
    db = str(tmp_path / "s.db")
    proc = subprocess.Popen(
        [DEVICELAB, "run", "--device", "local", "--package", str(demo_package), "--input",
         "synthetic", "--frames", "60", "--fps", "20", "--quiet", "--json", "--db", db],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))  # what nohup does
    try:
        _wait_for_frames(db, 10)
        proc.send_signal(signal.SIGHUP)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert json.loads(out)["status"] == "completed"
    with SessionStore(db) as st:
        assert st.frame_count(st.list_sessions()[0]["id"]) == 60
