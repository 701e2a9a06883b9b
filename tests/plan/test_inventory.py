"""Ansible inventories into the device list (console.devices.inventory) and @groups in plans."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.faults import devicelab

from console.devices.device_list import get_device, list_devices
from console.devices.inventory import (
    InventoryError,
    device_groups,
    expand_devices,
    expand_hosts,
    import_inventory,
    read_inventory,
    to_devices,
)

INI = """\
# the lab
; a comment line
bench-pc ansible_host=10.0.0.1
[jetsons]
jet[01:03] ansible_user=nvidia ansible_python_interpreter=/opt/venv/bin/python3
[pis]
pi-a:2222 ansible_host=10.0.0.9 ansible_ssh_private_key_file=~/.ssh/lab  # inline comment
pi-b ansible_host="10.0.0.10" note='two words'
[boards:children]
jetsons
pis
[boards:vars]
ansible_user = qa
[all:vars]
ansible_python_interpreter=auto_silent
"""

YAML = """\
all:
  vars:
    ansible_user: qa
  hosts:
    this-one:
      ansible_connection: local
  children:
    jetsons:
      hosts:
        jet[1:2].lab:
          ansible_port: 2200
      vars:
        ansible_user: nvidia
    boards:
      children:
        jetsons:
        pis:
          hosts:
            pi-a:
              ansible_host: 10.0.0.9
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_ini_rules(tmp_path: Path) -> None:
    plan = to_devices(read_inventory(_write(tmp_path, "hosts", INI)))
    by = {d.name: d for d in plan.devices}
    assert list(by) == ["bench-pc", "jet01", "jet02", "jet03", "pi-a", "pi-b"]
    assert by["bench-pc"].address == "ssh://10.0.0.1"
    assert by["bench-pc"].python == "python3"  # auto_silent: interpreter discovery -> python3
    # the innermost group wins over its parent: jetsons' nvidia over boards' qa
    assert by["jet02"].address == "ssh://nvidia@jet02"
    assert by["jet02"].python == "/opt/venv/bin/python3"
    # host:port, a host var over the group's, the key file kept as a path
    assert by["pi-a"].address == "ssh://qa@10.0.0.9:2222"
    assert by["pi-a"].key_file == "~/.ssh/lab"
    assert by["pi-b"].address == "ssh://qa@10.0.0.10"
    assert plan.groups == {"jetsons": ["jet01", "jet02", "jet03"], "pis": ["pi-a", "pi-b"],
                           "boards": ["jet01", "jet02", "jet03", "pi-a", "pi-b"]}


def test_yaml_rules_and_local_hosts(tmp_path: Path) -> None:
    inv = _write(tmp_path, "inventory.yml", YAML)
    plan = to_devices(read_inventory(inv))
    by = {d.name: d for d in plan.devices}
    assert by["jet1.lab"].address == "ssh://nvidia@jet1.lab:2200"
    assert by["pi-a"].address == "ssh://qa@10.0.0.9"
    assert plan.local_hosts == ["this-one"]
    assert plan.groups["boards"] == ["jet1.lab", "jet2.lab", "pi-a"]


@pytest.mark.parametrize("pattern, hosts", [
    ("web[01:03].lab", ["web01.lab", "web02.lab", "web03.lab"]),
    ("n[8:10]", ["n8", "n9", "n10"]),
    ("db-[a:c]", ["db-a", "db-b", "db-c"]),
    ("n[0:10:5]", ["n0", "n5", "n10"]),
    ("r[1:2]c[1:2]", ["r1c1", "r1c2", "r2c1", "r2c2"]),
])
def test_host_ranges(pattern: str, hosts: list[str]) -> None:
    assert expand_hosts(pattern) == hosts


@pytest.mark.parametrize("text, words", [
    ("[jetsons:hostvars]\n", "only [GROUP], [GROUP:vars] and [GROUP:children]"),
    ("h[3:1]\n", "runs backwards"),
    ("h[a:3]\n", "use numbers"),
    ("[g:vars]\njust-a-word\n", "one key=value a line"),
    ("h ansible_host='{{ bastion }}'\n", "Jinja template"),
    ("h ansible_connection=winrm\n", "ansible_connection=winrm cannot be used"),
    ("h ansible_port=http\n", "not a port number"),
    ("[a:children]\nb\n[b:children]\na\n[a]\nh\n", "its own child"),
])
def test_what_cannot_be_honoured_is_refused_with_one_line(tmp_path: Path, text: str,
                                                         words: str) -> None:
    with pytest.raises(InventoryError) as err:
        to_devices(read_inventory(_write(tmp_path, "bad.ini", text)))
    assert words in str(err.value) and "\n" not in str(err.value)


def test_yaml_errors_name_the_line(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"bad\.yml:4: not valid YAML"):
        read_inventory(_write(tmp_path, "bad.yml", "all:\n  hosts:\n    a: {x: 1\n  vars: 2\n"))
    with pytest.raises(InventoryError, match="hosts must be a mapping"):
        read_inventory(_write(tmp_path, "list.yml", "all:\n  hosts:\n    - a\n"))


def test_import_saves_devices_and_groups_and_plans_name_groups(tmp_path: Path) -> None:
    inv = _write(tmp_path, "hosts.ini", INI)
    _, outcome = import_inventory(inv, dry_run=True)
    assert outcome == ["added"] * 6 and list_devices() == []  # a dry run writes nothing
    _, outcome = import_inventory(inv)
    assert outcome == ["added"] * 6
    assert get_device("jet03") is not None and device_groups()["pis"] == ["pi-a", "pi-b"]
    _, outcome = import_inventory(inv)
    assert outcome == ["unchanged"] * 6
    changed = _write(tmp_path, "hosts2.ini", INI.replace("10.0.0.1\n", "10.0.0.99\n"))
    with pytest.raises(InventoryError, match=r"'bench-pc' is already saved.*--replace"):
        import_inventory(changed)
    _, outcome = import_inventory(changed, replace=True)
    assert outcome[0] == "replaced"
    assert (get_device("bench-pc") or pytest.fail("gone")).address == "ssh://10.0.0.99"
    names, problems = expand_devices(["local", "@boards", "jet01", "@nope", "ghost"])
    assert names == ["local", "jet01", "jet02", "jet03", "pi-a", "pi-b"]
    assert [i for i, _ in problems] == [3, 4]
    assert "unknown device group '@nope' (known: @boards, @jetsons, @pis)" in problems[0][1]
    assert "unknown device 'ghost'" in problems[1][1]


def test_ssh_config_aliases_are_devices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text("Host lab-pi\n  HostName 10.0.0.7\nHost *.lab\n"
                                          "  User qa\n")
    monkeypatch.setenv("HOME", str(home))
    names, problems = expand_devices(["lab-pi", "qa@lab-pi", "x.lab"])
    assert names == ["lab-pi", "qa@lab-pi"]
    assert problems and problems[0][0] == 2  # a wildcard Host names no device


def test_devices_import_command(tmp_path: Path) -> None:
    res = devicelab("devices", "import", str(_write(tmp_path, "hosts.ini", INI)))
    assert res.returncode == 0, res.stderr
    assert "6 device(s), 3 group(s) saved" in res.stdout
    assert "@boards" in res.stdout
    res = devicelab("devices", "import", str(tmp_path / "missing.ini"))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        f"devicelab: error: inventory {tmp_path / 'missing.ini'}: no such file"]
