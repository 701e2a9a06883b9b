"""What a recording is: the one rule the console and the agent both apply to a file
before they run it as video.

FFmpeg opens far more than videos: a text file is a "tty" video of ANSI art, a PNG or a
JPEG is a one-frame video. A recording must be in a video container (magic bytes), and a
file in any other format counts only if it decodes to at least two frames (a motion-JPEG
stream, an animated GIF); text never does.

Shipped to the device with the agent (``devices/agent_bundle.py``): standard library only,
Python 3.8 syntax, OpenCV imported by the caller and passed in. The agent raises its
``SourceError`` with the (code, text) this module words; the console raises its own.
"""

# The agent must import on a device's Python 3.8: keep typing.Tuple/Optional here.

from __future__ import annotations

import re
from typing import Any, Optional, Tuple

#: (offset, magic bytes, container)
VIDEO_MAGIC = (
    (0, b"\x1a\x45\xdf\xa3", "Matroska/WebM"), (0, b"FLV\x01", "FLV"), (0, b"OggS", "Ogg"),
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "ASF/WMV"), (0, b"\x00\x00\x01\xba", "MPEG-PS"),
    (0, b"\x00\x00\x01\xb3", "MPEG video"), (0, b"\x00\x00\x00\x01", "H.264/H.265 stream"),
    (0, b"YUV4MPEG2", "Y4M"), (0, b"DKIF", "IVF"), (0, b".RMF", "RealMedia"),
    (0, b"\x06\x0e\x2b\x34", "MXF"), (0, b"nut/multimedia", "NUT"),
    (4, b"ftyp", "MP4/MOV"), (4, b"moov", "MOV"), (4, b"mdat", "MOV"), (4, b"wide", "MOV"),
    (4, b"free", "MOV"), (4, b"skip", "MOV"),
)
IMAGE_MAGIC = (
    (0, b"\xff\xd8\xff", "JPEG"), (0, b"\x89PNG\r\n\x1a\n", "PNG"), (0, b"GIF8", "GIF"),
    (0, b"BM", "BMP"), (0, b"II*\x00", "TIFF"), (0, b"MM\x00*", "TIFF"),
    (0, b"\x00\x00\x00\x0cjP  ", "JPEG 2000"), (0, b"qoif", "QOI"), (0, b"8BPS", "PSD"),
)
#: FourCCs FFmpeg reports for text it renders as video (tty, bin, xbin, idf, adf demuxers)
TEXT_CODECS = ("ansi", "bin ", "xbin", "idf ", "adf ")
HINT = "pass a recording (AVI, MP4, MKV, …), camera:N or a stream URL"


def sniff_file(head: bytes) -> Tuple[str, str]:
    """What the first bytes of a file say it is: ``(kind, format)`` with kind one of
    ``video`` (a video container), ``image``, ``text``, ``empty`` or ``other``."""
    if not head:
        return "empty", ""
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
        return "video", "AVI"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", "WebP"
    if len(head) > 376 and head[0] == head[188] == head[376] == 0x47:
        return "video", "MPEG-TS"
    for at, magic, name in VIDEO_MAGIC:
        if head[at:at + len(magic)] == magic:
            return "video", name
    for at, magic, name in IMAGE_MAGIC:
        if head[at:at + len(magic)] == magic:
            return "image", name
    if re.match(rb"P[1-7]\s", head):
        return "image", "PNM"
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
            return "text", "text"
        except UnicodeDecodeError as exc:
            if exc.start >= len(head) - 3:  # a character cut by the end of the sample
                return "text", "text"
    return "other", ""


def fourcc(cap: Any, cv2: Any) -> str:
    code = int(cap.get(cv2.CAP_PROP_FOURCC)) & 0xFFFFFFFF
    return "".join(chr((code >> (8 * k)) & 0xFF) for k in range(4))


def not_a_video(path: str, kind: str, fmt: str) -> Tuple[str, str]:
    """The one wording for a file that is no recording: ``(code, text)``."""
    if kind == "empty":
        return ("input_not_video", "%s is empty (0 bytes), not a video; %s"
                           % (path, HINT))
    if kind == "text":
        return ("input_not_video", "%s is a text file, not a video; %s"
                           % (path, HINT))
    if kind == "image":
        return ("input_not_video", "%s is a %s image (one picture), not a video; %s"
                           % (path, fmt, HINT))
    if kind == "no_frames":
        return ("input_no_frames", "%s holds no frames (an empty %s recording); %s"
                           % (path, fmt, HINT))
    return ("input_not_video", "%s is not a video (one picture at most, in no "
                       "video container); %s" % (path, HINT))


def read_head(path: str) -> Optional[bytes]:
    """The first 4 KiB of ``path``; None when it cannot be read."""
    try:
        with open(path, "rb") as fh:
            return fh.read(4096)
    except OSError:
        return None


def check_recording(path: str, cv2: Any) -> Optional[Tuple[str, str]]:
    """``(code, text)`` when the file at ``path`` is no recording by the rule above, None
    when it is one (or when only the device can tell: a file that cannot be read here)."""
    head = read_head(path)
    if head is None:
        return None
    kind, fmt = sniff_file(head)
    if kind in ("empty", "text"):
        return not_a_video(path, kind, fmt)
    cap = cv2.VideoCapture(path)
    try:
        if not cap.isOpened():
            return None if kind == "video" else not_a_video(path, kind, fmt)
        if fourcc(cap, cv2) in TEXT_CODECS:
            return not_a_video(path, "text", "text")
        ok, frame = cap.read()
        if not ok or frame is None:
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            if kind == "video" and count == 0:
                return not_a_video(path, "no_frames", fmt)
            return None if kind == "video" else not_a_video(path, kind, fmt)
        if kind != "video":
            ok, second = cap.read()
            if not ok or second is None:
                return not_a_video(path, kind, fmt)
        return None
    finally:
        cap.release()
