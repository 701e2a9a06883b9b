"""Presentation mode: View → Present / F11 in, Esc out, live numbers from a real run.

The run is real (the local agent on synthetic frames); the temperature case
with sensors uses the real agent sampler on the recorded Jetson Orin tree
(this VM has no thermal zones: there it must read "unavailable").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt

from console.agent.telemetry import TelemetrySampler
from console.ui.live.data import Batch
from console.ui.live.plots import LivePlots
from console.ui.live.present import figures

ROOT = Path(__file__).resolve().parents[2]
JETSON = ROOT / "tests" / "data" / "sysfs" / "jetson-orin"


def test_f11_presents_the_run_big_and_esc_gives_the_window_back(make_window: Any, qtbot: Any,
                                                                db_path: Path) -> None:
    w = make_window(db_path=db_path, input="synthetic:64x64")
    qtbot.waitUntil(lambda: not w.package.pending, timeout=30_000)
    view_menu = next(a.menu() for a in w.menuBar().actions() if a.text() == "&View")
    assert "Present" in [a.text() for a in view_menu.actions()]
    w.input.fps_spin.setValue(60.0)
    w.input.duration_spin.setValue(30.0)
    w.start_run()
    qtbot.waitUntil(lambda: w.frames_received >= 60 and w.supervisor.run.previews > 0,
                    timeout=60_000)
    w.activateWindow()
    qtbot.keyClick(w, Qt.Key.Key_F11)
    pv = w.presentation.view
    assert pv is not None and pv.isVisible() and w.presentation.action.isChecked()
    assert w.live_view.parent() is not w.view_dock  # the live view itself, large
    assert w.live_view.isVisibleTo(pv) and w.live_view.width() > 300
    qtbot.waitUntil(lambda: "fps" in pv.fig["fps"].value.text(), timeout=10_000)
    assert "digits-cnn" in pv.title.text() and "This computer" in pv.title.text()
    assert "running" in pv.state.text()
    qtbot.waitUntil(lambda: "ms" in pv.fig["p95"].value.text(), timeout=10_000)
    fps = float(pv.fig["fps"].value.text().split("<", 1)[0])
    assert 30 < fps < 80  # paced at 60
    x, _y = pv.e2e_curve.getData()
    assert x is not None and len(x) > 10  # the latency strip draws
    if not w.plots.telemetry.names("thermal."):
        qtbot.waitUntil(lambda: "unavailable" in pv.fig["temp"].value.text(), timeout=10_000)
    qtbot.keyClick(pv, Qt.Key.Key_Escape)
    assert not pv.isVisible() and not w.presentation.action.isChecked()
    assert w.view_dock.widget() is w.live_view  # back in its dock
    w.presentation.set(True)  # and in again from the menu's action, while it still runs
    assert pv.isVisible() and w.live_view.parent() is not w.view_dock
    w.presentation.action.trigger()
    assert not pv.isVisible() and w.view_dock.widget() is w.live_view
    w.stop_run()
    qtbot.waitUntil(lambda: not w.running, timeout=30_000)


def test_temperature_is_a_reading_where_the_device_has_sensors(qtbot: Any) -> None:
    sampler = TelemetrySampler(root=str(JETSON), pid=4242)
    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.reset()
    t0 = 1_700_000_000.0
    ts = t0 + np.arange(0, 2, 0.01)
    rows = np.column_stack([ts, np.full(len(ts), 0.5), np.full(len(ts), 4.0),
                            np.full(len(ts), 0.5), np.full(len(ts), 5.0), np.arange(len(ts))])
    tele = [(t0 + 0.1 * k, sampler.sample(now=0.1 * k)) for k in range(20)]
    plots.ingest(Batch(rows, tele))
    f = figures(plots, running=True)
    assert f.temp[1] == "°C" and f.temp[0] == f"{max(tele[-1][1]['thermal'].values()):.1f}"
    assert f.fps[1] == "fps" and abs(float(f.fps[0]) - 100) < 2
    assert f.p95[1] == "ms" and float(f.p95[0]) == 5.0
    assert f.cpu[0] != "unavailable"
    nothing = figures(None, running=False)
    assert nothing.temp[0] == "–"  # no run: no made-up reading either
