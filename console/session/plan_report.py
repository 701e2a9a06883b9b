"""A plan run as one self-contained HTML page: the device × package matrix.

Rows are devices, columns packages; each matrix cell lists its runs (input ×
setting × repeat) with e2e p50/p95, FPS and top-1 accuracy, coloured pass /
fail / inconclusive (passed, but a budget or the baseline could not decide:
``plan_verdicts.display_verdict``, the window's word too) / not run, and
links to that run's own session report, **embedded** further down the page
(the same report ``sessions export --format html`` writes, rendered by
``console.session.export.render_session_html``; only the inside of its
``<main>`` is kept, its stylesheet once). Then every cell's
checks, and the plan's text with its sha256. Like the session report: no
script, no font, no image fetched — it opens offline and attaches to a ticket.

Figures are read from each cell's session summary in the log (the same
numbers ``sessions show`` prints); a figure the session did not measure
reads "unavailable". Built from the stored plan run
(``plan_log.get_plan_run``), so ``plan run -o`` and ``plan show -o`` agree.
"""

from __future__ import annotations

import datetime as _dt
import html
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from console import __version__
from console.core.plan import Cell
from console.core.store import LogStore
from console.session.plan_log import cells_of
from console.session.plan_verdicts import Check, display_verdict, undecided_text

NA = "unavailable"
#: the page's own base (the embedded session reports bring their stylesheet too)
_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
main{max-width:1200px;margin:0 auto;padding:20px 16px 60px}table{border-collapse:collapse;
 background:#fff;margin:4px 0 10px;width:100%}td,th{border:1px solid #dde;padding:3px 7px;
 text-align:left;vertical-align:top;font-size:13px}th{background:#eef0f4}
.pass{color:#11772d;font-weight:600}.fail{color:#b3261e;font-weight:600}.na{color:#777}
.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}
.matrix td{min-width:180px}.cell{border-left:5px solid #bbb;background:#fafbfc;margin:3px 0;
 padding:3px 6px}.cell.v-pass{border-color:#11772d;background:#eef8f0}
.cell.v-fail{border-color:#b3261e;background:#fcefee}.cell.v-notrun{border-color:#9aa0a6;
 background:#f1f2f4;color:#555}.cell .what{font-size:12px;color:#444}.cell .fig{
 font-variant-numeric:tabular-nums;font-size:12px}.cell .why{font-size:12px}
.verdict-pass{color:#11772d;font-weight:600}.verdict-fail{color:#b3261e;font-weight:600}
.verdict-notrun{color:#666;font-weight:600}.cell.v-inconclusive{border-color:#e8a317;
 background:#fff9db}.verdict-inconclusive{color:#9a6700;font-weight:600}
.inconclusive{color:#9a6700;font-weight:600}pre.plan{background:#fff;border:1px solid #dde;
 padding:8px;overflow:auto;font-size:12px}details.session{background:#fff;border:1px solid
 #dde;margin:8px 0;padding:4px 10px}details.session>summary{cursor:pointer;font-weight:600}
"""
_MAIN_RE = re.compile(r"<main>(.*)</main>", re.S)
_STYLE_RE = re.compile(r"<style>(.*?)</style>", re.S)


def _e(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _ts(t: Any) -> str:
    return _dt.datetime.fromtimestamp(float(t)).strftime("%Y-%m-%d %H:%M:%S") if t else "-"


def _vclass(verdict: str) -> str:
    return {"pass": "pass", "fail": "fail", "inconclusive": "inconclusive"}.get(verdict,
                                                                               "notrun")


def cell_figures(summary: Mapping[str, Any] | None) -> dict[str, float | None]:
    """The matrix's figures of one session summary: e2e p50/p95 (ms), fps, top-1."""
    s = summary or {}
    e2e = (s.get("latency_ms") or {}).get("e2e") or {}
    acc = s.get("accuracy") or {}
    return {"p50_ms": e2e.get("p50"), "p95_ms": e2e.get("p95"), "fps": s.get("fps"),
            "accuracy": acc.get("top1")}


def _num(v: float | None, spec: str, unit: str = "") -> str:
    return NA if v is None else f"{v:{spec}}{unit}"


def _embedded(store: LogStore, sid: int) -> tuple[str, str]:
    """(its stylesheet, the inside of its <main>) of a session's own report."""
    from console.session.export import render_session_html

    page = render_session_html(store, sid)
    main, style = _MAIN_RE.search(page), _STYLE_RE.search(page)
    return (style.group(1) if style else "", main.group(1) if main else "")


def _cell_box(c: Mapping[str, Any], cell: Cell | None, figs: Mapping[str, float | None],
              embedded: bool) -> str:
    v = str(c["verdict"])
    shown = display_verdict(v, c.get("checks") or [])
    sid = c.get("session_id")
    what = cell.input.label + (f" [{cell.setting_label}]" if cell and cell.setting_label
                               else "") if cell else str(c["input"])
    link = (f" · <a href='#session-{sid}'>session {sid}</a>" if embedded
            else f" · session {sid}") if sid is not None else ""
    fig = ""
    if sid is not None:
        fig = (f"<div class='fig'>p50 {_num(figs['p50_ms'], '.3f', ' ms')} · p95 "
               f"{_num(figs['p95_ms'], '.3f', ' ms')} · {_num(figs['fps'], '.1f', ' fps')}"
               + (f" · top-1 {_num(figs['accuracy'], '.3f')}" if figs["accuracy"] is not None
                  else "") + "</div>")
    if shown == "inconclusive":
        why = (f"<div class='why'>passed; not decided: "
               f"{_e(undecided_text(c.get('checks') or []))}</div>")
    else:
        why = "" if v == "pass" else f"<div class='why'>{_e(c.get('reason') or '')}</div>"
    data = " ".join(f"data-{k.replace('_', '-')}='{'' if x is None else f'{x:.6g}'}'"
                    for k, x in figs.items())
    return (f"<div class='cell v-{_vclass(shown)}' data-idx='{int(c['idx'])}' "
            f"data-device='{_e(c['device'])}' data-verdict='{_e(v)}' {data} "
            f"data-shown='{_e(shown)}'>"
            f"<div class='what'>#{int(c['idx']) + 1} {_e(what)}</div>"
            f"<span class='verdict-{_vclass(shown)}'>{_e(shown.upper())}</span>{link}{fig}"
            f"{why}</div>")


def render_plan_html(store: LogStore, run: Mapping[str, Any], *,
                     embed_sessions: bool = True) -> str:
    """The matrix report of a stored plan run (``plan_log.get_plan_run``'s dict)."""
    cells: Sequence[Mapping[str, Any]] = run["cells"]
    known = cells_of(run)
    devices: list[str] = []
    packages: list[str] = []
    for c in cells:
        if c["device"] not in devices:
            devices.append(str(c["device"]))
        if c["package"] not in packages:
            packages.append(str(c["package"]))
    sessions: dict[int, dict[str, Any]] = {}
    for c in cells:
        sid = c.get("session_id")
        if sid is not None:
            s = store.get_session(int(sid))
            if s is not None:
                sessions[int(sid)] = s
    embeds: dict[int, str] = {}
    session_css = ""
    if embed_sessions:
        for sid in sessions:
            session_css, embeds[sid] = _embedded(store, sid)
    counts = run.get("counts") or {}
    title = f"Plan {run['name']} — run {run['id']}"
    body = [f"<h1>{_e(title)}</h1>",
            f"<p class='sub'>status <b>{_e(run['status'])}</b> (exit {_e(run.get('exit_code'))})"
            f" · {_e(_ts(run['started_at']))} → {_e(_ts(run.get('ended_at')))} · "
            + " · ".join(f"{_e(n)} {_e(k)}" for k, n in sorted(counts.items()))
            + f" · run <span class='mono'>{_e(run['uuid'])}</span></p>",
            "<h2>Matrix</h2><table class='matrix'><tr><th>device \\ package</th>"
            + "".join(f"<th>{_e(Path(p).name)}</th>" for p in packages) + "</tr>"]
    for d in devices:
        row = [f"<tr><th>{_e(d)}</th>"]
        for p in packages:
            boxes = [_cell_box(c, known.get(int(c["idx"])),
                               cell_figures((sessions.get(int(c["session_id"])) or {})
                                            .get("summary") if c.get("session_id") is not None
                                            else None),
                               bool(embeds))
                     for c in cells if c["device"] == d and c["package"] == p]
            row.append(f"<td>{''.join(boxes) or '-'}</td>")
        body.append("".join(row) + "</tr>")
    body.append("</table>")
    body.append("<h2>Checks</h2><table><tr><th>cell</th><th>device</th><th>check</th>"
                "<th>verdict</th><th>details</th></tr>")
    for c in cells:
        cell = known.get(int(c["idx"]))
        label = cell.label if cell else f"{c['package']} × {c['input']}"
        checks = [Check.from_dict(x) for x in c.get("checks") or []] or \
            [Check("run", str(c["verdict"]), str(c.get("reason") or ""))]
        for ch in checks:
            cls = "fail" if ch.failed or ch.error else (
                "inconclusive" if ch.verdict == "inconclusive" else
                "na" if ch.skipped else "pass")
            body.append(f"<tr><td>#{int(c['idx']) + 1} {_e(label)}</td><td>{_e(c['device'])}"
                        f"</td><td>{_e(ch.name)}</td><td class='{cls}'>{_e(ch.verdict)}</td>"
                        f"<td>{_e(ch.text)}</td></tr>")
    body.append("</table>")
    body.append(f"<h2>Plan</h2><p class='sub'>{_e(run.get('plan_path'))} · sha256 "
                f"<span class='mono'>{_e(run['plan_sha256'])}</span></p>"
                f"<pre class='plan'>{_e(run['plan_text'])}</pre>")
    if embeds:
        body.append("<h2>Sessions</h2>")
        for sid, inner in embeds.items():
            s = sessions[sid]
            body.append(f"<details class='session' id='session-{sid}'><summary>Session {sid} "
                        f"— {_e(s.get('package_name'))}@{_e(s.get('package_version'))} on "
                        f"{_e(s.get('device_name') or s.get('device_address'))} · "
                        f"{_e(s.get('status'))}</summary>{inner}</details>")
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; img-src data:\">"
            f"<title>{_e(title)}</title><style>{_CSS}{session_css}</style></head><body>"
            "<main>" + "".join(body)
            + f"<footer>Generated by Device Lab Console {_e(__version__)} on "
              f"{_e(_ts(time.time()))}. Self-contained: no network needed."
              "</footer></main></body></html>\n")
