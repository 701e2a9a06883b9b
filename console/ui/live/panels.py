"""The live graphs' plots: which there are, their axes, curves, colours and "no data" text.

Six plots stacked on one time axis (latency, FPS, CPU, memory,
temperature, CPU frequency), built once for the window's life: curves are
created here and only fed later (pyqtgraph's scrollingPlots pattern).
Latency curves are named after the protocol's stages, telemetry curves
after the protocol's telemetry keys (per-zone / per-CPU curves after the
flattened names, ``thermal.<zone>``), so what is drawn is looked up by the
same name everywhere.

What must not live here: data, markers, the redraw loop (``plots``).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyqtgraph as pg

from console.core import protocol as P
from console.ui.live.data import E2E
from console.ui.qt import QFont, QFontMetricsF, QPointF, QRectF, QSizePolicy, Qt

#: stage colours per theme; "session_a"/"session_b" tell two sessions apart (Compare)
PALETTES: dict[str, dict[str, Any]] = {
    "light": {"bg": "#ffffff", "fg": "#30343a", "muted": "#7a808a", "grid": 0.25,
              **dict(zip(P.STAGES, ("#1f77b4", "#e6700a", "#2ca02c", "#c0392b"))),
              "session_a": "#1f77b4", "session_b": "#e6700a",
              "p50": "#555555", "p95": "#8e44ad", "p99": "#c0392b",
              "series": ["#1f77b4", "#e6700a", "#2ca02c", "#8e44ad", "#8c564b", "#e377c2",
                         "#17becf", "#bcbd22"],
              "error": "#d62728", "warning": "#e6a100", "throttle": "#ff7f0e",
              "bookmark": "#0c8599"},
    "dark": {"bg": "#1b1e23", "fg": "#d7dae0", "muted": "#8a9099", "grid": 0.2,
             **dict(zip(P.STAGES, ("#6cb4ff", "#ffab40", "#69db7c", "#ff6b6b"))),
             "session_a": "#6cb4ff", "session_b": "#ffab40",
             "p50": "#c8c8c8", "p95": "#d0a2ff", "p99": "#ff8787",
             "series": ["#6cb4ff", "#ffab40", "#69db7c", "#d0a2ff", "#e0a080", "#ff8ad8",
                        "#5ee0f0", "#e0e070"],
             "error": "#ff5252", "warning": "#ffd54f", "throttle": "#ffab40",
             "bookmark": "#3bc9db"},
}

#: the rolling percentiles of end-to-end latency drawn on the latency plot
PERCENTILES = ("p50", "p95", "p99")
# (plot key, title, unit, telemetry keys it needs, what "no data" means)
TELEMETRY_PLOTS = (
    ("cpu", "CPU", "%", (P.CPU_SYS, P.CPU_AGENT), "no CPU data from this device"),
    ("memory", "Memory", "MiB", (P.RSS, P.MEM_USED), "no memory data from this device"),
    ("temperature", "Temperature", "°C", (P.THERMAL,),
     "no temperature data from this device (it reports no thermal zones)"),
    ("frequency", "CPU frequency", "MHz", (P.FREQ,),
     "no CPU frequency data from this device (no cpufreq)"),
)
PLOTS = (("latency", "Latency", "ms"), ("fps", "Frames per second", "fps"),
         *((k, t, u) for k, t, u, _p, _n in TELEMETRY_PLOTS))
ZERO_BASED = ("latency", "fps", "cpu", "memory")
#: the y axes' width (the same for every plot, so their time axes line up)
LEFT_AXIS_PX = 52
#: the plots drawn from frames (redrawn every display tick); the others from telemetry
FRAME_PLOTS = ("latency", "fps")
#: the curves of plots whose series are known before any sample: key -> (name, label)
FIXED_SERIES = {
    "cpu": ((P.CPU_SYS, "system (all cores)"), (P.CPU_AGENT, "agent (1 core = 100 %)")),
    "memory": ((P.MEM_USED, "system used"), (P.RSS, "agent RSS")),
}
#: plots with one curve per named reading (zone, CPU): plot key -> telemetry map
DYNAMIC_SERIES = {"temperature": P.THERMAL, "frequency": P.FREQ}


def series_prefix(key: str) -> str:
    """The flattened-name prefix of a telemetry map (``thermal.``)."""
    return key + "."


class LiveCurve(pg.PlotCurveItem):
    """A curve whose bounds are computed once per ``setData``.

    pyqtgraph recomputes a curve's bounding rectangle (``nanmin``/``nanmax`` of
    both axes and the pixel size of its pen) on every change of the view, which
    for a scrolling plot is every display tick: measured at ~4 ms of Python per
    tick for the live graphs' curves. The data's bounds do not change when the
    view scrolls; the pen's pixel padding is replaced by a small margin in data
    units (a line at an extreme is never cut off in a partial repaint).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._rect: QRectF | None = None
        super().__init__(*args, **kwargs)

    def updateData(self, *args: Any, **kwargs: Any) -> None:
        self._rect = None
        super().updateData(*args, **kwargs)

    def viewTransformChanged(self) -> None:
        self.prepareGeometryChange()  # same data, same bounds

    def boundingRect(self) -> QRectF:
        if self._rect is None:
            x, y = self.xData, self.yData
            if x is None or y is None or not len(x):
                self._rect = QRectF()
                return self._rect
            fy = y[np.isfinite(y)] if not np.isfinite(y).all() else y
            if not fy.size:
                self._rect = QRectF()
                return self._rect
            x0, x1 = float(x[0]), float(x[-1])
            if x1 < x0:
                x0, x1 = x1, x0
            y0, y1 = float(fy.min()), float(fy.max())
            px, py = max((x1 - x0) * 0.01, 1e-6), max((y1 - y0) * 0.03, abs(y1) * 0.01, 1e-6)
            self._rect = QRectF(x0 - px, y0 - py, x1 - x0 + 2 * px, y1 - y0 + 2 * py)
        return self._rect


class HeaderTitle(pg.LabelItem):
    """A plot's title that never widens its plot: pyqtgraph's label makes its text width
    its minimum, and in a stack of plots one long title widened every plot beyond the
    window (legends and axes cut off at the right)."""

    def updateMin(self) -> None:
        super().updateMin()
        self.setMinimumWidth(0)
        self._sizeHint[Qt.SizeHint.MinimumSize] = (0, self._sizeHint[
            Qt.SizeHint.MinimumSize][1])
        self.updateGeometry()


@dataclass
class PlotPanel:
    """One plot, its curves and its "no data" text (drawn in the view, not in data space);
    its header row holds the title (with the current values) and the key: each curve's
    name in its colour, so the key is never over the data, whatever the plot's size."""

    key: str
    item: pg.PlotItem
    placeholder: pg.TextItem
    title: HeaderTitle
    curves: dict[str, pg.PlotCurveItem] = field(default_factory=dict)
    overflow: list[str] = field(default_factory=list)
    text: str = ""
    #: the key's entries: (name shown, the item whose pen or brush gives its look)
    keys: list[tuple[str, Any]] = field(default_factory=list)
    title_text: str = ""
    fg: Any = "#000000"
    #: the header's width in pixels (the key goes under the title when both do not fit)
    width: float = 10_000.0
    key_below: bool = False

    def set_title(self, text: str, color: Any) -> None:
        self.title_text, self.fg = text, color
        keys = [] if self.text else self.keys
        below = bool(keys) and header_width(text, keys) > self.width
        self.key_below = below
        self.title.setText(header_html(text, keys, color, below), color=color)

    def fit(self, width: float) -> None:
        """The header has ``width`` pixels now."""
        if abs(width - self.width) >= 1:
            self.width = width
            self.set_title(self.title_text, self.fg)

    def add_key(self, name: str, item: Any) -> None:
        """A key entry for ``item`` (a curve, or the spike triangles' scatter)."""
        self.keys.append((name, item))
        self.set_title(self.title_text, self.fg)

    def set_placeholder(self, text: str) -> None:
        if text == self.text:
            return
        self.text = text
        self.placeholder.setText(text)
        self.placeholder.setVisible(bool(text))
        # an empty plot shows no scale (numbers next to nothing read like data) and no key
        self.item.getAxis("left").setStyle(showValues=not text)
        self.set_title(self.title_text, self.fg)
        self.center()

    def center(self) -> None:
        r = self.item.getViewBox().boundingRect()
        self.placeholder.setPos(QPointF(r.width() / 2, r.height() / 2))

    def add_curve(self, name: str, label: str | None, color: str, width: int = 1,
                  style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> pg.PlotCurveItem:
        # a bare curve item: PlotDataItem's extra layer (display datasets, clipping,
        # downsampling options the live graphs do not use) doubled every setData's cost
        c = LiveCurve(pen=pg.mkPen(color, width=width, style=style), skipFiniteCheck=True)
        self.item.addItem(c)
        self.curves[name] = c
        if label:
            self.add_key(label, c)
        return c

    def points(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        c = self.curves.get(name)
        if c is None:
            return np.empty(0), np.empty(0)
        x, y = c.getData()
        return (np.empty(0) if x is None else np.asarray(x),
                np.empty(0) if y is None else np.asarray(y))

    def not_drawn(self, total: int) -> str:
        """What the title adds when more readings exist than curves are drawn."""
        if not self.overflow:
            return ""
        return (f" ({total - len(self.overflow)} of {total} drawn; not drawn: "
                f"{', '.join(self.overflow[:4])}{'…' if len(self.overflow) > 4 else ''})")


def _stage_pen(colors: dict[str, Any], stage: str) -> Any:
    return pg.mkPen(colors[stage], width=2 if stage == E2E else 1)


def _percentile_pen(colors: dict[str, Any], name: str) -> Any:
    return pg.mkPen(colors[name], width=1, style=Qt.PenStyle.DashLine)


def build_panels(view: pg.GraphicsLayoutWidget, colors: dict[str, Any]) -> dict[str, PlotPanel]:
    """Every plot of :data:`PLOTS` in ``view``, x-linked, with its fixed curves."""
    panels: dict[str, PlotPanel] = {}
    first: pg.PlotItem | None = None
    for row, (key, title, unit) in enumerate(PLOTS):
        item = view.addPlot(row=row, col=0)
        item.setMenuEnabled(False)
        item.showGrid(x=False, y=False)  # grid only while paused: see LivePlots.set_paused
        item.setLabel("left", unit)
        for ax in ("left", "bottom"):
            item.getAxis(ax).enableAutoSIPrefix(False)  # no "ms (x0.001)"
        item.getAxis("left").setWidth(LEFT_AXIS_PX)
        item.hideButtons()
        item.setMouseEnabled(x=False, y=False)
        item.enableAutoRange(axis="y")
        item.setAutoVisible(y=True)
        if first is None:
            first = item
        elif key in FRAME_PLOTS:
            # the telemetry plots scroll at telemetry rate, not at display rate (a
            # linked axis would repaint all six plots on every tick): LivePlots sets
            # their range, and links them while paused (pan and zoom move all)
            item.setXLink(first)
        if row < len(PLOTS) - 1:
            item.getAxis("bottom").setStyle(showValues=False)
        else:
            item.setLabel("bottom", "time since start (s)")
        label = _header(item, colors)
        ph = pg.TextItem("", anchor=(0.5, 0.5), color=colors["muted"])
        ph.setParentItem(item.getViewBox())
        panel = PlotPanel(key, item, ph, label)
        item.getViewBox().sigResized.connect(lambda _vb, p=panel: p.center())
        panels[key] = panel
        panel.set_title(title, colors["fg"])
    for row in range(len(PLOTS)):
        view.ci.layout.setRowStretchFactor(row, 4 if row == 0 else 3)
    lat = panels["latency"]
    for stage in P.STAGES:
        lat.add_curve(stage, stage, colors[stage], width=2 if stage == E2E else 1)
    for name in PERCENTILES:  # rolling; their values are in the title
        lat.add_curve(name, name, colors[name], style=Qt.PenStyle.DashLine)
    panels["fps"].add_curve("fps", "fps", colors[E2E])
    for key, series in FIXED_SERIES.items():
        for k, (name, legend_name) in enumerate(series):
            panels[key].add_curve(name, legend_name, colors["series"][k])
    return panels


def _key_look(item: Any) -> tuple[str, str]:
    """(colour, glyph) of a key entry: a line as drawn (dashed ┄, thick ━, thin ─), a
    scatter by its symbol."""
    if isinstance(item, pg.ScatterPlotItem):
        return pg.mkBrush(item.opts["brush"]).color().name(), "▼"
    pen = pg.mkPen(item.opts.get("pen"))
    glyph = ("┄" if pen.style() != Qt.PenStyle.SolidLine else
             "━" if pen.widthF() >= 2 else "─")
    return pen.color().name(), glyph


def header_html(title: str, keys: list[tuple[str, Any]], fg: Any, below: bool = False
                ) -> str:
    """The title, then the key in the curves' own colours (small): beside the title, or
    on a line of its own under it."""
    parts = [f"<span style='color:{c}'><b>{g}</b></span>&nbsp;{html.escape(n)}"
             for n, (c, g) in ((n, _key_look(i)) for n, i in keys)]
    key = (("<br>" if below else "&nbsp;&nbsp;&nbsp;") + "<span style='font-size:8pt'>"
           + "&nbsp;&nbsp; ".join(parts) + "</span>") if parts else ""
    return html.escape(title) + key


_METRICS: dict[float, QFontMetricsF] = {}


def _advance(text: str, points: float) -> float:
    fm = _METRICS.get(points)
    if fm is None:
        font = QFont()
        font.setPointSizeF(points)
        fm = _METRICS[points] = QFontMetricsF(font)
    return fm.horizontalAdvance(text)


def header_width(title: str, keys: list[tuple[str, Any]]) -> float:
    """Pixels the title and its key take on one line (as :func:`header_html` lays them)."""
    key = "   " + "   ".join(f"{_key_look(i)[1]} {n}" for n, i in keys)
    return _advance(title, 9) + _advance(key, 8) + 12


def _header(item: pg.PlotItem, colors: dict[str, Any]) -> HeaderTitle:
    """Row 0 of ``item``: a left-aligned title with the key (pyqtgraph's own title row is a
    fixed 30 px with a centred title, and its legend floats over the plot)."""
    item.layout.removeItem(item.titleLabel)
    item.titleLabel.setVisible(False)
    label = HeaderTitle("", size="9pt", justify="left", color=colors["fg"])
    label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
    item.layout.addItem(label, 0, 1)
    item.layout.setRowMinimumHeight(0, 0)
    item.layout.setRowMaximumHeight(0, 10_000)
    return label


def restyle(panels: dict[str, PlotPanel], colors: dict[str, Any],
            titles: dict[str, str]) -> None:
    """Axes, titles, keys and curves in the colours of another theme."""
    for panel in panels.values():
        for ax in ("left", "bottom"):
            axis = panel.item.getAxis(ax)
            axis.setPen(pg.mkPen(colors["fg"]))
            axis.setTextPen(pg.mkPen(colors["fg"]))
        panel.placeholder.setColor(colors["muted"])
    lat = panels["latency"]
    for stage in P.STAGES:
        lat.curves[stage].setPen(_stage_pen(colors, stage))
    for name in PERCENTILES:
        lat.curves[name].setPen(_percentile_pen(colors, name))
    panels["fps"].curves["fps"].setPen(pg.mkPen(colors[E2E]))
    for key, series in FIXED_SERIES.items():
        for k, (name, _label) in enumerate(series):
            panels[key].curves[name].setPen(pg.mkPen(colors["series"][k]))
    for key in DYNAMIC_SERIES:
        for k, curve in enumerate(panels[key].curves.values()):
            curve.setPen(pg.mkPen(colors["series"][k % len(colors["series"])]))
    for key, panel in panels.items():  # the keys take the new pens' colours
        panel.set_title(titles[key], colors["fg"])
