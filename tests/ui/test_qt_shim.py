"""The Qt shim: its quirk helpers behave the same on every supported PySide6."""

from __future__ import annotations

import warnings
from typing import Any

import shiboken6
from PySide6.QtCore import QStringListModel

from console.ui.qt import (
    QSortFilterProxyModel,
    QWidget,
    is_alive,
    refilter,
    system_color_scheme,
)


class _Prefix(QSortFilterProxyModel):
    prefix = ""

    def filterAcceptsRow(self, row: int, parent: Any) -> bool:
        model = self.sourceModel()
        return str(model.data(model.index(row, 0))).startswith(self.prefix)


def test_refilter_applies_the_change_and_filters_again(qtbot: Any) -> None:
    proxy = _Prefix()
    model = QStringListModel(["alpha", "beta", "alpine"])
    proxy.setSourceModel(model)
    assert proxy.rowCount() == 3
    with warnings.catch_warnings():  # Qt 6.10+ deprecates the old invalidateFilter
        warnings.simplefilter("error", DeprecationWarning)
        refilter(proxy, lambda: setattr(proxy, "prefix", "al"))
    assert proxy.rowCount() == 2
    refilter(proxy, lambda: setattr(proxy, "prefix", ""))
    assert proxy.rowCount() == 3


def test_is_alive_is_false_once_the_widget_is_deleted(qtbot: Any) -> None:
    w = QWidget()
    assert is_alive(w)
    shiboken6.delete(w)
    assert not is_alive(w)


def test_system_color_scheme_is_light_or_dark(qtbot: Any) -> None:
    assert system_color_scheme() in ("light", "dark")
