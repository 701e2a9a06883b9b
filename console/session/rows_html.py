"""HTML layout of the rows in ``console.core.summary`` and ``console.core.records``.

The window's panels (a QTextBrowser's subset of HTML) and the self-contained HTML
report both show a session's facts and its summary; this is the one place that turns
those rows into tables, as ``console.cli.format`` does for the terminal. Nothing here
computes or words a figure: rows arrive with their text, unit, hint and tone. Styles
are inline so the same markup reads the same with and without the report's CSS.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from console.core.summary import Row, Section

#: how a view colours a row's tone (the same colours the window uses for statuses)
TONE_COLORS = {"good": "#2f9e44", "bad": "#e03131", "warn": "#e8590c", "muted": "#868e96"}


def _text(r: Row) -> str:
    color = TONE_COLORS.get(r.tone)
    body = escape(r.text)
    if r.hint and r.value is None:
        body += f" ({escape(r.hint)})"
    if color:
        weight = ";font-weight:bold" if r.tone in ("good", "bad") else ""
        body = f"<span style='color:{color}{weight}'>{body}</span>"
    return body


def _grid(sec: Section) -> str:
    out = ["<table cellspacing='0' cellpadding='2'><tr><th align='left'>"
           f"{escape(sec.title)}</th>"
           + "".join(f"<th align='right'>{escape(c)}</th>" for c in sec.columns) + "</tr>"]
    for r in sec.rows:
        title = f" title='{escape(r.hint, quote=True)}'" if r.hint else ""
        if r.cells:
            cells = "".join(f"<td align='right'>{escape(c)}</td>" for c in r.cells)
        else:
            cells = f"<td colspan='{len(sec.columns)}'>{_text(r)}</td>"
        out.append(f"<tr><td{title}>{escape(r.label)}</td>{cells}</tr>")
    out.append("</table>")
    return "".join(out)


def sections_html(sections: Sequence[Section], *, titles: bool = True) -> str:
    """Grids as their own tables; the other sections in one two-column table, each titled
    (so the labels line up across sections)."""
    out: list[str] = []
    rows: list[str] = []

    def flush() -> None:
        if rows:
            out.append("<table cellspacing='0' cellpadding='2'>" + "".join(rows) + "</table>")
            rows.clear()

    for sec in sections:
        if sec.columns:
            flush()
            out.append(_grid(sec))
            continue
        if titles:
            rows.append(f"<tr><td colspan='2' style='padding-top:6px'><b>"
                        f"{escape(sec.title)}</b></td></tr>")
        for r in sec.rows:
            rows.append(f"<tr><td valign='top' style='padding-right:12px'>"
                        f"{escape(r.label)}</td><td>{_text(r)}</td></tr>")
    flush()
    return "".join(out)
