"""The end-of-run panel: the session, its ending and the summary's figures.

It shows the same figures as the CLI's summary (``console.cli.format``),
computed by the same ``console.core.stats.summarize`` and read from the
same dict, laid out as tables. (The window cannot import the CLI's text
formatter: ``console.ui`` and ``console.cli`` are independent layers.) A
figure the device did not provide reads "unavailable", never 0.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from console.core import protocol as P
from console.session.run import RunResult
from console.ui.qt import QTextBrowser, QWidget

NA = "unavailable"
STATUS_COLORS = {"completed": "#2f9e44", "stopped": "#1c7ed6", "failed": "#e03131",
                 "interrupted": "#e8590c", "refused": "#e03131"}


def _f(v: Any, spec: str = ".3f", unit: str = "") -> str:
    if v is None:
        return NA
    try:
        return f"{v:{spec}}{unit}"
    except (TypeError, ValueError):
        return html.escape(str(v))


def _row(label: str, value: str) -> str:
    return f"<tr><td><b>{html.escape(label)}</b></td><td>{value}</td></tr>"


def summary_html(summary: Mapping[str, Any]) -> str:
    """The figures of a run summary as HTML tables (every figure the CLI prints)."""
    out = ["<table cellspacing='0' cellpadding='2'>"]
    missing = (f" &nbsp; missing {summary['missing_frames']}" if "missing_frames" in summary
               else "")
    out.append(_row("frames", f"{summary.get('frames', 0)} &nbsp; fps "
                              f"{_f(summary.get('fps'), '.1f')} &nbsp; duration "
                              f"{_f(summary.get('duration_s'), '.2f', ' s')}{missing}"))
    out.append("</table>")
    cols = ("p50", "p90", "p95", "p99", "p99.9", "max")
    out.append("<table cellspacing='0' cellpadding='2' border='0'><tr><th align='left'>"
               "latency (ms)</th>" + "".join(f"<th align='right'>{c}</th>" for c in cols)
               + "</tr>")
    lat = summary.get("latency_ms") or {}
    for stage in P.STAGES:
        st = lat.get(stage)
        if not st:
            out.append(f"<tr><td>{stage}</td><td colspan='{len(cols)}'>{NA}</td></tr>")
            continue
        out.append(f"<tr><td>{stage}</td>"
                   + "".join(f"<td align='right'>{st[c]:.3f}</td>" for c in cols) + "</tr>")
    rd = summary.get("read_ms")
    if rd:  # decode/capture: outside e2e, so apart from the stages
        out.append("<tr><td title='time the source took to hand over each frame (decode, "
                   "capture); not part of e2e'>read*</td>"
                   + "".join(f"<td align='right'>{rd[c]:.3f}</td>" for c in cols) + "</tr>")
    out.append("</table><table cellspacing='0' cellpadding='2'>")
    cold = summary.get("cold_start_ms")
    if cold and cold.get("total") is not None:
        out.append(_row("cold start", f"{cold['total']:.1f} ms (package "
                                      f"{_f(cold.get('package'), '.1f', ' ms')}, session "
                                      f"{_f(cold.get('session'), '.1f', ' ms')}, first inference "
                                      f"{_f(cold.get('first_infer'), '.1f', ' ms')})"))
    else:
        out.append(_row("cold start", NA))
    cpu = summary.get("cpu") or {}
    out.append(_row("cpu", f"system mean {_f(cpu.get('sys_mean'), '.0f', '%')} peak "
                           f"{_f(cpu.get('sys_peak'), '.0f', '%')} &nbsp; agent mean "
                           f"{_f(cpu.get('agent_mean'), '.0f', '%')} peak "
                           f"{_f(cpu.get('agent_peak'), '.0f', '%')}"))
    mem = summary.get("memory") or {}
    out.append(_row("memory", f"agent RSS peak {_f(mem.get('rss_peak_mb'), '.1f', ' MiB')} "
                              f"&nbsp; system used peak "
                              f"{_f(mem.get('mem_used_peak_mb'), '.0f', ' MiB')}"))
    th = summary.get("thermal")
    if th:
        zones = ", ".join(f"{html.escape(str(k))} {v:.1f}" for k, v in
                          sorted(th["zones"].items()))
        out.append(_row("temperature", f"max {th['max_c']:.1f} °C ({zones})"))
    else:
        out.append(_row("temperature", f"{NA} (the device reports no thermal zones)"))
    pw = summary.get("power")
    if pw:
        mean = ", ".join(f"{html.escape(str(k))} {v:.2f} W"
                         for k, v in sorted(pw["mean_w"].items()))
        primary = f" ({html.escape(str(pw['primary']))})" if pw.get("primary") else ""
        out.append(_row("power", f"{mean or NA}; energy/inference "
                                 f"{_f(pw.get('energy_per_inference_mj'), '.3f', ' mJ')}"
                                 f"{primary}"))
    else:
        out.append(_row("power", f"{NA} (no power sensor on the device)"))
    tel = summary.get("telemetry") or {}
    out.append(_row("telemetry", f"{tel.get('samples', 0)} samples, sampling cost "
                                 f"{_f(tel.get('sampler_cpu_mean'), '.2f', '% of a core')}"))
    acc = summary.get("accuracy")
    if acc:
        out.append(_row("accuracy", f"top-1 {_f(acc.get('top1'), '.4f')} on "
                                    f"{acc.get('frames_scored', 0)} frames with ground truth"))
    for b in summary.get("budgets") or []:
        verdict = str(b["verdict"]).upper()
        color = "#2f9e44" if b["verdict"] == "pass" else "#e03131"
        out.append(_row("budget", f"{html.escape(str(b['budget']))} "
                                  f"{_f(b['value'], '.3f')} vs {b['limit']:g}: "
                                  f"<b style='color:{color}'>{verdict}</b>"))
    out.append("</table>")
    return "".join(out)


class SummaryPanel(QTextBrowser):
    """Selectable, copyable; empty until a run ends."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("summaryPanel")
        self.setOpenExternalLinks(False)
        self.result: RunResult | None = None
        self.clear_summary()

    def clear_summary(self, text: str = "The run's summary appears here when it ends.") -> None:
        self.result = None
        self.setHtml(f"<p style='color:gray'>{html.escape(text)}</p>")

    def show_live(self, figures: Mapping[str, Any]) -> None:
        """While a run goes: what the window has seen so far (the final summary replaces it)."""
        self.result = None
        rows = "".join(_row(k, html.escape(str(v))) for k, v in figures.items())
        self.setHtml("<p><b>running</b> <span style='color:gray'>— figures so far, as seen "
                     "by the window; the full summary appears when the run ends</span></p>"
                     f"<table cellspacing='0' cellpadding='2'>{rows}</table>")

    def show_refusal(self, message: str) -> None:
        self.result = None
        self.setHtml(f"<p><b style='color:{STATUS_COLORS['refused']}'>refused</b> — nothing "
                     f"ran, no session recorded</p><p>{html.escape(message)}</p>")

    def show_result(self, result: RunResult, device: str, package: str, db_path: str) -> None:
        self.result = result
        color = STATUS_COLORS.get(result.status, "")
        head = (f"<p><b>session {result.session_id}</b> &nbsp; "
                f"<b style='color:{color}'>{html.escape(result.status)}</b> &nbsp; on "
                f"{html.escape(device)} &nbsp; {html.escape(package)}</p>")
        err = (f"<p style='color:{STATUS_COLORS['failed']}'>error: {html.escape(result.error)}"
               "</p>" if result.error else "")
        where = (f"<p style='color:gray'>recorded in {html.escape(db_path)} — "
                 f"<code>devicelab sessions show {result.session_id}</code></p>")
        self.setHtml(head + err + summary_html(result.summary or {}) + where)
