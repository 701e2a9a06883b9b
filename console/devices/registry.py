"""Turn what a user typed (``local``, ``ssh://user@host:port``, a saved name, an alias)
into a Device, through the one :class:`~console.devices.spec.DeviceSpec` parser."""

from __future__ import annotations

from typing import Any

from console.devices.base import Device, DeviceError
from console.devices.local import LocalDevice
from console.devices.spec import LOCAL_NAMES, DeviceSpec

__all__ = ["LOCAL_NAMES", "open_device"]


def open_device(spec: str | DeviceSpec, **ssh_options: Any) -> Device:
    """``local`` is the built-in device; anything else is an SSH device (URL, saved
    device name, or ``~/.ssh/config`` alias). ``ssh_options`` go to the SSH device
    (e.g. ``accept_new_host_key``, ``password_prompt``)."""
    s = DeviceSpec.parse(spec) if isinstance(spec, str) else spec
    if s.kind == "local":
        return LocalDevice()
    try:
        from console.devices.ssh import open_ssh_device
    except ImportError as exc:  # pragma: no cover - ssh support is part of the product
        raise DeviceError(f"SSH devices are unavailable in this build: {exc}") from None
    return open_ssh_device(s, **ssh_options)
