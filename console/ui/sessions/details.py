"""The Sessions tab's details pane: everything a session recorded, and its bookmarks.

:func:`details_html` renders the rows ``devicelab sessions show`` prints (the
facts and summary rows of ``console.core.records`` / ``console.core.summary``,
bookmarks, warnings and errors) from a
:class:`~console.session.browse.SessionDetails`; :class:`DetailsPane` shows it
beside the session's bookmarks. :func:`fmt_time` and :func:`fmt_num` are
``console.core.formatting``'s with the session tabs' dash for "none".
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from console.core.formatting import fmt_num as core_fmt_num
from console.core.formatting import fmt_time as core_fmt_time
from console.core.records import SessionRecord, facts_sections
from console.core.summary import summary_sections
from console.session.browse import SessionDetails
from console.session.export.profile_html import profile_table_html
from console.session.rows_html import sections_html
from console.ui.live.summary_panel import STATUS_COLORS
from console.ui.qt import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSplitter,
    Qt,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
    Signal,
)
from console.ui.widgets import button

#: warnings/errors listed in the details pane (newest); `sessions show --json` has all
MAX_DETAIL_EVENTS = 50
NA = "–"


def fmt_time(ts: float | None) -> str:
    """The session tabs show a missing time as a dash."""
    return core_fmt_time(ts, NA)


def fmt_num(v: float | None, spec: str) -> str:
    return core_fmt_num(v, spec, na=NA)


def _h(title: str) -> str:
    return f"<p style='margin:10px 0 2px 0'><b><u>{html.escape(title)}</u></b></p>"


def bookmark_time(b: Mapping[str, Any], first_ts: float | None) -> float | None:
    """Seconds from the session's first frame (the time axis of playback and reports)."""
    ts = b.get("ts")
    if ts is None or first_ts is None:
        return None
    return float(ts) - first_ts


def bookmark_text(b: Mapping[str, Any], first_ts: float | None) -> str:
    t = bookmark_time(b, first_ts)
    where = []
    if b.get("frame_i") is not None:
        where.append(f"frame {b['frame_i']}")
    if t is not None:
        where.append(f"{t:.2f} s")
    return f"{' · '.join(where) or 'session'} — {b.get('note') or ''}"


def details_html(d: SessionDetails) -> str:
    """Everything the session recorded: the facts and summary rows every view shows
    (``sessions show`` prints the same rows), bookmarks, warnings and errors."""
    rec = SessionRecord.from_row(d.session)
    e = html.escape
    color = STATUS_COLORS.get(rec.status, "")
    head = (f"<p style='margin:2px 0'><b>session {rec.id}</b> &nbsp; "
            f"<b style='color:{color}'>{e(rec.status)}</b> &nbsp; "
            f"{e(rec.package.ref)} on {e(rec.device.label)}</p>")
    if rec.error:
        head += f"<p style='color:{STATUS_COLORS['failed']};margin:2px 0'>error: " \
                f"{e(rec.error)}</p>"
    facts = facts_sections(rec, telemetry_samples=d.telemetry_samples, events=len(d.events),
                           bookmarks=len(d.bookmarks))
    parts = [head, sections_html(facts), _h("Summary")]
    parts.append(sections_html(summary_sections(rec.summary)) if rec.summary else
                 "<p style='color:gray'>no summary (the session is still recording, or "
                 "ended before its first frame)</p>")
    if d.profile is not None:
        parts += [_h("Operator profile"), profile_table_html(d.profile, top=10)]
    if d.bookmarks:
        parts.append(_h("Bookmarks"))
        parts.append("<br>".join(e(bookmark_text(b, d.first_ts)) for b in d.bookmarks))
    warn = [ev for ev in d.events if ev.get("level") in ("warning", "error")]
    if warn:
        parts.append(_h(f"Warnings and errors ({len(warn)})"))
        rows = []
        for ev in warn[-MAX_DETAIL_EVENTS:]:
            c = STATUS_COLORS["failed"] if ev["level"] == "error" else "#d99a00"
            rows.append(f"{e(fmt_time(ev.get('ts')))} <span style='color:{c}'>"
                        f"{e(str(ev['level']))}</span> {e(str(ev.get('text') or ''))}")
        parts.append("<br>".join(rows))
    return "".join(parts)


class DetailsPane(QSplitter):
    """The details of the current session beside its bookmarks (add one, play from one)."""

    #: the user asked to bookmark a moment of the shown session
    addBookmark = Signal()
    #: play the shown session from this time (s from its first frame, or None)
    playFrom = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.details: SessionDetails | None = None
        self.details_view = QTextBrowser()
        self.details_view.setObjectName("sessionDetails")
        self.details_view.setOpenLinks(False)
        marks = QWidget()
        ml = QVBoxLayout(marks)
        ml.setContentsMargins(0, 0, 0, 0)
        ml.setSpacing(2)
        ml.addWidget(QLabel("<b>Bookmarks</b>"))
        self.bookmark_list = QListWidget()
        self.bookmark_list.setObjectName("bookmarkList")
        self.bookmark_list.itemDoubleClicked.connect(lambda _it: self.play_bookmark())
        self.bookmark_list.currentRowChanged.connect(lambda _k: self._update_buttons())
        ml.addWidget(self.bookmark_list, 1)
        brow = QHBoxLayout()
        self.add_bookmark_button = button(
            "Add bookmark…", self.addBookmark,
            "Mark a frame or a time of this session with a note", into=brow)
        self.play_bookmark_button = button("Play from here", self.play_bookmark,
                                           "Open the playback at the selected bookmark",
                                           into=brow)
        ml.addLayout(brow)
        self.addWidget(self.details_view)
        self.addWidget(marks)
        self.setStretchFactor(0, 3)
        self.setStretchFactor(1, 1)
        self.show_details(None)

    def show_details(self, d: SessionDetails | None, why: str = "") -> None:
        """Show ``d``; None shows ``why`` (or how to get details) instead."""
        self.details = d
        self.bookmark_list.clear()
        if d is None:
            text = html.escape(why) or "Select a session to see everything it recorded."
            self.details_view.setHtml(f"<p style='color:gray'>{text}</p>")
        else:
            self.details_view.setHtml(details_html(d))
            for b in d.bookmarks:
                item = QListWidgetItem(bookmark_text(b, d.first_ts))
                item.setData(Qt.ItemDataRole.UserRole, bookmark_time(b, d.first_ts))
                self.bookmark_list.addItem(item)
            if not d.bookmarks:
                item = QListWidgetItem("no bookmarks yet")
                item.setFlags(Qt.ItemFlag.NoItemFlags)
                self.bookmark_list.addItem(item)
        self._update_buttons()

    def play_bookmark(self) -> None:
        item = self.bookmark_list.currentItem()
        if item is None or self.details is None:
            return
        t = item.data(Qt.ItemDataRole.UserRole)
        self.playFrom.emit(float(t) if t is not None else None)

    def _update_buttons(self) -> None:
        d = self.details
        self.add_bookmark_button.setEnabled(d is not None and d.first_ts is not None)
        self.play_bookmark_button.setEnabled(d is not None
                                             and self.bookmark_list.currentRow() >= 0)
