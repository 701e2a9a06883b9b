"""The measured run-to-run spread (console.core.verdicts.noise): pooling, Student's and
Bonferroni's factors, and what a short pair decided by it does on simulated sessions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from console.core.verdicts import REGRESSION, Interval, decide, threshold_for
from console.core.verdicts.blocks import PairIntervals, widen_pair, z_of
from console.core.verdicts.noise import (
    MIN_DF,
    PATHS,
    identity_key,
    measured_noise,
    pooled_spread,
    simultaneous_level,
)


def row(e2e: float, fps: float = 30.0, **kw: object) -> dict[str, object]:
    return {"summary": {"latency_ms": {"e2e": {"p50": e2e}}, "fps": fps}, **kw}


def test_spread_is_pooled_within_configurations() -> None:
    # two configurations far apart: their means must not count as spread
    a = [row(math.exp(x)) for x in (0.0, 0.02, 0.04)]
    b = [row(math.exp(x)) for x in (1.0, 1.02)]
    sd, df = pooled_spread([a, b])["e2e p50"]
    assert df == 3
    assert sd == pytest.approx(math.sqrt((0.0008 + 0.0002) / 3))
    # one configuration alone: the ordinary sample SD of the logs
    assert pooled_spread([a])["e2e p50"] == (pytest.approx(0.02), 2)


def test_too_few_sessions_measure_nothing() -> None:
    few = [row(10.0 + i * 0.1) for i in range(MIN_DF)]  # df = MIN_DF - 1
    assert measured_noise([few], {"p50": 0.2}, 0.95) is None
    enough = [*few, row(10.5)]
    noise = measured_noise([enough], {"p50": 0.2}, 0.95)
    assert noise is not None and noise.df == MIN_DF
    assert noise.measured == {"e2e p50", "fps"}
    assert noise.critical >= float(sps.t.ppf(0.975, MIN_DF))
    assert noise["p50"] == 0.2  # what was not measured keeps the assumed allowance


def test_allowance_is_student_at_the_bonferroni_level() -> None:
    rng = np.random.default_rng(3)
    rows = [row(float(v), float(f)) for v, f in zip(np.exp(rng.normal(3, 0.02, 7)),
                                                    np.exp(rng.normal(3.4, 0.01, 7)))]
    noise = measured_noise([rows], {}, 0.95)
    assert noise is not None and noise.method == "Bonferroni over 2 figures, Student's t(6)"
    sd, df = noise.raw["e2e p50"], noise.df
    family = simultaneous_level(0.95, 2)  # two figures were measured
    assert family == pytest.approx(0.975)
    # widen_relative's half-width z * sqrt(log1p(cv^2)) is t(df) at the family level * sd
    half = z_of(0.95) * math.sqrt(math.log1p(noise["e2e p50"] ** 2))
    assert half == pytest.approx(float(sps.t.ppf(0.5 + family / 2, df)) * sd)
    assert noise.critical == pytest.approx(float(sps.t.ppf(0.5 + family / 2, df)))


def test_identity_ignores_only_what_does_not_run() -> None:
    base = {"device_identity": {"machine_id": "m1"}, "package_digest": "p", "input_sha256": "i",
            "settings": {"threads": 1, "input": "a.mp4", "budgets": {}}}
    assert identity_key(base) == identity_key({**base, "settings": {
        "threads": 1, "input": "b.mp4", "budgets": {"p95": 5}}})
    assert identity_key(base) != identity_key({**base, "settings": {"threads": 2}})
    assert identity_key(base) != identity_key({**base, "device_identity": {"machine_id": "m2"}})
    assert identity_key(base) != identity_key({**base, "package_digest": "q"})


def _short_pair(a: float, b: float) -> PairIntervals:
    # one-window sessions: their frames' range, no bootstrap interval
    ia = Interval(a, a * 0.9, a * 1.1, 0.95, 300, "range", 6, 1.0)
    ib = Interval(b, b * 0.9, b * 1.1, 0.95, 300, "range", 6, 1.0)
    return PairIntervals([ia], [ib], [Interval(b - a, -1.0, 1.0, 0.95, 300, "range", 6, 1.0)])


def test_simulated_short_pairs_false_alarms_and_detection() -> None:
    """Sessions whose figure varies by a log-normal run effect (2 % SD, as the quiet VM's
    e2e p50): with the spread measured from 10 other identical sessions, A/A pairs are
    called regressions at most as often as the level allows, and a +30 % model always."""
    rng = np.random.default_rng(11)
    thr = threshold_for("ms")
    false, found = 0, 0
    trials = 400
    for _ in range(trials):
        hist = [row(float(v)) for v in 30.0 * np.exp(rng.normal(0, 0.02, 10))]
        noise = measured_noise([hist], {}, 0.95)
        assert noise is not None
        cv = noise["e2e p50"]
        a, b, slow = 30.0 * np.exp(rng.normal(0, 0.02, 3))
        for other, slower in ((b, False), (slow * 1.3, True)):
            p = widen_pair(_short_pair(a, float(other)), [cv], [True])
            v = decide("e2e p50", "ms", "lower", p.a[0], p.b[0], p.diff[0], thr).verdict
            if slower:
                found += v == REGRESSION
            else:
                false += v == REGRESSION
    assert false / trials <= 0.05
    assert found / trials >= 0.95


def test_paths_name_the_figures_compared() -> None:
    keys = {k for _p, k in PATHS}
    assert {"e2e p50", "infer p99", "read p95", "fps", "cpu", "memory"} <= keys
