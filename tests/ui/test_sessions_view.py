"""The Sessions tab on a real session log: table, details, delete, reproduce, bookmarks,
export and import.

The log is recorded first by real runs on this computer (the demo fp32 and
int8 packages on the demo recording, a synthetic run with a budget); every
test works on its own copy. Everything goes through the widgets a user
touches — clicks on table rows, the tab's actions, the real dialogs answered
the way a user would — and the proof is read back from the log.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from helpers.recording import PKG, PKG_INT8, TRUTH, VIDEO, copy_db, record
from helpers.window import (
    accept_reproduce,
    answer_next_dialog,
    click_button,
    click_session,
    open_sessions,
)
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QWidget

from console.core.store import SessionStore
from console.session.replay import load_timeline, resolve_moment


@pytest.fixture(scope="module")
def demo_log(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("sessions-ui")
    db = d / "sessions.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEVICELAB_HOME", str(d / "home"))
        fp32 = record(db, PKG, str(VIDEO), truth=str(TRUTH), fps=240,
                      note="fp32 on the demo clip", tags=("demo", "fp32"))
        int8 = record(db, PKG_INT8, str(VIDEO), truth=str(TRUTH), note="int8 build",
                      tags=("demo",))
        syn = record(db, PKG, "synthetic:64x64", frames=200, budgets={"p95_ms": 1000.0})
    with SessionStore(db) as st:
        st.add_bookmark(fp32, "digit 7 first shown", frame_i=120,
                        ts=float(st.frame_arrays(fp32)["ts"][120]))
    return {"db": db, "fp32": fp32, "int8": int8, "syn": syn}


@pytest.fixture
def log(demo_log: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """This test's own copy of the recorded log."""
    return {**demo_log, "db": copy_db(demo_log["db"], tmp_path / "sessions.db")}


# -- driving the window like a user ------------------------------------------------------
def cell(sv: Any, sid: int, header: str) -> str:
    from console.ui.sessions.model import COLUMNS

    col = [h for _k, h, _t in COLUMNS].index(header)
    row = sv.visible_ids().index(sid)
    return str(sv.proxy.index(row, col).data())


# -- browse ----------------------------------------------------------------------------
def test_table_lists_sessions_with_their_figures_and_sorts(make_window: Any, qtbot: Any,
                                                           log: dict[str, Any]) -> None:
    w = make_window(db_path=log["db"])
    sv = open_sessions(qtbot, w)
    with SessionStore(log["db"]) as st:
        rows = {s["id"]: s for s in st.list_sessions()}
    assert sorted(sv.visible_ids()) == sorted(rows) and len(rows) == 3
    assert sv.count_label.text() == "3 sessions"
    for sid, s in rows.items():
        summ = s["summary"]
        assert cell(sv, sid, "Device") == "This computer"
        assert cell(sv, sid, "Package") == f"{s['package_name']}@{s['package_version']}"
        assert cell(sv, sid, "Input") == s["input_desc"]
        assert cell(sv, sid, "Frames") == str(summ["frames"]) == str(s["frames_received"])
        assert cell(sv, sid, "FPS") == f"{summ['fps']:.1f}"
        assert cell(sv, sid, "p95 ms") == f"{summ['latency_ms']['e2e']['p95']:.3f}"
        assert cell(sv, sid, "Max °C") == "–"  # this VM has no thermal zones
        assert cell(sv, sid, "Status") == "completed"
    assert cell(sv, log["fp32"], "Note / tags") == "fp32 on the demo clip #demo #fp32"
    assert cell(sv, log["syn"], "Input") == "synthetic 64x64"

    # newest first by default; click the headers to sort
    assert sv.visible_ids() == sorted(rows, reverse=True)
    header = sv.table.horizontalHeader()

    def click_header(name: str) -> None:
        from console.ui.sessions.model import COLUMNS

        col = [h for _k, h, _t in COLUMNS].index(name)
        x = header.sectionViewportPosition(col) + header.sectionSize(col) // 2
        qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                         pos=QPoint(x, header.height() // 2))
        return None

    def p95(sid: int) -> float:
        return float(rows[sid]["summary"]["latency_ms"]["e2e"]["p95"])

    click_header("p95 ms")
    first = sv.visible_ids()
    click_header("p95 ms")
    second = sv.visible_ids()
    assert {tuple(first), tuple(second)} == {tuple(sorted(rows, key=p95)),
                                            tuple(sorted(rows, key=p95, reverse=True))}
    click_header("Frames")
    frames = [rows[i]["frames_received"] for i in sv.visible_ids()]
    assert frames in (sorted(frames), sorted(frames, reverse=True))

    # search and status filter
    qtbot.keyClicks(sv.search_edit, "int8")
    assert sv.visible_ids() == [log["int8"]] and sv.count_label.text() == "1 of 3 sessions"
    sv.search_edit.clear()
    qtbot.keyClicks(sv.search_edit, "#demo")
    assert sorted(sv.visible_ids()) == sorted([log["fp32"], log["int8"]])
    sv.search_edit.clear()
    sv.status_combo.setCurrentIndex(sv.status_combo.findData("failed"))
    assert sv.visible_ids() == [] and sv.count_label.text() == "0 of 3 sessions"
    sv.status_combo.setCurrentIndex(0)
    assert len(sv.visible_ids()) == 3

    # the session tabs take the run's side docks' room; the live layout comes back
    assert not w.run_dock.isVisible() and not w.view_dock.isVisible()
    assert w.log_dock.isVisible()
    qtbot.keyClick(w, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert w.tabs.currentWidget() is w.graph_holder
    assert w.run_dock.isVisible() and w.view_dock.isVisible() and w.devices_dock.isVisible()


def test_details_show_what_the_session_recorded(make_window: Any, qtbot: Any,
                                                log: dict[str, Any]) -> None:
    w = make_window(db_path=log["db"])
    sv = open_sessions(qtbot, w)
    sid = log["fp32"]
    click_session(qtbot, sv, sid)
    text = sv.pane.details_view.toPlainText()
    with SessionStore(log["db"]) as st:
        s = st.get_session(sid)
        n_tel = len(st.telemetry(sid))
    facts = s["device_facts"]
    for fact in (s["uuid"], facts["os"], facts["kernel"], facts["cpu_model"],
                 facts["libraries"]["onnxruntime"], s["provider"], s["package_digest"],
                 s["package_model_sha256"], s["input_sha256"], str(VIDEO),
                 "fp32 on the demo clip", "demo, fp32", s["console_version"],
                 f"{s['summary']['latency_ms']['e2e']['p95']:.3f}",
                 f"{s['frames_received']} frames, {n_tel} telemetry samples"):
        assert str(fact) in text, fact
    assert f"fps\n{s['settings']['fps']}\n" in text  # the recorded settings
    assert f"truth\n{TRUTH}" in text
    assert "frame 120" in text and "digit 7 first shown" in text
    t120 = load_timeline_t(log["db"], sid, 120)
    assert sv.pane.bookmark_list.count() == 1
    assert sv.pane.bookmark_list.item(0).text() == f"frame 120 · {t120:.2f} s — digit 7 first shown"
    assert "temperature" in text and "unavailable" in text  # no thermal zones here: said so


def load_timeline_t(db: Path, sid: int, frame: int) -> float:
    with SessionStore(db) as st:
        return resolve_moment(load_timeline(st, sid), frame=frame).t


# -- delete ----------------------------------------------------------------------------
def test_delete_asks_first_and_removes_the_session(make_window: Any, qtbot: Any,
                                                   log: dict[str, Any]) -> None:
    w = make_window(db_path=log["db"])
    sv = open_sessions(qtbot, w)
    sid = log["int8"]
    click_session(qtbot, sv, sid)

    asked = answer_next_dialog(click_button("Cancel"))
    sv.delete_action.trigger()
    assert asked["dialog"] is not None and f"Delete session {sid}" in asked["dialog"].text()
    assert "cannot be undone" in asked["dialog"].text()
    with SessionStore(log["db"]) as st:
        assert st.get_session(sid) is not None  # cancelled: nothing happened
    assert sid in sv.visible_ids()

    asked = answer_next_dialog(click_button("Delete"))
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=5_000)
    sv.table.setFocus()
    qtbot.waitUntil(sv.table.hasFocus, timeout=5_000)
    qtbot.keyClick(sv.table, Qt.Key.Key_Delete)  # Del in the table asks the same
    assert asked["dialog"] is not None
    qtbot.waitUntil(lambda: sid not in sv.visible_ids(), timeout=10_000)
    with SessionStore(log["db"]) as st:
        assert st.get_session(sid) is None
        for table in ("frames", "telemetry", "events", "bookmarks"):
            n = st.conn.execute(f"SELECT COUNT(*) FROM {table} WHERE session_id=?",
                                [sid]).fetchone()[0]
            assert n == 0, table
        assert {s["id"] for s in st.list_sessions()} == {log["fp32"], log["syn"]}
    assert sv.status_line.label.text() == f"deleted session {sid}"
    assert sv.count_label.text() == "2 sessions"


# -- reproduce -------------------------------------------------------------------------
def reproduce_refused(qtbot: Any, sv: Any) -> str:
    """Reproduce the selected session (recorded device, no copies): the refusal line."""
    asked = answer_next_dialog(accept_reproduce())
    sv.reproduce_action.trigger()
    assert asked["dialog"] is not None
    qtbot.waitUntil(lambda: "replay refused" in sv.status_line.label.text(), timeout=15_000)
    return str(sv.status_line.label.text())


def test_reproduce_of_a_changed_package_is_refused_and_starts_nothing(
        make_window: Any, qtbot: Any, tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    shutil.copytree(PKG, pkg)
    db = tmp_path / "sessions.db"
    sid = record(db, pkg, str(VIDEO), frames=30)
    mf = pkg / "manifest.json"
    m = json.loads(mf.read_text())
    m["description"] = "edited after the run"
    mf.write_text(json.dumps(m, indent=2))

    w = make_window(db_path=db)
    sv = open_sessions(qtbot, w)
    click_session(qtbot, sv, sid)
    line = reproduce_refused(qtbot, sv)
    assert line.startswith(f"replay refused: package {pkg} (recorded path) differs from the "
                           f"one session {sid} ran: manifest.json sha256 is ")
    # the way out is worded for the window, not the CLI's option
    assert line.endswith("; choose a copy of the recorded package as Package copy in "
                         "Reproduce"), line
    assert "--" not in line and "\n" not in line
    assert line in w.log_pane.text.toPlainText()
    assert not w.running and w.supervisor.worker is None
    with SessionStore(db) as st:
        assert [s["id"] for s in st.list_sessions()] == [sid]  # nothing ran, nothing recorded


def test_reproduce_with_a_package_copy_after_the_recorded_one_is_gone(
        make_window: Any, qtbot: Any, tmp_path: Path) -> None:
    """The recorded package folder was moved away: Reproduce is refused, and says where
    the way out is; choosing a real copy in the dialog (Folder…) replays the session,
    checked against the recorded sha256 all the same."""
    pkg = tmp_path / "pkg"
    shutil.copytree(PKG, pkg)
    db = tmp_path / "sessions.db"
    sid = record(db, pkg, str(VIDEO), frames=40)
    copy = tmp_path / "elsewhere" / "digits-cnn"
    copy.parent.mkdir()
    pkg.rename(copy)  # the recorded path is gone; the same files live on elsewhere

    w = make_window(db_path=db)
    sv = open_sessions(qtbot, w)
    click_session(qtbot, sv, sid)
    line = reproduce_refused(qtbot, sv)
    assert line.startswith(f"replay refused: package digits-cnn@1.0.0 of session {sid} not "
                           f"found (looked at {pkg}")
    assert "choose a copy of it as Package copy in Reproduce (manifest sha256 " in line
    assert "--" not in line
    assert line in w.log_pane.text.toPlainText()
    assert not w.running

    asked = answer_next_dialog(accept_reproduce(package_folder=copy))
    sv.reproduce_action.trigger()
    assert asked["dialog"] is not None
    qtbot.waitUntil(lambda: w.running, timeout=15_000)
    qtbot.waitUntil(lambda: not w.running and w.last_result is not None, timeout=60_000)
    res = w.last_result
    assert res.status == "completed", res.error
    with SessionStore(db) as st:
        a, b = st.get_session(sid), st.get_session(res.session_id)
        assert b["replay_of"] == sid
        assert b["package_source"] == str(copy)  # the copy ran…
        for key in ("package_digest", "package_model_sha256", "input_sha256"):
            assert b[key] == a[key], key  # …and it is the recorded package
        assert st.frame_count(res.session_id) == st.frame_count(sid) == 40
    assert sv.copy_folder == copy.parent  # the next file dialog opens there
    qtbot.waitUntil(lambda: f"session {res.session_id} reproduces session {sid}" in
                    w.log_pane.text.toPlainText(), timeout=10_000)


def test_reproduce_with_a_recording_copy_checks_its_sha256(make_window: Any, qtbot: Any,
                                                           tmp_path: Path) -> None:
    """The customer's clip moved: a different clip offered as Recording copy is refused
    (its sha256 is not the recorded one); the real copy, chosen through Choose…, replays."""
    clip = tmp_path / "customer.avi"
    shutil.copyfile(VIDEO, clip)
    db = tmp_path / "sessions.db"
    sid = record(db, PKG, str(clip), frames=30)
    moved = tmp_path / "archive" / "customer.avi"
    moved.parent.mkdir()
    clip.rename(moved)
    other = tmp_path / "other.avi"
    other.write_bytes(VIDEO.read_bytes()[:-4096])  # a damaged copy: another sha256

    w = make_window(db_path=db)
    sv = open_sessions(qtbot, w)
    click_session(qtbot, sv, sid)
    asked = answer_next_dialog(accept_reproduce(recording=other))
    sv.reproduce_action.trigger()
    assert asked["dialog"] is not None
    qtbot.waitUntil(lambda: "replay refused" in sv.status_line.label.text(), timeout=15_000)
    line = sv.status_line.label.text()
    assert f"input {other} (Recording copy) differs from the one session {sid} ran: " \
           "sha256 " in line, line
    assert "--" not in line and not w.running

    asked = answer_next_dialog(accept_reproduce(recording=moved))
    sv.reproduce_action.trigger()
    assert asked["dialog"] is not None
    qtbot.waitUntil(lambda: not w.running and w.last_result is not None
                    and w.last_result.session_id != sid, timeout=60_000)
    res = w.last_result
    assert res.status == "completed", res.error
    with SessionStore(db) as st:
        a, b = st.get_session(sid), st.get_session(res.session_id)
        assert b["replay_of"] == sid and b["input_sha256"] == a["input_sha256"]
        assert b["input_info"]["path"] == str(moved)
        assert st.frame_count(res.session_id) == 30


def test_reproduce_records_a_new_session_linked_to_the_original(make_window: Any, qtbot: Any,
                                                                log: dict[str, Any]) -> None:
    w = make_window(db_path=log["db"])
    sv = open_sessions(qtbot, w)
    sid = log["int8"]
    click_session(qtbot, sv, sid)
    asked = answer_next_dialog(accept_reproduce("local"))
    sv.reproduce_action.trigger()
    assert asked["dialog"] is not None
    qtbot.waitUntil(lambda: w.running, timeout=15_000)
    assert w.tabs.currentWidget() is w.graph_holder  # the replay is watched live
    assert not sv.reproduce_action.isEnabled()  # one run at a time
    qtbot.waitUntil(lambda: not w.running and w.last_result is not None, timeout=60_000)
    res = w.last_result
    assert res.status == "completed", res.error
    new = res.session_id
    with SessionStore(log["db"]) as st:
        a, b = st.get_session(sid), st.get_session(new)
        assert b["replay_of"] == sid
        for key in ("package_digest", "package_model_sha256", "input_sha256", "input_desc",
                    "device_name"):
            assert b[key] == a[key], key
        assert b["settings"]["fps"] == a["settings"]["fps"]
        assert b["settings"]["truth"] == a["settings"]["truth"]
        assert st.frame_count(new) == st.frame_count(sid) == 360
    # the list was refreshed when the run started, and again when it ended
    qtbot.waitUntil(lambda: new in sv.visible_ids()
                    and cell(sv, new, "Status") == f"completed, replay of {sid}",
                    timeout=10_000)
    qtbot.waitUntil(lambda: f"session {new} reproduces session {sid}" in
                    w.log_pane.text.toPlainText(), timeout=10_000)
    assert "digits-cnn-int8@1.0.0" in w.summary.toPlainText()


# -- bookmarks ---------------------------------------------------------------------------
def test_bookmark_added_in_the_sessions_tab(make_window: Any, qtbot: Any,
                                            log: dict[str, Any]) -> None:
    w = make_window(db_path=log["db"])
    sv = open_sessions(qtbot, w)
    sid = log["fp32"]
    click_session(qtbot, sv, sid)

    def respond(d: QWidget) -> None:
        from console.ui.sessions.dialogs import BookmarkDialog

        assert isinstance(d, BookmarkDialog)
        d.at_time.setChecked(True)
        d.time_spin.setValue(0.75)
        qtbot.keyClicks(d.note_edit, "fan spins up")
        d._accept()

    answer_next_dialog(respond)
    qtbot.mouseClick(sv.pane.add_bookmark_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: sv.pane.bookmark_list.count() == 2, timeout=10_000)
    with SessionStore(log["db"]) as st:
        moment = resolve_moment(load_timeline(st, sid), time_s=0.75)
        marks = st.bookmarks(sid)
    assert [(b["frame_i"], b["note"]) for b in marks] == [
        (120, "digit 7 first shown"), (moment.frame_i, "fan spins up")]
    assert marks[1]["ts"] == pytest.approx(moment.ts)
    assert sv.pane.bookmark_list.item(1).text() == \
        f"frame {moment.frame_i} · {moment.t:.2f} s — fan spins up"


# -- export / import ----------------------------------------------------------------------
def test_export_bundle_then_import_it_back(make_window: Any, qtbot: Any, log: dict[str, Any],
                                           tmp_path: Path) -> None:
    w = make_window(db_path=log["db"])
    sv = open_sessions(qtbot, w)
    sid = log["fp32"]
    click_session(qtbot, sv, sid)
    bundle = tmp_path / "out" / "run.dlbundle"
    bundle.parent.mkdir()

    def respond(d: QWidget) -> None:
        from console.ui.sessions.dialogs import ExportDialog

        assert isinstance(d, ExportDialog)
        d.set_format("bundle")
        assert d.with_package.isVisible()
        d.path_edit.setText(str(bundle))
        d.with_package.setChecked(True)
        d._accept()

    answer_next_dialog(respond)
    sv.export_action.trigger()
    qtbot.waitUntil(lambda: not sv.busy and sv.transfers.last_export is not None, timeout=30_000)
    assert sv.status_line.label.text() == f"exported session {sid} as bundle to {bundle}"
    assert bundle.is_file()

    report = tmp_path / "out" / "report.html"
    sv.transfers.export_to(sid, "html", report)
    qtbot.waitUntil(lambda: not sv.busy, timeout=30_000)
    page = report.read_text()
    assert "<svg" in page and "digit 7 first shown" in page

    with SessionStore(log["db"]) as st:
        uuid, frames = st.get_session(sid)["uuid"], st.frame_count(sid)
    asked = answer_next_dialog(click_button("Delete"))
    sv.delete_action.trigger()
    assert asked["dialog"] is not None
    qtbot.waitUntil(lambda: sid not in sv.visible_ids(), timeout=10_000)

    sv.transfers.import_file(bundle)
    qtbot.waitUntil(lambda: not sv.busy and sv.transfers.last_import is not None, timeout=30_000)
    new = sv.transfers.last_import.session_id
    assert sv.status_line.label.text() == f"imported run.dlbundle as session {new}"
    qtbot.waitUntil(lambda: sv.current_id() == new and sv.details is not None
                    and sv.details.session["id"] == new, timeout=10_000)
    with SessionStore(log["db"]) as st:
        s = st.get_session(new)
        assert s["uuid"] == uuid and st.frame_count(new) == frames
        assert [b["note"] for b in st.bookmarks(new)] == ["digit 7 first shown"]
    # importing it again changes nothing
    sv.transfers.import_file(bundle)
    qtbot.waitUntil(lambda: not sv.busy and "already in the log" in sv.status_line.label.text(),
                    timeout=30_000)
    assert sv.count_label.text() == "3 sessions"
