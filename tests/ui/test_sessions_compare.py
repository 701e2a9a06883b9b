"""The Compare and Matrix tabs on a real session log.

The fp32 and int8 builds of the demo model run on the same recording (the
quantization check the demo ships for); the window must show what
``console.session.compare`` computes — latency rows with A, B, change and
verdict, top-1 agreement — and overlay both sessions' latency histogram
and CDF. The matrix must hold one cell per device × package column, the
latest session of each, and a double-click must open that session.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers.recording import PKG, PKG_INT8, TRUTH, VIDEO, copy_db, record
from helpers.window import click_session, open_sessions
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from console.core.store import SessionStore
from console.session.compare import compare_sessions, fmt_value
from console.session.matrix import build_matrix


@pytest.fixture(scope="module")
def pair_log(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("compare-ui")
    db = d / "sessions.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEVICELAB_HOME", str(d / "home"))
        old = record(db, PKG, "synthetic:32x32", frames=50)
        fp32 = record(db, PKG, str(VIDEO), truth=str(TRUTH))
        int8 = record(db, PKG_INT8, str(VIDEO), truth=str(TRUTH))
    return {"db": db, "old": old, "fp32": fp32, "int8": int8}


@pytest.fixture
def log(pair_log: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    return {**pair_log, "db": copy_db(pair_log["db"], tmp_path / "sessions.db")}


def table_rows(t: Any) -> list[list[str]]:
    return [[t.item(r, c).text() if t.item(r, c) else "" for c in range(t.columnCount())]
            for r in range(t.rowCount())]


def test_compare_fp32_and_int8_shows_latency_rows_and_agreement(
        make_window: Any, qtbot: Any, log: dict[str, Any]) -> None:
    w = make_window(db_path=log["db"])
    sv = open_sessions(qtbot, w)
    click_session(qtbot, sv, log["int8"])
    assert not sv.compare_action.isEnabled()  # one selected
    click_session(qtbot, sv, log["fp32"], ctrl=True)
    assert sv.selected_ids() == sorted([log["fp32"], log["int8"]])
    assert sv.compare_action.isEnabled()
    sv.compare_action.trigger()
    cv = w.compare_view
    assert w.tabs.currentWidget() is cv
    qtbot.waitUntil(lambda: cv.data is not None and not cv.busy, timeout=20_000)

    with SessionStore(log["db"]) as st:
        expected = compare_sessions(st, log["fp32"], log["int8"])  # the CLI's default
        lat_a = st.frame_column(log["fp32"], "e2e")
        lat_b = st.frame_column(log["int8"], "e2e")
    # A is the older session (the reference), B the candidate
    assert cv.pair == (log["fp32"], log["int8"])
    assert f"A session {log['fp32']}" in cv.heads.text().replace("</b>", "").replace(
        "<b style='color:#1c7ed6'>", "")
    ag = expected.agreement
    assert ag.available and ag.frames_compared == 360
    assert f"top-1 agreement {fmt_value(ag.top1_agreement, 'ratio')}" in \
        cv.agreement_label.text().replace("<b>", "").replace("</b>", "")
    assert f"{ag.top1_agree}/360 frames agree" in cv.agreement_label.text()
    assert expected.verdict_line() in cv.verdict_label.text()
    # two sessions and nothing identical to them in the log: the allowance is assumed
    assert expected.spread_line().startswith("run-to-run spread: assumed")
    assert cv.spread_label.text() == html.escape(expected.spread_line())

    rows = {r[0]: r for r in table_rows(cv.figures_table)}
    for name in ("pre p50", "infer p95", "e2e p50", "e2e p95", "e2e p99", "fps", "cold start",
                 "agent memory peak", "accuracy top-1", "top-1 agreement"):
        assert name in rows, name
    for f in expected.figures:
        row = rows[f.name]
        assert row[2] == fmt_value(f.b, f.unit), f.name
        assert f"{row[3]} — {row[4]}" == f.text or (row[3] == "" and row[4] == f.text), f.name
        if f.group != "agreement":
            assert row[1] == fmt_value(f.a, f.unit)
    e2e = rows["e2e p95"]
    fig = next(f for f in expected.figures if f.name == "e2e p95")
    assert e2e[3].startswith(f"{fig.change * 100:+.1f} %")
    assert rows["top-1 agreement"][3] == f"{ag.top1_agree}/360 frames agree"
    # the differences name the package, not the input (same recording)
    diffs = {(r[0], r[1]) for r in table_rows(cv.differences_table)}
    assert ("package", "name") in diffs and ("package", "model_sha256") in diffs
    assert not any(sec == "input" for sec, _f in diffs)

    # histogram and CDF of both sessions, overlaid, for the chosen stage
    shown = cv.plotted()
    assert shown["stage"] == "e2e"
    assert [n.split(" (")[0] for n, _x, _y in shown["hist"]] == [
        f"A #{log['fp32']} digits-cnn@1.0.0", f"B #{log['int8']} digits-cnn-int8@1.0.0"]
    for _n, _x, y in shown["hist"]:
        assert y.sum() == pytest.approx(100.0, abs=1e-6)  # % of frames, every frame counted
    (na, xa, ya), (nb, xb, yb) = shown["cdf"]
    assert xa.tolist() == sorted(lat_a.tolist()) and ya[-1] == pytest.approx(100.0)
    assert xb.tolist() == sorted(lat_b.tolist()) and yb[-1] == pytest.approx(100.0)
    assert f"p95 {np.percentile(lat_a, 95):.3f} ms" in na
    assert f"p95 {np.percentile(lat_b, 95):.3f} ms" in nb
    # each figure's interval as error bars: the stage's figures, and on the CDF
    by = {f.name: f for f in expected.figures}
    for side, (est, low, high) in (("a", ("a", "a_low", "a_high")),
                                   ("b", ("b", "b_low", "b_high"))):
        bars = shown["figure_bars"][side]
        names = [("p50", "p90", "p95", "p99", "mean")[round(x)] for x in bars["x"]]
        assert names == ["p50", "p90", "p95", "p99", "mean"]
        for k, q in enumerate(names):
            f = by[f"e2e {q}"]
            assert bars["estimate"][k] == pytest.approx(getattr(f, est))
            assert bars["low"][k] == pytest.approx(getattr(f, low))
            assert bars["high"][k] == pytest.approx(getattr(f, high))
            assert bars["low"][k] <= bars["estimate"][k] <= bars["high"][k]
        opts = bars["item"].opts  # what pyqtgraph draws: the interval around the estimate
        assert np.allclose(opts["y"] + opts["top"], bars["high"])
        assert np.allclose(opts["y"] - opts["bottom"], bars["low"])
        cdf_bars = shown["cdf_bars"][side]
        assert cdf_bars["estimate"].tolist() == pytest.approx(
            [getattr(by[f"e2e {q}"], est) for q in ("p50", "p90", "p95", "p99")])
        assert np.allclose(cdf_bars["item"].opts["x"] + cdf_bars["item"].opts["right"],
                           cdf_bars["high"])
    cv.stage_combo.setCurrentIndex(cv.stage_combo.findData("infer"))
    assert cv.plotted()["stage"] == "infer"
    with SessionStore(log["db"]) as st:
        infer_a = st.frame_column(log["fp32"], "infer")
    assert cv.plotted()["cdf"][0][1].tolist() == sorted(infer_a.tolist())

    # the tolerance is a setting: the verdicts are recomputed with it
    cv.tolerance_spin.setValue(0.0)
    with SessionStore(log["db"]) as st:
        strict = compare_sessions(st, log["fp32"], log["int8"], tolerance=0.0)
    qtbot.waitUntil(lambda: strict.verdict_line() in cv.verdict_label.text(), timeout=20_000)
    rows = {r[0]: r for r in table_rows(cv.figures_table)}
    for f in strict.figures:
        assert f.text.endswith(rows[f.name][4]), f.name

    # and the comparison exports as a report
    out = log["db"].parent / "cmp.html"
    cv.export_to(out)
    qtbot.waitUntil(lambda: f"to {out}" in w.log_pane.text.toPlainText(), timeout=30_000)
    page = out.read_text()
    assert "<svg" in page
    # the HTML comparison draws the intervals too: the changes and each stage's figures
    assert "Changes with their intervals" in page
    assert page.count('class="plot intervals"') == 1 + 4  # changes + pre/infer/post/e2e
    assert 'class="whisker"' in page


def test_compare_of_different_inputs_says_why_outputs_are_not_compared(
        make_window: Any, qtbot: Any, log: dict[str, Any]) -> None:
    w = make_window(db_path=log["db"])
    w.show_comparison(log["old"], log["fp32"])
    cv = w.compare_view
    qtbot.waitUntil(lambda: cv.data is not None and not cv.busy, timeout=20_000)
    assert "outputs not compared: a synthetic input has no fixed frames" in \
        cv.agreement_label.text()
    assert "top-1 agreement" not in {r[0] for r in table_rows(cv.figures_table)}
    diffs = {(r[0], r[1]) for r in table_rows(cv.differences_table)}
    assert ("input", "kind") in diffs
    cv.swap()
    qtbot.waitUntil(lambda: cv.pair == (log["fp32"], log["old"]) and cv.data is not None
                    and not cv.busy and cv.data.comparison.a.id == log["fp32"],
                    timeout=20_000)


def test_matrix_has_a_cell_per_device_and_package_and_opens_its_session(
        make_window: Any, qtbot: Any, log: dict[str, Any]) -> None:
    w = make_window(db_path=log["db"])
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=5_000)
    qtbot.keyClick(w, Qt.Key.Key_5, Qt.KeyboardModifier.ControlModifier)
    mv = w.matrix_view
    assert w.tabs.currentWidget() is mv
    qtbot.waitUntil(lambda: mv.matrix is not None and not mv.busy, timeout=20_000)
    with SessionStore(log["db"]) as st:
        m = build_matrix(st)
        facts = st.get_session(log["int8"])["device_facts"]
    t = mv.table
    assert t.rowCount() == len(m.rows) == 1 and t.columnCount() == len(m.columns) == 2
    assert t.verticalHeaderItem(0).text().splitlines() == [
        "This computer", facts.get("board") or facts["cpu_model"], facts["os"], facts["kernel"]]
    heads = [t.horizontalHeaderItem(c).text().splitlines()[0] for c in range(2)]
    assert sorted(heads) == ["digits-cnn-int8@1.0.0", "digits-cnn@1.0.0"]
    latest = {"digits-cnn@1.0.0": log["fp32"], "digits-cnn-int8@1.0.0": log["int8"]}
    for c, head in enumerate(heads):
        cell = m.cell(0, c)
        assert cell is not None and cell.session_id == latest[head]  # the newest, not `old`
        text = t.item(0, c).text()
        assert text.endswith(f"#{cell.session_id}")
        assert f"p95 {cell.p95_ms:.2f} ms" in text and f"{cell.fps:.0f} fps" in text
        assert "no budget" in text
    assert mv.info.text() == "1 device row × 2 package columns, 2 cells"

    col = heads.index("digits-cnn-int8@1.0.0")
    rect = t.visualItemRect(t.item(0, col))
    # a real double-click: press/release, then the double-click event
    qtbot.mouseClick(t.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(t.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    sv = w.sessions_view
    assert w.tabs.currentWidget() is sv
    qtbot.waitUntil(lambda: sv.current_id() == log["int8"] and sv.details is not None
                    and sv.details.session["id"] == log["int8"], timeout=10_000)
    assert sv.selected_ids() == [log["int8"]]
    assert "digits-cnn-int8@1.0.0" in sv.pane.details_view.toPlainText()

    # a run that ends makes the matrix stale; it is built again when shown
    with SessionStore(log["db"]) as st:
        st.delete_session(log["int8"])
    mv.mark_stale()
    qtbot.keyClick(w, Qt.Key.Key_5, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not mv.busy and mv.table.columnCount() == 1, timeout=20_000)
