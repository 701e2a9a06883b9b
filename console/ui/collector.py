"""Python's cyclic garbage collector runs in the GUI thread only, while the window exists.

CPython collects in whichever thread allocates when a generation's threshold is
crossed. When that is a job or a run worker and the garbage holds a widget (a
window or dialog caught in a reference cycle), Qt destroys the widget off the
GUI thread: its animations leave the wrong thread's animation timer, and the GUI
thread later crashes in ``QUnifiedTimer`` (a CI segfault during a replay,
reproduced with gdb). pyqtgraph's ``GarbageCollector`` is the known practice:
automatic collection off, the GUI thread collects on a timer with the same
generational thresholds. Objects without cycles are still freed at once by
reference counting, in any thread; only cycles wait for the next tick.
"""

from __future__ import annotations

import gc

from console.ui.qt import QCoreApplication, QObject, QTimer

#: How often the GUI thread looks at the collector's counts. A tick that finds
#: nothing over the thresholds costs one ``gc.get_count()``.
INTERVAL_MS = 500


class GuiThreadCollector(QObject):
    """Owned by the application: one per process, made by :func:`install`."""

    def __init__(self, app: QCoreApplication, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(app)
        self.setObjectName("guiThreadCollector")
        self.thresholds = gc.get_threshold()
        self.frozen = False
        gc.disable()
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.collect)
        self.timer.start()
        app.aboutToQuit.connect(self.collect)

    def collect(self) -> int:
        """What CPython's automatic collection would have done by now, in this thread."""
        counts = gc.get_count()
        if counts[0] <= self.thresholds[0]:
            return 0
        generation = 0
        if counts[1] > self.thresholds[1]:
            generation = 2 if counts[2] > self.thresholds[2] else 1
        return gc.collect(generation)

    def freeze(self) -> None:
        """While a run goes, every object that existed when it started is out of the
        collector's sight (``gc.freeze``, O(1)).

        A full collection walks every tracked object: ~130 000 after start-up
        (Qt wrappers, pyqtgraph, numpy, scipy), 100-300 ms measured here, and it
        ran in the GUI thread in the middle of a run (the longest stall of a
        flat-out run). Frozen, a full collection during the run sees only what
        the run made (< 1 ms measured). :meth:`thaw` gives them back when the run
        ends, so nothing that became garbage meanwhile is kept for good.
        """
        if not self.frozen:
            self.frozen = True
            gc.freeze()

    def thaw(self) -> None:
        """The run ended: the frozen objects are collected as usual again."""
        if self.frozen:
            self.frozen = False
            gc.unfreeze()


def install(app: QCoreApplication | None = None) -> GuiThreadCollector:
    """The process's collector (made on first call, from the GUI thread)."""
    app = app or QCoreApplication.instance()
    if app is None:
        raise RuntimeError("the GUI-thread collector needs a QApplication")
    found = app.findChild(GuiThreadCollector, "guiThreadCollector")
    if isinstance(found, GuiThreadCollector):
        return found
    return GuiThreadCollector(app)
