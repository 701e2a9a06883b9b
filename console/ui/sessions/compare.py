"""The Compare tab: session B (candidate) against session A (reference).

What it shows, all computed by ``console.session.compare.compare_sessions``
(the same figures and verdicts as ``devicelab sessions compare``):

- who A and B are, and one verdict line for the pair;
- one row per figure — per-stage p50/p95/p99, FPS, cold start, CPU,
  memory, temperature, energy, accuracy — with A, B, the relative change
  and the verdict against the tolerance (regressions in red, improvements
  in green, "unavailable" when a session did not measure it);
- output agreement frame by frame (top-1 agreement for classifiers, the
  matched-IoU mean for detectors) when both ran the same recording, or the
  reason it was not compared;
- the device, package, input, settings and version differences;
- per stage, the latency histogram and CDF of A and B overlaid (pyqtgraph),
  each percentile's interval as an error bar on the CDF, and the stage's
  figures with their intervals as error bars (``console.ui.sessions.compare_bars``).

The tolerance is a setting here: changing it recomputes the verdicts (a
job). Reading the log, comparing and exporting (.html with plots, .json)
happen in jobs; the GUI thread only draws.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from console.core import protocol as P
from console.core.verdicts import DEFAULT_RELATIVE
from console.session import browse
from console.session.browse import CompareData, LogRef
from console.ui.jobs import JobFailure, JobRunner, error_text, user_errors
from console.ui.live.data import E2E, stage_label
from console.ui.qt import (
    QAbstractItemView,
    QColor,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSplitter,
    Qt,
    QTableWidget,
    QTableWidgetItem,
    QTimer,
    QVBoxLayout,
    QWidget,
    Signal,
)
from console.ui.widgets import button, tab_layout, text_label

#: the practical threshold's relative part, as ``sessions compare`` (the same verdicts)
DEFAULT_TOLERANCE_PCT = DEFAULT_RELATIVE * 100.0
#: histogram bins: the Rice rule (2·n^⅓) within these bounds — 60 bins over 360 frames
#: draw noise, not a distribution
MIN_BINS, MAX_BINS = 20, 100
#: the histogram's x range ends at this percentile of the slower session (long tails
#: would squeeze the bulk of the distribution into one bin); the CDF shows everything
HIST_TOP_PERCENTILE = 99.5
#: points per CDF curve handed to pyqtgraph
CDF_POINTS = 1500
VERDICT_COLORS = {"regression": "#e03131", "improvement": "#2f9e44", "unavailable": "#868e96",
                  "inconclusive": "#c08a00", "no change": "#868e96"}


def bin_count(n: int) -> int:
    return int(min(MAX_BINS, max(MIN_BINS, round(2 * n ** (1 / 3)))))


def histogram(va: np.ndarray, vb: np.ndarray, bins: int | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shared bin edges and each session's share of frames per bin (%), so sessions
    of different lengths compare."""
    both = [v for v in (va, vb) if v.size]
    if not both:
        return np.empty(0), np.empty(0), np.empty(0)
    bins = bins or bin_count(max(v.size for v in both))
    lo = min(float(v.min()) for v in both)
    hi = max(float(np.percentile(v, HIST_TOP_PERCENTILE)) for v in both)
    if hi <= lo:
        hi = lo + max(abs(lo) * 0.01, 1e-3)
    edges = np.linspace(lo, hi, bins + 1)

    def share(v: np.ndarray) -> np.ndarray:
        if not v.size:
            return np.zeros(bins)
        counts, _e = np.histogram(np.clip(v, lo, hi), edges)
        return counts * 100.0 / v.size

    return edges, share(va), share(vb)


def cdf(v: np.ndarray, points: int = CDF_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Sorted latencies and the % of frames at or below each (at most ``points``)."""
    if not v.size:
        return np.empty(0), np.empty(0)
    x = np.sort(v)
    y = np.arange(1, x.size + 1) * 100.0 / x.size
    if x.size > points:
        k = np.unique(np.linspace(0, x.size - 1, points).astype(np.int64))
        x, y = x[k], y[k]
    return x, y


def split_verdict(text: str) -> tuple[str, str]:
    """A figure's verdict text in two: the change ("+18.0 %", "-11.5 % (-0.019 ms)",
    "360/360 frames agree") and the verdict ("regression beyond 10 %")."""
    change, sep, verdict = text.partition(" — ")
    return (change, verdict) if sep else ("", text)


def _short(v: Any) -> str:
    t = "-" if v is None else str(v)
    if len(t) == 64 and all(c in "0123456789abcdef" for c in t):
        return t[:16] + "…"
    return t if len(t) <= 90 else t[:87] + "…"


class CompareView(QWidget):
    """Shows one comparison at a time; :meth:`set_pair` starts it."""

    message = Signal(str, str)
    #: a comparison finished drawing (for tests and the window)
    compared = Signal()

    def __init__(self, jobs: JobRunner, db_path: LogRef, theme: str = "light",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("compareView")
        self.jobs = jobs
        self.db_path = db_path
        self.theme = theme
        self.pair: tuple[int, int] | None = None
        self.data: CompareData | None = None
        self._token = 0
        self._pending = False
        self._plots: Any = None
        self._curves: dict[str, Any] = {}
        self.export_folder = Path.home()
        self._retol = QTimer(self)
        self._retol.setSingleShot(True)
        self._retol.setInterval(250)
        self._retol.timeout.connect(lambda: self._reload(with_latency=False))
        self._build()

    # -- construction ---------------------------------------------------------------
    def _build(self) -> None:
        lay = tab_layout(self)
        self.heads = text_label("Select two sessions in the Sessions tab and press "
                                "<b>Compare</b>: the older one is the reference (A).")
        lay.addWidget(self.heads)
        row = QHBoxLayout()
        row.addWidget(QLabel("Tolerance"))
        self.tolerance_spin = QDoubleSpinBox()
        self.tolerance_spin.setObjectName("toleranceSpin")
        self.tolerance_spin.setRange(0.0, 999.0)
        self.tolerance_spin.setDecimals(1)
        self.tolerance_spin.setSuffix(" %")
        self.tolerance_spin.setValue(DEFAULT_TOLERANCE_PCT)
        self.tolerance_spin.setToolTip("A relative change beyond this is a regression or an "
                                       "improvement (latencies under the noise floor never "
                                       "are)")
        self.tolerance_spin.valueChanged.connect(lambda _v: self._retol.start())
        row.addWidget(self.tolerance_spin)
        self.swap_button = button("Swap A ↔ B", self.swap, "Make B the reference", into=row)
        self.export_button = button("Export…", self.export_dialog,
                                    "Write this comparison as an HTML report (with plots) "
                                    "or JSON", into=row)
        self.verdict_label = text_label("", "compareVerdict", wrap=False)
        row.addWidget(self.verdict_label, 1)
        lay.addLayout(row)
        # where the run-to-run part of every interval came from (measured or assumed)
        self.spread_label = text_label("", "compareSpread")
        lay.addWidget(self.spread_label)
        self.agreement_label = text_label("", "compareAgreement")
        lay.addWidget(self.agreement_label)

        self.figures_table = QTableWidget(0, 5)
        self.figures_table.setObjectName("compareFigures")
        self.figures_table.setHorizontalHeaderLabels(["Figure", "A", "B", "Change", "Verdict"])
        self.differences_table = QTableWidget(0, 4)
        self.differences_table.setObjectName("compareDifferences")
        self.differences_table.setHorizontalHeaderLabels(["Section", "Field", "A", "B"])
        for t in (self.figures_table, self.differences_table):
            t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
            t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
            t.verticalHeader().setVisible(False)
            t.verticalHeader().setDefaultSectionSize(21)
            t.horizontalHeader().setStretchLastSection(True)
            t.setWordWrap(False)
        hf = self.figures_table.horizontalHeader()
        hf.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for col, w in enumerate((150, 92, 92, 170)):
            self.figures_table.setColumnWidth(col, w)
        for col, w in enumerate((70, 110, 190)):
            self.differences_table.setColumnWidth(col, w)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        srow = QHBoxLayout()
        srow.addWidget(QLabel("Stage"))
        self.stage_combo = QComboBox()
        self.stage_combo.setObjectName("compareStage")
        for st in (E2E, *P.STAGE_PARTS):
            self.stage_combo.addItem(stage_label(st), st)
        self.stage_combo.currentIndexChanged.connect(lambda _k: self._draw_plots())
        srow.addWidget(self.stage_combo)
        srow.addStretch(1)
        rl.addLayout(srow)
        self.plot_holder = QVBoxLayout()
        rl.addLayout(self.plot_holder, 1)

        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.figures_table)
        left.addWidget(self.differences_table)
        left.setStretchFactor(0, 3)
        left.setStretchFactor(1, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.setObjectName("compareSplitter")
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        lay.addWidget(split, 1)
        self._set_enabled(False)

    def _set_enabled(self, on: bool) -> None:
        for w in (self.tolerance_spin, self.swap_button, self.export_button, self.stage_combo):
            w.setEnabled(on)

    def _ensure_plots(self) -> None:
        if self._plots is not None:
            return
        import pyqtgraph as pg

        from console.ui.live.panels import PALETTES

        colors = PALETTES[self.theme]
        view = pg.GraphicsLayoutWidget()
        view.setObjectName("comparePlots")
        view.setBackground(colors["bg"])
        hist = view.addPlot(row=0, col=0)
        cdfp = view.addPlot(row=1, col=0)
        figs = view.addPlot(row=2, col=0)
        for item, left in ((hist, "% of frames"), (cdfp, "% of frames ≤ x"), (figs, "ms")):
            item.setMenuEnabled(False)
            item.hideButtons()
            item.setLabel("left", left)
            item.setLabel("bottom", "ms" if item is not figs else "figure")
            for ax in ("left", "bottom"):
                item.getAxis(ax).enableAutoSIPrefix(False)
            item.showGrid(x=True, y=True, alpha=colors["grid"])
            legend = item.addLegend(offset=(-4, 4), labelTextSize="8pt")
            legend.anchor(itemPos=(1, 0), parentPos=(1, 0), offset=(-4, 4))
        cdfp.setYRange(0, 100, padding=0.02)
        self._plots = {"view": view, "hist": hist, "cdf": cdfp, "figs": figs}
        self.plot_holder.addWidget(view, 1)
        self._style_curves()

    def _style_curves(self) -> None:
        import pyqtgraph as pg

        from console.ui.live.panels import PALETTES

        if self._plots is None:
            return
        colors = PALETTES[self.theme]
        self._plots["view"].setBackground(colors["bg"])
        for item in (self._plots["hist"], self._plots["cdf"], self._plots["figs"]):
            for ax in ("left", "bottom"):
                axis = item.getAxis(ax)
                axis.setPen(pg.mkPen(colors["fg"]))
                axis.setTextPen(pg.mkPen(colors["fg"]))
            if item.legend is not None:
                item.legend.setLabelTextColor(colors["fg"])
        self._draw_plots()

    def set_theme(self, theme: str) -> None:
        self.theme = theme
        self._style_curves()

    # -- data -------------------------------------------------------------------------
    @property
    def tolerance(self) -> float:
        return self.tolerance_spin.value() / 100.0

    def set_pair(self, a: int, b: int) -> None:
        """Compare B (candidate) against A (reference), in a job."""
        self.pair = (a, b)
        self.heads.setText(f"comparing session {b} against session {a}…")
        self._reload(with_latency=True)

    def swap(self) -> None:
        if self.pair is not None:
            a, b = self.pair
            self.set_pair(b, a)

    @property
    def busy(self) -> bool:
        """A comparison is being computed."""
        return self._pending

    def _reload(self, with_latency: bool) -> None:
        if self.pair is None:
            return
        a, b = self.pair
        self._token += 1
        token = self._token
        self._pending = True
        db, tol = self.db_path, self.tolerance
        keep = self.data.latency if (self.data is not None and not with_latency) else None
        self.jobs.submit("compare", user_errors(
            lambda: browse.load_comparison(db, a, b, tol, with_latency=keep is None)),
            lambda d: self._on_data(token, d, keep), lambda exc: self._on_error(token, exc))

    def _on_error(self, token: int, exc: BaseException) -> None:
        if token == self._token:
            self._pending = False
            self.heads.setText(f"cannot compare: {html.escape(error_text(exc))}")
            self.message.emit("error", f"compare: {error_text(exc)}")

    def _on_data(self, token: int, d: Any,
                 keep: dict[str, tuple[np.ndarray, np.ndarray]] | None) -> None:
        if token != self._token:
            return
        self._pending = False
        if isinstance(d, JobFailure):
            self.data = None
            self._set_enabled(False)
            self.heads.setText(f"cannot compare: {html.escape(d.text)}")
            self.verdict_label.setText("")
            self.spread_label.setText("")
            self.agreement_label.setText("")
            self.figures_table.setRowCount(0)
            self.differences_table.setRowCount(0)
            self.message.emit("error", f"compare: {d.text}")
            return
        if keep is not None:
            d = CompareData(d.comparison, keep)
        self.data = d
        self._set_enabled(True)
        self._show(d)
        self.compared.emit()

    # -- drawing ----------------------------------------------------------------------
    def _show(self, d: CompareData) -> None:
        from console.session.compare import fmt_value

        cmp = d.comparison
        e = html.escape
        heads = []
        for lab, h, hc in (("A", cmp.a, "#1c7ed6"), ("B", cmp.b, "#e8590c")):
            heads.append(f"<b style='color:{hc}'>{lab}</b> session {h.id} &nbsp;<b>{e(h.title)}"
                         f"</b> on {e(h.device)} — {e(h.input)} ({h.frames} frames, "
                         f"{e(h.status)})")
        self.heads.setText("<br>".join(heads))
        color = VERDICT_COLORS.get(cmp.verdict, VERDICT_COLORS["no change"])
        self.verdict_label.setText(f"<b style='color:{color}'>{e(cmp.verdict_line())}</b>")
        self.spread_label.setText(e(cmp.spread_line()))
        ag = cmp.agreement
        agreement_figs = [f for f in cmp.figures if f.group == "agreement"]
        if not ag.available:
            self.agreement_label.setText(f"<b>Output agreement:</b> {e(str(ag.reason))}")
        else:
            lines = [f"{e(f.name)} <b>{e(fmt_value(f.b, f.unit))}</b> — {e(f.text)}"
                     for f in agreement_figs]
            more = ""
            if ag.disagreeing_frames:
                shown = ", ".join(str(i) for i in ag.disagreeing_frames[:20])
                more = f"; frames with another top-1: {shown}" + \
                    (" …" if len(ag.disagreeing_frames) > 20 else "")
            self.agreement_label.setText("<b>Output agreement (frame by frame):</b> "
                                         + "; ".join(lines) + e(more))
        t = self.figures_table
        t.setRowCount(len(cmp.figures))
        for r, f in enumerate(cmp.figures):
            change, verdict = split_verdict(f.text)
            a = "" if f.group == "agreement" else fmt_value(f.a, f.unit)
            cells = [f.name, a, fmt_value(f.b, f.unit), change, verdict]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c in (1, 2, 3):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                if c in (3, 4):
                    item.setToolTip(f.text)
                col = VERDICT_COLORS.get(f.verdict)
                if col and c in (3, 4):
                    item.setForeground(QColor(col))
                if f.verdict == "regression" and c == 0:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                t.setItem(r, c, item)
        dt = self.differences_table
        diffs = cmp.differences
        dt.setRowCount(max(1, len(diffs)))
        if not diffs:
            dt.setItem(0, 0, QTableWidgetItem("none"))
            dt.setItem(0, 1, QTableWidgetItem("same device, package, input and settings"))
            dt.setItem(0, 2, QTableWidgetItem(""))
            dt.setItem(0, 3, QTableWidgetItem(""))
        for r, df in enumerate(diffs):
            for c, text in enumerate((df.section, df.field, _short(df.a), _short(df.b))):
                item = QTableWidgetItem(text)
                if c >= 2:
                    item.setToolTip("-" if (df.a if c == 2 else df.b) is None
                                    else str(df.a if c == 2 else df.b))
                dt.setItem(r, c, item)
        self._draw_plots()

    def _draw_plots(self) -> None:
        d = self.data
        if d is None or not d.latency:
            return
        import pyqtgraph as pg

        from console.ui.live.panels import PALETTES

        self._ensure_plots()
        assert self._plots is not None
        colors = PALETTES[self.theme]
        stage = str(self.stage_combo.currentData())
        va, vb = d.latency.get(stage, (np.empty(0), np.empty(0)))
        cmp = d.comparison
        names = (f"A #{cmp.a.id} {cmp.a.title}", f"B #{cmp.b.id} {cmp.b.title}")
        hist, cdfp = self._plots["hist"], self._plots["cdf"]
        for item in (hist, cdfp):
            item.clear()
        edges, ha, hb = histogram(va, vb)
        for (share, color, name, v) in ((ha, colors["session_a"], names[0], va),
                                        (hb, colors["session_b"], names[1], vb)):
            if not v.size or not edges.size:
                continue
            fill = pg.mkColor(color)
            fill.setAlpha(70)
            hist.addItem(pg.PlotDataItem(edges, share, stepMode="center", fillLevel=0,
                                         brush=pg.mkBrush(fill), pen=pg.mkPen(color, width=2),
                                         name=f"{name} ({v.size} frames)"))
        for (color, name, v) in ((colors["session_a"], names[0], va),
                                (colors["session_b"], names[1], vb)):
            x, y = cdf(v)
            if x.size:
                p95 = float(np.percentile(v, 95))
                cdfp.addItem(pg.PlotDataItem(x, y, pen=pg.mkPen(color, width=2),
                                             name=f"{name}: p95 {p95:.3f} ms"))
        label = stage_label(stage)
        top = f"p{HIST_TOP_PERCENTILE:g}"
        hist.setTitle(f"{label} latency — histogram (% of frames; x up to {top})",
                      size="9pt", color=colors["fg"])
        cdfp.setTitle(f"{label} latency — CDF", size="9pt", color=colors["fg"])
        cdfp.setYRange(0, 100, padding=0.02)
        from console.ui.sessions.compare_bars import draw_cdf_intervals, draw_figure_intervals

        self._curves = {"stage": stage,
                        "cdf_bars": draw_cdf_intervals(cdfp, cmp, stage, colors),
                        "figure_bars": draw_figure_intervals(self._plots["figs"], cmp, stage,
                                                             colors, names)}

    def plotted(self) -> dict[str, Any]:
        """What the plots show now: stage and the curves' names and points (for tests)."""
        if self._plots is None:
            return {}
        out: dict[str, Any] = {"stage": self._curves.get("stage"),
                               "cdf_bars": self._curves.get("cdf_bars", {}),
                               "figure_bars": self._curves.get("figure_bars", {})}
        for key in ("hist", "cdf"):
            items = [it for it in self._plots[key].listDataItems()]
            out[key] = [(it.name(), *it.getData()) for it in items]
        return out

    # -- export -----------------------------------------------------------------------
    def export_dialog(self) -> None:
        if self.pair is None:
            return
        a, b = self.pair
        path, _f = QFileDialog.getSaveFileName(
            self, "Export the comparison", str(self.export_folder / f"compare-{a}-{b}.html"),
            "HTML report (*.html);;JSON (*.json)")
        if path:
            self.export_folder = Path(path).parent
            self.export_to(Path(path))

    def export_to(self, path: Path) -> None:
        if self.pair is None:
            return
        a, b = self.pair
        db, tol = self.db_path, self.tolerance

        def work() -> Any:
            return browse.export_comparison(db, a, b, path, tol)

        def finished(result: Any) -> None:
            if isinstance(result, JobFailure):
                self.message.emit("error", f"comparison export failed: {result.text}")
            else:
                self.message.emit("info", f"wrote the comparison of sessions {b} vs {a} to "
                                          f"{path}")

        self.jobs.submit("compare-export", user_errors(work), finished,
                         lambda exc: self.message.emit("error", "comparison export failed: "
                                                       + error_text(exc)))
