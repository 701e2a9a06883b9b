"""The window's per-run state (console.session.live_state): Qt-free, one per run."""

from __future__ import annotations

import numpy as np

from console.session.live_state import LiveRun


def test_dropped_frames_are_the_indices_that_never_arrived() -> None:
    run = LiveRun("digits", "This computer")
    run.note_frames(np.array([0.0, 1.0, 3.0]), np.array([10.0, 10.1, 10.3]), total=3)
    assert run.frames_total == 3 and run.max_index == 3 and run.dropped == 1
    assert run.newest_frame == (3, 10.3)
    # a later batch with an older index does not move the newest frame back
    run.note_frames(np.array([2.0]), np.array([10.2]), total=4)
    assert run.dropped == 0 and run.newest_frame == (3, 10.3)
    assert run.frames_text() == "frames 4 · dropped 0"


def test_an_empty_batch_keeps_what_was_known() -> None:
    run = LiveRun("digits", "pi")
    run.note_frames(np.empty(0), np.empty(0), total=0)
    assert run.newest_frame is None and run.max_index == -1 and run.dropped == 0


def test_the_clock_stops_when_the_run_ends() -> None:
    run = LiveRun("digits", "pi", started=100.0)
    run.ended = 161.25
    assert run.elapsed_text() == "elapsed 1:01.2"
    run.end()  # already ended: the end stays
    assert run.ended == 161.25


def test_live_figures_say_only_what_was_measured() -> None:
    run = LiveRun("digits", "pi")
    fig = run.live_figures(None, None, 0, 0)
    assert fig == {"frames received": "0", "fps (last second)": "-", "latency spikes": 0,
                   "telemetry samples": 0}
    run.session_id, run.cold_ms = 7, 812.34
    run.note_event("warning")
    run.note_event("warning")
    run.note_event("error")
    run.note_frames(np.array([0.0, 4.0]), np.array([1.0, 2.0]), total=1234)
    fig = run.live_figures(29.96, (1.0, 2.5, 3.25), 2, 40)
    assert fig["session"] == 7 and fig["frames received"] == "1 234"
    assert fig["fps (last second)"] == "30.0" and fig["cold start"] == "812.3 ms"
    assert fig["end-to-end (rolling)"] == "p50 1.000 · p95 2.500 · p99 3.250 ms"
    assert fig["agent events"] == "2 warnings, 1 error"
    assert "dropped" not in fig  # index 4 < 1 234 frames: nothing missing
