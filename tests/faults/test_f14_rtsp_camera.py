"""Fault 14: a real network camera — GStreamer's RTSP server as its own process.

The camera (tests/helpers/rtsp.py) streams the demo clip as H.264 over RTP
(TCP, so no frame is lost on the way) and reports how many frames it sent to
each client. Expected:

- a run over ``rtsp://127.0.0.1:PORT/cam`` records every frame the camera
  sent, on this computer and over SSH (the agent on the device opens the
  stream);
- the camera killed mid-run (SIGKILL: its power cut): the session fails
  saying the stream stopped, and every frame received is kept;
- a wrong path, missing or wrong credentials (Basic and Digest): one line
  saying which, with the password shown as ``***`` — and the password is in
  no output, no session log and no log file.

Without GStreamer's RTSP server these tests skip locally and fail under CI=true.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.faults import Collect, devicelab, finish, in_thread, user_lines
from helpers.rtsp import RtspServer, make_clips, serve_for_tests

from console.core.store import SessionStore
from console.devices.base import AgentOptions
from console.devices.local import LocalDevice
from console.session.run import Run, RunRequest, RunResult

pytestmark = pytest.mark.slow

SHORT = 60  # frames at /cam (the first 60 of the demo clip, 25 fps)
PASSWORD = "pa55-w0rd!"
WRONG = "guess-Me-42"


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_clips(tmp_path_factory.mktemp("rtsp-clips"))


@pytest.fixture(scope="module")
def camera(clips: dict[str, Path]) -> Iterator[RtspServer]:
    yield from serve_for_tests(clips, "the RTSP camera tests")


@pytest.fixture(scope="module", params=["basic", "digest"])
def locked_camera(request: pytest.FixtureRequest, clips: dict[str, Path]
                  ) -> Iterator[RtspServer]:
    yield from serve_for_tests(clips, "the RTSP camera tests", user="viewer",
                               password=PASSWORD, digest=request.param == "digest")


@pytest.fixture
def doomed_camera(clips: dict[str, Path]) -> Iterator[RtspServer]:
    yield from serve_for_tests(clips, "the RTSP camera tests")


def _run(device: object, package: Path, url: str, db: Path) -> tuple[RunResult, Collect]:
    ls = Collect()
    run = Run(device, RunRequest(str(package), url, AgentOptions(preview_fps=0)), db, ls)
    t, box = in_thread(run)
    return finish(run, t, box, timeout=90), ls


def _kept(db: Path, result: RunResult, ls: Collect) -> int:
    with SessionStore(db) as st:
        s = st.get_session(result.session_id)
        assert s["status"] == result.status
        n = st.frame_count(s["id"])
        assert n == len(ls.frames) == s["frames_received"]
        assert [int(i) for i in st.frame_column(s["id"], "i")] == list(range(n))
    return n


def test_a_run_over_rtsp_records_every_frame_the_camera_sent(
        camera: RtspServer, demo_package: Path, db_path: Path) -> None:
    mark = camera.mark()
    result, ls = _run(LocalDevice(), demo_package, camera.url("/cam"), db_path)
    assert result.status == "completed", result.error
    assert camera.sent("/cam", mark) == [SHORT]
    assert _kept(db_path, result, ls) == SHORT


@pytest.mark.ssh
def test_a_run_over_rtsp_on_an_ssh_device_records_every_frame(
        camera: RtspServer, ssh_env, demo_package: Path, db_path: Path) -> None:
    ssh_env.trust()
    dev = ssh_env.device()
    mark = camera.mark()
    try:
        result, ls = _run(dev, demo_package, camera.url("/cam"), db_path)
    finally:
        dev.close()
    assert result.status == "completed", result.error
    assert camera.sent("/cam", mark) == [SHORT]
    assert _kept(db_path, result, ls) == SHORT


def test_the_camera_killed_mid_run_keeps_the_frames_and_says_the_stream_stopped(
        doomed_camera: RtspServer, demo_package: Path, db_path: Path) -> None:
    import time

    url = doomed_camera.url("/long")
    ls = Collect()
    run = Run(LocalDevice(), RunRequest(str(demo_package), url, AgentOptions(preview_fps=0)),
              db_path, ls)
    t, box = in_thread(run)
    deadline = time.monotonic() + 60
    while len(ls.frames) < 25 and time.monotonic() < deadline and t.is_alive():
        time.sleep(0.02)
    doomed_camera.kill()
    result = finish(run, t, box, timeout=60)
    assert result.status == "failed"
    n = _kept(db_path, result, ls)
    assert 25 <= n < 300
    assert result.error == (f"stream {url} stopped delivering frames after {n} (unplugged, "
                            "unreachable or no frame within the read timeout); the frames "
                            "before it are kept")


def _no_password_anywhere(res, tmp_path: Path, home: Path, secret: str) -> None:
    assert secret not in res.stdout + res.stderr
    for f in [*tmp_path.glob("s.db*"), *home.rglob("*.log")]:
        assert secret.encode() not in f.read_bytes(), f"the password is in {f}"


def test_a_wrong_path_is_one_line(camera: RtspServer, demo_package: Path,
                                  tmp_path: Path) -> None:
    url = camera.url("/no-such-cam")
    res = devicelab("run", "--db", str(tmp_path / "s.db"), "--package", str(demo_package),
                    "--input", url, timeout=120)
    assert res.returncode == 1, res.stderr
    assert user_lines(res.stderr) == [
        f"devicelab: run failed: stream {url}: the camera has no such path (RTSP 404 Not "
        "Found); check the path in the URL (frames kept: 0)"], res.stderr


def test_wrong_or_missing_credentials_are_one_line_with_the_password_redacted(
        locked_camera: RtspServer, demo_package: Path, tmp_path: Path,
        devicelab_home: Path) -> None:
    shown = locked_camera.url("/cam", user="viewer", password="***")
    res = devicelab("run", "--db", str(tmp_path / "s.db"), "--package", str(demo_package),
                    "--input", locked_camera.url("/cam", user="viewer", password=WRONG),
                    timeout=120)
    assert res.returncode == 1, res.stderr
    assert user_lines(res.stderr) == [
        f"devicelab: run failed: stream {shown} refused the user name or password (RTSP 401 "
        "Unauthorized); check the credentials in the URL (frames kept: 0)"], res.stderr
    _no_password_anywhere(res, tmp_path, devicelab_home, WRONG)

    bare = locked_camera.url("/cam")
    res = devicelab("run", "--db", str(tmp_path / "s.db"), "--package", str(demo_package),
                    "--input", bare, timeout=120)
    assert res.returncode == 1, res.stderr
    assert user_lines(res.stderr) == [
        f"devicelab: run failed: stream {bare} needs a user name and password (RTSP 401 "
        "Unauthorized); pass rtsp://USER:PASSWORD@HOST/PATH (frames kept: 0)"], res.stderr


def test_the_right_credentials_stream(locked_camera: RtspServer, demo_package: Path,
                                      tmp_path: Path, devicelab_home: Path) -> None:
    mark = locked_camera.mark()
    res = devicelab("run", "--db", str(tmp_path / "s.db"), "--package", str(demo_package),
                    "--input", locked_camera.url("/cam", user="viewer", password=PASSWORD),
                    "--json", timeout=120)
    assert res.returncode == 0, res.stderr
    assert locked_camera.sent("/cam", mark) == [SHORT]
    with SessionStore(tmp_path / "s.db") as st:
        (s,) = st.list_sessions()
        assert st.frame_count(s["id"]) == SHORT
    _no_password_anywhere(res, tmp_path, devicelab_home, PASSWORD)


def _cmdlines_with(secret: str) -> list[str]:
    """Every process's command line on this machine that holds ``secret`` (what ``ps``
    shows any user, on this computer and on the SSH device, which is this machine too).
    The secret is the URL with its port: the test camera (told its password on its own
    command line) and other test runs' cameras do not match it."""
    hits = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                raw = (p / "cmdline").read_bytes()
            except OSError:
                continue
            if secret.encode() in raw:
                hits.append(raw.replace(b"\0", b" ").decode("utf-8", "replace"))
    return hits


@pytest.mark.parametrize("where", ["local", pytest.param("ssh", marks=pytest.mark.ssh)])
def test_the_stream_password_is_on_no_command_line(
        where: str, locked_camera: RtspServer, demo_package: Path, db_path: Path,
        request: pytest.FixtureRequest) -> None:
    """The agent gets a URL with a password on its stdin, not in its argv: ``ps`` on the
    device shows every user every command line."""
    import time

    if where == "ssh":
        ssh_env = request.getfixturevalue("ssh_env")
        ssh_env.trust()
        dev: object = ssh_env.device()
    else:
        dev = LocalDevice()
    url = locked_camera.url("/cam", user="viewer", password=PASSWORD)
    ls = Collect()
    run = Run(dev, RunRequest(str(demo_package), url, AgentOptions(preview_fps=0)), db_path, ls)
    seen: list[str] = []
    try:
        t, box = in_thread(run)
        while t.is_alive():
            seen += _cmdlines_with(url)
            time.sleep(0.02)
        result = finish(run, t, box, timeout=90)
    finally:
        if where == "ssh":
            dev.close()  # type: ignore[attr-defined]
    assert result.status == "completed", result.error
    assert len(ls.frames) == SHORT  # the agent really ran, and opened the stream
    assert seen == []
