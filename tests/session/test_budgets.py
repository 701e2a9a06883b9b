"""Budget parsing and verdicts: what ``--budget`` accepts and how a summary is judged."""

from __future__ import annotations

import pytest

from console.session.budgets import (
    BudgetError,
    budget_unit,
    evaluate_budgets,
    overall_verdict,
    parse_budget,
)


@pytest.mark.parametrize("text, want", [
    ("p95=50ms", ("p95_ms", 50.0)),
    ("p95=0.05s", ("p95_ms", 50.0)),
    ("P99 = 12.5 ms", ("p99_ms", 12.5)),
    ("cold_start=1.5s", ("cold_start_s", 1.5)),
    ("cold_start=800ms", ("cold_start_s", 0.8)),
    ("cold_start=2", ("cold_start_s", 2.0)),
    ("memory=2GB", ("memory_mb", 2048.0)),
    ("memory_mb=300", ("memory_mb", 300.0)),
    ("temp=80C", ("max_temp_c", 80.0)),
    ("max_temp=75°C", ("max_temp_c", 75.0)),
    ("energy=2J", ("energy_mj", 2000.0)),
    ("fps=30", ("min_fps", 30.0)),
])
def test_parse_budget_units(text: str, want: tuple[str, float]) -> None:
    key, value = parse_budget(text)
    assert key == want[0]
    assert value == pytest.approx(want[1])


@pytest.mark.parametrize("text, fragment", [
    ("p95", "use KEY=VALUE"),
    ("p95=fast", "use KEY=VALUE"),
    ("latency=5ms", "unknown budget 'latency'"),
    ("p95=5furlongs", "unknown unit"),
    ("p95=50MB", "p95_ms is not measured in MB"),
    ("memory=5ms", "memory_mb is not measured in ms"),
    ("p95=1.2.3ms", "bad number"),
])
def test_parse_budget_refusals_are_one_line(text: str, fragment: str) -> None:
    with pytest.raises(BudgetError, match=fragment) as err:
        parse_budget(text)
    assert "\n" not in str(err.value)


SUMMARY = {
    "fps": 40.0,
    "latency_ms": {"e2e": {"p95": 20.0, "p99": 31.0}},
    "cold_start_ms": {"total": 1200.0},
    "memory": {"rss_peak_mb": 150.0},
    "thermal": None,
    "power": None,
}


def test_evaluate_budgets_pass_fail_unmeasured() -> None:
    verdicts = {v["budget"]: v for v in evaluate_budgets(SUMMARY, {
        "p95_ms": 25.0, "p99_ms": 30.0, "cold_start_s": 1.5, "memory_mb": 100.0,
        "max_temp_c": 80.0, "energy_mj": 5.0, "min_fps": 30.0})}
    assert verdicts["p95_ms"]["verdict"] == "pass"
    assert verdicts["p99_ms"]["verdict"] == "fail"  # 31 > 30
    assert verdicts["cold_start_s"]["value"] == pytest.approx(1.2)
    assert verdicts["cold_start_s"]["verdict"] == "pass"
    assert verdicts["memory_mb"]["verdict"] == "fail"
    # no thermal sensor, no power meter: never a pass
    assert verdicts["max_temp_c"]["verdict"] == "unmeasured"
    assert verdicts["energy_mj"]["verdict"] == "unmeasured"
    assert verdicts["min_fps"]["verdict"] == "pass"  # a floor: 40 >= 30
    assert evaluate_budgets(SUMMARY, {"min_fps": 50.0})[0]["verdict"] == "fail"


def test_overall_verdict() -> None:
    assert overall_verdict([]) == "none"
    assert overall_verdict(None) == "none"
    assert overall_verdict([{"verdict": "pass"}, {"verdict": "pass"}]) == "pass"
    assert overall_verdict([{"verdict": "pass"}, {"verdict": "unmeasured"}]) == "unmeasured"
    assert overall_verdict([{"verdict": "unmeasured"}, {"verdict": "fail"}]) == "fail"


def test_budget_units_cover_every_key() -> None:
    from console.core.manifest import BUDGET_KEYS

    assert all(budget_unit(k) for k in BUDGET_KEYS)
