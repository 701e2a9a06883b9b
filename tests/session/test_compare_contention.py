"""A device busy with other work in one session and not the other: its timings are
held back as ``inconclusive`` instead of a verdict laid on the package.

Two real runs of the demo on this computer; the "busy device" is a fake (this VM
cannot be made busy on demand reliably while other tests run): B's recorded system
CPU is rewritten so that other work took ~1 core more than in A — the shape a
board that also ran a customer's service would leave. The same pair with equal
other work is the control.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from helpers.recording import PKG, record

from console.core.store import SessionStore
from console.core.verdicts import INCONCLUSIVE, contention
from console.session.compare import compare_sessions

pytestmark = pytest.mark.slow


def _fake_other_work(db: Path, sid: int, cores_busy: float) -> None:
    """Fake a device whose other processes kept ``cores_busy`` cores busy: the system
    CPU of every sample becomes the agent's share plus that (capped at 100 %), in the
    sample as the agent sent it and in its column."""
    with SessionStore(db) as st:
        cores = st.get_session(sid)["device_facts"]["cores"]
    new = "MIN(100.0, (? + cpu_agent_pct_core / 100.0) * 100.0 / ?)"
    with sqlite3.connect(db) as c:
        c.execute(f"UPDATE telemetry SET cpu_sys_pct = {new}, sample_json = json_set("
                  f"sample_json, '$.cpu_sys', {new}) WHERE session_id = ? AND "
                  "cpu_sys_pct IS NOT NULL AND cpu_agent_pct_core IS NOT NULL",
                  [cores_busy, cores, cores_busy, cores, sid])


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, int]:
    db = tmp_path_factory.mktemp("contention") / "s.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEVICELAB_HOME", str(db.parent / "home"))
        # 14 s each: after the 2-s warm-up, 12 windows of 1 s for the block bootstrap
        # (a shorter pair is all inconclusive, and then nothing is left to hold back)
        a = record(db, PKG, "synthetic:64x64", frames=2800, fps=200)
        b = record(db, PKG, "synthetic:64x64", frames=2800, fps=200)
    return db, a, b


def test_equal_other_work_holds_nothing_back(pair: tuple[Path, int, int]) -> None:
    db, a, b = pair
    for sid in (a, b):
        _fake_other_work(db, sid, 0.1)
    with SessionStore(db) as st:
        cmp = compare_sessions(st, a, b)
    wa, wb = cmp.other_work_cores
    assert wa == pytest.approx(0.1, abs=0.05) and wb == pytest.approx(0.1, abs=0.05)
    assert not any("not equally free" in f.reason for f in cmp.figures)
    assert "not equally free" not in cmp.verdict_line()


def test_a_busier_device_in_b_holds_back_what_it_moves(pair: tuple[Path, int, int]) -> None:
    db, a, b = pair
    _fake_other_work(db, a, 0.1)
    _fake_other_work(db, b, 1.1)
    with SessionStore(db) as st:
        cmp = compare_sessions(st, a, b)
    wa, wb = cmp.other_work_cores
    assert wa is not None and wb is not None and wb - wa > contention.OTHER_WORK_CORES
    moved = [f for f in cmp.figures if contention.affected(f.name, f.group)
             and not (f.a is None and f.b is None)]
    assert {f.name for f in moved} >= {"e2e p50", "e2e p99", "fps", "cold start",
                                       "agent cpu mean", "system cpu mean"}
    assert all(f.verdict == INCONCLUSIVE for f in moved), [f.line for f in moved]
    held = [f for f in moved if "not equally free" in f.reason]
    assert held, ["nothing held back although the other work differed", *map(str, moved)]
    for f in held:  # the interval stays, the verdict does not
        assert f.more_needed is None and "inconclusive: the device was not equally" in f.text
        assert f.diff is None or f.ci_low is None or f.ci_low <= f.diff <= f.ci_high
    system = next(f for f in cmp.figures if f.name == "system cpu mean")
    assert system in held  # the fake made it differ for certain
    # what does not depend on the device's other work keeps its own verdict
    memory = next(f for f in cmp.figures if f.name == "agent memory mean")
    assert "not equally free" not in memory.reason
    assert cmp.verdict in ("inconclusive", "no change", "regression", "improvement")
    assert cmp.verdict not in ("regression", "improvement") or any(
        f.verdict == cmp.verdict and not contention.affected(f.name, f.group)
        for f in cmp.figures)
    line = cmp.verdict_line()
    assert f"other work took {wb:.2f} cores in B against {wa:.2f} in A" in line
    assert "A1,A2,A3 B1,B2,B3" in line
    assert cmp.to_dict()["other_work_cores"] == [pytest.approx(wa), pytest.approx(wb)] or \
        tuple(cmp.to_dict()["other_work_cores"]) == pytest.approx((wa, wb))


def test_other_work_from_samples() -> None:
    # 2 cores, system 75 % busy = 1.5 cores, the agent 100 % of one core: 0.5 core other
    assert contention.other_work([75.0] * 5, [100.0] * 5, 2) == pytest.approx(0.5)
    assert contention.other_work([50.0] * 5, [100.0] * 5, 2) == pytest.approx(0.0)
    assert contention.other_work([75.0, np.nan, 75.0, 75.0], [100.0] * 4, 2) == \
        pytest.approx(0.5)
    assert contention.other_work([75.0] * 2, [100.0] * 2, 2) is None  # too few samples
    assert contention.other_work([75.0] * 5, [100.0] * 5, None) is None  # cores unknown
    assert not contention.differs(0.1, 0.3) and contention.differs(0.1, 0.4)
    assert not contention.differs(None, 1.5)
