"""The rough edges a newcomer met on the first run (issue 17), each driven in the real
window or the real graphs (pytest-qt, offscreen), each failing without its fix.

Runs use the real local agent; the failing run is a stream nothing answers on
(127.0.0.1:9), which the agent reports like any unreachable camera.
"""

from __future__ import annotations

import html
import shlex
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt

from console.core.store import SessionStore
from console.session.trust import UNSIGNED_WARNING
from console.ui.live.data import Batch
from console.ui.live.markers import SPIKE_LEGEND
from console.ui.live.plots import LivePlots
from console.ui.packages.panel import WARN_COLOR

ROOT = Path(__file__).resolve().parents[2]
DETECTOR = ROOT / "resources" / "packages" / "nanodet-g-coco"
CLIP = ROOT / "resources" / "recordings" / "opencv-vtest.mp4"
T0 = 1_700_000_000.0
DEAD_STREAM = "rtsp://127.0.0.1:9/nothing"


def rows(t_from: float, t_to: float, fps: float, e2e: float, start_i: int = 0) -> np.ndarray:
    ts = np.arange(t_from, t_to, 1.0 / fps)
    out = np.empty((len(ts), 6))
    out[:, 0] = T0 + ts
    out[:, 1], out[:, 2], out[:, 3] = 0.05, e2e - 0.1, 0.05
    out[:, 4] = e2e
    out[:, 5] = np.arange(start_i, start_i + len(ts))
    return out


def make_plots(qtbot: Any, w: int = 900, h: int = 900) -> LivePlots:
    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.resize(w, h)
    plots.show()
    qtbot.waitExposed(plots)
    plots.reset()
    return plots


def wait_ready(qtbot: Any, w: Any) -> None:
    qtbot.waitUntil(lambda: not w.package.pending and not w.input.pending, timeout=30_000)
    qtbot.waitUntil(lambda: w.devices.current().state not in ("probing", "unknown"),
                    timeout=30_000)


def test_a_run_shorter_than_a_second_fills_every_frame_plot(qtbot: Any) -> None:
    plots = make_plots(qtbot)
    for k in range(4):  # 0.13 s at 2 800 fps, in display-timer batches
        plots.ingest(Batch(rows(k * 0.0325, (k + 1) * 0.0325, 2800, 0.35, start_i=k * 91)))
        plots.redraw()
    plots.stop("the run ended")
    x0, x1 = plots.panels["latency"].item.getViewBox().viewRange()[0]
    span = plots.frames.last_t()
    assert span is not None and span < 0.2
    assert x0 == 0.0 and span <= x1 <= span * 1.1, (x0, x1)  # its own span, not 60 s
    fx, fy = plots.panels["fps"].points("fps")
    assert len(fx) >= 5 and np.allclose(fy, 2800, rtol=0.15), fy  # a line, what the title says
    assert "2800" in plots.title("fps") or "2799" in plots.title("fps")
    y0, y1 = plots.panels["fps"].item.getViewBox().viewRange()[1]
    assert y0 == 0.0 and y1 >= fy.max()  # not a 0-1 axis
    lx, _ly = plots.panels["latency"].points("e2e")
    assert len(lx) and lx.max() > 0.1


def test_start_with_an_input_the_input_dock_rejected_is_refused_before_running(
        make_window: Any, qtbot: Any, db_path: Path) -> None:
    readme = ROOT / "README.md"
    w = make_window(db_path=db_path, input=str(readme))
    w.start_when_ready()  # what --start does, while the dock still reads the file
    qtbot.waitUntil(lambda: w.run_panel.state == "refused", timeout=30_000)
    assert "OpenCV cannot open README.md as a video" in w.input.video_info_label.text()
    assert "OpenCV cannot open README.md" in w.run_panel.state_label.text()
    assert not w.running and w.supervisor.run is None  # nothing was started
    w.start_run()  # and Start (F5) the same
    assert w.supervisor.run is None and w.run_panel.state == "refused"
    if db_path.exists():
        with SessionStore(db_path) as st:
            assert st.list_sessions() == []


def test_after_a_failed_run_every_waiting_text_says_what_happened(
        make_window: Any, qtbot: Any, db_path: Path) -> None:
    w = make_window(db_path=db_path, input=DEAD_STREAM)
    w.resize(1280, 800)
    wait_ready(qtbot, w)
    w.start_run()
    qtbot.waitUntil(lambda: w.last_result is not None and not w.running, timeout=60_000)
    res = w.last_result
    assert res.status == "failed" and "did not answer" in (res.error or "")
    view = w.live_view.placeholder
    assert "starting" not in view and res.error in view, view
    for key in w.plots.panels:
        text = w.plots.placeholder(key)
        assert "waiting" not in text and "the run failed" in text, (key, text)
        assert "━" not in w.plots.panels[key].title.text  # no key over an empty plot
    label = w.run_panel.state_label
    assert res.error in label.toolTip()
    qtbot.waitUntil(lambda: label.height() >= label.heightForWidth(label.width()),
                    timeout=5_000)  # every wrapped line of the error is on screen


def test_path_fields_show_the_file_name_end(make_window: Any, qtbot: Any) -> None:
    w = make_window(input=str(CLIP))
    wait_ready(qtbot, w)
    for field in (w.input.video_edit, w.package.path_edit):
        field.setFixedWidth(160)
        field.clearFocus()
        full = field.text()
        shown = field.shown_text()
        assert shown != full and shown.startswith("…"), shown
        assert full.endswith(shown[1:]), (full, shown)  # the end, file name included
        assert field.toolTip() == full
    assert w.input.video_edit.shown_text().endswith("opencv-vtest.mp4")
    w.input.video_edit.setFocus()
    qtbot.waitUntil(lambda: w.input.video_edit.hasFocus(), timeout=5_000)
    assert w.input.video_edit.shown_text() == str(CLIP)  # editing shows it whole


def test_log_lines_wrap_instead_of_running_off_the_pane(make_window: Any, qtbot: Any) -> None:
    w = make_window()
    pane = w.log_pane
    pane.resize(420, 200)
    line = "session 1 failed: " + " ".join(["/a/rather/long/path/to/some/file.mp4"] * 8)
    pane.add("error", line)
    doc = pane.text.document()
    block = next(doc.findBlockByNumber(k) for k in range(doc.blockCount())
                 if doc.findBlockByNumber(k).text().endswith(line))
    qtbot.waitUntil(lambda: block.layout().lineCount() > 1, timeout=5_000)  # wrapped
    assert pane.text.horizontalScrollBar().maximum() == 0  # nothing to scroll sideways


def test_cpu_legend_stays_clear_of_its_curve(qtbot: Any) -> None:
    plots = make_plots(qtbot, 560, 430)  # the graphs' size in the 1280×800 window
    tele = [(T0 + 0.1 * k, {"cpu_sys": 100.0, "cpu_agent": 99.0 + (k % 2), "rss_mb": 200.0,
                           "mem_used_mb": 1200.0, "mem_total_mb": 24000.0})
            for k in range(60)]
    plots.ingest(Batch(rows(0.0, 6.0, 10, 50.0), tele))
    plots.redraw(force=True)
    qtbot.wait(50)
    plots.redraw(force=True)
    for key in ("cpu", "memory", "latency"):
        panel = plots.panels[key]
        vb = panel.item.getViewBox()
        header = panel.title.sceneBoundingRect()
        shown = html.unescape(panel.title.text)
        for name, _item in panel.keys:  # every curve is named in the key, in the header
            assert name in shown, (key, name, shown)
        for name, curve in panel.curves.items():
            x, y = curve.getData()
            if y is None or not len(y):
                continue
            top = vb.mapViewToScene(QPointF(float(x[int(np.argmax(y))]), float(np.max(y))))
            assert vb.sceneBoundingRect().adjusted(-1, -1, 1, 1).contains(top), (key, name)
            assert top.y() > header.bottom(), (key, name, top.y(), header.bottom())
    assert not plots.panels["cpu"].item.legend  # no legend floating over the plot


def test_spike_triangles_have_a_legend_entry_and_a_tooltip(qtbot: Any) -> None:
    plots = make_plots(qtbot)
    for tick in range(40):  # 4 s at 100 fps with one spike at 3 s
        batch = rows(tick * 0.1, (tick + 1) * 0.1, 100, 5.0, start_i=tick * 10)
        if tick == 30:
            batch[0, 4] = 60.0
        plots.ingest(Batch(batch))
        plots.redraw()
    plots.stop()
    assert [s.frame for s in plots.spikes] == [300]
    lat = plots.panels["latency"]
    assert SPIKE_LEGEND in [name for name, _item in lat.keys]
    assert "▼" in lat.title.text and "spike" in lat.title.text
    vb = plots.panels["latency"].item.getViewBox()
    qtbot.wait(50)  # laid out
    at = plots.view.mapFromScene(vb.mapViewToScene(QPointF(3.0, 60.0)))
    for dx in (-4, 0):  # enter, then rest on the triangle
        qtbot.mouseMove(plots.view.viewport(), at + QPoint(dx, 0))
        qtbot.wait(30)
    qtbot.waitUntil(lambda: "latency spike at 3.00 s, frame 300" in vb.toolTip(),
                    timeout=5_000)
    assert "60.0 ms" in vb.toolTip()


def test_unsigned_package_under_warn_is_neutral_information(make_window: Any, qtbot: Any,
                                                             db_path: Path) -> None:
    w = make_window(db_path=db_path, input="synthetic:32x32")
    wait_ready(qtbot, w)
    ver = w.package.verification
    assert ver is not None and ver.ok and UNSIGNED_WARNING in ver.warnings  # it is unsigned
    status = w.package.status.text()
    assert "unsigned" in status and WARN_COLOR not in status and "⚠" not in status
    w.input.frames_spin.setValue(50)
    w.start_run()
    qtbot.waitUntil(lambda: w.last_result is not None and not w.running, timeout=60_000)
    assert w.last_result.status == "completed"
    assert not [t for _t, t in w.plots.markers() if "unsigned" in t]  # no amber line
    unsigned = [(lvl, t) for lvl, t in w.log_pane.lines if "unsigned" in t]
    assert unsigned and all(lvl == "info" for lvl, _t in unsigned), unsigned
    assert w.supervisor.run.warnings == 0


def test_scripts_run_paces_the_detector_demo_at_the_recordings_rate_and_loops(
        make_window: Any, qtbot: Any) -> None:
    from console.ui.app import parse_args

    script = (ROOT / "scripts" / "run").read_text()
    line = script.split("set -- ", 1)[1].split("\n  if", 1)[0].replace("\\\n", " ")
    args = parse_args(shlex.split(line))
    assert args.start and args.fps == "recording" and args.loop is True
    w = make_window(package=str(ROOT / args.package), input=str(ROOT / args.input),
                    device=args.device, fps=args.fps, loop=args.loop)
    wait_ready(qtbot, w)
    assert Path(w.package.current_path()) == DETECTOR and w.package.verification.ok
    assert Path(w.input.spec()) == CLIP
    assert w.input.info["fps"] == 10.0
    limits = w.input.limits()
    assert limits["fps"] == 10.0 and limits["loop"] is True  # paced, and on for good
    assert w.input.loop_check.checkState() == Qt.CheckState.Checked
