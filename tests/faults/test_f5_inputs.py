"""Fault 5: inputs that break: a truncated or corrupt recording, a camera that does not
exist, a stream URL that does not answer (or stops answering mid-run).

Expected: the session ends ``failed`` with one clear line naming the input,
and every frame decoded before the input broke is kept. Nothing hangs: a
silent stream gives up within the agent's open/read timeouts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.faults import (
    Collect,
    SilentServer,
    StallingHttpServer,
    devicelab,
    finish,
    in_thread,
    user_lines,
)

from console.core.store import SessionStore
from console.devices.base import AgentOptions
from console.devices.local import LocalDevice
from console.session.run import Run, RunRequest, RunResult

N_DEMO = 360  # frames in resources/recordings/digits-demo.avi (its header says so too)


def _run(demo_package: Path, inp: str, db: Path, **opts: object) -> tuple[RunResult, Collect]:
    ls = Collect()
    run = Run(LocalDevice(), RunRequest(str(demo_package), inp,
                                        AgentOptions(preview_fps=0, **opts)), db, ls)
    t, box = in_thread(run)
    return finish(run, t, box, timeout=90), ls


def _kept(db: Path, result: RunResult, ls: Collect) -> int:
    with SessionStore(db) as st:
        s = st.get_session(result.session_id)
        assert s["status"] == result.status and s["error"] == result.error
        n = st.frame_count(s["id"])
        assert n == len(ls.frames) == s["frames_received"] == s["summary"]["frames"]
        assert [int(i) for i in st.frame_column(s["id"], "i")] == list(range(n))
    return n


def test_truncated_recording_fails_clearly_and_keeps_its_frames(
        demo_package: Path, demo_video: Path, db_path: Path, tmp_path: Path) -> None:
    data = demo_video.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])  # a copy that stopped half way
    result, ls = _run(demo_package, str(cut), db_path)
    assert result.status == "failed"
    assert result.error.startswith("the recording cut.avi ended at frame ")
    assert f"of the {N_DEMO} it announces (truncated or corrupt file)" in result.error
    n = _kept(db_path, result, ls)
    assert 0 < n < N_DEMO
    assert f"the {n} frames before it are kept" in result.error

    res = devicelab("run", "--db", str(tmp_path / "cli.db"), "--package", str(demo_package),
                    "--input", str(cut), timeout=120)
    assert res.returncode == 1
    lines = user_lines(res.stderr)
    assert lines == [f"devicelab: run failed: {result.error} (frames kept: {n})"], res.stderr


def test_corrupt_middle_of_a_recording_is_reported(demo_package: Path, demo_video: Path,
                                                   db_path: Path, tmp_path: Path) -> None:
    data = bytearray(demo_video.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 20000] = b"\0" * 20000  # a damaged stretch of the file
    bad = tmp_path / "damaged.avi"
    bad.write_bytes(bytes(data))
    result, ls = _run(demo_package, str(bad), db_path)
    assert result.status == "failed", "frames were lost: the run is not a complete pass"
    assert "damaged.avi ended at frame" in result.error
    assert 0 < _kept(db_path, result, ls) < N_DEMO


def test_garbage_file_is_refused_by_the_agent_with_a_reason(demo_package: Path, db_path: Path,
                                                            tmp_path: Path) -> None:
    bad = tmp_path / "broken.avi"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00AVI garbage" * 100)
    result, ls = _run(demo_package, str(bad), db_path)
    assert result.status == "failed"
    assert result.error == (f"cannot open {bad}: not a video OpenCV can read (corrupt, "
                            "truncated or an unsupported container)")
    assert _kept(db_path, result, ls) == 0


def test_camera_that_does_not_exist(demo_package: Path, tmp_path: Path) -> None:
    res = devicelab("run", "--db", str(tmp_path / "s.db"), "--package", str(demo_package),
                    "--input", "camera:57", timeout=120)
    assert res.returncode == 1
    assert user_lines(res.stderr) == [
        "devicelab: run failed: camera /dev/video57 does not exist on the device "
        "(frames kept: 0)"], res.stderr
    with SessionStore(tmp_path / "s.db") as st:
        (s,) = st.list_sessions()
        assert s["status"] == "failed" and any(e["code"] == "camera_missing"
                                               for e in st.events(s["id"]))


def test_stream_that_never_answers_fails_without_hanging(demo_package: Path,
                                                         db_path: Path) -> None:
    with SilentServer() as srv:
        result, ls = _run(demo_package, srv.url(), db_path)
    assert result.status == "failed"
    assert result.error == (f"stream {srv.url()} did not answer (unreachable, wrong URL or "
                            "codec)")
    assert _kept(db_path, result, ls) == 0


@pytest.mark.slow
def test_stream_that_stops_answering_mid_run_keeps_the_frames(
        demo_package: Path, demo_video: Path, db_path: Path) -> None:
    with StallingHttpServer(demo_video.read_bytes(), fraction=0.5) as srv:
        url = srv.url("/cam/clip.avi")
        result, ls = _run(demo_package, url, db_path)
        assert srv.served.is_set()
    assert result.status == "failed"
    n = _kept(db_path, result, ls)
    assert 0 < n < N_DEMO
    assert result.error == (f"stream {url} stopped delivering frames after {n} (unplugged, "
                            "unreachable or no frame within the read timeout); the frames "
                            "before it are kept")


@pytest.mark.slow
def test_live_stream_that_stalls_is_an_error_not_an_end(demo_package: Path, demo_video: Path,
                                                        db_path: Path, tmp_path: Path) -> None:
    # The same for a live stream that announces no length (MJPEG over HTTP).
    import cv2

    mjpeg = tmp_path / "live.mjpeg"
    cap = cv2.VideoCapture(str(demo_video))
    with mjpeg.open("wb") as fh:
        for _ in range(120):
            ok, frame = cap.read()
            assert ok
            fh.write(cv2.imencode(".jpg", frame)[1].tobytes())
    cap.release()
    with StallingHttpServer(mjpeg.read_bytes(), fraction=0.5) as srv:
        url = srv.url("/live.mjpeg")
        result, ls = _run(demo_package, url, db_path)
    assert result.status == "failed", result.error
    n = _kept(db_path, result, ls)
    assert n > 0
    assert result.error == (f"stream {url} stopped delivering frames after {n} (unplugged, "
                            "unreachable or no frame within the read timeout); the frames "
                            "before it are kept")
