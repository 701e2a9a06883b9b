"""Live graphs (pyqtgraph): latency, FPS, CPU, memory, temperature, CPU frequency.

Curves are created once (``panels``) and fed with ``setData`` from the
display timer (pyqtgraph's scrollingPlots pattern), never once per message:
the window calls :meth:`LivePlots.ingest` with what the run produced since
the last tick and :meth:`LivePlots.redraw` to draw the visible slice of the
scrolling window, a few hundred points per curve: while a run goes, from
min/max bins kept as frames arrive (``bins``, O(bins) per tick at any rate),
otherwise thinned by ``console.core.series.minmax_decimate`` (``frame_plots``;
both keep one-frame spikes). The frame plots scroll at display rate, the
telemetry plots at telemetry rate; y ranges are set by hand (``ranges``).
A run that ended shorter than the window is drawn over its own span.

What the graphs say beyond the lines (``markers``, ``telemetry_plots``):

- rolling p50/p95/p99 of end-to-end latency (last 512 frames);
- vertical markers where the agent reported an error or warning, or the
  device reported throttling;
- latency spikes beyond the rolling p99, each annotated with what changed
  on the device at that moment (``console.ui.live.correlate``);
- a plot whose figure the device does not report says so in words and draws
  nothing, never a line at zero.

Pause freezes the picture (data keeps arriving and is drawn on resume),
shows a grid, lets the mouse pan and zoom, and the readout shows the values
under the cursor. The scrolling window is 60 s by default, 10 s to 10 min.

A recorded session is played back through the same path
(``console.ui.sessions.playback``): :meth:`LivePlots.reset` with the
session's time origin, :meth:`LivePlots.ingest` of the recorded rows up to
the playhead, and :meth:`LivePlots.set_playhead` so the scrolling window
ends exactly at the moment asked for, not at the newest row fed.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Sequence
from typing import Any

import pyqtgraph as pg

from console.core import protocol as P
from console.ui.live import frame_plots, telemetry_plots
from console.ui.live.bins import FrameBins
from console.ui.live.correlate import (
    ChangeDetector,
    Spike,
    SpikeAnnotator,
    SpikeDetector,
    trips_from_hello,
)
from console.ui.live.data import (
    E2E,
    FRAME_COLUMNS,
    MAX_WINDOW_S,
    Batch,
    FrameHistory,
    RollingPercentiles,
    TelemetryHistory,
)
from console.ui.live.markers import PlotMarkers
from console.ui.live.panels import (
    FRAME_PLOTS,
    PALETTES,
    PLOTS,
    build_panels,
    restyle,
)
from console.ui.live.ranges import YRanges
from console.ui.qt import (
    QHBoxLayout,
    QLabel,
    QPointF,
    QSpinBox,
    Qt,
    QToolButton,
    QVBoxLayout,
    QWidget,
    Signal,
)

__all__ = ["PALETTES", "LivePlots"]

DEFAULT_WINDOW_S = 60
MIN_WINDOW_S = 10
#: spikes kept (the oldest half goes when full)
MAX_SPIKES = 2000
#: the titles (current values) are redone at most this often: a new title re-lays out
TITLE_PERIOD_S = 0.5
#: the telemetry plots scroll this often (their data come at ~10 Hz)
TELEMETRY_SCROLL_S = 0.1
_TS, _E2E, _I = (FRAME_COLUMNS.index(c) for c in ("ts", E2E, "i"))
_STAGE_COLS = [FRAME_COLUMNS.index(s) for s in P.STAGES]


def _ms(v: float) -> str:
    """A latency with three significant digits, never in exponent notation."""
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"


class LivePlots(QWidget):
    """The graphs of one run at a time; reset for the next."""

    #: a spike was annotated (for the log pane)
    spikeAnnotated = Signal(object)

    def __init__(self, parent: QWidget | None = None, theme: str = "light") -> None:
        super().__init__(parent)
        pg.setConfigOptions(antialias=False, foreground=PALETTES[theme]["fg"],
                            background=PALETTES[theme]["bg"])
        self.theme = theme
        self.colors = PALETTES[theme]
        self.frames = FrameHistory()
        self.telemetry = TelemetryHistory()
        self.percentiles = RollingPercentiles()
        self.changes = ChangeDetector()
        self.spike_detector = SpikeDetector()
        self.annotator = SpikeAnnotator(self.changes)
        self.spikes: list[Spike] = []
        #: min/max bins of the frames (built at the window's width on first use)
        self.bins: FrameBins | None = None
        self.yranges = YRanges()
        self._spikes_shown: tuple[int, int] | None = None
        self.t0: float | None = None
        #: playback: the time (s since t0) the window ends at; None live (the newest data)
        self.playhead: float | None = None
        self.running = False
        self.started = False
        self._outcome = ""
        self.redraws = 0
        self._dirty = False
        self._tele_dirty = False
        self._tele_from = 0.0
        self._titles = {k: t for k, t, _u in PLOTS}
        self._title_text: dict[str, str] = dict(self._titles)
        self._last_titles = 0.0
        self._x_range: tuple[float, float] | None = None
        self._last_redraw = 0.0
        self._small: dict[str, bool] = {}
        self._tele_x: tuple[float, float] | None = None
        self._tele_wall = 0.0
        self._build()

    # -- construction -----------------------------------------------------------
    def _build(self) -> None:
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        bar = QHBoxLayout()
        bar.setContentsMargins(6, 2, 6, 0)
        bar.addWidget(QLabel("Window"))
        self.window_spin = QSpinBox()
        self.window_spin.setRange(MIN_WINDOW_S, int(MAX_WINDOW_S))
        self.window_spin.setValue(DEFAULT_WINDOW_S)
        self.window_spin.setSuffix(" s")
        self.window_spin.setToolTip("Scrolling time window of the graphs")
        self.window_spin.valueChanged.connect(lambda _v: self.redraw(force=True))
        bar.addWidget(self.window_spin)
        self.pause_button = QToolButton()
        self.pause_button.setText("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("Freeze the graphs to inspect them (data keeps "
                                     "arriving); pan and zoom with the mouse (Ctrl+Space)")
        self.pause_button.toggled.connect(self.set_paused)
        bar.addWidget(self.pause_button)
        self.readout = QLabel("")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bar.addWidget(self.readout, 1)
        lay.addLayout(bar)

        self.view = pg.GraphicsLayoutWidget()
        self.view.ci.setSpacing(2)
        lay.addWidget(self.view, 1)
        self.panels = build_panels(self.view, self.colors)
        self.marks = PlotMarkers(self.panels, self.colors)
        self.cursor_lines = []
        for panel in self.panels.values():
            line = pg.InfiniteLine(angle=90, movable=False,
                                   pen=pg.mkPen(self.colors["muted"], width=1,
                                                style=Qt.PenStyle.DotLine))
            line.setVisible(False)
            panel.item.addItem(line, ignoreBounds=True)
            self.cursor_lines.append(line)
        self.view.scene().sigMouseMoved.connect(self._on_mouse)
        for panel in self.panels.values():
            panel.item.getViewBox().sigResized.connect(
                lambda _vb, p=panel: self._on_plot_resized(p))
        self._set_idle_placeholders("no data yet: press Start (F5)")

    def _on_plot_resized(self, panel: Any) -> None:
        self.yranges.forget(panel.key)
        panel.fit(panel.item.getViewBox().width())
        self._dirty = True

    # -- theme ------------------------------------------------------------------
    def set_theme(self, theme: str) -> None:
        if theme not in PALETTES or theme == self.theme:
            return
        self.theme = theme
        self.colors = self.marks.colors = PALETTES[theme]
        self.view.setBackground(self.colors["bg"])
        restyle(self.panels, self.colors, self._title_text)

    # -- run lifecycle ------------------------------------------------------------
    def reset(self, origin: float | None = None) -> None:
        """Forget the previous run; keep the fixed curves.

        ``origin`` fixes time zero (device clock) instead of taking the first
        row ingested: a playback that starts feeding in the middle of a session
        keeps the session's own time axis.
        """
        self.frames.clear()
        self.telemetry.clear()
        self.percentiles = RollingPercentiles()
        self.changes = ChangeDetector()
        self.spike_detector = SpikeDetector()
        self.annotator = SpikeAnnotator(self.changes)
        self.spikes = []
        self.bins = None
        self.yranges.clear()
        self._spikes_shown = None
        self.t0 = origin
        self.playhead = None
        for key in ("temperature", "frequency"):
            panel = self.panels[key]
            for curve in panel.curves.values():
                panel.item.removeItem(curve)
            panel.curves.clear()
            panel.overflow.clear()
        for panel in self.panels.values():
            for curve in panel.curves.values():
                curve.setData([], [])
        self.marks.clear()
        self.readout.setText("")
        self.started = True
        self.running = True
        self._outcome = ""
        self._set_idle_placeholders("waiting for data…")
        self.redraw(force=True)

    def stop(self, outcome: str = "") -> None:
        """The run ended: annotate pending spikes, draw the end state. ``outcome`` (e.g.
        "the run failed") replaces every "waiting" text of a plot that got no data."""
        self.running = False
        self._outcome = outcome
        self._add_spikes(self.annotator.flush())
        self.redraw(force=True)

    def set_device_facts(self, device: dict[str, Any], wall_clock: float | None) -> None:
        """From the agent's hello: trip points, and the run's time zero."""
        if self.t0 is None and wall_clock:
            self.t0 = float(wall_clock)
        trips = trips_from_hello(device)
        self.changes.trips = trips
        self.marks.set_trips(trips)

    def add_marker(self, t_wall: float | None, kind: str, text: str) -> None:
        """A vertical line on every plot (error, warning, throttle, bookmark) at device time
        ``t_wall`` (None: at the newest data)."""
        t = self._rel(t_wall) if t_wall is not None else self._now()
        if t is not None:
            self.marks.add(t, kind, text)

    # -- data -------------------------------------------------------------------
    def _rel(self, t_wall: float) -> float | None:
        return None if self.t0 is None else t_wall - self.t0

    def set_playhead(self, t: float | None) -> None:
        """Playback: end the scrolling window at ``t`` s (None: follow the newest data)."""
        self.playhead = t
        self._dirty = True

    def _now(self) -> float | None:
        if self.playhead is not None:
            return self.playhead
        ts = [t for t in (self.frames.last_t(), self.telemetry.last_t) if t is not None]
        return max(ts) if ts else None

    def ingest(self, batch: Batch) -> None:
        if self.t0 is None:
            firsts = []
            if len(batch.frames):
                firsts.append(float(batch.frames[0, _TS]))
            if batch.telemetry:
                firsts.append(batch.telemetry[0][0])
            if not firsts:
                return
            self.t0 = min(firsts)
        if len(batch.frames):
            self.frames.extend(batch.frames, self.t0)
            new = batch.frames
            e2e = new[:, _E2E]
            t = new[:, _TS] - self.t0
            self._frame_bins().extend(t, new[:, _STAGE_COLS])
            self.annotator.add(self.spike_detector.feed(t, e2e, new[:, _I]))
            self.percentiles.add(float(t[-1]), e2e)
            self._dirty = True
        if batch.telemetry:
            self.telemetry.extend(batch.telemetry, self.t0)
            for ts, sample in batch.telemetry:
                for change in self.changes.feed(ts - self.t0, sample):
                    if change.kind == "throttle":
                        self.add_marker(ts, "throttle", change.text)
            self._dirty = self._tele_dirty = True
        self._add_spikes(self.annotator.ready(self.telemetry.last_t, self.frames.last_t()))

    def _add_spikes(self, spikes: Sequence[Spike]) -> None:
        if not spikes:
            return
        self.spikes.extend(spikes)
        if len(self.spikes) > MAX_SPIKES:
            del self.spikes[:MAX_SPIKES // 2]
        self.marks.label_spikes(spikes)
        for s in spikes:
            if s.causes:
                self.spikeAnnotated.emit(s)
        self._dirty = True

    # -- drawing ------------------------------------------------------------------
    @property
    def window_s(self) -> float:
        """The scrolling window, seconds."""
        return float(self.window_spin.value())

    def set_window_s(self, seconds: float) -> None:
        self.window_spin.setValue(int(seconds))

    @property
    def paused(self) -> bool:
        return self.pause_button.isChecked()

    def set_paused(self, paused: bool) -> None:
        if self.pause_button.isChecked() != paused:
            self.pause_button.setChecked(paused)
            return
        self.pause_button.setText("Resume" if paused else "Pause")
        for panel in self.panels.values():
            panel.item.setMouseEnabled(x=paused, y=paused)
            # A grid makes every repaint ~8x dearer in pyqtgraph (47 vs 6 ms measured for
            # these six plots): off while scrolling, on while inspecting.
            panel.item.showGrid(x=paused, y=paused, alpha=self.colors["grid"])
        for line in self.cursor_lines:
            line.setVisible(False)
        first = self.panels["latency"].item
        for key, panel in self.panels.items():
            if key not in FRAME_PLOTS:  # linked while paused: pan and zoom move all
                panel.item.setXLink(first if paused else None)
        if not paused:  # the ranges the mouse left are set afresh
            self.yranges.clear()
            self._x_range = self._tele_x = None
            self.redraw(force=True)

    def redraw(self, force: bool = False) -> bool:
        """Draw the visible window (at display rate, but not more often than the graphs
        move by a pixel). Returns whether anything was drawn."""
        if self.paused or not (self._dirty or force):
            return False
        wall = time.monotonic()
        if not force and self.running and wall - self._last_redraw < frame_plots.pixel_period(
                self.window_s, self.panels["latency"]):
            return False  # still dirty: drawn on a later tick, nothing is lost
        self._last_redraw = wall
        self._dirty = False
        now = self._now()
        window = self.window_s
        t_to = now if now is not None else window
        t_from = max(0.0, t_to - window) if now is not None and now > window else 0.0
        x_to = max(t_to, t_from + window)
        short = self.short_span()
        if short is not None:  # an ended run shorter than the window: its own span
            t_from, x_to = 0.0, short
        self._draw_frames(t_from, short)
        # Telemetry comes at ~10 Hz: its curves get new data only when it changed, or
        # when the window's start moved far enough to drop a lot of old points; its
        # plots scroll at that rate too (the frame plots at display rate).
        data = force or self._tele_dirty or t_from - self._tele_from > self.window_s / 4
        tele = data or short is not None or wall - self._tele_wall >= TELEMETRY_SCROLL_S
        if data:
            self._tele_dirty = False
            self._tele_from = t_from
            telemetry_plots.draw(self.panels, self.telemetry, t_from, self.colors)
        self._update_placeholders()
        self.yranges.apply(self.panels, None if tele else FRAME_PLOTS)
        if self._x_range != (t_from, x_to):
            self._x_range = (t_from, x_to)
            self.panels["latency"].item.setXRange(t_from, x_to, padding=0)
        if tele and self._tele_x != (t_from, x_to):
            self._tele_wall = wall
            self._tele_x = (t_from, x_to)
            for key, panel in self.panels.items():
                if key not in FRAME_PLOTS:
                    panel.item.setXRange(t_from, x_to, padding=0)
        if force or wall - self._last_titles >= TITLE_PERIOD_S:
            self._last_titles = wall
            self._update_titles()
        self.redraws += 1
        return True

    def short_span(self) -> float | None:
        """The span (s) to draw a run over when it ended shorter than the window (the
        window's end would squeeze it into a sliver at 0), else None."""
        if self.running or self.playhead is not None:
            return None
        last = self._now()
        if last is None or last >= self.window_s:
            return None
        return max(last * 1.02, 1e-3)

    def _frame_bins(self) -> FrameBins:
        self.bins = frame_plots.bins_for(self.bins, self.frames, self.window_s)
        return self.bins

    def _update_titles(self) -> None:
        """Current values in the titles."""
        titles = dict(self._titles)
        pct = self.percentiles.latest()
        if pct is not None:
            p50, p95, p99 = pct
            titles["latency"] = (f"Latency — e2e p50 {_ms(p50)} · p95 {_ms(p95)} · "
                                 f"p99 {_ms(p99)} ms")
        fps = self.frames.fps_last_second()
        if fps is not None:
            titles["fps"] = f"Frames per second — {fps:.1f}"
        titles.update(telemetry_plots.titles(self.panels, self.telemetry))
        for key, text in titles.items():
            if text != self._title_text.get(key):
                self._title_text[key] = text
                self.panels[key].set_title(text, self.colors["fg"])

    def _draw_frames(self, t_from: float, short: float | None = None) -> None:
        """Latency, percentiles, spikes and FPS from ``t_from`` on (``frame_plots``)."""
        frame_plots.draw_latency(self.panels["latency"], self.frames, self._frame_bins,
                                 self.percentiles, self.running, t_from)
        first = bisect.bisect_left(self.spikes, t_from, key=lambda s: s.t)
        if self._spikes_shown != (first, len(self.spikes)):  # a scatter's setData is dear
            self._spikes_shown = (first, len(self.spikes))
            self.marks.show_spikes(self.spikes[first:])
        frame_plots.draw_fps(self.panels, self.frames, t_from, self.window_s, short)

    def _set_idle_placeholders(self, text: str) -> None:
        for panel in self.panels.values():
            panel.set_placeholder(text)

    def _update_placeholders(self) -> None:
        final = self.started and not self.running
        have_frames = len(self.frames) > 0
        outcome = f": {self._outcome}" if final and self._outcome else ""
        for key in ("latency", "fps"):
            waiting = f"no frames received{outcome}" if final else "waiting for frames…"
            self.panels[key].set_placeholder("" if have_frames else waiting)
        texts = telemetry_plots.placeholders(self.telemetry, self.frames.last_t(), final,
                                             self._outcome if final else "")
        for key, text in texts.items():
            self.panels[key].set_placeholder(text)
            # a plot that will draw nothing ("no temperature data from this device")
            # gives its height to the plots that do
            self._compact(key, bool(text) and not text.startswith("waiting"))

    def _compact(self, key: str, small: bool) -> None:
        if self._small.get(key) == small:
            return
        self._small[key] = small
        row = [k for k, _t, _u in PLOTS].index(key)
        self.view.ci.layout.setRowStretchFactor(row, 1 if small else 3)

    # -- what is shown (for the window, playback and tests) ------------------------------
    def rolling_percentiles(self) -> tuple[float, float, float] | None:
        """The newest rolling (p50, p95, p99) of end-to-end latency, ms."""
        return self.percentiles.latest()

    def markers(self) -> list[tuple[float, str]]:
        """The vertical markers drawn now: (time in s since t0, their text)."""
        return self.marks.markers()

    def placeholder(self, key: str) -> str:
        """The words shown instead of data on a plot ('' when it draws data)."""
        return self.panels[key].text

    def title(self, key: str) -> str:
        """A plot's title as shown (with its current values)."""
        return self._title_text[key]

    # -- inspect --------------------------------------------------------------------
    def _on_mouse(self, pos: QPointF) -> None:
        vb = self.panels["latency"].item.getViewBox()
        inside = any(p.item.sceneBoundingRect().contains(pos) for p in self.panels.values())
        if not inside or not len(self.frames):
            for line in self.cursor_lines:
                line.setVisible(False)
            return
        x = vb.mapSceneToView(pos).x()
        text = frame_plots.readout(self.frames, x)
        if text is None:
            return
        for line in self.cursor_lines:
            line.setPos(x)
            line.setVisible(True)
        self.readout.setText("  ·  ".join([text, *telemetry_plots.readout(self.telemetry, x)]))
