"""SVG charts drawn for the HTML reports: lines over time, histograms, CDFs.

Self-contained SVG strings (no script, no font, no stylesheet fetched); a
figure with nothing to draw is an "unavailable" panel, never an empty plot.
Knows nothing of sessions: callers pass arrays.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from console.core.series import minmax_decimate

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#17becf")
_W, _H = 960, 260
_ML, _MR, _MT, _MB = 64, 16, 30, 42
#: Points kept per line after min/max decimation (:func:`console.core.series.minmax_decimate`,
#: the live plots' own: a spike shows in both or neither; NaN gaps stay gaps).
MAX_LINE_POINTS = 1600


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _nice_ticks(lo: float, hi: float, n: int = 5) -> tuple[list[float], float]:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi <= lo:
        hi = lo + (abs(lo) * 0.1 or 1.0)
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = mag
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            step = m * mag
            break
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    ticks = [round(k * step, 12) for k in range(first, max(last, first + 1) + 1)]
    return ticks, step


def _fmt_tick(v: float, step: float) -> str:
    if step >= 1:
        return f"{v:.0f}" if step == int(step) else f"{v:.1f}"  # 2.5-steps keep their .5
    exp = math.floor(math.log10(step))
    mant = round(step / 10**exp, 6)  # 1, 2, 2.5 or 5
    decimals = -exp + (0 if mant == int(mant) else 1)
    return f"{v:.{min(decimals, 9)}f}"


class _Axes:
    """A plot area with linear axes; maps data to SVG pixels."""

    def __init__(self, x_lo: float, x_hi: float, y_lo: float, y_hi: float,
                 w: int = _W, h: int = _H) -> None:
        self.w, self.h = w, h
        self.xt, xs = _nice_ticks(x_lo, x_hi)
        self.yt, ys = _nice_ticks(y_lo, y_hi)
        self.x_lo, self.x_hi = self.xt[0], self.xt[-1]
        self.y_lo, self.y_hi = self.yt[0], self.yt[-1]
        self.xs, self.ys = xs, ys

    def px(self, x: np.ndarray | float) -> Any:
        span = (self.x_hi - self.x_lo) or 1.0
        return _ML + (np.asarray(x, np.float64) - self.x_lo) / span * (self.w - _ML - _MR)

    def py(self, y: np.ndarray | float) -> Any:
        span = (self.y_hi - self.y_lo) or 1.0
        return self.h - _MB - (np.asarray(y, np.float64) - self.y_lo) / span * \
            (self.h - _MT - _MB)

    def frame(self, title: str, xlabel: str, ylabel: str) -> list[str]:
        w, h = self.w, self.h
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" viewBox="0 0 {w} {h}" '
               f'width="{w}" height="{h}" role="img" aria-label="{esc(title)}">',
               f'<rect x="0" y="0" width="{w}" height="{h}" fill="#fff"/>',
               f'<text x="{_ML}" y="18" class="t">{esc(title)}</text>']
        for t in self.yt:
            y = float(self.py(t))
            out.append(f'<line x1="{_ML}" x2="{w - _MR}" y1="{y:.1f}" y2="{y:.1f}" '
                       f'class="grid"/><text x="{_ML - 6}" y="{y + 4:.1f}" class="yl">'
                       f'{_fmt_tick(t, self.ys)}</text>')
        for t in self.xt:
            x = float(self.px(t))
            out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{_MT}" y2="{h - _MB}" '
                       f'class="grid"/><text x="{x:.1f}" y="{h - _MB + 16}" class="xl">'
                       f'{_fmt_tick(t, self.xs)}</text>')
        out.append(f'<rect x="{_ML}" y="{_MT}" width="{w - _ML - _MR}" height="{h - _MT - _MB}" '
                   'class="box"/>')
        out.append(f'<text x="{(w + _ML) / 2:.0f}" y="{h - 6}" class="xl">{esc(xlabel)}</text>')
        out.append(f'<text transform="translate(14 {(h - _MB + _MT) / 2:.0f}) rotate(-90)" '
                   f'class="xl">{esc(ylabel)}</text>')
        return out

    def legend(self, items: Sequence[tuple[str, str]]) -> list[str]:
        out = []
        x = self.w - _MR - 8
        for label, color in reversed(items):
            width = 7 * len(label) + 20
            x -= width
            out.append(f'<rect x="{x}" y="8" width="10" height="10" fill="{color}"/>'
                       f'<text x="{x + 14}" y="17" class="lg">{esc(label)}</text>')
        return out


def unavailable_svg(title: str, reason: str, w: int = _W, h: int = 90) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="plot na" viewBox="0 0 {w} {h}" '
            f'width="{w}" height="{h}" role="img" aria-label="{esc(title)}: unavailable">'
            f'<rect x="0.5" y="0.5" width="{w - 1}" height="{h - 1}" class="nabox"/>'
            f'<text x="{_ML}" y="26" class="t">{esc(title)}</text>'
            f'<text x="{_ML}" y="58" class="na">unavailable — {esc(reason)}</text></svg>')


def _path(ax: _Axes, x: np.ndarray, y: np.ndarray) -> str:
    """SVG path data; NaN breaks the line."""
    px, py = ax.px(x), ax.py(y)
    parts = []
    pen = False
    for a, b, v in zip(px, py, y):
        if not math.isfinite(float(v)):
            pen = False
            continue
        parts.append(f"{'L' if pen else 'M'}{a:.1f},{b:.1f}")
        pen = True
    return "".join(parts)


def line_chart(title: str, series: Sequence[tuple[str, np.ndarray, np.ndarray]], *,
               xlabel: str = "time (s)", ylabel: str = "", zero: bool = True,
               marks: Sequence[tuple[float, str]] = (), unavailable: str = "no samples"
               ) -> str:
    """Lines over a shared x axis; ``marks`` are vertical bookmark lines (x, label)."""
    usable = [(lab, np.asarray(x, np.float64), np.asarray(y, np.float64)) for lab, x, y in series]
    usable = [(lab, x, y) for lab, x, y in usable if x.size and np.isfinite(y).any()]
    if not usable:
        return unavailable_svg(title, unavailable)
    xs = np.concatenate([x for _, x, _ in usable])
    ys = np.concatenate([y[np.isfinite(y)] for _, _, y in usable])
    y_lo = min(0.0, float(ys.min())) if zero else float(ys.min())
    ax = _Axes(float(xs.min()), float(xs.max()), y_lo, float(ys.max()))
    out = ax.frame(title, xlabel, ylabel)
    items = []
    for k, (lab, x, y) in enumerate(usable):
        color = PALETTE[k % len(PALETTE)]
        dx, dy = minmax_decimate(x, y, MAX_LINE_POINTS)
        out.append(f'<path d="{_path(ax, dx, dy)}" fill="none" stroke="{color}" '
                   f'stroke-width="1.2"><title>{esc(lab)}</title></path>')
        items.append((lab, color))
    for mx, label in marks:
        if ax.x_lo <= mx <= ax.x_hi:
            px = float(ax.px(mx))
            out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{_MT}" y2="{ax.h - _MB}" '
                       f'class="mark"/><text x="{px + 3:.1f}" y="{_MT + 12}" class="mk">'
                       f'{esc(label[:40])}</text>')
    out += ax.legend(items)
    out.append("</svg>")
    return "".join(out)


def histogram_chart(title: str, series: Sequence[tuple[str, np.ndarray]], *,
                    xlabel: str = "latency (ms)", bins: int = 60) -> str:
    """Overlaid histograms on shared bins, as % of each series' frames.

    The range stops at the 99.5th percentile so one outlier does not squash
    the distribution; what lies beyond is counted in the last bin and said
    in the title.
    """
    usable = [(lab, np.asarray(v, np.float64)) for lab, v in series]
    usable = [(lab, v[np.isfinite(v)]) for lab, v in usable]
    usable = [(lab, v) for lab, v in usable if v.size]
    if not usable:
        return unavailable_svg(title, "no frames")
    allv = np.concatenate([v for _, v in usable])
    lo, hi = float(allv.min()), float(np.percentile(allv, 99.5))
    if hi <= lo:
        hi = lo + max(abs(lo) * 0.05, 1e-3)
    edges = np.linspace(lo, hi, bins + 1)
    over = int((allv > hi).sum())
    hists = []
    for lab, v in usable:
        h, _ = np.histogram(np.clip(v, lo, hi), bins=edges)
        hists.append((lab, h / v.size * 100.0))
    ymax = max(float(h.max()) for _, h in hists)
    note = f" — {over} frame{'s' if over != 1 else ''} above {hi:.3f} ms in the last bin" \
        if over else ""
    ax = _Axes(lo, hi, 0.0, ymax)
    out = ax.frame(title + note, xlabel, "% of frames")
    items = []
    for k, (lab, h) in enumerate(hists):
        color = PALETTE[k % len(PALETTE)]
        pts = [f"M{float(ax.px(edges[0])):.1f},{float(ax.py(0)):.1f}"]
        for j, c in enumerate(h):
            pts.append(f"L{float(ax.px(edges[j])):.1f},{float(ax.py(c)):.1f}"
                       f"L{float(ax.px(edges[j + 1])):.1f},{float(ax.py(c)):.1f}")
        pts.append(f"L{float(ax.px(edges[-1])):.1f},{float(ax.py(0)):.1f}Z")
        out.append(f'<path d="{"".join(pts)}" fill="{color}" fill-opacity="0.35" '
                   f'stroke="{color}" stroke-width="1"><title>{esc(lab)}</title></path>')
        items.append((lab, color))
    out += ax.legend(items)
    out.append("</svg>")
    return "".join(out)


def cdf_chart(title: str, series: Sequence[tuple[str, np.ndarray]], *,
              xlabel: str = "latency (ms)") -> str:
    """Empirical CDFs. The axis stops at the 99.5th percentile, like the histogram, so
    a handful of outliers does not flatten the curve; the title says where and
    what the maximum was."""
    usable = [(lab, np.sort(np.asarray(v, np.float64)[np.isfinite(np.asarray(v, np.float64))]))
              for lab, v in series]
    usable = [(lab, v) for lab, v in usable if v.size]
    if not usable:
        return unavailable_svg(title, "no frames")
    allv = np.concatenate([v for _, v in usable])
    lo = float(allv.min())
    top = float(allv.max())
    hi = float(np.percentile(allv, 99.5))
    if hi <= lo:
        hi = lo + max(abs(lo) * 0.05, 1e-3)
    note = f" — axis ends at {hi:.3f} ms (p99.5), max {top:.3f} ms" if top > hi else ""
    ax = _Axes(lo, hi, 0.0, 100.0)
    out = ax.frame(title + note, xlabel, "% of frames at or below")
    items = []
    for k, (lab, v) in enumerate(usable):
        color = PALETTE[k % len(PALETTE)]
        n = v.size
        if n > MAX_LINE_POINTS:
            q = np.linspace(0, 1, MAX_LINE_POINTS)
            x = np.quantile(v, q)
            y = q * 100.0
        else:
            x = v
            y = np.arange(1, n + 1) / n * 100.0
        keep = x <= ax.x_hi
        out.append(f'<path d="{_path(ax, x[keep], y[keep])}" fill="none" stroke="{color}" '
                   f'stroke-width="1.5"><title>{esc(lab)}</title></path>')
        items.append((lab, color))
    for p in (50, 95, 99):
        yp = float(ax.py(p))
        ty = yp - 3 if p == 99 else yp + 11  # p95 and p99 lines are close: labels apart
        out.append(f'<line x1="{_ML}" x2="{ax.w - _MR}" y1="{yp:.1f}" y2="{yp:.1f}" class="pl"/>'
                   f'<text x="{_ML + 30}" y="{ty:.1f}" class="yl">p{p}</text>')
    out += ax.legend(items)
    out.append("</svg>")
    return "".join(out)

