"""Where an SSH device is: a host name or ``~/.ssh/config`` alias resolved into a target.

:func:`resolve_target` applies ``~/.ssh/config`` the way ``ssh`` does
(HostName, User, Port, IdentityFile, IdentitiesOnly, UserKnownHostsFile and
ProxyJump; the caller's user and port win over the config, as on the ``ssh``
command line) and gives a frozen :class:`SSHTarget`. Nothing here touches
the network; connecting is :mod:`console.devices.ssh.connection`'s job.
"""

from __future__ import annotations

import getpass
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

import paramiko

from console.devices.base import DeviceError
from console.devices.device_list import parse_ssh_url
from console.devices.hostkeys import known_hosts_name


def _parse_hop(hop: str) -> tuple[str | None, str, int | None]:
    """A ProxyJump entry: ``[user@]host[:port]`` or ``ssh://…``."""
    if hop.startswith("ssh://"):
        return parse_ssh_url(hop)
    user, _, rest = hop.rpartition("@")
    m = re.match(r"^\[([^\]]+)\](?::(\d+))?$", rest) or re.match(r"^([^:]+)(?::(\d+))?$", rest)
    if not m or not m.group(1):
        raise DeviceError(f"bad ProxyJump entry {hop!r} in ~/.ssh/config: use "
                          "[user@]host[:port]")
    return user or None, m.group(1), int(m.group(2)) if m.group(2) else None


@dataclass(frozen=True)
class SSHTarget:
    """Where to connect and as whom, after ``~/.ssh/config`` was applied."""

    host: str
    port: int
    user: str
    label: str
    identity_files: tuple[str, ...] = ()
    identities_only: bool = False
    #: hops to go through first, first hop first (ProxyJump)
    jumps: tuple[SSHTarget, ...] = ()
    #: the user's known-hosts files (read only; default ~/.ssh/known_hosts)
    known_hosts_files: tuple[str, ...] = ()

    @property
    def hostkey_name(self) -> str:
        return known_hosts_name(self.host, self.port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ssh://{self.user}@{host}:{self.port}"


def ssh_config_path() -> Path:
    return Path(os.path.expanduser("~/.ssh/config"))


def load_ssh_config() -> paramiko.SSHConfig:
    p = ssh_config_path()
    if not p.is_file():
        return paramiko.SSHConfig()
    try:
        return paramiko.SSHConfig.from_path(str(p))
    except Exception as exc:  # paramiko raises several kinds for a bad file
        raise DeviceError(f"cannot read {p}: {exc}; fix the file") from None


def literal_hosts(cfg: paramiko.SSHConfig) -> set[str]:
    """Host names a ``Host`` line of the config spells out (no wildcard, not negated)."""
    out: set[str] = set()
    for block in getattr(cfg, "_config", []):
        out.update(h for h in block.get("host", []) if not set(h) & set("*?!"))
    return out


def resolve_target(host: str, user: str | None = None, port: int | None = None,
                   key_file: str | None = None, *, label: str | None = None,
                   config: paramiko.SSHConfig | None = None, _depth: int = 0) -> SSHTarget:
    """Apply ``~/.ssh/config`` to ``host`` (an alias or a host name)."""
    cfg = config if config is not None else load_ssh_config()
    try:
        c = cfg.lookup(host)
    except Exception as exc:
        raise DeviceError(f"~/.ssh/config cannot be applied to {host!r}: {exc}") from None
    if c.get("proxycommand") and str(c.get("proxycommand")).lower() != "none":
        raise DeviceError(f"{host}: ProxyCommand in ~/.ssh/config is not supported by the "
                          "console; use ProxyJump instead")
    hostname = str(c.get("hostname") or host)
    try:
        the_port = int(port or c.get("port") or 22)
    except ValueError:
        raise DeviceError(f"~/.ssh/config: Port for {host!r} is not a number") from None
    the_user = user or c.get("user") or getpass.getuser()
    ids: list[str] = []
    if key_file:
        ids.append(os.path.expanduser(key_file))
    for p in c.get("identityfile") or []:
        ep = os.path.expanduser(p)
        if ep not in ids:
            ids.append(ep)
    khf: list[str] = []
    for p in str(c.get("userknownhostsfile") or "").split():
        khf.append(os.path.expanduser(p))
    jumps: list[SSHTarget] = []
    pj = str(c.get("proxyjump") or "")
    if pj and pj.lower() != "none":
        if _depth >= 5:
            raise DeviceError(f"ProxyJump chain for {host!r} is too long (a loop in "
                              "~/.ssh/config?)")
        for hop in pj.split(","):
            hu, hh, hp = _parse_hop(hop.strip())
            t = resolve_target(hh, hu, hp, config=cfg, _depth=_depth + 1)
            jumps.extend(t.jumps)
            jumps.append(replace(t, jumps=()))
    lab = label or (host if host != hostname else f"{the_user}@{hostname}:{the_port}")
    return SSHTarget(hostname, the_port, the_user, lab, tuple(ids),
                     str(c.get("identitiesonly", "no")).lower() == "yes", tuple(jumps),
                     tuple(khf))
