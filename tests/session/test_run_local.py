"""Runs on the built-in device: real agent subprocess, real onnxruntime, real SQLite."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from helpers.faults import finish, in_thread

from console.core import protocol as P
from console.core.stats import summarize
from console.core.store import SessionStore
from console.devices.base import AgentOptions
from console.devices.local import LocalDevice
from console.session.run import Run, RunError, RunListener, RunRequest

ROOT = Path(__file__).resolve().parents[2]
TRUTH = ROOT / "resources" / "recordings" / "digits-demo.truth.csv"


class Collect(RunListener):
    def __init__(self) -> None:
        self.frames: list[P.Frame] = []
        self.previews: list[P.Preview] = []
        self.states: list[str] = []
        self.hello_msg: P.Hello | None = None
        self.cold_msg: P.ColdStart | None = None

    def state(self, state: str, text: str) -> None:
        self.states.append(state)

    def hello(self, msg: P.Hello) -> None:
        self.hello_msg = msg

    def cold(self, msg: P.ColdStart) -> None:
        self.cold_msg = msg

    def frame(self, msg: P.Frame) -> None:
        self.frames.append(msg)

    def preview(self, msg: P.Preview) -> None:
        self.previews.append(msg)


def test_full_demo_run_records_consistent_session(demo_package: Path, demo_video: Path,
                                                  db_path: Path) -> None:
    import cv2

    n_video = int(cv2.VideoCapture(str(demo_video)).get(cv2.CAP_PROP_FRAME_COUNT))
    ls = Collect()
    req = RunRequest(str(demo_package), str(demo_video),
                     AgentOptions(preview_fps=50, telemetry_ms=20), truth=str(TRUTH),
                     note="demo", tags=("ci",))
    result = Run(LocalDevice(), req, db_path, ls).execute()
    assert result.status == "completed", result.error
    assert len(ls.frames) == n_video
    assert ls.previews, "previews were requested"
    assert ls.cold_msg is not None and ls.cold_msg.total_ms > 0
    assert ls.hello_msg is not None and ls.hello_msg.v == P.PROTOCOL_VERSION

    with SessionStore(db_path) as st:
        s = st.get_session(result.session_id)
        assert s["status"] == "completed" and s["error"] is None
        assert s["frames_received"] == n_video == st.frame_count(s["id"])
        assert s["package_name"] == "digits-cnn" and len(s["package_digest"]) == 64
        assert s["input_sha256"] and s["input_kind"] == "video"
        assert s["device_facts"]["libraries"]["onnxruntime"]
        assert s["agent_version"] and s["console_version"]
        assert s["settings"]["telemetry_ms"] == 20
        assert s["note"] == "demo" and s["tags"] == ["ci"]
        # Summary == recomputed from the rows in the database.
        arr = st.frame_arrays(s["id"])
        tel = st.telemetry(s["id"])
        assert len(tel) == s["summary"]["telemetry"]["samples"] > 0
        again = summarize(arr, tel, cold=s["cold_start"], top1=arr["top1"].tolist(),
                          truth={int(k): int(v) for k, v in
                                 (line.split(",") for line in TRUTH.read_text().split()[1:])},
                          frame_index=arr["i"].tolist(), agent_sent=s["summary"]["agent_sent"])
        stored = s["summary"]
        for stage in ("pre", "infer", "post", "e2e"):
            for k, v in stored["latency_ms"][stage].items():
                assert again["latency_ms"][stage][k] == pytest.approx(v)
        assert again["fps"] == pytest.approx(stored["fps"])
        assert again["accuracy"] == stored["accuracy"]
        assert stored["accuracy"]["top1"] > 0.9  # a real trained model
        assert stored["missing_frames"] == 0
        assert stored["thermal"] is None or stored["thermal"]["max_c"] > 0
        # the real agent measured each frame's decode; the summary has it beside e2e
        reads = [f["read_ms"] for f in st.iter_frames(s["id"])]
        assert all(r is not None and r >= 0 for r in reads)
        warm = stored["frames"] - stored["steady_frames"]  # read_ms is a steady-state figure
        assert stored["read_ms"]["max"] == pytest.approx(max(reads[warm:]))
        assert stored["read_ms"]["p50"] > 0


def test_stop_mid_run_keeps_frames(demo_package: Path, db_path: Path) -> None:
    ls = Collect()
    req = RunRequest(str(demo_package), "synthetic:64x64", AgentOptions(fps=200))
    run = Run(LocalDevice(), req, db_path, ls)
    t, box = in_thread(run)
    deadline = threading.Event()
    for _ in range(200):
        if len(ls.frames) >= 20:
            break
        deadline.wait(0.05)
    run.stop()
    result = finish(run, t, box, timeout=30)
    assert result.status == "stopped"
    with SessionStore(db_path) as st:
        assert st.frame_count(result.session_id) == len(ls.frames) >= 20


def test_frame_limit_and_fps_pacing(demo_package: Path, db_path: Path) -> None:
    req = RunRequest(str(demo_package), "synthetic:32x32", AgentOptions(frames=15, fps=50))
    result = Run(LocalDevice(), req, db_path).execute()
    assert result.status == "completed"
    assert result.summary["frames"] == 15
    assert result.summary["fps"] < 80  # paced, not flat out


@pytest.mark.parametrize("inp, fragment", [
    ("/nonexistent/clip.mp4", "video file not found"),
    ("", "no input given"),
    ("synthetic:abc", "bad synthetic input"),
])
def test_bad_inputs_are_refused_before_a_session(demo_package: Path, db_path: Path, inp: str,
                                                 fragment: str) -> None:
    with pytest.raises(RunError, match=fragment):
        Run(LocalDevice(), RunRequest(str(demo_package), inp), db_path).execute()


def test_unreadable_video_fails_with_reason(demo_package: Path, db_path: Path,
                                            tmp_path: Path) -> None:
    bad = tmp_path / "broken.avi"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00AVI garbage" * 100)
    result = Run(LocalDevice(), RunRequest(str(demo_package), str(bad)), db_path).execute()
    assert result.status == "failed"
    assert "cannot decode any frame" in result.error or "cannot open" in result.error.lower()


def test_missing_camera_fails_with_reason(demo_package: Path, db_path: Path) -> None:
    result = Run(LocalDevice(), RunRequest(str(demo_package), "camera:57"), db_path).execute()
    assert result.status == "failed"
    assert "camera /dev/video57 does not exist" in result.error
