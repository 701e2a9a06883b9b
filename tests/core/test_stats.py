"""Summary statistics against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from console.core.stats import Rolling, latency_stats, load_truth, summarize


def test_latency_stats_known_values() -> None:
    s = latency_stats(list(range(1, 101)))  # 1..100
    assert s is not None
    assert s["p50"] == pytest.approx(50.5)
    assert s["p99"] == pytest.approx(99.01)
    assert s["min"] == 1 and s["max"] == 100 and s["mean"] == pytest.approx(50.5)
    assert latency_stats([]) is None


def test_summary_fps_thermal_power_and_absent_figures() -> None:
    frames = {"ts": [10.0, 10.5, 11.0], "pre": [1, 1, 1], "infer": [2, 2, 2], "post": [0, 0, 0],
              "e2e": [3, 3, 3]}
    samples = [
        {"cpu_sys": 10.0, "thermal": {"cpu": 50.0}, "energy_j": {"rapl": 0.0},
         "power_w": {"rapl": 4}},
        {"cpu_sys": 30.0, "thermal": {"cpu": 55.5, "gpu": 40.0}, "energy_j": {"rapl": 3.0},
         "power_w": {"rapl": 6}},
    ]
    s = summarize(frames, samples, agent_sent=4)
    assert s["frames"] == 3
    assert s["fps"] == pytest.approx(2.0)
    assert s["cpu"]["sys_mean"] == pytest.approx(20.0) and s["cpu"]["sys_peak"] == 30.0
    assert s["cpu"]["agent_mean"] is None  # absent, never 0
    assert s["thermal"] == {"max_c": 55.5, "zones": {"cpu": 55.5, "gpu": 40.0}}
    assert s["power"]["energy_per_inference_mj"] == pytest.approx(1000.0)  # 3 J / 3 frames
    assert s["missing_frames"] == 1
    bare = summarize(frames, [{"cpu_sys": 5.0}])
    assert bare["thermal"] is None and bare["power"] is None


def test_accuracy_against_truth(tmp_path) -> None:
    p = tmp_path / "t.csv"
    p.write_text("frame,label\n0,1\n1,2\n2,3\n")
    truth = load_truth(str(p))
    s = summarize({"ts": [0, 1, 2]}, [], top1=[1, 2, 9], truth=truth, frame_index=[0, 1, 2])
    assert s["accuracy"] == {"top1": pytest.approx(2 / 3), "frames_scored": 3}
    p.write_text("0,1\nbad\n")
    with pytest.raises(ValueError, match=r"t\.csv:2"):
        load_truth(str(p))


def test_rolling_window_forgets_old_values() -> None:
    r = Rolling(size=4)
    assert r.percentiles() is None
    for v in (100, 100, 1, 2, 3, 4):
        r.add(v)
    assert len(r) == 4
    assert sorted(r.values().tolist()) == [1, 2, 3, 4]
    assert r.percentiles([50])[0] == pytest.approx(np.median([1, 2, 3, 4]))


def test_read_time_is_summarised_apart_from_e2e_and_only_where_measured() -> None:
    n = 100
    ts = np.arange(n) * 0.01
    read = np.full(n, np.nan)  # an older agent for the first half: not measured
    read[50:] = np.linspace(1.0, 2.0, 50)
    frames = {"ts": ts, "pre": np.ones(n), "infer": np.ones(n), "post": np.ones(n),
              "e2e": np.full(n, 3.0), "read_ms": read}
    s = summarize(frames, [])
    assert s["read_ms"]["min"] == 1.0 and s["read_ms"]["max"] == 2.0
    assert s["read_ms"]["p50"] == pytest.approx(1.5)
    assert s["latency_ms"]["e2e"]["max"] == 3.0  # read time is not folded into e2e
    none = summarize({**frames, "read_ms": np.full(n, np.nan)}, [])
    assert none["read_ms"] is None  # nothing measured: no figure, not zero
    assert "read_ms" not in summarize({k: v for k, v in frames.items() if k != "read_ms"}, [])
