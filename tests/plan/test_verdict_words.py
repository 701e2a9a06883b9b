"""One set of verdict words everywhere: a budget the device cannot measure (energy: no
power sensor on these machines) is ``inconclusive`` in the run summary, the plan's
terminal lines, its HTML report, its JUnit file and the window's grid (tests/ui)."""

from __future__ import annotations

import json
from pathlib import Path

import junitparser
import pytest
from helpers.faults import devicelab

from console.core.store import SessionStore
from console.session.plan_log import get_plan_run
from console.session.plan_matrix import build_plan_matrix

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "resources" / "packages" / "digits-cnn"
VIDEO = ROOT / "resources" / "recordings" / "digits-demo.avi"

pytestmark = pytest.mark.slow


def test_an_undecidable_budget_reads_inconclusive_in_every_report(tmp_path: Path) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text(f'name = "words"\ndevices = ["local"]\npackages = [{json.dumps(str(PKG))}]\n'
                    f'inputs = [{json.dumps(str(VIDEO))}]\n[run]\nframes = 30\n'
                    '[budgets]\nenergy = "5mJ"\np95 = "10s"\n')
    db, junit, report = tmp_path / "s.db", tmp_path / "j.xml", tmp_path / "r.html"
    res = devicelab("plan", "run", str(plan), "--db", str(db), "--junit", str(junit),
                    "-o", str(report), "--quiet")
    # not a failure (only --strict-budgets fails on inconclusive) …
    assert res.returncode == 0, res.stdout + res.stderr
    assert "INCONCLUSIVE" in res.stdout and "not decided: budget energy_mj" in res.stdout
    with SessionStore(db, readonly=True) as st:
        run = get_plan_run(st, 1)
        assert run is not None
        cell = run["cells"][0]
        assert cell["verdict"] == "pass"  # the plan verdict: it did not fail
        words = {c["name"]: c["verdict"] for c in cell["checks"]}
        texts = {c["name"]: c["text"] for c in cell["checks"]}
        # a decided budget says its interval: "budget p95_ms: 0.2 [0.1, 0.4] ms vs limit …"
        assert texts["budget p95_ms"].split(":")[1].strip().split(" ")[1].startswith("[")
        assert words == {"run": "pass", "budget energy_mj": "inconclusive",
                         "budget p95_ms": "pass"}
        s = st.get_session(cell["session_id"])
        assert {b["budget"]: b["verdict"] for b in s["summary"]["budgets"]} == {
            "energy_mj": "inconclusive", "p95_ms": "pass"}
        m = build_plan_matrix(st, 1)
        assert m is not None and m.cell(0, 0).verdict == "inconclusive"
    # … but never shown as a pass: the report, and JUnit's skipped test case
    page = report.read_text()
    assert "data-shown='inconclusive'" in page and "data-verdict='pass'" in page
    assert "INCONCLUSIVE" in page and "not decided: budget energy_mj" in page
    cases = {c.name.split(" :: ")[1]: c for suite in junitparser.JUnitXml.fromfile(str(junit))
             for c in suite}
    assert cases["run"].is_passed and cases["budget p95_ms"].is_passed
    energy = cases["budget energy_mj"]
    assert energy.is_skipped and "inconclusive" in energy.result[0].message
    assert "no power or energy sensor" in energy.result[0].message
    # --strict-budgets fails the same cell
    strict = devicelab("plan", "run", str(plan), "--db", str(db), "--quiet", "--strict-budgets")
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert "FAIL" in strict.stdout
