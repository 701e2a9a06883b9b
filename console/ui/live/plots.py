"""Live graphs (pyqtgraph): latency, FPS, CPU, memory, temperature, CPU frequency.

Curves are created once and fed with ``setData`` from the display timer
(pyqtgraph's scrollingPlots pattern), never once per message: the window
calls :meth:`LivePlots.ingest` with what the run produced since the last
tick and :meth:`LivePlots.redraw` to draw the visible slice of the
scrolling window, decimated to a few hundred points per curve
(:func:`~console.ui.live.data.peak_decimate`, which keeps one-frame spikes).

What the graphs say beyond the lines:

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
(``console.ui.sessions.playback``): :meth:`LivePlots.reset` with the session's time
origin, :meth:`LivePlots.ingest` of the recorded rows up to the playhead,
and :meth:`LivePlots.set_playhead` so the scrolling window ends exactly at
the moment asked for, not at the newest row fed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyqtgraph as pg

from console.core.stats import Rolling
from console.ui.live.correlate import (
    ChangeDetector,
    Spike,
    SpikeAnnotator,
    SpikeDetector,
    trips_from_hello,
)
from console.ui.live.data import (
    MAX_WINDOW_S,
    Batch,
    FrameHistory,
    TelemetryHistory,
    fps_series,
    peak_decimate,
)
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

DEFAULT_WINDOW_S = 60
MIN_WINDOW_S = 10
#: points per curve handed to pyqtgraph (the measured sweet spot, MACHINE-NOTES)
MAX_POINTS = 400
#: curves per plot for per-zone / per-CPU series; the rest are listed, not drawn
MAX_DYNAMIC_CURVES = 8
#: annotated spike labels kept on the latency plot
MAX_SPIKE_LABELS = 8
MAX_MARKERS = 60
#: frames behind the rolling p50/p95/p99 lines
ROLLING_FRAMES = 512

PALETTES: dict[str, dict[str, Any]] = {
    "light": {"bg": "#ffffff", "fg": "#30343a", "muted": "#7a808a", "grid": 0.25,
              "pre": "#1f77b4", "infer": "#e6700a", "post": "#2ca02c", "e2e": "#c0392b",
              "p50": "#555555", "p95": "#8e44ad", "p99": "#c0392b",
              "series": ["#1f77b4", "#e6700a", "#2ca02c", "#8e44ad", "#8c564b", "#e377c2",
                         "#17becf", "#bcbd22"],
              "error": "#d62728", "warning": "#e6a100", "throttle": "#ff7f0e",
              "bookmark": "#0c8599"},
    "dark": {"bg": "#1b1e23", "fg": "#d7dae0", "muted": "#8a9099", "grid": 0.2,
             "pre": "#6cb4ff", "infer": "#ffab40", "post": "#69db7c", "e2e": "#ff6b6b",
             "p50": "#c8c8c8", "p95": "#d0a2ff", "p99": "#ff8787",
             "series": ["#6cb4ff", "#ffab40", "#69db7c", "#d0a2ff", "#e0a080", "#ff8ad8",
                        "#5ee0f0", "#e0e070"],
             "error": "#ff5252", "warning": "#ffd54f", "throttle": "#ffab40",
             "bookmark": "#3bc9db"},
}

# (plot key, title, unit, telemetry prefixes it needs, what "no data" means)
TELEMETRY_PLOTS = (
    ("cpu", "CPU", "%", ("cpu_sys", "cpu_agent"), "no CPU data from this device"),
    ("memory", "Memory", "MiB", ("rss_mb", "mem_used_mb"), "no memory data from this device"),
    ("temperature", "Temperature", "°C", ("thermal",),
     "no temperature data from this device (it reports no thermal zones)"),
    ("frequency", "CPU frequency", "MHz", ("freq_mhz",),
     "no CPU frequency data from this device (no cpufreq)"),
)
ZERO_BASED = ("latency", "fps", "cpu", "memory")
FIXED_SERIES = {
    "cpu": (("cpu_sys", "system (% of all cores)"), ("cpu_agent", "agent (% of one core)")),
    "memory": (("mem_used_mb", "system used"), ("rss_mb", "agent RSS")),
}


@dataclass
class PlotPanel:
    """One plot, its curves and its "no data" text (drawn in the view, not in data space)."""

    key: str
    item: pg.PlotItem
    placeholder: pg.TextItem
    curves: dict[str, pg.PlotDataItem] = field(default_factory=dict)
    overflow: list[str] = field(default_factory=list)
    text: str = ""

    def set_placeholder(self, text: str) -> None:
        if text == self.text:
            return
        self.text = text
        self.placeholder.setText(text)
        self.placeholder.setVisible(bool(text))
        # an empty plot shows no scale: numbers next to nothing read like data
        self.item.getAxis("left").setStyle(showValues=not text)
        self._center()

    def _center(self) -> None:
        r = self.item.getViewBox().boundingRect()
        self.placeholder.setPos(QPointF(r.width() / 2, r.height() / 2))

    def points(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        c = self.curves.get(name)
        if c is None:
            return np.empty(0), np.empty(0)
        x, y = c.getData()
        return (np.empty(0) if x is None else np.asarray(x),
                np.empty(0) if y is None else np.asarray(y))


def _not_drawn(panel: PlotPanel, total: int) -> str:
    if not panel.overflow:
        return ""
    return (f" ({total - len(panel.overflow)} of {total} drawn; not drawn: "
            f"{', '.join(panel.overflow[:4])}{'…' if len(panel.overflow) > 4 else ''})")


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
        self.rolling = Rolling(ROLLING_FRAMES)
        self.changes = ChangeDetector()
        self.spike_detector = SpikeDetector()
        self.annotator = SpikeAnnotator(self.changes)
        self.spikes: list[Spike] = []
        self._pct_t: list[float] = []
        self._pct: list[list[float]] = []
        self._markers: list[tuple[float, list[pg.InfiniteLine]]] = []
        self._spike_labels: list[pg.TextItem] = []
        self._trip_lines: list[pg.InfiniteLine] = []
        self.t0: float | None = None
        #: playback: the time (s since t0) the window ends at; None live (the newest data)
        self.playhead: float | None = None
        self.running = False
        self.started = False
        self.redraws = 0
        self._dirty = False
        self._tele_dirty = False
        self._tele_from = 0.0
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
        self.panels: dict[str, PlotPanel] = {}
        specs = [("latency", "Latency", "ms"), ("fps", "Frames per second", "fps")]
        specs += [(k, t, u) for k, t, u, _p, _n in TELEMETRY_PLOTS]
        first: pg.PlotItem | None = None
        for row, (key, title, unit) in enumerate(specs):
            item = self.view.addPlot(row=row, col=0)
            item.setMenuEnabled(False)
            item.showGrid(x=False, y=False)  # grid only while paused: see set_paused
            item.setLabel("left", unit)
            for ax in ("left", "bottom"):
                item.getAxis(ax).enableAutoSIPrefix(False)  # no "ms (x0.001)"
            item.getAxis("left").setWidth(52)
            item.hideButtons()
            item.setMouseEnabled(x=False, y=False)
            item.enableAutoRange(axis="y")
            item.setAutoVisible(y=True)
            if first is None:
                first = item
            else:
                item.setXLink(first)
            if row < len(specs) - 1:
                item.getAxis("bottom").setStyle(showValues=False)
            else:
                item.setLabel("bottom", "time since start (s)")
            legend = item.addLegend(offset=(-4, 2), labelTextSize="8pt",
                                    colCount=7, verSpacing=-6, horSpacing=8,
                                    brush=self._legend_brush())
            legend.setParentItem(item.getViewBox())
            legend.anchor(itemPos=(1, 0), parentPos=(1, 0), offset=(-4, 2))
            ph = pg.TextItem("", anchor=(0.5, 0.5), color=self.colors["muted"])
            ph.setParentItem(item.getViewBox())
            panel = PlotPanel(key, item, ph)
            item.getViewBox().sigResized.connect(lambda _vb, p=panel: p._center())
            self.panels[key] = panel
            item.setTitle(title, size="9pt", color=self.colors["fg"])
        for row in range(len(specs)):
            self.view.ci.layout.setRowStretchFactor(row, 3 if row == 0 else 2)
        self._titles = {k: t for k, t, _u in specs}
        self._title_text: dict[str, str] = dict(self._titles)
        self._last_titles = 0.0

        lat = self.panels["latency"]
        for stage in ("pre", "infer", "post", "e2e"):
            self._curve(lat, stage, stage, self.colors[stage], width=2 if stage == "e2e" else 1)
        for name in ("p50", "p95", "p99"):  # rolling; their values are in the title
            self._curve(lat, name, name, self.colors[name], width=1,
                        style=Qt.PenStyle.DashLine)
        self.spike_scatter = pg.ScatterPlotItem(
            size=11, symbol="t", pen=pg.mkPen(self.colors["error"]),
            brush=pg.mkBrush(self.colors["error"]), hoverable=True,
            tip=lambda x, y, data: str(data))
        lat.item.addItem(self.spike_scatter)
        self._curve(self.panels["fps"], "fps", "fps", self.colors["e2e"])
        for key, series in FIXED_SERIES.items():
            for k, (name, label) in enumerate(series):
                self._curve(self.panels[key], name, label, self.colors["series"][k])
        self.cursor_lines = []
        for panel in self.panels.values():
            line = pg.InfiniteLine(angle=90, movable=False,
                                   pen=pg.mkPen(self.colors["muted"], width=1,
                                                style=Qt.PenStyle.DotLine))
            line.setVisible(False)
            panel.item.addItem(line, ignoreBounds=True)
            self.cursor_lines.append(line)
        self.view.scene().sigMouseMoved.connect(self._on_mouse)
        self._set_idle_placeholders("no data yet: press Start (F5)")

    def _legend_brush(self) -> Any:
        """The plot background, slightly see-through: labels stay readable over a curve."""
        color = pg.mkColor(self.colors["bg"])
        color.setAlpha(210)
        return pg.mkBrush(color)

    def _curve(self, panel: PlotPanel, name: str, label: str | None, color: str, width: int = 1,
               style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> pg.PlotDataItem:
        c = panel.item.plot([], [], name=label, pen=pg.mkPen(color, width=width, style=style),
                            skipFiniteCheck=True)
        panel.curves[name] = c
        return c

    # -- theme ------------------------------------------------------------------
    def set_theme(self, theme: str) -> None:
        if theme not in PALETTES or theme == self.theme:
            return
        self.theme = theme
        self.colors = c = PALETTES[theme]
        self.view.setBackground(c["bg"])
        for key, panel in self.panels.items():
            for ax in ("left", "bottom"):
                axis = panel.item.getAxis(ax)
                axis.setPen(pg.mkPen(c["fg"]))
                axis.setTextPen(pg.mkPen(c["fg"]))
            panel.item.setTitle(self._title_text[key], size="9pt", color=c["fg"])
            panel.placeholder.setColor(c["muted"])
            legend = panel.item.legend
            if legend is not None:
                legend.setLabelTextColor(c["fg"])
                legend.setBrush(self._legend_brush())
        lat = self.panels["latency"]
        for stage in ("pre", "infer", "post", "e2e"):
            lat.curves[stage].setPen(pg.mkPen(c[stage], width=2 if stage == "e2e" else 1))
        for name in ("p50", "p95", "p99"):
            lat.curves[name].setPen(pg.mkPen(c[name], width=1, style=Qt.PenStyle.DashLine))
        self.panels["fps"].curves["fps"].setPen(pg.mkPen(c["e2e"]))
        for key, series in FIXED_SERIES.items():
            for k, (name, _label) in enumerate(series):
                self.panels[key].curves[name].setPen(pg.mkPen(c["series"][k]))
        for key in ("temperature", "frequency"):
            for k, curve in enumerate(self.panels[key].curves.values()):
                curve.setPen(pg.mkPen(c["series"][k % len(c["series"])]))

    # -- run lifecycle ------------------------------------------------------------
    def reset(self, origin: float | None = None) -> None:
        """Forget the previous run; keep the fixed curves.

        ``origin`` fixes time zero (device clock) instead of taking the first
        row ingested: a playback that starts feeding in the middle of a session
        keeps the session's own time axis.
        """
        self.frames.clear()
        self.telemetry.clear()
        self.rolling = Rolling(ROLLING_FRAMES)
        self.changes = ChangeDetector()
        self.spike_detector = SpikeDetector()
        self.annotator = SpikeAnnotator(self.changes)
        self.spikes = []
        self._pct_t, self._pct = [], []
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
        for _t, lines in self._markers:
            for line, panel in zip(lines, self.panels.values()):
                panel.item.removeItem(line)
        self._markers = []
        for label in self._spike_labels:
            self.panels["latency"].item.removeItem(label)
        self._spike_labels = []
        for line in self._trip_lines:
            self.panels["temperature"].item.removeItem(line)
        self._trip_lines = []
        self.spike_scatter.setData([], [])
        self.readout.setText("")
        self.started = True
        self.running = True
        self._set_idle_placeholders("waiting for data…")
        self.redraw(force=True)

    def stop(self) -> None:
        """The run ended: annotate pending spikes, draw the end state."""
        self.running = False
        self._add_spikes(self.annotator.flush())
        self._update_placeholders(final=True)
        self.redraw(force=True)

    def set_device_facts(self, device: dict[str, Any], wall_clock: float | None) -> None:
        """From the agent's hello: trip points, and the run's time zero."""
        if self.t0 is None and wall_clock:
            self.t0 = float(wall_clock)
        trips = trips_from_hello(device)
        self.changes.trips = trips
        temp = self.panels["temperature"]
        seen: set[float] = set()
        for zone, zone_trips in trips.items():
            for ttype, c in zone_trips:
                if c in seen or len(seen) >= 4 or ttype not in ("passive", "hot", "critical"):
                    continue
                seen.add(c)
                line = pg.InfiniteLine(pos=c, angle=0, movable=False,
                                       pen=pg.mkPen(self.colors["warning"], width=1,
                                                    style=Qt.PenStyle.DashLine),
                                       label=f"{zone} {ttype} {c:.0f} °C",
                                       labelOpts={"position": 0.02, "color": self.colors["muted"],
                                                  "anchors": [(0, 1), (0, 1)]})
                temp.item.addItem(line, ignoreBounds=True)
                self._trip_lines.append(line)

    def add_marker(self, t_wall: float | None, kind: str, text: str) -> None:
        """A vertical line on every plot (error, warning, throttle, bookmark) at device time
        ``t_wall`` (None: at the newest data)."""
        t = self._rel(t_wall) if t_wall is not None else self._now()
        if t is None:
            return
        color = self.colors.get(kind, self.colors["error"])
        # a bookmark's note is written across, beside its line, so it can be read
        label_opts: dict[str, Any] = (
            {"position": 0.95, "color": color, "anchors": [(0, 0), (0, 0)]}
            if kind == "bookmark" else
            {"position": 0.92, "color": color, "rotateAxis": (1, 0),
             "anchors": [(0, 0), (0, 0)]})
        lines = []
        for k, panel in enumerate(self.panels.values()):
            line = pg.InfiniteLine(
                pos=t, angle=90, movable=False,
                pen=pg.mkPen(color, width=1, style=Qt.PenStyle.DashLine),
                label=(text[:40] if k == 0 else None),
                labelOpts=label_opts if k == 0 else None)
            line.setToolTip(text)
            panel.item.addItem(line, ignoreBounds=True)
            lines.append(line)
        self._markers.append((t, lines))
        while len(self._markers) > MAX_MARKERS:
            _t, old = self._markers.pop(0)
            for line, panel in zip(old, self.panels.values()):
                panel.item.removeItem(line)

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
                firsts.append(float(batch.frames[0, 0]))
            if batch.telemetry:
                firsts.append(batch.telemetry[0][0])
            if not firsts:
                return
            self.t0 = min(firsts)
        if len(batch.frames):
            self.frames.extend(batch.frames, self.t0)
            new = batch.frames
            e2e = new[:, 4]
            t = new[:, 0] - self.t0
            spikes = self.spike_detector.feed(t, e2e, new[:, 5])
            self.annotator.add(spikes)
            for v in e2e[-ROLLING_FRAMES:]:
                self.rolling.add(float(v))
            pct = self.rolling.percentiles((50, 95, 99))
            if pct is not None:
                self._pct_t.append(float(t[-1]))
                self._pct.append(pct)
                if len(self._pct_t) > 40_000:
                    del self._pct_t[:20_000]
                    del self._pct[:20_000]
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
        if len(self.spikes) > 2000:
            del self.spikes[:1000]
        lat = self.panels["latency"].item
        for s in spikes:
            if s.causes:
                label = pg.TextItem(s.label(), color=self.colors["error"], anchor=(0, 1))
                label.setPos(s.t, s.e2e_ms)
                lat.addItem(label, ignoreBounds=True)
                self._spike_labels.append(label)
                if len(self._spike_labels) > MAX_SPIKE_LABELS:
                    lat.removeItem(self._spike_labels.pop(0))
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
        if not paused:
            for panel in self.panels.values():
                panel.item.enableAutoRange(axis="y")
            self.redraw(force=True)

    def redraw(self, force: bool = False) -> bool:
        """Draw the visible window (at display rate). Returns whether anything was drawn."""
        if self.paused or not (self._dirty or force):
            return False
        self._dirty = False
        now = self._now()
        window = self.window_s
        t_to = now if now is not None else window
        t_from = max(0.0, t_to - window) if now is not None and now > window else 0.0
        self._draw_frames(t_from)
        # Telemetry comes at ~10 Hz: its curves get new data only when it changed, or
        # when the window's start moved far enough to drop a lot of old points.
        if force or self._tele_dirty or t_from - self._tele_from > self.window_s / 4:
            self._tele_dirty = False
            self._tele_from = t_from
            self._draw_telemetry(t_from)
        self._update_placeholders()
        self._zero_based_y()
        self.panels["latency"].item.setXRange(t_from, max(t_to, t_from + window), padding=0)
        wall = time.monotonic()
        if force or wall - self._last_titles >= 0.5:
            self._last_titles = wall
            self._update_titles()
        self.redraws += 1
        return True

    def _zero_based_y(self) -> None:
        """Latency, FPS, CPU and memory from 0, so a small wobble does not look like a
        cliff; the top follows the highest visible point (spikes included)."""
        for key in ZERO_BASED:
            panel = self.panels[key]
            top = 0.0
            for curve in panel.curves.values():
                _x, y = curve.getData()
                if y is not None and len(y):
                    top = max(top, float(np.nanmax(y)))
            if top > 0:
                # headroom: the legend sits in the top band, above the curves
                panel.item.setYRange(0.0, top * 1.3, padding=0)

    def _update_titles(self) -> None:
        """Current values in the titles (twice a second: a new title re-lays out the plots)."""
        tel = self.telemetry
        titles = dict(self._titles)
        if self._pct:
            p50, p95, p99 = self._pct[-1]
            titles["latency"] = (f"Latency — end-to-end p50 {p50:.2f} · p95 {p95:.2f} · "
                                 f"p99 {p99:.2f} ms (rolling, last {len(self.rolling)} frames)")
        fps = self.frames.fps_last_second()
        if fps is not None:
            titles["fps"] = f"Frames per second — {fps:.1f}"
        parts = []
        for name, label, fmt in (("cpu_sys", "system", "{:.0f}%"),
                                 ("cpu_agent", "agent", "{:.0f}%")):
            v = tel.latest(name)
            if v is not None:
                parts.append(f"{label} {fmt.format(v)}")
        if parts:
            titles["cpu"] = "CPU — " + " · ".join(parts)
        rss, used, total = tel.latest("rss_mb"), tel.latest("mem_used_mb"), \
            tel.latest("mem_total_mb")
        parts = []
        if rss is not None:
            parts.append(f"agent RSS {rss:.0f} MiB")
        if used is not None:
            parts.append(f"system {used:.0f}" + (f" / {total:.0f} MiB" if total else " MiB"))
        if parts:
            titles["memory"] = "Memory — " + " · ".join(parts)
        temps = [v for v in (tel.latest(n) for n in tel.names("thermal/")) if v is not None]
        if temps:
            titles["temperature"] = f"Temperature — max {max(temps):.1f} °C" + _not_drawn(
                self.panels["temperature"], len(temps))
        freqs = [v for v in (tel.latest(n) for n in tel.names("freq_mhz/")) if v is not None]
        if freqs:
            titles["frequency"] = (f"CPU frequency — {min(freqs):.0f}–{max(freqs):.0f} MHz"
                                   if min(freqs) != max(freqs) else
                                   f"CPU frequency — {freqs[0]:.0f} MHz") + _not_drawn(
                self.panels["frequency"], len(freqs))
        for key, text in titles.items():
            if text != self._title_text.get(key):
                self._title_text[key] = text
                self.panels[key].item.setTitle(text, size="9pt", color=self.colors["fg"])

    def _draw_frames(self, t_from: float) -> None:
        lat = self.panels["latency"]
        sl = self.frames.window(t_from)
        t = self.frames.column("ts")[sl]
        for stage in ("pre", "infer", "post", "e2e"):
            x, y = peak_decimate(t, self.frames.column(stage)[sl], MAX_POINTS)
            lat.curves[stage].setData(x, y)
        if self._pct_t:
            pt = np.asarray(self._pct_t)
            k = int(np.searchsorted(pt, t_from))
            pv = np.asarray(self._pct[k:]) if k < len(self._pct) else np.empty((0, 3))
            px = pt[k:]
            if len(px) > MAX_POINTS:
                step = math.ceil(len(px) / MAX_POINTS)
                px, pv = px[::step], pv[::step]
            for j, name in enumerate(("p50", "p95", "p99")):
                lat.curves[name].setData(px, pv[:, j] if len(pv) else np.empty(0))
        else:
            for name in ("p50", "p95", "p99"):
                lat.curves[name].setData([], [])
        spikes = [s for s in self.spikes if s.t >= t_from]
        self.spike_scatter.setData([s.t for s in spikes], [s.e2e_ms for s in spikes],
                                   data=[s.label() for s in spikes])
        # FPS from aligned bins: start the slice on a bin edge so bins never shift.
        bin_s = 0.5 if self.window_s <= 120 else 2.0
        fsl = self.frames.window(math.floor(t_from / bin_s) * bin_s)
        fx, fy = fps_series(self.frames.column("ts")[fsl], bin_s)
        self.panels["fps"].curves["fps"].setData(fx, fy)

    def _draw_telemetry(self, t_from: float) -> None:
        tel = self.telemetry
        for key, series in FIXED_SERIES.items():
            panel = self.panels[key]
            for name, _label in series:
                x, y = tel.series(name)
                k = int(np.searchsorted(x, t_from)) if len(x) else 0
                panel.curves[name].setData(x[k:], y[k:])
        for key, prefix in (("temperature", "thermal/"), ("frequency", "freq_mhz/")):
            panel = self.panels[key]
            for name in tel.names(prefix):
                curve = panel.curves.get(name)
                if curve is None:
                    if len(panel.curves) >= MAX_DYNAMIC_CURVES:
                        if name[len(prefix):] not in panel.overflow:
                            panel.overflow.append(name[len(prefix):])
                        continue
                    k = len(panel.curves)
                    curve = self._curve(panel, name, name[len(prefix):],
                                        self.colors["series"][k % len(self.colors["series"])])
                x, y = tel.series(name)
                k = int(np.searchsorted(x, t_from)) if len(x) else 0
                curve.setData(x[k:], y[k:])

    def _set_idle_placeholders(self, text: str) -> None:
        for panel in self.panels.values():
            panel.set_placeholder(text)

    def _update_placeholders(self, final: bool = False) -> None:
        have_frames = len(self.frames) > 0
        for key in ("latency", "fps"):
            waiting = "no frames received" if final or not self.running else "waiting for frames…"
            self.panels[key].set_placeholder("" if have_frames else waiting)
        samples = self.telemetry.samples
        for key, _title, _unit, prefixes, no_data in TELEMETRY_PLOTS:
            panel = self.panels[key]
            if any(self.telemetry.has(p) for p in prefixes):
                text = ""
            elif samples >= 2 or (final and samples):
                text = no_data
            elif final or (have_frames and self.frames.last_t() is not None
                           and (self.frames.last_t() or 0) > 5.0 and not samples):
                text = "no telemetry from this device"
            else:
                text = "waiting for data…"
            panel.set_placeholder(text)

    def rolling_percentiles(self) -> tuple[float, float, float] | None:
        """The newest rolling (p50, p95, p99) of end-to-end latency, ms."""
        if not self._pct:
            return None
        p50, p95, p99 = self._pct[-1]
        return p50, p95, p99

    def markers(self) -> list[tuple[float, str]]:
        """The vertical markers drawn now: (time in s since t0, their text)."""
        return [(t, lines[0].toolTip() if lines else "") for t, lines in self._markers]

    def placeholder(self, key: str) -> str:
        """The words shown instead of data on a plot ('' when it draws data)."""
        return self.panels[key].text

    # -- inspect --------------------------------------------------------------------
    def _on_mouse(self, pos: QPointF) -> None:
        lat = self.panels["latency"].item
        vb = lat.getViewBox()
        inside = any(p.item.sceneBoundingRect().contains(pos) for p in self.panels.values())
        if not inside or not len(self.frames):
            for line in self.cursor_lines:
                line.setVisible(False)
            return
        x = vb.mapSceneToView(pos).x()
        f = self.frames.nearest(x)
        if f is None:
            return
        for line in self.cursor_lines:
            line.setPos(x)
            line.setVisible(True)
        parts = [f"t {f['ts']:.2f} s", f"frame {int(f['i'])}",
                 f"pre {f['pre']:.2f}", f"infer {f['infer']:.2f}", f"post {f['post']:.2f}",
                 f"e2e {f['e2e']:.2f} ms"]
        for name, label, unit in (("cpu_sys", "cpu", "%"), ("rss_mb", "rss", " MiB")):
            tx, ty = self.telemetry.series(name)
            if len(tx):
                k = min(int(np.searchsorted(tx, x)), len(tx) - 1)
                parts.append(f"{label} {ty[k]:.0f}{unit}")
        for name in self.telemetry.names("thermal/")[:2]:
            tx, ty = self.telemetry.series(name)
            if len(tx):
                k = min(int(np.searchsorted(tx, x)), len(tx) - 1)
                parts.append(f"{name[8:]} {ty[k]:.1f} °C")
        self.readout.setText("  ·  ".join(parts))

