"""The user's saved devices: name, address, remote Python, work dir, notes, key file.

Kept in the ``devices`` section of the console's settings file
(:mod:`console.core.settings`), never in the session log. A saved device
holds no secret: no password, no key material (``key_file`` is a *path* to a
private key on this computer), and an address with a password in it
(``ssh://user:pw@host``) is refused.

``python`` matters on real boards: onnxruntime often lives in a venv, and a
login shell's rc files can put another ``python3`` first on PATH, so the
agent is started with exactly this interpreter (default ``python3``).
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import asdict, dataclass
from typing import Any

from console.core.settings import SettingsError, load_settings, update_settings
from console.devices.base import DeviceError

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
RESERVED_NAMES = ("local", "localhost-agent", "this-computer")
DEFAULT_PYTHON = "python3"
#: default cap of the agent/package/recording cache on a device
DEFAULT_CACHE_CAP_MB = 2048


@dataclass(frozen=True)
class SavedDevice:
    name: str
    address: str
    python: str = DEFAULT_PYTHON
    workdir: str = ""
    notes: str = ""
    key_file: str = ""
    cache_cap_mb: int = DEFAULT_CACHE_CAP_MB

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SavedDevice:
        def s(key: str, default: str = "") -> str:
            v = d.get(key)
            return str(v) if isinstance(v, (str, int, float)) and str(v) else default

        cap = d.get("cache_cap_mb")
        return cls(name=s("name"), address=s("address"), python=s("python", DEFAULT_PYTHON),
                   workdir=s("workdir"), notes=s("notes"), key_file=s("key_file"),
                   cache_cap_mb=int(cap) if isinstance(cap, int) and cap > 0
                   else DEFAULT_CACHE_CAP_MB)


def validate(dev: SavedDevice) -> None:
    """Raise DeviceError (one line: which field, what to do) for an unusable entry."""
    if not _NAME_RE.match(dev.name):
        raise DeviceError(f"device name {dev.name!r} is not usable: letters, digits, '.', '_' "
                          "and '-', at most 64, starting with a letter or digit")
    if dev.name in RESERVED_NAMES:
        raise DeviceError(f"device name {dev.name!r} is reserved for this computer; pick "
                          "another name")
    addr = dev.address.strip()
    if not addr or any(c.isspace() for c in addr):
        raise DeviceError(f"device address {dev.address!r} is not usable: give "
                          "ssh://user@host[:port] or a ~/.ssh/config alias")
    if addr.startswith("ssh://"):
        parse_ssh_url(addr)  # raises with the reason (including a password in it)
    elif "://" in addr:
        raise DeviceError(f"device address {addr!r}: only ssh:// addresses are supported")
    if not dev.python.strip() or "\n" in dev.python:
        raise DeviceError("the device's python must be an interpreter name or path, e.g. "
                          "python3 or /opt/venv/bin/python")
    if dev.cache_cap_mb <= 0:
        raise DeviceError("--cache-cap-mb must be positive")


def list_devices() -> list[SavedDevice]:
    try:
        s = load_settings()
    except SettingsError as exc:
        raise DeviceError(str(exc)) from None
    return [SavedDevice.from_dict(d) for d in s.devices if isinstance(d, dict) and d.get("name")]


def get_device(name: str) -> SavedDevice | None:
    for d in list_devices():
        if d.name == name:
            return d
    return None


def add_device(dev: SavedDevice, replace: bool = False) -> SavedDevice:
    validate(dev)

    def change(s: Any) -> None:
        existing = [d for d in s.devices if isinstance(d, dict) and d.get("name") == dev.name]
        if existing and not replace:
            raise DeviceError(f"a device named {dev.name!r} already exists; use --replace to "
                              "change it or remove it first")
        s.devices = [d for d in s.devices
                     if not (isinstance(d, dict) and d.get("name") == dev.name)]
        s.devices.append(dev.to_dict())
        s.devices.sort(key=lambda d: str(d.get("name", "")))

    try:
        update_settings(change)
    except SettingsError as exc:
        raise DeviceError(str(exc)) from None
    return dev


def remove_device(name: str) -> bool:
    """Remove the saved device; False if there was none by that name."""
    found = {"n": 0}

    def change(s: Any) -> None:
        before = len(s.devices)
        s.devices = [d for d in s.devices if not (isinstance(d, dict) and d.get("name") == name)]
        found["n"] = before - len(s.devices)

    try:
        update_settings(change)
    except SettingsError as exc:
        raise DeviceError(str(exc)) from None
    return found["n"] > 0


def parse_ssh_url(url: str) -> tuple[str | None, str, int | None]:
    """``ssh://[user@]host[:port]`` -> (user, host, port). Refuses passwords in URLs."""
    bad = f"bad device address {url!r}: use ssh://user@host[:port]"
    try:
        u = urllib.parse.urlsplit(url)
        port = u.port
    except ValueError:
        raise DeviceError(bad + " (the port must be a number 1-65535)") from None
    if u.scheme != "ssh" or not u.hostname:
        raise DeviceError(bad)
    if u.password is not None:
        raise DeviceError(f"device address {url.split('@')[-1]!r} holds a password: remove it "
                          "(you are asked for a password when one is needed; it is never stored)")
    if u.path not in ("", "/") or u.query or u.fragment:
        raise DeviceError(bad + " (no path or query)")
    user = urllib.parse.unquote(u.username) if u.username else None
    return user or None, u.hostname, port
