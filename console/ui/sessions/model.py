"""The sessions table: its columns, the read-only model and the search/status filter.

The rows are :class:`~console.session.browse.SessionRow` values from the
last list job; nothing here reads the log.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from console.session.browse import SessionRow
from console.ui.live.summary_panel import STATUS_COLORS
from console.ui.qt import (
    QAbstractItemView,
    QAbstractTableModel,
    QAction,
    QColor,
    QHeaderView,
    QItemSelection,
    QItemSelectionModel,
    QKeySequence,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    QTableView,
    QWidget,
    Signal,
    refilter,
)
from console.ui.sessions.details import fmt_num, fmt_time

_ROOT = QModelIndex()

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
COLUMN_WIDTHS = (44, 140, 110, 150, 130, 60, 62, 64, 56, 170)
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


class SessionsTable(QTableView):
    """The sortable, filterable table of sessions (newest first); Del asks to delete."""

    #: Del pressed while the table has the focus
    deleteRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sessionsTable")
        self.source = SessionsModel(self)
        self.proxy = SessionsFilter(self)
        self.proxy.setSourceModel(self.source)
        self.setModel(self.proxy)
        self.setSortingEnabled(True)
        self.sortByColumn(1, Qt.SortOrder.DescendingOrder)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(22)
        hh = self.horizontalHeader()
        hh.setStretchLastSection(True)
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for col, width in enumerate(COLUMN_WIDTHS):
            self.setColumnWidth(col, width)
        # Del deletes (after asking) only when the table has the focus
        self._del = QAction(self)
        self._del.setShortcut(QKeySequence(QKeySequence.StandardKey.Delete))
        self._del.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self._del.triggered.connect(self.deleteRequested)
        self.addAction(self._del)

    def id_at(self, index: QModelIndex) -> int:
        return int(self.proxy.data(index, ID_ROLE))

    def selected_ids(self) -> list[int]:
        return sorted({self.id_at(idx) for idx in self.selectionModel().selectedRows()})

    def current_id(self) -> int | None:
        idx = self.currentIndex()
        return self.id_at(idx) if idx.isValid() else None

    def row(self, session_id: int) -> SessionRow | None:
        return next((r for r in self.source.rows if r.id == session_id), None)

    def visible_ids(self) -> list[int]:
        """Session ids in the order the table shows them."""
        return [self.id_at(self.proxy.index(k, 0)) for k in range(self.proxy.rowCount())]

    def select_ids(self, ids: Sequence[int], current: int | None) -> int | None:
        """Select the rows of ``ids`` (``current`` the current one, if shown); returns the
        current session's id, or None when none of them is shown."""
        want = set(ids)
        selection = QItemSelection()
        cur_index = None
        for k in range(self.proxy.rowCount()):
            idx = self.proxy.index(k, 0)
            sid = self.id_at(idx)
            if sid in want:
                selection.select(idx, self.proxy.index(k, len(COLUMNS) - 1))
                if sid == current or cur_index is None:
                    cur_index = idx
        if cur_index is None:
            return None
        flags = QItemSelectionModel.SelectionFlag
        sel = self.selectionModel()
        sel.setCurrentIndex(cur_index, flags.NoUpdate)
        sel.select(selection, flags.ClearAndSelect | flags.Rows)
        self.scrollTo(cur_index)
        return self.id_at(cur_index)

    def count_text(self) -> str:
        n, total = self.proxy.rowCount(), len(self.source.rows)
        return (f"{n} of {total} sessions" if n != total else
                f"{total} session{'s' * (total != 1)}")
