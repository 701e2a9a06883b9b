"""The Qt-free parts of the live path: hand-off, history, decimation, FPS, correlation."""

from __future__ import annotations

import itertools
import threading

import numpy as np

from console.core import protocol as P
from console.core.series import minmax_decimate
from console.ui.live.correlate import (
    ChangeDetector,
    SpikeAnnotator,
    SpikeDetector,
    trips_from_hello,
)
from console.ui.live.data import (
    FrameHistory,
    LiveFeed,
    TelemetryHistory,
    fps_series,
)


def test_feed_hands_over_every_frame_from_another_thread_and_only_the_newest_preview() -> None:
    feed = LiveFeed()
    n = 20_000

    def produce() -> None:
        for i in range(n):
            feed.add_frame(P.Frame(i, 1000.0 + i / 1000, 0.1, 0.2, 0.1, 0.4,
                                   {"top": [[i % 10, 0.9]]}))
            if i % 100 == 0:
                feed.set_preview(i, 1000.0 + i / 1000, 32, 32, f"image {i}")

    th = threading.Thread(target=produce)
    th.start()
    got = []
    while th.is_alive():
        got.append(feed.drain())
    th.join()
    got.append(feed.drain())
    idx = np.concatenate([b.frames[:, 5] for b in got if len(b.frames)])
    assert np.array_equal(idx, np.arange(n))  # all, in order, once
    last = got[-1] if got[-1].preview else next(b for b in reversed(got) if b.preview)
    assert last.preview is not None and last.preview.out == {"top": [[last.preview.i % 10, 0.9]]}
    assert got[-1].frames_total == n


def test_preview_out_is_none_when_it_does_not_belong_to_the_newest_frame() -> None:
    feed = LiveFeed()
    feed.add_frame(P.Frame(5, 1.0, 0, 0, 0, 0, {"top": [[3, 1.0]]}))
    feed.set_preview(4, 0.9, 8, 8, "img")
    assert feed.drain().preview.out is None


def test_frame_history_keeps_the_newest_when_full_and_stays_time_ordered() -> None:
    h = FrameHistory(capacity=1000)
    for k in range(25):
        rows = np.zeros((100, 6))
        rows[:, 0] = 10.0 + np.arange(k * 100, (k + 1) * 100) / 100.0
        rows[:, 5] = np.arange(k * 100, (k + 1) * 100)
        h.extend(rows, t0=10.0)
    assert 500 <= len(h) <= 1000
    i = h.column("i")
    assert i[-1] == 2499 and np.all(np.diff(i) == 1)
    assert h.dropped_old == 2500 - len(h)
    sl = h.window(24.0)
    assert h.column("ts")[sl][0] >= 24.0
    assert h.nearest(24.004)["i"] == 2400


def test_the_decimator_the_graphs_use_keeps_a_one_frame_spike() -> None:
    x = np.arange(100_000, dtype=float)
    y = np.ones_like(x)
    y[77_777] = 50.0
    y[12_345] = -3.0
    dx, dy = minmax_decimate(x, y, 600)
    assert len(dx) <= 600
    assert dy.max() == 50.0 and dy.min() == -3.0
    assert np.all(np.diff(dx) >= 0)
    sx, _sy = minmax_decimate(x[:500], y[:500], 600)
    assert len(sx) == 500


def _per_bucket(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[list, list]:
    """The decimator's contract, one bucket at a time: its first min and first max, in
    time order (one point when they coincide; NaN is no value; an all-NaN bucket keeps
    one NaN point)."""
    edges = np.linspace(0, len(x), max_points // 2 + 1).astype(int)
    ox: list = []
    oy: list = []
    for a, b in itertools.pairwise(edges):
        if a == b:
            continue
        seg = y[a:b]
        if np.isnan(seg).all():
            ox.append(x[a])
            oy.append(np.nan)
            continue
        keep = sorted({a + int(np.nanargmin(seg)), a + int(np.nanargmax(seg))})
        ox += [x[k] for k in keep]
        oy += [y[k] for k in keep]
    return ox, oy


def test_the_decimator_keeps_each_buckets_first_min_and_max_in_time_order() -> None:
    rng = np.random.default_rng(3)
    for n, mp in ((60_000, 400), (1_237, 100), (999, 998), (50_000, 401)):
        x = np.arange(n, dtype=float) / 1000.0
        for y in (rng.gamma(2.0, 1.0, n), rng.integers(0, 3, n).astype(float),
                  np.where(rng.random(n) < 0.2, np.nan, rng.random(n))):
            dx, dy = minmax_decimate(x, y, mp)
            ex, ey = _per_bucket(x, y, mp)
            assert np.array_equal(dx, ex) and np.array_equal(dy, ey, equal_nan=True)


def test_fps_series_counts_whole_bins_only() -> None:
    ts = np.arange(0.25, 10.0, 1 / 40)  # 40 fps from t=0.25 s
    x, y = fps_series(ts, 0.5)
    assert np.allclose(y, 40.0)
    assert x[0] == 1.0 and x[-1] <= 9.5


def test_absent_telemetry_stays_absent() -> None:
    s = {"cpu_sys": 12.5, "rss_mb": 80.0, "thermal": {}, "freq_mhz": {"cpu0": 1200},
         "cpu_agent": None, "mem_used_mb": float("nan"), "throttle": {"freq_capped": False}}
    h = TelemetryHistory()
    h.extend([(100.0, s), (100.1, s)], t0=100.0)
    assert h.samples == 2
    # the protocol's names (one flattener): a map's readings as <map>.<name>
    assert h.names() == ["cpu_sys", "freq_mhz.cpu0", "rss_mb", "throttle.freq_capped"]
    assert h.has("cpu_sys") and h.has("freq_mhz") and not h.has("thermal")
    assert not h.has("cpu_agent") and not h.has("mem_used_mb")  # None and NaN: no reading
    x, y = h.series("freq_mhz.cpu0")
    assert np.allclose(x, [0.0, 0.1]) and np.allclose(y, 1200.0)


def test_changes_freq_drop_memory_pressure_throttle_and_trip() -> None:
    trips = trips_from_hello({"telemetry": {"thermal_zones": [
        {"zone": "thermal_zone0", "name": "cpu-thermal",
         "trips": [{"type": "passive", "c": 80.0}, {"type": "critical", "c": 95.0}]}]}})
    assert trips == {"cpu-thermal": [("passive", 80.0), ("critical", 95.0)]}
    cd = ChangeDetector(trips)
    base = {"thermal": {"cpu-thermal": 79.0}, "freq_mhz": {"cpu0": 1800.0, "cpu1": 1800.0},
            "mem_total_mb": 1000.0, "mem_avail_mb": 300.0,
            "throttle": {"core_throttle_count": 0, "freq_capped": False}}
    assert cd.feed(0.0, base) == []
    nxt = {"thermal": {"cpu-thermal": 81.0}, "freq_mhz": {"cpu0": 1800.0, "cpu1": 1200.0},
           "mem_total_mb": 1000.0, "mem_avail_mb": 50.0,
           "throttle": {"core_throttle_count": 3, "freq_capped": True}}
    found = cd.feed(0.1, nxt)
    kinds = {c.kind: c.text for c in found}
    assert set(kinds) == {"trip", "freq_drop", "memory", "throttle"}
    assert kinds["trip"] == "cpu-thermal crossed its passive trip point 80 °C (81.0 °C)"
    assert kinds["freq_drop"] == "cpu1 frequency dropped 1800 → 1200 MHz"
    assert kinds["memory"] == "memory pressure: 5% of RAM available"
    assert "freq capped" in kinds["throttle"] and "core throttle +3" in kinds["throttle"]
    assert cd.feed(0.2, nxt) == []  # no change, nothing new
    assert len(cd.near(0.15)) == 4 and cd.near(5.0) == []


def test_a_device_without_sensors_gets_no_invented_causes() -> None:
    cd = ChangeDetector({})
    for k in range(10):
        cd.feed(k * 0.1, {"cpu_sys": 50.0, "rss_mb": 80.0})
    det = SpikeDetector(min_frames=100)
    ann = SpikeAnnotator(cd)
    t = np.arange(0, 2, 0.005)
    e2e = np.full(len(t), 2.0)
    e2e[300] = 30.0
    ann.add(det.feed(t[:250], e2e[:250], np.arange(250)))
    ann.add(det.feed(t[250:], e2e[250:], np.arange(250, 400)))
    spikes = ann.flush()
    assert [(s.frame, s.causes) for s in spikes] == [(300, ())]
    assert spikes[0].label() == "30.0 ms (p99 2.0): no device change seen"


def test_spikes_are_rate_limited_but_a_worse_one_is_never_hidden() -> None:
    det = SpikeDetector(min_frames=10, min_gap_s=1.0)
    det.feed(np.arange(0, 1, 0.01), np.full(100, 1.0), np.arange(100))
    t = np.arange(1, 2, 0.01)
    e2e = np.full(100, 1.0)
    e2e[[10, 20, 30]] = [5.0, 6.0, 4.0]  # one cluster: the worst (6.0) is kept
    got = det.feed(t, e2e, np.arange(100, 200))
    assert [(s.frame, s.e2e_ms) for s in got] == [(120, 6.0)]
    t2 = np.arange(2, 3, 0.01)
    e2 = np.full(100, 1.0)
    e2[5] = 5.5  # within a second of the last one and smaller: merged away
    e2[10] = 9.0  # within a second but worse: reported
    got = det.feed(t2, e2, np.arange(200, 300))
    assert [(s.frame, s.e2e_ms) for s in got] == [(210, 9.0)]
