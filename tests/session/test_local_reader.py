"""The built-in device's other way of reading the agent: a reader thread and a queue.

Windows cannot ``select`` on a pipe, so there the console reads the agent's stdout
in a thread. These machines are Linux: the tests force that path here
(``LocalDevice(reader="thread")``) with the real agent, real onnxruntime and a real
SQLite log, so the code Windows would run is exercised end to end. What still
differs on Windows (process groups, ``terminate``) cannot be run here.
"""

from __future__ import annotations

import time
from pathlib import Path

from helpers.faults import finish, in_thread

from console.core.store import SessionStore
from console.devices.base import AgentOptions
from console.devices.local import LocalAgentProcess, LocalDevice
from console.session.run import Run, RunListener, RunRequest


class Frames(RunListener):
    def __init__(self) -> None:
        self.n = 0

    def frame(self, msg: object) -> None:
        self.n += 1


def test_a_whole_recording_through_the_threaded_reader(demo_package: Path, demo_video: Path,
                                                       db_path: Path) -> None:
    device = LocalDevice(reader="thread")
    res = Run(device, RunRequest(str(demo_package), str(demo_video),
                                 AgentOptions(telemetry_ms=20)), db_path).execute()
    assert res.status == "completed", res.error
    with SessionStore(db_path) as st:
        s = st.get_session(res.session_id)
        assert st.frame_count(s["id"]) == s["summary"]["frames"] == 360
        assert s["summary"]["missing_frames"] == 0
        assert len(st.telemetry(s["id"])) == s["summary"]["telemetry"]["samples"] > 0


def test_stop_and_abort_through_the_threaded_reader(demo_package: Path, db_path: Path) -> None:
    for how in ("stop", "abort"):
        ls = Frames()
        run = Run(LocalDevice(reader="thread"), RunRequest(
            str(demo_package), "synthetic:32x32", AgentOptions(fps=200)), db_path, ls)
        t, box = in_thread(run)
        deadline = time.monotonic() + 30
        while ls.n < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        getattr(run, how)()
        res = finish(run, t, box, timeout=30)
        assert res.status in ("stopped", "failed", "interrupted"), res.status
        if how == "stop":
            assert res.status == "stopped"
        with SessionStore(db_path) as st:
            assert st.frame_count(res.session_id) >= 20
        assert run.proc is not None and run.proc.wait(5) is not None  # no agent left
        assert isinstance(run.proc, LocalAgentProcess) and run.proc._reader is not None


def test_the_reader_sees_the_end_of_a_process_that_dies(tmp_path: Path) -> None:
    import sys

    p = LocalAgentProcess([sys.executable, "-c", "import sys; sys.stdout.write('x' * 100000)"],
                          reader="thread")
    got = b""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        chunk = p.read(1.0)
        if chunk == b"":
            break
        if chunk:
            got += chunk
    assert got == b"x" * 100000
    assert p.read(0.1) == b""  # stays at the end
    p.close()
    assert p._reader is not None and not p._reader.is_alive()
