"""Regression guard: PySide6 6.12.0 on Python 3.11 drops a reference to None on every
void Qt call and aborts with ``none_dealloc`` after a few thousand calls. A live
console makes that many calls in seconds, so an upgrade that brings it back must
fail here (run in a subprocess: the bug crashes the interpreter)."""

from __future__ import annotations

import subprocess
import sys

CODE = r"""
import os, sys
os.environ.setdefault('QT_QPA_PLATFORM', 'offscreen')
from PySide6.QtCore import QCoreApplication, QObject, QTimer
app = QCoreApplication([])
timer = QTimer()
obj = QObject()
before = sys.getrefcount(None)
for i in range(20000):
    timer.setInterval(i % 100 + 1)   # void
    obj.setObjectName('o')           # void
    timer.stop()                     # void
after = sys.getrefcount(None)
print(before, after)
"""


def test_void_qt_calls_keep_none_refcount() -> None:
    res = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, (
        f"Qt calls crashed the interpreter (rc {res.returncode}) - the PySide6 none_dealloc bug? "
        f"{res.stderr[-500:]}")
    before, after = (int(x) for x in res.stdout.split())
    # 60 000 void calls: a leaking binding would lose ~60 000 references.
    assert after >= before - 1000, f"None refcount fell from {before} to {after}"
