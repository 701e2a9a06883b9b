"""Driving the main window like a user: answering modal dialogs, opening the
Sessions tab, clicking rows. Shared by the window tests (they were copied)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QWidget


def answer_next_dialog(respond: Callable[[QWidget], None], timeout_s: float = 15.0,
                       kind: type[QWidget] | None = None) -> dict[str, Any]:
    """Answer the next modal dialog from a timer (its exec() blocks the caller).

    ``kind``: wait for a dialog of that class (a file dialog opened from another
    dialog: the outer one is modal first)."""
    state: dict[str, Any] = {"dialog": None, "label": None}
    deadline = time.monotonic() + timeout_s

    def poll() -> None:
        w = QApplication.activeModalWidget()
        if w is None or (kind is not None and not isinstance(w, kind)):
            if time.monotonic() < deadline:
                QTimer.singleShot(20, poll)
            return
        state["dialog"] = w
        respond(w)

    QTimer.singleShot(0, poll)
    return state


def click_button(text: str) -> Callable[[QWidget], None]:
    def respond(w: QWidget) -> None:
        assert isinstance(w, QMessageBox), w
        for b in w.buttons():
            if b.text().replace("&", "") == text:
                b.click()
                return
        raise AssertionError(f"no button {text!r} in {[b.text() for b in w.buttons()]}")

    return respond


def choose_in_file_dialog(path: str | Path) -> Callable[[QWidget], None]:
    """Answer a (Qt, non-native) file dialog by choosing ``path``, as a user typing it."""
    def respond(w: QWidget) -> None:
        assert isinstance(w, QFileDialog), w
        w.selectFile(str(path))
        w.accept()

    return respond


def accept_reproduce(device: str | None = None, package_folder: str | Path | None = None,
                     recording: str | Path | None = None) -> Callable[[QWidget], None]:
    """Answer the Reproduce dialog, choosing ``device`` (None: the recorded one) and,
    with ``package_folder`` / ``recording``, copies through the dialog's Folder… and
    Choose… buttons (real file dialogs)."""
    def respond(w: QWidget) -> None:
        from console.ui.sessions.dialogs import ReproduceDialog

        assert isinstance(w, ReproduceDialog), w
        assert w.choose(device)
        if package_folder is not None:
            picked = answer_next_dialog(choose_in_file_dialog(package_folder),
                                        kind=QFileDialog)
            w.package_folder_button.click()  # the file dialog's exec() returns when answered
            assert picked["dialog"] is not None, "no file dialog opened"
            assert w.package_edit.text() == str(package_folder)
        if recording is not None:
            picked = answer_next_dialog(choose_in_file_dialog(recording), kind=QFileDialog)
            w.input_button.click()
            assert picked["dialog"] is not None, "no file dialog opened"
            assert w.input_edit.text() == str(recording)
        w.accept()

    return respond


def activate(qtbot: Any, w: Any) -> None:
    """Shortcuts go to the active window."""
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=5_000)


def open_sessions(qtbot: Any, w: Any) -> Any:
    activate(qtbot, w)
    qtbot.keyClick(w, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)  # the Sessions tab
    sv = w.sessions_view
    assert w.tabs.currentWidget() is sv
    qtbot.waitUntil(lambda: sv.loaded, timeout=10_000)
    return sv


def click_session(qtbot: Any, sv: Any, sid: int, ctrl: bool = False) -> None:
    ids = sv.visible_ids()
    assert sid in ids, (sid, ids)
    idx = sv.proxy.index(ids.index(sid), 2)
    sv.table.scrollTo(idx)
    mod = Qt.KeyboardModifier.ControlModifier if ctrl else Qt.KeyboardModifier.NoModifier
    qtbot.mouseClick(sv.table.viewport(), Qt.MouseButton.LeftButton, mod,
                     sv.table.visualRect(idx).center())
    if not ctrl:
        qtbot.waitUntil(lambda: sv.details is not None and sv.details.session["id"] == sid,
                        timeout=10_000)
