"""Saved devices through the Devices dock: add, validate, edit, remove (settings file)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox

from console.core.settings import load_settings
from console.ui.devices.dialogs import DeviceDialog

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
    """Fill the device dialog and press Save; the file is written by a job, so wait for
    the dialog to close (saved) or to show the error (then Cancel)."""
    def act(dlg: Any) -> bool:
        if not isinstance(dlg, DeviceDialog):
            return False
        for name, value in fields.items():
            getattr(dlg, name).setText(value)
        dlg.save_button.click()

        def settle() -> None:
            if dlg.busy:
                QTimer.singleShot(20, settle)
                return
            if dlg.result() != QDialog.DialogCode.Accepted:
                fill_and_save.last_error = dlg.error.text()  # type: ignore[attr-defined]
                dlg.reject()

        settle()
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
    qtbot.waitUntil(lambda: "device pi4 removed" in w.log_pane.text.toPlainText(),
                    timeout=10_000)
    assert load_settings().devices == []
    assert [e.name for e in panel.entries] == ["This computer"]


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
    qtbot.waitUntil(lambda: (load_settings().preferences.get("recent_packages") or [""])[0]
                    == str(demo_package), timeout=10_000)


def test_settings_are_written_off_the_gui_thread_and_pending_ones_at_close(
        make_window: Any, qtbot: Any, monkeypatch: Any) -> None:
    """Preferences, added and removed devices reach the settings file, and never from
    the GUI thread (a slow or locked home folder must not freeze the window); what is
    still unwritten when the window closes is written then."""
    import threading

    from console.core import settings as settings_mod

    writers: list[str] = []
    real_save = settings_mod.save_settings

    def save(s: Any, path: Any = None) -> Any:  # a spy on the file write, calls the real one
        writers.append(threading.current_thread().name)
        return real_save(s, path)

    monkeypatch.setattr(settings_mod, "save_settings", save)
    w = make_window(input="synthetic")
    qtbot.waitUntil(lambda: not w.package.pending, timeout=30_000)
    w.set_theme_choice("dark")
    stop = on_modal(fill_and_save({"name": "pi", "address": "ssh://pi@10.0.0.7"}))
    w.devices.add_device()
    stop()
    assert w.devices.current().name == "pi"
    qtbot.waitUntil(lambda: load_settings().preferences.get("theme") == "dark",
                    timeout=10_000)
    assert [d["name"] for d in load_settings().devices] == ["pi"]
    assert writers and "MainThread" not in writers, writers

    # many changes in a row: written one at a time, the newest value wins
    for choice in ("light", "dark", "light"):
        w.set_theme_choice(choice)
    qtbot.waitUntil(lambda: not w.prefs.writing, timeout=10_000)
    assert load_settings().preferences["theme"] == "light"
    assert "MainThread" not in writers, writers

    # closing right after two changes: the first is being written by a job, the second
    # waits for it — closing waits for the job and writes the second itself
    w.set_theme_choice("dark")
    w.set_theme_choice("light")
    assert w.prefs.pending == {"theme": "light"}
    w.close()
    assert load_settings().preferences["theme"] == "light"


def test_a_probe_that_ends_after_the_run_started_leaves_the_device_running(
        make_window: Any, qtbot: Any) -> None:
    """The window probes This computer at start; a run started before that probe ends
    must stay "running" on the card (the probe's "ready" came last and said it was idle)."""
    w = make_window(input="synthetic")
    panel = w.devices
    qtbot.waitUntil(lambda: panel.current() is not None
                    and panel.current().state != "probing", timeout=60_000)
    e = panel.current()
    e.facts = None  # so that the end of this probe shows
    panel.probe(e)
    assert e.state == "probing"
    panel.set_state(e, "running")  # what the window does as a run starts
    qtbot.waitUntil(lambda: e.facts is not None, timeout=60_000)  # the probe ended
    assert e.state == "running"
    assert "running" in panel.card.toPlainText()
