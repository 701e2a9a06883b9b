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


def _user_dir(kind: str) -> Path:
    """``$DEVICELAB_HOME/<kind>``, else the platform's user folder of that kind
    (platformdirs, imported only then: a portable install never needs it)."""
    h = _home()
    if h:
        return h / kind
    import platformdirs

    where = {"config": platformdirs.user_config_dir, "data": platformdirs.user_data_dir,
             "cache": platformdirs.user_cache_dir}[kind]
    return Path(where(APP_NAME, appauthor=False))


def config_dir() -> Path:
    return _user_dir("config")


def data_dir() -> Path:
    return _user_dir("data")


def cache_dir() -> Path:
    return _user_dir("cache")


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
