"""A real network camera for tests: GStreamer's RTSP server, run as its own process.

IP cameras speak RTSP. This serves the demo clip
(``resources/recordings/opencv-vtest.mp4``, re-encoded at fixture time to an
MJPEG AVI at 25 fps so a test lasts seconds, then streamed as H.264 over
RTP by the server, as cameras do) from Debian's ``gir1.2-gst-rtsp-server-1.0``
driven by the *system* Python (``/usr/bin/python3`` with ``python3-gi``; the
venv has no GObject bindings). The server counts the frames it hands to the
RTP payloader, per client, and prints ``sent MOUNT N`` when a client's
stream is torn down, so a test can compare what was sent with what the
session recorded. With ``--user``/``--password`` it requires RTSP
authentication (Basic, or Digest with ``--digest``).

This file is both the fixture's side (imported by the tests with the venv's
Python) and the server itself (``/usr/bin/python3 rtsp.py serve …``): the
GStreamer imports happen only in :func:`_serve`.

Without the packages the tests skip with the reason — except under
``CI=true``, where they fail (scripts/setup installs them).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SYSTEM_PYTHON = "/usr/bin/python3"
ROOT = Path(__file__).resolve().parents[2]
DEMO_CLIP = ROOT / "resources" / "recordings" / "opencv-vtest.mp4"
#: the mounts: a short clip (a run to its end) and the whole clip (a run to kill mid-way)
MOUNTS = {"/cam": 60, "/long": 300}
FPS = 25
_PIPELINE = ("( filesrc location={clip} ! avidemux ! jpegdec ! videoconvert ! "
             "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 ! "
             "video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 config-interval=1 )")
_PROBE = r"""
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer
Gst.init(None)
missing = [e for e in ("avidemux", "jpegdec", "x264enc", "rtph264pay")
           if Gst.ElementFactory.find(e) is None]
print(" ".join(missing))
"""


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def rtsp_missing_reason() -> str | None:
    """Why no RTSP server can run here (None when it can)."""
    if not os.path.exists(SYSTEM_PYTHON):
        return f"{SYSTEM_PYTHON} does not exist (the GStreamer bindings are Debian's)"
    try:
        res = subprocess.run([SYSTEM_PYTHON, "-c", _PROBE], capture_output=True, text=True,
                             timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {SYSTEM_PYTHON}: {exc}"
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or ["?"])[-1]
        return (f"{SYSTEM_PYTHON} cannot load GStreamer's RTSP server ({last}); install "
                "python3-gi gir1.2-gst-rtsp-server-1.0 (scripts/setup does)")
    if res.stdout.strip():
        return f"GStreamer elements missing: {res.stdout.strip()} (gstreamer1.0-plugins-*)"
    return None


def make_clips(folder: Path) -> dict[str, Path]:
    """The demo clip as MJPEG AVIs at 25 fps: the first 60 frames and all 300."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for mount, frames in MOUNTS.items():
        dest = folder / f"{mount.strip('/')}.avi"
        cap = cv2.VideoCapture(str(DEMO_CLIP))
        writer = None
        n = 0
        while n < frames:
            ok, frame = cap.read()
            if not ok:
                break
            if writer is None:
                h, w = frame.shape[:2]
                writer = cv2.VideoWriter(str(dest), cv2.VideoWriter_fourcc(*"MJPG"), FPS,
                                         (w, h))
            writer.write(frame)
            n += 1
        cap.release()
        assert writer is not None and n == frames, f"{DEMO_CLIP} has {n} frames, not {frames}"
        writer.release()
        out[mount] = dest
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RtspServer:
    """A running server process; ``url()`` names a mount, ``sent()`` what it streamed."""

    def __init__(self, clips: dict[str, Path], *, user: str | None = None,
                 password: str | None = None, digest: bool = False) -> None:
        self.clips = clips
        self.user, self.password = user, password
        self.port = free_port()
        args = [SYSTEM_PYTHON, str(Path(__file__).resolve()), "serve", "--port", str(self.port)]
        for mount, clip in clips.items():
            args += ["--mount", f"{mount}={clip}"]
        if user is not None:
            args += ["--user", user, "--password", password or ""]
        if digest:
            args.append("--digest")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL"))}
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)
        self._lock = threading.Lock()
        self._sent: list[tuple[str, int]] = []
        self._ready = threading.Event()
        self._stderr: list[str] = []
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            parts = line.split()
            if parts[:1] == ["ready"]:
                self._ready.set()
            elif parts[:1] == ["sent"] and len(parts) == 3:
                with self._lock:
                    self._sent.append((parts[1], int(parts[2])))

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr = ([*self._stderr, line.rstrip()])[-30:]

    def wait_ready(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._ready.wait(0.1):
                return True
            if self.proc.poll() is not None:
                return False
        return False

    def log_tail(self) -> str:
        return "\n".join(self._stderr)

    def url(self, mount: str = "/cam", *, user: str | None = None,
            password: str | None = None) -> str:
        cred = ""
        if user is not None:
            cred = f"{user}:{password}@" if password is not None else f"{user}@"
        return f"rtsp://{cred}127.0.0.1:{self.port}{mount}"

    def mark(self) -> int:
        """A point in the server's report; :meth:`sent` counts what came after it."""
        with self._lock:
            return len(self._sent)

    def sent(self, mount: str, since: int = 0, timeout: float = 15.0) -> list[int]:
        """The frame counts of the client streams of ``mount`` torn down after ``since``,
        once at least one that carried frames is among them (or ``timeout`` passed)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                counts = [n for m, n in self._sent[since:] if m == mount]
            if any(counts) or time.monotonic() > deadline:
                return counts
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: the camera's power cut."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def serve_for_tests(clips: dict[str, Path], what: str, **kw: Any) -> Iterator[RtspServer]:
    """The body of an RTSP server fixture: skip locally without the packages, fail under
    CI=true; the server is stopped afterwards."""
    import pytest

    from helpers.procs import allow_pid

    reason = rtsp_missing_reason()
    srv = None
    if reason is None:
        for _attempt in range(3):  # a free port can be taken before the server binds it
            srv = RtspServer(clips, **kw)
            if srv.wait_ready():
                break
            srv.stop()
            reason = f"the RTSP server did not start: {srv.log_tail()[-500:]}"
            srv = None
    if srv is None:
        if in_ci():
            pytest.fail(f"CI=true: {what} must run, but {reason}")
        pytest.skip(f"{what} need GStreamer's RTSP server: {reason}")
    assert srv is not None
    allow_pid(srv.proc.pid)
    try:
        yield srv
    finally:
        srv.stop()


# -- the server process (run by /usr/bin/python3) ----------------------------------------


def _serve(argv: list[str]) -> int:
    import argparse

    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtsp", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtsp, GstRtspServer

    p = argparse.ArgumentParser()
    p.add_argument("--port", required=True)
    p.add_argument("--mount", action="append", default=[])
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--digest", action="store_true")
    args = p.parse_args(argv)
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(args.port)
    permissions = None
    if args.user is not None:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "viewer")
        if args.digest:
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
            auth.add_digest(args.user, args.password, token)
        else:
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role("viewer", "media.factory.access", True)
        permissions.add_permission_for_role("viewer", "media.factory.construct", True)

    def configure(_factory: Any, media: Any, mount: str) -> None:
        sent = [0]

        def count(_pad: Any, _info: Any) -> Any:
            sent[0] += 1
            return Gst.PadProbeReturn.OK

        pay = media.get_element().get_by_name("pay0")
        pay.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, count)
        media.connect("unprepared", lambda _m: print("sent", mount, sent[0], flush=True))

    for spec in args.mount:
        mount, clip = spec.split("=", 1)
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(_PIPELINE.format(clip=clip))
        # TCP only: frames never get lost on the way, so "every frame sent" is testable.
        factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
        if permissions is not None:
            factory.set_permissions(permissions)
        factory.connect("media-configure", configure, mount)
        server.get_mount_points().add_factory(mount, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        return 1
    print("ready", flush=True)
    loop = GLib.MainLoop()
    signal.signal(signal.SIGTERM, lambda *_: loop.quit())
    GLib.timeout_add(200, lambda: True)  # lets Python run the SIGTERM handler
    loop.run()
    return 0


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    sys.exit(_serve(sys.argv[2:]))
