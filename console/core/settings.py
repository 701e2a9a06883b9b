"""User settings: saved devices, trusted package-signing keys, preferences.

One versioned JSON file, ``settings.json`` in the config folder (see
:mod:`console.core.paths`), written atomically (temp file + rename) so a
crash never leaves half a file. Secrets never go here: no passwords, no
private keys — a device entry may name a key *file*, never hold key bytes.
Window geometry is not kept here (the window uses QSettings for that).

Sections are plain dicts so each feature owns its keys:

``devices``       list of {name, address, python, workdir, notes, key_file}
``trusted_keys``  list of {name, public_key (base64 Ed25519), fingerprint, added}
``preferences``   {package_policy: "warn"|"refuse", recent_packages: [...], …}
``run_defaults``  {device: {package name: {threads, provider, graph_opt, spin, sweep, …}}}:
                  the winner of ``devicelab sweep --save``, what ``run`` and plans use
                  for that device and package unless told otherwise
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.core.errors import UserError

SETTINGS_VERSION = 1
_LOCK = threading.Lock()
_UPDATE_LOCK = threading.Lock()  # not re-entrant: a nested update would wait on itself


class SettingsError(UserError):
    pass


@dataclass
class Settings:
    devices: list[dict[str, Any]] = field(default_factory=list)
    trusted_keys: list[dict[str, Any]] = field(default_factory=list)
    preferences: dict[str, Any] = field(default_factory=dict)
    run_defaults: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    version: int = SETTINGS_VERSION

    def to_dict(self) -> dict[str, Any]:
        d = {"version": self.version, "devices": self.devices,
             "trusted_keys": self.trusted_keys, "preferences": self.preferences}
        if self.run_defaults:
            d["run_defaults"] = self.run_defaults
        return d

    def run_default(self, device: str, package: str) -> dict[str, Any] | None:
        """The saved run settings of ``package`` (its manifest name) on ``device``."""
        v = (self.run_defaults.get(device) or {}).get(package)
        return dict(v) if isinstance(v, dict) else None

    def device(self, name: str) -> dict[str, Any] | None:
        for d in self.devices:
            if d.get("name") == name:
                return d
        return None


def settings_path() -> Path:
    from console.core.paths import config_dir

    return config_dir() / "settings.json"


def load_settings(path: Path | None = None) -> Settings:
    p = path or settings_path()
    if not p.exists():
        return Settings()
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SettingsError(f"settings file {p} is unreadable ({exc}); fix or move it aside"
                            ) from None
    if not isinstance(data, dict):
        raise SettingsError(f"settings file {p} does not hold a JSON object")
    version = data.get("version", 1)
    if not isinstance(version, int) or version > SETTINGS_VERSION:
        raise SettingsError(f"settings file {p} is version {version}, newer than this "
                            f"console's {SETTINGS_VERSION}")
    return Settings(devices=list(data.get("devices") or []),
                    trusted_keys=list(data.get("trusted_keys") or []),
                    preferences=dict(data.get("preferences") or {}),
                    run_defaults={str(d): {str(p): dict(v) for p, v in per.items()
                                           if isinstance(v, dict)}
                                  for d, per in (data.get("run_defaults") or {}).items()
                                  if isinstance(per, dict)},
                    version=SETTINGS_VERSION)


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    p = path or settings_path()
    with _LOCK:
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".settings-", dir=p.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(settings.to_dict(), fh, indent=2, sort_keys=True)
                fh.write("\n")
            os.replace(tmp, p)
        except OSError as exc:
            raise SettingsError(f"cannot save settings to {p}: {exc.strerror}") from None
    return p


@contextmanager
def _exclusive(p: Path) -> Iterator[None]:
    """Hold the settings for a read-modify-write: a thread lock for this process and
    an advisory lock on ``<settings>.lock`` for others (the window and a CLI
    ``devices add`` at the same moment must not lose one update). POSIX only;
    elsewhere the thread lock alone."""
    with _UPDATE_LOCK:
        try:
            import fcntl
        except ImportError:  # Windows
            yield
            return
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            fh = open(p.with_name(p.name + ".lock"), "a+b")  # noqa: SIM115
        except OSError as exc:
            raise SettingsError(f"cannot lock settings {p}: {exc.strerror}") from None
        with fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def update_settings(fn: Any, path: Path | None = None) -> Settings:
    """Load, let ``fn(settings)`` change it, save — as one step against other
    threads and processes. Returns the saved settings."""
    p = path or settings_path()
    with _exclusive(p):
        s = load_settings(p)
        fn(s)
        save_settings(s, p)
    return s
