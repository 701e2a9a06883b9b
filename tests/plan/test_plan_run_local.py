"""Plans end to end on this computer plus a device that is not there: the real command,
the real agent, real onnxruntime, a real SQLite log, JUnit read back with junitparser."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import junitparser
import pytest
from helpers.faults import devicelab
from helpers.sshd import free_port

from console.core.plan import read_plan
from console.core.store import SessionStore
from console.session import plan_check, run
from console.session.plan_check import check_plan
from console.session.plan_log import get_plan_run, list_plan_runs
from console.session.plan_run import PlanListener, PlanRun

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "resources" / "packages" / "digits-cnn"
PKG8 = ROOT / "resources" / "packages" / "digits-cnn-int8"
VIDEO = ROOT / "resources" / "recordings" / "digits-demo.avi"
TRUTH = ROOT / "resources" / "recordings" / "digits-demo.truth.csv"

pytestmark = pytest.mark.slow


def write_plan(tmp_path: Path, devices: list[str], *, budgets: str = "", extra: str = "",
               frames: int = 60) -> Path:
    p = tmp_path / "plan.toml"
    p.write_text(f'''name = "local-smoke"
devices = {json.dumps(devices)}
packages = ["{PKG}", "{PKG8}"]
inputs = [{{ path = "{VIDEO}", truth = "{TRUTH}" }}]
[run]
frames = {frames}
{extra}
[budgets]
{budgets}
''')
    return p


def test_plan_run_local_and_an_unreachable_device(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    junit, report = tmp_path / "report.xml", tmp_path / "report.html"
    dead = f"ssh://nobody@127.0.0.1:{free_port()}"  # nothing listens there
    plan = write_plan(tmp_path, ["local", dead], budgets='p95 = "10s"')
    res = devicelab("plan", "run", str(plan), "--db", str(db), "--junit", str(junit),
                    "-o", str(report))
    # no product failure, but a device could not be used
    assert res.returncode == 3, res.stdout + res.stderr
    with SessionStore(db, readonly=True) as st:
        runs = list_plan_runs(st)
        assert len(runs) == 1 and runs[0]["status"] == "incomplete" and runs[0]["exit_code"] == 3
        pr = get_plan_run(st, runs[0]["id"])
        assert pr is not None
        assert pr["plan_text"] == plan.read_text()
        assert [c["verdict"] for c in pr["cells"]] == ["pass", "pass", "not run", "not run"]
        assert all(c["reason"].startswith("device unreachable at start") for c in pr["cells"][2:])
        # every cell is an ordinary session, tagged with the plan and the plan run
        sids = [c["session_id"] for c in pr["cells"][:2]]
        tagged = st.list_sessions(tag=f"plan-run:{pr['uuid'][:12]}")
        assert sorted(s["id"] for s in tagged) == sorted(sids)
        assert all("plan:local-smoke" in s["tags"] for s in tagged)
        assert all(s["status"] == "completed" and s["summary"]["accuracy"]["top1"] > 0.9
                   for s in tagged)

    xml = junitparser.JUnitXml.fromfile(str(junit))
    suites = {s.name: s for s in xml}
    assert set(suites) == {"local", dead}
    local = suites["local"]
    assert (local.tests, local.failures, local.errors) == (4, 0, 0)  # 2 cells x (run, p95)
    names = [c.name for c in local]
    assert names[0].endswith(":: run") and names[1].endswith(":: budget p95_ms")
    lost = suites[dead]
    assert (lost.tests, lost.errors, lost.failures) == (2, 2, 0)
    case = next(iter(lost))
    assert isinstance(case.result[0], junitparser.Error)
    assert "device unreachable at start" in case.result[0].message

    page = report.read_text()
    boxes = re.findall(r"<div class='cell v-(\w+)' data-idx='(\d)' data-device='([^']+)'", page)
    # the matrix, row by row: a device a row, a package a column
    assert boxes == [("pass", "0", "local"), ("pass", "1", "local"), ("notrun", "2", dead),
                     ("notrun", "3", dead)]
    for sid in sids:
        assert f"id='session-{sid}'" in page and f"href='#session-{sid}'" in page
    assert "<script" not in page and html.escape(plan.read_text()) in page

    shown = devicelab("plan", "show", pr["uuid"][:8], "--db", str(db), "--junit",
                      str(tmp_path / "again.xml"))
    assert shown.returncode == 0, shown.stderr
    assert (tmp_path / "again.xml").read_text() == junit.read_text()
    listed = devicelab("plan", "runs", "--db", str(db))
    assert "local-smoke" in listed.stdout and "incomplete" in listed.stdout
    sessions = devicelab("sessions", "list", "--tag", "plan:local-smoke", "--db", str(db))
    assert sessions.returncode == 0
    assert sum("#plan:local-smoke" in ln for ln in sessions.stdout.splitlines()) == 2


def test_a_failed_budget_exits_1_with_the_figures_and_session_in_junit(tmp_path: Path) -> None:
    db, junit = tmp_path / "s.db", tmp_path / "j.xml"
    plan = write_plan(tmp_path, ["local"], budgets='p95 = "0.001ms"\nmemory = "64GB"')
    res = devicelab("plan", "run", str(plan), "--db", str(db), "--junit", str(junit), "--json")
    assert res.returncode == 1, res.stderr
    events = [json.loads(line) for line in res.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "plan_started" and kinds[-1] == "plan_finished"
    assert {"device_state", "cell_started", "cell_session", "progress", "cell_finished"} \
        <= set(kinds)
    done = [e for e in events if e["event"] == "cell_finished"]
    assert [e["verdict"] for e in done] == ["fail", "fail"]
    xml = junitparser.JUnitXml.fromfile(str(junit))
    suite = next(iter(xml))
    assert (suite.tests, suite.failures) == (6, 2)  # run, memory, p95 per cell; p95 fails
    failed = [c for c in suite if c.result and isinstance(c.result[0], junitparser.Failure)]
    assert all(c.name.endswith(":: budget p95_ms") for c in failed)
    sid = done[0]["session_id"]
    text = failed[0].result[0].text
    assert f"session_id: {sid}" in text and "limit: 0.001" in text and "value: " in text
    assert "fail" in failed[0].result[0].message


def test_refused_plan_exits_2_before_running(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    plan = write_plan(tmp_path, ["local", "nowhere-board"], extra="fps = -1")
    res = devicelab("plan", "run", str(plan), "--db", str(db))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert lines == [f"devicelab: error: {plan}:7: run.fps: must not be negative (-1)",
                     f"devicelab: error: {plan}:2: devices[1]: unknown device 'nowhere-board': "
                     "not a saved device (devicelab devices list) nor a Host in ~/.ssh/config; "
                     "save it with devicelab devices add, or write ssh://user@host"]
    assert not db.exists()  # nothing ran, nothing recorded
    check = devicelab("plan", "check", str(write_plan(tmp_path, ["local"])))
    assert check.returncode == 0 and check.stdout.strip().endswith("ok")
    assert "= 2 cells" in check.stdout


class _Cells(PlanListener):
    def __init__(self) -> None:
        self.outcomes: list = []

    def cell_finished(self, outcome) -> None:  # type: ignore[no-untyped-def]
        self.outcomes.append(outcome)


def test_each_package_is_verified_once_and_the_baseline_is_the_last_pass(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = plan_check.verify_package

    def counting(path, **kw):  # type: ignore[no-untyped-def]
        calls.append(str(path))
        return real(path, **kw)

    monkeypatch.setattr(plan_check, "verify_package", counting)
    monkeypatch.setattr(run, "verify_package", counting)
    plan = write_plan(tmp_path, ["local"], extra='fps = [0, 200]\n',
                      frames=40).read_text() + '[baseline]\nlast = "passed"\n'
    (tmp_path / "plan.toml").write_text(plan)
    db = tmp_path / "s.db"
    first = PlanRun(check_plan(tmp_path / "plan.toml"), db, _Cells()).execute()
    assert len(first.outcomes) == 4
    assert sorted(calls) == sorted([str(PKG), str(PKG8)])  # once each for 4 cells
    ls = _Cells()
    second = PlanRun(check_plan(tmp_path / "plan.toml"), db, ls).execute()
    for a, b in zip(first.outcomes, second.outcomes):
        base = next(c for c in b.checks if c.name == "baseline")
        if a.verdict == "pass":
            assert base.data["baseline_session"] == a.session_id, base.text
            # one earlier session of each cell: too few to measure the device's spread
            assert base.data["run_noise"]["source"] == "assumed", base.data
            assert "(spread assumed)" in base.text, base.text
    plan_obj, _ = read_plan(tmp_path / "plan.toml")
    assert plan_obj is not None and len(plan_obj.settings()) == 2


def test_repeated_cells_measure_the_spread_their_baseline_is_judged_with(
        tmp_path: Path) -> None:
    """Six repeats of one cell, then the plan again: each cell's baseline comparison finds
    the earlier repeats in the log (identical sessions) and says its spread was measured."""
    plan = (tmp_path / "plan.toml")
    plan.write_text(f'''name = "repeats"
devices = ["local"]
packages = ["{PKG}"]
inputs = ["{VIDEO}"]
[run]
frames = 40
repeats = 6
[baseline]
last = "passed"
''')
    db = tmp_path / "s.db"
    first = PlanRun(check_plan(plan), db, _Cells()).execute()
    assert [o.verdict for o in first.outcomes] == ["pass"] * 6
    second = PlanRun(check_plan(plan), db, _Cells()).execute()
    bases = [next(c for c in o.checks if c.name == "baseline") for o in second.outcomes]
    for b in bases:
        assert b.data["run_noise"]["source"] == "measured", b.data
        # the baseline and the cell itself are left out of the sessions measured
        assert b.data["run_noise"]["sessions"] >= 5, b.data
        assert f"(spread measured, {b.data['run_noise']['sessions']} identical sessions)" \
            in b.text, b.text


def test_ctrl_c_stops_every_device_cleanly(tmp_path: Path) -> None:
    import signal

    from helpers.faults import devicelab_popen

    db = tmp_path / "s.db"
    plan = tmp_path / "plan.toml"
    plan.write_text(f'name = "stop-me"\ndevices = ["local"]\npackages = ["{PKG}", "{PKG8}"]\n'
                    'inputs = ["synthetic:64x64"]\n[run]\nfps = 30\nduration = 120\n')
    proc = devicelab_popen("plan", "run", str(plan), "--db", str(db), "--json")
    assert proc.stdout is not None
    for line in proc.stdout:
        if json.loads(line)["event"] == "progress" and json.loads(line)["frames"] > 5:
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    with SessionStore(db, readonly=True) as st:
        pr = get_plan_run(st, 1)
        assert pr is not None and pr["status"] == "stopped"
        first, second = pr["cells"]
        assert first["verdict"] == "not run" and first["reason"].startswith("stopped by the user")
        assert second["verdict"] == "not run" and second["reason"] == "the plan was stopped"
        s = st.get_session(first["session_id"])
        assert s is not None and s["status"] == "stopped" and s["summary"]["frames"] > 5


def test_warmup_runs_before_each_cell_and_is_not_judged(tmp_path: Path) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text(f'name = "warm"\ndevices = ["local"]\npackages = ["{PKG}"]\n'
                    'inputs = ["synthetic:64x64"]\n[run]\nframes = 30\nwarmup = 15\n'
                    '[budgets]\np95 = "10s"\n')
    db = tmp_path / "s.db"
    result = PlanRun(check_plan(plan), db, _Cells()).execute()
    (outcome,) = result.outcomes
    assert outcome.verdict == "pass" and outcome.warmup_session_id is not None
    with SessionStore(db, readonly=True) as st:
        warm = st.get_session(outcome.warmup_session_id)
        cell = st.get_session(outcome.session_id or 0)
        assert warm is not None and cell is not None
        assert "warmup" in warm["tags"] and warm["summary"]["frames"] == 15
        assert "budgets" not in warm["summary"]  # not judged
        assert "warmup" not in cell["tags"] and cell["summary"]["frames"] == 30
        assert warm["started_at"] < cell["started_at"]
