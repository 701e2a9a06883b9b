"""Where the window and its docks are: restored at start, saved at close (QSettings).

QSettings holds only window geometry and dock state (the house rule: user
preferences go to the settings file). The session tabs (Sessions, Playback,
Compare, Matrix) are wide tables and plots, so while one is shown the run's
side docks make room (the log stays); the live layout comes back with the
Live graphs tab, and it is the live layout that is saved.
"""

from __future__ import annotations

from collections.abc import Sequence

from console.core.paths import config_dir
from console.ui.live.graphs_tab import GraphsTab
from console.ui.qt import (
    QApplication,
    QByteArray,
    QDockWidget,
    QMainWindow,
    QSettings,
    Qt,
    QWidget,
)

STATE_VERSION = 1
DEFAULT_SIZE = (1600, 1000)


def make_dock(window: QMainWindow, title: str, name: str, widget: QWidget) -> QDockWidget:
    """A dock the user may move, float and close (View menu brings it back); ``name``
    is its key in the saved layout."""
    dock = QDockWidget(title, window)
    dock.setObjectName(name)
    dock.setWidget(widget)
    dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                     | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                     | QDockWidget.DockWidgetFeature.DockWidgetClosable)
    return dock


def settings_file() -> str:
    return str(config_dir() / "window.ini")


class WindowLayout:
    def __init__(self, window: QMainWindow, docks: Sequence[QDockWidget],
                 side_docks: Sequence[QDockWidget], graphs: GraphsTab) -> None:
        self.window = window
        self.docks = list(docks)
        self.side_docks = list(side_docks)
        self.graphs = graphs
        self.default = window.saveState(STATE_VERSION)
        #: no saved layout: the docks are fitted to the window's width once it is shown
        self.fresh = False
        #: the live layout while a session tab is shown (None on the Live graphs tab)
        self.live_state: QByteArray | None = None

    def _qsettings(self) -> QSettings:
        return QSettings(settings_file(), QSettings.Format.IniFormat)

    def restore(self) -> None:
        w = self.window
        qs = self._qsettings()
        geo, state = qs.value("geometry"), qs.value("state")
        if isinstance(geo, QByteArray) and not geo.isEmpty():
            w.restoreGeometry(geo)
        else:
            screen = QApplication.primaryScreen()
            avail = screen.availableGeometry() if screen is not None else None
            if avail is not None:
                width, height = (min(DEFAULT_SIZE[0], avail.width()),
                                 min(DEFAULT_SIZE[1], avail.height()))
                w.resize(width, height)
                w.move(avail.x() + (avail.width() - width) // 2,
                       avail.y() + (avail.height() - height) // 2)
                self.fresh = True
            else:
                w.resize(*DEFAULT_SIZE)
        if isinstance(state, QByteArray) and not state.isEmpty():
            w.restoreState(state, STATE_VERSION)
        window_s = qs.value("graph_window_s")
        if window_s is not None:
            try:
                self.graphs.window_s = int(str(window_s))
            except (TypeError, ValueError):
                pass

    def shown(self) -> None:
        """The window is on screen: a first start fits the side docks to its width."""
        if self.fresh:
            self.fresh = False
            self.fit_docks(self.window.width())

    def fit_docks(self, width: int) -> None:
        """Side docks as wide as ``width`` affords: on a 1280-px screen the graphs keep
        about half the window (fixed dock widths left them a third)."""
        w = self.window
        left = [d for d in self.side_docks
                if w.dockWidgetArea(d) == Qt.DockWidgetArea.LeftDockWidgetArea]
        right = [d for d in self.side_docks
                 if w.dockWidgetArea(d) == Qt.DockWidgetArea.RightDockWidgetArea]
        if left and right:
            w.resizeDocks([left[0], right[0]],
                          [max(290, min(400, int(width * 0.24))),
                           max(300, min(480, int(width * 0.27)))], Qt.Orientation.Horizontal)

    def save(self) -> None:
        qs = self._qsettings()
        qs.setValue("geometry", self.window.saveGeometry())
        qs.setValue("state", self.live_state if self.live_state is not None
                    else self.window.saveState(STATE_VERSION))
        if self.graphs.built:
            qs.setValue("graph_window_s", int(self.graphs.plots.window_s))
        qs.sync()

    def reset(self) -> None:
        """Every dock back where it was on first start, and shown."""
        self.live_state = None
        self.window.restoreState(self.default, STATE_VERSION)
        for d in self.docks:
            d.setVisible(True)

    def tab_shown(self, live: bool) -> None:
        """A tab was shown: hide the side docks for a session tab, bring them back for live."""
        if not live and self.live_state is None:
            self.live_state = self.window.saveState(STATE_VERSION)
            for d in self.side_docks:
                d.setVisible(False)
        elif live and self.live_state is not None:
            state, self.live_state = self.live_state, None
            self.window.restoreState(state, STATE_VERSION)
