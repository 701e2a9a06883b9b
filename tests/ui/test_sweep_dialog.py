"""The Sweep dialog runs a real sweep on this computer (real agent, onnxruntime, SQLite)
from the window's current device, package and input, ranks it and saves the winner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from console.core.settings import load_settings
from console.core.store import SessionStore

ROOT = Path(__file__).resolve().parents[2]
DEMO_PACKAGE = ROOT / "resources" / "packages" / "digits-cnn"
DEMO_VIDEO = ROOT / "resources" / "recordings" / "digits-demo.avi"

pytestmark = pytest.mark.slow


def test_sweep_dialog_ranks_records_and_saves(make_window: Any, qtbot: Any,
                                              tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    w = make_window(db_path=db)
    qtbot.waitUntil(lambda: not w.package.pending, timeout=30_000)
    w.plan_desk.show_sweep_dialog()
    dlg = w.plan_desk.sweep_dialog
    # the window's current device, package and input to start with
    assert dlg.device_edit.text() == "local"
    assert Path(dlg.package_edit.text()) == DEMO_PACKAGE
    assert Path(dlg.input_edit.text()) == DEMO_VIDEO
    dlg.threads_edit.setText("1,2")
    dlg.rounds_spin.setValue(3)
    dlg.frames_spin.setValue(40)
    dlg.save_check.setChecked(True)
    with qtbot.waitSignal(dlg.ended, timeout=240_000):
        dlg.run_button.click()
    assert not dlg.running and dlg.sweep_result is not None, dlg.status.text()
    res = dlg.sweep_result
    assert res.status == "completed" and res.exit_code == 0 and res.saved
    t = dlg.table
    assert t.rowCount() == 2
    assert [t.item(r, 0).text() for r in range(2)] == ["1", "2"]
    assert t.item(0, 4).text() == "best" and t.item(0, 5).text() == "yes"
    assert t.item(1, 4).text() in ("regression", "no change", "inconclusive")
    assert t.item(1, 5).text() == ("no" if t.item(1, 4).text() == "regression" else "yes")
    assert "threads=" in t.item(0, 1).text() and t.item(0, 3).text().startswith("[")
    assert f"sweep {res.sweep_id} completed: best" in dlg.status.text()
    with SessionStore(db, readonly=True) as st:
        sw = st.sweep(str(res.sweep_id))
        assert sw is not None and sw["saved"] == 1
        assert json.loads(sw["result_json"])["best"] == dict(res.best.setting)
        assert len(st.sweep_sessions(res.sweep_id)) == 6
    saved = load_settings().run_default("local", "digits-cnn")
    assert saved is not None and saved["threads"] == res.best.setting["threads"]
    dlg.close()
