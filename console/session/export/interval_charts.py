"""Error-bar charts for the HTML comparison: each figure's interval drawn, not only printed.

Two forest plots (one row per figure, a dot at the estimate and a whisker
over its confidence interval):

* :func:`estimates_chart` — A's and B's own estimate of each figure of one
  quantity (a stage's p50/p90/p95/p99/mean) with each session's interval;
* :func:`changes_chart` — every compared figure's change B − A as a share of
  A, with the interval of the difference, the practical threshold as a
  shaded band and the whisker coloured by its verdict (regression,
  improvement, no change, inconclusive): the picture of the rule, a change
  counts only when its whole interval is beyond the band.

Self-contained SVG like :mod:`console.session.export.charts`; a chart with
nothing to draw is an "unavailable" panel. Knows nothing of sessions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from console.session.export.charts import PALETTE, _fmt_tick, _nice_ticks, esc, unavailable_svg

_W = 960
_LABEL_W = 190
_MR, _MT, _MB = 20, 44, 40
_ROW = 26
#: whisker colour per verdict word (the window's Compare tab uses the same)
VERDICT_COLORS = {"regression": "#d62728", "improvement": "#2ca02c", "no change": "#6c757d",
                  "inconclusive": "#e8a317"}
#: the change chart's axis ends at ±this many % (a tiny A makes a huge relative change)
CHANGE_CLIP_PCT = 100.0
A_COLOR, B_COLOR = PALETTE[0], PALETTE[1]  # the other comparison charts' A and B


@dataclass(frozen=True)
class Whisker:
    """One estimate with its interval (``low``/``high`` None: no interval, a dot only)."""

    label: str
    estimate: float
    low: float | None
    high: float | None
    color: str
    note: str = ""


def _finite(*v: float | None) -> bool:
    return all(x is not None and math.isfinite(x) for x in v)


def forest_chart(title: str, rows: Sequence[tuple[str, Sequence[Whisker]]], *, xlabel: str,
                 bands: Sequence[tuple[float, float] | None] = (), zero: bool = False,
                 legend: Sequence[tuple[str, str]] = (), unavailable: str = "nothing measured",
                 clip: float | None = None) -> str:
    """One row per ``(label, whiskers)``; ``bands[k]`` shades an x range behind row k;
    ``zero`` draws the line x = 0; ``clip`` bounds the axis to ±clip (a whisker beyond
    ends in an arrow at the edge; its tooltip has the exact figures)."""
    values = [x for _lab, ws in rows for w in ws
              for x in (w.estimate, w.low, w.high) if x is not None and math.isfinite(x)]
    clipped = clip is not None and any(abs(v) > clip for v in values)
    if clip is not None:
        values = [max(-clip, min(clip, v)) for v in values]
    values += [x for b in bands if b is not None for x in b if math.isfinite(x)]
    if zero:
        values.append(0.0)
    rows = [(lab, [w for w in ws if _finite(w.estimate)]) for lab, ws in rows]
    if not values or not any(ws for _lab, ws in rows):
        return unavailable_svg(title, unavailable)
    ticks, step = _nice_ticks(min(values), max(values))
    if clip is not None:
        ticks = [t for t in ticks if -clip <= t <= clip] or [-clip, clip]
    x_lo = max(ticks[0], -clip) if clip is not None else ticks[0]
    x_hi = min(ticks[-1], clip) if clip is not None else ticks[-1]
    if clip is not None and min(values) < x_lo:
        x_lo = -clip
    if clip is not None and max(values) > x_hi:
        x_hi = clip
    h = _MT + _MB + _ROW * len(rows)
    plot_w = _W - _LABEL_W - _MR

    def px(v: float) -> float:
        v = max(x_lo, min(x_hi, v))
        return _LABEL_W + (v - x_lo) / ((x_hi - x_lo) or 1.0) * plot_w

    if clipped:
        title += f" — axis clipped at ±{clip:g} (arrows: beyond)"

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="plot intervals" '
           f'viewBox="0 0 {_W} {h}" width="{_W}" height="{h}" role="img" '
           f'aria-label="{esc(title)}">',
           f'<rect x="0" y="0" width="{_W}" height="{h}" fill="#fff"/>',
           f'<text x="{_LABEL_W}" y="18" class="t">{esc(title)}</text>']
    for t in ticks:
        x = px(t)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{_MT}" y2="{h - _MB}" class="grid"/>'
                   f'<text x="{x:.1f}" y="{h - _MB + 16}" class="xl">{_fmt_tick(t, step)}'
                   "</text>")
    for k, (label, ws) in enumerate(rows):
        y0 = _MT + k * _ROW
        band = bands[k] if k < len(bands) else None
        if band is not None and all(math.isfinite(b) for b in band):
            x1, x2 = px(max(band[0], x_lo)), px(min(band[1], x_hi))
            out.append(f'<rect x="{x1:.1f}" y="{y0 + 2}" width="{max(x2 - x1, 0.5):.1f}" '
                       f'height="{_ROW - 4}" class="band"><title>practical threshold: '
                       f'{band[0]:.3g} … {band[1]:.3g}</title></rect>')
        out.append(f'<text x="{_LABEL_W - 8}" y="{y0 + _ROW / 2 + 4:.1f}" class="yl">'
                   f"{esc(label)}</text>")
        n = len(ws)
        for j, w in enumerate(ws):
            y = y0 + _ROW * (j + 1) / (n + 1)
            tip = f"{w.label}: {w.estimate:.4g}" + (
                f" [{w.low:.4g}, {w.high:.4g}]" if _finite(w.low, w.high) else "") + \
                (f" — {w.note}" if w.note else "")
            if _finite(w.low, w.high):
                lo, hi = float(w.low), float(w.high)  # type: ignore[arg-type]
                xl, xh = px(lo), px(hi)
                caps = []
                for xe, beyond, d in ((xl, lo < x_lo, -1), (xh, hi > x_hi, 1)):
                    caps.append(f'<path d="M{xe:.1f},{y - 4:.1f}L{xe + 6 * d:.1f},{y:.1f}'
                                f'L{xe:.1f},{y + 4:.1f}Z" fill="{w.color}"/>' if beyond else
                                f'<line x1="{xe:.1f}" x2="{xe:.1f}" y1="{y - 4:.1f}" '
                                f'y2="{y + 4:.1f}"/>')
                out.append(f'<g class="whisker" stroke="{w.color}" stroke-width="1.6">'
                           f'<line x1="{xl:.1f}" x2="{xh:.1f}" y1="{y:.1f}" y2="{y:.1f}"/>'
                           + "".join(caps) + "</g>")
            out.append(f'<circle cx="{px(w.estimate):.1f}" cy="{y:.1f}" r="3.2" '
                       f'fill="{w.color}"><title>{esc(tip)}</title></circle>')
    if zero and x_lo <= 0 <= x_hi:
        out.append(f'<line x1="{px(0):.1f}" x2="{px(0):.1f}" y1="{_MT}" y2="{h - _MB}" '
                   'class="zero"/>')
    out.append(f'<rect x="{_LABEL_W}" y="{_MT}" width="{plot_w}" height="{h - _MT - _MB}" '
               'class="box"/>')
    out.append(f'<text x="{_LABEL_W + plot_w / 2:.0f}" y="{h - 6}" class="xl">'
               f"{esc(xlabel)}</text>")
    x = _W - _MR - 8
    for label, color in reversed(list(legend)):
        x -= 7 * len(label) + 20
        out.append(f'<rect x="{x}" y="24" width="10" height="10" fill="{color}"/>'
                   f'<text x="{x + 14}" y="33" class="lg">{esc(label)}</text>')
    out.append("</svg>")
    return "".join(out)


def estimates_chart(title: str, figures: Sequence[tuple[str, Whisker | None, Whisker | None]],
                    *, unit: str, labels: tuple[str, str] = ("A", "B")) -> str:
    """A's and B's estimate of each figure, each with its own interval."""
    rows = [(name, [w for w in (a, b) if w is not None]) for name, a, b in figures]
    legend = [(labels[0], A_COLOR), (labels[1], B_COLOR)]
    return forest_chart(title, rows, xlabel=unit, legend=legend,
                        unavailable="neither session measured these figures")


@dataclass(frozen=True)
class Change:
    """One figure's relative change B − A (fractions of A) with the interval and threshold."""

    name: str
    verdict: str
    change: float
    low: float | None
    high: float | None
    threshold: float | None


def changes_chart(title: str, changes: Sequence[Change]) -> str:
    """Every figure's change in % of A with its interval; the band is ±threshold."""
    rows, bands = [], []
    for c in changes:
        color = VERDICT_COLORS.get(c.verdict, "#6c757d")
        rows.append((c.name, [Whisker(c.verdict, c.change * 100.0,
                                      None if c.low is None else c.low * 100.0,
                                      None if c.high is None else c.high * 100.0, color,
                                      c.verdict)]))
        bands.append(None if c.threshold is None else (-c.threshold * 100.0,
                                                       c.threshold * 100.0))
    legend = [(v, VERDICT_COLORS[v]) for v in VERDICT_COLORS]
    return forest_chart(title, rows, xlabel="change B − A (% of A); shaded: the practical "
                                            "threshold", bands=bands, zero=True,
                        legend=legend, unavailable="no figure has an interval to draw",
                        clip=CHANGE_CLIP_PCT)
