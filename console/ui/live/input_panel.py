"""The input dock: what the run reads frames from, and when it stops.

Four kinds, the same grammar as ``devicelab run --input``: a recorded video
file (its duration and frame count read in a job thread with OpenCV), a
camera on the device (from the device's probe), a stream URL, or synthetic
frames. A ground-truth CSV next to a recording (``NAME.truth.csv``) is
picked up so the summary scores accuracy. Limits: frames, duration, target
FPS, loop.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from console.core.inputs import InputError, redact_url
from console.ui.jobs import JobRunner, error_text
from console.ui.path_field import PathField
from console.ui.qt import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
    Signal,
)
from console.ui.widgets import button, text_label

_L = TypeVar("_L", QFormLayout, QHBoxLayout)

KINDS = (("video", "Recorded video"), ("camera", "Camera on the device"),
         ("stream", "Stream URL"), ("synthetic", "Synthetic frames"))


def video_info(path: str) -> dict[str, Any]:
    """Frame count, FPS, duration and size of a recording (job thread)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise InputError(f"video file not found: {p}")
    import cv2

    cap = cv2.VideoCapture(str(p))
    try:
        if not cap.isOpened():
            raise InputError(f"OpenCV cannot open {p.name} as a video; convert it to .avi "
                             "(MJPG) or .mp4 (mp4v)")
        frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        w = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        h = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
    finally:
        cap.release()
    return {"frames": frames, "fps": fps, "width": w, "height": h,
            "duration_s": frames / fps if fps > 0 and frames > 0 else None,
            "size": p.stat().st_size}


def truth_for(video: str) -> str | None:
    """``NAME.truth.csv`` next to ``NAME.ext``, if there is one."""
    p = Path(video)
    cand = p.with_name(p.stem + ".truth.csv")
    return str(cand) if cand.is_file() else None


class InputPanel(QWidget):
    changed = Signal()

    def __init__(self, jobs: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self._token = 0
        self.info: dict[str, Any] | None = None
        #: the recording is being read (its frame count, rate, size)
        self.pending = False
        #: why the chosen recording cannot be run (one line), None when it can or is unread
        self.problem: str | None = None
        #: pace the next recording read at its own frame rate (``--fps recording``)
        self._fps_from_recording = False
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        self.kind_combo = QComboBox()
        self.kind_combo.setObjectName("inputKind")
        for key, label in KINDS:
            self.kind_combo.addItem(label, key)
        lay.addWidget(self.kind_combo)
        self.stack = QStackedWidget()
        lay.addWidget(self.stack)

        # video
        vl = self._page(QFormLayout)
        vrow = QHBoxLayout()
        self.video_edit = PathField("videoPath", "a recording (.avi, .mp4, …)")
        self.video_edit.editingFinished.connect(lambda: self.set_video(self.video_edit.text()))
        vrow.addWidget(self.video_edit, 1)
        self._browse_buttons = [button("Browse…", self.choose_video, into=vrow)]
        vl.addRow("File", vrow)
        self.video_info_label = text_label("-")
        vl.addRow("", self.video_info_label)
        trow = QHBoxLayout()
        self.truth_edit = PathField("truthPath", "optional frame,label CSV to score accuracy")
        trow.addWidget(self.truth_edit, 1)
        self._browse_buttons.append(button("…", self.choose_truth, "Choose a ground-truth CSV",
                                           into=trow))
        vl.addRow("Truth", trow)

        # camera
        cl = self._page(QFormLayout)
        self.camera_combo = QComboBox()
        self.camera_combo.setObjectName("cameraCombo")
        cl.addRow("Camera", self.camera_combo)
        self.camera_note = QLabel("Probe the device to list its cameras.")
        self.camera_note.setWordWrap(True)
        cl.addRow("", self.camera_note)
        self.set_cameras(None)

        # stream
        sl = self._page(QFormLayout)
        self.url_edit = QLineEdit()
        self.url_edit.setObjectName("streamUrl")
        self.url_edit.setPlaceholderText("rtsp://camera.local/stream")
        sl.addRow("URL", self.url_edit)
        note = QLabel("Opened on the device; a password in the URL is never recorded.")
        note.setWordWrap(True)
        sl.addRow("", note)

        # synthetic
        yl = self._page(QHBoxLayout)
        self.syn_w = QSpinBox()
        self.syn_w.setRange(8, 8192)
        self.syn_w.setValue(640)
        self.syn_h = QSpinBox()
        self.syn_h.setRange(8, 8192)
        self.syn_h.setValue(480)
        yl.addWidget(QLabel("Size"))
        yl.addWidget(self.syn_w)
        yl.addWidget(QLabel("×"))
        yl.addWidget(self.syn_h)
        yl.addStretch(1)

        # limits
        limits = QFormLayout()
        limits.setContentsMargins(0, 4, 0, 0)
        limits.setVerticalSpacing(2)
        self.frames_spin = QSpinBox()
        self.frames_spin.setObjectName("framesLimit")
        self.frames_spin.setRange(0, 100_000_000)
        self.frames_spin.setSpecialValueText("no limit")
        self.duration_spin = QDoubleSpinBox()
        self.duration_spin.setObjectName("durationLimit")
        self.duration_spin.setRange(0, 7 * 24 * 3600)
        self.duration_spin.setDecimals(1)
        self.duration_spin.setSuffix(" s")
        self.duration_spin.setSpecialValueText("no limit")
        self.fps_spin = QDoubleSpinBox()
        self.fps_spin.setObjectName("targetFps")
        self.fps_spin.setRange(0, 10_000)
        self.fps_spin.setDecimals(1)
        self.fps_spin.setSpecialValueText("as fast as possible")
        self.loop_check = QCheckBox("Loop the recording")
        self.loop_check.setObjectName("loopCheck")
        lrow = QHBoxLayout()
        lrow.addWidget(self.frames_spin)
        lrow.addWidget(QLabel("Duration"))
        lrow.addWidget(self.duration_spin)
        limits.addRow("Frames", lrow)
        frow = QHBoxLayout()
        frow.addWidget(self.fps_spin)
        frow.addWidget(self.loop_check)
        limits.addRow("Target FPS", frow)
        lay.addLayout(limits)

        self.kind_combo.currentIndexChanged.connect(self._kind_changed)
        self._kind_changed()


    def _page(self, layout: type[_L]) -> _L:
        """A new page of the kinds' stack (in :data:`KINDS` order): its layout, no margins."""
        page = QWidget()
        lay = layout(page)
        lay.setContentsMargins(0, 0, 0, 0)
        self.stack.addWidget(page)
        return lay
    def set_editable(self, editable: bool) -> None:
        """While a run goes, the choice is locked (the information stays readable)."""
        for w in (self.kind_combo, self.video_edit, self.truth_edit, self.camera_combo,
                  self.url_edit, self.syn_w, self.syn_h, self.frames_spin, self.duration_spin,
                  self.fps_spin, self.loop_check, *self._browse_buttons):
            w.setEnabled(editable)
        if editable:
            self.loop_check.setEnabled(self.kind() == "video")
            self.camera_combo.setEnabled(self.camera_combo.count() > 0)

    # -- kinds --------------------------------------------------------------------------
    def kind(self) -> str:
        return str(self.kind_combo.currentData())

    def set_kind(self, kind: str) -> None:
        k = self.kind_combo.findData(kind)
        if k >= 0:
            self.kind_combo.setCurrentIndex(k)

    def _kind_changed(self) -> None:
        self.stack.setCurrentIndex(self.kind_combo.currentIndex())
        self.loop_check.setEnabled(self.kind() == "video")
        self.changed.emit()

    # -- video --------------------------------------------------------------------------
    def choose_video(self) -> None:
        start = str(Path(self.video_edit.text()).parent) if self.video_edit.text() else ""
        f, _ = QFileDialog.getOpenFileName(self, "Open a recording", start,
                                           "Videos (*.avi *.mp4 *.mkv *.mov *.webm);;"
                                           "All files (*)")
        if f:
            self.set_video(f)

    def choose_truth(self) -> None:
        start = str(Path(self.video_edit.text()).parent) if self.video_edit.text() else ""
        f, _ = QFileDialog.getOpenFileName(self, "Ground truth (frame,label CSV)", start,
                                           "CSV (*.csv);;All files (*)")
        if f:
            self.truth_edit.setText(f)

    def set_video(self, path: str, truth: str | None = None) -> None:
        path = path.strip()
        previous = getattr(self, "_video_path", None)
        self.video_edit.setText(path)
        self.set_kind("video")
        if path == previous and truth is None:
            return
        self._video_path = path
        auto = truth if truth is not None else (truth_for(path) if path else None)
        if auto is not None or not self.truth_edit.text():
            self.truth_edit.setText(auto or "")
        self.info = None
        self.problem = None
        self._token += 1
        token = self._token
        if not path:
            self.pending = False
            self.video_info_label.setText("-")
            return
        self.pending = True
        self.video_info_label.setText("reading…")
        self.jobs.submit("video-info", lambda: video_info(path),
                         lambda info: self._on_info(token, info),
                         lambda exc: self._on_info_failed(token, exc))
        self.changed.emit()

    def _on_info(self, token: int, info: dict[str, Any]) -> None:
        if token != self._token:
            return
        self.pending = False
        self.info = info
        if self._fps_from_recording and info.get("fps"):
            self._fps_from_recording = False
            self.fps_spin.setValue(round(float(info["fps"]), 1))
        dur = info.get("duration_s")
        parts = [f"{info['frames']} frames" if info.get("frames") else "frame count unknown",
                 f"{dur:.1f} s" if dur else "duration unknown",
                 f"{info['width']}×{info['height']}" if info.get("width") else "",
                 f"{info['fps']:.1f} fps" if info.get("fps") else ""]
        self.video_info_label.setText(" · ".join(p for p in parts if p))
        self.changed.emit()

    def _on_info_failed(self, token: int, exc: BaseException) -> None:
        if token != self._token:
            return
        self.pending = False
        self.info = None
        self.problem = error_text(exc)
        self.changed.emit()
        self.video_info_label.setText(f"<span style='color:#e03131'>"
                                      f"{html.escape(error_text(exc))}</span>")

    # -- camera -------------------------------------------------------------------------
    def set_cameras(self, cameras: list[dict[str, Any]] | None, device: str = "") -> None:
        self.camera_combo.clear()
        for cam in cameras or []:
            dev = str(cam.get("device", ""))
            idx = dev[len("/dev/video"):] if dev.startswith("/dev/video") else dev
            name = f"{dev} ({cam['name']})" if cam.get("name") else dev
            self.camera_combo.addItem(name, f"camera:{idx}")
        if cameras is None:
            self.camera_note.setText("Probe the device to list its cameras.")
        elif not cameras:
            self.camera_note.setText(f"No camera found on {device or 'the device'} "
                                     "(no /dev/video*).")
        else:
            self.camera_note.setText("")
        self.camera_combo.setEnabled(bool(cameras))

    # -- the request ----------------------------------------------------------------------
    def spec(self) -> str:
        """The ``--input`` text for the run ('' when incomplete)."""
        kind = self.kind()
        if kind == "video":
            return self.video_edit.text().strip()
        if kind == "camera":
            data = self.camera_combo.currentData()
            return str(data) if data else ""
        if kind == "stream":
            return self.url_edit.text().strip()
        return f"synthetic:{self.syn_w.value()}x{self.syn_h.value()}"

    def describe(self) -> str:
        """A loggable description (a stream password is hidden)."""
        spec = self.spec()
        return redact_url(spec) if self.kind() == "stream" else spec

    def truth(self) -> str | None:
        if self.kind() != "video":
            return None
        t = self.truth_edit.text().strip()
        return t or None

    def set_input_text(self, text: str, truth: str | None = None) -> str | None:
        """Choose the input ``devicelab run --input`` would read from ``text``; returns
        the one-line problem with it, or None."""
        t = text.strip()
        if t.startswith("synthetic"):
            self.set_kind("synthetic")
            if ":" in t:
                try:
                    w, h = (int(v) for v in t.split(":", 1)[1].split("x"))
                except ValueError:
                    return f"bad synthetic input {t!r}: use synthetic:WIDTHxHEIGHT"
                self.syn_w.setValue(w)
                self.syn_h.setValue(h)
        elif t.startswith(("camera:", "/dev/video")):
            self.set_kind("camera")
            idx = t.split(":", 1)[1] if t.startswith("camera:") else t[len("/dev/video"):]
            self.camera_combo.addItem(f"/dev/video{idx}", f"camera:{idx}")
            self.camera_combo.setEnabled(True)
        elif "://" in t:
            self.set_kind("stream")
            self.url_edit.setText(t)
        else:
            self.set_video(t, truth)
        return None

    def set_fps(self, fps: float) -> None:
        """The target rate (0: as fast as the device goes)."""
        self._fps_from_recording = False
        self.fps_spin.setValue(fps)

    def follow_recording_fps(self) -> None:
        """Pace at the recording's own frame rate: now if it has been read, else as soon as
        it is (a recording that says no rate leaves the target as it is)."""
        fps = (self.info or {}).get("fps")
        if fps:
            self.set_fps(round(float(fps), 1))
        else:
            self._fps_from_recording = True

    def refusal(self) -> str | None:
        """Why Start must not run this input (the dock already said so), or None."""
        if self.kind() == "video" and self.problem:
            return f"input refused: {self.problem}"
        return None

    def set_limits(self, limits: Mapping[str, Any]) -> None:
        """Limits as :meth:`limits` returns them (the last run's, from the preferences)."""
        self._fps_from_recording = False
        self.frames_spin.setValue(int(limits.get("frames") or 0))
        self.duration_spin.setValue(float(limits.get("duration") or 0))
        self.fps_spin.setValue(float(limits.get("fps") or 0))
        self.loop_check.setChecked(bool(limits.get("loop")))

    def limits(self) -> dict[str, Any]:
        return {"frames": self.frames_spin.value(), "duration": self.duration_spin.value(),
                "fps": self.fps_spin.value(),
                "loop": self.loop_check.isChecked() and self.kind() == "video"}
