"""The window on a team's PostgreSQL server (a real one: tests/helpers/postgres.py).

Settings → Session log… is driven as a user does: type the URL, Test connection
(a job; a wrong password and a server that is not there each one line, the
password never shown), OK. The window then lists, shows and records sessions on
the server; the settings file remembers the URL without its password, and the
next window opens the same log from it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from helpers.postgres import free_port
from helpers.recording import PKG, VIDEO, record
from helpers.window import click_session, open_sessions
from PySide6.QtCore import Qt

from console.core.paths import config_dir
from console.session.log_choice import PREF_KEY, window_log

pytestmark = pytest.mark.slow


def _dialog(qtbot: Any, w: Any) -> Any:
    from console.ui.window.log_settings import LogSettingsDialog

    act = w.findChild(type(w.commands.trust), "logSettingsAction")
    assert act is not None, "no Settings → Session log… entry"
    act.trigger()
    dlg = w.findChild(LogSettingsDialog)
    assert dlg is not None
    qtbot.waitUntil(dlg.isVisible, timeout=5_000)
    return dlg


def _test(qtbot: Any, dlg: Any, text: str) -> tuple[bool, str]:
    dlg.edit.clear()
    qtbot.keyClicks(dlg.edit, text)
    with qtbot.waitSignal(dlg.tested, timeout=30_000) as blocker:
        qtbot.mouseClick(dlg.test_button, Qt.MouseButton.LeftButton)
    ok, line = blocker.args
    assert line in dlg.result_label.toolTip()
    return bool(ok), str(line)


def test_settings_entry_switches_the_window_to_the_server(pg_db, make_window: Any, qtbot: Any,
                                                          tmp_path: Path) -> None:
    server = pg_db.server
    sid = record(pg_db.url, PKG, str(VIDEO), frames=80)  # a teammate's run, on the server
    w = make_window(db_path=tmp_path / "sessions.db")
    sv = open_sessions(qtbot, w)
    assert sv.visible_ids() == []  # the empty local file

    dlg = _dialog(qtbot, w)
    assert "pgpass" in dlg.findChild(type(dlg.result_label), "logHint").text()
    ok, line = _test(qtbot, dlg, server.url(pg_db.name, password="Wr0ng-pass"))
    assert not ok and "refused the login" in line and "Wr0ng-pass" not in line
    ok, line = _test(qtbot, dlg, f"postgresql://devicelab@127.0.0.1:{free_port()}/x")
    assert not ok and "does not answer" in line
    ok, line = _test(qtbot, dlg, "mysql://x@y/z")
    assert not ok and "unknown kind" in line
    secret = server.password
    ok, line = _test(qtbot, dlg, server.url(pg_db.name, password=secret))
    assert ok and line.endswith("works, 1 session") and secret not in line
    qtbot.mouseClick(dlg.buttons.button(dlg.buttons.StandardButton.Ok),
                     Qt.MouseButton.LeftButton)

    # the Sessions tab now reads the server
    qtbot.waitUntil(lambda: sv.visible_ids() == [sid], timeout=15_000)
    click_session(qtbot, sv, sid)
    assert sv.details.session["frames_received"] == 80
    assert secret not in w.log_pane.text.toPlainText()
    assert "never stored" in w.log_pane.text.toPlainText()

    # remembered without the password
    qtbot.waitUntil(lambda: not w.prefs.writing and not w.prefs.pending, timeout=10_000)
    settings = (config_dir() / "settings.json").read_text()
    assert secret not in settings
    assert json.loads(settings)["preferences"][PREF_KEY] == pg_db.url
    target = window_log(None, json.loads(settings)["preferences"][PREF_KEY])
    assert target.is_server and target.value == pg_db.url


def test_window_records_a_run_on_the_server(pg_db, make_window: Any, qtbot: Any) -> None:
    """A window started on the remembered URL (no password: PGPASSFILE) runs and lists."""
    w = make_window(db_path=window_log(None, pg_db.url))
    qtbot.waitUntil(lambda: not w.package.pending, timeout=30_000)
    qtbot.waitUntil(lambda: w.devices.current().state not in ("probing", "unknown"),
                    timeout=30_000)
    w.input.fps_spin.setValue(120.0)
    qtbot.mouseClick(w.run_panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not w.running, timeout=120_000)
    result = w.last_result
    assert result is not None and result.status == "completed", result
    with psycopg.connect(pg_db.admin_url) as c:
        (status, frames), = c.execute("SELECT status, frames_received FROM sessions "
                                      "WHERE id = %s", [result.session_id]).fetchall()
        n = c.execute("SELECT count(*) FROM frames").fetchone()[0]  # type: ignore[index]
    assert status == "completed" and frames == n == 360
    assert pg_db.url in w.summary.toPlainText()
    sv = open_sessions(qtbot, w)
    qtbot.waitUntil(lambda: sv.visible_ids() == [result.session_id], timeout=15_000)


def test_the_status_bar_says_when_the_server_log_is_away(make_window: Any, qtbot: Any,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    """A server of this test's own is stopped mid-run: the status bar says the log is
    offline, the run goes on, and when the server is back every frame reaches it."""
    from helpers.postgres import postgres_missing_reason, start_postgres, unavailable

    reason = postgres_missing_reason()
    if reason:
        unavailable("the window's outage test", reason)
    srv = start_postgres()
    try:
        monkeypatch.setenv("PGPASSFILE", str(srv.pgpass))
        url = srv.url("outage")
        w = make_window(db_path=window_log(url))
        qtbot.waitUntil(lambda: not w.package.pending, timeout=30_000)
        qtbot.waitUntil(lambda: w.devices.current().state not in ("probing", "unknown"),
                        timeout=30_000)
        w.input.fps_spin.setValue(40.0)
        w.input.loop_check.setChecked(True)  # runs until Stop
        qtbot.mouseClick(w.run_panel.start_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: w.frames_received >= 40, timeout=60_000)
        label = w.status.log_state
        assert not label.isVisible()
        srv.stop("fast")
        qtbot.waitUntil(label.isVisible, timeout=30_000)
        assert "offline" in label.text() and "spool" in label.toolTip()
        during = w.frames_received
        qtbot.waitUntil(lambda: w.frames_received >= during + 40, timeout=30_000)  # goes on
        srv.start()
        qtbot.waitUntil(lambda: not label.isVisible(), timeout=60_000)
        w.stop_run()
        qtbot.waitUntil(lambda: not w.running, timeout=60_000)
        result = w.last_result
        assert result is not None and result.status == "stopped", result
        with psycopg.connect(srv.admin_url("outage")) as c:
            (status, frames), = c.execute("SELECT status, frames_received FROM sessions"
                                          ).fetchall()
            idx = [i for (i,) in c.execute("SELECT i FROM frames ORDER BY i").fetchall()]
        assert status == "stopped" and idx == list(range(frames)) and frames >= during + 40
    finally:
        srv.destroy()
