"""Is the window calm under a flood? A fast real run streamed into the real window.

The demo package on synthetic frames runs at several thousand results per
second on the built-in device (the real agent subprocess, telemetry at
10 Hz, previews at the window's 15 fps). The very same ``MainWindow`` the
``devicelab`` command opens shows it while this script measures, in the GUI
thread:

- event-loop lag: a 5 ms precise timer records how late each of its ticks
  fires (p50 / p99 / max; target p99 < 16 ms, one frame at 60 Hz), and how many
  of its ticks came later than 16 ms;
- the CPU the GUI thread and the console process used while streaming (the
  lag also counts time the GUI thread waited for a CPU that other processes
  had: compare with the load average printed first);
- the display timer's own cost per tick (drain + graphs + live view);
- redraws per second of the graphs and previews painted per second;
- results per second received, and whether every result is in SQLite
  (frames table == frames received == what the agent says it sent).

Then, in a fresh process each, the time from process start to a shown
window (median of ``--startup-runs``).

Prints figures, asserts nothing::

    .venv/bin/python benchmarks/gui_load.py [--duration 10] [--input synthetic:32x32]

Runs offscreen unless a display is set (``xvfb-run -a`` works too).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STARTUP_CHILD = r"""
import sys, time
t0 = float(sys.argv[1])
from console.ui.app import build_window, parse_args
from PySide6.QtCore import QTimer
app, w = build_window(parse_args(["--db", sys.argv[2]]))
w.show()
def shown():
    print(f"{(time.time() - t0) * 1000:.1f}", flush=True)
    w.jobs.wait_all()
    app.quit()
QTimer.singleShot(0, shown)
app.exec()
"""


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100.0 * (len(s) - 1)))]


def measure_startup(runs: int, home: Path) -> list[float]:
    out = []
    env = dict(os.environ, DEVICELAB_HOME=str(home))
    for k in range(runs):
        t0 = time.time()
        res = subprocess.run([sys.executable, "-c", STARTUP_CHILD, repr(t0),
                              str(home / f"startup-{k}.db")], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
        lines = [ln for ln in res.stdout.split() if ln.replace(".", "", 1).isdigit()]
        if res.returncode != 0 or not lines:
            print(f"startup run {k} failed: {res.stderr.strip()[-300:]}")
            continue
        out.append(float(lines[-1]))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=10.0, help="seconds of streaming")
    ap.add_argument("--input", default="synthetic:32x32")
    ap.add_argument("--fps", type=float, default=0.0, help="agent target FPS (0: flat out)")
    ap.add_argument("--startup-runs", type=int, default=5)
    ap.add_argument("--size", default="1600x1000", metavar="WxH",
                    help="window size (the offscreen screen is small; default: the window's "
                         "own default size on a desktop)")
    args = ap.parse_args()
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    home = Path(tempfile.mkdtemp(prefix="devicelab-gui-bench-"))
    os.environ["DEVICELAB_HOME"] = str(home)
    db = home / "sessions.db"

    from PySide6.QtCore import Qt, QTimer

    from console.core.store import SessionStore
    from console.ui.app import build_window, parse_args

    app, w = build_window(parse_args(["--db", str(db), "--input", args.input]))
    width, height = (int(v) for v in args.size.lower().split("x"))
    w.resize(width, height)
    w.show()
    lags: list[float] = []
    tick_ms: list[float] = []
    probe = QTimer()
    probe.setTimerType(Qt.TimerType.PreciseTimer)
    probe.setInterval(5)
    state = {"last": 0.0, "measuring": False}

    def on_probe() -> None:
        now = time.perf_counter()
        if state["measuring"] and state["last"]:
            lags.append(max(0.0, (now - state["last"]) * 1000.0 - 5.0))
        state["last"] = now

    probe.timeout.connect(on_probe)
    original_tick = w.presenter.tick

    def timed_tick() -> None:
        t = time.perf_counter()
        original_tick()
        if state["measuring"]:
            tick_ms.append((time.perf_counter() - t) * 1000.0)

    w.presenter.timer.timeout.disconnect()
    w.presenter.timer.timeout.connect(timed_tick)
    marks: dict[str, float] = {}

    def start() -> None:
        w.input.fps_spin.setValue(args.fps)
        w.input.duration_spin.setValue(args.duration + 3.0)  # margin for the cold start
        w.start_run()

    def begin_measuring() -> None:
        if w.frames_received == 0:
            if w.running:
                QTimer.singleShot(50, begin_measuring)
            return
        state["measuring"] = True
        marks.update(t0=time.perf_counter(), cpu0=time.thread_time(),
                     proc0=time.process_time(), frames0=w.frames_received,
                     redraws0=w.plots.redraws, previews0=w.live_view.frames_painted)
        QTimer.singleShot(int(args.duration * 1000), end_measuring)

    def end_measuring() -> None:
        state["measuring"] = False
        marks.update(t1=time.perf_counter(), cpu1=time.thread_time(),
                     proc1=time.process_time(), frames1=w.frames_received,
                     redraws1=w.plots.redraws, previews1=w.live_view.frames_painted)
        w.stop_run()

    def finished() -> None:
        if w.running:
            QTimer.singleShot(100, finished)
            return
        app.quit()

    def wait_package() -> None:
        if w.package.pending:
            QTimer.singleShot(50, wait_package)
            return
        start()
        QTimer.singleShot(50, begin_measuring)
        QTimer.singleShot(int((args.duration + 30) * 1000), lambda: w.running and w.stop_run())
        QTimer.singleShot(500, finished)

    probe.start()
    QTimer.singleShot(0, wait_package)
    app.exec()
    probe.stop()
    res = w.last_result
    w.jobs.wait_all()

    if "t1" not in marks or res is None:
        print(f"the run did not stream: {w.run_panel.state_label.text()}")
        return 1
    span = marks["t1"] - marks["t0"]
    frames = marks["frames1"] - marks["frames0"]
    with SessionStore(db) as st:
        stored = st.frame_count(res.session_id)
        tele = len(st.telemetry(res.session_id))
    summary = res.summary or {}
    sent = summary.get("agent_sent")
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} "
          "(1 / 5 min; other processes on the machine skew the lag figures)")
    print(f"run: session {res.session_id} {res.status}, input {args.input}, "
          f"{summary.get('frames')} frames in {summary.get('duration_s', 0):.1f} s "
          f"({summary.get('fps') or 0:.0f} fps at the agent), {tele} telemetry samples")
    print(f"streamed into the window: {frames / span:,.0f} results/s over {span:.1f} s "
          f"(+ telemetry {tele / max(summary.get('duration_s') or 1, 1e-9):.1f} Hz)")
    print(f"event-loop lag (5 ms probe, {len(lags)} samples): p50 {pct(lags, 50):.2f} ms, "
          f"p99 {pct(lags, 99):.2f} ms, max {max(lags, default=float('nan')):.2f} ms "
          f"(target p99 < 16 ms)")
    print(f"display tick cost: p50 {pct(tick_ms, 50):.2f} ms, p99 {pct(tick_ms, 99):.2f} ms, "
          f"{len(tick_ms) / span:.1f} ticks/s")
    late = sum(1 for v in lags if v > 16.0)
    print(f"probe ticks later than 16 ms: {late} of {len(lags)} "
          f"({100.0 * late / max(1, len(lags)):.1f} %)")
    gui_cpu = (marks["cpu1"] - marks["cpu0"]) / span
    proc_cpu = (marks["proc1"] - marks["proc0"]) / span
    print(f"CPU while streaming: GUI thread {100 * gui_cpu:.0f} % of one core; the console "
          f"process (GUI + run reader + writer threads) {100 * proc_cpu:.0f} % (the agent is "
          "another process)")
    print(f"window {w.width()}×{w.height()}; graphs redraw at most once per pixel of "
          f"scroll: {w.plots.window_s:.0f} s over "
          f"{w.plots.panels['latency'].item.getViewBox().width():.0f} px")
    print(f"graph redraws/s: {(marks['redraws1'] - marks['redraws0']) / span:.1f}; previews "
          f"painted/s: {(marks['previews1'] - marks['previews0']) / span:.1f}")
    every = stored == w.frames_received and (sent is None or sent == stored)
    print(f"recorded: {stored} frames in SQLite, {w.frames_received} received by the window, "
          f"agent sent {sent}: every result recorded: {'yes' if every else 'NO'}")

    times = measure_startup(args.startup_runs, home)
    if times:
        print(f"startup, process start -> window shown ({len(times)} runs): median "
              f"{statistics.median(times):.0f} ms, min {min(times):.0f} ms, "
              f"max {max(times):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
