"""DeviceSpec: one typed value for everything a user may type as a device (no network)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.devices.base import DeviceError
from console.devices.device_list import SavedDevice, add_device
from console.devices.local import LocalDevice
from console.devices.registry import open_device
from console.devices.spec import DeviceSpec, did_you_mean, one_edit_apart

DEVICELAB = str(Path(sys.executable).parent / "devicelab")


@pytest.mark.parametrize("text, kind, user, host, port, url", [
    ("local", "local", None, "", None, "local"),
    ("This computer", "local", None, "", None, "local"),
    ("ssh://pi@10.0.0.7", "ssh", "pi", "10.0.0.7", None, "ssh://pi@10.0.0.7"),
    ("ssh://pi@10.0.0.7:2222", "ssh", "pi", "10.0.0.7", 2222, "ssh://pi@10.0.0.7:2222"),
    ("ssh://[fe80::1]:22", "ssh", None, "fe80::1", 22, "ssh://[fe80::1]:22"),
    ("pi@board-3", "ssh", "pi", "board-3", None, "ssh://pi@board-3"),
    ("lab-pi", "ssh", None, "lab-pi", None, "ssh://lab-pi"),
    ("[127.0.0.1]:2417", "ssh", None, "127.0.0.1", 2417, "ssh://127.0.0.1:2417"),
    ("root@[10.0.0.7]:2222", "ssh", "root", "10.0.0.7", 2222, "ssh://root@10.0.0.7:2222"),
])
def test_parse_everything_a_user_types(home: Path, text: str, kind: str, user: str | None,
                                       host: str, port: int | None, url: str) -> None:
    s = DeviceSpec.parse(text)
    assert (s.kind, s.user, s.host, s.port) == (kind, user, host, port)
    assert s.url == url
    assert DeviceSpec.parse(s.url) == s  # the canonical spelling reads back as itself


def test_saved_name_is_the_same_device_as_its_address(home: Path) -> None:
    add_device(SavedDevice("jetson-3", "ssh://nvidia@10.0.0.7:2201", python="/opt/py",
                           notes="bench 2"))
    saved = DeviceSpec.parse("jetson-3")
    typed = DeviceSpec.parse("ssh://nvidia@10.0.0.7:2201")
    assert saved == typed and hash(saved) == hash(typed)
    assert saved.saved_name == "jetson-3" and saved.python == "/opt/py"
    assert saved.name == "jetson-3" and typed.name == "ssh://nvidia@10.0.0.7:2201"
    assert saved.label == "jetson-3 — ssh://nvidia@10.0.0.7:2201"
    assert saved != DeviceSpec.parse("ssh://nvidia@10.0.0.7:2202")
    assert saved != DeviceSpec.parse("ssh://root@10.0.0.7:2201")
    assert DeviceSpec.parse("local") == DeviceSpec.local() != saved


def test_devices_carry_their_spec(home: Path) -> None:
    add_device(SavedDevice("bench", "pi@lab-board"))
    dev = open_device("bench")
    assert dev.spec == DeviceSpec.parse("pi@lab-board")
    assert (dev.name, dev.address) == ("bench", "pi@lab-board")
    local = open_device("local")
    assert isinstance(local, LocalDevice) and local.spec == DeviceSpec.local()
    assert (local.name, local.address) == ("This computer", "local")


@pytest.mark.parametrize("a, b, near", [
    ("locla", "local", True), ("loca", "local", True), ("locall", "local", True),
    ("lokal", "local", True), ("local", "local", False), ("lcl", "local", False),
    ("bench-8", "bench-7", True), ("bnech-7", "bench-7", True), ("other", "local", False),
])
def test_one_edit_apart(a: str, b: str, near: bool) -> None:
    assert one_edit_apart(a, b) is near


def test_did_you_mean_knows_saved_names(home: Path) -> None:
    add_device(SavedDevice("bench-7", "ssh://pi@10.0.0.7"))
    assert did_you_mean("locla") == "local"
    assert did_you_mean("bench-8") == "bench-7"
    assert did_you_mean("Local") == "local"
    assert did_you_mean("far-away") is None


def test_a_config_alias_one_typo_from_a_name_is_still_used(home: Path) -> None:
    (home / ".ssh" / "config").write_text("Host locla\n  HostName 10.9.9.9\n")
    dev = open_device("locla")
    assert dev.target.host == "10.9.9.9"  # type: ignore[attr-defined]
    assert open_device("ssh://locla").target.host == "10.9.9.9"  # type: ignore[attr-defined]


def _devicelab(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HOME=str(home))
    env.pop("SSH_AUTH_SOCK", None)
    return subprocess.run([DEVICELAB, *args], capture_output=True, text=True, timeout=120,
                          env=env, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("args", [
    ["devices", "probe", "locla"],
    ["run", "--device", "locla", "--package", "nowhere", "--input", "synthetic"],
])
def test_cli_typo_of_local_says_did_you_mean(home: Path, args: list[str]) -> None:
    res = _devicelab(home, *args)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr
    assert lines[0].startswith("devicelab: error: unknown device 'locla' — did you mean "
                               "'local'?"), lines[0]
    assert "resolve" not in lines[0]


def test_cli_typo_of_a_saved_name(home: Path) -> None:
    assert _devicelab(home, "devices", "add", "bench-7", "ssh://pi@10.0.0.7").returncode == 0
    res = _devicelab(home, "devices", "probe", "bench-8")
    assert res.returncode == 2
    assert "unknown device 'bench-8' — did you mean 'bench-7'?" in res.stderr


def test_spec_refuses_in_one_line(home: Path) -> None:
    for bad in ("", "no such thing", "http://x", "[h]:99999", "ssh://a:pw@b"):
        with pytest.raises(DeviceError) as ei:
            DeviceSpec.parse(bad)
        assert "\n" not in str(ei.value) and "pw@" not in str(ei.value)
