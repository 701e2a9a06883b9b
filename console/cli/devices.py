"""``devicelab devices``: the saved device list, probing, and SSH host-key housekeeping.

``local`` (this computer) is built in; every other device is reached over
SSH and can be saved under a name with its remote Python, work dir and key
file (:mod:`console.devices.device_list`). Nothing secret is ever written:
passwords and passphrases are asked for on the terminal when needed.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from console.cli import EXIT_FAILED, CliError, add_group

PROBE_EXAMPLE = """example:
  devicelab devices probe local
  devicelab devices probe ssh://root@10.0.0.7 --accept-new-host-key
  devicelab devices probe ssh://pi@10.0.0.7 --key-file ~/.ssh/lab_ed25519
  devicelab devices probe jetson-3 --json"""

ADD_EXAMPLE = """example:
  devicelab devices add jetson-3 ssh://nvidia@10.0.0.7 --python /opt/venv/bin/python3 \\
      --notes "bench 2, fan removed"
  devicelab devices add pi-lab pi-lab --workdir /data/devicelab   # a ~/.ssh/config alias

The device's python is the interpreter the agent runs with (onnxruntime often
lives in a venv there). Passwords are never stored: you are asked when needed."""

LIST_EXAMPLE = """example:
  devicelab devices list
  devicelab devices list --json"""

REMOVE_EXAMPLE = """example:
  devicelab devices remove jetson-3"""

IMPORT_EXAMPLE = """example:
  devicelab devices import lab/hosts.ini
  devicelab devices import lab/inventory.yml --dry-run

Each host becomes a saved device (ansible_host, ansible_port, ansible_user,
ansible_python_interpreter, ansible_ssh_private_key_file); each group a device
group a plan names as "@group" (docs/plans.md)."""

FORGET_EXAMPLE = """example:
  devicelab devices forget-host-key jetson-3
  devicelab devices forget-host-key ssh://root@10.0.0.7:2222
  devicelab devices forget-host-key '[10.0.0.7]:2222'     # the known_hosts spelling

Removes the device's host key from the console's own known_hosts only (keys in
~/.ssh/known_hosts are removed with ssh-keygen -R). Do this only when you know
the device was reinstalled: a changed key can also mean an attack."""


def register(sub: Any) -> None:
    from console.cli.run import add_ssh_arguments

    ps = add_group(sub, "devices", "probe devices and manage the device list",
                   "Devices: 'local' (this computer) is built in; lab boards are reached over "
                   "SSH (ssh://user@host[:port], a saved name or a ~/.ssh/config alias).",
                   "examples:\n"
                   "  devicelab devices add board ssh://pi@10.0.0.7 --python /opt/venv/bin/python\n"
                   "  devicelab devices probe board\n"
                   "  devicelab devices list")

    pr = ps.add_parser("probe", help="report what a device has and what it lacks",
                       epilog=PROBE_EXAMPLE)
    pr.add_argument("device", help="local, ssh://user@host[:port], a saved name or an alias")
    add_ssh_arguments(pr)
    pr.add_argument("--json", action="store_true")
    pr.set_defaults(func=cmd_probe)

    pa = ps.add_parser("add", help="save an SSH device under a name",
                       epilog=ADD_EXAMPLE)
    pa.add_argument("name", help="short name, e.g. jetson-3")
    pa.add_argument("address", help="ssh://user@host[:port] or a ~/.ssh/config alias")
    pa.add_argument("--python", default="python3",
                    help="interpreter on the device that has numpy + onnxruntime "
                         "(default python3)")
    pa.add_argument("--workdir", default="",
                    help="cache folder on the device (default ~/.cache/devicelab)")
    pa.add_argument("--key-file", default="", help="private key file on this computer")
    pa.add_argument("--notes", default="", help="free text shown in the device list")
    pa.add_argument("--cache-cap-mb", type=int, default=None,
                    help="size cap of the device cache; oldest items go first (default 2048)")
    pa.add_argument("--replace", action="store_true", help="overwrite a device of that name")
    pa.set_defaults(func=cmd_add)

    pl = ps.add_parser("list", help="the saved devices", epilog=LIST_EXAMPLE)
    pl.add_argument("--json", action="store_true")
    pl.set_defaults(func=cmd_list)

    pm = ps.add_parser("remove", help="forget a saved device", epilog=REMOVE_EXAMPLE)
    pm.add_argument("name")
    pm.set_defaults(func=cmd_remove)

    pi = ps.add_parser("import", help="save every host and group of an Ansible inventory",
                       epilog=IMPORT_EXAMPLE)
    pi.add_argument("inventory", help="Ansible inventory file, INI or YAML")
    pi.add_argument("--replace", action="store_true",
                    help="overwrite saved devices of the same name")
    pi.add_argument("--dry-run", action="store_true", help="show what would be saved")
    pi.set_defaults(func=cmd_import)

    pf = ps.add_parser("forget-host-key", help="drop a device's key from the console's "
                                               "known_hosts (after a reinstall)",
                       epilog=FORGET_EXAMPLE)
    pf.add_argument("device", help="a saved name, ssh://user@host[:port], an alias or the "
                                   "known_hosts form [host]:port")
    pf.set_defaults(func=cmd_forget_host_key)


def print_facts(facts: dict[str, Any]) -> None:
    libs = facts.get("libraries") or {}
    ram = facts.get("ram_bytes")
    disk = facts.get("disk_free_bytes")
    print(f"host        {facts.get('hostname')}")
    print(f"os          {facts.get('os')}  kernel {facts.get('kernel')}  arch {facts.get('arch')}")
    if facts.get("board"):
        print(f"board       {facts['board']}")
    print(f"cpu         {facts.get('cpu_model')}  x{facts.get('cores')}")
    print(f"ram         {ram / 2**30:.1f} GiB" if ram else "ram         unknown")
    if "disk_free_bytes" in facts:
        free = f"{disk / 2**30:.1f} GiB free" if disk is not None else "unknown"
        print(f"work dir    {facts.get('workdir')}  ({free})")
    print(f"python      {facts.get('python')}  ({facts.get('python_executable')})")
    print(f"libraries   numpy {libs.get('numpy') or 'MISSING'}, onnxruntime "
          f"{libs.get('onnxruntime') or 'MISSING'}, opencv {libs.get('opencv') or 'MISSING'}")
    print(f"providers   {', '.join(facts.get('providers') or []) or 'none'}")
    for line in runtime_lines(facts):
        print(line)
    zones = facts.get("thermal_zones") or []
    print("thermal     " + (", ".join(f"{z.get('name')} ({z.get('zone')})" for z in zones)
                            if zones else "none found"))
    cams = facts.get("cameras") or []
    print("cameras     " + (", ".join(c["device"] + (f" ({c['name']})" if c.get("name") else "")
                                      for c in cams) if cams else "none found"))
    for r in facts.get("requirements") or []:
        print(f"MISSING     {r}")


def runtime_lines(facts: dict[str, Any]) -> list[str]:
    """Every runtime the device's Python has, with version and EPs/devices/delegates; a
    missing one with the exact pip install (the probe of an older agent: nothing)."""
    rts = facts.get("runtimes") or {}
    python = facts.get("python_executable") or "python3"
    out = []
    for k, name in enumerate(sorted(rts)):
        rt = rts[name]
        head = "runtimes    " if k == 0 else "            "
        if rt.get("version"):
            mod = f" ({rt['module']})" if rt.get("module") not in (None, name) else ""
            devs = ", ".join(rt.get("devices") or []) or "none"
            out.append(f"{head}{name} {rt['version']}{mod}: {rt.get('kind', 'devices')} {devs}")
        else:
            out.append(f"{head}{name} MISSING ({rt.get('error') or 'not installed'}); on the "
                       f"device run: {python} -m pip install {rt.get('pip') or name}")
    return out


def cmd_probe(args: argparse.Namespace) -> int:
    from console.cli.run import open_cli_device

    device = open_cli_device(args)
    try:
        device.connect()
        facts = device.probe()
        identity = device.identity()
    finally:
        device.close()
    if args.json:
        print(json.dumps(facts | {"identity": identity}, indent=2))
    else:
        print(f"device      {device.describe()}")
        if identity.get("host_key_sha256"):
            print(f"host key    {identity['host_key_type']} {identity['host_key_sha256']}")
        print_facts(facts)
    return EXIT_FAILED if any("missing numpy" in r or "missing onnxruntime" in r
                              or "too old" in r for r in facts.get("requirements") or []) else 0


def cmd_add(args: argparse.Namespace) -> int:
    from console.devices.device_list import (
        DEFAULT_CACHE_CAP_MB,
        SavedDevice,
        add_device,
        validate,
    )
    from console.devices.spec import DeviceSpec
    from console.devices.ssh import open_ssh_device

    dev = SavedDevice(name=args.name, address=args.address.strip(), python=args.python.strip(),
                      workdir=args.workdir.strip(), notes=args.notes,
                      key_file=args.key_file.strip(),
                      cache_cap_mb=args.cache_cap_mb or DEFAULT_CACHE_CAP_MB)
    validate(dev)
    # resolve it once (URL syntax, ~/.ssh/config) so a typo shows now, not at the run
    target = open_ssh_device(DeviceSpec.parse_address(dev.address),
                             key_file=dev.key_file or None).target
    add_device(dev, replace=args.replace)
    print(f"saved {dev.name}: {target.user}@{target.host}:{target.port}, python {dev.python}"
          + (f", work dir {dev.workdir}" if dev.workdir else ""))
    print(f"check it with: devicelab devices probe {dev.name}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from console.devices.device_list import list_devices

    devices = list_devices()
    if args.json:
        print(json.dumps([{"name": "local", "address": "local", "kind": "local"}]
                         + [d.to_dict() | {"kind": "ssh"} for d in devices], indent=2))
        return 0
    print(f"{'name':<16} {'address':<32} {'python':<24} notes")
    print(f"{'local':<16} {'(this computer)':<32} {'(this console)':<24}")
    for d in devices:
        print(f"{d.name:<16} {d.address:<32} {d.python:<24} {d.notes}")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from console.devices.device_list import remove_device

    removed = remove_device(args.name)
    if not removed:
        raise CliError(f"no saved device named {args.name!r} (see devicelab devices list)")
    print(f"removed {args.name}")
    return 0


def cmd_forget_host_key(args: argparse.Namespace) -> int:
    from console.devices.hostkeys import HostKeyStore, known_hosts_name
    from console.devices.ssh import open_ssh_device

    text = args.device.strip()
    m = re.fullmatch(r"\[([^\[\]]+)\]:(\d{1,5})", text)
    # the known_hosts spelling names the entry itself, as for ssh-keygen -R
    name = known_hosts_name(m.group(1), int(m.group(2))) if m else \
        open_ssh_device(text).target.hostkey_name
    store = HostKeyStore()
    removed = store.remove(name)
    if not removed:
        raise CliError(f"the console's known_hosts ({store.console_file}) has no key for "
                       f"{name}; keys in ~/.ssh/known_hosts are removed with: "
                       f"ssh-keygen -R '{name}'")
    print(f"removed {removed} key(s) for {name} from {store.console_file}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from console.devices.inventory import import_inventory

    plan, outcome = import_inventory(args.inventory, replace=args.replace,
                                     dry_run=args.dry_run)
    would = "would be " if args.dry_run else ""
    for dev, what in zip(plan.devices, outcome):
        print(f"{dev.name:<16} {dev.address:<32} python {dev.python}  {would}{what}")
    for host in plan.local_hosts:
        print(f"{host:<16} {'(ansible_connection=local)':<32} is this computer: 'local'")
    for g, members in sorted(plan.groups.items()):
        print(f"@{g:<15} {', '.join(members) or '(empty)'}")
    print(f"{len(plan.devices)} device(s), {len(plan.groups)} group(s) {would or ''}saved"
          if plan.devices or plan.groups else "the inventory has no hosts")
    return 0
