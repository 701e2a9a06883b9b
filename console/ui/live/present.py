"""Presentation mode (View → Present, F11; Esc leaves): the run for a meeting-room screen.

One full-screen window: the device and the model named at the top, the
annotated live view large, the live figures big beside it (FPS, p95 of
end-to-end latency, CPU, temperature — "unavailable" where the device
reports none, never a made-up 0), and a strip of end-to-end latency (the
last :data:`STRIP_S` seconds, rolling p95 dashed) under it.

It shows what the main window already has, nothing of its own: the live
view widget itself moves in (and back to its dock when presenting ends),
and the figures and the strip are read from the live graphs' data
(``LivePlots.frames``, ``.percentiles``, ``.telemetry``, ``.bins``): the
strip ten times a second, the numbers about three times. A run keeps going,
and keeps being recorded, whether or not it is presented.

What must not live here: starting or stopping runs, computing figures the
graphs do not already hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from console.core import protocol as P
from console.core.series import minmax_decimate
from console.ui.live.data import E2E
from console.ui.qt import (
    QAction,
    QColor,
    QFont,
    QGridLayout,
    QHBoxLayout,
    QKeyEvent,
    QKeySequence,
    QLabel,
    QMenu,
    QPalette,
    QResizeEvent,
    Qt,
    QTimer,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from console.ui.live.plots import LivePlots
    from console.ui.main_window import MainWindow

#: seconds of end-to-end latency in the strip
STRIP_S = 30.0
#: the strip is redrawn this often (ms); the big numbers every :data:`FIGURES_EVERY`-th time
STRIP_MS = 100
FIGURES_EVERY = 3
BG, FG, MUTED = "#0e1116", "#eef1f5", "#9aa3ad"
ACCENT = {"fps": "#69db7c", "p95": "#d0a2ff", "cpu": "#6cb4ff", "temp": "#ffab40"}
NA = "unavailable"
#: points handed to the strip's curve
STRIP_POINTS = 600


@dataclass(frozen=True)
class Figures:
    """The big numbers, as text (value, unit, small print below it)."""

    fps: tuple[str, str, str]
    p95: tuple[str, str, str]
    cpu: tuple[str, str, str]
    temp: tuple[str, str, str]


def _latest_max(plots: LivePlots, prefix: str) -> float | None:
    vals = [v for v in (plots.telemetry.latest(n) for n in plots.telemetry.names(prefix))
            if v is not None]
    return max(vals) if vals else None


def figures(plots: LivePlots | None, running: bool) -> Figures:
    """What the big numbers say now. '–' while nothing has arrived yet; "unavailable"
    once the device has sent telemetry without that figure."""
    wait = ("–", "", "waiting for data" if running else "no run")
    if plots is None:
        return Figures(wait, wait, wait, wait)
    fps = plots.frames.fps_last_second()
    pct = plots.rolling_percentiles()
    tel = plots.telemetry
    told = tel.samples >= 2 or (not running and tel.samples > 0)
    f_fps = (f"{fps:.1f}", "fps", "last second") if fps is not None else wait
    f_p95 = ((f"{pct[1]:.0f}" if pct[1] >= 100 else f"{pct[1]:.1f}", "ms",
              f"p95 end-to-end · p50 {pct[0]:.1f} ms") if pct is not None else wait)
    agent, system = tel.latest(P.CPU_AGENT), tel.latest(P.CPU_SYS)
    if agent is not None:
        f_cpu = (f"{agent:.0f}", "%", "agent, of one core"
                 + (f" · system {system:.0f} %" if system is not None else ""))
    elif system is not None:
        f_cpu = (f"{system:.0f}", "%", "system, of all cores")
    else:
        f_cpu = (NA, "", "the device reports no CPU load") if told else wait
    temp = _latest_max(plots, P.THERMAL + ".")
    if temp is not None:
        f_temp = (f"{temp:.1f}", "°C", "hottest thermal zone")
    else:
        f_temp = (NA, "", "the device reports no thermal zones") if told else wait
    return Figures(f_fps, f_p95, f_cpu, f_temp)


def strip_points(plots: LivePlots, span_s: float = STRIP_S
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """End-to-end latency and its rolling p95 over the last ``span_s`` seconds (the bins
    the graphs keep when there are many frames, the frames themselves otherwise)."""
    last = plots.frames.last_t()
    if last is None:
        e = np.empty(0)
        return e, e, e, e
    t_from = max(0.0, last - span_s)
    sl = plots.frames.window(t_from)
    bins = plots.bins
    if sl.stop - sl.start > STRIP_POINTS and bins is not None and not bins.stale \
            and (bins.first_t() or 0.0) <= t_from:
        x, y = bins.curve(P.STAGES.index(E2E), t_from)
    else:
        x, y = minmax_decimate(plots.frames.column("ts")[sl], plots.frames.column(E2E)[sl],
                               STRIP_POINTS)
    px, pv = plots.percentiles.since(t_from, STRIP_POINTS)
    return x, y, px, (pv[:, 1] if len(pv) else np.empty(0))


class _Figure(QWidget):
    """One big number: a caption, the value with its unit, a line of small print."""

    def __init__(self, caption: str, color: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        self.caption = QLabel(caption)
        self.value = QLabel("–")
        self.value.setObjectName("presentValue")
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self._px = 48
        self._shown = ("–", "", "")
        for w, c in ((self.caption, MUTED), (self.value, color), (self.note, MUTED)):
            w.setStyleSheet(f"color: {c}")
            lay.addWidget(w)

    def show_figure(self, value: str, unit: str, note: str) -> None:
        # the unit smaller; a word ("unavailable", "–") smaller still: it is not a reading
        self._shown = (value, unit, note)
        px = self._px
        if unit:
            text = f"{value}<span style='font-size:{int(px * 0.5)}px'> {unit}</span>"
        elif any(ch.isdigit() for ch in value):
            text = value
        else:
            text = f"<span style='font-size:{int(px * 0.45)}px'>{value}</span>"
        self.value.setText(text)
        self.note.setText(note)

    def set_sizes(self, px: int) -> None:
        self._px = px
        for w, scale, bold in ((self.caption, 0.32, False), (self.value, 1.0, True),
                               (self.note, 0.26, False)):
            f = QFont(self.font())
            f.setPixelSize(max(10, int(px * scale)))
            f.setBold(bold)
            w.setFont(f)
        self.show_figure(*self._shown)


class PresentView(QWidget):
    """The full-screen presentation window (a top-level window owned by the main one)."""

    def __init__(self, window: MainWindow, mode: PresentMode) -> None:
        super().__init__(window, Qt.WindowType.Window)
        self.mode = mode
        self.setObjectName("presentView")
        self.setWindowTitle("Device Lab Console — presentation (Esc leaves)")
        self.w = window
        pal = self.palette()
        pal.setColor(QPalette.ColorRole.Window, QColor(BG))
        pal.setColor(QPalette.ColorRole.WindowText, QColor(FG))
        self.setPalette(pal)
        self.setAutoFillBackground(True)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(24, 16, 24, 16)
        outer.setSpacing(10)
        head = QHBoxLayout()
        self.title = QLabel("")
        self.title.setObjectName("presentTitle")
        self.title.setStyleSheet(f"color: {FG}")
        self.state = QLabel("")
        self.state.setObjectName("presentState")
        self.state.setStyleSheet(f"color: {MUTED}")
        self.state.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        head.addWidget(self.title, 1)
        head.addWidget(self.state)
        outer.addLayout(head)
        self.subtitle = QLabel("")
        self.subtitle.setStyleSheet(f"color: {MUTED}")
        outer.addWidget(self.subtitle)
        mid = QHBoxLayout()
        mid.setSpacing(28)
        self.view_slot = QVBoxLayout()
        mid.addLayout(self.view_slot, 3)
        grid = QGridLayout()
        grid.setVerticalSpacing(18)
        self.fig = {"fps": _Figure("Frames per second", ACCENT["fps"]),
                    "p95": _Figure("Latency p95", ACCENT["p95"]),
                    "cpu": _Figure("CPU", ACCENT["cpu"]),
                    "temp": _Figure("Temperature", ACCENT["temp"])}
        for k, f in enumerate(self.fig.values()):
            grid.addWidget(f, k, 0)
        grid.setRowStretch(len(self.fig), 1)
        self.side = QWidget()
        self.side.setLayout(grid)
        mid.addWidget(self.side, 1)
        outer.addLayout(mid, 1)
        self.strip = self._build_strip()
        outer.addWidget(self.strip)
        self.hint = QLabel("Esc or F11 leaves presentation mode")
        self.hint.setStyleSheet(f"color: {MUTED}")
        outer.addWidget(self.hint)
        self.timer = QTimer(self)
        self.timer.setInterval(STRIP_MS)
        self.timer.timeout.connect(self.refresh)
        self._ticks = 0

    def _build_strip(self) -> Any:
        import pyqtgraph as pg

        from console.ui.live.panels import PALETTES

        colors = PALETTES["dark"]
        plot = pg.PlotWidget(background=BG)
        plot.setObjectName("presentStrip")
        item = plot.getPlotItem()
        item.setMenuEnabled(False)
        item.hideButtons()
        item.setMouseEnabled(x=False, y=False)
        item.setLabel("left", "ms", **{"font-size": "11pt"})
        item.setLabel("bottom", "time since start (s)", **{"font-size": "11pt"})
        tick_font = QFont()
        tick_font.setPointSize(11)
        for ax in ("left", "bottom"):
            axis = item.getAxis(ax)
            axis.enableAutoSIPrefix(False)
            axis.setPen(pg.mkPen(MUTED))
            axis.setTextPen(pg.mkPen(FG))
            axis.setStyle(tickFont=tick_font)
        item.getAxis("left").setWidth(60)
        item.setTitle(f"End-to-end latency, last {STRIP_S:.0f} s (rolling p95 dashed)",
                      color=MUTED, size="11pt")
        self.e2e_curve = item.plot([], [], pen=pg.mkPen(colors[E2E], width=2),
                                   skipFiniteCheck=True)
        self.p95_curve = item.plot([], [], pen=pg.mkPen(colors["p95"], width=1,
                                                        style=Qt.PenStyle.DashLine))
        plot.setMinimumHeight(140)
        return plot

    # -- in and out ---------------------------------------------------------------------
    def enter(self) -> None:
        """Take the live view from its dock and show full screen."""
        lv = self.w.live_view
        self._font = lv.font()
        big = QFont(self._font)
        big.setPointSizeF(self._font.pointSizeF() * 1.6)
        self.view_slot.addWidget(lv)  # reparents it (the dock is left empty meanwhile)
        lv.setFont(big)
        lv.show()
        self.refresh()
        screen = self.w.screen()
        if screen is not None:  # without a window manager (Xvfb) full screen is a size too
            self.setGeometry(screen.geometry())
        self.showFullScreen()
        self.activateWindow()
        self.timer.start()

    def leave(self) -> None:
        """Give the live view back to its dock."""
        self.timer.stop()
        lv = self.w.live_view
        lv.setFont(self._font)
        self.view_slot.removeWidget(lv)
        self.w.view_dock.setWidget(lv)
        lv.show()
        self.hide()

    # -- what it shows --------------------------------------------------------------------
    def refresh(self) -> None:
        w = self.w
        run = w.supervisor.run
        entry = w.devices.current()
        device = run.device if run is not None else (entry.name if entry else "?")
        model = run.title if run is not None else self._package_title()
        self.title.setText(f"{model}  on  {device}")
        self.title.setToolTip(self.title.text())
        plots = w.graph_holder.plots if w.graph_holder.built else None
        running = w.running
        state = "running" if running else (run.result.status if run is not None
                                           and run.result is not None else "ready")
        sid = run.session_id if run is not None else None
        self.state.setText((f"session {sid} · " if sid is not None else "") + state)
        if self._ticks % FIGURES_EVERY == 0:
            self.subtitle.setText(self._input_line())
            f = figures(plots, running)
            for key in self.fig:
                self.fig[key].show_figure(*getattr(f, key))
        self._ticks += 1
        if plots is not None:
            x, y, px, p95 = strip_points(plots)
            self.e2e_curve.setData(x, y)
            self.p95_curve.setData(px, p95)
            if len(x):
                end = float(x[-1])
                self.strip.getPlotItem().setXRange(max(0.0, end - STRIP_S),
                                                   max(end, STRIP_S), padding=0)
                top = float(np.nanmax(y)) if np.isfinite(y).any() else 1.0
                from console.ui.live.ranges import nice_ceil  # pyqtgraph: not at start-up

                self.strip.getPlotItem().setYRange(0, nice_ceil(top * 1.05), padding=0)

    def _package_title(self) -> str:
        ver = self.w.package.verification
        pkg = ver.package if ver is not None else None
        return pkg.title if pkg is not None else (self.w.package.current_path() or "no model")

    def _input_line(self) -> str:
        """What the model is and what it reads: the package's description, the input."""
        ver = self.w.package.verification
        pkg = ver.package if ver is not None else None
        desc = pkg.manifest.description if pkg is not None else ""
        inp = self.w.input
        spec = inp.describe()
        if inp.kind() == "video" and spec:
            spec = spec.replace("\\", "/").rsplit("/", 1)[-1]
            fps = inp.limits().get("fps")
            spec += f" at {fps:g} fps" if fps else " as fast as it goes"
            spec += ", looping" if inp.limits().get("loop") else ""
        parts = [p for p in (desc, f"{inp.kind_combo.currentText()}: {spec}" if spec else "")
                 if p]
        return "  ·  ".join(parts)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        h = max(400, self.height())
        for f in self.fig.values():
            f.set_sizes(int(min(h / 12, self.width() / 22)))
        for label, scale in ((self.title, 0.036), (self.state, 0.026),
                             (self.subtitle, 0.02), (self.hint, 0.014)):
            font = QFont(label.font())
            font.setPixelSize(max(11, int(h * scale)))
            font.setBold(label is self.title)
            label.setFont(font)
        self.strip.setFixedHeight(int(h * 0.2))
        self.side.setMaximumWidth(int(self.width() * 0.3))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.mode.set(False)
            return
        super().keyPressEvent(event)


class PresentMode:
    """The window's presentation mode: its action (View → Present, F11) and its view,
    made on first use. The main window only owns one of these."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.view: PresentView | None = None
        act = self.action = QAction("Present", window)
        act.setObjectName("presentAction")
        act.setCheckable(True)
        act.setShortcut(QKeySequence("F11"))
        act.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        act.setToolTip("The live view, big numbers and the latency strip full screen, for "
                       "a meeting-room screen (F11; Esc leaves)")
        act.toggled.connect(self.set)
        window.addAction(act)
        for top in window.menuBar().actions():
            menu = top.menu()
            if isinstance(menu, QMenu) and top.text().replace("&", "") == "View":
                first = menu.actions()[0] if menu.actions() else None
                menu.insertAction(first, act)  # type: ignore[arg-type]
                menu.insertSeparator(first)  # type: ignore[arg-type]
                break

    @property
    def on(self) -> bool:
        return self.view is not None and self.view.isVisible()

    def set(self, on: bool) -> None:
        """Enter or leave presentation mode."""
        if on != self.on:
            if on:
                if self.view is None:
                    self.view = PresentView(self.window, self)
                self.view.enter()
            elif self.view is not None:
                self.view.leave()
                self.window.activateWindow()
        if self.action.isChecked() != on:
            self.action.blockSignals(True)
            self.action.setChecked(on)
            self.action.blockSignals(False)

    def toggle(self) -> None:
        self.set(not self.on)
