"""Retake docs/screenshot.png and docs/presentation.png from what ``scripts/run`` shows.

The window starts exactly as ``scripts/run`` starts it (This computer, the
NanoDet detector on OpenCV's vtest clip, paced at the clip's own 10 fps,
looping), at the screen's own size, in a fresh DEVICELAB_HOME (first-start
layout) with a throw-away session log; after ``--seconds`` of the run the
main window is grabbed, then presentation mode (F11) is entered and grabbed.
Run it under a virtual screen of the size wanted::

    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python tools/take_screenshots.py

Prints where it wrote what; exits 1 if the run did not stream.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def scripts_run_args() -> list[str]:
    """The arguments ``scripts/run`` passes when it is given none."""
    import shlex

    text = (ROOT / "scripts" / "run").read_text(encoding="utf-8")
    line = text.split("set -- ", 1)[1].split("\n  if", 1)[0].replace("\\\n", " ")
    return shlex.split(line)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=25.0,
                    help="seconds of the run before the main window is grabbed")
    ap.add_argument("--out", type=Path, default=ROOT / "docs")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="devicelab-shots-"))
    os.environ["DEVICELAB_HOME"] = str(home)
    os.chdir(ROOT)  # scripts/run's paths are relative to the checkout

    from console.ui.app import build_window, parse_args
    from console.ui.qt import QTimer

    gui = parse_args(["--db", str(home / "sessions.db"), *scripts_run_args()])
    app, w = build_window(gui)
    w.show()
    QTimer.singleShot(0, w.start_when_ready)
    shots: dict[str, Path] = {}

    def main_window() -> None:
        if w.frames_received == 0:
            print(f"the run did not stream: {w.run_panel.state_label.text()}")
            app.quit()
            return
        shots["main"] = args.out / "screenshot.png"
        w.grab().save(str(shots["main"]))
        w.presentation.set(True)
        QTimer.singleShot(4000, presentation)

    def presentation() -> None:
        view = w.presentation.view
        assert view is not None
        shots["present"] = args.out / "presentation.png"
        view.grab().save(str(shots["present"]))
        w.presentation.set(False)
        w.close()  # stops the run cleanly; the window quits when it has ended
        QTimer.singleShot(15_000, app.quit)

    QTimer.singleShot(int(args.seconds * 1000), main_window)
    app.exec()
    for name, path in shots.items():
        print(f"{name}: {path} ({w.width()}×{w.height()} window)" if name == "main"
              else f"{name}: {path}")
    return 0 if len(shots) == 2 else 1


if __name__ == "__main__":
    sys.exit(main())
