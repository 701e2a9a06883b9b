"""Playback of a recorded session in the live graphs, and bookmarks from live and playback.

The session is a real 3-second run of the demo package on the demo
recording (120 fps, telemetry every 20 ms). Scrubbing must show exactly
what live would have shown at that moment — every frame up to it, none
after — whatever the direction of the jump; bookmarks taken with Ctrl+B
during a real run or in the playback must land in the log at the frame
that was on screen.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers.recording import PKG, TRUTH, VIDEO, copy_db, record
from helpers.window import activate, answer_next_dialog
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog, QWidget

from console.core.store import SessionStore
from console.session.replay import load_timeline


@pytest.fixture(scope="module")
def run_log(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("playback-ui")
    db = d / "sessions.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEVICELAB_HOME", str(d / "home"))
        sid = record(db, PKG, str(VIDEO), truth=str(TRUTH), fps=120)
    with SessionStore(db) as st:
        ts = st.frame_arrays(sid)["ts"]
        st.add_bookmark(sid, "digit 3 appears", frame_i=240, ts=float(ts[240]))
    return {"db": db, "id": sid}


@pytest.fixture
def log(run_log: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    return {**run_log, "db": copy_db(run_log["db"], tmp_path / "sessions.db")}


def type_note(note: str, state: dict[str, Any]) -> Callable[[QWidget], None]:
    def respond(w: QWidget) -> None:
        assert isinstance(w, QInputDialog), w
        state["label"] = w.labelText()
        w.setTextValue(note)
        w.accept()

    return respond


def shown(plots: Any) -> tuple[np.ndarray, np.ndarray]:
    """Frame indices and times (s) the graphs hold now."""
    return plots.frames.column("i").astype(int), plots.frames.column("ts").copy()


def test_playback_scrubbing_moves_the_graphs_to_the_frame_and_time_asked(
        make_window: Any, qtbot: Any, log: dict[str, Any]) -> None:
    w = make_window(db_path=log["db"])
    activate(qtbot, w)
    qtbot.keyClick(w, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    sv = w.sessions_view
    qtbot.waitUntil(lambda: sv.loaded, timeout=10_000)
    idx = sv.proxy.index(0, 2)
    rect = sv.table.visualRect(idx)
    qtbot.mouseClick(sv.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(sv.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    pb = w.playback
    assert w.tabs.currentWidget() is pb
    qtbot.waitUntil(lambda: pb.data is not None and not pb.loading, timeout=15_000)
    with SessionStore(log["db"]) as st:
        tl = load_timeline(st, log["id"])
        samples = st.telemetry(log["id"])
    ft = tl.frames["t"]
    st_t = np.array([s["ts"] for s in samples]) - tl.t0
    dur = tl.duration_s
    plots = pb.plots
    qtbot.waitUntil(plots.isVisible, timeout=5_000)
    assert not plots.pause_button.isVisible()
    assert plots.window_spin.value() == 10  # a 3 s session fills the smallest window

    def check_at(t: float) -> int:
        """The graphs hold every frame and sample up to t, and nothing after."""
        pos = int(np.searchsorted(ft, t, side="right")) - 1
        i, ts = shown(plots)
        assert i.tolist() == tl.frames["i"][:pos + 1].tolist()
        assert np.allclose(ts, ft[:pos + 1])
        x, _y = plots.panels["latency"].curves["e2e"].getData()
        assert x is not None and len(x) and float(np.max(x)) == pytest.approx(ft[pos])
        n_tel = int(np.searchsorted(st_t, t, side="right"))
        assert plots.telemetry.samples == n_tel
        assert plots.telemetry.last_t == pytest.approx(st_t[n_tel - 1])
        assert plots.playhead == pytest.approx(t)
        frame = int(tl.frames["i"][pos])
        assert pb.frame_spin.value() == frame
        assert f"frame {frame}  ·" in pb.position_label.text()
        assert f"{t:.2f} s of {dur:.2f} s" in pb.position_label.text()
        return frame

    # opened at the end: the whole session
    assert pb.position == pytest.approx(dur)
    check_at(dur)
    assert len(plots.frames) == 360
    bookmark_t = float(ft[240])
    assert [t for t, text in plots.markers() if "digit 3 appears" in text] == [
        pytest.approx(bookmark_t)]

    # drag the timeline back to 1.0 s: the graphs are rebuilt up to there
    pb.slider.setValue(1000)
    assert check_at(1.0) == int(tl.frames["i"][int(np.searchsorted(ft, 1.0, "right")) - 1])
    # the bookmark (at ~2 s) is still ahead; what the session recorded before its first
    # frame (e.g. the "package is unsigned" warning) is behind the playhead and stays
    assert [(t, x) for t, x in plots.markers() if t > 1.0] == []
    assert not any("digit 3 appears" in x for _t, x in plots.markers())
    # forward by a little: only the new rows are fed (no frame twice)
    pb.slider.setValue(2500)
    check_at(2.5)
    assert len({int(v) for v in shown(plots)[0]}) == len(plots.frames)
    assert [t for t, _x in plots.markers() if t > 1.0] == [pytest.approx(bookmark_t)]
    # go to a frame, then to a time, with the spin boxes
    pb.frame_spin.setValue(30)
    assert check_at(float(ft[30])) == 30
    pb.time_spin.setValue(0.5)
    check_at(0.5)

    # play at 10x from there, pause, and play to the end
    pb.speed_combo.setCurrentIndex(pb.speed_combo.findData(10.0))
    qtbot.mouseClick(pb.play_button, Qt.MouseButton.LeftButton)
    assert pb.playing and pb.play_button.text() == "❚❚ Pause"
    qtbot.waitUntil(lambda: pb.position > 1.2, timeout=10_000)
    qtbot.mouseClick(pb.play_button, Qt.MouseButton.LeftButton)
    assert not pb.playing
    here = pb.position
    check_at(here)
    qtbot.wait(150)
    assert pb.position == here
    qtbot.mouseClick(pb.play_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not pb.playing, timeout=15_000)
    assert pb.position == pytest.approx(dur)
    check_at(dur)
    assert len(plots.frames) == 360


def test_bookmark_in_playback_is_stored_at_the_frame_under_the_playhead(
        make_window: Any, qtbot: Any, log: dict[str, Any]) -> None:
    w = make_window(db_path=log["db"])
    activate(qtbot, w)
    w.show_playback(log["id"], 1.5)
    pb = w.playback
    qtbot.waitUntil(lambda: pb.data is not None and not pb.loading, timeout=15_000)
    frame, ts = pb.current_frame()
    assert frame is not None and ts is not None
    state: dict[str, Any] = {}
    answer_next_dialog(type_note("label flickers", state))
    qtbot.keyClick(w, Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier)
    assert state["label"] == f"Note for session {log['id']} at frame {frame}:"
    qtbot.waitUntil(lambda: f"on session {log['id']} at frame {frame}" in
                    w.log_pane.text.toPlainText(), timeout=10_000)
    with SessionStore(log["db"]) as st:
        marks = {b["note"]: b for b in st.bookmarks(log["id"])}
    assert marks["label flickers"]["frame_i"] == frame
    assert marks["label flickers"]["ts"] == pytest.approx(ts)
    # read back: the playback stays where it was and now marks it
    qtbot.waitUntil(lambda: not pb.loading and any("label flickers" in text for _t, text in
                                                   pb.plots.markers()), timeout=15_000)
    assert pb.position == pytest.approx(1.5)


def test_bookmark_from_live_is_stored_at_the_frame_on_screen(make_window: Any, qtbot: Any,
                                                             db_path: Path) -> None:
    w = make_window(db_path=db_path)
    qtbot.waitUntil(lambda: not w.package.pending, timeout=30_000)
    qtbot.waitUntil(lambda: w.devices.current().state not in ("probing", "unknown"),
                    timeout=30_000)
    activate(qtbot, w)
    w.input.fps_spin.setValue(60.0)
    w.input.loop_check.setChecked(True)
    qtbot.keyClick(w, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: w.running and w.session_id is not None
                    and w.frames_received >= 30, timeout=30_000)
    state: dict[str, Any] = {}
    answer_next_dialog(type_note("fan spins up", state))
    qtbot.keyClick(w, Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier)
    m = re.fullmatch(r"Note for session (\d+) at frame (\d+):", state["label"] or "")
    assert m is not None, state
    sid, frame = int(m.group(1)), int(m.group(2))
    assert sid == w.session_id
    qtbot.waitUntil(lambda: f"bookmark 1 on session {sid} at frame {frame}: fan spins up" in
                    w.log_pane.text.toPlainText(), timeout=10_000)
    assert any("fan spins up" in text for _t, text in w.plots.markers())
    assert w.running  # the run went on while the note was typed
    w.stop_run()
    qtbot.waitUntil(lambda: not w.running, timeout=30_000)
    with SessionStore(db_path) as st:
        (b,) = st.bookmarks(sid)
        frames = {int(r["i"]): r["ts"] for r in st.iter_frames(sid)}
    assert b["note"] == "fan spins up" and b["frame_i"] == frame
    assert b["ts"] == pytest.approx(frames[frame])  # the frame's own device time
