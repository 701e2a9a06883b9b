"""The HTML reports: one session, or a comparison of two.

A self-contained file a field engineer attaches to a ticket: facts, summary,
budgets, bookmarks, events and plots drawn by :mod:`.charts` as inline SVG
(latency over time, latency histogram and CDF per stage, CPU, memory,
temperature and power over time). No script, no font, no stylesheet, no
image is fetched: it opens offline, and its Content-Security-Policy forbids
fetching anyway. A figure the session did not measure is drawn as an
"unavailable" panel, never as an empty plot. Every user text is escaped.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from console import __version__
from console.core.protocol import CPU_AGENT, CPU_SYS, MEM_USED, POWER, RSS, STAGE_PARTS, STAGES
from console.core.records import SessionRecord, facts_sections
from console.core.store import LogStore
from console.core.summary import Summary, summary_sections
from console.session.compare import Comparison, fmt_value
from console.session.export.charts import cdf_chart, esc, histogram_chart, line_chart
from console.session.export.interval_charts import (
    A_COLOR,
    B_COLOR,
    Change,
    Whisker,
    changes_chart,
    estimates_chart,
)
from console.session.export.job import ExportResult, Job, Progress, find_session
from console.session.export.profile_html import deltas_html, profile_html
from console.session.export.target import open_target
from console.session.profiles import load_profile, operator_deltas
from console.session.replay import Timeline, load_timeline
from console.session.rows_html import sections_html

#: Events listed in the HTML report (newest kept); the JSON export has all of them.
MAX_REPORT_EVENTS = 500
#: The stage that spans the others (``e2e``): drawn first, under its parts.
SPAN = next(st for st in STAGES if st not in STAGE_PARTS)
#: The timeline's highest-zone temperature series (a column of the log, not a sample key).
TEMP_MAX = "temp_max_c"

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
 margin:0;background:#f4f5f7;color:#1d2330}
main{max-width:1000px;margin:0 auto;padding:20px 16px 60px}
h1{font-size:22px;margin:8px 0 2px}h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid
 #ccd;padding-bottom:3px}.sub{color:#555;margin:0 0 10px}
table{border-collapse:collapse;background:#fff;margin:4px 0 10px;width:100%}
td,th{border:1px solid #dde;padding:3px 7px;text-align:left;vertical-align:top;font-size:13px}
th{background:#eef0f4;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#11772d;font-weight:600}.fail{color:#b3261e;font-weight:600}
.unmeasured,.na{color:#777}.regression{color:#b3261e;font-weight:600}
.inconclusive{color:#9a6700}svg .band{fill:#e9ecef}svg .zero{stroke:#555}
.improvement{color:#11772d}.status-completed{color:#11772d}.status-failed,
.status-interrupted{color:#b3261e}.mono{font-family:ui-monospace,Menlo,Consolas,monospace;
 font-size:12px;word-break:break-all}
svg.plot{display:block;max-width:100%;height:auto;margin:6px 0 12px;border:1px solid #dde}
svg .t{font:600 13px sans-serif;fill:#1d2330}svg .xl{font:11px sans-serif;fill:#444;
 text-anchor:middle}svg .yl{font:11px sans-serif;fill:#444;text-anchor:end}
svg .lg{font:11px sans-serif;fill:#333}svg .grid{stroke:#e6e8ee;stroke-width:1}
svg .box{fill:none;stroke:#99a}svg .mark{stroke:#7a3ed6;stroke-dasharray:4 3}
svg .mk{font:10px sans-serif;fill:#7a3ed6}svg .pl{stroke:#bbb;stroke-dasharray:2 3}
svg .nabox{fill:#fafafa;stroke:#ccd;stroke-dasharray:5 4}svg .na{font:13px sans-serif;
 fill:#777}.lvl-error{color:#b3261e}.lvl-warning{color:#9a6700}footer{color:#777;
 margin-top:30px;font-size:12px}
"""


def _fmt_ts(ts: float | None) -> str:
    if not ts:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _num(v: Any, spec: str = ".3f", unit: str = "") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return '<span class="na">unavailable</span>'
    return esc(f"{v:{spec}}{unit}")


def _facts_html(s: Mapping[str, Any]) -> str:
    """The facts rows every view shows (``console.core.records.facts_sections``)."""
    return sections_html(facts_sections(SessionRecord.from_row(s)))


def _summary_html(summary: Mapping[str, Any]) -> str:
    """The summary rows every view shows (``console.core.summary.summary_sections``)."""
    if not summary:
        return '<p class="na">no summary (the session has not ended)</p>'
    return sections_html(summary_sections(Summary.from_dict(summary)))


def _bookmarks_html(tl: Timeline) -> str:
    if not tl.bookmarks:
        return '<p class="na">no bookmarks</p>'
    out = ["<table><tr><th>frame</th><th>time (s)</th><th>note</th></tr>"]
    for b in tl.bookmarks:
        t = (b["ts"] - tl.t0) if b.get("ts") is not None else None
        out.append(f"<tr><td class='n'>{esc(b['frame_i']) if b.get('frame_i') is not None else '-'}"
                   f"</td><td class='n'>{_num(t, '.3f')}</td><td>{esc(b.get('note') or '')}"
                   "</td></tr>")
    out.append("</table>")
    return "".join(out)


def _events_html(tl: Timeline) -> str:
    ev = tl.events
    if not ev:
        return '<p class="na">no events</p>'
    shown = ev[-MAX_REPORT_EVENTS:]
    out = []
    if len(ev) > len(shown):
        out.append(f"<p>{len(ev) - len(shown)} earlier events left out (the JSON export has "
                   "them all).</p>")
    out.append("<table><tr><th>time (s)</th><th>level</th><th>code</th><th>text</th></tr>")
    for e in shown:
        out.append(f"<tr class='lvl-{esc(e['level'])}'><td class='n'>{e['ts'] - tl.t0:.3f}</td>"
                   f"<td>{esc(e['level'])}</td><td>{esc(e.get('code') or '')}</td>"
                   f"<td>{esc(e.get('text') or '')}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _marks(tl: Timeline) -> list[tuple[float, str]]:
    out = []
    for b in tl.bookmarks:
        if b.get("ts") is not None:
            out.append((b["ts"] - tl.t0, str(b.get("note") or "")))
        elif b.get("frame_i") is not None:
            pos = tl.position_of_frame(int(b["frame_i"]))
            if pos is not None:
                out.append((float(tl.frames["t"][pos]), str(b.get("note") or "")))
    return out


def _session_plots(tl: Timeline) -> list[tuple[str, str]]:
    """(section title, svg) for a session report."""
    fr, te = tl.frames, tl.telemetry
    marks = _marks(tl)
    t = fr["t"]
    plots = [
        ("Latency over time", line_chart(
            "latency per frame (ms)", [(st, t, fr[st]) for st in (SPAN, *STAGE_PARTS)],
            ylabel="ms", marks=marks, unavailable="no frames were recorded")),
    ]
    for st in STAGES:
        plots.append((f"Latency distribution — {st}",
                      histogram_chart(f"{st} latency histogram", [(st, fr[st])])
                      + cdf_chart(f"{st} latency CDF", [(st, fr[st])])))
    plots.append(("CPU over time", line_chart(
        "cpu (% of one core for the agent; % of all cores for the system)",
        [("system", te["t"], te[CPU_SYS]), ("agent", te["t"], te[CPU_AGENT])],
        ylabel="%", marks=marks, unavailable="no CPU samples were recorded")))
    plots.append(("Memory over time", line_chart(
        "memory (MiB)", [("agent RSS", te["t"], te[RSS]),
                         ("system used", te["t"], te[MEM_USED])],
        ylabel="MiB", marks=marks, unavailable="no memory samples were recorded")))
    plots.append(("Temperature over time", line_chart(
        "temperature (°C)", [(z, te["t"], v) for z, v in tl.thermal.items()],
        ylabel="°C", zero=False, marks=marks,
        unavailable="the device reports no thermal zones")))
    plots.append(("Power over time", line_chart(
        "power (W, highest source)", [("power", te["t"], te[POWER])], ylabel="W",
        marks=marks, unavailable="no power sensor on the device")))
    return plots


def _page(title: str, body: Sequence[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            # No network, no scripts: the report is data, not an app.
            "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; img-src data:\">"
            f"<title>{esc(title)}</title><style>{_CSS}</style></head><body><main>"
            + "".join(body)
            + f"<footer>Generated by Device Lab Console {esc(__version__)} on "
              f"{esc(_fmt_ts(time.time()))}. Self-contained: no network needed.</footer>"
              "</main></body></html>\n")


def render_session_html(store: LogStore, ref: int | str,
                        progress: Progress | None = None,
                        cancel: threading.Event | None = None) -> str:
    """The HTML report of one session as a string."""
    job = Job(progress, cancel)
    s = find_session(store, ref)
    job.step(0.05, "loading frames and telemetry")
    tl = load_timeline(store, int(s["id"]))
    job.step(0.5, "drawing plots")
    title = (f"Session {s['id']} — {s.get('package_name')}@{s.get('package_version')} on "
             f"{s.get('device_name') or s.get('device_address')}")
    body = [f"<h1>{esc(title)}</h1><p class='sub'>{esc(s.get('input_desc'))} · "
            f"{esc(s.get('frames_received') or 0)} frames · {esc(_fmt_ts(s.get('started_at')))}"
            "</p>",
            "<h2>Session</h2>", _facts_html(s),
            "<h2>Summary</h2>", _summary_html(s.get("summary") or {})]
    plots = _session_plots(tl)
    for k, (sec, svg) in enumerate(plots):
        job.step(0.5 + 0.45 * k / len(plots), f"plot {sec}")
        body += [f"<h2>{esc(sec)}</h2>", svg]
    body += ["<h2>Operator profile</h2>",
             profile_html(load_profile(store, int(s["id"]), s.get("profile"))),
             "<h2>Bookmarks</h2>", _bookmarks_html(tl), "<h2>Events</h2>", _events_html(tl)]
    job.step(1.0, "done")
    return _page(title, body)


def render_comparison_html(store: LogStore, cmp: Comparison,
                           progress: Progress | None = None,
                           cancel: threading.Event | None = None) -> str:
    job = Job(progress, cancel)
    a, b = cmp.a, cmp.b
    la, lb = f"A: session {a.id}", f"B: session {b.id}"
    title = f"Comparison — session {b.id} ({b.title}) vs {a.id} ({a.title})"
    body = [f"<h1>{esc(title)}</h1>",
            f"<p class='sub'>A is the reference, B the candidate; tolerance "
            f"{cmp.tolerance * 100:g} %. <b>{esc(cmp.verdict_line())}</b></p>",
            f"<p class='sub'>{esc(cmp.spread_line())}</p>",
            "<table><tr><th></th><th>session</th><th>package</th><th>device</th><th>input</th>"
            "<th>frames</th><th>status</th></tr>"]
    for lab, h in (("A", a), ("B", b)):
        body.append(f"<tr><th>{lab}</th><td>{h.id} <span class='mono'>{esc(h.uuid[:12])}</span>"
                    f"</td><td>{esc(h.title)}</td><td>{esc(h.device)}</td><td>{esc(h.input)}</td>"
                    f"<td class='n'>{h.frames}</td><td>{esc(h.status)}</td></tr>")
    body.append("</table><h2>Differences</h2>")
    if cmp.differences:
        body.append("<table><tr><th>what</th><th>A</th><th>B</th></tr>")
        for d in cmp.differences:
            body.append(f"<tr><td>{esc(d.section)} {esc(d.field)}</td>"
                        f"<td class='mono'>{esc(d.a)}</td><td class='mono'>{esc(d.b)}</td></tr>")
        body.append("</table>")
    else:
        body.append("<p>none: same device, package, input and settings</p>")
    body.append("<h2>Figures</h2><table><tr><th>figure</th><th>A</th><th>B</th><th>change</th>"
                "</tr>")
    for f in cmp.figures:
        av = "" if f.group == "agreement" else esc(fmt_value(f.a, f.unit))
        body.append(f"<tr><td>{esc(f.name)}</td><td class='n'>{av}</td>"
                    f"<td class='n'>{esc(fmt_value(f.b, f.unit))}</td>"
                    f"<td class='{esc(f.verdict)}'>{esc(f.text)}</td></tr>")
    body.append("</table>")
    body += ["<h2>Changes with their intervals</h2>", _changes_svg(cmp)]
    ag = cmp.agreement
    if not ag.available:
        body.append(f"<p class='na'>{esc(ag.reason)}</p>")
    elif ag.disagreeing_frames:
        body.append("<p>frames where the top-1 differs (first 50): "
                    f"<span class='mono'>{esc(', '.join(map(str, ag.disagreeing_frames)))}"
                    "</span></p>")
    body += ["<h2>Operators</h2>", deltas_html(operator_deltas(store, a.id, b.id))]
    job.step(0.3, "loading frames")
    ta, tb = load_timeline(store, a.id), load_timeline(store, b.id)
    job.step(0.6, "drawing plots")
    for st in STAGES:
        body += [f"<h2>Latency distribution — {st}</h2>",
                 _estimates_svg(cmp, st, la, lb),
                 histogram_chart(f"{st} latency histogram",
                                 [(la, ta.frames[st]), (lb, tb.frames[st])]),
                 cdf_chart(f"{st} latency CDF", [(la, ta.frames[st]), (lb, tb.frames[st])])]
    body += ["<h2>Latency over time</h2>",
             line_chart("e2e latency per frame (ms)",
                        [(la, ta.frames["t"], ta.frames[SPAN]),
                         (lb, tb.frames["t"], tb.frames[SPAN])], ylabel="ms"),
             "<h2>Resources over time</h2>",
             line_chart("agent cpu (%)", [(la, ta.telemetry["t"], ta.telemetry[CPU_AGENT]),
                                          (lb, tb.telemetry["t"], tb.telemetry[CPU_AGENT])],
                        ylabel="%"),
             line_chart("agent RSS (MiB)", [(la, ta.telemetry["t"], ta.telemetry[RSS]),
                                            (lb, tb.telemetry["t"], tb.telemetry[RSS])],
                        ylabel="MiB"),
             line_chart("max temperature (°C)",
                        [(la, ta.telemetry["t"], ta.telemetry[TEMP_MAX]),
                         (lb, tb.telemetry["t"], tb.telemetry[TEMP_MAX])],
                        ylabel="°C", zero=False,
                        unavailable="neither device reports thermal zones")]
    job.step(1.0, "done")
    return _page(title, body)


def _changes_svg(cmp: Comparison) -> str:
    """Every figure's change B − A with its interval against the threshold band."""
    changes = []
    for f in cmp.figures:
        if f.a is None or not f.a or f.diff is None or f.group == "agreement":
            continue
        a = abs(f.a)
        changes.append(Change(f.name, f.verdict, f.diff / a,
                              None if f.ci_low is None else f.ci_low / a,
                              None if f.ci_high is None else f.ci_high / a,
                              None if f.threshold is None else f.threshold / a))
    return changes_chart(f"change of every figure, with its {cmp.level * 100:g} % interval",
                         changes)


def _estimates_svg(cmp: Comparison, stage: str, la: str, lb: str) -> str:
    """A's and B's p50…p99 and mean of one stage, each with its own interval."""
    by = {f.name: f for f in cmp.figures}
    rows = []
    for q in ("p50", "p90", "p95", "p99", "mean"):
        f = by.get(f"{stage} {q}")
        if f is None:
            continue
        wa = None if f.a is None else Whisker(la, f.a, f.a_low, f.a_high, A_COLOR)
        wb = None if f.b is None else Whisker(lb, f.b, f.b_low, f.b_high, B_COLOR)
        rows.append((q, wa, wb))
    return estimates_chart(f"{stage} latency figures with their {cmp.level * 100:g} % "
                           "intervals", rows, unit="ms", labels=(la, lb))


def export_html(store: LogStore, s: dict[str, Any], path: Path, job: Job) -> ExportResult:
    sid = int(s["id"])
    text = render_session_html(store, sid, job.progress, job.cancel)
    with open_target(path) as fh:
        fh.write(text)
    n_tel, n_ev = store.telemetry_count(sid), store.event_count(sid)
    return ExportResult("html", [Path(path)], frames=store.frame_count(sid), telemetry=n_tel,
                        events=n_ev)

