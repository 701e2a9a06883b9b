"""The operator profile of a run (``--profile N``, the Run dock's Profile box), drawn.

Two horizontal bar charts: the slowest operators, ranked (total µs over the
profiled frames, the node's op type in its label), and the time by operator
type. The figures are :class:`console.core.op_profile.OpProfile`'s, the same
the CLI prints and the HTML report draws; a runtime without a profiler
(LiteRT) shows its one line saying so. Fed from the GUI thread only (the run
worker's ``profileReady`` signal, or a recorded session's profile).
"""

from __future__ import annotations

import html

import pyqtgraph as pg

from console.core.op_profile import OpProfile
from console.ui.qt import QDockWidget, QLabel, QMainWindow, Qt, QVBoxLayout, QWidget, Slot

#: operators drawn in the ranked chart (the rest are in the log and the report)
TOP_N = 15
_BAR = "#4c72b0"
_TYPE_BAR = "#55a868"


class _Bars(pg.PlotWidget):
    """Horizontal bars, the longest on top, labelled on the left axis."""

    def __init__(self, title: str, color: str) -> None:
        super().__init__()
        self.setBackground(None)
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.plotItem.setTitle(title, size="9pt")
        self.plotItem.getAxis("bottom").setLabel("µs per profiled frame")
        self.bars = pg.BarGraphItem(x0=[], y=[], height=0.7, width=[], brush=color)
        self.addItem(self.bars)
        self.labels: list[str] = []
        self.values: list[float] = []

    def set_rows(self, rows: list[tuple[str, float]]) -> None:
        self.labels = [r[0] for r in rows]
        self.values = [r[1] for r in rows]
        n = len(rows)
        ys = list(range(n - 1, -1, -1))  # first row at the top
        self.bars.setOpts(x0=[0.0] * n, y=ys, width=self.values, height=0.7)
        self.plotItem.getAxis("left").setTicks([[(y, label[:40]) for y, label in
                                                 zip(ys, self.labels)]])
        self.setYRange(-0.6, max(0, n - 1) + 0.6, padding=0)
        self.setXRange(0, max(self.values, default=1.0) * 1.05 or 1.0, padding=0)


class ProfileView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("profileView")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.header = QLabel()
        self.header.setObjectName("profileHeader")
        self.header.setWordWrap(True)
        lay.addWidget(self.header)
        self.ops_chart = _Bars("Slowest operators", _BAR)
        self.types_chart = _Bars("Time by operator type", _TYPE_BAR)
        lay.addWidget(self.ops_chart, 3)
        lay.addWidget(self.types_chart, 2)
        self.profile: OpProfile | None = None
        self.clear()

    def clear(self, text: str = "Tick Profile in the Run dock to record the runtime's "
                                "per-operator profile of a run.") -> None:
        self.profile = None
        self.header.setText(f"<span style='color:gray'>{html.escape(text)}</span>")
        self.ops_chart.set_rows([])
        self.types_chart.set_rows([])

    @Slot(object)
    def show_profile(self, prof: OpProfile | None) -> None:
        """Draw ``prof`` (from the GUI thread) and bring the dock holding it forward."""
        dock = self.parentWidget()
        if isinstance(dock, QDockWidget):
            dock.raise_()
        if prof is None:
            self.clear("This run was not profiled.")
            return
        self.profile = prof
        if not prof.available:
            self.header.setText(f"<b>{html.escape(prof.status)}</b> — {html.escape(prof.text)}")
            self.ops_chart.set_rows([])
            self.types_chart.set_rows([])
            return
        att = prof.attributed()
        last = prof.first_frame + prof.frames - 1
        self.header.setText(
            f"<b>{len(prof.ops)} operators</b>, frames {prof.first_frame}–{last} · "
            f"{html.escape(prof.text)}"
            + (f" · {att:.0%} of the inference time attributed" if att is not None else ""))
        self.ops_chart.set_rows([(f"{o.node} ({o.op_type})", prof.per_frame_us(o))
                                 for o in prof.ranked()[:TOP_N]])
        frames = max(1, prof.frames)
        self.types_chart.set_rows([(t.op_type, t.total_us / frames) for t in prof.by_op_type()])


def add_profile_dock(window: QMainWindow, beside: QDockWidget) -> tuple[ProfileView, QDockWidget]:
    """The Operator profile dock, tabbed with ``beside`` (the Summary), which stays in front
    until a profile arrives."""
    from console.ui.window.layout import make_dock

    view = ProfileView()
    dock = make_dock(window, "Operator profile", "profileDock", view)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    window.tabifyDockWidget(beside, dock)
    beside.raise_()
    return view, dock
