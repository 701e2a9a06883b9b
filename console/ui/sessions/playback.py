"""The Playback tab: a recorded session shown in the same graphs as a live run.

An issue can be shown without the device: the session's frames and
telemetry go through the live path — :class:`~console.ui.live.plots.LivePlots`
with its rolling percentiles, spike detection and markers — as if they
were arriving now. A timeline slider scrubs over the session (seconds from
its first frame, the time axis of bookmarks and reports); Play advances it
in real time (or faster), Pause stops there. A frame number or a time jumps
to that moment; errors, warnings and bookmarks are marked on the graphs.

How a position is drawn: the plots are fed the recorded rows up to the
playhead and told to end their scrolling window exactly there
(:meth:`LivePlots.set_playhead`). Moving forward by less than a window
feeds only the new rows (what playing does every tick); a jump backwards
or far ahead starts the plots again from one window (plus
:data:`CONTEXT_S` for the rolling figures) before the playhead, so a scrub
costs the same whatever the session's length.

Loading reads the log in a job (``console.session.browse.load_playback``); nothing here
touches SQLite in the GUI thread. Bookmarks added here are stored by the
Sessions view's job (:meth:`SessionsView.store_bookmark`).
"""

from __future__ import annotations

import html
import math
import time
from typing import Any

import numpy as np

from console.core import protocol as P
from console.session import browse
from console.session.browse import LogRef, PlaybackData
from console.ui.jobs import JobFailure, JobRunner, user_errors
from console.ui.qt import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    Qt,
    QTimer,
    QVBoxLayout,
    QWidget,
    Signal,
)
from console.ui.sessions.details import fmt_time
from console.ui.widgets import button, tab_layout, text_label

#: the graphs' time window for a session at least this long (s); shorter ones fit it
DEFAULT_WINDOW_S = 60
#: playback timer period (the live display rate)
TICK_MS = 33
#: recorded rows fed before a jump target beyond the visible window, so the rolling
#: p50/p95/p99 and the spike detector have their history
CONTEXT_S = 10.0
SPEEDS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
#: telemetry fields the graphs draw (the rest of each sample stays in the log)
class PlaybackView(QWidget):
    """Scrub and play one recorded session at a time."""

    #: level, one line
    message = Signal(str, str)
    #: add a bookmark: session id, note, frame (or None), time s (or None)
    bookmarkRequested = Signal(int, str, object, object)

    def __init__(self, jobs: JobRunner, db_path: LogRef, theme: str = "light",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("playbackView")
        self.jobs = jobs
        self.db_path = db_path
        self.theme = theme
        self.data: PlaybackData | None = None
        self._plots: Any = None
        self._token = 0
        #: the playhead, s from the first frame
        self.position = 0.0
        #: rows fed to the plots cover (-inf or start, fed_until]
        self._fed_until: float | None = None
        self._last_tick = 0.0
        self._build()
        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)

    # -- construction ---------------------------------------------------------------
    def _build(self) -> None:
        lay = tab_layout(self)
        self.title = text_label("No session loaded: select one in the Sessions tab and press "
                                "<b>Play back</b> (or double-click it).", wrap=False)
        lay.addWidget(self.title)
        self.plot_holder = QVBoxLayout()
        self.plot_holder.setContentsMargins(0, 0, 0, 0)
        self.empty = QLabel("")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.plot_holder.addWidget(self.empty, 1)
        lay.addLayout(self.plot_holder, 1)

        ctl = QHBoxLayout()
        self.play_button = QPushButton("▶ Play")
        self.play_button.setObjectName("playButton")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Play from the playhead (from the start when at the end)")
        self.play_button.toggled.connect(self.set_playing)
        ctl.addWidget(self.play_button)
        self.speed_combo = QComboBox()
        for sp in SPEEDS:
            self.speed_combo.addItem(f"{sp:g}×", sp)
        self.speed_combo.setCurrentIndex(SPEEDS.index(1.0))
        self.speed_combo.setToolTip("Playback speed")
        ctl.addWidget(self.speed_combo)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("timelineSlider")
        self.slider.setRange(0, 0)
        self.slider.setSingleStep(100)
        self.slider.setPageStep(5000)
        self.slider.setToolTip("Timeline (ms from the first frame): drag to scrub")
        self.slider.valueChanged.connect(lambda v: self.seek(v / 1000.0))
        ctl.addWidget(self.slider, 1)
        ctl.addWidget(QLabel("frame"))
        self.frame_spin = QSpinBox()
        self.frame_spin.setRange(0, 0)
        self.frame_spin.setToolTip("Go to this frame")
        self.frame_spin.setKeyboardTracking(False)
        self.frame_spin.valueChanged.connect(self.seek_frame)
        ctl.addWidget(self.frame_spin)
        ctl.addWidget(QLabel("time"))
        self.time_spin = QDoubleSpinBox()
        self.time_spin.setDecimals(2)
        self.time_spin.setSuffix(" s")
        self.time_spin.setRange(0.0, 0.0)
        self.time_spin.setKeyboardTracking(False)
        self.time_spin.setToolTip("Go to this time (s from the first frame)")
        self.time_spin.valueChanged.connect(self.seek)
        ctl.addWidget(self.time_spin)
        self.bookmark_button = button("Bookmark…", self.ask_bookmark,
                                      "Store a note at the frame under the playhead (Ctrl+B)",
                                      into=ctl)
        lay.addLayout(ctl)
        self.position_label = text_label("", "playbackPosition", wrap=False)
        lay.addWidget(self.position_label)
        self._set_enabled(False)

    def _set_enabled(self, on: bool) -> None:
        for w in (self.play_button, self.speed_combo, self.slider, self.frame_spin,
                  self.time_spin, self.bookmark_button):
            w.setEnabled(on)

    @property
    def plots(self) -> Any:
        """The graphs (the live graphs' class), built on first use."""
        if self._plots is None:
            from console.ui.live.plots import LivePlots

            plots = LivePlots(theme=self.theme)
            plots.setObjectName("playbackPlots")
            # the playback's own Play/Pause replaces the live Pause button here
            plots.pause_button.setVisible(False)
            plots.window_spin.valueChanged.connect(lambda _v: self._rebuild())
            # the time axis of bookmarks and reports: seconds from the first frame
            plots.panels["frequency"].item.setLabel("bottom", "time since the first frame (s)")
            self.empty.hide()
            self.plot_holder.addWidget(plots, 1)
            self._plots = plots
        return self._plots

    def set_theme(self, theme: str) -> None:
        self.theme = theme
        if self._plots is not None:
            self._plots.set_theme(theme)

    # -- loading ----------------------------------------------------------------------
    def load(self, session_id: int, at: float | None = None) -> None:
        """Read the session (a job), then show it at ``at`` s (default: its end)."""
        self.set_playing(False)
        self._token += 1
        token = self._token
        db = self.db_path
        self.title.setText(f"loading session {session_id}…")
        self.jobs.submit("playback-load", user_errors(lambda: browse.load_playback(db, session_id)),
                         lambda d: self._on_loaded(token, d, at),
                         lambda exc: self._failed(token, exc))

    @property
    def loading(self) -> bool:
        return self.title.text().startswith("loading")

    def _failed(self, token: int, exc: BaseException) -> None:
        from console.ui.jobs import error_text

        if token == self._token:
            self.title.setText(f"cannot play back: {html.escape(error_text(exc))}")
            self.message.emit("error", f"playback: {error_text(exc)}")

    def _on_loaded(self, token: int, d: Any, at: float | None) -> None:
        if token != self._token:
            return
        if isinstance(d, JobFailure):
            self.title.setText(f"cannot play back: {html.escape(d.text)}")
            self.message.emit("error", f"playback: {d.text}")
            return
        self.data = d
        s = d.session
        tl = d.timeline
        self.title.setText(
            f"<b>session {s['id']}</b> &nbsp; {html.escape(str(s.get('package_name')))}@"
            f"{html.escape(str(s.get('package_version')))} on "
            f"{html.escape(str(s.get('device_name') or s.get('device_address')))} — "
            f"{html.escape(str(s.get('input_desc')))} &nbsp; <span style='color:gray'>"
            f"{fmt_time(s.get('started_at'))}, {s.get('status')}, {tl.frames['i'].size} "
            f"frames, {d.duration_s:.2f} s — recorded, not live</span>")
        n = tl.frames["i"].size
        dur_ms = math.ceil(d.duration_s * 1000)
        for w in (self.slider, self.frame_spin, self.time_spin):
            w.blockSignals(True)
        self.slider.setRange(0, dur_ms)
        self.frame_spin.setRange(int(tl.frames["i"][0]) if n else 0,
                                 int(tl.frames["i"][-1]) if n else 0)
        self.time_spin.setRange(0.0, d.duration_s)
        for w in (self.slider, self.frame_spin, self.time_spin):
            w.blockSignals(False)
        self._set_enabled(True)
        self._fed_until = None
        # a short session fills the graphs instead of sitting in the first sixth of them
        spin = self.plots.window_spin
        spin.blockSignals(True)
        spin.setValue(max(spin.minimum(), min(DEFAULT_WINDOW_S, math.ceil(d.duration_s))))
        spin.blockSignals(False)
        self.seek(d.duration_s if at is None else at, force=True)

    # -- position ---------------------------------------------------------------------
    def seek(self, t: float, force: bool = False) -> None:
        """Show the session as it was ``t`` s after its first frame."""
        d = self.data
        if d is None:
            return
        t = min(max(0.0, float(t)), d.duration_s)
        if not force and self._fed_until is not None and abs(t - self.position) < 1e-9:
            return
        window = float(self.plots.window_spin.value())
        fed = self._fed_until
        if force or fed is None or t < fed or t - fed > window:
            self._restart(max(0.0, t - window - CONTEXT_S))
            fed = self._fed_until
        assert fed is not None
        if t > fed:
            self._feed(fed, t)
        self.position = t
        self.plots.set_playhead(t)
        if t >= d.duration_s:
            self.plots.stop()  # the recording's end: annotate the last spikes, final texts
        else:
            self.plots.redraw(force=True)
        self._show_position()

    def seek_frame(self, frame_i: int) -> None:
        d = self.data
        if d is None:
            return
        pos = d.timeline.position_of_frame(int(frame_i))
        if pos is None:
            self.message.emit("warning", f"session {d.session_id} has no frame {frame_i}")
            return
        self.seek(float(d.timeline.frames["t"][pos]))

    def _restart(self, t_start: float) -> None:
        """Empty plots on the session's time axis, fed up to ``t_start``'s context."""
        d = self.data
        assert d is not None
        plots = self.plots
        plots.reset(origin=d.timeline.t0)
        facts = d.session.get("device_facts") or {}
        plots.set_device_facts(facts, None)
        self._fed_until = t_start if t_start > 0 else -math.inf

    def _rebuild(self) -> None:
        if self.data is not None:
            self.seek(self.position, force=True)

    def _feed(self, t_a: float, t_b: float) -> None:
        """Hand the plots the recorded rows with time in (t_a, t_b], as live batches."""
        from console.ui.live.data import Batch

        d = self.data
        assert d is not None
        ft = d.timeline.frames["t"]
        fa = int(np.searchsorted(ft, t_a, side="right")) if math.isfinite(t_a) else 0
        fb = int(np.searchsorted(ft, t_b, side="right"))
        ta = int(np.searchsorted(d.sample_t, t_a, side="right")) if math.isfinite(t_a) else 0
        tb = int(np.searchsorted(d.sample_t, t_b, side="right"))
        batch = Batch(d.rows[fa:fb], d.samples[ta:tb])
        if fb > fa or tb > ta:
            self.plots.ingest(batch)
        self._add_marks(t_a, t_b)
        self._fed_until = t_b

    def _add_marks(self, t_a: float, t_b: float) -> None:
        """Agent errors/warnings and bookmarks between t_a and t_b, as the graphs' markers."""
        d = self.data
        assert d is not None
        t0 = d.timeline.t0
        for ev in d.timeline.events:
            if ev.get("level") not in ("error", "warning"):
                continue
            t = float(ev["ts"]) - t0
            if t_a < t <= t_b:
                self.plots.add_marker(float(ev["ts"]), str(ev["level"]), str(ev.get("text")))
        for b in d.timeline.bookmarks:
            ts = b.get("ts")
            if ts is None and b.get("frame_i") is not None:
                pos = d.timeline.position_of_frame(int(b["frame_i"]))
                ts = float(d.timeline.frames["ts"][pos]) if pos is not None else None
            if ts is None:
                continue
            t = float(ts) - t0
            if t_a < t <= t_b:
                self.plots.add_marker(float(ts), "bookmark", f"★ {b.get('note') or ''}")

    def current_frame(self) -> tuple[int | None, float | None]:
        """(frame index, device ts) of the last frame at or before the playhead."""
        d = self.data
        if d is None:
            return None, None
        pos = d.timeline.frame_at(self.position)
        if pos is None:
            return None, None
        return int(d.timeline.frames["i"][pos]), float(d.timeline.frames["ts"][pos])

    def _show_position(self) -> None:
        d = self.data
        assert d is not None
        self.slider.blockSignals(True)
        self.slider.setValue(round(self.position * 1000))
        self.slider.blockSignals(False)
        self.time_spin.blockSignals(True)
        self.time_spin.setValue(self.position)
        self.time_spin.blockSignals(False)
        frame_i, _ts = self.current_frame()
        parts = [f"{self.position:.2f} s of {d.duration_s:.2f} s"]
        if frame_i is not None:
            self.frame_spin.blockSignals(True)
            self.frame_spin.setValue(frame_i)
            self.frame_spin.blockSignals(False)
            pos = d.timeline.frame_at(self.position)
            assert pos is not None
            fr = d.timeline.frames
            parts.append(f"frame {frame_i}")
            parts.append(f"e2e {fr['e2e'][pos]:.3f} ms (pre {fr['pre'][pos]:.3f} · infer "
                         f"{fr['infer'][pos]:.3f} · post {fr['post'][pos]:.3f})")
            top1 = int(fr["top1"][pos])
            if top1 >= 0:
                parts.append(f"top-1 class {top1}")
        else:
            parts.append("before the first frame")
        k = int(np.searchsorted(d.sample_t, self.position, side="right")) - 1
        if k >= 0:
            smp = d.samples[k][1]
            if smp.get(P.CPU_SYS) is not None:
                parts.append(f"cpu {smp[P.CPU_SYS]:.0f}%")
            th = smp.get(P.THERMAL) or {}
            if th:
                parts.append(f"max {max(th.values()):.1f} °C")
        self.position_label.setText("  ·  ".join(parts))

    # -- playing ----------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    def set_playing(self, on: bool) -> None:
        if self.play_button.isChecked() != on:
            self.play_button.setChecked(on)  # comes back here through toggled
            return
        if on and self.data is None:
            self.play_button.setChecked(False)
            return
        if on:
            assert self.data is not None
            if self.position >= self.data.duration_s - 1e-6:
                self.seek(0.0)
            self._last_tick = time.monotonic()
            self.timer.start()
            self.play_button.setText("❚❚ Pause")
        else:
            self.timer.stop()
            self.play_button.setText("▶ Play")

    def _tick(self) -> None:
        d = self.data
        if d is None:
            self.set_playing(False)
            return
        now = time.monotonic()
        speed = float(self.speed_combo.currentData() or 1.0)
        t = self.position + (now - self._last_tick) * speed
        self._last_tick = now
        if t >= d.duration_s:
            self.seek(d.duration_s)
            self.set_playing(False)
            return
        self.seek(t)

    # -- bookmarks ----------------------------------------------------------------------
    def ask_bookmark(self) -> None:
        """Bookmark the frame under the playhead (asks for the note)."""
        from console.ui.qt import QInputDialog

        d = self.data
        if d is None:
            return
        self.set_playing(False)
        frame_i, _ts = self.current_frame()
        where = f"frame {frame_i}" if frame_i is not None else f"{self.position:.2f} s"
        note, ok = QInputDialog.getText(self, "Bookmark",
                                        f"Note for session {d.session_id} at {where}:")
        if not ok or not note.strip():
            return
        if frame_i is not None:
            self.bookmarkRequested.emit(d.session_id, note.strip(), frame_i, None)
        else:
            self.bookmarkRequested.emit(d.session_id, note.strip(), None, self.position)

    def reload_bookmarks(self, session_id: int) -> None:
        """A bookmark was stored for ``session_id``: read it back so its marker shows."""
        d = self.data
        if d is None or d.session_id != session_id:
            return
        self.load(session_id, self.position)

    def stop(self) -> None:
        self.set_playing(False)
