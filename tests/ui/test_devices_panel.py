"""Saved devices through the Devices dock: add, validate, edit, remove (settings file)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox

from console.core.settings import load_settings
from console.ui.devices_panel import DeviceDialog

ROOT = Path(__file__).resolve().parents[2]


def on_modal(action: Callable[[Any], bool]) -> Callable[[], None]:
    """Act on the next modal dialog like a user (dialogs run their own loop)."""
    timer = QTimer()
    timer.setInterval(30)

    def poll() -> None:
        dlg = QApplication.activeModalWidget()
        if dlg is not None and action(dlg):
            timer.stop()

    timer.timeout.connect(poll)
    timer.start()
    return timer.stop


def fill_and_save(fields: dict[str, str]) -> Callable[[Any], bool]:
    def act(dlg: Any) -> bool:
        if not isinstance(dlg, DeviceDialog):
            return False
        for name, value in fields.items():
            getattr(dlg, name).setText(value)
        dlg._save()
        if dlg.result() != QDialog.DialogCode.Accepted:
            fill_and_save.last_error = dlg.error.text()  # type: ignore[attr-defined]
            dlg.reject()
        return True
    return act


def test_add_validate_edit_remove(make_window: Any, qtbot: Any) -> None:
    w = make_window()
    panel = w.devices
    assert [e.name for e in panel.entries] == ["This computer"]
    assert not panel.edit_button.isEnabled() and not panel.remove_button.isEnabled()

    # a password in the address is refused, with the reason, and nothing is saved
    stop = on_modal(fill_and_save({"name": "pi", "address": "ssh://pi:secret@10.0.0.7"}))
    panel.add_device()
    stop()
    assert "password" in fill_and_save.last_error.lower()  # type: ignore[attr-defined]
    assert load_settings().devices == []

    stop = on_modal(fill_and_save({"name": "pi", "address": "ssh://pi@10.0.0.7:2222",
                                   "python": "/opt/venv/bin/python"}))
    panel.add_device()
    stop()
    saved = load_settings().devices
    assert [(d["name"], d["address"], d["python"]) for d in saved] == [
        ("pi", "ssh://pi@10.0.0.7:2222", "/opt/venv/bin/python")]
    assert panel.current().name == "pi" and panel.current().state == "unknown"
    assert "10.0.0.7" in panel.list.currentItem().text()
    assert panel.edit_button.isEnabled()

    stop = on_modal(fill_and_save({"name": "pi4"}))
    panel.edit_device()
    stop()
    assert [d["name"] for d in load_settings().devices] == ["pi4"]
    assert panel.current().name == "pi4"

    def yes(dlg: Any) -> bool:
        if isinstance(dlg, QMessageBox):
            dlg.button(QMessageBox.StandardButton.Yes).click()
            return True
        return False

    stop = on_modal(yes)
    panel.remove_device()
    stop()
    assert load_settings().devices == []
    assert [e.name for e in panel.entries] == ["This computer"]
    assert "device pi4 removed" in w.log_pane.text.toPlainText()


def test_dropping_a_package_folder_on_the_window_opens_it(make_window: Any, qtbot: Any,
                                                          demo_package: Path) -> None:
    w = make_window(input="synthetic")
    qtbot.waitUntil(lambda: not w.package.pending, timeout=30_000)
    w.package.set_path("")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(demo_package / "manifest.json"))])
    event = QDropEvent(QPointF(QPoint(400, 300)), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    w.dropEvent(event)
    assert w.package.path_edit.text() == str(demo_package)
    qtbot.waitUntil(lambda: not w.package.pending, timeout=30_000)
    assert w.package.verification.ok
    assert w.package.recent()[0] == str(demo_package)
    assert load_settings().preferences["recent_packages"][0] == str(demo_package)
