"""SSH host-key trust: which server keys the console accepts, and the one file it writes.

Keys are looked up in the user's ``~/.ssh/known_hosts`` (and any
``UserKnownHostsFile`` from ``~/.ssh/config``), read-only, and in the
console's own ``known_hosts`` in the config folder, the only file the
console ever writes. The rules are OpenSSH's ``StrictHostKeyChecking
accept-new`` and never weaker:

* a key listed for the host: accepted;
* no key at all for the host: refused with :class:`HostKeyUnknown` (key type
  and SHA256 fingerprint in the message) unless the caller passed
  ``accept_new`` (CLI ``--accept-new-host-key``) or the exact fingerprint a
  user confirmed in a dialog (``accept_fingerprint``: no other key passes, so
  a key swapped between the dialog and the reconnect is still refused);
* keys listed for the host but none equal to the one offered (changed key, or
  only keys of another type): refused with :class:`HostKeyChanged`, whatever
  the flags. The user removes the old entry deliberately (``devicelab
  devices forget-host-key`` for the console's file, ``ssh-keygen -R`` for
  ``~/.ssh/known_hosts``).

* ``StrictHostKeyChecking`` from ``~/.ssh/config`` is honoured: ``yes`` refuses
  an unknown key whatever the flags (:class:`HostKeyNotTrusted`: no dialog can
  accept it either); ``accept-new`` — and ``no``/``off``, which the console
  never takes as weaker than that — trusts an unknown key on first use without
  a flag, saying so in one line (``notice``); a changed key is refused always.
  ``HostKeyAlias`` is the name keys are looked up and saved under.

* a key marked ``@revoked`` in any known-hosts file (whatever host pattern
  the line names: OpenSSH says such a key "must not ever be accepted"):
  refused with :class:`HostKeyRevoked`, whatever the flags.

Host patterns are matched as sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT" says
(:func:`line_matches`): comma-separated patterns with ``*`` and ``?``, a
``!pattern`` that rejects the line, hashed ``|1|…`` names, ``[host]:port``
for other ports (``[10.0.0.*]:2222`` covers every board of that range).

The files are read line by line and a line the console cannot parse (a key
type paramiko does not know, a damaged line) is skipped, as OpenSSH does:
one odd line must not stop every connection. ``@cert-authority`` lines are
skipped too: host certificates are not supported, so a host known only
through a CA is "unknown" (accept its plain key once, as for any new host).

:class:`StrictHostKeyPolicy` is the paramiko ``MissingHostKeyPolicy`` that
applies these rules (the SSH client is given no host keys of its own, so
every key reaches the policy); paramiko's ``AutoAddPolicy`` is never used.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import re
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
from paramiko.hostkeys import HostKeyEntry, InvalidHostKey

from console.devices.base import DeviceError, HostKeyChanged, HostKeyUnknown

log = logging.getLogger("devicelab.ssh")

#: paramiko's names for an RSA key offered with SHA-2 signatures
_RSA_ALGOS = ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")


def fingerprint_sha256(key: paramiko.PKey) -> str:
    """``SHA256:<base64>`` exactly as ``ssh-keygen -l`` and OpenSSH print it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def known_hosts_name(host: str, port: int) -> str:
    """The name a host's keys are filed under (``host`` or ``[host]:port``)."""
    return host if port == 22 else f"[{host}]:{port}"


def console_known_hosts() -> Path:
    from console.core.paths import config_dir

    return config_dir() / "known_hosts"


def user_known_hosts() -> Path:
    return Path(os.path.expanduser("~/.ssh/known_hosts"))


class HostKeyRevoked(HostKeyChanged):
    """The offered host key is marked ``@revoked`` in a known-hosts file."""


#: what a damaged or unsupported known-hosts line can raise while parsed
_LINE_ERRORS = (InvalidHostKey, paramiko.SSHException, ValueError, TypeError, IndexError,
                binascii.Error, struct.error)


@dataclass(frozen=True)
class _Entry:
    names: tuple[str, ...]
    key: paramiko.PKey
    revoked: bool


def _read_entries(f: Path) -> list[_Entry]:
    """The usable lines of one known-hosts file (see the module docstring)."""
    try:
        text = f.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise DeviceError(f"cannot read the known-hosts file {f}: {exc.strerror}; fix its "
                          "permissions or move it aside") from None
    out: list[_Entry] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        fields = raw.split()
        if not fields or fields[0].startswith("#"):
            continue
        revoked = False
        if fields[0].startswith("@"):
            marker = fields.pop(0)
            if marker != "@revoked":
                continue  # @cert-authority: certificates are not supported
            revoked = True
        try:
            entry = HostKeyEntry.from_line(" ".join(fields[:3]), lineno)
        except _LINE_ERRORS:
            continue
        if entry is None or entry.key is None:
            continue
        out.append(_Entry(tuple(entry.hostnames), entry.key, revoked))
    return out


@dataclass(frozen=True)
class KnownKey:
    file: Path
    key_type: str
    key: paramiko.PKey

    @property
    def fingerprint(self) -> str:
        return fingerprint_sha256(self.key)


class HostKeyStore:
    """Read every known-hosts file; write only the console's own."""

    def __init__(self, read_files: Sequence[Path] | None = None,
                 console_file: Path | None = None) -> None:
        self.console_file = console_file or console_known_hosts()
        files = list(read_files) if read_files is not None else [user_known_hosts()]
        self.read_files = [f for f in files if f != self.console_file] + [self.console_file]

    def lookup(self, name: str) -> list[KnownKey]:
        """All keys any file lists for ``name`` (hashed entries included; not @revoked)."""
        out: list[KnownKey] = []
        for f in self.read_files:
            if not f.is_file():
                continue
            for e in _read_entries(f):
                if not e.revoked and line_matches(e.names, name):
                    out.append(KnownKey(f, e.key.get_name(), e.key))
        return out

    def revoked_in(self, key: paramiko.PKey) -> Path | None:
        """The first file marking ``key`` ``@revoked`` (for any host), else None."""
        for f in self.read_files:
            if f.is_file() and any(e.revoked and e.key == key for e in _read_entries(f)):
                return f
        return None

    def preferred_key_types(self, name: str, offered: Sequence[str]) -> list[str]:
        """paramiko's host-key algorithm list reordered so known key types come first.

        Without this, a host known by its RSA key would be asked for its
        ed25519 key first and look "changed" (the same thing OpenSSH does).
        """
        known = [k.key_type for k in self.lookup(name)]
        first: list[str] = []
        for t in known:
            for cand in (_RSA_ALGOS if t == "ssh-rsa" else (t,)):
                if cand in offered and cand not in first:
                    first.append(cand)
        return first + [t for t in offered if t not in first]

    def add(self, name: str, key: paramiko.PKey) -> Path:
        """Append ``name key`` to the console's file (locked; kept private)."""
        f = self.console_file
        line = f"{name} {key.get_name()} {key.get_base64()}\n"
        try:
            f.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(f, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a", encoding="ascii") as fh:
                try:
                    import fcntl  # POSIX; elsewhere one append is one write all the same
                except ImportError:
                    pass
                else:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
                fh.write(line)
                fh.flush()
        except OSError as exc:
            raise DeviceError(f"cannot save the accepted host key to {f}: {exc.strerror}"
                              ) from None
        return f

    def remove(self, name: str) -> int:
        """Drop every entry for ``name`` from the console's file; how many went."""
        f = self.console_file
        if not f.is_file():
            return 0
        kept: list[str] = []
        removed = 0
        for line in f.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True):
            fields = line.split()
            if fields and fields[0].startswith("@"):
                fields = fields[1:]
            hosts = fields[0].split(",") if fields and not line.lstrip().startswith("#") else []
            if any(_host_matches(h, name) for h in hosts):
                removed += 1
            else:
                kept.append(line)
        if removed:
            tmp = f.with_name(f.name + ".tmp")
            try:
                tmp.write_text("".join(kept), encoding="utf-8")
                os.chmod(tmp, 0o600)
                os.replace(tmp, f)
            except OSError as exc:
                raise DeviceError(f"cannot rewrite {f}: {exc.strerror}") from None
        return removed


def _hashed_matches(entry: str, name: str) -> bool:
    try:
        return paramiko.HostKeys.hash_host(name, entry) == entry
    except _LINE_ERRORS:
        return False  # a damaged hashed name matches nothing


def _host_matches(entry: str, name: str) -> bool:
    """``entry`` names exactly ``name`` (what ``forget-host-key`` removes, as
    ``ssh-keygen -R`` does: never a wildcard line that merely covers it)."""
    if entry.startswith("|1|"):
        return _hashed_matches(entry, name)
    return entry == name


def _pattern(p: str) -> re.Pattern[str]:
    """OpenSSH's host pattern: ``*`` any run, ``?`` one character, case-insensitive;
    everything else literal (``[`` and ``]`` of ``[host]:port`` included)."""
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in p)
    return re.compile(rx, re.IGNORECASE | re.DOTALL)


def line_matches(patterns: Sequence[str], name: str) -> bool:
    """Whether a known_hosts line's host list covers ``name``, as sshd(8) "SSH_KNOWN_HOSTS
    FILE FORMAT" says: any pattern (wildcards ``*``/``?``, or a hashed ``|1|`` name)
    matches, and no negated ``!pattern`` does — a negated match rejects the line even
    when another pattern matched."""
    hit = False
    for p in patterns:
        if p.startswith("|1|"):
            hit = hit or _hashed_matches(p, name)
        elif p.startswith("!"):
            if _pattern(p[1:]).fullmatch(name):
                return False
        elif _pattern(p).fullmatch(name):
            hit = True
    return hit


class HostKeyNotTrusted(DeviceError):
    """An unknown host key that ``StrictHostKeyChecking yes`` forbids trusting here
    (not a :class:`HostKeyUnknown`: no flag or dialog may accept it)."""


class StrictHostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """Verify a server's key against the store (see the module docstring for the rules).

    ``name`` is the known_hosts name to check (the HostKeyAlias, or
    ``[host]:port``) when it is not paramiko's; ``config_rule`` the
    StrictHostKeyChecking the user's config gives for the host ("yes",
    "accept-new", "ask" or ""); ``notice`` gets one line whenever a new key
    is trusted without a dialog.
    """

    def __init__(self, store: HostKeyStore, *, accept_new: bool = False,
                 accept_fingerprint: str | None = None, name: str | None = None,
                 config_rule: str = "", notice: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.accept_new = accept_new
        self.accept_fingerprint = accept_fingerprint
        self.name = name
        self.config_rule = config_rule
        self.notice = notice
        self.accepted: list[tuple[str, str]] = []  # (name, fingerprint) newly trusted

    def missing_host_key(self, client: Any, hostname: str, key: paramiko.PKey) -> None:
        self.verify(self.name or hostname, key)

    def verify(self, name: str, key: paramiko.PKey) -> None:
        fp = fingerprint_sha256(key)
        ktype = key.get_name()
        revoked_file = self.store.revoked_in(key)
        if revoked_file is not None:
            raise HostKeyRevoked(
                f"SSH HOST KEY REVOKED for {name}: it offers {ktype} {fp}, which "
                f"{revoked_file} marks @revoked; refused, whatever the flags. Ask whoever "
                "runs the device for its current host key")
        known = self.store.lookup(name)
        if any(k.key == key for k in known):
            return
        if known:
            same = [k for k in known if k.key_type == ktype]
            old = same[0] if same else known[0]
            where = old.file
            if where == self.store.console_file:
                fix = f"devicelab devices forget-host-key '{name}'"
            else:
                fix = f"ssh-keygen -R '{name}' -f {where}"
            what = (f"it now offers {ktype} {fp}, but {where} lists {old.key_type} "
                    f"{old.fingerprint}")
            raise HostKeyChanged(
                f"SSH HOST KEY CHANGED for {name}: {what} - someone may be intercepting the "
                f"connection, or the device was reinstalled; refused. Only if you know the "
                f"device was reinstalled, remove the old key ({fix}) and connect again")
        if self.config_rule == "yes":
            raise HostKeyNotTrusted(
                f"unknown SSH host key for {name}: {ktype} {fp}; ~/.ssh/config sets "
                "StrictHostKeyChecking yes for it, so it is not trusted here, not even with "
                "--accept-new-host-key: add its key to your known_hosts yourself (compare the "
                "fingerprint with ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub on the device)")
        if self.accept_fingerprint is not None:
            if fp == self.accept_fingerprint:
                self.store.add(name, key)
                self.accepted.append((name, fp))
                return
            raise HostKeyUnknown(
                f"host key of {name} is {ktype} {fp}, not the {self.accept_fingerprint} that "
                "was confirmed; refused (confirm the new fingerprint only if you trust it)",
                name, ktype, fp)
        if self.accept_new or self.config_rule == "accept-new":
            saved = self.store.add(name, key)
            self.accepted.append((name, fp))
            why = ("--accept-new-host-key" if self.accept_new else
                   "StrictHostKeyChecking accept-new/no in ~/.ssh/config")
            line = f"trusted the new SSH host key of {name}: {ktype} {fp} ({why}); saved in {saved}"
            log.warning("%s", line)
            if self.notice is not None:
                self.notice(line)
            return
        raise HostKeyUnknown(
            f"unknown SSH host key for {name}: {ktype} {fp}; if that is the device's "
            "fingerprint (on the device: ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), "
            "connect again with --accept-new-host-key", name, ktype, fp)
