"""Where an SSH device is: a host name or ``~/.ssh/config`` alias resolved into a target.

:func:`resolve_target` applies ``~/.ssh/config`` the way ``ssh`` does
(HostName, User, Port, IdentityFile, IdentitiesOnly, UserKnownHostsFile,
StrictHostKeyChecking, HostKeyAlias and ProxyJump; the caller's user and port
win over the config, as on the ``ssh`` command line) and gives a frozen
:class:`SSHTarget`. The file itself, ``Include`` lines and all, is read by
:mod:`console.devices.ssh.config`. Nothing here touches
the network; connecting is :mod:`console.devices.ssh.connection`'s job.
"""

from __future__ import annotations

import getpass
import os
import re
import socket
from dataclasses import dataclass, replace

import paramiko

from console.devices.base import DeviceError
from console.devices.device_list import parse_ssh_url
from console.devices.hostkeys import known_hosts_name
from console.devices.ssh.config import ConsoleSSHConfig, load_ssh_config


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
    #: StrictHostKeyChecking from the config: "yes", "accept-new" (also for no/off),
    #: "ask" or "" (not set); see console.devices.ssh.connection
    strict_host_key_checking: str = ""
    #: HostKeyAlias: the name the host's keys are looked up and saved under
    host_key_alias: str = ""

    @property
    def hostkey_name(self) -> str:
        """The known_hosts name: the HostKeyAlias as is, else ``host``/``[host]:port``."""
        return self.host_key_alias or known_hosts_name(self.host, self.port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ssh://{self.user}@{host}:{self.port}"


def literal_hosts(cfg: paramiko.SSHConfig) -> set[str]:
    """Host names the config's ``Host`` lines spell out (no wildcard, not negated)."""
    return set(cfg.names) if isinstance(cfg, ConsoleSSHConfig) else set()


#: StrictHostKeyChecking values as the console applies them ("no"/"off" trust new keys
#: like accept-new; a changed key is refused whatever the value)
_STRICT = {"yes": "yes", "accept-new": "accept-new", "no": "accept-new", "off": "accept-new",
           "ask": "ask"}


def _known_hosts_files(value: str, host: str, original: str, port: int, user: str,
                       alias: str) -> tuple[str, ...]:
    """UserKnownHostsFile: ``none`` means no file; tokens and ``~`` as ssh_config(5)."""
    tokens = {"%%": "%", "%d": os.path.expanduser("~"), "%u": getpass.getuser(),
              "%i": str(os.getuid()) if hasattr(os, "getuid") else "", "%h": host,
              "%p": str(port), "%r": user, "%n": original, "%k": alias or original,
              "%l": socket.gethostname().split(".")[0], "%L": socket.gethostname()}
    out: list[str] = []
    for word in value.split():
        if word.lower() == "none":
            continue
        word = re.sub(r"%.", lambda m: tokens.get(m.group(0), m.group(0)), word)
        word = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}",
                      lambda m: os.environ.get(m.group(1), ""), word)
        out.append(os.path.expanduser(word))
    return tuple(out)


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
    alias = str(c.get("hostkeyalias") or "")
    strict = str(c.get("stricthostkeychecking") or "").lower()
    if strict and strict not in _STRICT:
        raise DeviceError(f"~/.ssh/config: StrictHostKeyChecking {strict!r} for {host!r} is "
                          "not one of yes, accept-new, no, off, ask")
    khf = _known_hosts_files(str(c.get("userknownhostsfile") or ""), hostname, host,
                             the_port, the_user, alias)
    if c.get("userknownhostsfile") and not khf:
        khf = (os.devnull,)  # "none": no user file at all, not the default one
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
                     khf, _STRICT.get(strict, ""), alias)
