"""What names a device: one frozen, typed :class:`DeviceSpec` for everything a user types.

A device used to go by several strings (the spec typed, the saved address,
the name, a label, a URL…) compared as text. A :class:`DeviceSpec` is the
one value: :meth:`DeviceSpec.parse` reads ``local``, a saved device name,
``ssh://user@host[:port]``, ``[user@]host`` (or a ``~/.ssh/config`` alias)
and the known_hosts form ``[host]:port``; :attr:`~DeviceSpec.url` is its
canonical spelling (never a secret: a password in a URL is refused), and
:attr:`~DeviceSpec.label` the line a list shows.

Equality is the device's *address* — kind, user, host, port — and nothing
else: a saved device and the URL it was saved with are the same device (a
replay finds its device again by ``==``), while the interpreter, work dir,
key file and notes are settings of that device, not its identity.

Nothing here touches the network or ``~/.ssh/config``: resolving an alias is
:mod:`console.devices.ssh.target`'s job.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Literal

from console.devices.base import DeviceError
from console.devices.device_list import SavedDevice, get_device, list_devices, parse_ssh_url

DeviceKind = Literal["local", "ssh"]
#: how an SSH address was written: a URL or a bare ``[user@]host`` (an alias, maybe)
AddressForm = Literal["", "url", "alias"]

LOCAL_ADDRESS = "local"
LOCAL_NAME = "This computer"
#: what a user may type for the built-in device
LOCAL_NAMES = (LOCAL_ADDRESS, "localhost-agent", "this-computer", LOCAL_NAME)

_ALIAS_RE = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.@%+:-]*$")
#: the known_hosts spelling ``[host]:port``, optionally with ``user@`` in front
_BRACKETED_RE = re.compile(r"^(?:([^@\[\]]+)@)?\[([^\[\]]+)\]:(\d{1,5})$")

WHAT_TO_TYPE = ("use local, ssh://user@host[:port], a saved device name (devicelab devices "
                "list) or a ~/.ssh/config alias")


@dataclass(frozen=True)
class DeviceSpec:
    """A device as the user named it; ``==`` compares the address only (module doc)."""

    kind: DeviceKind
    #: host name or ``~/.ssh/config`` alias, as written (before the config is applied)
    host: str = ""
    user: str | None = None
    port: int | None = None
    form: AddressForm = field(default="", compare=False)
    #: the saved device this came from ("" when typed directly)
    saved_name: str = field(default="", compare=False)
    python: str = field(default="", compare=False)
    workdir: str = field(default="", compare=False)
    key_file: str = field(default="", compare=False)
    notes: str = field(default="", compare=False)
    cache_cap_mb: int = field(default=0, compare=False)

    # -- reading ---------------------------------------------------------------------
    @classmethod
    def local(cls) -> DeviceSpec:
        return cls("local")

    @classmethod
    def parse(cls, text: str) -> DeviceSpec:
        """Whatever a user may type for ``--device`` (see the module docstring)."""
        s = text.strip()
        if not s:
            raise DeviceError("no device given: " + WHAT_TO_TYPE)
        if s in LOCAL_NAMES:
            return cls.local()
        if not s.startswith("ssh://"):
            saved = get_device(s)
            if saved is not None:
                return cls.from_saved(saved)
        return cls.parse_address(s)

    @classmethod
    def parse_address(cls, text: str) -> DeviceSpec:
        """An SSH address only (a saved device's, or one about to be saved): no names."""
        s = text.strip()
        if s.startswith("ssh://"):
            user, host, port = parse_ssh_url(s)
            return cls("ssh", host, user, port, form="url")
        m = _BRACKETED_RE.match(s)
        if m:
            port = int(m.group(3))
            if not 0 < port < 65536:
                raise DeviceError(f"bad device address {s!r}: the port must be a number 1-65535")
            return cls("ssh", m.group(2), m.group(1) or None, port, form="url")
        if not _ALIAS_RE.match(s) or "://" in s:
            raise DeviceError(f"unknown device {s!r}: " + WHAT_TO_TYPE)
        user, _, host = s.rpartition("@")
        if not host:
            raise DeviceError(f"unknown device {s!r}: " + WHAT_TO_TYPE)
        return cls("ssh", host, user or None, None, form="alias")

    @classmethod
    def from_saved(cls, saved: SavedDevice) -> DeviceSpec:
        base = cls.parse_address(saved.address)
        return cls(base.kind, base.host, base.user, base.port, base.form,
                   saved_name=saved.name, python=saved.python, workdir=saved.workdir,
                   key_file=saved.key_file, notes=saved.notes, cache_cap_mb=saved.cache_cap_mb)

    # -- spelling --------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Canonical: ``local`` or ``ssh://[user@]host[:port]`` (no secret, ever)."""
        if self.kind == "local":
            return LOCAL_ADDRESS
        host = f"[{self.host}]" if ":" in self.host else self.host
        user = urllib.parse.quote(self.user, safe="") + "@" if self.user else ""
        port = f":{self.port}" if self.port is not None else ""
        return f"ssh://{user}{host}{port}"

    @property
    def address(self) -> str:
        """The address as it is recorded and saved: the URL, or ``[user@]host``."""
        if self.kind == "local":
            return LOCAL_ADDRESS
        if self.form == "alias":
            return f"{self.user}@{self.host}" if self.user else self.host
        return self.url

    @property
    def name(self) -> str:
        """What the device is called: the saved name, "This computer", or its address."""
        if self.kind == "local":
            return LOCAL_NAME
        return self.saved_name or self.address

    @property
    def label(self) -> str:
        """One line for lists: ``name — address`` for a saved device, else the name."""
        if self.saved_name:
            return f"{self.saved_name} — {self.address}"
        return self.name

    def __str__(self) -> str:
        return self.saved_name or self.address


def one_edit_apart(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by exactly one insertion, deletion, substitution
    or swap of two neighbours (``locla``/``local``): the typos worth a "did you mean"."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
        if len(diff) == 1:
            return True
        return (len(diff) == 2 and diff[1] == diff[0] + 1
                and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    i = next((k for k, (x, y) in enumerate(zip(short, long_)) if x != y), len(short))
    return short[i:] == long_[i + 1:]


def did_you_mean(name: str) -> str | None:
    """The saved device name (or ``local``) that ``name`` is one typo away from."""
    known = [LOCAL_ADDRESS, *(d.name for d in list_devices())]
    low = name.lower()
    return next((k for k in known if k != name and (low == k.lower()
                                                     or one_edit_apart(low, k.lower()))), None)
