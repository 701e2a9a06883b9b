"""SSH devices in the window, against a real OpenSSH sshd on 127.0.0.1 (the "device").

An unknown host key must stop and ask: the dialog shows the SHA256
fingerprint (compared here with what ``ssh-keygen -l`` computes, not what
the console computes), "Refuse" leaves nothing trusted, "Trust" connects
with exactly that key and remembers it in the console's own known_hosts.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from console.core.store import SessionStore
from console.devices.hostkeys import console_known_hosts

pytestmark = pytest.mark.ssh


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from helpers.sshd import serve_for_tests

    yield from serve_for_tests(tmp_path_factory.mktemp("sshd-ui"), "the SSH window tests")


@pytest.fixture
def board(sshd: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A saved device 'board' = the sshd, with a private HOME (empty known_hosts)."""
    from console.devices.device_list import SavedDevice, add_device

    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    workdir = tmp_path / "device-cache"
    add_device(SavedDevice(name="board", address=sshd.url, python=sys.executable,
                           workdir=str(workdir), key_file=str(sshd.client_key)))
    yield "board"
    assert sshd.wait_no_connections(15.0), f"SSH connections left: {sshd.connection_pids()}"


def answer_host_key_dialog(trust: bool, seen: list[dict[str, str]]) -> Callable[[], None]:
    """Poll for the modal dialog (it runs its own loop) and press a button like a user."""
    from console.ui.devices.dialogs import HostKeyDialog

    timer = QTimer()
    timer.setInterval(50)

    def poll() -> None:
        dlg = QApplication.activeModalWidget()
        if isinstance(dlg, HostKeyDialog):
            from PySide6.QtWidgets import QLineEdit

            shown = dlg.findChild(QLineEdit, "fingerprint")
            seen.append({"fingerprint": shown.text() if shown else "",
                         "title": dlg.windowTitle()})
            (dlg.trust_button if trust else dlg.refuse_button).click()

    timer.timeout.connect(poll)
    timer.start()
    return timer.stop


def run_trusting_the_board(make_window: Any, qtbot: Any, db_path: Path, board: str,
                           frames: int) -> tuple[Any, list[dict[str, str]]]:
    """A window on ``board`` runs ``frames`` synthetic frames; its unknown host key is
    trusted in the dialog. Returns the window and what the dialog showed."""
    w = make_window(db_path=db_path, device=board, input="synthetic:64x64")
    qtbot.waitUntil(lambda: not w.package.pending, timeout=30_000)
    assert w.devices.current().name == board
    w.input.frames_spin.setValue(frames)
    seen: list[dict[str, str]] = []
    stop = answer_host_key_dialog(True, seen)
    try:
        w.start_run()
        qtbot.waitUntil(lambda: w.last_result is not None and not w.running, timeout=120_000)
    finally:
        stop()
    return w, seen


def test_probe_asks_about_the_unknown_host_key_and_trusts_only_after_yes(
        make_window: Any, qtbot: Any, sshd: Any, board: str) -> None:
    w = make_window()
    qtbot.waitUntil(lambda: w.devices.current().state == "ready", timeout=30_000)  # local
    assert w.devices.select(board)
    entry = w.devices.current()
    assert entry.kind == "ssh" and entry.state == "unknown"

    seen: list[dict[str, str]] = []
    stop = answer_host_key_dialog(False, seen)
    try:
        qtbot.mouseClick(w.devices.probe_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: entry.state == "error", timeout=30_000)
    finally:
        stop()
    assert len(seen) == 1
    assert seen[0]["fingerprint"] == sshd.fingerprint()  # ssh-keygen's, not ours
    assert "refused" in (entry.error or "")
    assert not console_known_hosts().exists() or \
        sshd.host_pub().split()[1] not in console_known_hosts().read_text()

    seen.clear()
    stop = answer_host_key_dialog(True, seen)
    try:
        qtbot.mouseClick(w.devices.probe_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: entry.state in ("ready", "problem") and entry.facts is not None,
                        timeout=60_000)
    finally:
        stop()
    assert [s["fingerprint"] for s in seen] == [sshd.fingerprint()]
    assert sshd.host_pub().split()[1] in console_known_hosts().read_text()
    card = w.devices.card.toPlainText()
    assert "Providers" in card and "CPUExecutionProvider" in card
    assert "CPUExecutionProvider" in [w.package.provider_combo.itemText(k)
                                      for k in range(w.package.provider_combo.count())]

    # known now: probing again asks nothing
    seen.clear()
    stop = answer_host_key_dialog(True, seen)
    try:
        w.devices.probe()
        qtbot.waitUntil(lambda: entry.state != "probing", timeout=60_000)
    finally:
        stop()
    assert seen == [] and entry.state in ("ready", "problem")


def test_start_on_an_unknown_host_asks_then_runs_and_records(
        make_window: Any, qtbot: Any, sshd: Any, board: str, db_path: Path) -> None:
    w, seen = run_trusting_the_board(make_window, qtbot, db_path, board, frames=50)
    assert [s["fingerprint"] for s in seen] == [sshd.fingerprint()]
    res = w.last_result
    assert res.status == "completed", res.error
    with SessionStore(db_path) as st:
        sessions = st.list_sessions()
        assert len(sessions) == 1  # the refused first attempt recorded nothing
        s = st.get_session(res.session_id)
        assert s["device_kind"] == "ssh" and s["device_name"] == board
        assert st.frame_count(s["id"]) == 50
        assert s["device_identity"]["host_key_sha256"] == sshd.fingerprint()
    assert w.frames_received == 50
    p = w.run_panel.last_progress  # the deploy to the board was shown in the Run dock
    assert p is not None and p.stage in ("agent", "package", "input") and p.done == p.total


def test_reproduce_on_a_host_no_longer_trusted_asks_then_stays_a_replay(
        make_window: Any, qtbot: Any, sshd: Any, board: str, db_path: Path) -> None:
    """Trusting the key mid-reproduce must start the same replay again, not a
    fresh run from whatever the Run dock holds."""
    from helpers.window import accept_reproduce, answer_next_dialog, click_session, open_sessions

    w, seen = run_trusting_the_board(make_window, qtbot, db_path, board, frames=40)
    original = w.last_result.session_id
    assert w.last_result.status == "completed" and original is not None
    w.close()
    console_known_hosts().unlink()  # the key is forgotten: the reproduce must ask again

    w2 = make_window(db_path=db_path)  # another input in its Run dock than the session's
    sv = open_sessions(qtbot, w2)
    click_session(qtbot, sv, original)
    seen.clear()
    stop = answer_host_key_dialog(True, seen)
    try:
        asked = answer_next_dialog(accept_reproduce(board))
        sv.reproduce_action.trigger()
        assert asked["dialog"] is not None
        qtbot.waitUntil(lambda: w2.last_result is not None and not w2.running
                        and w2.last_result.session_id not in (None, original),
                        timeout=120_000)
    finally:
        stop()
    assert [s["fingerprint"] for s in seen] == [sshd.fingerprint()]
    res = w2.last_result
    assert res.status == "completed", res.error
    with SessionStore(db_path) as st:
        a, b = st.get_session(original), st.get_session(res.session_id)
        assert b["replay_of"] == original
        assert b["input_desc"] == a["input_desc"] and b["device_name"] == board
        assert st.frame_count(res.session_id) == 40
        assert len(st.list_sessions()) == 2  # the refused attempt recorded nothing
