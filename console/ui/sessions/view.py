"""The Sessions tab: browse the session log and act on recorded sessions.

What lives here: the sortable, searchable table of sessions (start, device,
package@version, input, frames, FPS, p95, max temperature, status,
note/tags), the details pane with everything a session recorded, its
bookmarks (list, add), and the actions on a selection — Reproduce (replay
on the recorded or another device, checked against the recorded sha256
first), Compare (two sessions), Play back, Export (csv/json/html/mcap or a
portable bundle), Import bundle and Delete (after a confirmation).

What must not live here: reading or writing the log in the GUI thread.
Every query, replay plan, export, import and delete is a job on the
window's :class:`~console.ui.jobs.JobRunner`; each job opens its own
:class:`SessionStore` (one connection per thread) and returns dataclasses.
The session layer (``console.session.replay``, ``export``, ``bundle``…)
does the work; this module only asks and shows. Starting the replay run
itself is the window's job (one run at a time): this view hands it a
checked :class:`ReplayStart`.

A session-layer refusal (a changed package, a bad bundle, a session still
recording) is a one-line message in the status line and the window's log,
never a traceback: job functions turn those exceptions into a
:class:`JobFailure` result (:func:`user_errors`).
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from console.core.errors import EXPECTED_ERRORS
from console.core.store import SessionStore, StoreError
from console.session import browse
from console.ui.jobs import JobRunner, error_text
from console.ui.live.summary_panel import STATUS_COLORS, summary_html
from console.ui.qt import (
    QAbstractItemView,
    QAbstractTableModel,
    QAction,
    QCheckBox,
    QColor,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QItemSelection,
    QItemSelectionModel,
    QKeySequence,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QModelIndex,
    QPersistentModelIndex,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSortFilterProxyModel,
    QSpinBox,
    QSplitter,
    Qt,
    QTableView,
    QTextBrowser,
    QTimer,
    QToolBar,
    QVBoxLayout,
    QWidget,
    Signal,
    refilter,
)
from console.ui.wording import REPRODUCE, for_window

#: sessions the table holds at most (newest first); the CLI lists the rest
MAX_ROWS = 100_000
#: warnings/errors listed in the details pane (newest); `sessions show --json` has all
MAX_DETAIL_EVENTS = 50
NA = "–"
_ROOT = QModelIndex()


# -- job plumbing shared by the session views ------------------------------------------
@dataclass(frozen=True)
class JobFailure:
    """A job that ended with a one-line refusal a user should read (not a bug)."""

    text: str


def user_errors(fn: Callable[[], Any], prefix: str = "") -> Callable[[], Any]:
    """Wrap a job so that the session layer's refusals come back as a :class:`JobFailure`
    (the jobs module would log them as internal errors with a traceback)."""

    def run() -> Any:
        try:
            return fn()
        except EXPECTED_ERRORS as exc:
            text = str(exc) or type(exc).__name__
            if isinstance(exc, OSError) and exc.strerror:
                text = f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
            return JobFailure(prefix + text)

    return run


class JobProgress:
    """Progress and cancellation shared between a job thread and a display timer.

    The session layer calls it (``progress(fraction, text)``) in the job's
    thread; the view's timer reads it ~10 times a second. No Qt here.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fraction = 0.0
        self._text = ""
        self.cancel = threading.Event()

    def __call__(self, fraction: float, text: str) -> None:
        with self._lock:
            self._fraction, self._text = fraction, text

    def read(self) -> tuple[float, str]:
        with self._lock:
            return self._fraction, self._text


def open_log(db_path: Path) -> SessionStore | None:
    """The session log for a job thread, or None when nothing was recorded yet
    (browsing must not create an empty log file)."""
    if not Path(db_path).exists():
        return None
    return SessionStore(db_path)


def fmt_time(ts: float | None) -> str:
    if not ts:
        return NA
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def fmt_num(v: float | None, spec: str) -> str:
    return NA if v is None else format(v, spec)


# -- rows -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SessionRow:
    """One line of the table, read from a session row of the log."""

    id: int
    uuid: str
    started: float | None
    device: str
    package: str
    input: str
    frames: int
    fps: float | None
    p95_ms: float | None
    max_temp_c: float | None
    status: str
    note: str
    tags: tuple[str, ...]
    replay_of: int | None
    budget: str

    @cached_property  # read on every repaint of the cell
    def note_tags(self) -> str:
        """The note, then the tags the note does not already show as ``#word``."""
        from console.session.run import note_with_tags

        return note_with_tags(self.note, self.tags)


def session_row(s: Mapping[str, Any]) -> SessionRow:
    from console.session.budgets import overall_verdict

    summ = s.get("summary") or {}
    e2e = (summ.get("latency_ms") or {}).get("e2e") or {}
    return SessionRow(
        id=int(s["id"]), uuid=str(s.get("uuid") or ""),
        started=s.get("started_at") or s.get("created_at"),
        device=str(s.get("device_name") or s.get("device_address") or "?"),
        package=f"{s.get('package_name')}@{s.get('package_version')}",
        input=str(s.get("input_desc") or "?"),
        frames=int(s.get("frames_received") or 0), fps=summ.get("fps"),
        p95_ms=e2e.get("p95"), max_temp_c=(summ.get("thermal") or {}).get("max_c"),
        status=str(s.get("status") or "?"), note=str(s.get("note") or ""),
        tags=tuple(str(t) for t in (s.get("tags") or ())),
        replay_of=s.get("replay_of"), budget=overall_verdict(summ.get("budgets")))


def list_rows(db_path: Path) -> list[SessionRow]:
    """Job: every session, newest first (stale 'running' rows of a dead console are
    marked interrupted first, as the CLI does)."""
    st = open_log(db_path)
    if st is None:
        return []
    with st:
        try:
            st.recover_interrupted()
        except StoreError:
            pass  # a read-only log still lists
        return [session_row(s) for s in st.list_sessions(limit=MAX_ROWS)]


@dataclass(frozen=True)
class SessionDetails:
    """Everything the details pane shows about one session."""

    session: dict[str, Any]
    events: list[dict[str, Any]]
    bookmarks: list[dict[str, Any]]
    telemetry_samples: int
    #: device time of the first frame (bookmark times count from it); None without frames
    first_ts: float | None


def load_details(db_path: Path, session_id: int) -> SessionDetails | JobFailure:
    st = open_log(db_path)
    if st is None:
        return JobFailure(f"no session log at {db_path}")
    with st:
        s = st.get_session(session_id)
        if s is None:
            return JobFailure(f"session {session_id} is no longer in the log")
        n_tel = int(st.conn.execute("SELECT COUNT(*) FROM telemetry WHERE session_id=?",
                                    [session_id]).fetchone()[0])
        first = st.conn.execute("SELECT MIN(ts) FROM frames WHERE session_id=?",
                                [session_id]).fetchone()[0]
        return SessionDetails(s, st.events(session_id), st.bookmarks(session_id), n_tel,
                              float(first) if first is not None else None)


# -- details ----------------------------------------------------------------------------
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


# -- table model ------------------------------------------------------------------------
#: (attribute, header, tooltip)
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("id", "#", "session id (devicelab sessions show ID)"),
    ("started", "Start", "when the run started (local time)"),
    ("device", "Device", "the device it ran on"),
    ("package", "Package", "model package name@version"),
    ("input", "Input", "recording, camera, stream or synthetic frames"),
    ("frames", "Frames", "frames recorded"),
    ("fps", "FPS", "frames per second over the run"),
    ("p95_ms", "p95 ms", "end-to-end latency, 95th percentile"),
    ("max_temp_c", "Max °C", "highest temperature of any thermal zone (– : not measured)"),
    ("status", "Status", "how the run ended"),
    ("note_tags", "Note / tags", "the note stored with the run, and its tags"),
)
NUMERIC = {"id", "frames", "fps", "p95_ms", "max_temp_c", "started"}
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
ID_ROLE = Qt.ItemDataRole.UserRole + 2


class SessionsModel(QAbstractTableModel):
    """The rows of the last list job; read-only."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[SessionRow] = []

    def set_rows(self, rows: list[SessionRow]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][1]
        if role == Qt.ItemDataRole.ToolTipRole:
            return COLUMNS[section][2]
        return None

    @staticmethod
    def text(row: SessionRow, key: str) -> str:
        v = getattr(row, key)
        if key == "started":
            return fmt_time(v)
        if key == "fps":
            return fmt_num(v, ".1f")
        if key == "p95_ms":
            return fmt_num(v, ".3f")
        if key == "max_temp_c":
            return fmt_num(v, ".1f")
        if key == "status" and row.replay_of:
            return f"{v}, replay of {row.replay_of}"
        return str(v)

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        row = self.rows[index.row()]
        key = COLUMNS[index.column()][0]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(row, key)
        if role == SORT_ROLE:
            v = getattr(row, key)
            if key in NUMERIC:
                return float(v) if v is not None else float("-inf")
            return str(v).lower()
        if role == ID_ROLE:
            return row.id
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if key in NUMERIC - {"started"}:
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            return None
        if role == Qt.ItemDataRole.ForegroundRole and key == "status":
            c = STATUS_COLORS.get(row.status)
            return QColor(c) if c else None
        if role == Qt.ItemDataRole.ToolTipRole:
            if key == "max_temp_c" and row.max_temp_c is None:
                return "unavailable: the device reported no temperature"
            if key in ("input", "note_tags", "device", "package"):
                return self.text(row, key) or None
            if key == "id":
                return f"session {row.id} ({row.uuid})"
        return None


class SessionsFilter(QSortFilterProxyModel):
    """Search and a status filter.

    Every word must appear somewhere in the row (device, package, input, status,
    note, id, uuid, start time); a ``#word`` must start one of the session's tags —
    the tags the log stores (``--tag``, and every ``#word`` of the note), like
    ``sessions list --tag``, so a note that merely mentions "#x" is not a tag match.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.words: list[str] = []
        self.status = ""
        self.setSortRole(SORT_ROLE)

    def set_search(self, text: str) -> None:
        refilter(self, lambda: setattr(self, "words", text.lower().split()))

    def set_status(self, status: str) -> None:
        refilter(self, lambda: setattr(self, "status", status))

    def filterAcceptsRow(self, source_row: int,
                         source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        model = self.sourceModel()
        assert isinstance(model, SessionsModel)
        row = model.rows[source_row]
        if self.status and row.status != self.status:
            return False
        if not self.words:
            return True
        tags = [t.lower() for t in row.tags]
        hay = " ".join([str(row.id), row.device, row.package, row.input, row.status,
                        row.note, " ".join(tags), row.uuid, fmt_time(row.started)]).lower()
        for w in self.words:
            if w.startswith("#") and len(w) > 1:
                if not any(t.startswith(w[1:]) for t in tags):
                    return False
            elif w not in hay:
                return False
        return True


# -- dialogs ----------------------------------------------------------------------------
EXPORT_FORMATS: tuple[tuple[str, str, str], ...] = (
    ("html", "HTML report — facts, summary, plots; opens offline", ".html"),
    ("csv", "CSV — frames, and telemetry beside it", ".csv"),
    ("json", "JSON — one document with everything", ".json"),
    ("mcap", "MCAP — for Foxglove Studio and PlotJuggler", ".mcap"),
    ("bundle", "Portable bundle — import into another log and replay", ".dlbundle"),
)


class ExportDialog(QDialog):
    """Format, file and (bundles) what to pack. Writes nothing itself."""

    def __init__(self, row: SessionRow, folder: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Export session {row.id}")
        self.setObjectName("exportDialog")
        self.row = row
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(f"Session {row.id}: {row.package} on {row.device} — {row.input}"))
        form = QFormLayout()
        self.format_combo = QComboBox()
        for key, text, _ext in EXPORT_FORMATS:
            self.format_combo.addItem(text, key)
        form.addRow("Format", self.format_combo)
        path_row = QHBoxLayout()
        self.path_edit = QLineEdit(str(folder / f"session-{row.id}.html"))
        self.path_edit.setMinimumWidth(380)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(browse)
        form.addRow("File", path_row)
        self.with_package = QCheckBox("include the model package (checked against the "
                                      "recorded sha256)")
        self.with_input = QCheckBox("include the recording and its ground truth")
        form.addRow("", self.with_package)
        form.addRow("", self.with_input)
        lay.addLayout(form)
        self.error_label = QLabel("")
        self.error_label.setStyleSheet(f"color: {STATUS_COLORS['failed']}")
        self.error_label.setWordWrap(True)
        lay.addWidget(self.error_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText("Export")
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.format_combo.currentIndexChanged.connect(self._format_changed)
        self._format_changed()

    def fmt(self) -> str:
        return str(self.format_combo.currentData())

    def set_format(self, fmt: str) -> None:
        self.format_combo.setCurrentIndex(self.format_combo.findData(fmt))

    def path(self) -> Path:
        return Path(self.path_edit.text().strip()).expanduser()

    def _format_changed(self) -> None:
        fmt = self.fmt()
        bundle = fmt == "bundle"
        for box in (self.with_package, self.with_input):
            box.setEnabled(bundle)
            box.setVisible(bundle)
        ext = dict((k, x) for k, _t, x in EXPORT_FORMATS)[fmt]
        text = self.path_edit.text().strip()
        if text:
            p = Path(text)
            known = {x for _k, _t, x in EXPORT_FORMATS}
            if p.suffix in known and p.suffix != ext:
                self.path_edit.setText(str(p.with_suffix(ext)))

    def _browse(self) -> None:
        ext = dict((k, x) for k, _t, x in EXPORT_FORMATS)[self.fmt()]
        path, _f = QFileDialog.getSaveFileName(self, "Export to", self.path_edit.text(),
                                               f"{self.fmt()} (*{ext});;All files (*)")
        if path:
            self.path_edit.setText(path)

    def _accept(self) -> None:
        text = self.path_edit.text().strip()
        if not text:
            self.error_label.setText("choose a file to write")
            return
        p = self.path()
        if p.is_dir():
            self.error_label.setText(f"{p} is a folder: name a file")
            return
        if not p.parent.is_dir():
            self.error_label.setText(f"folder {p.parent} does not exist")
            return
        self.accept()


class ReproduceDialog(QDialog):
    """Which device the replay runs on, and copies of the package and the recording to
    use when the recorded paths are gone or changed; says what will be checked first.

    The copies are checked against the recorded sha256 exactly like the recorded
    paths: choosing another file never makes a replay of something else.
    """

    def __init__(self, row: SessionRow, devices: Sequence[tuple[str, str]],
                 parent: QWidget | None = None, folder: Path | None = None,
                 package: str = "", input: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Reproduce session {row.id}")
        self.setObjectName("reproduceDialog")
        #: where the file dialogs open (the last folder a copy was chosen in)
        self.folder = folder or Path.home()
        lay = QVBoxLayout(self)
        text = QLabel(
            f"Run session {row.id} again: <b>{html.escape(row.package)}</b> on "
            f"<b>{html.escape(row.input)}</b> with its recorded settings.<br>"
            "Before anything runs, the package and the recording available now are checked "
            "against the sha256 the session recorded; the new session links to this one.")
        text.setWordWrap(True)
        lay.addWidget(text)
        form = QFormLayout()
        self.device_combo = QComboBox()
        self.device_combo.addItem(f"the recorded device — {row.device}", None)
        for name, spec in devices:
            self.device_combo.addItem(name, spec)
        form.addRow("Run on", self.device_combo)

        self.package_edit = QLineEdit(package)
        self.package_edit.setObjectName("reproducePackage")
        self.package_edit.setPlaceholderText("optional: the recorded package is used")
        self.package_edit.setClearButtonEnabled(True)
        self.package_edit.setMinimumWidth(360)
        self.package_folder_button = QPushButton("Folder…")
        self.package_folder_button.setToolTip("A copy of the package as a folder")
        self.package_folder_button.clicked.connect(self.choose_package_folder)
        self.package_zip_button = QPushButton(".zip…")
        self.package_zip_button.setToolTip("A copy of the package as a .zip")
        self.package_zip_button.clicked.connect(self.choose_package_zip)
        prow = QHBoxLayout()
        prow.addWidget(self.package_edit, 1)
        prow.addWidget(self.package_folder_button)
        prow.addWidget(self.package_zip_button)
        form.addRow("Package copy", prow)

        self.input_edit = QLineEdit(input)
        self.input_edit.setObjectName("reproduceInput")
        self.input_edit.setPlaceholderText("optional: the recorded clip is used (or a stream's "
                                           "full URL)")
        self.input_edit.setClearButtonEnabled(True)
        self.input_button = QPushButton("Choose…")
        self.input_button.setToolTip("A copy of the recording the session ran")
        self.input_button.clicked.connect(self.choose_input)
        irow = QHBoxLayout()
        irow.addWidget(self.input_edit, 1)
        irow.addWidget(self.input_button)
        form.addRow("Recording copy", irow)
        lay.addLayout(form)
        hint = QLabel("Use the copies when the recorded files moved or this computer never had "
                      "them; they must have the recorded sha256 all the same.")
        hint.setWordWrap(True)
        hint.setStyleSheet("color: gray")
        lay.addWidget(hint)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Reproduce")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def device_spec(self) -> str | None:
        """None: the recorded device; otherwise the spec ``open_device`` takes."""
        v = self.device_combo.currentData()
        return str(v) if v is not None else None

    def choose(self, spec: str | None) -> bool:
        k = self.device_combo.findData(spec) if spec is not None else 0
        if k < 0:
            return False
        self.device_combo.setCurrentIndex(k)
        return True

    def package_copy(self) -> str | None:
        """The package copy to check and run instead of the recorded path (None: none)."""
        return self.package_edit.text().strip() or None

    def input_copy(self) -> str | None:
        """The recording copy (or a stream's full URL) instead of the recorded input."""
        return self.input_edit.text().strip() or None

    def _file_dialog(self, title: str, name_filter: str, directory: bool) -> str | None:
        dlg = QFileDialog(self, title, str(self.folder))
        dlg.setObjectName("reproduceFileDialog")
        dlg.setAcceptMode(QFileDialog.AcceptMode.AcceptOpen)
        if directory:
            dlg.setFileMode(QFileDialog.FileMode.Directory)
            dlg.setOption(QFileDialog.Option.ShowDirsOnly, True)
        else:
            dlg.setFileMode(QFileDialog.FileMode.ExistingFile)
            dlg.setNameFilter(name_filter)
        try:
            if dlg.exec() != QDialog.DialogCode.Accepted or not dlg.selectedFiles():
                return None
            chosen = dlg.selectedFiles()[0]
        finally:
            dlg.deleteLater()  # a kept file dialog goes on watching its folder
        self.folder = Path(chosen).parent
        return chosen

    def choose_package_folder(self) -> None:
        p = self._file_dialog("A copy of the package (folder)", "", directory=True)
        if p:
            self.package_edit.setText(p)

    def choose_package_zip(self) -> None:
        p = self._file_dialog("A copy of the package (.zip)",
                              "Model packages (*.zip);;All files (*)", directory=False)
        if p:
            self.package_edit.setText(p)

    def choose_input(self) -> None:
        p = self._file_dialog("A copy of the recording",
                              "Videos (*.avi *.mp4 *.mkv *.mov *.webm);;"
                              "All files (*)", directory=False)
        if p:
            self.input_edit.setText(p)


class BookmarkDialog(QDialog):
    """A frame or a time (seconds from the first frame) and a note."""

    def __init__(self, title: str, frame: int, last_frame: int, t: float, duration: float,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setObjectName("bookmarkDialog")
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.at_frame = QRadioButton("frame")
        self.at_time = QRadioButton("time (s from the first frame)")
        self.frame_spin = QSpinBox()
        self.frame_spin.setRange(0, max(0, last_frame))
        self.frame_spin.setValue(frame)
        self.time_spin = QDoubleSpinBox()
        self.time_spin.setDecimals(3)
        self.time_spin.setRange(0.0, max(0.0, duration))
        self.time_spin.setValue(t)
        self.at_frame.setChecked(True)
        form.addRow(self.at_frame, self.frame_spin)
        form.addRow(self.at_time, self.time_spin)
        self.note_edit = QLineEdit()
        self.note_edit.setPlaceholderText("what happens there")
        form.addRow("Note", self.note_edit)
        lay.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Add bookmark")
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.note_edit.setFocus()

    def _accept(self) -> None:
        if not self.note_edit.text().strip():
            self.note_edit.setPlaceholderText("a note is needed: what happens there?")
            return
        self.accept()

    def moment(self) -> tuple[int | None, float | None]:
        """(frame, None) or (None, time)."""
        if self.at_frame.isChecked():
            return self.frame_spin.value(), None
        return None, self.time_spin.value()

    def note(self) -> str:
        return self.note_edit.text().strip()


def add_bookmark_job(db_path: Path, session_id: int, note: str, frame: int | None,
                     time_s: float | None) -> tuple[int, Any]:
    """Job: resolve frame/time to one moment of the session (as the CLI does) and store it."""
    from console.session.replay import load_timeline, resolve_moment

    with SessionStore(db_path) as st:
        moment = resolve_moment(load_timeline(st, session_id), frame=frame, time_s=time_s)
        bid = st.add_bookmark(session_id, note, frame_i=moment.frame_i, ts=moment.ts)
    return bid, moment


# -- replay planning ---------------------------------------------------------------------
@dataclass(frozen=True)
class ReplayStart:
    """A replay checked against the recorded hashes, ready for the window to run."""

    plan: Any  # console.session.replay.ReplayPlan
    labels: list[str] | None = None
    notes: list[str] = field(default_factory=list)
    #: package name@version (for the window's summary)
    title: str = ""


def plan_replay_job(db_path: Path, session_id: int, device: str | None,
                    package: str | None = None, input: str | None = None) -> ReplayStart:
    """Job: check session ``session_id`` against the files available now (or the copies
    the user chose) and plan its replay; refusals keep the session layer's wording."""
    from console.core.package import open_package
    from console.core.settings import SettingsError, load_settings
    from console.session.replay import plan_replay

    try:
        saved = [str(d.get("name")) for d in load_settings().devices if d.get("name")]
    except SettingsError:
        saved = []
    with SessionStore(db_path) as st:
        plan = plan_replay(st, session_id, device=device, package=package, input=input,
                           saved_device_names=saved)
    labels, title = None, Path(plan.package_path).name
    try:
        pkg = open_package(plan.package_path)
        labels, title = list(pkg.labels or []) or None, pkg.title
    except Exception:  # only decorations: the plan already checked the package
        pass
    return ReplayStart(plan, labels, list(plan.notes), title)


# -- the view ---------------------------------------------------------------------------
class SessionsView(QWidget):
    """The Sessions tab. Signals go to the window, which owns runs and the other tabs."""

    #: level, one line (to the window's report: log pane, status bar, log file)
    message = Signal(str, str)
    #: a checked replay (:class:`ReplayStart`) the window should run
    replayReady = Signal(object)
    #: compare session B (candidate) against A (reference): a, b
    compareRequested = Signal(int, int)
    #: play back a session: id, time in s from its first frame (or None)
    playRequested = Signal(int, object)
    #: sessions were added, deleted or imported (the matrix is stale)
    changed = Signal()
    #: a bookmark was added to this session id
    bookmarkAdded = Signal(int)

    def __init__(self, jobs: JobRunner, db_path: Path,
                 devices: Callable[[], Sequence[tuple[str, str]]] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sessionsView")
        self.jobs = jobs
        self.db_path = Path(db_path)
        #: (name, spec) of the devices a replay may run on (the Devices dock's list)
        self.devices = devices or (lambda: [])
        self.export_folder = Path.home()
        #: where Reproduce's file dialogs open: the last folder a copy was chosen in
        self.copy_folder = Path.home()
        #: the copies last chosen to reproduce each session (offered again after a refusal)
        self._copies: dict[int, tuple[str | None, str | None]] = {}
        self.run_active = False
        self.loaded = False
        self._list_token = 0
        self._details_token = 0
        #: the session whose details are shown or being read
        self._details_token_id: int | None = None
        self._pending_select: int | None = None
        self._busy: str | None = None
        self.progress_state: JobProgress | None = None
        self.details: SessionDetails | None = None
        self.last_export: Any = None
        self.last_import: Any = None
        self._build()
        self._poll = QTimer(self)
        self._poll.setInterval(100)
        self._poll.timeout.connect(self._show_progress)

    # -- construction -------------------------------------------------------------
    def _build(self) -> None:
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 2)
        lay.setSpacing(3)
        top = QHBoxLayout()
        self.search_edit = QLineEdit()
        self.search_edit.setObjectName("sessionSearch")
        self.search_edit.setPlaceholderText("Search: device, package, input, note, #tag, "
                                            "status, id…")
        self.search_edit.setClearButtonEnabled(True)
        top.addWidget(self.search_edit, 3)
        self.status_combo = QComboBox()
        self.status_combo.addItem("all statuses", "")
        for st in ("completed", "stopped", "failed", "interrupted", "running"):
            self.status_combo.addItem(st, st)
        top.addWidget(self.status_combo)
        self.count_label = QLabel("")
        self.count_label.setStyleSheet("color: gray")
        top.addWidget(self.count_label)
        lay.addLayout(top)

        bar = QToolBar()
        bar.setObjectName("sessionsToolBar")
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)

        def act(text: str, slot: Callable[[], None], tip: str) -> QAction:
            a = QAction(text, self)
            a.setToolTip(tip)
            a.setStatusTip(tip)
            a.triggered.connect(slot)
            bar.addAction(a)
            return a

        self.reproduce_action = act("Reproduce…", self.reproduce,
                                    "Run the selected session again with its recorded package, "
                                    "input and settings (checked by sha256 first)")
        self.compare_action = act("Compare", self.compare,
                                  "Compare two selected sessions (the older is the reference)")
        self.play_action = act("Play back", self.play,
                               "Play the selected session in the graphs, with a timeline")
        bar.addSeparator()
        self.export_action = act("Export…", self.export,
                                 "Export the selected session: HTML report, CSV, JSON, MCAP "
                                 "or a portable bundle")
        self.import_action = act("Import bundle…", self.import_dialog,
                                 "Import a session bundle into this log")
        bar.addSeparator()
        self.delete_action = act("Delete…", self.delete_selected,
                                 "Delete the selected sessions (asks first; Del in the table)")
        self.refresh_action = act("Refresh", self.refresh, "Read the session log again")
        lay.addWidget(bar)

        self.model = SessionsModel(self)
        self.proxy = SessionsFilter(self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setObjectName("sessionsTable")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        hh = self.table.horizontalHeader()
        hh.setStretchLastSection(True)
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for col, width in enumerate((44, 140, 110, 150, 130, 60, 62, 64, 56, 170)):
            self.table.setColumnWidth(col, width)
        self.table.doubleClicked.connect(lambda _i: self.play())
        # Del deletes (after asking) only when the table has the focus
        self._del = QAction(self.table)
        self._del.setShortcut(QKeySequence(QKeySequence.StandardKey.Delete))
        self._del.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self._del.triggered.connect(self.delete_selected)
        self.table.addAction(self._del)
        sel = self.table.selectionModel()
        sel.selectionChanged.connect(self._on_selection)
        sel.currentRowChanged.connect(self._on_current)

        self.details_view = QTextBrowser()
        self.details_view.setObjectName("sessionDetails")
        self.details_view.setOpenLinks(False)
        self.details_view.setHtml("<p style='color:gray'>Select a session to see everything "
                                  "it recorded.</p>")
        marks = QWidget()
        ml = QVBoxLayout(marks)
        ml.setContentsMargins(0, 0, 0, 0)
        ml.setSpacing(2)
        ml.addWidget(QLabel("<b>Bookmarks</b>"))
        self.bookmark_list = QListWidget()
        self.bookmark_list.setObjectName("bookmarkList")
        self.bookmark_list.itemDoubleClicked.connect(lambda _it: self.play_bookmark())
        self.bookmark_list.currentRowChanged.connect(lambda _k: self._update_actions())
        ml.addWidget(self.bookmark_list, 1)
        brow = QHBoxLayout()
        self.add_bookmark_button = QPushButton("Add bookmark…")
        self.add_bookmark_button.setToolTip("Mark a frame or a time of this session with a note")
        self.add_bookmark_button.clicked.connect(self.add_bookmark)
        self.play_bookmark_button = QPushButton("Play from here")
        self.play_bookmark_button.setToolTip("Open the playback at the selected bookmark")
        self.play_bookmark_button.clicked.connect(self.play_bookmark)
        brow.addWidget(self.add_bookmark_button)
        brow.addWidget(self.play_bookmark_button)
        ml.addLayout(brow)

        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self.details_view)
        lower.addWidget(marks)
        lower.setStretchFactor(0, 3)
        lower.setStretchFactor(1, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.setObjectName("sessionsSplitter")
        split.addWidget(self.table)
        split.addWidget(lower)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        lay.addWidget(split, 1)

        foot = QHBoxLayout()
        self.status_label = QLabel("")
        self.status_label.setObjectName("sessionsStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        foot.addWidget(self.status_label, 1)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(220)
        self.progress.setVisible(False)
        foot.addWidget(self.progress)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel_job)
        foot.addWidget(self.cancel_button)
        lay.addLayout(foot)

        self.search_edit.textChanged.connect(self._on_filter)
        self.status_combo.currentIndexChanged.connect(
            lambda _k: self._on_filter_status(str(self.status_combo.currentData() or "")))
        self._update_actions()

    # -- public -------------------------------------------------------------------
    def set_db_path(self, path: Path) -> None:
        self.db_path = Path(path)
        self.refresh()

    def set_run_active(self, active: bool) -> None:
        """One run at a time: Reproduce waits while the window runs something."""
        self.run_active = active
        self._update_actions()

    def refresh(self) -> None:
        """Read the list again (a job); the selection is kept."""
        self._list_token += 1
        token = self._list_token
        db = self.db_path
        self.jobs.submit("sessions-list", user_errors(lambda: list_rows(db)),
                         lambda rows: self._on_rows(token, rows),
                         lambda exc: self._job_error("reading the session log", exc))

    def select_session(self, session_id: int) -> None:
        """Select (and show) a session; read the list first if it is not in it yet."""
        if not self._select_ids([session_id], current=session_id):
            self._pending_select = session_id
            self.refresh()

    def selected_ids(self) -> list[int]:
        ids = []
        for idx in self.table.selectionModel().selectedRows():
            ids.append(int(self.proxy.data(idx, ID_ROLE)))
        return sorted(set(ids))

    def current_id(self) -> int | None:
        idx = self.table.currentIndex()
        if not idx.isValid():
            return None
        return int(self.proxy.data(idx, ID_ROLE))

    def row(self, session_id: int) -> SessionRow | None:
        return next((r for r in self.model.rows if r.id == session_id), None)

    def visible_ids(self) -> list[int]:
        """Session ids in the order the table shows them (for tests and the count)."""
        return [int(self.proxy.data(self.proxy.index(k, 0), ID_ROLE))
                for k in range(self.proxy.rowCount())]

    def check_replay(self, original: int, replay: int) -> None:
        """After a replay ran: did the new session record the same hashes (a file replaced
        while it ran would not)? Read in a job; the outcome goes to the window's log."""
        db = self.db_path

        def done(problems: list[str]) -> None:
            for p in problems:
                self.message.emit("warning", f"the replay is not exact: {p} (a file changed "
                                             "during the run)")
            if not problems:
                self.message.emit("info", f"session {replay} reproduces session {original}: "
                                          "same package, model and input sha256")

        self.jobs.submit("replay-check", lambda: browse.replay_problems(db, original, replay),
                         done, lambda exc: self.message.emit(
                             "warning", f"could not check the replay: {exc}"))

    # -- list ---------------------------------------------------------------------
    def _on_rows(self, token: int, rows: Any) -> None:
        if token != self._list_token:
            return
        if isinstance(rows, JobFailure):
            self.set_status("error", f"cannot read the session log: {rows.text}")
            return
        keep = self.selected_ids()
        current = self.current_id()
        self.model.set_rows(rows)
        self.loaded = True
        if self._pending_select is not None:
            keep, current = [self._pending_select], self._pending_select
            self._pending_select = None
        if not self._select_ids(keep, current):
            self._show_details(None)
        self._update_count()
        self._update_actions()

    def _select_ids(self, ids: Sequence[int], current: int | None) -> bool:
        sel = self.table.selectionModel()
        want = set(ids)
        selection = QItemSelection()
        cur_index = None
        for k in range(self.proxy.rowCount()):
            idx = self.proxy.index(k, 0)
            sid = int(self.proxy.data(idx, ID_ROLE))
            if sid in want:
                selection.select(idx, self.proxy.index(k, len(COLUMNS) - 1))
                if sid == current or cur_index is None:
                    cur_index = idx
        if cur_index is None:
            return False
        flags = QItemSelectionModel.SelectionFlag
        sel.setCurrentIndex(cur_index, flags.NoUpdate)
        sel.select(selection, flags.ClearAndSelect | flags.Rows)
        self.table.scrollTo(cur_index)
        self._load_details(int(self.proxy.data(cur_index, ID_ROLE)))
        return True

    def _update_count(self) -> None:
        n, total = self.proxy.rowCount(), len(self.model.rows)
        self.count_label.setText(f"{n} of {total} sessions" if n != total else
                                 f"{total} session{'s' * (total != 1)}")

    def _on_filter(self, text: str) -> None:
        self.proxy.set_search(text)
        self._update_count()

    def _on_filter_status(self, status: str) -> None:
        self.proxy.set_status(status)
        self._update_count()

    def _on_selection(self, *_a: Any) -> None:
        self._update_actions()

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self._load_details(int(self.proxy.data(current, ID_ROLE)))

    def _update_actions(self) -> None:
        ids = self.selected_ids() if hasattr(self, "table") else []
        one = len(ids) == 1
        idle = self._busy is None
        self.reproduce_action.setEnabled(one and not self.run_active)
        self.reproduce_action.setToolTip(
            "Run the selected session again with its recorded package, input and settings "
            "(checked by sha256 first)" if not self.run_active else
            "A run is going: reproduce when it has ended (one run at a time)")
        self.compare_action.setEnabled(len(ids) == 2)
        self.play_action.setEnabled(one)
        self.export_action.setEnabled(one and idle)
        self.import_action.setEnabled(idle)
        self.delete_action.setEnabled(bool(ids) and idle)
        has = self.details is not None
        self.add_bookmark_button.setEnabled(has and bool(self.details and
                                                         self.details.first_ts is not None))
        self.play_bookmark_button.setEnabled(has and self.bookmark_list.currentRow() >= 0)

    # -- details ------------------------------------------------------------------
    def _load_details(self, session_id: int) -> None:
        if self._details_token_id == session_id:
            return  # shown, or being read
        self._details_token += 1
        token = self._details_token
        self._details_token_id = session_id
        db = self.db_path
        self.jobs.submit("session-details", user_errors(lambda: load_details(db, session_id)),
                         lambda d: self._on_details(token, d),
                         lambda exc: self._job_error("reading the session", exc))

    def reload_details_of(self, session_id: int) -> None:
        """Read the details again if they show ``session_id`` (it changed)."""
        if self.current_id() == session_id:
            self.reload_details()

    def reload_details(self) -> None:
        sid = self.current_id()
        self._details_token_id = None
        if sid is not None:
            self._load_details(sid)

    def _on_details(self, token: int, d: Any) -> None:
        if token != self._details_token:
            return
        if isinstance(d, JobFailure):
            self._show_details(None, d.text)
            return
        self._show_details(d)

    def _show_details(self, d: SessionDetails | None, why: str = "") -> None:
        self.details = d
        self.bookmark_list.clear()
        if d is None:
            self._details_token_id = None
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
        self._update_actions()

    # -- status line --------------------------------------------------------------
    def set_status(self, level: str, text: str, report: bool = True) -> None:
        color = {"error": STATUS_COLORS["failed"], "warning": "#d99a00"}.get(level, "")
        self.status_label.setStyleSheet(f"color: {color}" if color else "")
        self.status_label.setText(text)
        if report:
            self.message.emit(level, text)

    def _job_error(self, what: str, exc: BaseException) -> None:
        self._end_busy()
        self.set_status("error", f"{what} failed: {error_text(exc)}")

    def _begin_busy(self, what: str, cancellable: bool) -> JobProgress:
        self._busy = what
        self.progress_state = JobProgress()
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.progress.setFormat(what + " %p%")
        self.cancel_button.setVisible(cancellable)
        self._poll.start()
        self._update_actions()
        return self.progress_state

    def _end_busy(self) -> None:
        self._busy = None
        self._poll.stop()
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self._update_actions()

    def _show_progress(self) -> None:
        if self.progress_state is None:
            return
        fraction, text = self.progress_state.read()
        self.progress.setValue(int(fraction * 1000))
        if text:
            self.progress.setToolTip(text)

    @property
    def busy(self) -> bool:
        return self._busy is not None

    def cancel_job(self) -> None:
        if self.progress_state is not None:
            self.progress_state.cancel.set()
            self.set_status("info", f"cancelling {self._busy or 'the job'}…", report=False)

    # -- actions ------------------------------------------------------------------
    def _single(self) -> SessionRow | None:
        ids = self.selected_ids()
        if len(ids) != 1:
            return None
        return self.row(ids[0])

    def reproduce(self, device: str | None = None, ask: bool = True,
                  package: str | None = None, input: str | None = None) -> None:
        """Reproduce the selected session; ``ask`` shows the dialog (device, and copies of
        the package and the recording to use instead of the recorded paths)."""
        row = self._single()
        if row is None or self.run_active:
            return
        if ask:
            last = self._copies.get(row.id, (None, None))
            dlg = ReproduceDialog(row, list(self.devices()), self, folder=self.copy_folder,
                                  package=package or last[0] or "",
                                  input=input or last[1] or "")
            try:
                accepted = dlg.exec() == QDialog.DialogCode.Accepted
                self.copy_folder = dlg.folder
                if not accepted:
                    return
                device, package, input = dlg.device_spec(), dlg.package_copy(), dlg.input_copy()
            finally:
                dlg.deleteLater()  # one dialog per Reproduce, not one kept per click
        # offered again if this attempt is refused (the user fixes one field, not all)
        self._copies[row.id] = (package, input)
        self.set_status("info", f"checking the package and input of session {row.id} against "
                                "what it recorded…", report=False)
        db, sid = self.db_path, row.id
        self.jobs.submit("replay-plan",
                         user_errors(lambda: plan_replay_job(db, sid, device, package, input),
                                     "replay refused: "),
                         self._on_plan, lambda exc: self._job_error("planning the replay", exc))

    def _on_plan(self, result: Any) -> None:
        if isinstance(result, JobFailure):
            self.set_status("error", for_window(result.text, REPRODUCE))
            return
        plan = result.plan
        for note in result.notes:
            self.message.emit("info", f"replay of session {plan.original_id}: {note}")
        self.set_status("info", f"replaying session {plan.original_id} on {plan.device}: "
                                f"package and input match the recorded sha256", report=False)
        self.replayReady.emit(result)

    def compare(self) -> None:
        ids = self.selected_ids()
        if len(ids) == 2:
            self.compareRequested.emit(ids[0], ids[1])

    def play(self) -> None:
        row = self._single()
        if row is not None:
            self.playRequested.emit(row.id, None)

    def play_bookmark(self) -> None:
        item = self.bookmark_list.currentItem()
        sid = self.details.session.get("id") if self.details else None
        if item is None or sid is None:
            return
        t = item.data(Qt.ItemDataRole.UserRole)
        self.playRequested.emit(int(sid), float(t) if t is not None else None)

    def add_bookmark(self) -> None:
        d = self.details
        if d is None:
            return
        s = d.session
        frames = int(s.get("frames_received") or 0)
        summ = s.get("summary") or {}
        dlg = BookmarkDialog(f"Bookmark in session {s['id']}", 0, max(0, frames - 1), 0.0,
                             float(summ.get("duration_s") or 0.0) + 1.0, self)
        if dlg.exec() != QDialog.DialogCode.Accepted:
            return
        frame, t = dlg.moment()
        self.store_bookmark(int(s["id"]), dlg.note(), frame=frame, time_s=t)

    def store_bookmark(self, session_id: int, note: str, *, frame: int | None = None,
                       time_s: float | None = None) -> None:
        """Resolve the moment and store the bookmark (a job); reports the outcome."""
        db = self.db_path

        def done(result: Any) -> None:
            if isinstance(result, JobFailure):
                self.set_status("error", f"bookmark not stored: {result.text}")
                return
            bid, m = result
            where = (f"frame {m.frame_i}, " if m.frame_i is not None else "") + f"{m.t:.3f} s"
            self.set_status("info", f"bookmark {bid} on session {session_id} at {where}: {note}")
            if self.current_id() == session_id:
                self.reload_details()
            self.bookmarkAdded.emit(session_id)

        self.jobs.submit("bookmark", user_errors(
            lambda: add_bookmark_job(db, session_id, note, frame, time_s)), done,
            lambda exc: self._job_error("storing the bookmark", exc))

    # export ---------------------------------------------------------------------------
    def export(self) -> None:
        row = self._single()
        if row is None or self.busy:
            return
        dlg = ExportDialog(row, self.export_folder, self)
        if dlg.exec() != QDialog.DialogCode.Accepted:
            return
        self.export_folder = dlg.path().parent
        self.export_to(row.id, dlg.fmt(), dlg.path(), with_package=dlg.with_package.isChecked(),
                       with_input=dlg.with_input.isChecked())

    def export_to(self, session_id: int, fmt: str, path: Path, *, with_package: bool = False,
                  with_input: bool = False) -> None:
        """Export in a job with progress and Cancel; the result line goes to the log."""
        if self.busy:
            return
        progress = self._begin_busy(f"exporting session {session_id}", cancellable=True)
        db = self.db_path

        def work() -> Any:
            with SessionStore(db) as st:
                if fmt == "bundle":
                    from console.session.bundle import export_bundle

                    return export_bundle(st, session_id, path, with_package=with_package,
                                         with_input=with_input, progress=progress,
                                         cancel=progress.cancel)
                from console.session.export import export_session

                return export_session(st, session_id, fmt, path, progress=progress,
                                      cancel=progress.cancel)

        def done(result: Any) -> None:
            self._end_busy()
            self.last_export = result
            if isinstance(result, JobFailure):
                level = "info" if result.text == "export cancelled" else "error"
                self.set_status(level, f"export of session {session_id}: {result.text}"
                                + ("; nothing was written" if level == "info" else ""))
                return
            files = ", ".join(str(p) for p in result.paths)
            self.set_status("info", f"exported session {session_id} as {fmt} to {files}")
            for note in result.notes:
                self.message.emit("info", note)

        self.jobs.submit("export", user_errors(work), done,
                         lambda exc: self._job_error("the export", exc))

    # import ---------------------------------------------------------------------------
    def import_dialog(self) -> None:
        if self.busy:
            return
        path, _f = QFileDialog.getOpenFileName(self, "Import a session bundle",
                                               str(self.export_folder),
                                               "Session bundles (*.dlbundle *.zip);;All files (*)")
        if path:
            self.import_file(Path(path))

    def import_file(self, path: Path) -> None:
        if self.busy:
            return
        progress = self._begin_busy(f"importing {path.name}", cancellable=True)
        db = self.db_path

        def work() -> Any:
            from console.session.bundle import import_bundle

            with SessionStore(db) as st:
                return import_bundle(st, path, progress=progress, cancel=progress.cancel)

        def done(result: Any) -> None:
            self._end_busy()
            self.last_import = result
            if isinstance(result, JobFailure):
                self.set_status("error", f"import of {path} failed: {result.text}")
                return
            if result.already_present:
                self.set_status("info", f"{path.name}: session {result.session_id} is already in "
                                        "the log (nothing changed)")
            else:
                self.set_status("info", f"imported {path.name} as session {result.session_id}")
            for note in result.notes:
                self.message.emit("info", note)
            self.select_session(result.session_id)
            self.refresh()
            self.changed.emit()

        self.jobs.submit("import", user_errors(work), done,
                         lambda exc: self._job_error("the import", exc))

    # delete ---------------------------------------------------------------------------
    def delete_selected(self) -> None:
        ids = self.selected_ids()
        if not ids or self.busy:
            return
        if len(ids) == 1:
            r = self.row(ids[0])
            what = (f"session {ids[0]}" + (f" ({r.package} on {r.device}, "
                                            f"{fmt_time(r.started)})" if r else ""))
        else:
            what = f"{len(ids)} sessions ({', '.join(str(i) for i in ids[:12])}" \
                   f"{'…' if len(ids) > 12 else ''})"
        box = QMessageBox(QMessageBox.Icon.Warning, "Delete sessions",
                          f"Delete {what}?\n\nIts frames, telemetry, events and bookmarks are "
                          "removed from the log, with any files imported with it. This cannot "
                          "be undone.", QMessageBox.StandardButton.NoButton, self)
        box.setObjectName("deleteConfirmation")
        yes = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        no = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(no)
        box.exec()
        if box.clickedButton() is not yes:
            self.set_status("info", "nothing deleted", report=False)
            return
        self._begin_busy("deleting", cancellable=False)
        db = self.db_path

        def work() -> tuple[list[int], list[str]]:
            from console.session.bundle import BundleError, delete_session

            done_ids: list[int] = []
            problems: list[str] = []
            with SessionStore(db) as st:
                for sid in ids:
                    try:
                        delete_session(st, sid)
                        done_ids.append(sid)
                    except BundleError as exc:
                        problems.append(str(exc))
            return done_ids, problems

        def done(result: Any) -> None:
            self._end_busy()
            if isinstance(result, JobFailure):
                self.set_status("error", f"delete failed: {result.text}")
                return
            done_ids, problems = result
            for p in problems:
                self.message.emit("error", p)
            if done_ids:
                self.set_status("error" if problems else "info",
                                f"deleted session{'s' * (len(done_ids) > 1)} "
                                f"{', '.join(str(i) for i in done_ids)}"
                                + (f"; {len(problems)} refused (see the log)" if problems
                                   else ""))
            else:
                self.set_status("error", problems[0] if problems else "nothing deleted")
            self.refresh()
            self.changed.emit()

        self.jobs.submit("delete", user_errors(work), done,
                         lambda exc: self._job_error("deleting", exc))
