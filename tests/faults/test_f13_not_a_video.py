"""Fault 13: files posing as recordings.

FFmpeg opens far more than videos: ``/etc/passwd`` copied to ``passwd.txt``
is a 6-frame "tty" video of ANSI text, a PNG or JPEG renamed ``.avi`` is a
one-frame video. Expected: refused with one line naming the file and what it
is, before anything connects or uploads (the console asks the agent's own
rule), and refused by the agent itself on the device when the console's
check is not in the way — locally and over SSH. A real recording, and a
motion-JPEG stream file (no container, but many frames), still run.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from helpers.faults import devicelab, user_lines

from console.core import protocol as P
from console.core.inputs import InputSource
from console.core.package import open_package
from console.core.store import SessionStore
from console.devices.agent_bundle import local_bundle_path
from console.devices.base import AgentOptions

HINT = "pass a recording (AVI, MP4, MKV, …), camera:N or a stream URL"


def passwd_txt(d: Path) -> Path:
    p = d / "passwd.txt"
    shutil.copyfile("/etc/passwd", p)
    return p


def ansi_art(d: Path) -> Path:
    # Not UTF-8 (CP437 blocks): FFmpeg's tty demuxer reads it as an 'ansi' video.
    p = d / "banner.ans"
    p.write_bytes(b"\x1b[31m\xb0\xb1\xb2 ANSI art \xdb\xdb\x1b[0m\r\n" * 200)
    return p


def png_as_avi(d: Path) -> Path:
    import cv2

    p = d / "photo.avi"
    p.write_bytes(cv2.imencode(".png", np.full((48, 64, 3), 90, np.uint8))[1].tobytes())
    return p


def jpeg_as_mp4(d: Path) -> Path:
    import cv2

    p = d / "photo.mp4"
    p.write_bytes(cv2.imencode(".jpg", np.full((48, 64, 3), 90, np.uint8))[1].tobytes())
    return p


def empty_avi(d: Path) -> Path:
    p = d / "empty.avi"
    p.write_bytes(b"")
    return p


def zero_frame_avi(d: Path) -> Path:
    import cv2

    p = d / "nothing.avi"
    cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48)).release()
    assert p.stat().st_size > 0
    return p


CASES: list[tuple[Callable[[Path], Path], str]] = [
    (passwd_txt, "{} is a text file, not a video; " + HINT),
    (ansi_art, "{} is a text file, not a video; " + HINT),
    (png_as_avi, "{} is a PNG image (one picture), not a video; " + HINT),
    (jpeg_as_mp4, "{} is a JPEG image (one picture), not a video; " + HINT),
    (empty_avi, "{} is empty (0 bytes), not a video; " + HINT),
    (zero_frame_avi, "{} holds no frames (an empty AVI recording); " + HINT),
]
IDS = [c[0].__name__ for c in CASES]


@pytest.mark.parametrize("make, wording", CASES, ids=IDS)
def test_refused_before_the_run_in_one_line(make: Callable[[Path], Path], wording: str,
                                            demo_package: Path, tmp_path: Path) -> None:
    bad = make(tmp_path)
    db = tmp_path / "s.db"
    res = devicelab("run", "--db", str(db), "--package", str(demo_package), "--input",
                    str(bad), timeout=120)
    assert res.returncode == 2, res.stderr
    assert user_lines(res.stderr) == [f"devicelab: error: {wording.format(bad)}"], res.stderr
    assert "[connecting]" not in res.stderr and "frame " not in res.stderr


def _agent_messages(args: list[str], timeout: float = 60) -> list[P.Message]:
    res = subprocess.run([sys.executable, str(local_bundle_path()), *args],
                         capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return [P.decode(line) for line in res.stdout.splitlines() if line.strip()]


@pytest.mark.parametrize("make, wording", CASES, ids=IDS)
def test_the_agent_refuses_it_by_itself(make: Callable[[Path], Path], wording: str,
                                        demo_package: Path, tmp_path: Path) -> None:
    bad = make(tmp_path)
    msgs = _agent_messages(["run", "--package", str(demo_package), "--input", str(bad)])
    errors = [m for m in msgs if isinstance(m, P.Error)]
    assert [e.text for e in errors] == [wording.format(bad)], msgs
    assert not [m for m in msgs if isinstance(m, P.Frame)]


def test_a_motion_jpeg_stream_file_is_still_a_video(demo_package: Path, demo_video: Path,
                                                    tmp_path: Path) -> None:
    import cv2

    mjpeg = tmp_path / "clip.mjpeg"  # concatenated JPEGs: no container, 12 frames
    cap = cv2.VideoCapture(str(demo_video))
    with mjpeg.open("wb") as fh:
        for _ in range(12):
            ok, frame = cap.read()
            assert ok
            fh.write(cv2.imencode(".jpg", frame)[1].tobytes())
    cap.release()
    res = devicelab("run", "--db", str(tmp_path / "s.db"), "--package", str(demo_package),
                    "--input", str(mjpeg), timeout=120)
    assert res.returncode == 0, res.stderr
    with SessionStore(tmp_path / "s.db") as st:
        (s,) = st.list_sessions()
        assert s["status"] == "completed" and st.frame_count(s["id"]) == 12


# -- over SSH ------------------------------------------------------------------------------


@pytest.mark.ssh
def test_refused_over_ssh_before_connecting(ssh_env, demo_package: Path, tmp_path: Path
                                            ) -> None:
    bad = passwd_txt(tmp_path)
    ssh_env.trust()
    srv = ssh_env.server

    def dl(*args: str) -> subprocess.CompletedProcess[str]:
        return devicelab(*args, timeout=120, env=ssh_env.env(), stdin=subprocess.DEVNULL)

    added = dl("devices", "add", "bench", ssh_env.url, "--python", ssh_env.python,
               "--workdir", str(ssh_env.workdir), "--key-file", str(srv.client_key))
    assert added.returncode == 0, added.stderr
    res = dl("run", "--db", str(tmp_path / "s.db"), "--device", "bench", "--package",
             str(demo_package), "--input", str(bad))
    assert res.returncode == 2, res.stderr
    assert user_lines(res.stderr) == [
        f"devicelab: error: {bad} is a text file, not a video; {HINT}"], res.stderr
    assert not ssh_env.workdir.exists() or not list(ssh_env.workdir.rglob("passwd.txt"))


@pytest.mark.ssh
def test_the_agent_on_an_ssh_device_refuses_it_by_itself(ssh_env, demo_package: Path,
                                                         tmp_path: Path) -> None:
    """The file as the console would describe it, uploaded for real and opened by the agent
    on the device (the console's own check is what this leaves out)."""
    bad = passwd_txt(tmp_path)
    source = InputSource("video", str(bad), bad.name, bad,
                         hashlib.sha256(bad.read_bytes()).hexdigest(), bad.stat().st_size)
    ssh_env.trust()
    dev = ssh_env.device()
    try:
        dev.connect()
        dep = dev.deploy(open_package(demo_package), source)
        assert dep.input_spec != str(bad) and dep.input_spec.endswith("/passwd.txt")
        proc = dev.start_agent(dep, AgentOptions(preview_fps=0))
        buf = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            chunk = proc.read(1.0)
            if chunk == b"":
                break
            buf += chunk or b""
        proc.wait(10)
        proc.close()
    finally:
        dev.close()
    msgs = [P.decode(line) for line in buf.splitlines() if line.strip()]
    errors = [m for m in msgs if isinstance(m, P.Error)]
    assert [(e.code, e.text) for e in errors] == [
        ("input_not_video", f"{dep.input_spec} is a text file, not a video; {HINT}")], msgs
