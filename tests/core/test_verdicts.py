"""The verdict machinery on series whose truth is known (console.core.verdicts).

Synthetic series stand in for frames here because the point is the method:
a known difference must be found, a known absence must not be, and a
dependent series must get a wider interval than an independent one.
``test_verdicts_recorded.py`` does the same on recorded real runs.
"""

from __future__ import annotations

import numpy as np
import pytest

from console.core.verdicts import (
    FAIL,
    IMPROVEMENT,
    INCONCLUSIVE,
    MIN_WINDOWS,
    NO_CHANGE,
    PASS,
    REGRESSION,
    Interval,
    Threshold,
    box_agreement,
    check_budget,
    class_agreement,
    compare_repeated,
    floor_verdict,
    latency_figures,
    latency_intervals,
    mean_figure,
    overall,
    overall_of_groups,
    proportion_interval,
    threshold_for,
    windowed,
)

MS = threshold_for("ms")
QUIET: dict[str, float] = {}  # the method alone: synthetic series have no run-to-run noise


def series(n: int, level: float, seed: int, fps: float = 100.0, rho: float = 0.0,
           sd: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """``n`` frames at ``fps``, values ``level`` + AR(1) noise with lag-1 correlation
    ``rho`` (0: independent frames)."""
    rng = np.random.default_rng(seed)
    e = rng.normal(0.0, sd * np.sqrt(1 - rho * rho), n)
    x = np.empty(n)
    x[0] = rng.normal(0.0, sd)
    for i in range(1, n):
        x[i] = rho * x[i - 1] + e[i]
    return np.arange(n) / fps, level + x


def by_name(figs: list) -> dict:  # type: ignore[type-arg]
    return {f.name: f for f in figs}


def test_windows_are_at_least_a_second_and_merge_sparse_ones() -> None:
    ts, v = series(3000, 10.0, 1)  # 30 s
    w = windowed(ts, v)
    assert w.windows == 30 and w.window_s == pytest.approx(1.0, rel=0.01)
    assert np.all(np.diff(w.ids) >= 0) and w.n == 3000
    # 2 frames a second: windows grow until each holds 3 observations
    ts2 = np.arange(40) / 2.0
    w2 = windowed(ts2, np.ones(40))
    assert np.bincount(w2.ids).min() >= 3
    # a slowly drifting series: windows lengthen until the window medians decorrelate
    drift_ts, drift = series(20_000, 10.0, 2, rho=0.999)
    assert windowed(drift_ts, drift).window_s > 1.0


def test_known_differences_are_found_and_absent_ones_are_not() -> None:
    ts, a = series(3000, 10.0, 1)
    _, b_same = series(3000, 10.0, 2)
    _, b_slow = series(3000, 13.0, 3)  # +30 %
    _, b_fast = series(3000, 7.0, 4)
    same = by_name(latency_figures("e2e", ts, a, ts, b_same, MS, run_noise=QUIET))
    assert all(f.verdict == NO_CHANGE for f in same.values()), same
    slow = by_name(latency_figures("e2e", ts, a, ts, b_slow, MS, run_noise=QUIET))
    assert all(f.verdict == REGRESSION for f in slow.values())
    f = slow["e2e p50"]
    assert f.ci_low < f.diff < f.ci_high and f.diff_rel == pytest.approx(0.3, abs=0.02)
    fast = by_name(latency_figures("e2e", ts, a, ts, b_fast, MS, run_noise=QUIET))
    assert all(f.verdict == IMPROVEMENT for f in fast.values())


def test_a_negligible_real_difference_is_no_change() -> None:
    """+1 % with a very tight interval: real, but inside the 5 % practical threshold."""
    ts, a = series(20_000, 10.0, 1, sd=0.05)
    _, b = series(20_000, 10.1, 2, sd=0.05)
    f = by_name(latency_figures("e2e", ts, a, ts, b, MS, run_noise=QUIET))["e2e p50"]
    assert f.ci_low > 0  # the difference is real ...
    assert f.verdict == NO_CHANGE  # ... and negligible


def test_same_data_same_verdict() -> None:
    ts, a = series(3000, 10.0, 1, rho=0.5)
    _, b = series(3000, 10.4, 2, rho=0.5)
    one = latency_figures("e2e", ts, a, ts, b, MS)
    two = latency_figures("e2e", ts, a, ts, b, MS)
    assert [(f.ci_low, f.ci_high, f.verdict) for f in one] == \
        [(f.ci_low, f.ci_high, f.verdict) for f in two]


def test_dependence_widens_the_interval() -> None:
    """Same spread, same length: strongly correlated frames carry less information."""
    ts, iid = series(6000, 10.0, 1)
    _, dep = series(6000, 10.0, 1, rho=0.98)
    w_iid = latency_intervals(ts, iid, run_noise=QUIET)["p50"]
    w_dep = latency_intervals(ts, dep, run_noise=QUIET)["p50"]
    assert (w_dep.high - w_dep.low) > 3 * (w_iid.high - w_iid.low)


def test_too_short_is_inconclusive_with_what_would_decide() -> None:
    ts, a = series(300, 10.0, 1)  # 3 s: 3 windows
    _, b = series(300, 20.0, 2)  # even a doubling
    f = by_name(latency_figures("e2e", ts, a, ts, b, MS, run_noise=QUIET))["e2e p50"]
    assert f.verdict == INCONCLUSIVE and "too short to decide" in f.reason
    assert f.more_needed is not None and f.more_needed >= (MIN_WINDOWS - 3) * 100
    assert f"~{f.more_needed} more frames (~7.5 s) would decide e2e p50" in f.reason


def test_more_needed_is_roughly_what_decides() -> None:
    """An interval that straddles the threshold names a frame count; sessions a few times
    that much longer (same process) do decide. The count is an estimate ("~"): the
    interval's width is itself noisy, so the test allows a factor of four."""
    ts, a = series(2000, 10.0, 1, rho=0.3, sd=4.0)
    _, b = series(2000, 10.9, 2, rho=0.3, sd=4.0)  # +9 %: beyond 5 %, but noisy
    f = by_name(latency_figures("e2e", ts, a, ts, b, MS, run_noise=QUIET))["e2e p50"]
    assert f.verdict == INCONCLUSIVE and f.more_needed is not None
    n = 2000 + 4 * f.more_needed
    ts2, a2 = series(n, 10.0, 3, rho=0.3, sd=4.0)
    _, b2 = series(n, 10.9, 4, rho=0.3, sd=4.0)
    g = by_name(latency_figures("e2e", ts2, a2, ts2, b2, MS, run_noise=QUIET))["e2e p50"]
    assert g.verdict == REGRESSION


def test_p99_needs_enough_frames_beyond_it() -> None:
    ts, a = series(600, 10.0, 1, fps=20.0)  # 30 s, but only 600 frames
    _, b = series(600, 14.0, 2, fps=20.0)
    figs = by_name(latency_figures("e2e", ts, a, ts, b, MS, run_noise=QUIET))
    assert figs["e2e p50"].verdict == REGRESSION
    assert figs["e2e p99"].verdict == INCONCLUSIVE and "≥ 1000 frames" in figs["e2e p99"].reason


def test_run_to_run_noise_widens_and_more_frames_cannot_remove_it() -> None:
    ts, a = series(3000, 10.0, 1)
    _, b = series(3000, 11.0, 2)  # +10 %
    quiet = by_name(latency_figures("e2e", ts, a, ts, b, MS, run_noise=QUIET))["e2e p50"]
    noisy = by_name(latency_figures("e2e", ts, a, ts, b, MS, run_noise={"p50": 0.05}))["e2e p50"]
    assert quiet.verdict == REGRESSION
    assert noisy.ci_high - noisy.ci_low > 2 * (quiet.ci_high - quiet.ci_low)
    assert noisy.verdict == INCONCLUSIVE and "repeat the sessions" in noisy.reason


def test_telemetry_with_two_samples_is_inconclusive() -> None:
    f = mean_figure("agent cpu mean", "%", [0.1, 0.2], [150.0, 160.0], [0.1, 0.2],
                    [190.0, 200.0], threshold_for("%"))
    assert f.verdict == INCONCLUSIVE and f.more_needed is not None
    # 10 windows of >= 1 s at 10 samples a second: ~100 more, and the time they take
    assert 90 <= f.more_needed <= 120 and f.more_unit == "samples"
    assert f"~{f.more_needed} more samples (~10 s) give one" in f.reason
    # one pair cannot decide a +26 % CPU change against this machine's run-to-run spread
    assert "repeat the sessions to decide agent cpu mean" in f.reason
    quiet = mean_figure("agent cpu mean", "%", [0.1, 0.2], [150.0, 160.0], [0.1, 0.2],
                        [190.0, 200.0], threshold_for("%"), run_noise=QUIET)
    assert quiet.verdict == INCONCLUSIVE
    assert quiet.reason.endswith(f"; ~{quiet.more_needed} more samples (~10 s) would decide "
                                 "agent cpu mean")


def test_repeated_sessions_say_how_many_more_sessions_would_decide() -> None:
    """Over repeated sessions the count is of sessions, per side — not "sessions per
    session" (the wording the frame case used to lend it)."""
    f = compare_repeated("e2e p50", "ms", "lower", [10, 10.4, 9.8, 10.2, 10.1],
                         [10.6, 11.1, 10.2, 11.0, 10.5], MS)
    assert f.verdict == INCONCLUSIVE and f.more_unit == "sessions" and f.more_needed
    assert f"; ~{f.more_needed} more sessions of each would decide e2e p50 (" in f.reason
    assert "per session" not in f.reason
    one = compare_repeated("e2e p50", "ms", "lower", [10, 10.4, 9.8, 10.2, 10.1],
                           [10.9, 11.3, 10.6, 11.2, 10.8], MS)
    assert one.more_needed == 1 and "~1 more session of each would decide" in one.reason


def test_overall_is_the_worst_decided_verdict() -> None:
    # one quantity (a stage's percentiles): the worst decided figure
    assert overall([NO_CHANGE, REGRESSION, INCONCLUSIVE]) == REGRESSION
    assert overall([NO_CHANGE, IMPROVEMENT]) == IMPROVEMENT
    assert overall([NO_CHANGE, INCONCLUSIVE]) == NO_CHANGE
    assert overall([INCONCLUSIVE, INCONCLUSIVE]) == INCONCLUSIVE
    # a comparison: a quantity with nothing decided is not hidden by another's no change
    assert overall_of_groups([[NO_CHANGE], [INCONCLUSIVE, INCONCLUSIVE]]) == INCONCLUSIVE
    assert overall_of_groups([[NO_CHANGE, INCONCLUSIVE], [NO_CHANGE]]) == NO_CHANGE
    assert overall_of_groups([[INCONCLUSIVE], [REGRESSION]]) == REGRESSION
    assert overall_of_groups([]) == INCONCLUSIVE


def test_threshold_is_the_larger_of_relative_and_absolute() -> None:
    t = Threshold(0.05, 0.05)
    assert t.at(10.0) == pytest.approx(0.5) and t.at(0.3) == pytest.approx(0.05)


def test_budget_words() -> None:
    iv = Interval(5.0, 4.5, 5.5, 0.95, 1000, "block bootstrap", 20, 1.0)
    assert check_budget("p95_ms", 6.0, iv).verdict == PASS
    assert check_budget("p95_ms", 4.0, iv).verdict == FAIL
    assert check_budget("p95_ms", 5.2, iv).verdict == INCONCLUSIVE
    assert check_budget("min_fps", 4.0, iv, upper=False).verdict == PASS
    assert check_budget("min_fps", 6.0, iv, upper=False).verdict == FAIL
    gone = check_budget("max_temp_c", 80.0, None, missing="no thermal zones")
    assert gone.verdict == INCONCLUSIVE and gone.reason == "unavailable: no thermal zones"


def test_repeated_single_measurements() -> None:
    one = compare_repeated("cold start", "ms", "lower", [100.0], [300.0], MS)
    assert one.verdict == INCONCLUSIVE and one.more_needed == 2 and one.more_unit == "sessions"
    five = compare_repeated("cold start", "ms", "lower", [100, 104, 98, 101, 99],
                            [150, 149, 155, 152, 151], MS)
    assert five.verdict == REGRESSION and "Mann–Whitney U p =" in five.reason


def test_wilson_interval_and_agreement_floor() -> None:
    iv = proportion_interval(95, 100)
    assert iv is not None
    # Wilson 95 % for 95/100 (Brown, Cai & DasGupta 2001, table values): 0.888 .. 0.978
    assert iv.low == pytest.approx(0.8882, abs=1e-3) and iv.high == pytest.approx(0.9785,
                                                                                abs=1e-3)
    assert floor_verdict("top-1 agreement", proportion_interval(360, 360)).verdict == NO_CHANGE
    assert floor_verdict("top-1 agreement", proportion_interval(300, 360)).verdict == REGRESSION
    f = floor_verdict("top-1 agreement", proportion_interval(18, 20))
    assert f.verdict == INCONCLUSIVE and "distinct frames would decide" in f.reason


def test_confusion_table_and_score_differences() -> None:
    ca = class_agreement([0, 1, 1, 2, -1], [0, 1, 2, 2, 1],
                         [{0: 0.9}, {1: 0.8}, {1: 0.6, 2: 0.3}, {2: 0.7}, {}],
                         [{0: 0.85}, {1: 0.8}, {2: 0.5, 1: 0.4}, {2: 0.7}, {1: 0.9}])
    assert ca.frames == 4 and ca.agree == 3  # the frame without an A answer is left out
    assert ca.confusion[1][2] == 1 and ca.confusion[0][0] == 1 and ca.confusion[2][2] == 1
    assert ca.score_diff_max == pytest.approx(0.2)  # class 2 of the third frame
    assert ca.score_diff_mean == pytest.approx((0.05 + 0 + 0.2 + 0.2 + 0) / 5)


def test_box_agreement_recall_of_the_reference() -> None:
    ba = box_agreement([([[0, 0, 10, 10, 0, 0.9], [20, 20, 30, 30, 1, 0.8]],
                         [[0, 0, 10, 11, 0, 0.9]])])
    assert (ba.boxes_a, ba.boxes_b, ba.matched) == (2, 1, 1)
    assert ba.recall is not None and ba.recall.estimate == 0.5
    assert ba.precision is not None and ba.precision.estimate == 1.0
