"""The console's one door to Qt (qutebrowser's ``qutebrowser/qt/`` shim).

Every window module imports its Qt classes from here, never from
``PySide6``/``shiboken6`` directly (an import-linter contract in pyproject
holds that), so:

- the Qt surface the console uses is listed in one place (``__all__``);
- a binding's version quirks are handled here once, as small functions,
  instead of ``hasattr``/``try`` branches in the views;
- pyqtgraph's binding is this one (set in ``console/ui/__init__.py``, which runs
  before any plot module imports pyqtgraph).

The supported range is pyproject's: PySide6 >= 6.8 (below 6.12 on Python
3.11, where 6.12.0 leaks a reference to ``None`` on every void call and the
interpreter aborts; ``tests/test_qt_refcount.py`` guards that pin). Features
older than 6.8 (the colour-scheme hints of 6.5) are used without a fallback.

What must not live here: widgets, styling, anything that knows the console.
"""

from __future__ import annotations

import os
from collections.abc import Callable

# pyqtgraph picks a binding at its import: make it this one, whatever else is installed.
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import shiboken6
from PySide6.QtCore import (
    QAbstractTableModel,
    QByteArray,
    QCoreApplication,
    QEvent,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPointF,
    QRectF,
    QSettings,
    QSize,
    QSocketNotifier,
    QSortFilterProxyModel,
    Qt,
    QThread,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QBrush,
    QCloseEvent,
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QFont,
    QFontDatabase,
    QFontMetrics,
    QFontMetricsF,
    QGuiApplication,
    QIcon,
    QImage,
    QKeyEvent,
    QKeySequence,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QPixmap,
    QResizeEvent,
    QShowEvent,
    QTextOption,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QBoxLayout,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGraphicsGridLayout,
    QGraphicsLinearLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QStatusBar,
    QStyle,
    QStyleOptionFrame,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTextBrowser,
    QToolBar,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

__all__ = [  # noqa: RUF022 - grouped by Qt module, not sorted
    # QtCore
    "QAbstractTableModel", "QByteArray", "QCoreApplication", "QEvent", "QItemSelection",
    "QItemSelectionModel", "QModelIndex", "QObject", "QPersistentModelIndex", "QPointF",
    "QRectF", "QSettings", "QSize", "QSocketNotifier", "QSortFilterProxyModel", "QThread",
    "QTimer", "Qt", "Signal", "Slot",
    # QtGui
    "QAction", "QActionGroup", "QBrush", "QCloseEvent", "QColor", "QDragEnterEvent",
    "QDropEvent", "QFont", "QFontDatabase", "QFontMetrics", "QFontMetricsF",
    "QGuiApplication", "QIcon",
    "QImage", "QKeyEvent", "QKeySequence", "QPaintEvent", "QPainter", "QPalette", "QPen",
    "QPixmap", "QResizeEvent", "QShowEvent", "QTextOption",
    # QtWidgets
    "QAbstractItemView", "QApplication", "QBoxLayout", "QButtonGroup", "QCheckBox",
    "QComboBox", "QDialog",
    "QDialogButtonBox", "QDockWidget", "QDoubleSpinBox", "QFileDialog", "QFormLayout",
    "QGraphicsGridLayout", "QGraphicsLinearLayout", "QGridLayout",
    "QGroupBox", "QHBoxLayout", "QHeaderView", "QInputDialog", "QLabel", "QLineEdit",
    "QListWidget", "QListWidgetItem", "QMainWindow", "QMenu", "QMessageBox", "QPlainTextEdit",
    "QProgressBar", "QPushButton", "QRadioButton", "QSizePolicy", "QSlider", "QSpinBox",
    "QSplitter", "QStackedWidget", "QStatusBar", "QStyle", "QStyleOptionFrame", "QTabWidget",
    "QTableView", "QTableWidget",
    "QTableWidgetItem", "QTextBrowser", "QToolBar", "QToolButton", "QTreeWidget",
    "QTreeWidgetItem", "QVBoxLayout", "QWidget",
    # the quirks
    "is_alive", "refilter", "system_color_scheme", "on_color_scheme_changed",
]


def is_alive(obj: object) -> bool:
    """Whether the C++ object behind ``obj`` still exists (a job's callback may arrive
    after its dialog was closed and deleted: touching it then crashes)."""
    return bool(shiboken6.isValid(obj))


def refilter(proxy: QSortFilterProxyModel, change: Callable[[], None]) -> None:
    """Apply ``change`` (new filter settings) and re-filter ``proxy``'s rows.

    Qt 6.10 brought ``beginFilterChange``/``endFilterChange`` and deprecated
    ``invalidateFilter`` (a warning, which fails the tests); 6.8 and 6.9 have
    only the old call.
    """
    if hasattr(proxy, "endFilterChange"):
        proxy.beginFilterChange()
        change()
        proxy.endFilterChange(QSortFilterProxyModel.Direction.Rows)
    else:  # pragma: no cover - Qt 6.8/6.9
        change()
        proxy.invalidateFilter()


def system_color_scheme() -> str:
    """'dark' or 'light' as the desktop says; light when it says nothing."""
    scheme = QGuiApplication.styleHints().colorScheme()
    return "dark" if scheme == Qt.ColorScheme.Dark else "light"


def on_color_scheme_changed(slot: Callable[..., None]) -> None:
    """Call ``slot`` when the desktop switches between light and dark."""
    QGuiApplication.styleHints().colorSchemeChanged.connect(slot)
