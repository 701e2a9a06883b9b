"""The latency and FPS plots: what their curves are fed from (the frames, or their bins).

While a run goes, a window with more frames than :data:`MAX_POINTS` is drawn
from :class:`~console.ui.live.bins.FrameBins` (O(bins) per display tick,
whatever the device's rate); a window with few frames, or a run that has
ended, from the frames themselves through the console's one decimator
(``console.core.series.minmax_decimate``). FPS is counted in aligned bins
(``data.fps_series``), shorter ones for a run shorter than the window.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np

from console.core import protocol as P
from console.core.series import minmax_decimate
from console.ui.live.bins import FrameBins
from console.ui.live.data import FrameHistory, RollingPercentiles, fps_series
from console.ui.live.panels import PERCENTILES, PlotPanel

#: points per curve handed to pyqtgraph (the measured sweet spot, MACHINE-NOTES)
MAX_POINTS = 400
#: a run that ended shorter than the window gets at least this many FPS bins
SHORT_RUN_FPS_BINS = 20


def bins_for(bins: FrameBins | None, frames: FrameHistory, window_s: float) -> FrameBins:
    """``bins`` if they suit the window, else new ones built from the whole history
    (the window changed, or frames came out of order)."""
    width = window_s / (MAX_POINTS // 2)
    if bins is None or bins.width != width or bins.stale:
        bins = FrameBins(width, len(P.STAGES))
        if len(frames):
            hist = np.column_stack([frames.column(c) for c in P.STAGES])
            bins.extend(frames.column("ts"), hist)
    return bins


def draw_latency(lat: PlotPanel, frames: FrameHistory, bins: Callable[[], FrameBins],
                 percentiles: RollingPercentiles, running: bool, t_from: float) -> None:
    """The stages' curves and the rolling percentiles from ``t_from`` on."""
    sl = frames.window(t_from)
    if sl.stop - sl.start <= MAX_POINTS or not running:
        t = frames.column("ts")[sl]
        for stage in P.STAGES:
            x, y = minmax_decimate(t, frames.column(stage)[sl], MAX_POINTS)
            lat.curves[stage].setData(x, y)
    else:
        b = bins()
        for j, stage in enumerate(P.STAGES):
            lat.curves[stage].setData(*b.curve(j, t_from))
    px, pv = percentiles.since(t_from, MAX_POINTS)
    for j, name in enumerate(PERCENTILES):
        lat.curves[name].setData(px, pv[:, j] if len(pv) else np.empty(0))


def draw_fps(panels: Mapping[str, PlotPanel], frames: FrameHistory, t_from: float,
             window_s: float, short: float | None) -> None:
    """FPS from aligned bins: the slice starts on a bin edge so bins never shift."""
    bin_s = 0.5 if window_s <= 120 else 2.0
    if short is not None:  # a short run gets bins short enough to draw a line
        bin_s = min(bin_s, short / SHORT_RUN_FPS_BINS)
    fsl = frames.window(math.floor(t_from / bin_s) * bin_s)
    fx, fy = fps_series(frames.column("ts")[fsl], bin_s)
    panels["fps"].curves["fps"].setData(fx, fy)


def pixel_period(window_s: float, lat: PlotPanel) -> float:
    """Seconds of the scrolling window per pixel of plot width: redrawing more often
    moves nothing on screen (a 60 s window over 900 px: 67 ms, 15 redraws a second;
    a 10 s one: every display tick). Painting was the GUI thread's largest cost."""
    width = lat.item.getViewBox().width()
    return window_s / width if width > 1 else 0.0


def readout(frames: FrameHistory, x: float) -> str | None:
    """The frame nearest ``x`` s for the pause/inspect readout (None: no frames)."""
    f = frames.nearest(x)
    if f is None:
        return None
    return "  ·  ".join([f"t {f['ts']:.2f} s", f"frame {int(f['i'])}",
                         *(f"{s} {f[s]:.2f}" for s in P.STAGE_PARTS),
                         f"e2e {f['e2e']:.2f} ms"])
