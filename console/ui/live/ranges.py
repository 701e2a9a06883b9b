"""The live plots' y ranges, set by hand (pyqtgraph's auto range is off).

(A legend floating in the top band of a plot sat on the curves whenever the
plot was short or narrow; each plot's key is now in its header row, beside
the title — ``panels.header_html`` — so no range makes room for one.)

The range is also kept steady: it moves to a "nice" value (1, 1.5, 2, 2.5, 3,
4, 5, 6, 8 × 10ⁿ) and only when the data leave it or use less than half of it, so the
axis is not re-laid out on every display tick (each new range re-draws the
axis' tick texts, a measurable part of a tick's cost at high rates).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from console.ui.live.panels import ZERO_BASED, PlotPanel

#: room above the highest point (the range's top is then rounded up to a nice value)
HEADROOM = 0.05
#: a range is shrunk when the data use less than this share of it
SHRINK_BELOW = 0.5
_NICE = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)


def nice_ceil(v: float) -> float:
    """The smallest of 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10ⁿ at or above ``v`` (> 0)."""
    if v <= 0 or not math.isfinite(v):
        return 1.0
    mag = 10.0 ** math.floor(math.log10(v))
    for m in _NICE:
        if m * mag >= v * (1 - 1e-12):
            return m * mag
    return 10.0 * mag


def visible_bounds(panel: PlotPanel) -> tuple[float, float] | None:
    """The lowest and highest finite y of the curves' points (what is drawn)."""
    lo, hi = math.inf, -math.inf
    for curve in panel.curves.values():
        _x, y = curve.getData()
        if y is None or not len(y):
            continue
        finite = y[np.isfinite(y)]
        if finite.size:
            lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
    return (lo, hi) if lo <= hi else None


@dataclass
class _Range:
    lo: float
    hi: float


class YRanges:
    """Keeps each plot's y range (set by hand: pyqtgraph's auto range is off)."""

    def __init__(self) -> None:
        self._ranges: dict[str, _Range] = {}

    def clear(self) -> None:
        self._ranges.clear()

    def forget(self, key: str) -> None:
        """Set ``key``'s range afresh next time (its plot was resized)."""
        self._ranges.pop(key, None)

    def current(self, key: str) -> tuple[float, float] | None:
        r = self._ranges.get(key)
        return (r.lo, r.hi) if r is not None else None

    def apply(self, panels: Mapping[str, PlotPanel], keys: Iterable[str] | None = None) -> None:
        for key in keys if keys is not None else panels:
            self.apply_one(key, panels[key])

    def apply_one(self, key: str, panel: PlotPanel) -> None:
        b = visible_bounds(panel)
        if b is None:
            return
        lo, hi = b
        if key in ZERO_BASED:
            lo = 0.0
            hi = max(hi, 0.0)
            span = hi if hi > 0 else 1.0
        else:
            span = hi - lo
            pad = max(span * 0.1, abs(hi) * 0.02, 0.5)
            lo, hi = lo - pad, hi + pad
            span = hi - lo
        need_top = lo + span * (1.0 + HEADROOM)
        cur = self._ranges.get(key)
        if key in ZERO_BASED:
            inside = cur is not None and need_top <= cur.hi
            used = (need_top - lo) / (cur.hi - lo) if cur is not None and cur.hi > lo else 0
            if inside and used >= SHRINK_BELOW:
                return
            new = _Range(0.0, nice_ceil(need_top))
        else:
            step = nice_ceil(span / 4)
            new_lo = math.floor(lo / step) * step
            new_hi = math.ceil(need_top / step) * step
            if cur is not None and cur.lo <= lo and need_top <= cur.hi \
                    and (need_top - lo) >= SHRINK_BELOW * (cur.hi - cur.lo):
                return
            new = _Range(new_lo, new_hi)
        if cur is not None and cur == new:
            return
        self._ranges[key] = new
        panel.item.setYRange(new.lo, new.hi, padding=0)
