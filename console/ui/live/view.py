"""The live view: the device's preview frames with the model's output drawn on them.

The preview JPEG is decoded in the run's worker thread (a QImage); this
widget only scales and paints the newest one, at most once per display
tick, keeping its aspect ratio. Classification outputs are drawn as a
top-k list with score bars, detections as boxes with class and score,
scaled from input-frame pixels to the preview's size. Labels come from
the package. The frame index and the current FPS sit in a footer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from console.ui.qt import (
    QColor,
    QEvent,
    QFont,
    QImage,
    QPainter,
    QPaintEvent,
    QPen,
    QRectF,
    QSize,
    QSizePolicy,
    Qt,
    QWidget,
)

#: the footer line under the image (frame index, FPS, note)
FOOTER_H = 22
BOX_COLORS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6",
              "#bfef45", "#fabed4", "#469990")


def _color_index(cls: Any) -> int:
    """A stable colour per class (str hashes change between processes)."""
    try:
        return int(cls) % len(BOX_COLORS)
    except (TypeError, ValueError):
        return sum(str(cls).encode()) % len(BOX_COLORS)


class LiveView(QWidget):
    """Paints the newest preview; ``set_frame`` is cheap and may be called every tick."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("liveView")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(200, 150)
        self._image: QImage | None = None
        self._out: Mapping[str, Any] | None = None
        self._frame_i: int | None = None
        self._fps: float | None = None
        self._labels: Sequence[str] | None = None
        self._input_size: tuple[int, int] | None = None
        self._placeholder = "Press Start (F5) to run the model"
        self._note = ""
        self._fonts: tuple[QFont, QFont] | None = None
        #: the newest image scaled to the size it is painted at (scaled once per image
        #: or resize, not on every paint: a smooth scale was most of a paint's cost)
        self._scaled: QImage | None = None
        self._scaled_key: tuple[QImage, int, int] | None = None
        #: previews painted (for tests and the benchmark)
        self.frames_painted = 0
        self.shown_frame: int | None = None
        #: (frame index, top-1 class or None) of every preview shown, newest last (capped)
        self.shown: list[tuple[int, Any]] = []

    def image_area(self) -> tuple[int, int]:
        """The (w, h) a preview fills (its aspect kept inside it): previews scaled to it
        before they arrive are painted without scaling."""
        r = self._area()
        return max(1, int(r.width())), max(1, int(r.height()))

    def _area(self) -> QRectF:
        return QRectF(self.rect()).adjusted(4, 4, -4, -4 - FOOTER_H)

    def sizeHint(self) -> QSize:
        return QSize(480, 360)

    # -- state ----------------------------------------------------------------
    def reset(self, placeholder: str) -> None:
        self._image = None
        self._scaled = self._scaled_key = None
        self._out = None
        self.shown_frame = None
        self.shown = []
        self._frame_i = None
        self._fps = None
        self._note = ""
        self._placeholder = placeholder
        self.update()

    def set_labels(self, labels: Sequence[str] | None) -> None:
        self._labels = list(labels) if labels else None

    def set_input_size(self, width: int | None, height: int | None) -> None:
        self._input_size = (int(width), int(height)) if width and height else None

    @property
    def placeholder(self) -> str:
        """The words shown while there is no image."""
        return self._placeholder

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        if self._image is None:
            self.update()

    def set_note(self, text: str) -> None:
        """A one-line note under the image (e.g. why there are no previews)."""
        self._note = text
        self.update()

    def set_frame(self, image: QImage | None, frame_i: int | None,
                  out: Mapping[str, Any] | None, fps: float | None) -> None:
        if image is not None:
            self._image = image
            self.frames_painted += 1
            self.shown_frame = frame_i
            if frame_i is not None:
                top = (out or {}).get("top")
                self.shown.append((frame_i, top[0][0] if top else None))
                if len(self.shown) > 10_000:
                    del self.shown[:5_000]
        if out is not None:
            self._out = out
        self._frame_i = frame_i if frame_i is not None else self._frame_i
        self._fps = fps
        if image is None and out is None:
            self.update(0, self.height() - FOOTER_H, self.width(), FOOTER_H)  # the footer
        else:
            self.update()

    def label(self, cls: Any) -> str:
        try:
            k = int(cls)
        except (TypeError, ValueError):
            return str(cls)
        if self._labels and 0 <= k < len(self._labels):
            return self._labels[k]
        return f"class {k}"

    # -- painting ---------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        try:
            self._paint(p)
        finally:
            p.end()

    def _paint(self, p: QPainter) -> None:
        p.fillRect(self.rect(), QColor("#111418"))
        footer_h = FOOTER_H
        area = self._area()
        text_color = QColor("#e8eaed")
        if self._image is None:
            p.setPen(text_color)
            p.drawText(area, int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap),
                       self._placeholder)
        else:
            iw, ih = self._image.width(), self._image.height()
            scale = min(area.width() / iw, area.height() / ih) if iw and ih else 1.0
            w, h = iw * scale, ih * scale
            target = QRectF(area.x() + (area.width() - w) / 2, area.y() + (area.height() - h) / 2,
                            w, h)
            key = (self._image, round(w), round(h))
            ck = self._scaled_key
            if abs(iw - w) < 1.5 and abs(ih - h) < 1.5:  # scaled by the run thread already
                self._scaled, self._scaled_key = self._image, key
            elif self._scaled is None or ck is None or ck[0] is not key[0] \
                    or ck[1:] != key[1:]:
                self._scaled = self._image.scaled(
                    max(1, round(w)), max(1, round(h)), Qt.AspectRatioMode.IgnoreAspectRatio,
                    Qt.TransformationMode.SmoothTransformation)
                self._scaled_key = key
            p.drawImage(target.topLeft(), self._scaled)
            if self._out:
                self._draw_output(p, target, iw, ih)
        # footer
        p.setPen(text_color)
        foot = QRectF(8, self.height() - footer_h, self.width() - 16, footer_h)
        parts = []
        if self._frame_i is not None:
            parts.append(f"frame {self._frame_i:,}".replace(",", " "))
        if self._fps is not None:
            parts.append(f"{self._fps:.1f} fps")
        if self._note:
            parts.append(self._note)
        p.drawText(foot, int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft),
                   "   ·   ".join(parts))

    def _draw_output(self, p: QPainter, target: QRectF, iw: int, ih: int) -> None:
        out = self._out or {}
        top = out.get("top")
        boxes = out.get("boxes")
        if isinstance(top, list) and top:
            self._draw_top(p, target, top)
        if isinstance(boxes, list):
            self._draw_boxes(p, target, boxes, iw, ih)

    def _overlay_fonts(self) -> tuple[QFont, QFont]:
        """Built once: a new QFont per paint costs a font lookup (slow on a busy machine)."""
        if self._fonts is None:
            big = QFont(self.font())
            big.setPointSizeF(max(9.0, big.pointSizeF() * 1.1))
            big.setBold(True)
            bold = QFont(self.font())
            bold.setBold(True)
            self._fonts = (big, bold)
        return self._fonts

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.FontChange:
            self._fonts = None
        super().changeEvent(event)

    def _draw_top(self, p: QPainter, target: QRectF, top: list[Any]) -> None:
        p.setFont(self._overlay_fonts()[0])
        fm = p.fontMetrics()
        rows = []
        for item in top[:5]:
            try:
                cls, score = item[0], float(item[1])
            except (TypeError, ValueError, IndexError):
                continue
            rows.append((self.label(cls), score))
        if not rows:
            return
        line_h = fm.height() + 4
        bar_w = 90.0
        text_w = max(fm.horizontalAdvance(f"{name}  {score:.2f}") for name, score in rows)
        box = QRectF(target.x() + 8, target.y() + 8, text_w + bar_w + 24, line_h * len(rows) + 8)
        p.fillRect(box, QColor(0, 0, 0, 170))
        for k, (name, score) in enumerate(rows):
            y = box.y() + 4 + k * line_h
            color = QColor("#7CFC9A") if k == 0 else QColor("#e8eaed")
            p.setPen(color)
            p.drawText(QRectF(box.x() + 8, y, text_w + 4, line_h),
                       int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft),
                       f"{name}  {score:.2f}")
            bar = QRectF(box.x() + 16 + text_w, y + line_h * 0.3,
                         bar_w * max(0.0, min(1.0, score)), line_h * 0.4)
            p.fillRect(bar, color)

    def _draw_boxes(self, p: QPainter, target: QRectF, boxes: list[Any], iw: int, ih: int
                    ) -> None:
        in_w, in_h = self._input_size or (iw, ih)
        sx = target.width() / in_w if in_w else 1.0
        sy = target.height() / in_h if in_h else 1.0
        p.setFont(self._overlay_fonts()[1])
        fm = p.fontMetrics()
        for b in boxes[:100]:
            try:
                x1, y1, x2, y2 = (float(v) for v in b[:4])
                cls, score = b[4], float(b[5])
            except (TypeError, ValueError, IndexError):
                continue
            color = QColor(BOX_COLORS[_color_index(cls)])
            r = QRectF(target.x() + x1 * sx, target.y() + y1 * sy, (x2 - x1) * sx, (y2 - y1) * sy)
            p.setPen(QPen(color, 2))
            p.drawRect(r)
            text = f"{self.label(cls)} {score:.2f}"
            tw = fm.horizontalAdvance(text) + 6
            # the tag stays on the picture (a box at its right edge kept its tag cut off)
            tag = QRectF(max(target.x(), min(r.x(), target.right() - tw)),
                         max(target.y(), r.y() - fm.height() - 2), tw, fm.height() + 2)
            p.fillRect(tag, color)
            p.setPen(QColor("#000000"))
            p.drawText(tag, int(Qt.AlignmentFlag.AlignCenter), text)
