"""A budget verdict as every view shows it (``console.core.summary.budget_row``: the run
summary, ``sessions show``, the HTML report, the window's summary panel): the interval
it was made on — marked ``range`` when the run was too short for a confidence interval
— and, when it did not pass, why and what would decide it. Judged on recorded real runs
of the demo (tests/data/recorded): its default length and a 12-s run."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from console.core.stats import SessionData, steady_data
from console.core.summary import budget_row
from console.core.verdicts import FAIL, INCONCLUSIVE, PASS
from console.session.budgets import evaluate_budgets

DATA = Path(__file__).resolve().parents[1] / "data" / "recorded"


def load(name: str) -> SessionData:
    z = np.load(DATA / f"{name}.npz")
    frames = {"ts": np.cumsum(z["dt"].astype(np.float64)),
              "e2e": z["e2e"].astype(np.float64)}
    return steady_data(frames, [], None)


def judge(d: SessionData, budgets: dict[str, float]) -> dict[str, dict]:  # type: ignore[type-arg]
    e2e = d.stages["e2e"]
    summary = {"latency_ms": {"e2e": {"p95": float(np.percentile(e2e, 95))}}}
    return {b["budget"]: b for b in evaluate_budgets(summary, budgets, d)}


@pytest.fixture(scope="module")
def short() -> SessionData:
    return load("short_1")  # one pass of the recording: ~0.2 s, one window


def test_a_short_run_shows_its_range_and_what_would_decide(short: SessionData) -> None:
    e2e = short.stages["e2e"]
    # inside the frames' range (cannot be decided now), far enough from the p95 that a
    # run long enough for an interval would decide it
    limit = 3 * float(np.percentile(e2e, 95))
    assert e2e.min() < limit < e2e.max()
    b = judge(short, {"p95_ms": limit, "min_fps": 1.0})
    p95 = b["p95_ms"]
    assert p95["verdict"] == INCONCLUSIVE and p95["method"] == "range"
    row = budget_row(p95)
    # the bounds are the frames' range, not a confidence interval, and the row says so
    assert re.search(r"\[range \d+\.\d{3}, \d+\.\d{3}\] vs ", row.text), row.text
    # … and why it is undecided, with the frames (and seconds) that would decide it
    assert f"INCONCLUSIVE ({p95['reason']})" in row.text
    more = r"~[\d ]+ more frames \(~[\d.]+ s\) would decide p95_ms"
    assert re.search(more, p95["reason"]), p95["reason"]
    # a limit near the p95: even a long run would leave the run-to-run spread across it
    near = judge(short, {"p95_ms": 1.05 * float(np.percentile(e2e, 95))})["p95_ms"]
    assert near["verdict"] == INCONCLUSIVE
    assert re.search(r"~[\d ]+ more frames \(~[\d.]+ s\) give an interval, but the "
                     r"run-to-run spread alone reaches past the limit", near["reason"])
    fps = budget_row(b["min_fps"])
    assert fps.text.endswith(": PASS") and "[range " in fps.text  # a pass needs no reason


def test_a_long_run_shows_its_confidence_interval(short: SessionData) -> None:
    long = load("aa_1")  # 12 s: a block-bootstrap interval
    e2e = long.stages["e2e"]
    b = judge(long, {"p95_ms": float(e2e.max()) * 10, "p99_ms": float(e2e.min()) / 10})
    assert b["p95_ms"]["verdict"] == PASS and b["p99_ms"]["verdict"] == FAIL
    ok, bad = budget_row(b["p95_ms"]), budget_row(b["p99_ms"])
    assert re.search(r"\d \[\d+\.\d{3}, \d+\.\d{3}\] vs ", ok.text) and "range" not in ok.text
    assert bad.text.endswith(f"FAIL ({b['p99_ms']['reason']})")
    assert "the 95 % interval beyond" in b["p99_ms"]["reason"]
