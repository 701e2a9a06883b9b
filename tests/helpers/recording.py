"""Record real sessions for tests: the demo resources and a short real run on this computer."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import Any

from console.devices.base import AgentOptions
from console.devices.local import LocalDevice
from console.session.run import Run, RunRequest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "resources" / "packages" / "digits-cnn"
PKG_INT8 = ROOT / "resources" / "packages" / "digits-cnn-int8"
VIDEO = ROOT / "resources" / "recordings" / "digits-demo.avi"
TRUTH = ROOT / "resources" / "recordings" / "digits-demo.truth.csv"
DEVICELAB = str(Path(sys.executable).parent / "devicelab")


def record(db: Path, package: Path, inp: str, **kw: Any) -> int:
    """A completed local run (paced at 400 fps, telemetry at 50 Hz, no previews)."""
    opts = AgentOptions(fps=kw.pop("fps", 400), telemetry_ms=20, preview_fps=0,
                        frames=kw.pop("frames", 0))
    res = Run(LocalDevice(), RunRequest(str(package), inp, opts, **kw), db).execute()
    assert res.status == "completed", res.error
    assert res.session_id is not None
    return res.session_id


def copy_db(src: Path, dst: Path) -> Path:
    """A consistent copy of a log (the SQLite backup API, WAL included)."""
    a, b = sqlite3.connect(src), sqlite3.connect(dst)
    try:
        a.backup(b)
    finally:
        a.close()
        b.close()
    return dst
