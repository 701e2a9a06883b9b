"""A window run takes the settings a sweep saved for its device and package, as
``devicelab run`` does (issue 14: "used by run and plans unless overridden")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from console.core.store import SessionStore
from console.session import run_defaults


def test_window_run_uses_the_saved_defaults(make_window: Any, qtbot: Any,
                                            tmp_path: Path) -> None:
    run_defaults.save("local", "digits-cnn", {"threads": 1, "spin": "off", "provider": None},
                      {"sweep": "abcdef0123456789"})
    db = tmp_path / "sessions.db"
    w = make_window(db_path=db)
    qtbot.waitUntil(lambda: not w.package.pending, timeout=30_000)
    w.input.frames_spin.setValue(30)
    w.start_run()
    qtbot.waitUntil(lambda: not w.running, timeout=120_000)
    with SessionStore(db, readonly=True) as st:
        s = st.list_sessions()[0]
    assert s["status"] == "completed"
    assert s["settings"]["threads"] == 1 and s["settings"]["spin"] == "off"
    started = w.log_pane.text.toPlainText()
    assert "using the saved defaults for this device and package (sweep abcdef012345" in started
    assert "threads=1 spin=off" in started
