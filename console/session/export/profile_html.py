"""The operator profile section of the HTML report: ranked bars and the op-type breakdown.

Inline SVG bars (no script), figures from :class:`console.core.op_profile.OpProfile`
— the same ones ``devicelab sessions show`` prints and the window draws.
"""

from __future__ import annotations

from console.core.op_profile import OpDelta, OpProfile
from console.session.export.charts import esc

TOP_N = 20
_W, _ROW, _LABEL = 940, 18, 330


def _bars(rows: list[tuple[str, float, str]], title: str) -> str:
    """Horizontal bars: (label, value, text at the bar's end), longest first."""
    top = max((v for _, v, _ in rows), default=0.0) or 1.0
    h = 26 + _ROW * len(rows)
    out = [f"<svg class='plot' viewBox='0 0 {_W} {h}' width='{_W}' height='{h}' "
           f"role='img' aria-label='{esc(title)}'><text class='t' x='6' y='16'>{esc(title)}"
           "</text>"]
    span = _W - _LABEL - 150
    for k, (label, v, text) in enumerate(rows):
        y = 24 + k * _ROW
        w = max(1.0, span * v / top)
        out.append(f"<text class='yl' x='{_LABEL - 6}' y='{y + 12}'>{esc(label[:48])}</text>"
                   f"<rect x='{_LABEL}' y='{y + 2}' width='{w:.1f}' height='{_ROW - 5}' "
                   f"fill='#4c72b0'/><text class='xl' style='text-anchor:start' "
                   f"x='{_LABEL + w + 6:.1f}' y='{y + 12}'>{esc(text)}</text>")
    out.append("</svg>")
    return "".join(out)


def deltas_html(deltas: list[OpDelta]) -> str:
    """``sessions compare`` of two profiled sessions: per operator, A against B."""
    if not deltas:
        return '<p class="na">not both sessions were profiled with a per-operator profiler</p>'
    cls = {"slower": "regression", "faster": "improvement"}
    rows = "".join(
        f"<tr><td class='mono'>{esc(d.key)}</td><td>{esc(d.kind)}</td>"
        f"<td class='n'>{'-' if d.a_us is None else f'{d.a_us:.1f}'}</td>"
        f"<td class='n'>{'-' if d.b_us is None else f'{d.b_us:.1f}'}</td>"
        f"<td class='n'>{'-' if d.ratio is None else f'{d.ratio:.2f}'}</td>"
        f"<td class='{cls.get(d.verdict, '')}'>{esc(d.verdict)}</td></tr>" for d in deltas)
    return ("<p>µs per profiled frame; nodes the two models name alike are compared one to "
            "one, the rest by op family; a change under 10 % or 1 µs reads as same.</p>"
            "<table><tr><th>operator</th><th>kind</th><th>A</th><th>B</th><th>B/A</th>"
            "<th>verdict</th></tr>" + rows + "</table>")


def profile_html(prof: OpProfile | None) -> str:
    if prof is None:
        return ('<p class="na">not profiled (run with <code>--profile N</code> to record the '
                "runtime's per-operator profile)</p>")
    if not prof.available:
        return f'<p class="na">{esc(prof.status)}: {esc(prof.text)}</p>'
    att = prof.attributed()
    last = prof.first_frame + prof.frames - 1
    head = (f"<p>{len(prof.ops)} operators over frames {prof.first_frame}–{last}, "
            f"{esc(prof.text)}"
            + (f"; {att:.0%} of the inference time attributed to them" if att is not None
               else "") + (" (partial: the input ended inside the profiled frames)"
                           if prof.status == "partial" else "") + ".</p>")
    ranked = prof.ranked()[:TOP_N]
    bars = _bars([(f"{o.node} ({o.op_type})", o.total_us,
                   f"{o.mean_us:.1f} µs/call" + (f" · {o.share:.1%}" if o.share is not None
                                                 else "")) for o in ranked],
                 f"Slowest operators (total µs over {prof.frames} frames)")
    types = _bars([(t.op_type, t.total_us, (f"{t.share:.1%}" if t.share is not None else "")
                    + f" · {t.nodes} node(s)") for t in prof.by_op_type()],
                  "Time by operator type")
    return head + bars + types + profile_table_html(prof)


def profile_table_html(prof: OpProfile, top: int | None = None) -> str:
    """The operators as a plain table, slowest first (no SVG: Qt's rich text shows it too)."""
    if not prof.available:
        return f'<p class="na">{esc(prof.status)}: {esc(prof.text)}</p>'
    ranked = prof.ranked()
    rows = "".join(
        f"<tr><td class='n'>{k}</td><td class='mono'>{esc(o.node)}</td><td>{esc(o.op_type)}</td>"
        f"<td class='n'>{o.calls}</td><td class='n'>{o.mean_us:.1f}</td>"
        f"<td class='n'>{o.total_us:.0f}</td><td class='n'>"
        f"{'-' if o.share is None else f'{o.share:.1%}'}</td><td class='mono'>{esc(o.device)}"
        "</td></tr>" for k, o in enumerate(ranked[:top] if top else ranked, 1))
    more = (f"<p class='na'>… {len(ranked) - top} more in the HTML report and "
            "<code>devicelab sessions show ID --ops all</code></p>"
            if top and len(ranked) > top else "")
    return ("<table><tr><th>#</th><th>node</th><th>op type</th><th>calls</th><th>mean µs</th>"
            "<th>total µs</th><th>share</th><th>EP / device</th></tr>" + rows + "</table>" + more)
