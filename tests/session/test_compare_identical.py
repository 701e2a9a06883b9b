"""A device's run-to-run spread measured from identical sessions in a real log.

``tests/data/recorded/detector_identical.db`` holds 10 rounds of real
``devicelab run`` sessions of the bundled detector on its footage (demo,
demo, demo + 30 % work; one thread, a quiet VM; README there). Default
length — one pass, 300 frames, ~8 s: too short for the block bootstrap, so
without identical sessions every latency figure of a single pair is
``inconclusive``. With them the same pair is decided: the demo against
itself is not called a regression (or an improvement), the +30 % model is.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from console.core.store import SessionStore
from console.core.verdicts import IMPROVEMENT, INCONCLUSIVE, REGRESSION
from console.session.compare import compare_sessions
from console.session.identical import identical_sessions

DB = Path(__file__).resolve().parents[1] / "data" / "recorded" / "detector_identical.db"
DEVICELAB = str(Path(sys.executable).parent / "devicelab")


@pytest.fixture()
def log(tmp_path: Path) -> Path:
    return Path(shutil.copy(DB, tmp_path / "log.db"))


def ids(st: SessionStore) -> dict[str, int]:
    return {s["note"].removeprefix("bench default "): int(s["id"])
            for s in st.list_sessions(limit=1000)}


def fig(cmp: object, name: str) -> object:
    return next(f for f in cmp.figures if f.name == name)  # type: ignore[attr-defined]


def test_identical_pair_is_not_called_different(log: Path) -> None:
    with SessionStore(log) as st:
        n = ids(st)
        cmp = compare_sessions(st, n["0 demo1"], n["0 demo2"])
    assert cmp.run_noise["source"] == "measured"
    assert cmp.run_noise["sessions"] == 18  # the 20 demo sessions but the pair itself
    assert cmp.verdict not in (REGRESSION, IMPROVEMENT), cmp.verdict_line()
    e2e = fig(cmp, "e2e p50")
    assert e2e.method == "identical sessions"  # type: ignore[attr-defined]
    assert e2e.ci_low < 0 < e2e.ci_high  # type: ignore[attr-defined]
    assert "measured from 18 identical sessions" in cmp.spread_line()


def test_slower_model_is_flagged_by_one_pair(log: Path) -> None:
    with SessionStore(log) as st:
        n = ids(st)
        cmp = compare_sessions(st, n["0 demo1"], n["0 slow30"])
    assert cmp.verdict == REGRESSION
    for name in ("infer p50", "e2e p50", "fps"):
        assert fig(cmp, name).verdict == REGRESSION, fig(cmp, name).text  # type: ignore[attr-defined]
    # A's 19 identical demo sessions and B's 9 other +30 % sessions, pooled
    assert cmp.run_noise["sessions"] == 28
    assert (len(cmp.run_noise["sessions_a"]), len(cmp.run_noise["sessions_b"])) == (19, 9)


def test_without_identical_sessions_the_pair_cannot_tell(log: Path) -> None:
    with SessionStore(log) as st:
        n = ids(st)
        keep = {n["0 demo1"], n["0 slow30"]}
        for sid in n.values():
            if sid not in keep:
                st.delete_session(sid)
        cmp = compare_sessions(st, n["0 demo1"], n["0 slow30"])
    assert cmp.run_noise["source"] == "assumed"
    assert "0 identical sessions" in cmp.run_noise["why"]
    assert fig(cmp, "e2e p50").verdict == INCONCLUSIVE  # type: ignore[attr-defined]
    assert cmp.verdict != REGRESSION


def test_only_sessions_that_ran_the_same_count(log: Path) -> None:
    with SessionStore(log) as st:
        n = ids(st)
        a = st.get_session(n["0 demo1"])
        assert a is not None
        before = identical_sessions(st, a, {n["0 demo1"]})
        other = st.get_session(n["1 demo1"])
        assert other is not None
        st.update_session(n["1 demo1"], settings={**other["settings"], "threads": 2})
        st.update_session(n["2 demo1"],
                          device_identity={"kind": "ssh", "host_key": "SHA256:someone-else"})
        # the file's name is not what ran (its sha256 is): renaming it changes nothing
        st.update_session(n["3 demo1"], settings={**other["settings"], "input": "copy.mp4"})
        after = identical_sessions(st, a, {n["0 demo1"]})
    got = {int(r["id"]) for r in after}
    assert len(before) == 19 and len(after) == 17
    assert n["1 demo1"] not in got and n["2 demo1"] not in got and n["3 demo1"] in got


def test_cli_json_says_where_the_spread_came_from(log: Path) -> None:
    with SessionStore(log) as st:
        n = ids(st)
    out = subprocess.run([DEVICELAB, "sessions", "compare", str(n["0 demo1"]),
                          str(n["0 slow30"]), "--db", str(log), "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["verdict"] == REGRESSION
    assert doc["run_noise"]["source"] == "measured"
    assert 0 < doc["run_noise"]["spread"]["e2e p50"] < 0.1
    text = subprocess.run([DEVICELAB, "sessions", "compare", str(n["0 demo1"]),
                           str(n["0 slow30"]), "--db", str(log)],
                          capture_output=True, text=True, timeout=120).stdout
    assert "run-to-run spread: measured from 28 identical sessions" in text


def test_budgets_use_the_measured_spread(log: Path) -> None:
    from contextlib import nullcontext

    from console.session.budgets import add_budget_verdicts

    with SessionStore(log) as st:
        n = ids(st)
        sid = n["0 demo1"]
        row = st.get_session(sid)
        assert row is not None
        p95 = row["summary"]["latency_ms"]["e2e"]["p95"]
        budget = {"p95_ms": round(p95 * 1.15, 1)}  # 15 % above what it measured
        with_history = add_budget_verdicts(dict(row["summary"]), budget, sid,
                                           lambda: nullcontext(st))
        for other in n.values():
            if other != sid:
                st.delete_session(other)
        alone = add_budget_verdicts(dict(row["summary"]), budget, sid, lambda: nullcontext(st))
    # one 8-s session alone: the frames' range, with the assumed spread, cannot pass it
    assert alone[0]["verdict"] == "inconclusive"
    # the device's 19 identical sessions show how far a p95 moves between runs: it passes
    assert with_history[0]["verdict"] == "pass", with_history[0]


def test_identical_sessions_are_found_by_index(log: Path) -> None:
    import sqlite3

    with SessionStore(log):  # opening migrates the recorded log to the current schema
        pass
    con = sqlite3.connect(log)
    try:
        plan = con.execute("EXPLAIN QUERY PLAN SELECT * FROM sessions WHERE package_digest = ? "
                           "AND input_sha256 = ? AND status = 'completed' ORDER BY "
                           "created_unix_s DESC, id DESC LIMIT ?", ["p", "i", 500]).fetchall()
    finally:
        con.close()
    assert any("USING INDEX sessions_same_run" in row[-1] for row in plan), plan
