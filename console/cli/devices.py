"""``devicelab devices``: the device list and probing."""

from __future__ import annotations

import argparse
import json
from typing import Any

from console.cli import CliError

PROBE_EXAMPLE = """example:
  devicelab devices probe local
  devicelab devices probe ssh://root@10.0.0.7 --accept-new-host-key"""


def register(sub: Any) -> None:
    p = sub.add_parser("devices", help="probe devices and manage the device list",
                       description="Devices: 'local' (this computer) is built in.")
    p.set_defaults(_group_parser=p)
    ps = p.add_subparsers(dest="devices_command", metavar="SUBCOMMAND")
    pr = ps.add_parser("probe", help="report what a device has and what it lacks",
                       epilog=PROBE_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    pr.add_argument("device", help="local, ssh://user@host[:port], a saved name or an alias")
    pr.add_argument("--accept-new-host-key", action="store_true")
    pr.add_argument("--json", action="store_true")
    pr.set_defaults(func=cmd_probe)


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
    zones = facts.get("thermal_zones") or []
    print("thermal     " + (", ".join(f"{z.get('name')} ({z.get('zone')})" for z in zones)
                            if zones else "none found"))
    cams = facts.get("cameras") or []
    print("cameras     " + (", ".join(c["device"] + (f" ({c['name']})" if c.get("name") else "")
                                      for c in cams) if cams else "none found"))
    for r in facts.get("requirements") or []:
        print(f"MISSING     {r}")


def cmd_probe(args: argparse.Namespace) -> int:
    from console.cli.run import open_cli_device
    from console.devices.base import DeviceError

    device = open_cli_device(args)
    try:
        device.connect()
        facts = device.probe()
    except DeviceError as exc:
        raise CliError(str(exc)) from None
    finally:
        device.close()
    if args.json:
        print(json.dumps(facts, indent=2))
    else:
        print(f"device      {device.describe()}")
        print_facts(facts)
    return 1 if any("missing numpy" in r or "missing onnxruntime" in r or "too old" in r
                    for r in facts.get("requirements") or []) else 0
