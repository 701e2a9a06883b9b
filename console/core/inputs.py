"""What a run reads frames from, described console-side.

The agent opens the source on the device (:mod:`console.agent.sources`);
this module decides what kind of input a user's text names, hashes
recordings (the session's ``input sha256``), and produces the description
stored in the log — with any password in a stream URL replaced by ``***``,
because the log never holds secrets.

A file is a recording only when the rule the agent also applies says so
(:func:`console.core.media.check_recording`: a video container, or at
least two decoded frames; never text, a still image or an empty container).
The console asks that rule before anything is connected or uploaded, so
``passwd.txt`` is refused in one line on every device. A file this
computer's OpenCV merely cannot decode is left for the device to judge (its
FFmpeg may know more codecs).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from console.core import media
from console.core.errors import UserError
from console.core.manifest import sha256_file

STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "udp://", "tcp://", "rtmp://")
KINDS = ("video", "camera", "stream", "synthetic")


class InputError(UserError):
    """The input cannot be used; the message names it and says what to do."""


def redact_url(url: str) -> str:
    return re.sub(r"^([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@]*):[^@/]*@", r"\1:***@", url)


def redact_text(text: str) -> str:
    """Every ``scheme://user:password@`` in ``text`` with the password as ``***``:
    for log lines and error messages that may quote a command line or a URL."""
    return re.sub(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*):[^@/\s]*@", r"\1:***@", text)


@dataclass(frozen=True)
class InputSource:
    kind: str
    #: what the agent is given (for a video: the console-side path; replaced by
    #: the uploaded path on remote devices). May hold a stream password: never log it.
    spec: str
    desc: str  # safe to log and show
    path: Path | None = None
    sha256: str | None = None
    size: int | None = None

    def record(self) -> dict[str, object]:
        """The facts a session stores (no secrets)."""
        return {"kind": self.kind, "desc": self.desc, "sha256": self.sha256, "size": self.size,
                "path": str(self.path) if self.path else None}


def parse_input(text: str, *, hash_file: bool = True) -> InputSource:
    """Classify ``text`` (see agent sources for the grammar); hash recordings."""
    t = text.strip()
    if not t:
        raise InputError("no input given: pass a video file, camera:N, a stream URL or synthetic")
    m = re.match(r"^synthetic(?::(\d+)x(\d+))?$", t)
    if m:
        w, h = int(m.group(1) or 640), int(m.group(2) or 480)
        return InputSource("synthetic", f"synthetic:{w}x{h}", f"synthetic {w}x{h}")
    if t.startswith("synthetic"):
        raise InputError(f"bad synthetic input {t!r}: use synthetic or synthetic:WIDTHxHEIGHT")
    m = re.match(r"^(?:camera:(\d+)|/dev/video(\d+))$", t)
    if m:
        idx = int(m.group(1) or m.group(2))
        return InputSource("camera", f"camera:{idx}", f"camera /dev/video{idx}")
    if t.lower().startswith(STREAM_SCHEMES):
        return InputSource("stream", t, redact_url(t))
    p = Path(t).expanduser()
    if not p.exists():
        raise InputError(f"video file not found: {p}")
    if not p.is_file():
        raise InputError(f"not a video file: {p}")
    if not os.access(p, os.R_OK):
        raise InputError(f"video file is not readable (permissions): {p}")
    p = p.resolve()
    _check_recording(p)
    digest = sha256_file(str(p)) if hash_file else None
    return InputSource("video", str(p), p.name, p, digest, p.stat().st_size)


#: SourceError codes that describe the file itself, whatever OpenCV the device has
_NOT_A_RECORDING = ("input_not_video", "input_no_frames")


def _check_recording(p: Path) -> None:
    # The rule of what a video is lives in console.core.media; the agent applies the
    # same rule again on the device.
    try:
        import cv2
    except ImportError:
        return  # no OpenCV here: the device judges
    refusal = media.check_recording(str(p), cv2)
    if refusal is not None and refusal[0] in _NOT_A_RECORDING:
        raise InputError(refusal[1])
