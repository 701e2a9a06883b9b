"""The end-of-run panel: the session, its ending and the summary's figures.

It shows the same rows as the CLI's summary: both come from
``console.core.summary.summary_sections`` (the CLI lays them out as text, this
panel through ``console.session.rows_html``). A figure the device did not
provide reads "unavailable", never 0.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from console.core.summary import Summary, summary_sections
from console.session.rows_html import sections_html
from console.session.run import RunResult
from console.ui.qt import QTextBrowser, QWidget

STATUS_COLORS = {"completed": "#2f9e44", "stopped": "#1c7ed6", "failed": "#e03131",
                 "interrupted": "#e8590c", "refused": "#e03131"}


def _row(label: str, value: str) -> str:
    return f"<tr><td><b>{html.escape(label)}</b></td><td>{value}</td></tr>"


def summary_html(summary: Mapping[str, Any]) -> str:
    """The figures of a run summary: the rows ``console.core.summary`` gives every view,
    laid out by ``console.session.rows_html`` (the CLI lays out the same rows as text)."""
    return sections_html(summary_sections(Summary.from_dict(summary)))


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
