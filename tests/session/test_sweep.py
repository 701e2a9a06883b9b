"""Sweeps: the real command on this computer (real agent, onnxruntime, SQLite), the
ranking's statistics on recorded summaries, and saved defaults taken by run and plans."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.faults import devicelab

from console.core.settings import load_settings
from console.core.store import SessionStore
from console.core.verdicts import INCONCLUSIVE, NO_CHANGE, REGRESSION
from console.session import run_defaults
from console.session.plan_check import check_plan
from console.session.plan_run import PlanRun
from console.session.sweep import Sweep, SweepGrid, SweepRequest, parse_grid
from console.session.sweep_rank import BEST, SettingRuns, rank_runs

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "resources" / "packages" / "digits-cnn"
VIDEO = ROOT / "resources" / "recordings" / "digits-demo.avi"
REPEATS = ROOT / "tests" / "data" / "recorded" / "repeats.json"

pytestmark = pytest.mark.slow


def test_sweep_ranks_records_and_saves_and_run_then_uses_the_winner(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    res = devicelab("sweep", "--device", "local", "--package", str(PKG), "--input", str(VIDEO),
                    "--threads", "1,2", "--rounds", "3", "--frames", "40", "--save", "--json",
                    "--db", str(db))
    assert res.returncode == 0, res.stdout + res.stderr
    out = json.loads(res.stdout)
    assert out["status"] == "completed" and out["objective"] == "p95" and out["saved"]
    ranking = out["ranking"]
    assert [r["rank"] for r in ranking] == [1, 2]
    assert {r["setting"]["threads"] for r in ranking} == {1, 2}
    assert ranking[0]["verdict"] == BEST and ranking[0]["in_best_group"]
    assert ranking[1]["verdict"] in (REGRESSION, NO_CHANGE, INCONCLUSIVE)
    assert ranking[1]["in_best_group"] == (ranking[1]["verdict"] != REGRESSION)
    assert ranking[0]["estimate"] <= ranking[1]["estimate"]  # lower p95 is better
    for r in ranking:
        assert r["low"] <= r["estimate"] <= r["high"] and len(r["sessions"]) == 3
    assert out["best"] == ranking[0]["setting"]
    best_threads = out["best"]["threads"]

    with SessionStore(db, readonly=True) as st:
        sw = st.sweep(str(out["sweep_id"]))
        assert sw is not None and sw["status"] == "completed" and sw["saved"] == 1
        assert sw["objective"] == "p95" and sw["device"] == "local"
        assert json.loads(sw["grid_json"])["threads"] == [1, 2]
        assert json.loads(sw["result_json"])["ranking"] == ranking
        sids = st.sweep_sessions(out["sweep_id"])
        assert sorted(sids) == sorted(s for r in ranking for s in r["sessions"])
        rows = [st.get_session(s) for s in sids]
        assert all(r["status"] == "completed" and r["sweep_id"] == out["sweep_id"]
                   and f"sweep:{out['uuid'][:12]}" in r["tags"] for r in rows)
        # interleaved: every round runs each setting once before the next round starts
        order = [r["settings"]["threads"] for r in sorted(rows, key=lambda r: r["id"])]
        assert all(sorted(order[k:k + 2]) == [1, 2] for k in (0, 2, 4))

    saved = load_settings().run_default("local", "digits-cnn")
    assert saved is not None and saved["threads"] == best_threads
    assert saved["sweep"] == out["uuid"]

    # `run` takes the saved setting unless told otherwise
    res = devicelab("run", "--package", str(PKG), "--input", str(VIDEO), "--frames", "10",
                    "--quiet", "--json", "--db", str(db))
    assert res.returncode == 0, res.stderr
    assert "using the saved defaults" in res.stderr and f"threads={best_threads}" in res.stderr
    res_over = devicelab("run", "--package", str(PKG), "--input", str(VIDEO), "--frames", "10",
                         "--threads", "3", "--quiet", "--json", "--db", str(db))
    res_none = devicelab("run", "--package", str(PKG), "--input", str(VIDEO), "--frames", "10",
                         "--no-saved-defaults", "--quiet", "--json", "--db", str(db))
    with SessionStore(db, readonly=True) as st:
        got = [st.get_session(json.loads(r.stdout)["session_id"])["settings"]["threads"]
               for r in (res, res_over, res_none)]
    assert got == [best_threads, 3, 0]


def test_plans_take_the_saved_default_unless_their_run_table_sets_it(tmp_path: Path) -> None:
    run_defaults.save("local", "digits-cnn", {"threads": 2, "graph_opt": "basic"},
                      {"sweep": "test"})
    db = tmp_path / "s.db"
    got = {}
    for name, extra in (("uses-default", ""), ("overrides", "threads = 1")):
        plan = tmp_path / f"{name}.toml"
        plan.write_text(f'name = "{name}"\ndevices = ["local"]\npackages = ["{PKG}"]\n'
                        f'inputs = ["{VIDEO}"]\n[run]\nframes = 15\n{extra}\n')
        checked = check_plan(plan)
        assert checked.ok, checked.lines()
        result = PlanRun(checked, db).execute()
        assert result.exit_code == 0
        with SessionStore(db, readonly=True) as st:
            s = st.get_session(result.outcomes[0].session_id)
        got[name] = (s["settings"]["threads"], s["settings"]["graph_opt"])
    assert got == {"uses-default": (2, "basic"), "overrides": (1, "basic")}


def test_one_short_round_cannot_tell_settings_apart_and_says_so(tmp_path: Path) -> None:
    """One pass of the 360-frame recording per setting is far shorter than the 10 s an
    interval needs: the pooled frames give only their range, so the other setting is
    inconclusive — in the best group, never called worse."""
    rq = SweepRequest("local", str(PKG), str(VIDEO), SweepGrid(graph_opts=("basic", "all")),
                      rounds=1)
    result = Sweep(rq, tmp_path / "s.db").execute()
    assert result.exit_code == 0 and result.status == "completed" and not result.saved
    best, other = result.ranking
    assert best.verdict == BEST and best.method == "range"
    assert other.verdict == INCONCLUSIVE and other.in_best_group
    assert "too short to decide" in other.reason and "more frames" in other.reason
    assert [r.label for r in result.group] == [best.label, other.label]
    assert load_settings().run_defaults == {}  # not saved without save=True


def test_the_ranking_separates_a_clearly_slower_setting_over_recorded_sessions() -> None:
    """Recorded summaries (tests/data/recorded): the demo, the demo again, and a model with
    +30 % work, 5 sessions each. The slower one is worse than the best beyond the threshold;
    the two demo groups cannot be told apart."""
    runs = json.loads(REPEATS.read_text())
    items = [SettingRuns(name, {"name": name}, list(range(5)), 0, [],
                         [s["latency_ms"]["e2e"]["p95"] for s in runs[name]])
             for name in ("slow30", "demo", "demo2")]
    ranking = rank_runs(items, "p95")
    by = {r.label: r for r in ranking}
    assert ranking[0].label in ("demo", "demo2") and ranking[0].verdict == BEST
    assert by["slow30"].verdict == REGRESSION and not by["slow30"].in_best_group
    assert by["slow30"].rank == 3
    twin = by["demo2" if ranking[0].label == "demo" else "demo"]
    assert twin.in_best_group and twin.verdict in (NO_CHANGE, INCONCLUSIVE)
    assert "Mann–Whitney" in twin.reason


def test_bad_sweep_options_are_one_line_refusals(tmp_path: Path) -> None:
    for args, word in ((["--graph-opt", "basic,fastest"], "--graph-opt"),
                       (["--threads", "1,x"], "--threads"),
                       (["--spin", "on,on"], "listed twice"),
                       (["--rounds", "0"], "--rounds")):
        res = devicelab("sweep", "--package", str(PKG), "--input", str(VIDEO), *args,
                        "--db", str(tmp_path / "s.db"))
        assert res.returncode == 2, res.stderr
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and word in lines[0] and "Traceback" not in res.stderr
    assert not (tmp_path / "s.db").exists()  # refused before anything ran
    assert len(parse_grid("1,2", None, "basic,all", "on,off").settings()) == 8


def test_energy_on_a_device_without_a_power_sensor_stops_and_says_why(tmp_path: Path) -> None:
    res = devicelab("sweep", "--package", str(PKG), "--input", str(VIDEO), "--threads", "1,2",
                    "--objective", "energy", "--frames", "20", "--json", "--db",
                    str(tmp_path / "s.db"))
    assert res.returncode == 1, res.stdout + res.stderr
    out = json.loads(res.stdout)
    assert out["best"] is None and out["status"] == "failed"
    assert "no power or energy sensor" in out["reason"]
    with SessionStore(tmp_path / "s.db", readonly=True) as st:
        assert len(st.sweep_sessions(out["sweep_id"])) == 1  # stopped after the first run
        assert st.sweep(str(out["sweep_id"]))["status"] == "failed"
