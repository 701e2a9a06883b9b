"""Turn what a user typed (``local``, ``ssh://user@host:port``, an alias) into a Device."""

from __future__ import annotations

from typing import Any

from console.devices.base import Device, DeviceError
from console.devices.local import LOCAL_ADDRESS, LocalDevice

LOCAL_NAMES = (LOCAL_ADDRESS, "localhost-agent", "this-computer", "This computer")


def open_device(spec: str, **ssh_options: Any) -> Device:
    """``local`` is the built-in device; anything else is an SSH device (URL, saved
    device name, or ``~/.ssh/config`` alias). ``ssh_options`` go to the SSH device
    (e.g. ``accept_new_host_key``, ``password_prompt``)."""
    s = spec.strip()
    if not s:
        raise DeviceError("no device given: use --device local, ssh://user@host[:port] or an alias")
    if s in LOCAL_NAMES:
        return LocalDevice()
    try:
        from console.devices.ssh import open_ssh_device
    except ImportError as exc:  # pragma: no cover - ssh support is part of the product
        raise DeviceError(f"SSH devices are unavailable in this build: {exc}") from None
    return open_ssh_device(s, **ssh_options)
