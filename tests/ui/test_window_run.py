"""The window drives real runs: real agent subprocess, real onnxruntime, real SQLite.

Everything goes through the widgets a user touches (path fields, spin boxes,
the Start/Stop buttons, F5, closing the window); the proof is read back
from the session log the run wrote.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from helpers.window import activate, answer_next_dialog, choose_in_file_dialog, open_sessions
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from console import __version__
from console.core.package import open_package, verify_package, zip_package
from console.core.store import SessionStore
from console.ui.sessions.model import COLUMNS

ROOT = Path(__file__).resolve().parents[2]
DEMO_PACKAGE = ROOT / "resources" / "packages" / "digits-cnn"
DEMO_VIDEO = ROOT / "resources" / "recordings" / "digits-demo.avi"
DEMO_TRUTH = ROOT / "resources" / "recordings" / "digits-demo.truth.csv"


def wait_ready(qtbot: Any, w: Any) -> None:
    """The startup jobs (package verification, local probe) have answered."""
    qtbot.waitUntil(lambda: not w.package.pending, timeout=30_000)
    qtbot.waitUntil(lambda: w.devices.current().state not in ("probing", "unknown"),
                    timeout=30_000)


def type_path(qtbot: Any, edit: Any, text: str) -> None:
    edit.clear()
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    edit.editingFinished.emit()


def test_fresh_start_preselects_demo_and_this_computer(make_window: Any, qtbot: Any,
                                                       demo_package: Path) -> None:
    w = make_window()
    wait_ready(qtbot, w)
    assert w.devices.current().name == "This computer"
    assert Path(w.package.path_edit.text()) == DEMO_PACKAGE
    assert w.package.verification is not None and w.package.verification.ok
    assert "verified" in w.package.status.text()
    assert w.input.kind() == "video" and Path(w.input.spec()) == DEMO_VIDEO
    assert Path(w.input.truth() or "") == DEMO_TRUTH
    qtbot.waitUntil(lambda: "360 frames" in w.input.video_info_label.text(), timeout=10_000)
    assert "CPUExecutionProvider" in [w.package.provider_combo.itemText(k)
                                      for k in range(w.package.provider_combo.count())]
    assert w.commands.start.isEnabled() and not w.commands.stop.isEnabled()


def test_full_run_through_the_widgets_is_recorded(make_window: Any, qtbot: Any,
                                                  db_path: Path, demo_package: Path,
                                                  demo_video: Path) -> None:
    w = make_window(db_path=db_path)
    wait_ready(qtbot, w)
    # choose the package and the input the way a user does
    type_path(qtbot, w.package.path_edit, str(demo_package))
    qtbot.waitUntil(lambda: not w.package.pending and w.package.verification is not None,
                    timeout=30_000)
    assert w.package.verification.ok
    w.input.set_kind("synthetic")
    w.input.set_kind("video")
    type_path(qtbot, w.input.video_edit, str(demo_video))
    assert Path(w.input.truth() or "") == DEMO_TRUTH  # picked up next to the recording
    w.input.fps_spin.setValue(60.0)
    w.input.loop_check.setChecked(True)  # runs until Stop
    qtbot.keyClicks(w.run_panel.note_edit, "window test #demo")

    qtbot.mouseClick(w.run_panel.start_button, Qt.MouseButton.LeftButton)
    assert w.running and not w.commands.start.isEnabled()
    qtbot.waitUntil(lambda: w.live_view.frames_painted >= 5 and w.frames_received >= 60,
                    timeout=30_000)
    qtbot.waitUntil(lambda: w.plots.redraws > 5, timeout=5_000)
    assert w.session_id is not None
    assert w.plots.placeholder("latency") == "" and w.plots.placeholder("fps") == ""
    qtbot.keyClick(w, Qt.Key.Key_F5, Qt.KeyboardModifier.ShiftModifier)  # Stop
    qtbot.waitUntil(lambda: not w.running, timeout=30_000)

    result = w.last_result
    assert result is not None and result.status == "stopped", result
    shown = list(w.live_view.shown)
    assert len(shown) >= 5
    with SessionStore(db_path) as st:
        s = st.get_session(w.session_id)
        assert s is not None and s["status"] == "stopped"
        assert s["note"] == "window test #demo"
        assert s["tags"] == ["demo"]  # the note's #word is a tag of the session
        assert s["package_name"] == "digits-cnn" and s["input_kind"] == "video"
        assert s["frames_received"] == w.frames_received == st.frame_count(s["id"])
        assert s["settings"]["loop"] is True and s["settings"]["fps"] == 60.0
        top1 = {int(r["i"]): r["top1"] for r in st.iter_frames(s["id"])}
    # every frame the live view showed is in the log, with the class the view drew
    for i, _cls in shown:
        assert i in top1, f"shown frame {i} is not in the session log"
    # the previews carried the model's output: the agent sends a preview right after its
    # frame, so (nearly) every preview is drawn with its class; a preview that overtook
    # its frame's output is drawn without one, never with another frame's class
    drawn = [(i, cls) for i, cls in shown if cls is not None]
    assert len(drawn) >= max(5, 0.9 * len(shown)), f"{len(drawn)} of {len(shown)} drawn"
    for i, cls in drawn:
        assert top1[i] == cls, f"frame {i}: view drew class {cls}, log has {top1[i]}"
    # the cold start in the log pane: every figure with its unit, adding up
    with SessionStore(db_path) as st:
        cold = st.get_session(s["id"])["cold_start"]
    line = (f"cold start {cold['total_ms']:.0f} ms on CPUExecutionProvider: package check "
            f"{cold['package_ms']:.0f} ms + onnxruntime session {cold['session_ms']:.0f} ms + "
            f"first inference {cold['first_infer_ms']:.1f} ms")
    assert line in w.log_pane.text.toPlainText()
    # the summary panel shows this session's figures
    text = w.summary.toPlainText()
    assert f"session {w.session_id}" in text and "stopped" in text
    assert re.search(rf"frames\s+{s['summary']['frames']}\s", text)
    assert w.commands.start.isEnabled() and not w.commands.stop.isEnabled()
    assert w.devices.current().state == "ready"

    # the Sessions tab finds it by its tag (a "#word" searches the stored tags, not the note)
    sv = open_sessions(qtbot, w)
    qtbot.waitUntil(lambda: s["id"] in sv.visible_ids(), timeout=10_000)
    qtbot.keyClicks(sv.search_edit, "#demo")
    assert sv.visible_ids() == [s["id"]]
    k = [h for _k, h, _t in COLUMNS].index("Note / tags")
    assert sv.proxy.index(0, k).data() == "window test #demo"  # the tag is not shown twice
    sv.search_edit.clear()
    qtbot.keyClicks(sv.search_edit, "#thermal")
    assert sv.visible_ids() == []


def test_f5_runs_to_completion_and_summary_matches_the_log(make_window: Any, qtbot: Any,
                                                            db_path: Path) -> None:
    w = make_window(db_path=db_path, input="synthetic:64x64")
    wait_ready(qtbot, w)
    assert w.input.kind() == "synthetic"
    w.input.frames_spin.setValue(300)
    qtbot.keyClick(w, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: w.last_result is not None and not w.running, timeout=60_000)
    res = w.last_result
    assert res.status == "completed", res.error
    with SessionStore(db_path) as st:
        s = st.get_session(res.session_id)
        assert s["status"] == "completed" and st.frame_count(s["id"]) == 300
        assert s["summary"]["frames"] == 300
    assert w.frames_received == 300
    assert len(w.plots.frames) == 300  # every frame reached the graphs' history
    lat = s["summary"]["latency_ms"]["e2e"]
    text = w.summary.toPlainText()
    assert f"{lat['p50']:.3f}" in text and f"{lat['p99']:.3f}" in text
    assert "unavailable (the device reports no thermal zones)" in text
    rd = s["summary"]["read_ms"]  # decode time of the recording, a row of its own
    assert re.search(rf"read\*\s+{rd['p50']:.3f}\s", text), text


def test_closing_during_a_run_stops_it_and_keeps_the_session(make_window: Any, qtbot: Any,
                                                             db_path: Path) -> None:
    w = make_window(db_path=db_path, input=str(DEMO_VIDEO))
    wait_ready(qtbot, w)
    w.input.fps_spin.setValue(60.0)
    w.input.loop_check.setChecked(True)
    w.start_run()
    qtbot.waitUntil(lambda: w.frames_received >= 30, timeout=30_000)
    assert w.close() is False  # not yet: the run is stopping first
    assert w.isVisible() and not w.commands.start.isEnabled()
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=30_000)
    assert not w.running
    assert w.last_result is not None and w.last_result.status == "stopped"
    with SessionStore(db_path) as st:
        s = st.get_session(w.last_result.session_id)
        assert s["status"] == "stopped" and s["ended_at"] is not None
        assert st.frame_count(s["id"]) == s["frames_received"] >= 30


def test_verification_failure_is_shown_and_start_is_refused(make_window: Any, qtbot: Any,
                                                            tmp_path: Path, db_path: Path) -> None:
    bad = tmp_path / "tampered"
    shutil.copytree(DEMO_PACKAGE, bad)
    with open(bad / "model.onnx", "r+b") as fh:  # one flipped byte in the model
        fh.seek(100)
        b = fh.read(1)
        fh.seek(100)
        fh.write(bytes([b[0] ^ 0xFF]))
    expected = verify_package(bad).first_line()
    assert "model.onnx" in expected

    w = make_window(db_path=db_path, package=str(bad), input="synthetic:32x32")
    wait_ready(qtbot, w)
    assert w.package.verification is not None and not w.package.verification.ok
    status = w.package.status.text()
    assert "refused" in status and html.escape(expected) in status
    assert w.package.status.isVisible()
    w.start_run()
    assert not w.running
    assert "refused" in w.run_panel.state_label.text()
    assert expected in w.log_pane.text.toPlainText()
    assert not db_path.exists() or SessionStore(db_path).list_sessions() == []

    # a good package afterwards clears it
    w.package.set_path(str(DEMO_PACKAGE))
    qtbot.waitUntil(lambda: not w.package.pending, timeout=30_000)
    assert w.package.verification.ok and "verified" in w.package.status.text()


def test_a_run_refused_by_the_core_is_a_message_not_a_dead_window(make_window: Any, qtbot: Any,
                                                                  tmp_path: Path,
                                                                  db_path: Path) -> None:
    missing = tmp_path / "gone.avi"
    w = make_window(db_path=db_path, input=str(missing))
    wait_ready(qtbot, w)
    qtbot.waitUntil(lambda: f"video file not found: {missing}" in
                    w.input.video_info_label.text(), timeout=10_000)
    w.start_run()
    qtbot.waitUntil(lambda: not w.running, timeout=30_000)
    assert w.last_result is None
    assert f"video file not found: {missing}" in w.run_panel.state_label.text()
    assert "refused" in w.summary.toPlainText()
    assert f"video file not found: {missing}" in w.log_pane.text.toPlainText()
    assert w.commands.start.isEnabled()
    # and the window still runs things
    w.input.set_kind("synthetic")
    w.input.frames_spin.setValue(20)
    w.start_run()
    qtbot.waitUntil(lambda: w.last_result is not None and not w.running, timeout=60_000)
    assert w.last_result.status == "completed"


def test_an_agent_killed_mid_run_is_a_failed_session_shown_in_the_window(
        make_window: Any, qtbot: Any, db_path: Path) -> None:
    w = make_window(db_path=db_path, input=str(DEMO_VIDEO))
    wait_ready(qtbot, w)
    w.input.fps_spin.setValue(60.0)
    w.input.loop_check.setChecked(True)
    w.start_run()
    qtbot.waitUntil(lambda: w.frames_received >= 30 and w.agent_pid is not None, timeout=30_000)
    os.kill(w.agent_pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: not w.running, timeout=30_000)
    res = w.last_result
    assert res is not None and res.status == "failed"
    assert "SIGKILL" in (res.error or "")
    assert "failed" in w.run_panel.state_label.text() and "SIGKILL" in w.summary.toPlainText()
    assert "SIGKILL" in w.log_pane.text.toPlainText()
    with SessionStore(db_path) as st:
        s = st.get_session(res.session_id)
        assert s["status"] == "failed" and st.frame_count(s["id"]) == s["frames_received"] >= 30
    assert w.commands.start.isEnabled()  # and the window goes on


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_theme_choice_changes_palette_and_graphs(make_window: Any, qtbot: Any,
                                                 theme: str) -> None:
    from PySide6.QtWidgets import QApplication

    from console.core.settings import load_settings
    from console.ui.live.plots import PALETTES

    w = make_window()
    wait_ready(qtbot, w)
    w.set_theme_choice(theme)
    window_color = QApplication.instance().palette().window().color()
    assert (window_color.lightness() < 100) == (theme == "dark")
    assert w.plots.colors is PALETTES[theme]
    qtbot.waitUntil(lambda: load_settings().preferences.get("theme") == theme,
                    timeout=10_000)  # written by a job


def test_status_bar_shows_device_package_session_frames_dropped_and_elapsed(
        make_window: Any, qtbot: Any, db_path: Path) -> None:
    w = make_window(db_path=db_path, input="synthetic:64x64")
    wait_ready(qtbot, w)
    assert w.status.device.text() == "device: This computer"
    assert w.status.package.text() == "package: digits-cnn@1.0.0"
    assert w.status.session.text() == "no session"
    w.input.frames_spin.setValue(120)
    w.input.fps_spin.setValue(100.0)  # ~1.2 s: elapsed has something to count
    t0 = time.monotonic()
    qtbot.keyClick(w, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: w.last_result is not None and not w.running, timeout=60_000)
    wall = time.monotonic() - t0
    res = w.last_result
    assert res.status == "completed", res.error
    with SessionStore(db_path) as st:
        recorded = st.frame_count(res.session_id)
    assert recorded == 120
    assert w.status.session.text() == f"session {res.session_id}"
    # every index 0..119 arrived: 0 dropped, said so (the final update after the run)
    qtbot.waitUntil(lambda: w.status.frames.text() == "frames 120 · dropped 0", timeout=5_000)
    m = re.fullmatch(r"elapsed (\d+):(\d\d\.\d)", w.status.elapsed.text())
    assert m, w.status.elapsed.text()
    elapsed = int(m.group(1)) * 60 + float(m.group(2))
    assert 1.0 <= elapsed <= wall + 0.1  # 120 frames at 100 fps take over a second
    # the clock stopped with the run
    text = w.status.elapsed.text()
    qtbot.wait(700)
    w.presenter.update_status()
    assert w.status.elapsed.text() == text


def test_opening_a_zip_package_from_the_window(make_window: Any, qtbot: Any, tmp_path: Path,
                                               db_path: Path) -> None:
    z = tmp_path / "zips" / "digits-cnn.zip"
    z.parent.mkdir()
    z.write_bytes(zip_package(open_package(DEMO_PACKAGE)))
    w = make_window(db_path=db_path, input="synthetic:64x64")
    wait_ready(qtbot, w)
    activate(qtbot, w)
    picked = answer_next_dialog(choose_in_file_dialog(z), kind=QFileDialog)
    qtbot.keyClick(w, Qt.Key.Key_O,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert picked["dialog"] is not None, "Ctrl+Shift+O opened no file dialog"
    assert w.package.path_edit.text() == str(z)
    qtbot.waitUntil(lambda: not w.package.pending and w.package.verification is not None,
                    timeout=30_000)
    assert w.package.verification.ok, w.package.verification.first_line()
    assert "verified" in w.package.status.text()
    assert w.package.fields["name"].text().startswith("digits-cnn")
    assert w.status.package.text() == "package: digits-cnn@1.0.0"
    assert w.package.recent()[0] == str(z)
    # and it runs from the .zip
    w.input.frames_spin.setValue(20)
    w.start_run()
    qtbot.waitUntil(lambda: w.last_result is not None and not w.running, timeout=60_000)
    assert w.last_result.status == "completed", w.last_result.error
    with SessionStore(db_path) as st:
        s = st.get_session(w.last_result.session_id)
        assert s["package_source"] == str(z) and st.frame_count(s["id"]) == 20


def test_about_box_names_the_version(make_window: Any, qtbot: Any) -> None:
    w = make_window()
    seen: dict[str, str] = {}

    def respond(d: Any) -> None:
        assert isinstance(d, QMessageBox)
        seen["title"], seen["text"] = d.windowTitle(), d.text()
        d.accept()

    asked = answer_next_dialog(respond)
    about = next(a for a in w.menuBar().actions() if a.text() == "&Help").menu()
    next(a for a in about.actions() if a.text() == "About").trigger()
    assert asked["dialog"] is not None
    assert seen["title"] == "About Device Lab Console"
    assert f"Device Lab Console {__version__}" in seen["text"]
