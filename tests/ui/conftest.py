"""Fixtures for the window tests (pytest-qt, offscreen; see tests/conftest.py).

- ``make_window`` builds the real main window on a session log in ``tmp_path``
  and, at teardown, stops any run, waits for every job and closes it.
- An autouse check fails a test that leaves a QThread running (napari's
  ``_dangling_qthreads``): the root conftest only sees Python threads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import shiboken6
from PySide6.QtCore import QThread


@pytest.fixture(autouse=True)
def _no_running_qthreads(monkeypatch: pytest.MonkeyPatch, qtbot: Any) -> Iterator[None]:
    started: list[QThread] = []
    original = QThread.start

    def start(self: QThread, *args: Any, **kwargs: Any) -> None:
        started.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(QThread, "start", start)
    yield

    def running() -> list[str]:
        return [t.objectName() or repr(t) for t in started
                if shiboken6.isValid(t) and t.isRunning()]

    try:
        qtbot.waitUntil(lambda: not running(), timeout=10_000)
    except Exception:
        pytest.fail(f"QThreads still running after the test: {running()}")


@pytest.fixture
def make_window(qtbot: Any, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    from console.ui.main_window import MainWindow, StartupChoices

    windows: list[MainWindow] = []

    def make(**choices: Any) -> MainWindow:
        choices.setdefault("db_path", tmp_path / "sessions.db")
        w = MainWindow(StartupChoices(**choices))
        qtbot.addWidget(w)
        w.show()
        qtbot.waitExposed(w)
        windows.append(w)
        return w

    yield make
    for w in windows:
        if shiboken6.isValid(w) and w.running:
            w.stop_run()
            qtbot.waitUntil(lambda w=w: not w.running, timeout=30_000)
        if shiboken6.isValid(w):
            w.jobs.wait_all()
