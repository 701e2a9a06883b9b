"""The console's log file: where tracebacks and debug details go, never the user's screen.

One set-up for the CLI and the window (both call :func:`setup_logging` once at
start): the file lives in the user data folder (``DEVICELAB_HOME`` moves it),
paramiko's chatter is kept at warnings. A folder that cannot be written leaves
logging off rather than failing the command.
"""

from __future__ import annotations

import logging
from pathlib import Path

from console.core.paths import log_dir


def log_file() -> Path:
    d = log_dir()
    d.mkdir(parents=True, exist_ok=True)
    return d / "devicelab.log"


def setup_logging() -> Path | None:
    """Attach the file handler to the root logger (once); its path, or None if unwritable."""
    try:
        path = log_file()
        handler: logging.Handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    if not any(isinstance(h, logging.FileHandler) for h in root.handlers):
        root.addHandler(handler)
    else:
        handler.close()
    root.setLevel(logging.INFO)
    logging.getLogger("paramiko").setLevel(logging.WARNING)
    return path
