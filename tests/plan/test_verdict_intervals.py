"""Every plan report shows how sure an undecided verdict is: the interval, not only the word.

Two runs of the same plan (the real command, the demo, 40 frames a cell), the
second against the first as its baseline (``last = "passed"``). 40 frames is
far too short for a confidence interval, so the baseline comparison is
``inconclusive``; so is the energy budget (no power sensor here). Where the
cell is shown — ``plan run``'s lines, ``plan show``, the HTML report, JUnit —
the undecided checks carry their figures: the budget's reason, and the
baseline's headline figures with their ranges (``[range …]``), never just
the names of what was not decided.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import junitparser
import pytest
from helpers.faults import devicelab

from console.core.store import SessionStore
from console.session.plan_log import get_plan_run

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "resources" / "packages" / "digits-cnn"
VIDEO = ROOT / "resources" / "recordings" / "digits-demo.avi"

pytestmark = pytest.mark.slow

#: a headline figure of a baseline comparison, as its check text shows it
HEADLINE = re.compile(r"e2e p95 [+-]\d+\.\d % \[range [+-]\d+\.\d, [+-]\d+\.\d\]: inconclusive")


def test_undecided_plan_checks_carry_their_intervals(tmp_path: Path) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text(f'name = "sure"\ndevices = ["local"]\npackages = [{json.dumps(str(PKG))}]\n'
                    f'inputs = [{json.dumps(str(VIDEO))}]\n[run]\nframes = 40\n'
                    '[budgets]\nenergy = "5mJ"\np95 = "10s"\n[baseline]\nlast = "passed"\n')
    db, junit, report = tmp_path / "s.db", tmp_path / "j.xml", tmp_path / "r.html"
    first = devicelab("plan", "run", str(plan), "--db", str(db), "--quiet")
    assert first.returncode == 0, first.stdout + first.stderr
    res = devicelab("plan", "run", str(plan), "--db", str(db), "--junit", str(junit),
                    "-o", str(report), "--quiet")
    assert res.returncode == 0, res.stdout + res.stderr
    with SessionStore(db, readonly=True) as st:
        run = get_plan_run(st, 2)
        assert run is not None
        checks = {c["name"]: c for c in run["cells"][0]["checks"]}
    base = checks["baseline"]
    assert base["verdict"] == "inconclusive"
    assert HEADLINE.search(base["text"]), base["text"]
    assert any(line.startswith("e2e p95: ") for line in base["data"]["figures"])
    energy = checks["budget energy_mj"]["text"]
    assert "no power or energy sensor" in energy

    # plan run's line for the cell, and plan show: the undecided checks with their figures
    shown = devicelab("plan", "show", "2", "--db", str(db))
    assert shown.returncode == 0, shown.stdout + shown.stderr
    for out in (res.stdout, shown.stdout):
        assert "INCONCLUSIVE" in out and "not decided: budget energy_mj" in out
        assert "no power or energy sensor" in out
        assert HEADLINE.search(out), out
    # the HTML report's cell box and its checks table
    page = report.read_text()
    assert "not decided: budget energy_mj" in page and HEADLINE.search(page)
    # JUnit: skipped (not decided), its message the check with its figures
    cases = {c.name.split(" :: ")[1]: c for suite in junitparser.JUnitXml.fromfile(str(junit))
             for c in suite}
    bl = cases["baseline"]
    assert bl.is_skipped and HEADLINE.search(bl.result[0].message)
