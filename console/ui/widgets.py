"""Builders for the widget set-up the window's panels and dialogs repeat.

A push button with its tooltip and slot, a line the user may need to copy (a
status, a refusal), a tab's outer layout, a dialog's OK/Cancel row, the file
dialog that picks one file or folder to open: each is
built here the one way the console builds it, so a panel reads as what it holds
and the set-up cannot drift between panels.

What must not live here: styling (``theme.py``), Qt version quirks (``qt.py``),
anything that knows what a panel is for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from console.ui.qt import (
    QBoxLayout,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QPushButton,
    Qt,
    QVBoxLayout,
    QWidget,
)


def button(text: str, clicked: Any = None, tip: str = "", name: str = "",
           into: QBoxLayout | None = None) -> QPushButton:
    """A push button: ``clicked`` (a slot or a signal to pass the click on) is connected,
    ``name`` (for tests and style sheets) and ``tip`` set when given, and it is added to
    ``into`` when given."""
    b = QPushButton(text)
    if name:
        b.setObjectName(name)
    if tip:
        b.setToolTip(tip)
    if clicked is not None:
        b.clicked.connect(clicked)
    if into is not None:
        into.addWidget(b)
    return b


def text_label(text: str = "", name: str = "", wrap: bool = True) -> QLabel:
    """A label for text the user may want to copy (a state, a refusal, a path): selectable
    with the mouse, word-wrapped unless ``wrap`` is False."""
    label = QLabel(text)
    if name:
        label.setObjectName(name)
    label.setWordWrap(wrap)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def tab_layout(tab: QWidget) -> QVBoxLayout:
    """The outer layout of a main-window tab (Sessions, Compare, Playback, Matrix, Plan):
    the same narrow margins everywhere, so switching tabs does not shift the content."""
    lay = QVBoxLayout(tab)
    lay.setContentsMargins(4, 4, 4, 2)
    lay.setSpacing(3)
    return lay


def ok_cancel(accept: Callable[[], Any], reject: Callable[[], Any],
              ok_text: str = "") -> QDialogButtonBox:
    """A dialog's OK/Cancel row; OK renamed to what it does ("Export", "Reproduce") when
    ``ok_text`` is given."""
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                               | QDialogButtonBox.StandardButton.Cancel)
    if ok_text:
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText(ok_text)
    buttons.accepted.connect(accept)
    buttons.rejected.connect(reject)
    return buttons


def open_file(parent: QWidget, title: str, folder: str, name: str, name_filter: str = "",
              directory: bool = False) -> str | None:
    """Ask for one existing file (or, ``directory``, folder) to open, starting in ``folder``;
    None when cancelled. A modal QFileDialog named ``name`` (tests answer it), deleted once
    answered: a kept file dialog goes on watching its folder."""
    dlg = QFileDialog(parent, title, folder)
    dlg.setObjectName(name)
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
        return str(dlg.selectedFiles()[0])
    finally:
        dlg.deleteLater()
