"""The window's Profile box: a real run with the runtime's profiler, the ranked operator
chart and the per-op-type breakdown drawn from what the log holds."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from console.core.store import SessionStore
from console.session.profiles import load_profile

ROOT = Path(__file__).resolve().parents[2]
OPENVINO = ROOT / "resources" / "packages" / "digits-cnn-openvino"
LITERT = ROOT / "resources" / "packages" / "digits-cnn-litert"


def _ready(qtbot: Any, w: Any) -> None:
    qtbot.waitUntil(lambda: not w.package.pending, timeout=30_000)
    qtbot.waitUntil(lambda: w.devices.current().state not in ("probing", "unknown"),
                    timeout=30_000)


def _choose(qtbot: Any, w: Any, pkg: Path) -> None:
    w.package.path_edit.clear()
    qtbot.keyClicks(w.package.path_edit, str(pkg))
    qtbot.keyClick(w.package.path_edit, Qt.Key.Key_Return)
    w.package.path_edit.editingFinished.emit()
    qtbot.waitUntil(lambda: not w.package.pending and w.package.verification is not None
                    and str(w.package.verification.source) == str(pkg), timeout=30_000)
    assert w.package.verification.ok, w.package.verification.first_line()


def _run(qtbot: Any, w: Any) -> None:
    qtbot.mouseClick(w.run_panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.running, timeout=10_000)
    qtbot.waitUntil(lambda: not w.running, timeout=60_000)


def test_profile_box_draws_the_runs_operators(make_window: Any, qtbot: Any,
                                              db_path: Path) -> None:
    w = make_window(db_path=db_path)
    _ready(qtbot, w)
    _choose(qtbot, w, OPENVINO)
    assert w.run_panel.profile_frames() == 0 and not w.run_panel.profile_frames_box.isEnabled()
    w.run_panel.profile_check.setChecked(True)
    assert w.run_panel.profile_frames_box.isEnabled()
    w.run_panel.profile_frames_box.setValue(40)
    assert w.run_panel.profile_frames() == 40
    _run(qtbot, w)
    assert w.last_result is not None and w.last_result.status == "completed"
    view = w.profile_view
    qtbot.waitUntil(lambda: view.profile is not None, timeout=5_000)
    with SessionStore(db_path) as st:
        s = st.get_session(w.session_id)
        prof = load_profile(st, w.session_id)
    assert s["settings"]["profile"] == 40 and prof is not None and prof.frames == 40
    # the charts hold the log's figures: ranked, µs per profiled frame
    ranked = prof.ranked()[:15]
    assert view.ops_chart.labels == [f"{o.node} ({o.op_type})" for o in ranked]
    assert view.ops_chart.values == [prof.per_frame_us(o) for o in ranked]
    types = prof.by_op_type()
    assert view.types_chart.labels == [t.op_type for t in types]
    assert "Convolution" in view.types_chart.labels
    assert f"{len(prof.ops)} operators" in view.header.text()
    assert "frames 10–49" in view.header.text()
    assert not w.profile_dock.visibleRegion().isEmpty()  # brought forward
    # the Sessions tab's details of that session list its operators too
    from console.session.browse import load_details
    from console.ui.sessions.details import details_html

    text = details_html(load_details(db_path, w.session_id))
    assert "Operator profile" in text and html.escape(ranked[0].node) in text


def test_litert_run_says_why_there_is_no_profile(make_window: Any, qtbot: Any,
                                                 db_path: Path) -> None:
    w = make_window(db_path=db_path)
    _ready(qtbot, w)
    _choose(qtbot, w, LITERT)
    w.run_panel.profile_check.setChecked(True)
    w.run_panel.profile_frames_box.setValue(20)
    _run(qtbot, w)
    qtbot.waitUntil(lambda: w.profile_view.profile is not None, timeout=5_000)
    assert w.profile_view.profile.status == "unavailable"
    assert "exposes no profiler" in w.profile_view.header.text()
    assert w.profile_view.ops_chart.labels == []
