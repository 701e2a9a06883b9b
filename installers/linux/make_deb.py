"""Pack the frozen one-folder app as a Debian package (``dpkg-deb``, no other tool).

Layout: the app in ``/opt/devicelab``, ``/usr/bin/devicelab`` a link to it,
the menu entry in ``/usr/share/applications`` and the icons in the hicolor
theme. ``Depends`` names the system libraries Qt's X11 platform plugin loads
(the same list scripts/setup installs); everything else is inside the app.
Prints the path of the written ``.deb``. Called by installers/linux/build.sh.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ICONS = ROOT / "resources" / "icons"
DESKTOP = Path(__file__).resolve().parent / "devicelab.desktop"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
DEPENDS = ("libc6 (>= 2.28), libegl1, libgl1, libfontconfig1, libdbus-1-3, libglib2.0-0, "
           "libxkbcommon-x11-0, libxcb-cursor0, libxcb-icccm4, libxcb-keysyms1, libxcb-randr0, "
           "libxcb-render-util0, libxcb-shape0, libxcb-image0")


def _du_kib(path: Path) -> int:
    total = 0
    for p in path.rglob("*"):
        if p.is_file() and not p.is_symlink():
            total += p.stat().st_size
    return (total + 1023) // 1024


def build(app: Path, version: str, work: Path, out: Path) -> Path:
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()
    root = work / "root"
    if work.exists():
        shutil.rmtree(work)
    (root / "DEBIAN").mkdir(parents=True)
    shutil.copytree(app, root / "opt" / "devicelab", symlinks=True)
    (root / "usr" / "bin").mkdir(parents=True)
    os.symlink("/opt/devicelab/devicelab", root / "usr" / "bin" / "devicelab")
    apps = root / "usr" / "share" / "applications"
    apps.mkdir(parents=True)
    (apps / "devicelab.desktop").write_text(
        DESKTOP.read_text().replace("@EXEC@", "/opt/devicelab/devicelab"))
    hicolor = root / "usr" / "share" / "icons" / "hicolor"
    for s in ICON_SIZES:
        d = hicolor / f"{s}x{s}" / "apps"
        d.mkdir(parents=True)
        shutil.copy(ICONS / f"devicelab-{s}.png", d / "devicelab.png")
    (hicolor / "scalable" / "apps").mkdir(parents=True)
    shutil.copy(ICONS / "devicelab.svg", hicolor / "scalable" / "apps" / "devicelab.svg")
    doc = root / "usr" / "share" / "doc" / "devicelab"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(
        "Device Lab Console\nLicense: Apache-2.0\n"
        "The bundled third-party libraries (Qt/PySide6: LGPL-3.0; onnxruntime: MIT;\n"
        "OpenCV: Apache-2.0; numpy, pyqtgraph, paramiko and others) keep their own\n"
        "licenses, shipped beside them in /opt/devicelab/_internal.\n")
    control = (
        "Package: devicelab\n"
        f"Version: {version}\n"
        f"Architecture: {arch}\n"
        "Maintainer: Device Lab Console developers <devicelab@localhost>\n"
        f"Installed-Size: {_du_kib(root)}\n"
        f"Depends: {DEPENDS}\n"
        "Section: science\n"
        "Priority: optional\n"
        "Description: run ONNX model packages on lab devices and watch them live\n"
        " Device Lab Console runs ONNX model packages on this computer or on SSH\n"
        " boards through an on-device agent, shows latency and telemetry live and\n"
        " records every session in SQLite for reproduction. Self-contained: no\n"
        " Python installation needed.\n")
    (root / "DEBIAN" / "control").write_text(control)
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"devicelab_{version}_{arch}.deb"
    tmp = target.with_suffix(".deb.tmp")
    # zstd: 5 s here against 80 s for gzip, and smaller. Every dpkg that can
    # install this app reads it (dpkg >= 1.21.18; the app needs glibc 2.36+,
    # i.e. Debian 12 / Ubuntu 23.04 or later, whose dpkg all do).
    res = subprocess.run(["dpkg-deb", "--root-owner-group", "-Zzstd", "--build", str(root),
                          str(tmp)], capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"make_deb: dpkg-deb failed: {res.stderr.strip()[-500:]}")
    os.replace(tmp, target)
    return target


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--app", type=Path, required=True, help="the PyInstaller one-folder app")
    ap.add_argument("--version", required=True)
    ap.add_argument("--work", type=Path, required=True, help="scratch folder (replaced)")
    ap.add_argument("--out", type=Path, required=True, help="where the .deb goes")
    a = ap.parse_args()
    if not (a.app / "devicelab").is_file():
        print(f"make_deb: {a.app}/devicelab is missing; run PyInstaller first",
              file=sys.stderr)
        return 2
    print(build(a.app, a.version, a.work, a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
