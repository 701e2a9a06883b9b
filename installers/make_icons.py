"""Render the app icon (resources/icons/devicelab.svg) into every format the installers need.

Writes, beside the SVG: ``devicelab-<N>.png`` for the freedesktop icon theme
(16…512 px), ``devicelab.ico`` for Windows (Inno Setup, the .exe) and
``devicelab.icns`` for the macOS .app. The outputs are committed, so a build
never needs this script; run it only after editing the SVG:

    .venv/bin/python installers/make_icons.py

Rendering uses Qt's own SVG renderer (QtSvg ships with PySide6-Essentials),
so no extra tool is needed. ICO and ICNS are written here directly: both are
simple containers of PNG images (ICO with PNG entries: Windows Vista and
later; ICNS with PNG entries: macOS 10.7 and later).
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ICON_DIR = Path(__file__).resolve().parent.parent / "resources" / "icons"
SVG = ICON_DIR / "devicelab.svg"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
# ICNS element types holding PNG data, with their pixel size.
ICNS_TYPES = (("icp4", 16), ("icp5", 32), ("icp6", 64), ("ic07", 128), ("ic08", 256),
              ("ic09", 512), ("ic10", 1024), ("ic11", 32), ("ic12", 64), ("ic13", 256),
              ("ic14", 512))


def render_png(size: int) -> bytes:
    """The SVG drawn on a transparent ``size``×``size`` canvas, as PNG bytes."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"make_icons: {SVG} is not a valid SVG; fix it and run again")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(0)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    buf.close()
    return bytes(data.data())


def ico_bytes(pngs: dict[int, bytes]) -> bytes:
    """An ICO file whose entries are PNG images (width/height 0 means 256)."""
    header = struct.pack("<HHH", 0, 1, len(pngs))
    entries = b""
    offset = 6 + 16 * len(pngs)
    body = b""
    for size, data in sorted(pngs.items()):
        dim = 0 if size >= 256 else size
        entries += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(data), offset)
        offset += len(data)
        body += data
    return header + entries + body


def icns_bytes(pngs: dict[int, bytes]) -> bytes:
    """An ICNS file: big-endian ``type, length`` elements, each holding a PNG."""
    body = b""
    for kind, size in ICNS_TYPES:
        data = pngs[size]
        body += kind.encode("ascii") + struct.pack(">I", 8 + len(data)) + data
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def main() -> int:
    sizes = sorted(set(PNG_SIZES) | set(ICO_SIZES) | {s for _, s in ICNS_TYPES})
    pngs = {s: render_png(s) for s in sizes}
    for s in PNG_SIZES:
        (ICON_DIR / f"devicelab-{s}.png").write_bytes(pngs[s])
    (ICON_DIR / "devicelab.ico").write_bytes(ico_bytes({s: pngs[s] for s in ICO_SIZES}))
    (ICON_DIR / "devicelab.icns").write_bytes(icns_bytes(pngs))
    print(f"make_icons: wrote {len(PNG_SIZES)} PNGs, devicelab.ico and devicelab.icns "
          f"to {ICON_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
