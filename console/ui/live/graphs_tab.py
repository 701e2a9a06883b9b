"""The Live graphs tab: a holder that builds the graphs just after the window is shown.

pyqtgraph takes ~0.2 s to import and more to lay out and paint six plots,
so the tab shows a "loading" line first and builds :class:`LivePlots` 30 ms
after its first show (or at once when something asks for them, e.g. a run
started from the command line). The scrolling window the user chose is
kept across starts by the window's layout settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from console.ui.qt import QLabel, QShowEvent, Qt, QTimer, QVBoxLayout, QWidget, Signal

if TYPE_CHECKING:
    from console.ui.live.plots import LivePlots


class GraphsTab(QWidget):
    #: a latency spike was annotated (console.ui.live.correlate.Spike)
    spikeAnnotated = Signal(object)

    def __init__(self, theme: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.theme = theme
        self._plots: LivePlots | None = None
        #: the scrolling window to give the graphs when they are built (seconds)
        self.window_s: float | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._loading = QLabel("loading the graphs…")
        self._loading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._layout.addWidget(self._loading)

    @property
    def built(self) -> bool:
        return self._plots is not None

    @property
    def plots(self) -> LivePlots:
        """The live graphs, built on first use (normally just after the first show)."""
        if self._plots is None:
            from console.ui.live.plots import LivePlots

            plots = LivePlots(theme=self.theme)
            plots.spikeAnnotated.connect(self.spikeAnnotated)
            if self.window_s is not None:
                plots.set_window_s(self.window_s)
            self._loading.hide()
            self._layout.addWidget(plots)
            self._plots = plots
        return self._plots

    def current_window_s(self) -> float | None:
        """The scrolling window to remember (None: never built, nothing chosen)."""
        return self._plots.window_s if self._plots is not None else self.window_s

    def set_theme(self, theme: str) -> None:
        self.theme = theme
        if self._plots is not None:
            self._plots.set_theme(theme)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._plots is None:
            QTimer.singleShot(30, self._build)

    def _build(self) -> Any:
        return self.plots
