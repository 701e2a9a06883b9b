"""Device addresses, ~/.ssh/config resolution and the saved device list (no network)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.core.settings import settings_path
from console.devices.base import DeviceError
from console.devices.device_list import (
    SavedDevice,
    add_device,
    get_device,
    list_devices,
    remove_device,
)
from console.devices.ssh import open_ssh_device, parse_ssh_url


@pytest.mark.parametrize("url, want", [
    ("ssh://pi@10.0.0.7", ("pi", "10.0.0.7", None)),
    ("ssh://pi@10.0.0.7:2222", ("pi", "10.0.0.7", 2222)),
    ("ssh://[fe80::1]:22", (None, "fe80::1", 22)),
    ("ssh://board-3.lab", (None, "board-3.lab", None)),
])
def test_parse_ssh_url(url: str, want: tuple) -> None:
    assert parse_ssh_url(url) == want


@pytest.mark.parametrize("url, fragment", [
    ("ssh://pi:hunter2@10.0.0.7", "holds a password"),
    ("ssh://pi@10.0.0.7:99999", "port"),
    ("ssh://pi@10.0.0.7/some/path", "no path"),
    ("ssh://", "use ssh://user@host"),
])
def test_bad_urls_are_refused_in_one_line(url: str, fragment: str) -> None:
    with pytest.raises(DeviceError, match=fragment) as ei:
        parse_ssh_url(url)
    assert "\n" not in str(ei.value)
    assert "hunter2" not in str(ei.value)


def test_alias_from_ssh_config_with_proxyjump(home: Path) -> None:
    (home / ".ssh" / "config").write_text(
        "Host bastion\n  HostName 192.0.2.1\n  User jump\n  Port 2200\n"
        "Host board\n  HostName 10.1.2.3\n  User pi\n  Port 2022\n"
        "  IdentityFile ~/.ssh/board_key\n  ProxyJump bastion\n"
        "  UserKnownHostsFile ~/.ssh/lab_known_hosts\n")
    dev = open_ssh_device("board")
    t = dev.target
    assert (t.host, t.port, t.user) == ("10.1.2.3", 2022, "pi")
    assert t.identity_files == (str(home / ".ssh" / "board_key"),)
    assert [(j.host, j.port, j.user) for j in t.jumps] == [("192.0.2.1", 2200, "jump")]
    assert t.known_hosts_files == (str(home / ".ssh" / "lab_known_hosts"),)
    assert t.hostkey_name == "[10.1.2.3]:2022"
    # The URL's user and port win over the config, as on the ssh command line.
    u = open_ssh_device("ssh://root@board:22").target
    assert (u.host, u.port, u.user) == ("10.1.2.3", 22, "root")


def test_proxycommand_is_refused_with_the_alternative(home: Path) -> None:
    (home / ".ssh" / "config").write_text("Host weird\n  ProxyCommand nc %h %p\n")
    with pytest.raises(DeviceError, match="use ProxyJump"):
        open_ssh_device("weird")


def test_saved_devices_round_trip_and_feed_the_device(home: Path) -> None:
    add_device(SavedDevice("jetson-3", "ssh://nvidia@10.0.0.7:2201",
                           python="/opt/venv/bin/python3", workdir="/data/dl",
                           notes="bench 2", key_file="~/.ssh/lab"))
    assert [d.name for d in list_devices()] == ["jetson-3"]
    assert get_device("jetson-3").python == "/opt/venv/bin/python3"
    dev = open_ssh_device("jetson-3")
    assert dev.python == "/opt/venv/bin/python3" and dev.workdir == "/data/dl"
    assert (dev.target.host, dev.target.port, dev.target.user) == ("10.0.0.7", 2201, "nvidia")
    assert dev.target.identity_files[0] == str(home / ".ssh" / "lab")
    assert dev.name == "jetson-3" and dev.notes == "bench 2"
    with pytest.raises(DeviceError, match="already exists"):
        add_device(SavedDevice("jetson-3", "ssh://x@y"))
    add_device(SavedDevice("jetson-3", "ssh://x@y"), replace=True)
    assert get_device("jetson-3").address == "ssh://x@y"
    data = json.loads(settings_path().read_text())
    assert data["devices"][0]["name"] == "jetson-3"
    assert remove_device("jetson-3") and not remove_device("jetson-3")
    assert list_devices() == []


@pytest.mark.parametrize("dev, fragment", [
    (SavedDevice("local", "ssh://a@b"), "reserved"),
    (SavedDevice("bad name", "ssh://a@b"), "not usable"),
    (SavedDevice("b1", "ssh://a:pw@b"), "holds a password"),
    (SavedDevice("b1", "http://b"), "only ssh://"),
    (SavedDevice("b1", "ssh://a@b", python=""), "python"),
])
def test_saved_device_validation(home: Path, dev: SavedDevice, fragment: str) -> None:
    with pytest.raises(DeviceError, match=fragment):
        add_device(dev)
    assert not settings_path().exists() or "pw@" not in settings_path().read_text()


def test_unknown_spec_is_one_clear_line(home: Path) -> None:
    with pytest.raises(DeviceError, match="unknown device") as ei:
        open_ssh_device("no such thing")
    assert "\n" not in str(ei.value)
