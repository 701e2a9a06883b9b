"""Run options end to end with the real agent: the duration limit and an unknown provider.

Each is checked on the agent's own protocol stream (what any console reads)
and through :class:`~console.session.run.Run` into a real SQLite log (what
the user gets): real agent subprocess, real onnxruntime, demo package.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import onnxruntime as ort
from helpers.faults import finish, in_thread

from console.core import protocol as P
from console.core.store import SessionStore
from console.devices.agent_bundle import local_bundle_path
from console.devices.base import AgentOptions
from console.devices.local import LocalDevice
from console.session.run import Run, RunRequest

DURATION_S = 1.5
FPS = 20.0
#: Paced at FPS, the agent cannot send more than one frame per period (no bursts).
MOST_FRAMES = int(DURATION_S * FPS) + 1
#: Generous: a loaded 2-core machine may fall behind the pace, never this far.
FEWEST_FRAMES = 15
BAD_PROVIDER = "NoSuchExecutionProvider"


def _agent(args: list[str], timeout: float = 60) -> tuple[list[P.Message], bytes, int]:
    """The real agent run to its own end, stdin kept open (EOF on stdin means "stop")."""
    proc = subprocess.Popen([sys.executable, str(local_bundle_path()), *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    killer = threading.Timer(timeout, proc.kill)  # an agent that never ends fails, not hangs
    killer.daemon = True
    killer.start()
    try:
        out = proc.stdout.read()
        proc.wait(timeout)
        err = proc.stderr.read()
    finally:
        killer.cancel()
        killer.join()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for s in (proc.stdin, proc.stdout, proc.stderr):
            s.close()
    assert proc.returncode != -9, f"the agent did not end within {timeout:.0f} s"
    return [P.decode(line) for line in out.splitlines()], err, proc.returncode


def test_agent_duration_limit_ends_the_run_by_itself(demo_package: Path) -> None:
    # synthetic input never ends and there is no frame limit: only --duration can stop it.
    msgs, err, rc = _agent(["run", "--package", str(demo_package), "--input", "synthetic:32x32",
                            "--duration", str(DURATION_S), "--fps", str(FPS),
                            "--preview-fps", "0"])
    assert rc == 0, err.decode()
    frames = [m for m in msgs if isinstance(m, P.Frame)]
    summary = msgs[-1]
    assert isinstance(summary, P.Summary) and summary.reason == "duration"
    assert summary.frames == summary.sent == len(frames)
    assert FEWEST_FRAMES <= len(frames) <= MOST_FRAMES, len(frames)
    assert [f.i for f in frames] == list(range(len(frames)))


def test_run_with_duration_limit_completes_with_its_frames(demo_package: Path,
                                                           db_path: Path) -> None:
    opts = AgentOptions(duration=DURATION_S, fps=FPS, preview_fps=0, telemetry_ms=100)
    run = Run(LocalDevice(), RunRequest(str(demo_package), "synthetic:32x32", opts), db_path)
    t, box = in_thread(run)
    res = finish(run, t, box, timeout=60)  # a limit that never fires fails here, not hangs
    assert res.status == "completed", res.error
    assert res.session_id is not None
    with SessionStore(db_path) as st:
        s = st.get_session(res.session_id)
        assert s is not None and s["status"] == "completed" and s["error"] is None
        n = st.frame_count(res.session_id)
        assert FEWEST_FRAMES <= n <= MOST_FRAMES, n
        assert s["frames_received"] == n == s["summary"]["frames"]
        assert s["settings"]["duration"] == DURATION_S and s["settings"]["fps"] == FPS


def _one_line_naming_the_providers(text: str) -> None:
    assert "\n" not in text
    assert BAD_PROVIDER in text
    for available in ort.get_available_providers():
        assert available in text, f"{available} missing from: {text}"


def test_agent_unknown_provider_is_one_protocol_error(demo_package: Path) -> None:
    msgs, err, rc = _agent(["run", "--package", str(demo_package), "--input", "synthetic:32x32",
                            "--frames", "5", "--provider", BAD_PROVIDER])
    assert rc == 3, err.decode()
    assert isinstance(msgs[0], P.Hello)
    errors = [m for m in msgs if isinstance(m, P.Error)]
    assert len(errors) == 1 and errors[0].code == "provider_unavailable" and errors[0].fatal
    _one_line_naming_the_providers(errors[0].text)
    assert not any(isinstance(m, P.Frame) for m in msgs)
    assert isinstance(msgs[-1], P.Summary) and msgs[-1].reason == "error"
    assert b"Traceback" not in err


def test_run_with_unknown_provider_fails_in_one_line(demo_package: Path, db_path: Path) -> None:
    opts = AgentOptions(frames=5, provider=BAD_PROVIDER, preview_fps=0)
    res = Run(LocalDevice(), RunRequest(str(demo_package), "synthetic:32x32", opts),
              db_path).execute()
    assert res.status == "failed"
    assert res.error is not None
    _one_line_naming_the_providers(res.error)
    with SessionStore(db_path) as st:
        s = st.get_session(res.session_id)
        assert s is not None and s["status"] == "failed" and s["error"] == res.error
        assert s["provider"] == BAD_PROVIDER, "the setting asked for is recorded"
        assert st.frame_count(res.session_id) == 0
        codes = [e["code"] for e in st.events(res.session_id)]
        assert "provider_unavailable" in codes
