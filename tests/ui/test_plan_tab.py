"""The Plan tab runs real plans: a real plan file, the real agent on this computer, real
onnxruntime, a real SQLite log; driven through the widgets (file dialog, Run, Stop,
double-click), proved from the log the plan wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers.window import answer_next_dialog, choose_in_file_dialog
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from console.core.settings import load_settings
from console.core.store import SessionStore
from console.session.plan_log import get_plan_run, list_plan_runs

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "resources" / "packages" / "digits-cnn"
PKG8 = ROOT / "resources" / "packages" / "digits-cnn-int8"
VIDEO = ROOT / "resources" / "recordings" / "digits-demo.avi"

pytestmark = pytest.mark.slow


def write_plan(folder: Path, *, run: str = "frames = 40", budgets: str = 'p95 = "10s"',
               name: str = "window-smoke") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / "plan.toml"
    p.write_text(f'''name = "{name}"
devices = ["local"]
packages = [{json.dumps(str(PKG))}, {json.dumps(str(PKG8))}]
inputs = [{json.dumps(str(VIDEO))}]
[run]
{run}
[budgets]
{budgets}
''')
    return p


def open_plan(qtbot: Any, w: Any, plan: Path) -> Any:
    w.tabs.setCurrentWidget(w.plan_view)
    pv = w.plan_view
    picked = answer_next_dialog(choose_in_file_dialog(plan), kind=QFileDialog)
    with qtbot.waitSignal(pv.checked, timeout=60_000):
        pv.open_button.click()
    assert picked["dialog"] is not None, "no file dialog opened"
    return pv


def test_plan_runs_in_the_window_and_its_cells_open_their_sessions(
        make_window: Any, qtbot: Any, tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    plan = write_plan(tmp_path / "plans")
    w = make_window(db_path=db)
    pv = open_plan(qtbot, w, plan)
    # the cells, before anything runs: one device row, one column per package
    assert "1 device(s) × 2 package(s)" in pv.info.text() and "= 2 cells" in pv.info.text()
    assert pv.grid.rowCount() == 1
    assert [pv.grid.verdict_at(i) for i in (0, 1)] == ["pending", "pending"]
    assert pv.run_button.isEnabled() and not pv.stop_button.isEnabled()
    # the folder is remembered for the next file dialog
    qtbot.waitUntil(lambda: not w.prefs.writing, timeout=10_000)
    assert load_settings().preferences["plan_folder"] == str(plan.parent)

    with qtbot.waitSignal(pv.finished, timeout=240_000):
        pv.run_button.click()
    assert not pv.running and pv.result is not None
    assert pv.result.exit_code == 0, pv.status.text()
    assert [pv.grid.verdict_at(i) for i in (0, 1)] == ["pass", "pass"]
    # the device's own live curve was drawn (decimated points, not every frame)
    assert 0 < pv.grid.curve_points("local") <= 400
    with SessionStore(db, readonly=True) as st:
        runs = list_plan_runs(st)
        assert len(runs) == 1 and runs[0]["status"] == "passed"
        run = get_plan_run(st, runs[0]["id"])
        assert run is not None and run["plan_text"] == plan.read_text()
        sids = [c["session_id"] for c in run["cells"]]
        assert sids == [pv.grid.session_at(0), pv.grid.session_at(1)]
        s = st.get_session(sids[1])
        assert s is not None and s["status"] == "completed" and s["frames_received"] == 40
        assert s["plan_run_id"] == run["id"]
    # a warning every cell repeats (the demo packages are unsigned) is said once
    log = w.log_pane.text.toPlainText()
    assert log.count("package is unsigned") == 1, log
    grid = pv.grid
    row, col = 0, grid.first_cell_col + 1
    assert "PASS" in grid.item(row, col).text() and f"#{sids[1]}" in grid.item(row, col).text()
    # a finished cell opens its session in the Sessions tab
    grid.cellDoubleClicked.emit(row, col)
    assert w.tabs.currentWidget() is w.sessions_view
    qtbot.waitUntil(lambda: w.sessions_view.current_id() == sids[1], timeout=15_000)

    # the Matrix tab reads plan runs too: pick this one, its grid, its cells' sessions
    mv = w.matrix_view
    w.tabs.setCurrentWidget(mv)
    qtbot.waitUntil(lambda: not mv.busy and mv.source_combo.findData(run["id"]) > 0,
                    timeout=20_000)
    assert "plan window-smoke" in mv.source_combo.itemText(mv.source_combo.findData(run["id"]))
    mv.source_combo.setCurrentIndex(mv.source_combo.findData(run["id"]))
    qtbot.waitUntil(lambda: not mv.busy and mv.plan_run == run["id"]
                    and mv.table.columnCount() == 2, timeout=20_000)
    t = mv.table
    assert t.rowCount() == 1 and t.verticalHeaderItem(0).text() == "local"
    assert [t.item(0, c).text().splitlines()[0] for c in (0, 1)] == ["PASS", "PASS"]
    assert "digits-cnn-int8" in t.horizontalHeaderItem(1).text()
    assert [mv.cell_session(0, c) for c in (0, 1)] == sids
    assert "passed, exit status 0" in mv.info.text()
    t.cellDoubleClicked.emit(0, 0)
    qtbot.waitUntil(lambda: w.sessions_view.current_id() == sids[0], timeout=15_000)


def test_stop_ends_every_device_cleanly(make_window: Any, qtbot: Any, tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    # a looped recording at 20 fps: each cell would run for many minutes
    plan = write_plan(tmp_path, run="frames = 100000\nloop = true\nfps = 20.0", budgets="")
    w = make_window(db_path=db)
    pv = open_plan(qtbot, w, plan)
    pv.run_button.click()
    qtbot.waitUntil(lambda: pv.running, timeout=60_000)
    qtbot.waitUntil(lambda: pv.grid.verdict_at(0) == "running"
                    and "frames" in pv.grid.item(0, pv.grid.first_cell_col).text()
                    and pv.grid.curve_points("local") > 0, timeout=120_000)
    with qtbot.waitSignal(pv.finished, timeout=60_000):
        pv.stop_button.click()
    assert pv.result is not None and pv.result.status == "stopped"
    assert [pv.grid.verdict_at(i) for i in (0, 1)] == ["not run", "not run"]
    with SessionStore(db, readonly=True) as st:
        run = get_plan_run(st, pv.result.run_id)
        assert run is not None
        first = run["cells"][0]
        assert first["session_id"] is not None and "stopped by the user" in first["reason"]
        s = st.get_session(first["session_id"])
        assert s is not None and s["status"] == "stopped" and s["frames_received"] > 0
        assert run["cells"][1]["session_id"] is None  # never started


def test_a_bad_plan_says_which_key_and_does_not_run(make_window: Any, qtbot: Any,
                                                    tmp_path: Path) -> None:
    plan = write_plan(tmp_path, run="frames = -5")
    w = make_window(db_path=tmp_path / "s.db")
    pv = open_plan(qtbot, w, plan)
    assert "run.frames" in pv.info.text() and "plan.toml:" in pv.info.text()
    assert pv.grid.rowCount() == 0
    with qtbot.waitSignal(pv.checked, timeout=60_000):
        qtbot.mouseClick(pv.run_button, Qt.MouseButton.LeftButton)  # checks again, refuses
    assert not pv.running and pv.result is None


def test_an_undecided_budget_is_inconclusive_in_the_grid(make_window: Any, qtbot: Any,
                                                         tmp_path: Path) -> None:
    # these machines have no power sensor: an energy budget cannot be decided
    plan = write_plan(tmp_path, run="frames = 20", budgets='energy = "5mJ"')
    w = make_window(db_path=tmp_path / "s.db")
    pv = open_plan(qtbot, w, plan)
    with qtbot.waitSignal(pv.finished, timeout=240_000):
        pv.run_button.click()
    assert pv.result is not None and pv.result.exit_code == 0  # not a failure …
    assert [o.verdict for o in pv.result.outcomes] == ["pass", "pass"]
    # … nor a pass
    assert [pv.grid.verdict_at(i) for i in (0, 1)] == ["inconclusive", "inconclusive"]
    item = pv.grid.item(0, pv.grid.first_cell_col)
    assert item.text().startswith("INCONCLUSIVE")
    assert "budget energy_mj: inconclusive" in item.toolTip()


def test_closing_the_window_stops_the_plan_first(make_window: Any, qtbot: Any,
                                                 tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    plan = write_plan(tmp_path, run="frames = 100000\nloop = true\nfps = 20.0", budgets="")
    w = make_window(db_path=db)
    pv = open_plan(qtbot, w, plan)
    pv.run_button.click()
    qtbot.waitUntil(lambda: pv.running and pv.grid.verdict_at(0) == "running", timeout=60_000)
    qtbot.waitUntil(lambda: pv.grid.session_at(0) is not None or pv.grid.curve_points(
        "local") > 0, timeout=60_000)
    w.close()
    assert w.isVisible() and pv.running  # not yet: the plan is asked to stop first
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=60_000)
    assert not pv.running and pv.result is not None and pv.result.status == "stopped"
    with SessionStore(db, readonly=True) as st:
        s = st.list_sessions(limit=5)
        assert s and all(x["status"] == "stopped" for x in s if x["status"] != "completed")
        assert any(x["status"] == "stopped" for x in s)
