"""Is the Plan tab calm while a plan floods it? A real plan run in the real window.

A plan of ``--cells`` unpaced cells on this computer (the demo package on
synthetic frames: thousands of results a second, the real agent, real
onnxruntime, a real SQLite log) runs from the Plan tab of the very
``MainWindow`` the ``devicelab`` command opens, while this script measures
in the GUI thread:

- event-loop lag: a 5 ms precise timer records how late each tick fires
  (p50 / p99 / max; target p99 < 16 ms, one frame at 60 Hz);
- the display timer's cost per tick (drain the frame buffer, decimate,
  ``setData`` on the per-device curve);
- frames per second that reached the tab's curve buffer, and the points
  the curve draws (bounded, whatever the rate).

Prints figures, asserts nothing::

    .venv/bin/python benchmarks/plan_tab_load.py [--frames 20000] [--cells 2]

Runs offscreen unless a display is set.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100.0 * (len(s) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=20000, help="frames per cell")
    ap.add_argument("--cells", type=int, default=2, choices=(1, 2), help="cells (packages)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="plan-tab-load-"))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["DEVICELAB_HOME"] = str(tmp / "home")
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from console.ui.main_window import MainWindow, StartupChoices

    pkgs = [ROOT / "resources" / "packages" / n for n in ("digits-cnn", "digits-cnn-int8")]
    plan = tmp / "plan.toml"
    plan.write_text('name = "load"\ndevices = ["local"]\npackages = ['
                    + ", ".join(f'"{p}"' for p in pkgs[:args.cells]) + ']\n'
                    'inputs = ["synthetic:32x32"]\n[run]\n'
                    f"frames = {args.frames}\n")
    app = QApplication.instance() or QApplication([])
    w = MainWindow(StartupChoices(db_path=tmp / "sessions.db"))
    w.show()
    pv = w.plan_view
    w.tabs.setCurrentWidget(pv)
    lags: list[float] = []
    ticks: list[float] = []
    state: dict[str, float] = {"last": 0.0, "t0": 0.0, "t1": 0.0, "frames": 0.0}
    probe = QTimer()
    probe.setTimerType(Qt.TimerType.PreciseTimer)
    probe.setInterval(5)

    def on_probe() -> None:
        now = time.perf_counter()
        if state["last"]:
            lags.append(max(0.0, (now - state["last"]) * 1000.0 - 5.0))
        state["last"] = now

    probe.timeout.connect(on_probe)
    draw = pv._draw

    def timed_draw() -> None:
        t = time.perf_counter()
        before = sum(len(h) for h in pv.histories.values())
        draw()
        ticks.append((time.perf_counter() - t) * 1000.0)
        state["frames"] += max(0, sum(len(h) for h in pv.histories.values()) - before)

    pv.timer.timeout.disconnect()
    pv.timer.timeout.connect(timed_draw)

    def started(on: bool) -> None:
        if on:
            state["t0"] = time.perf_counter()
            probe.start()

    def ended() -> None:
        state["t1"] = time.perf_counter()
        probe.stop()
        app.quit()

    pv.runningChanged.connect(started)
    pv.finished.connect(ended)
    pv.checked.connect(lambda: None)
    QTimer.singleShot(0, lambda: (pv.path_edit.setText(str(plan)), pv.run()))
    app.exec()
    span = state["t1"] - state["t0"]
    res = pv.result
    print(f"plan: {args.cells} cell(s) × {args.frames} frames on this computer, "
          f"{span:.1f} s, exit status {res.exit_code if res else '?'}")
    print(f"event-loop lag (5 ms probe, {len(lags)} samples): p50 {pct(lags, 50):.2f} ms, "
          f"p99 {pct(lags, 99):.2f} ms, max {max(lags, default=float('nan')):.2f} ms "
          "(target p99 < 16 ms)")
    print(f"display timer ({len(ticks)} ticks, {len(ticks) / span if span else 0:.0f}/s): "
          f"p50 {pct(ticks, 50):.2f} ms, p99 {pct(ticks, 99):.2f} ms per tick")
    print(f"frames into the curve buffer: {state['frames'] / span if span else 0:.0f}/s; "
          f"points drawn per curve: {pv.grid.curve_points('local')}")
    w.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
