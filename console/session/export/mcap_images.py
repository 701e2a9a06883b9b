"""Annotated preview frames for the MCAP export, drawn from the session's own recording.

The log keeps what the model answered for every frame, not the pictures; a
session that ran a recorded clip can show them again, though: the clip is found
where the session recorded it (or beside the log, imported with a bundle) and
must still have the sha256 the session recorded — the replay's own check. Frame
``i`` of the session is frame ``i`` of the clip (``i mod n`` when the run
looped). At most :data:`PREVIEW_HZ` frames a second of session time are drawn:
scaled to the run's preview width, with the top-1 class and score (or the
detections' boxes) on them, JPEG-encoded.

Camera and stream inputs have nothing to draw from: the export says so in one
note and writes no image channel. OpenCV is the console's own dependency.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from console.core.store import LogStore

#: preview frames per second of session time, at most
PREVIEW_HZ = 10.0
DEFAULT_WIDTH = 320
JPEG_QUALITY = 80
#: the image channel's ``frame_id`` (the camera's frame of reference, Foxglove's term)
FRAME_ID = "input"
_BOX_COLORS = ((66, 135, 245), (245, 166, 35), (80, 200, 120), (230, 70, 90), (170, 100, 240))


def _labels(store: LogStore, s: Mapping[str, Any]) -> Sequence[str] | None:
    """Class names from the session's package, when it is still where it was."""
    try:
        from console.core.package import open_package
        from console.session.replay import locate_package

        return open_package(str(locate_package(store, s))).labels
    except Exception:  # names are decoration: class indices do as well
        return None


def recording_of(store: LogStore, s: Mapping[str, Any]) -> tuple[str | None, str]:
    """(path of the session's clip, "") or (None, why there are no images)."""
    if s.get("input_kind") != "video":
        return None, (f"no preview frames: the input was a {s.get('input_kind') or 'live'} "
                      "source, nothing recorded to draw them from")
    from console.core.errors import UserError
    from console.session.replay import locate_input

    try:
        path, _notes = locate_input(store, s)
    except UserError as exc:
        return None, f"no preview frames: {exc}"
    return path, ""


def _name(labels: Sequence[str] | None, cls: Any) -> str:
    try:
        k = int(cls)
    except (TypeError, ValueError):
        return str(cls)
    return labels[k] if labels and 0 <= k < len(labels) else f"class {k}"


def annotate(cv2: Any, img: Any, out: Mapping[str, Any] | None, scale: float,
             labels: Sequence[str] | None) -> None:
    """Draw the model's answer on a preview image, in place."""
    if not out:
        return
    h, w = img.shape[:2]
    boxes = out.get("boxes")
    if isinstance(boxes, list):
        for b in boxes[:100]:
            try:
                x1, y1, x2, y2 = (round(float(v) * scale) for v in b[:4])
                cls, score = b[4], float(b[5])
            except (TypeError, ValueError, IndexError):
                continue
            color = _BOX_COLORS[int(cls) % len(_BOX_COLORS) if str(cls).isdigit() else 0]
            cv2.rectangle(img, (x1, y1), (x2, y2), color, 2)
            cv2.putText(img, f"{_name(labels, cls)} {score:.2f}", (x1 + 2, max(12, y1 - 4)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1, cv2.LINE_AA)
        return
    top = out.get("top")
    if isinstance(top, list) and top:
        cls, score = top[0][0], float(top[0][1])
        band = max(18, h // 8)
        cv2.rectangle(img, (0, 0), (w, band), (0, 0, 0), -1)
        cv2.putText(img, f"{_name(labels, cls)} {score:.2f}", (4, band - 5),
                    cv2.FONT_HERSHEY_SIMPLEX, band / 40.0, (255, 255, 255), 1, cv2.LINE_AA)


def preview_images(store: LogStore, s: Mapping[str, Any], path: str
                   ) -> Iterator[tuple[float, int, bytes]]:
    """(frame ts, frame index, JPEG bytes) in frame order, at most PREVIEW_HZ a second."""
    import cv2

    sid = int(s["id"])
    settings = s.get("settings") or {}
    width = int(settings.get("preview_width") or DEFAULT_WIDTH)
    labels = _labels(store, s)
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        return
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)  # 0: not known
    pos = 0  # index of the next frame the capture returns
    next_t: float | None = None
    try:
        for f in store.iter_frames(sid):
            ts = float(f["ts"])
            if next_t is not None and ts < next_t:
                continue
            j = int(f["i"]) % n if n > 0 else int(f["i"])  # a looped run: the clip again
            if j < pos:
                cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                pos = 0
            while pos < j and cap.grab():
                pos += 1
            ok, frame = cap.read()
            if not ok:
                return  # the clip ends before the session's frames do: nothing to match
            pos += 1
            h, w = frame.shape[:2]
            scale = min(1.0, width / w) if w else 1.0
            img = cv2.resize(frame, (max(1, round(w * scale)), max(1, round(h * scale))),
                             interpolation=cv2.INTER_AREA) if scale != 1.0 else frame.copy()
            annotate(cv2, img, f.get("out"), scale, labels)
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if ok:
                yield ts, int(f["i"]), buf.tobytes()
            next_t = ts + 1.0 / PREVIEW_HZ
    finally:
        cap.release()
