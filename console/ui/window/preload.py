"""Imports the window needs later, done by a job once it is on screen.

The Sessions list's budget verdicts pull in scipy (~2 s of imports holding
the GIL). Imported lazily, that happened in a job in the middle of the first
run, and the graphs stalled; done right after the first show, it happens
while the window idles (or the first run cold-starts).
"""

from __future__ import annotations

import importlib
import logging

from console.ui.jobs import JobRunner

log = logging.getLogger("devicelab.ui")

PRELOAD = ("console.session.budgets", "console.session.finalize", "console.session.compare")


def preload_modules() -> int:
    for name in PRELOAD:
        importlib.import_module(name)
    return len(PRELOAD)


def preload(jobs: JobRunner) -> None:
    jobs.submit("preload", preload_modules, None,
                lambda exc: log.warning("preloading failed: %s", exc))
