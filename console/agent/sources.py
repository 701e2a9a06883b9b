"""Frame sources on the device: recorded video, camera, network stream, synthetic.

Each source yields ``(frame, capture_wall_time)`` with ``frame`` a BGR (or
single-channel) uint8 array. Sources raise :class:`SourceError` with a
user-facing reason when they cannot open. A recording that stops before
the frame count it announces sets ``truncated``; a camera or stream that
stops delivering frames (unplugged, server gone, nothing within the read
timeout) sets ``stalled``. The agent reports both as errors instead of
pretending the input simply ended. The agent times each ``next()`` on
``frames()`` as the frame's ``read_ms``.

Input specs (also parsed console-side by ``console.core.inputs``)::

    synthetic[:WxH]           generated frames, no OpenCV needed
    camera:N | /dev/videoN    a V4L2 camera on the device
    rtsp://… http(s)://… udp://… tcp://…   a stream OpenCV can open
    anything else             a video file path on the device
"""

from __future__ import annotations

import os
import re
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np

from console.agent.errors import AgentError
from console.core import media
from console.core.media import TEXT_CODECS, fourcc, sniff_file

STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "udp://", "tcp://", "rtmp://")


class SourceError(AgentError):
    """An input that cannot be opened or read."""


def not_a_video(path: str, kind: str, fmt: str) -> SourceError:
    """The one wording for a file that is no recording (``console.core.media``)."""
    return SourceError(*media.not_a_video(path, kind, fmt))


def _read_head(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(4096)
    except OSError as exc:
        raise SourceError("input_unreadable", "video file cannot be read: %s (%s)"
                          % (path, exc.strerror)) from None


def _cv2() -> Any:
    try:
        import cv2

        return cv2
    except ImportError as exc:
        raise SourceError("opencv_missing",
                          "OpenCV is needed for camera/video/stream input but is not installed "
                          "on the device (%s); install it with: python3 -m pip install "
                          "opencv-python-headless" % exc) from None


class SyntheticSource:
    """Deterministic moving test pattern; clearly synthetic, for pipeline checks."""

    kind = "synthetic"

    def __init__(self, width: int = 640, height: int = 480, count: int = 32) -> None:
        self.width, self.height = width, height
        rng = np.random.default_rng(12345)
        yy, xx = np.mgrid[0:height, 0:width]
        frames = []
        for k in range(count):
            base = ((xx + k * 8) % 256).astype(np.uint8)
            noise = rng.integers(0, 24, size=(height, width), dtype=np.uint8)
            g = base // 2 + noise
            b = ((yy + k * 4) % 256).astype(np.uint8)
            r = np.full((height, width), (k * 8) % 256, np.uint8)
            frames.append(np.dstack([b, g, r]))
        self._frames = frames
        self.truncated = False

    def info(self) -> Dict[str, Any]:
        return {"kind": self.kind, "desc": "synthetic %dx%d" % (self.width, self.height),
                "width": self.width, "height": self.height, "fps": None, "frame_count": None}

    def frames(self, loop: bool = True) -> Iterator[Tuple[np.ndarray, float]]:
        k = 0
        n = len(self._frames)
        while True:
            yield self._frames[k % n], time.time()
            k += 1

    def close(self) -> None:
        pass


class CaptureSource:
    """Anything cv2.VideoCapture opens: a file, a camera, a stream."""

    def __init__(self, kind: str, target: Any, desc: str, open_timeout_ms: int = 5000) -> None:
        cv2 = _cv2()
        self.kind = kind
        self.desc = desc
        self._target = target
        self._cv2 = cv2
        self.truncated = False
        self.stalled = False
        self._read = 0
        sniffed = ("", "")
        if kind == "video":
            if not os.path.isfile(target):
                raise SourceError("input_missing", "video file not found on the device: %s"
                                  % target)
            if not os.access(target, os.R_OK):
                raise SourceError("input_unreadable", "video file is not readable: %s" % target)
            sniffed = sniff_file(_read_head(target))
            if sniffed[0] in ("empty", "text"):
                raise not_a_video(target, *sniffed)
        self._cap = self._open()
        if kind == "video" and fourcc(self._cap, cv2) in TEXT_CODECS:
            self._cap.release()
            raise not_a_video(target, "text", "text")
        t0 = time.perf_counter()
        ok, frame = self._cap.read()
        #: time the first frame took to decode here; the agent adds it to frame 0's read_ms
        self.first_read_ms = (time.perf_counter() - t0) * 1000.0
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT)) if kind != "camera" else 0
        if not ok or frame is None:
            self._cap.release()
            if kind == "video":
                if sniffed[0] == "video" and count == 0:
                    raise not_a_video(target, "no_frames", sniffed[1])
                raise SourceError("input_unreadable",
                                  "cannot decode any frame from %s (corrupt, truncated or not a "
                                  "video OpenCV can read)" % target)
            raise SourceError("input_no_frames", "%s opened but delivered no frame" % desc)
        #: frames read while opening, handed out first by frames()
        self._pending: List[np.ndarray] = [frame]
        if kind == "video" and sniffed[0] != "video":
            # Not in a video container: a recording only if a second frame follows.
            ok, second = self._cap.read()
            if not ok or second is None:
                self._cap.release()
                raise not_a_video(target, *sniffed)
            self._pending.append(second)
        self.height, self.width = frame.shape[:2]
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and fps > 0 and fps < 1000 else None
        # A stream may be a finite file (http://…/clip.avi): its count tells a real
        # end from a stall. A live stream announces none (or nonsense: <= 0).
        self.frame_count = count if count > 0 else None

    def _open(self) -> Any:
        cv2 = self._cv2
        if self.kind == "stream":
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 5000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 5000]
            try:
                cap = cv2.VideoCapture(self._target, cv2.CAP_ANY, params)
            except (TypeError, cv2.error):
                cap = cv2.VideoCapture(self._target)
        else:
            cap = cv2.VideoCapture(self._target)
        if not cap.isOpened():
            cap.release()
            if self.kind == "camera":
                raise SourceError("camera_missing",
                                  "camera %s does not exist or cannot be opened on the device"
                                  % self.desc)
            if self.kind == "stream":
                raise _stream_refusal(self._target, self.desc)
            raise SourceError("input_unreadable",
                              "cannot open %s: not a video OpenCV can read (corrupt, truncated "
                              "or an unsupported container)" % self._target)
        return cap

    @property
    def position(self) -> int:
        """Frames read in the current pass over the input (where a recording broke off)."""
        return self._read

    def info(self) -> Dict[str, Any]:
        return {"kind": self.kind, "desc": self.desc, "width": self.width,
                "height": self.height, "fps": self.fps, "frame_count": self.frame_count}

    def frames(self, loop: bool = False) -> Iterator[Tuple[np.ndarray, float]]:
        while self._pending:
            frame = self._pending.pop(0)
            self._read += 1
            yield frame, time.time()
        while True:
            ok, frame = self._cap.read()
            ts = time.time()
            if not ok or frame is None:
                if self.kind == "video":
                    if self.frame_count and self._read < self.frame_count - 1:
                        self.truncated = True
                    if loop and self._read > 0 and not self.truncated:
                        self._cap.set(self._cv2.CAP_PROP_POS_FRAMES, 0)
                        self._read = 0
                        continue
                elif not (self.frame_count and self._read >= self.frame_count - 1):
                    self.stalled = True  # a camera or live stream never just ends
                return
            self._read += 1
            yield frame, ts

    def close(self) -> None:
        self._cap.release()


# -- why an RTSP camera said no ---------------------------------------------------------
# OpenCV only says "not opened". For rtsp:// the agent asks the camera itself (one
# DESCRIBE, answering its Basic or Digest challenge with the URL's credentials) so the
# user reads "no such path" or "wrong password" instead of a guess. Never logs the password.


def _rtsp_request(sock: Any, uri: str, cseq: int, auth: Optional[str]) -> Tuple[int, str,
                                                                              Dict[str, List[str]]]:
    lines = ["DESCRIBE %s RTSP/1.0" % uri, "CSeq: %d" % cseq, "Accept: application/sdp",
             "User-Agent: devicelab-agent"]
    if auth:
        lines.append("Authorization: " + auth)
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"))
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk or len(data) > 65536:
            raise ValueError("no RTSP answer")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"RTSP/\d\.\d\s+(\d{3})\s*(.*)$", status_line)
    if not m:
        raise ValueError("not an RTSP answer")
    headers: Dict[str, List[str]] = {}
    for line in header_lines:
        k, _, v = line.partition(":")
        headers.setdefault(k.strip().lower(), []).append(v.strip())
    left = int((headers.get("content-length") or ["0"])[0] or 0) - len(body)
    while 0 < left <= 65536:  # read the body so the connection can take the next request
        chunk = sock.recv(left)
        if not chunk:
            break
        left -= len(chunk)
    return int(m.group(1)), m.group(2).strip(), headers


def _authorization(challenges: List[str], user: str, password: str, uri: str) -> Optional[str]:
    import base64
    import hashlib

    for ch in challenges:
        scheme, _, rest = ch.partition(" ")
        if scheme.lower() == "basic":
            token = base64.b64encode(("%s:%s" % (user, password)).encode("utf-8"))
            return "Basic " + token.decode("ascii")
        if scheme.lower() == "digest":
            p = dict((k.lower(), v1 or v2) for k, v1, v2 in
                     re.findall(r'(\w+)\s*=\s*(?:"([^"]*)"|([^,\s]*))', rest))
            if p.get("algorithm", "MD5").upper() != "MD5" or "nonce" not in p:
                continue

            def md5(text: str) -> str:  # what RTSP Digest (RFC 2617) is made of
                return hashlib.new("md5", text.encode("utf-8")).hexdigest()

            ha1 = md5("%s:%s:%s" % (user, p.get("realm", ""), password))
            ha2 = md5("DESCRIBE:%s" % uri)
            fields = 'username="%s", realm="%s", nonce="%s", uri="%s"' % (
                user, p.get("realm", ""), p["nonce"], uri)
            if "auth" in [q.strip() for q in p.get("qop", "").split(",")]:
                cnonce = hashlib.sha256(os.urandom(16)).hexdigest()[:16]
                resp = md5("%s:%s:00000001:%s:auth:%s" % (ha1, p["nonce"], cnonce, ha2))
                fields += ', qop=auth, nc=00000001, cnonce="%s"' % cnonce
            else:
                resp = md5("%s:%s:%s" % (ha1, p["nonce"], ha2))
            if p.get("opaque"):
                fields += ', opaque="%s"' % p["opaque"]
            return "Digest %s, response=\"%s\"" % (fields, resp)
    return None


def rtsp_describe(url: str, timeout: float = 3.0) -> Optional[Tuple[int, str]]:
    """The status an RTSP server gives a DESCRIBE of ``url`` (its credentials used when
    challenged); None when nothing answers in RTSP."""
    import socket
    from urllib.parse import unquote, urlsplit, urlunsplit

    try:
        u = urlsplit(url)
        host, port = u.hostname, u.port or 554
        if not host:
            return None
        netloc = ("[%s]" % host if ":" in host else host) + (":%d" % u.port if u.port else "")
        uri = urlunsplit(("rtsp", netloc, u.path or "/", u.query, ""))
        with socket.create_connection((host, port), timeout) as sock:
            sock.settimeout(timeout)
            status, reason, headers = _rtsp_request(sock, uri, 1, None)
            if status == 401 and u.username is not None:
                auth = _authorization(headers.get("www-authenticate", []),
                                      unquote(u.username), unquote(u.password or ""), uri)
                if auth:
                    status, reason, headers = _rtsp_request(sock, uri, 2, auth)
    except (OSError, ValueError):
        return None
    return status, reason


def _stream_refusal(url: str, desc: str) -> SourceError:
    """Why a stream did not open, in one line that never holds its password."""
    answer = rtsp_describe(url) if url.lower().startswith("rtsp://") else None
    if answer is None or answer[0] == 200:
        return SourceError("stream_unreachable", "stream %s did not answer (unreachable, "
                           "wrong URL or codec)" % desc)
    status, reason = answer
    said = "RTSP %d %s" % (status, reason or "")
    if status == 401 and "@" in url.split("//", 1)[-1].split("/", 1)[0]:
        return SourceError("stream_unauthorized", "stream %s refused the user name or password "
                           "(%s); check the credentials in the URL" % (desc, said.strip()))
    if status == 401:
        return SourceError("stream_unauthorized", "stream %s needs a user name and password "
                           "(%s); pass rtsp://USER:PASSWORD@HOST/PATH" % (desc, said.strip()))
    if status == 404:
        return SourceError("stream_not_found", "stream %s: the camera has no such path (%s); "
                           "check the path in the URL" % (desc, said.strip()))
    return SourceError("stream_refused", "stream %s was refused by the camera (%s)"
                       % (desc, said.strip()))


def check_video_file(path: str) -> None:
    """Raise the agent's :class:`SourceError` if ``path`` is no recording (text, a still image,
    an empty file or container): the console asks this before it uploads or starts anything."""
    CaptureSource("video", path, os.path.basename(path)).close()


def redact_url(url: str) -> str:
    """Hide a password in ``scheme://user:password@host`` so it never reaches a log."""
    return re.sub(r"^([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@]*):[^@/]*@", r"\1:***@", url)


def open_source(spec: str) -> Any:
    """Open the source a spec names; raises SourceError with a clear reason."""
    spec = spec.strip()
    m = re.match(r"^synthetic(?::(\d+)x(\d+))?$", spec)
    if m:
        w = int(m.group(1) or 640)
        h = int(m.group(2) or 480)
        if not (8 <= w <= 7680 and 8 <= h <= 4320):
            raise SourceError("input_spec", "synthetic size %dx%d is out of range" % (w, h))
        return SyntheticSource(w, h)
    m = re.match(r"^(?:camera:(\d+)|/dev/video(\d+))$", spec)
    if m:
        idx = int(m.group(1) or m.group(2))
        dev = "/dev/video%d" % idx
        if not os.path.exists(dev):
            raise SourceError("camera_missing", "camera %s does not exist on the device" % dev)
        return CaptureSource("camera", idx, dev)
    if spec.lower().startswith(STREAM_SCHEMES):
        return CaptureSource("stream", spec, redact_url(spec))
    return CaptureSource("video", spec, os.path.basename(spec))
