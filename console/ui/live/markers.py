"""What the live graphs mark beyond their lines: events, bookmarks, spikes, trip points.

- a vertical line on every plot where the agent reported an error or a
  warning, the device reported throttling, or the user bookmarked;
- a triangle on the latency plot at each latency spike, and the spike's
  explanation (what changed on the device then) beside the worst ones;
- a horizontal line on the temperature plot at each thermal trip point
  the device reported (passive, hot, critical).

Bounded: the oldest markers and labels go first, so a long run costs the
same repaint as a short one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyqtgraph as pg

from console.ui.live.correlate import SPIKE_FACTOR, Spike
from console.ui.live.panels import PlotPanel
from console.ui.qt import Qt

MAX_MARKERS = 60
#: annotated spike labels kept on the latency plot
MAX_SPIKE_LABELS = 8
#: trip-point lines drawn at most (distinct temperatures)
MAX_TRIP_LINES = 4
TRIP_TYPES = ("passive", "hot", "critical")


#: the legend entry of the spike triangles
SPIKE_LEGEND = "spike"


def spike_text(s: Spike) -> str:
    """What hovering a spike's triangle says."""
    return (f"latency spike at {s.t:.2f} s, frame {s.frame} (beyond {SPIKE_FACTOR:g} × the "
            f"rolling p99): end-to-end {s.label()}")


def spike_tip(x: float, y: float, data: Any) -> str:
    """pyqtgraph's hover tooltip for a triangle (its data is :func:`spike_text`)."""
    return str(data) if data is not None else f"latency spike at {x:.2f} s: {y:.1f} ms"


class PlotMarkers:
    def __init__(self, panels: Mapping[str, PlotPanel], colors: dict[str, Any]) -> None:
        self.panels = panels
        self.colors = colors
        self._markers: list[tuple[float, list[pg.InfiniteLine]]] = []
        self._spike_labels: list[pg.TextItem] = []
        self._trip_lines: list[pg.InfiniteLine] = []
        self.spike_scatter = pg.ScatterPlotItem(
            size=11, symbol="t", pen=pg.mkPen(colors["error"]),
            brush=pg.mkBrush(colors["error"]), hoverable=True, tip=spike_tip)
        lat = panels["latency"].item
        lat.addItem(self.spike_scatter)
        panels["latency"].add_key(SPIKE_LEGEND, self.spike_scatter)  # what ▼ are

    def clear(self) -> None:
        for _t, lines in self._markers:
            for line, panel in zip(lines, self.panels.values()):
                panel.item.removeItem(line)
        self._markers = []
        lat, temp = self.panels["latency"].item, self.panels["temperature"].item
        for label in self._spike_labels:
            lat.removeItem(label)
        self._spike_labels = []
        for line in self._trip_lines:
            temp.removeItem(line)
        self._trip_lines = []
        self.spike_scatter.setData([], [])

    # -- vertical markers ---------------------------------------------------------------
    def add(self, t: float, kind: str, text: str) -> None:
        """A line on every plot at ``t`` (s since the run's start), ``text`` on the first."""
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

    def markers(self) -> list[tuple[float, str]]:
        """The vertical markers drawn now: (time in s since t0, their text)."""
        return [(t, lines[0].toolTip() if lines else "") for t, lines in self._markers]

    # -- spikes -------------------------------------------------------------------------
    def label_spikes(self, spikes: Sequence[Spike]) -> None:
        """Write the explanation of each explained spike beside it."""
        lat = self.panels["latency"].item
        for s in spikes:
            if not s.causes:
                continue
            label = pg.TextItem(s.label(), color=self.colors["error"], anchor=(0, 1))
            label.setPos(s.t, s.e2e_ms)
            lat.addItem(label, ignoreBounds=True)
            self._spike_labels.append(label)
            if len(self._spike_labels) > MAX_SPIKE_LABELS:
                lat.removeItem(self._spike_labels.pop(0))

    def show_spikes(self, spikes: Sequence[Spike]) -> None:
        """The triangles of the spikes in the visible window."""
        self.spike_scatter.setData([s.t for s in spikes], [s.e2e_ms for s in spikes],
                                   data=[spike_text(s) for s in spikes])

    def spike_labels(self) -> list[str]:
        return [item.toPlainText() for item in self._spike_labels]

    # -- trip points --------------------------------------------------------------------
    def set_trips(self, trips: Mapping[str, Sequence[tuple[str, float]]]) -> None:
        temp = self.panels["temperature"].item
        seen: set[float] = set()
        for zone, zone_trips in trips.items():
            for ttype, c in zone_trips:
                if c in seen or len(seen) >= MAX_TRIP_LINES or ttype not in TRIP_TYPES:
                    continue
                seen.add(c)
                line = pg.InfiniteLine(pos=c, angle=0, movable=False,
                                       pen=pg.mkPen(self.colors["warning"], width=1,
                                                    style=Qt.PenStyle.DashLine),
                                       label=f"{zone} {ttype} {c:.0f} °C",
                                       labelOpts={"position": 0.02, "color": self.colors["muted"],
                                                  "anchors": [(0, 1), (0, 1)]})
                temp.addItem(line, ignoreBounds=True)
                self._trip_lines.append(line)

    def trip_points(self) -> list[float]:
        """The temperatures (°C) of the trip-point lines drawn."""
        return sorted(float(line.value()) for line in self._trip_lines)
