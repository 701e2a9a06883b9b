"""The Package signing dialog against the real settings file, real keys and the real CLI.

Each test has its own DEVICELAB_HOME (tests/conftest.py): what the dialog saves
is what ``devicelab keys list`` (a real subprocess) and ``trust.package_policy()``
read, so the dialog and the CLI are checked to agree, not just the widgets.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import shiboken6
from helpers.window import click_button
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QFileDialog,
    QInputDialog,
    QLineEdit,
    QMessageBox,
    QWidget,
)
from trust.support import KeyPair, dl, make_key

from console.core.package import verify_package
from console.core.settings import load_settings
from console.session.trust import package_policy
from console.ui.jobs import JobRunner
from console.ui.packages.trust_dialog import TrustDialog

WAIT_MS = 15_000


@pytest.fixture
def dialog(qtbot: Any, tmp_path: Path) -> Iterator[tuple[TrustDialog, list[int]]]:
    """The dialog on a JobRunner like the window's, shown; counts ``changed``."""
    jobs = JobRunner()
    dlg = TrustDialog(jobs, folder=tmp_path)
    qtbot.addWidget(dlg)
    changes: list[int] = []
    dlg.changed.connect(lambda: changes.append(1))
    dlg.show()
    qtbot.waitExposed(dlg)
    qtbot.waitUntil(lambda: not dlg.pending and dlg.view is not None, timeout=WAIT_MS)
    yield dlg, changes
    jobs.wait_all()
    if shiboken6.isValid(dlg):
        dlg.close()


def cli_fingerprints() -> dict[str, str]:
    """name -> fingerprint as the real ``devicelab keys list`` prints them."""
    res = dl("keys", "list")
    assert res.returncode == 0, res.stderr
    rows = [ln.split() for ln in res.stdout.splitlines()[1:] if ln.strip()]
    return {r[0]: r[1] for r in rows if len(r) >= 2 and r[1].startswith("SHA256:")}


def answer_modal(kind: type[QWidget], respond: Callable[[Any], bool]) -> Callable[[], bool]:
    """Answer the next modal ``kind`` dialog from a timer (its exec() blocks the caller);
    ``respond`` returns False to be called again on the next tick (not ready yet).
    Returns ``stop``: stops the timer (a question that never came must not be answered in a
    later step or test) and says whether one was answered. A dialog still not answered
    after WAIT_MS is rejected, so a broken step fails the test instead of hanging it."""
    deadline = time.monotonic() + WAIT_MS / 1000
    timer = QTimer()
    timer.setInterval(20)
    answered: list[QWidget] = []

    def poll() -> None:
        w = QApplication.activeModalWidget()
        if isinstance(w, kind) and respond(w):
            timer.stop()
            answered.append(w)
        elif time.monotonic() > deadline:
            timer.stop()
            if isinstance(w, QDialog):
                w.reject()

    timer.timeout.connect(poll)
    timer.start()

    def stop() -> bool:
        timer.stop()
        return bool(answered)

    return stop


def choose_file(path: Path) -> Callable[[QFileDialog], bool]:
    """Pick ``path`` in a (Qt, non-native) file dialog as a user typing it in the file name
    field (``selectFile`` leaves that field alone once it has the focus)."""
    def respond(w: QFileDialog) -> bool:
        edit = w.findChild(QLineEdit, "fileNameEdit")
        assert edit is not None, "not Qt's own file dialog"
        edit.setText(str(path))
        if w.selectedFiles() != [str(path)]:
            return False
        w.accept()
        return True

    return respond


def click(button: str, seen: list[str]) -> Callable[[QMessageBox], bool]:
    def respond(w: QMessageBox) -> bool:
        seen.append(w.text())
        click_button(button)(w)
        return True

    return respond


def add_through_dialog(qtbot: Any, dlg: TrustDialog, path: Path, name: str | None = None
                       ) -> dict[str, Any]:
    """Add… as a user: choose ``path`` in the file dialog, then confirm (or rename) in the
    fingerprint question if one comes. Returns what the name question showed."""
    shown: dict[str, Any] = {}

    def confirm(w: QInputDialog) -> bool:
        shown["label"] = w.labelText()
        shown["default"] = w.textValue()
        if name is not None:
            w.setTextValue(name)
        w.accept()
        return True

    picked = answer_modal(QFileDialog, choose_file(path))
    asked = answer_modal(QInputDialog, confirm)
    try:
        dlg.add_button.click()  # the file dialog's exec() returns once answered
        assert picked(), "Add… opened no file dialog"
        qtbot.waitUntil(lambda: not dlg.pending, timeout=WAIT_MS)
    finally:
        shown["asked"] = asked()
    return shown


def test_add_list_policy_remove_agree_with_the_cli(qtbot: Any, dialog: Any, tmp_path: Path,
                                                   demo_package: Path) -> None:
    dlg, changes = dialog
    assert dlg.keys() == []
    assert "always refused" in dlg.findChild(QWidget, "alwaysRefused").text()
    assert dlg.policy_buttons["warn"].isChecked()  # the default, as `keys list` says
    kp: KeyPair = make_key(tmp_path / "keys", "lab-release")

    shown = add_through_dialog(qtbot, dlg, kp.public)
    # the fingerprint was shown before anything was trusted, with the key's own name
    assert shown["asked"] and kp.key.fingerprint in shown["label"]
    assert shown["default"] == "lab-release"
    assert dlg.keys() == [("lab-release", kp.key.fingerprint)]
    assert cli_fingerprints() == {"lab-release": kp.key.fingerprint}
    assert not dlg.error_label.isVisible()
    assert len(changes) == 1

    # unsigned packages: warn runs them, refuse (chosen in the dialog) refuses them
    assert package_policy()(verify_package(demo_package)) is None
    dlg.policy_buttons["refuse"].click()
    qtbot.waitUntil(lambda: not dlg.pending, timeout=WAIT_MS)
    assert len(changes) == 2
    assert load_settings().preferences["package_policy"] == "refuse"
    line = package_policy()(verify_package(demo_package))
    assert line is not None and "unsigned" in line and "\n" not in line
    assert dl("keys", "policy").stdout.strip() == "refuse"

    # remove, after saying no once (nothing changes), then yes
    assert dlg.select(kp.key.fingerprint)
    asked: list[str] = []
    stop = answer_modal(QMessageBox, click("No", asked))
    dlg.remove_button.click()
    assert stop()
    assert len(asked) == 1 and "lab-release" in asked[0] and kp.key.fingerprint in asked[0]
    assert cli_fingerprints() == {"lab-release": kp.key.fingerprint}
    assert len(changes) == 2
    stop = answer_modal(QMessageBox, click("Yes", asked))
    dlg.remove_button.click()
    assert stop()
    assert len(asked) == 2
    qtbot.waitUntil(lambda: not dlg.pending, timeout=WAIT_MS)
    assert dlg.keys() == []
    assert load_settings().trusted_keys == []
    assert cli_fingerprints() == {}
    assert "no trusted keys" in dl("keys", "list").stdout
    assert len(changes) == 3


def test_a_private_key_is_refused_with_one_line_and_nothing_added(
        qtbot: Any, dialog: Any, tmp_path: Path) -> None:
    dlg, changes = dialog
    kp = make_key(tmp_path / "keys", "lab-release")

    shown = add_through_dialog(qtbot, dlg, kp.private)
    assert not shown["asked"], "a private key got as far as the trust question"
    err = dlg.error_line
    assert dlg.error_label.isVisible() and "holds a PRIVATE key" in err
    assert "\n" not in err and "Traceback" not in err
    assert dlg.keys() == [] and load_settings().trusted_keys == [] and changes == []
    assert cli_fingerprints() == {}

    # a file that is no key at all: its one line, nothing added
    junk = tmp_path / "keys" / "notes.pub"
    junk.write_text("hello\n")
    add_through_dialog(qtbot, dlg, junk)
    assert "not an OpenSSH public key line" in dlg.error_line
    assert dlg.keys() == [] and load_settings().trusted_keys == [] and changes == []

    # the public half still goes in afterwards, and the error line goes away
    add_through_dialog(qtbot, dlg, kp.public)
    assert dlg.keys() == [("lab-release", kp.key.fingerprint)]
    assert not dlg.error_label.isVisible() and changes == [1]


def test_a_name_already_taken_is_refused_in_window_words(qtbot: Any, dialog: Any,
                                                         tmp_path: Path) -> None:
    dlg, changes = dialog
    first = make_key(tmp_path / "a", "release")
    second = make_key(tmp_path / "b", "release")  # another publisher, the same name
    add_through_dialog(qtbot, dlg, first.public)
    add_through_dialog(qtbot, dlg, second.public)
    err = dlg.error_line
    assert "already trusted as 'release'" in err and "--name" not in err
    assert dlg.keys() == [("release", first.key.fingerprint)] and changes == [1]
    add_through_dialog(qtbot, dlg, second.public, name="release-b")
    assert dlg.keys() == [("release", first.key.fingerprint),
                          ("release-b", second.key.fingerprint)]
    assert cli_fingerprints() == {"release": first.key.fingerprint,
                                  "release-b": second.key.fingerprint}


def test_an_unusable_stored_policy_is_shown_and_fixed_here(qtbot: Any, tmp_path: Path,
                                                           demo_package: Path) -> None:
    from console.core.settings import update_settings

    update_settings(lambda s: s.preferences.update(package_policy="maybe"))
    dlg = TrustDialog()  # its own JobRunner, waited for when it closes
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitUntil(lambda: dlg.view is not None, timeout=WAIT_MS)
    assert "package_policy is 'maybe'" in dlg.error_line
    assert not any(b.isChecked() for b in dlg.policy_buttons.values())
    assert package_policy()(verify_package(demo_package)) is not None  # fails closed
    dlg.policy_buttons["warn"].click()
    qtbot.waitUntil(lambda: not dlg.pending, timeout=WAIT_MS)
    assert load_settings().preferences["package_policy"] == "warn"
    assert not dlg.error_label.isVisible()
    assert package_policy()(verify_package(demo_package)) is None
    dlg.close()  # waits for its own jobs


def test_window_menu_opens_it_and_the_package_is_checked_again(make_window: Any, qtbot: Any,
                                                                tmp_path: Path) -> None:
    """Settings → Package signing (Ctrl+Shift+K) in the real window: switching to
    "refuse" re-verifies the preselected unsigned demo package, and Start is refused."""
    from helpers.recording import PKG
    from helpers.window import activate

    w = make_window(db_path=tmp_path / "s.db", package=str(PKG), input="synthetic:32x32")
    qtbot.waitUntil(lambda: not w.package.pending, timeout=WAIT_MS)
    assert w.package.verification is not None and w.package.verification.ok

    step = {"clicked": False}

    def refuse_then_close(dlg: TrustDialog) -> bool:
        if dlg.pending or dlg.view is None:
            return False  # still reading the settings
        if not step["clicked"]:
            dlg.policy_buttons["refuse"].click()
            step["clicked"] = True
            return False
        if dlg.pending:
            return False  # the policy is being saved
        dlg.accept()
        return True

    stop = answer_modal(TrustDialog, refuse_then_close)
    activate(qtbot, w)
    try:
        qtbot.keyClick(w, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier
                       | Qt.KeyboardModifier.ShiftModifier)
    finally:
        assert stop(), "the Package signing dialog did not open from Ctrl+Shift+K"
    assert dl("keys", "policy").stdout.strip().endswith("refuse")
    qtbot.waitUntil(lambda: not w.package.pending and w.package.verification is not None
                    and "unsigned" in w.package.status.text(), timeout=WAIT_MS)
    # the way back is named as the window's own place, not a CLI command
    assert "Settings → Package signing (warn)" in w.package.status.text()
    assert "devicelab keys" not in w.package.status.text()
    w.start_run()
    assert not w.running
    assert "unsigned" in w.run_panel.state_label.text()
    assert "Settings → Package signing (warn)" in w.run_panel.state_label.text()


def test_closing_while_the_policy_is_saved_still_rechecks_the_package(
        make_window: Any, qtbot: Any, tmp_path: Path) -> None:
    """Close pressed right after a change, while its save is still a running job: the
    dialog closes when the save has answered, so the window still hears of it."""
    from helpers.recording import PKG

    w = make_window(db_path=tmp_path / "s.db", package=str(PKG), input="synthetic:32x32")
    qtbot.waitUntil(lambda: not w.package.pending, timeout=WAIT_MS)
    assert w.package.verification is not None and w.package.verification.ok

    def refuse_and_close_at_once(dlg: TrustDialog) -> bool:
        if dlg.pending or dlg.view is None:
            return False
        dlg.policy_buttons["refuse"].click()
        assert dlg.pending  # the save is a job on the window's runner
        dlg.accept()  # before it answered
        return True

    stop = answer_modal(TrustDialog, refuse_and_close_at_once)
    try:
        w.commands.trust.trigger()
    finally:
        assert stop()
    qtbot.waitUntil(lambda: not w.package.pending and w.package.verification is not None
                    and not w.package.verification.ok, timeout=WAIT_MS)
    assert "unsigned" in w.package.status.text()
