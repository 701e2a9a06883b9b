"""Cyclic garbage holding a widget is freed in the GUI thread, never in a job thread.

Without the window's collector, CPython collects in whichever thread crosses
the allocation threshold: a job thread would destroy the widget, its Qt
animations would leave the wrong thread's animation timer and the GUI thread
would crash later (a CI segfault, reproduced under gdb). Here the job is a
plain thread that allocates a lot while the GUI thread waits for it.
"""

from __future__ import annotations

import gc
import threading
import weakref
from typing import Any

from PySide6.QtWidgets import QWidget

from console.ui.collector import install


def churn_in_a_thread(before: threading.Event) -> threading.Thread:
    """A worker that makes far more cyclic garbage than the youngest generation holds."""
    def work() -> None:
        before.wait()
        for _ in range(50_000):
            x: list[Any] = []
            x.append(x)

    t = threading.Thread(target=work, name="churn")
    t.start()
    return t


def test_a_widget_in_a_cycle_is_freed_by_the_gui_thread(make_window: Any, qtbot: Any) -> None:
    make_window()
    assert not gc.isenabled()  # the window's collector took over
    gui = threading.get_ident()
    freed_in: list[int] = []
    dialog = QWidget()  # Python-owned, as a closed dialog or an old window is
    dialog.me = dialog  # type: ignore[attr-defined]  # the cycle only the collector frees
    weakref.finalize(dialog, lambda: freed_in.append(threading.get_ident()))
    go = threading.Event()
    worker = churn_in_a_thread(go)
    del dialog
    go.set()
    worker.join()
    assert freed_in == [], "the widget was freed in the worker thread"
    qtbot.waitUntil(lambda: bool(freed_in), timeout=5_000)  # the collector's next tick
    assert freed_in == [gui]
    assert install() is install()  # one per process, however many windows
