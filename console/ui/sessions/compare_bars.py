"""Error bars for the Compare tab: each figure's interval drawn on the plots.

Two pictures of the same intervals the figures table prints
(``console.session.compare.Figure``: ``a_low``/``a_high`` and
``b_low``/``b_high`` are each session's own confidence interval):

* :func:`draw_figure_intervals` — a plot of the chosen stage's p50, p90,
  p95, p99 and mean, A and B side by side, each a dot with a vertical
  ``pyqtgraph.ErrorBarItem`` over its interval (a figure a session did not
  measure has no dot);
* :func:`draw_cdf_intervals` — on the CDF, a horizontal error bar at 50, 90,
  95 and 99 % for each session: where the percentile may be, not only where
  the curve crossed.

Both return what they drew (for tests); nothing here reads the log.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: the percentile figures and their height on the CDF (% of frames)
QUANTILES = (("p50", 50.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0))
FIGURES = ("p50", "p90", "p95", "p99", "mean")
#: A and B sit this far either side of their figure's tick
OFFSET = 0.14


def _ok(*v: float | None) -> bool:
    return all(x is not None and math.isfinite(x) for x in v)


def _bars(cmp: Any, stage: str, side: str, names: tuple[str, ...]
          ) -> tuple[list[int], list[float], list[float], list[float]]:
    """(index of the figure, estimate, low, high) of one side's figures that have all three."""
    by = {f.name: f for f in cmp.figures}
    ks, est, lo, hi = [], [], [], []
    for k, q in enumerate(names):
        f = by.get(f"{stage} {q}")
        if f is None:
            continue
        e, low, high = (f.a, f.a_low, f.a_high) if side == "a" else (f.b, f.b_low, f.b_high)
        if _ok(e, low, high):
            ks.append(k)
            est.append(float(e))
            lo.append(float(low))
            hi.append(float(high))
    return ks, est, lo, hi


def draw_figure_intervals(plot: Any, cmp: Any, stage: str, colors: dict[str, str],
                          names: tuple[str, str]) -> dict[str, Any]:
    """A's and B's figures of ``stage`` with their intervals on ``plot`` (cleared first)."""
    import pyqtgraph as pg

    plot.clear()
    drawn: dict[str, Any] = {}
    for side, color, name, dx in (("a", colors["session_a"], names[0], -OFFSET),
                                  ("b", colors["session_b"], names[1], OFFSET)):
        ks, est, lo, hi = _bars(cmp, stage, side, FIGURES)
        if not ks:
            continue
        x = np.asarray(ks, float) + dx
        y = np.asarray(est)
        bar = pg.ErrorBarItem(x=x, y=y, top=np.asarray(hi) - y, bottom=y - np.asarray(lo),
                              beam=0.08, pen=pg.mkPen(color, width=2))
        plot.addItem(bar)
        plot.addItem(pg.PlotDataItem(x, y, pen=None, symbol="o", symbolSize=7,
                                     symbolBrush=pg.mkBrush(color), symbolPen=None,
                                     name=name))
        drawn[side] = {"x": x, "estimate": y, "low": np.asarray(lo), "high": np.asarray(hi),
                       "item": bar}
    plot.getAxis("bottom").setTicks([[(k, q) for k, q in enumerate(FIGURES)]])
    plot.setXRange(-0.6, len(FIGURES) - 0.4, padding=0)
    level = getattr(cmp, "level", 0.95)
    plot.setTitle(f"{stage} figures with their {level * 100:g} % intervals (A left, B right)",
                  size="9pt", color=colors["fg"])
    return drawn


def draw_cdf_intervals(plot: Any, cmp: Any, stage: str, colors: dict[str, str]
                       ) -> dict[str, Any]:
    """Horizontal error bars on the CDF at each percentile's height (not cleared: the CDF
    curves are drawn first)."""
    import pyqtgraph as pg

    drawn: dict[str, Any] = {}
    names = tuple(q for q, _h in QUANTILES)
    heights = dict(QUANTILES)
    for side, color, dy in (("a", colors["session_a"], -0.8), ("b", colors["session_b"], 0.8)):
        ks, est, lo, hi = _bars(cmp, stage, side, names)
        if not ks:
            continue
        y = np.asarray([heights[names[k]] + dy for k in ks])
        x = np.asarray(est)
        bar = pg.ErrorBarItem(x=x, y=y, left=x - np.asarray(lo), right=np.asarray(hi) - x,
                              beam=1.2, pen=pg.mkPen(color, width=2))
        plot.addItem(bar)
        drawn[side] = {"y": y, "estimate": x, "low": np.asarray(lo), "high": np.asarray(hi),
                       "item": bar}
    return drawn
