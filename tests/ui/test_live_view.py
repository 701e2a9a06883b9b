"""The live view draws what the model said where it said it, and keeps the aspect ratio."""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QColor, QImage

from console.ui.live.view import BOX_COLORS, LiveView


def gray_image(w: int, h: int) -> QImage:
    img = QImage(w, h, QImage.Format.Format_RGB32)
    img.fill(QColor(128, 128, 128))
    return img


def test_boxes_are_scaled_from_input_pixels_and_aspect_is_kept(qtbot: Any) -> None:
    view = LiveView()
    qtbot.addWidget(view)
    view.resize(808, 430)  # wide: the image is letterboxed left and right
    view.show()
    qtbot.waitExposed(view)
    view.set_labels(["cat", "dog"])
    view.set_input_size(640, 480)  # the model saw 640x480; the preview is 320x240
    box = [64.0, 48.0, 320.0, 240.0, 1, 0.87]
    view.set_frame(gray_image(320, 240), 7, {"boxes": [box]}, 29.9)
    shot = view.grab().toImage()
    # drawing area: 800x400 (4 px margins, 22 px footer); 320x240 scaled by 5/3 -> 533x400
    scale = 400 / 240
    x0 = 4 + (800 - 320 * scale) / 2
    left = round(x0 + 64 / 2 * scale)  # input pixels -> preview pixels -> widget pixels
    mid_y = round(4 + (48 + 240) / 2 / 2 * scale)
    assert QColor(shot.pixel(left, mid_y)) == QColor(BOX_COLORS[1])
    assert QColor(shot.pixel(round(x0) - 3, 200)) != QColor(128, 128, 128)  # letterbox
    assert QColor(shot.pixel(round(x0) + 3, 390)) == QColor(128, 128, 128)  # image
    assert view.label(1) == "dog" and view.label(5) == "class 5"
    assert view.shown == [(7, None)] and view.frames_painted == 1


def test_top_k_is_recorded_with_the_frame_it_belongs_to(qtbot: Any) -> None:
    view = LiveView()
    qtbot.addWidget(view)
    view.set_labels([str(k) for k in range(10)])
    view.set_frame(gray_image(64, 64), 3, {"top": [[7, 0.9], [1, 0.05]]}, None)
    view.set_frame(None, 4, {"top": [[2, 0.8]]}, 30.0)  # an output without a new image
    view.grab()
    assert view.shown == [(3, 7)]
    view.reset("next run")
    assert view.shown == [] and view.shown_frame is None
