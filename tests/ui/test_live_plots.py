"""The live graphs: no invented zeros, recorded sensor data drawn, spikes explained.

Telemetry with sensors this VM lacks comes from the real agent sampler
reading the recorded Jetson Orin tree in tests/data/sysfs (not from
hand-written dicts); the "no data" case uses this machine as it is.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np

from console.agent.telemetry import TelemetrySampler
from console.ui.live.data import Batch
from console.ui.live.plots import LivePlots

ROOT = Path(__file__).resolve().parents[2]
JETSON = ROOT / "tests" / "data" / "sysfs" / "jetson-orin"
T0 = 1_700_000_000.0


def jetson() -> tuple[dict[str, Any], TelemetrySampler]:
    sampler = TelemetrySampler(root=str(JETSON), pid=4242)
    return {"telemetry": sampler.static_facts()}, sampler


def frames(t_from: float, t_to: float, fps: float, e2e: float, start_i: int = 0) -> np.ndarray:
    ts = np.arange(t_from, t_to, 1.0 / fps)
    n = len(ts)
    rows = np.empty((n, 6))
    rows[:, 0] = T0 + ts
    rows[:, 1] = 0.5
    rows[:, 2] = e2e - 0.7
    rows[:, 3] = 0.2
    rows[:, 4] = e2e
    rows[:, 5] = np.arange(start_i, start_i + n)
    return rows


def make_plots(qtbot: Any) -> LivePlots:
    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.resize(900, 900)
    plots.show()
    return plots


def test_before_a_run_every_graph_says_so(qtbot: Any) -> None:
    plots = make_plots(qtbot)
    for key in plots.panels:
        assert plots.placeholder(key) == "no data yet: press Start (F5)"
        assert plots.panels[key].placeholder.isVisible()


def test_a_real_run_draws_what_this_device_has_and_says_what_it_lacks(
        make_window: Any, qtbot: Any, db_path: Path) -> None:
    have = TelemetrySampler().static_facts()
    probe = TelemetrySampler()
    probe.sample()
    sample = probe.sample()
    w = make_window(db_path=db_path, input="synthetic:64x64")
    qtbot.waitUntil(lambda: not w.package.pending, timeout=30_000)
    w.input.frames_spin.setValue(200)
    w.input.fps_spin.setValue(100.0)
    w.start_run()
    qtbot.waitUntil(lambda: w.last_result is not None and not w.running, timeout=60_000)
    assert w.last_result.status == "completed", w.last_result.error
    plots = w.plots
    assert plots.telemetry.samples >= 5
    for key in ("latency", "fps", "cpu", "memory"):
        assert plots.placeholder(key) == "", key
    x, y = plots.panels["latency"].points("e2e")
    assert len(x) > 0 and np.all(y > 0)
    x, y = plots.panels["memory"].points("rss_mb")
    assert len(x) > 0 and np.all(y > 0)

    temp = plots.panels["temperature"]
    if have.get("thermal_zones") and sample.get("thermal"):
        assert plots.placeholder("temperature") == ""
        assert temp.curves
    else:  # this VM: no thermal zones at all
        assert plots.placeholder("temperature") == (
            "no temperature data from this device (it reports no thermal zones)")
        assert temp.curves == {}  # nothing drawn: no line at 0 °C
        assert temp.placeholder.isVisible()
    freq = plots.panels["frequency"]
    if sample.get("freq_mhz"):
        assert plots.placeholder("frequency") == "" and freq.curves
    else:
        assert plots.placeholder("frequency").startswith("no CPU frequency data")
        assert freq.curves == {}


def test_recorded_board_telemetry_draws_every_zone_and_its_trip_points(qtbot: Any) -> None:
    facts, sampler = jetson()
    plots = make_plots(qtbot)
    plots.reset()
    plots.set_device_facts(facts, T0)
    tele = [(T0 + 0.1 * k, sampler.sample(now=0.1 * k)) for k in range(30)]
    plots.ingest(Batch(frames(0.0, 3.0, 30, 5.0), tele))
    plots.redraw(force=True)
    assert plots.placeholder("temperature") == "" and plots.placeholder("frequency") == ""
    temp = plots.panels["temperature"]
    zones = [z["name"] for z in facts["telemetry"]["thermal_zones"]]
    assert len(temp.curves) == 8 and temp.overflow == zones[8:]  # the rest listed, not drawn
    x, y = temp.points("thermal.cpu-thermal")
    assert len(x) == 30 and np.allclose(y, tele[-1][1]["thermal"]["cpu-thermal"])
    x, y = plots.panels["frequency"].points("freq_mhz.cpu4")
    assert np.allclose(y, 729.6)
    assert plots.marks.trip_points() == [99.0, 105.0]
    assert "max 48.6 °C" in plots.title("temperature")


def test_latency_spike_is_annotated_with_the_trip_crossing_at_that_moment(qtbot: Any) -> None:
    facts, sampler = jetson()
    plots = make_plots(qtbot)
    plots.reset()
    plots.set_device_facts(facts, T0)
    base = sampler.sample(now=0.0)
    rng = np.random.default_rng(1)
    seen: list[Any] = []
    plots.spikeAnnotated.connect(seen.append)
    for tick in range(50):  # 5 s at 100 fps, fed as the display timer would
        t_a, t_b = tick * 0.1, (tick + 1) * 0.1
        rows = frames(t_a, t_b, 100, 5.0, start_i=tick * 10)
        rows[:, 4] += rng.normal(0, 0.2, len(rows))
        if abs(t_a - 3.0) < 1e-6:
            rows[0, 4] = 40.0  # the spike, frame 300 at t = 3.0 s
        s = copy.deepcopy(base)
        # cpu-thermal climbs and crosses its passive trip (99 °C) between 2.9 and 3.0 s
        s["thermal"]["cpu-thermal"] = 98.0 if t_a < 2.95 else 99.5
        plots.ingest(Batch(rows, [(T0 + t_a, s)]))
        plots.redraw()
    plots.stop()
    spikes = [sp for sp in plots.spikes if sp.frame == 300]
    assert len(spikes) == 1, [(s.frame, s.e2e_ms) for s in plots.spikes]
    sp = spikes[0]
    assert sp.e2e_ms == 40.0 and sp.p99_ms < 10
    assert [c.kind for c in sp.causes] == ["trip"]
    assert "cpu-thermal crossed its passive trip point 99 °C" in sp.label()
    assert seen and seen[-1].frame == 300
    labels = plots.marks.spike_labels()
    assert any("cpu-thermal crossed" in t for t in labels)


def test_pause_freezes_the_picture_and_resume_catches_up(qtbot: Any) -> None:
    plots = make_plots(qtbot)
    plots.reset()
    plots.ingest(Batch(frames(0.0, 2.0, 50, 3.0)))
    assert plots.redraw(force=True)
    before = plots.panels["latency"].points("e2e")[0].max()
    plots.set_paused(True)
    plots.ingest(Batch(frames(2.0, 4.0, 50, 3.0, start_i=100)))
    assert not plots.redraw()
    assert plots.panels["latency"].points("e2e")[0].max() == before  # frozen
    assert len(plots.frames) == 200  # but nothing was lost
    plots.set_paused(False)
    assert plots.panels["latency"].points("e2e")[0].max() > 3.9
