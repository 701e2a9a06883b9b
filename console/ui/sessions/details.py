"""The Sessions tab's details pane: everything a session recorded, and its bookmarks.

:func:`details_html` renders what ``devicelab sessions show`` prints (the
facts, the summary, bookmarks, warnings and errors) from a
:class:`~console.session.browse.SessionDetails`; :class:`DetailsPane` shows
it beside the session's bookmarks. The formatting helpers here
(:func:`fmt_time`, :func:`fmt_num`) are the session tabs' own.
"""

from __future__ import annotations

import html
import time
from collections.abc import Mapping, Sequence
from typing import Any

from console.session.browse import SessionDetails
from console.ui.live.summary_panel import STATUS_COLORS, summary_html
from console.ui.qt import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    Qt,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
    Signal,
)

#: warnings/errors listed in the details pane (newest); `sessions show --json` has all
MAX_DETAIL_EVENTS = 50
NA = "–"


def fmt_time(ts: float | None) -> str:
    if not ts:
        return NA
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def fmt_num(v: float | None, spec: str) -> str:
    return NA if v is None else format(v, spec)


def _kv(rows: Sequence[tuple[str, Any]]) -> str:
    """Table rows (label, value) for the facts table; empty values are left out."""
    out = []
    for k, v in rows:
        if v is None or v == "":
            continue
        out.append(f"<tr><td valign='top' style='padding-right:12px'><b>{html.escape(k)}</b>"
                   f"</td><td>{html.escape(str(v))}</td></tr>")
    return "".join(out)


def _section(title: str) -> str:
    """A section title inside the facts table (one table: the labels line up)."""
    return (f"<tr><td colspan='2' style='padding-top:8px'><b><u>{html.escape(title)}</u></b>"
            "</td></tr>")


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
    """Everything the session recorded, as the ``sessions show`` command prints it."""
    s = d.session
    e = html.escape
    facts = s.get("device_facts") or {}
    libs = facts.get("libraries") or {}
    ident = s.get("device_identity") or {}
    manifest = s.get("package_manifest") or {}
    settings = s.get("settings") or {}
    status = str(s.get("status"))
    color = STATUS_COLORS.get(status, "")
    dur = (s["ended_at"] - s["started_at"]) if s.get("ended_at") and s.get("started_at") \
        else None
    head = (f"<p style='margin:2px 0'><b>session {s['id']}</b> &nbsp; "
            f"<b style='color:{color}'>{e(status)}</b> &nbsp; "
            f"{e(str(s.get('package_name')))}@{e(str(s.get('package_version')))} on "
            f"{e(str(s.get('device_name') or s.get('device_address')))}</p>")
    if s.get("error"):
        head += f"<p style='color:{STATUS_COLORS['failed']};margin:2px 0'>error: " \
                f"{e(str(s['error']))}</p>"
    ram = facts.get("ram_bytes")
    info = s.get("input_info") or {}
    shown = [(str(k), v if not isinstance(v, (dict, list)) else str(v))
             for k, v in settings.items() if v not in (None, "", {}, [])]
    parts = [head, "<table cellspacing='0' cellpadding='1'>", _kv([
        ("uuid", s.get("uuid")),
        ("started", fmt_time(s.get("started_at"))),
        ("ended", fmt_time(s.get("ended_at")) + (f" ({dur:.1f} s)" if dur is not None else "")),
        ("replay of", f"session {s['replay_of']}" if s.get("replay_of") else None),
        ("note", s.get("note")),
        ("tags", ", ".join(s.get("tags") or [])),
        ("recorded", f"{s.get('frames_received') or 0} frames, {d.telemetry_samples} telemetry "
                     f"samples, {len(d.events)} events, {len(d.bookmarks)} bookmarks"),
    ]), _section("Device"), _kv([
        ("name", s.get("device_name")), ("address", s.get("device_address")),
        ("kind", s.get("device_kind")), ("host", facts.get("hostname")),
        ("OS", f"{facts.get('os') or '?'} · kernel {facts.get('kernel') or '?'} · "
               f"{facts.get('arch') or '?'}"),
        ("board", facts.get("board")),
        ("CPU", f"{facts.get('cpu_model') or '?'} × {facts.get('cores') or '?'}"),
        ("RAM", f"{ram / 2**30:.1f} GiB" if ram else None),
        ("Python", f"{facts.get('python')} ({facts.get('python_executable')})"
         if facts.get("python") else None),
        ("libraries", f"numpy {libs.get('numpy') or '-'} · onnxruntime "
                      f"{libs.get('onnxruntime') or '-'} · opencv {libs.get('opencv') or '-'}"),
        ("provider", s.get("provider")),
        ("host key", f"{ident.get('host_key_type')} {ident['host_key_sha256']}"
         if ident.get("host_key_sha256") else None),
    ]), _section("Package"), _kv([
        ("package", f"{s.get('package_name')}@{s.get('package_version')}"),
        ("task", manifest.get("task")),
        ("manifest sha256", s.get("package_digest")),
        ("model sha256", s.get("package_model_sha256")),
        ("source", s.get("package_source")),
        ("signed by", s.get("package_signer")),
    ]), _section("Input"), _kv([
        ("input", f"{s.get('input_kind')}: {s.get('input_desc')}"),
        ("sha256", s.get("input_sha256")),
        ("file", info.get("path")),
        ("frames", info.get("frames")),
        ("size", f"{info.get('width')}×{info.get('height')}" if info.get("width") else None),
        ("fps", info.get("fps")),
    ]), _section("Settings"), _kv(shown) if shown else _kv([("settings", "none recorded")]),
        _section("Versions"),
        _kv([("console", s.get("console_version")), ("agent", s.get("agent_version")),
             ("protocol", s.get("protocol_version"))]), "</table>"]
    parts.append(_h("Summary"))
    summ = s.get("summary")
    parts.append(summary_html(summ) if summ else
                 "<p style='color:gray'>no summary (the session is still recording, or "
                 "ended before its first frame)</p>")
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
        self.add_bookmark_button = QPushButton("Add bookmark…")
        self.add_bookmark_button.setToolTip("Mark a frame or a time of this session with a note")
        self.add_bookmark_button.clicked.connect(self.addBookmark)
        self.play_bookmark_button = QPushButton("Play from here")
        self.play_bookmark_button.setToolTip("Open the playback at the selected bookmark")
        self.play_bookmark_button.clicked.connect(self.play_bookmark)
        brow.addWidget(self.add_bookmark_button)
        brow.addWidget(self.play_bookmark_button)
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
