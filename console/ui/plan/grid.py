"""The plan grid: devices as rows, each device's cells as columns, a live curve per device.

Column 0 is what the device is doing (state, current cell, frames, FPS,
rolling p95), column 1 its small live end-to-end latency curve (pyqtgraph;
the tab's display timer hands it decimated points, never one repaint per
frame), then one column per cell position (``console.session.plan_matrix``):
``pending``, ``running`` while it runs, then its verdict word — PASS, FAIL,
INCONCLUSIVE, NOT RUN — coloured, with its figures and session number.
Double-clicking a finished cell opens its session (:attr:`PlanGrid.openSession`).
The Matrix tab shows a stored plan run with the same cell texts and colours
(:func:`cell_text`, :data:`CELL_COLORS`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from console.session.plan_matrix import GridCell, GridLayout
from console.ui.qt import (
    QAbstractItemView,
    QBrush,
    QColor,
    QHeaderView,
    Qt,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
    Signal,
)

#: cell background per display word (light tints that read with dark text in both themes)
CELL_COLORS = {"pass": "#d3f9d8", "fail": "#ffc9c9", "inconclusive": "#ffec99",
               "not run": "#dee2e6", "pending": "#f8f9fa", "running": "#d0ebff"}
VERDICT_WORDS = {"pass": "PASS", "fail": "FAIL", "inconclusive": "INCONCLUSIVE",
                 "not run": "NOT RUN", "pending": "pending", "running": "running…"}
SESSION_ROLE = Qt.ItemDataRole.UserRole + 1
VERDICT_ROLE = Qt.ItemDataRole.UserRole + 2
STATE_COL, CURVE_COL, FIRST_CELL_COL = 0, 1, 2
CURVE_W, CURVE_H = 220, 64


def cell_text(cell: GridCell) -> str:
    figs = cell.figures_line()
    sid = f"#{cell.session_id}" if cell.session_id is not None else "no session"
    return "\n".join(x for x in (VERDICT_WORDS.get(cell.verdict, cell.verdict.upper()), figs,
                                 sid) if x)


def cell_tooltip(cell: GridCell) -> str:
    lines = [f"cell {cell.idx + 1}: {cell.label} on {cell.device}",
             f"{cell.plan_verdict}: {cell.reason}"]
    lines += [f"  {name}: {word} — {text}" for name, word, text in cell.checks]
    if cell.session_id is not None:
        lines.append(f"double-click to open session {cell.session_id}")
    return "\n".join(lines)


def paint_cell(item: QTableWidgetItem, cell: GridCell) -> None:
    item.setText(cell_text(cell))
    item.setBackground(QBrush(QColor(CELL_COLORS.get(cell.verdict, CELL_COLORS["pending"]))))
    item.setForeground(QBrush(QColor("#212529")))
    item.setToolTip(cell_tooltip(cell))
    item.setData(SESSION_ROLE, cell.session_id)
    item.setData(VERDICT_ROLE, cell.verdict)


class PlanGrid(QTableWidget):
    """The grid of one plan (:meth:`set_layout`), filled in as its cells move on."""

    #: open this session in the Sessions tab
    openSession = Signal(int)

    def __init__(self, parent: QWidget | None = None, curves: bool = True) -> None:
        super().__init__(0, 0, parent)
        self.setObjectName("planGrid")
        self.with_curves = curves
        self.layout_: GridLayout | None = None
        self._curves: dict[str, Any] = {}
        self._plots: dict[str, Any] = {}
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setWordWrap(True)
        self.horizontalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignCenter)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.verticalHeader().setDefaultSectionSize(CURVE_H + 8)
        self.cellDoubleClicked.connect(self._on_double)

    @property
    def first_cell_col(self) -> int:
        return FIRST_CELL_COL if self.with_curves else 1

    def set_layout(self, layout: GridLayout) -> None:
        """Rows and columns for ``layout``, every cell ``pending``."""
        self.layout_ = layout
        self.clear()
        for w in self._plots.values():
            w.deleteLater()
        self._plots.clear()
        self._curves.clear()
        first = self.first_cell_col
        self.setRowCount(len(layout.devices))
        self.setColumnCount(first + len(layout.columns))
        heads = ["device state"] + (["live e2e latency"] if self.with_curves else []) + \
            [f"#{k + 1}\n{c}" for k, c in enumerate(layout.columns)]
        for c, text in enumerate(heads):
            h = QTableWidgetItem(text)
            if c >= first:
                h.setToolTip(layout.columns[c - first])
            self.setHorizontalHeaderItem(c, h)
        for r, dev in enumerate(layout.devices):
            self.setVerticalHeaderItem(r, QTableWidgetItem(dev))
            self.setItem(r, STATE_COL, QTableWidgetItem("waiting"))
            if self.with_curves:
                self._add_curve(r, dev)
        for idx, (r, c) in layout.positions.items():
            item = QTableWidgetItem(VERDICT_WORDS["pending"])
            item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            item.setBackground(QBrush(QColor(CELL_COLORS["pending"])))
            item.setForeground(QBrush(QColor("#212529")))
            item.setData(VERDICT_ROLE, "pending")
            item.setToolTip(f"cell {idx + 1}: {layout.columns[c]}")
            self.setItem(r, first + c, item)
        self.setColumnWidth(STATE_COL, 200)
        if self.with_curves:
            self.setColumnWidth(CURVE_COL, CURVE_W + 8)
        for c in range(len(layout.columns)):
            self.setColumnWidth(first + c, 170)

    def _add_curve(self, row: int, device: str) -> None:
        import pyqtgraph as pg

        w = pg.PlotWidget()
        w.setObjectName(f"planCurve-{row}")
        w.setFixedSize(CURVE_W, CURVE_H)
        w.setMenuEnabled(False)
        w.hideButtons()
        w.setMouseEnabled(x=False, y=False)
        w.setBackground("w")
        pi = w.getPlotItem()
        pi.hideAxis("bottom")
        pi.getAxis("left").setWidth(34)
        pi.getAxis("left").enableAutoSIPrefix(False)
        pi.setContentsMargins(0, 2, 2, 2)
        curve = pi.plot(pen=pg.mkPen("#1c7ed6", width=1))
        curve.setClipToView(True)
        w.setToolTip(f"{device}: end-to-end latency (ms) of every frame, last 2 minutes")
        self.setCellWidget(row, CURVE_COL, w)
        self._plots[device] = w
        self._curves[device] = curve

    # -- updates -------------------------------------------------------------------------
    def _pos(self, idx: int) -> tuple[int, int] | None:
        if self.layout_ is None or idx not in self.layout_.positions:
            return None
        r, c = self.layout_.positions[idx]
        return r, self.first_cell_col + c

    def set_device_state(self, device: str, text: str) -> None:
        if self.layout_ is None or device not in self.layout_.devices:
            return
        item = self.item(self.layout_.devices.index(device), STATE_COL)
        if item is not None:
            item.setText(text)
            item.setToolTip(text)

    def set_running(self, idx: int, text: str = "") -> None:
        pos = self._pos(idx)
        item = self.item(*pos) if pos else None
        if item is None or item.data(VERDICT_ROLE) not in ("pending", "running"):
            return
        item.setText(VERDICT_WORDS["running"] + (f"\n{text}" if text else ""))
        item.setBackground(QBrush(QColor(CELL_COLORS["running"])))
        item.setData(VERDICT_ROLE, "running")

    def set_cell(self, cell: GridCell) -> None:
        pos = self._pos(cell.idx)
        item = self.item(*pos) if pos else None
        if item is not None:
            paint_cell(item, cell)
            item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)

    def set_curve(self, device: str, x: np.ndarray, y: np.ndarray) -> None:
        curve = self._curves.get(device)
        if curve is not None:
            curve.setData(x, y)

    # -- reading back (the window, tests) --------------------------------------------------
    def verdict_at(self, idx: int) -> str | None:
        pos = self._pos(idx)
        item = self.item(*pos) if pos else None
        return None if item is None else str(item.data(VERDICT_ROLE))

    def session_at(self, idx: int) -> int | None:
        pos = self._pos(idx)
        item = self.item(*pos) if pos else None
        v = item.data(SESSION_ROLE) if item is not None else None
        return int(v) if v is not None else None

    def curve_points(self, device: str) -> int:
        curve = self._curves.get(device)
        if curve is None:
            return 0
        x, _y = curve.getData()
        return 0 if x is None else len(x)

    def _on_double(self, row: int, col: int) -> None:
        item = self.item(row, col)
        if item is None or col < self.first_cell_col:
            return
        sid = item.data(SESSION_ROLE)
        if sid is not None and item.data(VERDICT_ROLE) not in ("pending", "running"):
            self.openSession.emit(int(sid))
