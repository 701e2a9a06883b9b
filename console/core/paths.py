"""Where the console keeps its files: settings, the session log, caches.

``DEVICELAB_HOME`` puts all of them under one folder (tests and portable
installs use it); otherwise the platform's user folders (platformdirs).
``DEVICELAB_DB`` names the session database directly.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "devicelab"


def _home() -> Path | None:
    h = os.environ.get("DEVICELAB_HOME")
    return Path(h).expanduser() if h else None


def config_dir() -> Path:
    h = _home()
    if h:
        return h / "config"
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    h = _home()
    if h:
        return h / "data"
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    h = _home()
    if h:
        return h / "cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def log_dir() -> Path:
    return data_dir() / "logs"


def default_db_path() -> Path:
    env = os.environ.get("DEVICELAB_DB")
    if env:
        return Path(env).expanduser()
    return data_dir() / "sessions.db"


def resources_dir() -> Path:
    """The bundled demo package, recordings and icons.

    In a source checkout they sit at the repository's top level; in a wheel
    they are installed as the ``console/resources`` data folder; a frozen
    app sets ``DEVICELAB_RESOURCES``.
    """
    env = os.environ.get("DEVICELAB_RESOURCES")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent.parent  # console/
    for cand in (here / "resources", here.parent / "resources"):
        if cand.is_dir():
            return cand
    return here.parent / "resources"
