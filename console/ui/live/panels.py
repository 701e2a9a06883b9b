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

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyqtgraph as pg

from console.core import protocol as P
from console.ui.live.data import E2E
from console.ui.qt import QGraphicsLinearLayout, QPointF, QSizePolicy, Qt

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


class HeaderLegend(pg.LegendItem):
    """A legend laid out in its plot's header row, right of the title: never over the
    data, whatever the plot's height. (pyqtgraph's legend floats over the plot and
    places itself with ``setGeometry(0, 0, …)``; here the header's layout places it.)"""

    def __init__(self, colors: dict[str, Any]) -> None:
        super().__init__(offset=None, labelTextSize="8pt", colCount=8, verSpacing=-6,
                         horSpacing=6, brush=legend_brush(colors))
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)

    def updateSize(self) -> None:
        self.layout.invalidate()
        self.layout.activate()
        hint = self.layout.effectiveSizeHint(Qt.SizeHint.PreferredSize)
        self.setMinimumSize(hint)
        self.setMaximumSize(hint)
        self.updateGeometry()


@dataclass
class PlotPanel:
    """One plot, its curves and its "no data" text (drawn in the view, not in data space);
    its title and legend share the header row above the plot."""

    key: str
    item: pg.PlotItem
    placeholder: pg.TextItem
    title: pg.LabelItem
    curves: dict[str, pg.PlotDataItem] = field(default_factory=dict)
    overflow: list[str] = field(default_factory=list)
    text: str = ""

    def set_title(self, text: str, color: Any) -> None:
        self.title.setText(text, color=color)

    def set_placeholder(self, text: str) -> None:
        if text == self.text:
            return
        self.text = text
        self.placeholder.setText(text)
        self.placeholder.setVisible(bool(text))
        # an empty plot shows no scale: numbers next to nothing read like data, and no
        # legend: its entries would sit on top of the words
        self.item.getAxis("left").setStyle(showValues=not text)
        if self.item.legend is not None:
            self.item.legend.setVisible(not text)
        self.center()

    def center(self) -> None:
        r = self.item.getViewBox().boundingRect()
        self.placeholder.setPos(QPointF(r.width() / 2, r.height() / 2))

    def add_curve(self, name: str, label: str | None, color: str, width: int = 1,
                  style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> pg.PlotDataItem:
        c = self.item.plot([], [], name=label, pen=pg.mkPen(color, width=width, style=style),
                           skipFiniteCheck=True)
        self.curves[name] = c
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


def legend_brush(colors: dict[str, Any]) -> Any:
    """The plot background, slightly see-through: labels stay readable over a curve."""
    color = pg.mkColor(colors["bg"])
    color.setAlpha(210)
    return pg.mkBrush(color)


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
        item.getAxis("left").setWidth(52)
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
        view.ci.layout.setRowStretchFactor(row, 3 if row == 0 else 2)
    lat = panels["latency"]
    for stage in P.STAGES:
        lat.add_curve(stage, stage, colors[stage], width=2 if stage == E2E else 1)
    for name in PERCENTILES:  # rolling; their values are in the title
        lat.add_curve(name, name, colors[name], style=Qt.PenStyle.DashLine)
    panels["fps"].add_curve("fps", "fps", colors[E2E])
    for key, series in FIXED_SERIES.items():
        for k, (name, label) in enumerate(series):
            panels[key].add_curve(name, label, colors["series"][k])
    return panels


def _header(item: pg.PlotItem, colors: dict[str, Any]) -> pg.LabelItem:
    """Row 0 of ``item``: a left-aligned title, then the legend at the right (pyqtgraph's
    own title row is a fixed 30 px with a centred title, and its legend floats over the
    plot). Returns the title label."""
    item.layout.removeItem(item.titleLabel)
    item.titleLabel.setVisible(False)
    header = pg.GraphicsWidget()
    row = QGraphicsLinearLayout(Qt.Orientation.Horizontal)
    row.setContentsMargins(4, 1, 2, 1)
    row.setSpacing(8)
    header.setLayout(row)
    label = pg.LabelItem("", size="9pt", justify="left", color=colors["fg"])
    label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
    row.addItem(label)
    row.addStretch(1)
    legend = HeaderLegend(colors)
    legend.setParentItem(header)
    row.addItem(legend)
    row.setAlignment(legend, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    item.legend = legend  # PlotItem adds every named curve to it
    header.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
    item.layout.addItem(header, 0, 1)
    item.layout.setRowMinimumHeight(0, 0)
    item.layout.setRowMaximumHeight(0, 10_000)
    return label


def restyle(panels: dict[str, PlotPanel], colors: dict[str, Any],
            titles: dict[str, str]) -> None:
    """Axes, titles, legends and curves in the colours of another theme."""
    for key, panel in panels.items():
        for ax in ("left", "bottom"):
            axis = panel.item.getAxis(ax)
            axis.setPen(pg.mkPen(colors["fg"]))
            axis.setTextPen(pg.mkPen(colors["fg"]))
        panel.set_title(titles[key], colors["fg"])
        panel.placeholder.setColor(colors["muted"])
        legend = panel.item.legend
        if legend is not None:
            legend.setLabelTextColor(colors["fg"])
            legend.setBrush(legend_brush(colors))
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
