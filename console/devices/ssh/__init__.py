"""SSH devices: lab boards reached the way engineers already reach them.

A device is addressed as ``ssh://user@host[:port]``, by a saved device name
(:mod:`console.devices.device_list`) or by a ``~/.ssh/config`` alias. The
package holds, one module each:

``target``
    where the device is: :class:`SSHTarget` and :func:`resolve_target`, which
    applies ``~/.ssh/config`` (HostName, User, Port, IdentityFile,
    IdentitiesOnly, UserKnownHostsFile, StrictHostKeyChecking, HostKeyAlias,
    ProxyJump; the URL's user and port win over the config, as on the ``ssh``
    command line).
``config``
    reading ``~/.ssh/config`` with its ``Include`` lines expanded as
    ssh_config(5) says (paramiko alone ignores them).
``auth``
    logging in: the given key file and IdentityFiles, the ssh-agent,
    ``~/.ssh/id_*``, then a password. Passphrases and passwords come from a
    prompt when needed and are never kept, logged or stored.
``link``
    keepalive pings that expect a reply and a watchdog that closes a
    transport silent for :data:`LINK_DEAD_S`, so a dead link ends every
    blocked call instead of hanging it, and ``link_ok()`` turns False within
    a few seconds.
``connection``
    :func:`connect_target`: paramiko, with
    :class:`~console.devices.hostkeys.StrictHostKeyPolicy` (never
    ``AutoAddPolicy``), through ProxyJump hops; remote commands and SFTP.
    Every remote command line is assembled from :func:`shlex.quote`-d words;
    no file name, manifest string or user field reaches a shell unquoted.
``process``
    the running agent: ``exec`` chains (login shell -> ``/bin/sh`` -> the
    agent) so the channel's process *is* the agent; its pid is printed
    before the exec. Stop is the protocol's ``stop``, then a remote signal to
    that pid, then closing the channel.
``cache``, ``deploy``
    over SFTP into a per-user cache on the device (default
    ``~/.cache/devicelab``), one folder per content hash. An item is uploaded
    into a ``.tmp-*`` folder, its sizes and sha256 are checked *on the
    device*, a ``.complete`` marker is written last and the folder is renamed
    into place, so a half-written item is never used and a complete one is
    never uploaded again. Old items are evicted oldest-first above a size
    cap, never those of the current run.
``device``
    :class:`SSHDevice` and :func:`open_ssh_device`, which tie the above into
    one :class:`~console.devices.base.Device`; probing is one remote command.

This file only re-exports; nothing is defined here.
"""

from __future__ import annotations

from console.devices.base import HostKeyChanged, HostKeyUnknown
from console.devices.device_list import parse_ssh_url
from console.devices.ssh.cache import DEFAULT_WORKDIR, MARKER, TMP_PREFIX
from console.devices.ssh.config import load_ssh_config, ssh_config_path
from console.devices.ssh.connection import (
    CONNECT_TIMEOUT_S,
    RemoteResult,
    SSHConnection,
    connect_target,
)
from console.devices.ssh.device import SSHDevice, open_ssh_device
from console.devices.ssh.link import KEEPALIVE_S, LINK_DEAD_S, LinkWatch
from console.devices.ssh.process import SSHAgentProcess
from console.devices.ssh.target import SSHTarget, resolve_target

__all__ = [
    "CONNECT_TIMEOUT_S",
    "DEFAULT_WORKDIR",
    "KEEPALIVE_S",
    "LINK_DEAD_S",
    "MARKER",
    "TMP_PREFIX",
    "HostKeyChanged",
    "HostKeyUnknown",
    "LinkWatch",
    "RemoteResult",
    "SSHAgentProcess",
    "SSHConnection",
    "SSHDevice",
    "SSHTarget",
    "connect_target",
    "load_ssh_config",
    "open_ssh_device",
    "parse_ssh_url",
    "resolve_target",
    "ssh_config_path",
]
