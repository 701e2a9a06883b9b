"""Ansible inventories into the device list, device groups, and which device names are known.

A lab that already keeps its boards in an Ansible inventory imports it with
``devicelab devices import INVENTORY``: every host becomes a saved device
(:mod:`console.devices.device_list`) and every group a device group a plan
names as ``@group``. Both inventory formats are read by their documented
rules (docs.ansible.com, "How to build your inventory"):

INI  ``[group]`` host lines (``name key=value …``; values are Python literals,
     quoted when they hold spaces; ``host:port`` sets the port), hosts before
     any header in ``ungrouped``, ``[group:vars]`` one ``key=value`` a line
     (always a string), ``[group:children]`` one group a line, ``#`` and ``;``
     comments, and host ranges ``web[01:03]``, ``db-[a:c]``, ``n[0:10:5]``
     (inclusive; leading zeros kept; an optional stride).
YAML ``GROUP: {hosts: {NAME: {vars}}, vars: {…}, children: {GROUP: …}}``,
     read with PyYAML's safe loader; host names take the same ranges.

Variables resolve as Ansible resolves them: ``all`` first, then groups from
the outermost to the innermost (same depth: by name), then the host's own.
Used: ``ansible_host``, ``ansible_port``, ``ansible_user`` (and their
``ansible_ssh_*`` spellings), ``ansible_python_interpreter`` (the device's
``--python``) and ``ansible_ssh_private_key_file``. A host with
``ansible_connection=local`` is this computer (the built-in ``local``).
What cannot be honoured — Jinja templates in those values, another
connection type — is refused with one line naming the host, never guessed.

Groups are kept in the settings' ``preferences`` section under
:data:`GROUPS_KEY` (``{group: [device names]}``), beside the device list.
Nothing secret is read: ``ansible_password``/``ansible_become_pass`` are
ignored, never stored.
"""

from __future__ import annotations

import ast
import re
import shlex
import string
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.core.settings import Settings, SettingsError, load_settings, update_settings
from console.devices.base import DeviceError
from console.devices.device_list import (
    DEFAULT_PYTHON,
    RESERVED_NAMES,
    SavedDevice,
    get_device,
    parse_ssh_url,
    validate,
)
from console.devices.local import LOCAL_ADDRESS

GROUPS_KEY = "device_groups"
#: Ansible's implicit groups: every host is in ``all``; hosts of no group in ``ungrouped``
IMPLICIT_GROUPS = ("all", "ungrouped")
_SSH_CONNECTIONS = ("ssh", "smart", "paramiko", "paramiko_ssh", "ansible.builtin.ssh",
                    "ansible.builtin.paramiko_ssh")
_AUTO_PYTHON = ("auto", "auto_silent", "auto_legacy", "auto_legacy_silent")


class InventoryError(DeviceError):
    """The inventory cannot be imported; one line naming the file, line and host."""


@dataclass
class _Group:
    name: str
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass
class Inventory:
    """An inventory as Ansible sees it: groups (with ``all``), host variables."""

    path: Path
    groups: dict[str, _Group] = field(default_factory=dict)
    host_vars: dict[str, dict[str, Any]] = field(default_factory=dict)

    def group(self, name: str) -> _Group:
        if name not in self.groups:
            self.groups[name] = _Group(name)
        return self.groups[name]

    def add_host(self, group: str, host: str, hvars: Mapping[str, Any]) -> None:
        g = self.group(group)
        if host not in g.hosts:
            g.hosts.append(host)
        self.host_vars.setdefault(host, {}).update(hvars)

    # -- resolution ----------------------------------------------------------------
    def _depths(self) -> dict[str, int]:
        """Each group's depth below ``all`` (the longest chain of parents)."""
        parents: dict[str, list[str]] = {}
        for g in self.groups.values():
            for c in g.children:
                parents.setdefault(c, []).append(g.name)
        memo: dict[str, int] = {"all": 0}

        def depth(name: str, seen: tuple[str, ...] = ()) -> int:
            if name in memo:
                return memo[name]
            if name in seen:
                raise InventoryError(f"{self.path}: group {name!r} is its own child (a loop "
                                     "in the :children sections)")
            ps = [p for p in parents.get(name, []) if p != "all"]
            memo[name] = 1 + max((depth(p, (*seen, name)) for p in ps), default=0)
            return memo[name]

        return {name: depth(name) for name in self.groups}

    def members(self, group: str) -> list[str]:
        """Hosts of ``group`` and of its children, in the inventory's order."""
        out: list[str] = []
        todo, seen = [group], set()
        while todo:
            g = self.groups.get(todo.pop(0))
            if g is None or g.name in seen:
                continue
            seen.add(g.name)
            out += [h for h in g.hosts if h not in out]
            todo += g.children
        if group == "all":
            out += [h for h in self.host_vars if h not in out]
        return out

    def host_groups(self, host: str) -> list[str]:
        return [g for g in self.groups if g not in IMPLICIT_GROUPS and host in self.members(g)]

    def variables(self, host: str) -> dict[str, Any]:
        depths = self._depths()
        order = sorted(self.host_groups(host), key=lambda g: (depths[g], g))
        out: dict[str, Any] = dict(self.groups["all"].vars) if "all" in self.groups else {}
        for g in order:
            out.update(self.groups[g].vars)
        out.update(self.host_vars.get(host, {}))
        return out


# -- host patterns ---------------------------------------------------------------------
_RANGE_RE = re.compile(r"\[([^\]:]+):([^\]:]+)(?::(\d+))?\]")


def expand_hosts(pattern: str, where: str = "") -> list[str]:
    """``web[01:03].lab`` -> web01.lab, web02.lab, web03.lab (Ansible's range rules:
    inclusive, a leading zero fixes the width, letters ``[a:f]``, a stride ``[1:9:2]``)."""
    m = _RANGE_RE.search(pattern)
    if m is None:
        if "[" in pattern or "]" in pattern:
            raise InventoryError(f"{where}host pattern {pattern!r}: a range is [START:END] or "
                                 "[START:END:STEP], e.g. web[01:03]")
        return [pattern]
    lo, hi, step_s = m.group(1), m.group(2), m.group(3)
    step = int(step_s) if step_s else 1
    head, tail = pattern[:m.start()], pattern[m.end():]
    if step <= 0:
        raise InventoryError(f"{where}host range {m.group(0)!r}: the step must be positive")
    if lo.isdigit() and hi.isdigit():
        if int(lo) > int(hi):
            raise InventoryError(f"{where}host range {m.group(0)!r} runs backwards")
        width = len(lo) if lo.startswith("0") and len(lo) > 1 else 0
        items = [str(n).zfill(width) for n in range(int(lo), int(hi) + 1, step)]
    elif (len(lo) == len(hi) == 1 and lo in string.ascii_letters and hi in string.ascii_letters
          and lo.islower() == hi.islower()):
        if lo > hi:
            raise InventoryError(f"{where}host range {m.group(0)!r} runs backwards")
        letters = string.ascii_lowercase if lo.islower() else string.ascii_uppercase
        items = list(letters[letters.index(lo):letters.index(hi) + 1:step])
    else:
        raise InventoryError(f"{where}host range {m.group(0)!r}: use numbers [01:10] or single "
                             "letters [a:f]")
    return [h for it in items for h in expand_hosts(head + it + tail, where)]


def _split_port(pattern: str, where: str) -> tuple[str, int | None]:
    """``host:2222`` -> (host, 2222); an IPv6 address without brackets has no port."""
    m = re.match(r"^(.*[^:]):(\d+)$", pattern)
    if m and ":" not in m.group(1).strip("[]"):
        return m.group(1), int(m.group(2))
    if pattern.startswith("[") and "]:" in pattern:
        host, _, port = pattern[1:].partition("]:")
        if port.isdigit():
            return host, int(port)
        raise InventoryError(f"{where}bad port in host {pattern!r}")
    return pattern, None


# -- INI -----------------------------------------------------------------------------
def _ini_value(text: str) -> Any:
    """A host-line value: a Python literal when it parses as one, else the text."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text


def parse_ini(text: str, path: Path) -> Inventory:
    inv = Inventory(path)
    inv.group("all")
    inv.group("ungrouped")
    section, kind = "ungrouped", "hosts"
    for n, raw in enumerate(text.splitlines(), 1):
        where = f"{path}:{n}: "
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        m = re.match(r"^\[([^\]]+)\]\s*(?:[#;].*)?$", line)
        if m:
            name, _, suffix = m.group(1).strip().partition(":")
            if suffix not in ("", "vars", "children"):
                raise InventoryError(f"{where}section [{m.group(1)}]: only [GROUP], "
                                     "[GROUP:vars] and [GROUP:children] exist")
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_-]*$", name):
                raise InventoryError(f"{where}group name {name!r}: letters, digits, '_' and '-'")
            section, kind = name, suffix or "hosts"
            inv.group(section)
            continue
        if line.startswith("["):
            raise InventoryError(f"{where}a section header is [NAME], [NAME:vars] or "
                                 "[NAME:children]")
        if kind == "vars":
            key, eq, value = line.partition("=")
            if not eq or not key.strip():
                raise InventoryError(f"{where}[{section}:vars] takes one key=value a line")
            inv.group(section).vars[key.strip()] = value.strip()  # always a string
        elif kind == "children":
            child = line.split()[0]
            if child == section:
                raise InventoryError(f"{where}group {section!r} cannot be its own child")
            inv.group(child)
            if child not in inv.groups[section].children:
                inv.groups[section].children.append(child)
        else:
            try:
                words = shlex.split(line, comments=True)
            except ValueError as exc:
                raise InventoryError(f"{where}cannot read the host line: {exc}") from None
            if not words:
                continue
            hvars: dict[str, Any] = {}
            for w in words[1:]:
                k, eq, v = w.partition("=")
                if not eq or not k:
                    raise InventoryError(f"{where}{w!r}: host variables are key=value")
                hvars[k] = _ini_value(v)
            pattern, port = _split_port(words[0], where)
            if port is not None:
                hvars.setdefault("ansible_port", port)
            for host in expand_hosts(pattern, where):
                inv.add_host(section, host, hvars)
    return inv


# -- YAML ----------------------------------------------------------------------------
def parse_yaml(text: str, path: Path) -> Inventory:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        why = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InventoryError(f"{path}{line}: not valid YAML: {why}") from None
    if not isinstance(data, dict):
        raise InventoryError(f"{path}: a YAML inventory is a mapping of groups, e.g. "
                             "all: {hosts: {board1: {ansible_host: 10.0.0.7}}}")
    inv = Inventory(path)
    inv.group("all")

    def walk(name: str, body: Any, trail: tuple[str, ...]) -> None:
        where = f"{path}: group {name}: "
        if name in trail:
            raise InventoryError(f"{where}is its own child")
        g = inv.group(name)
        if body is None:
            return
        if not isinstance(body, dict):
            raise InventoryError(f"{where}must be a mapping with hosts, vars or children")
        extra = sorted(set(body) - {"hosts", "vars", "children"})
        if extra:
            raise InventoryError(f"{where}unknown key {extra[0]!r}; a group has hosts, vars "
                                 "and children")
        gv = body.get("vars") or {}
        if not isinstance(gv, dict):
            raise InventoryError(f"{where}vars must be a mapping")
        g.vars.update(gv)
        hosts = body.get("hosts") or {}
        if not isinstance(hosts, dict):
            raise InventoryError(f"{where}hosts must be a mapping of host names (a list is "
                                 "the INI format's habit: write 'board1:' on its own line)")
        for pattern, hv in hosts.items():
            if hv is not None and not isinstance(hv, dict):
                raise InventoryError(f"{where}host {pattern}: its variables must be a mapping")
            hvars = dict(hv or {})
            host_pat, port = _split_port(str(pattern), where)
            if port is not None:
                hvars.setdefault("ansible_port", port)
            for host in expand_hosts(host_pat, where):
                inv.add_host(name, host, hvars)
        children = body.get("children") or {}
        if not isinstance(children, dict):
            raise InventoryError(f"{where}children must be a mapping of groups")
        for child, cbody in children.items():
            if str(child) not in g.children:
                g.children.append(str(child))
            walk(str(child), cbody, (*trail, name))

    for name, body in data.items():
        walk(str(name), body, ())
    return inv


def read_inventory(path: str | Path) -> Inventory:
    """An INI or YAML inventory (by its extension, else by its first meaningful line)."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InventoryError(f"inventory {p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError(f"inventory {p} cannot be read: {exc}") from None
    if p.suffix.lower() in (".yml", ".yaml"):
        return parse_yaml(text, p)
    if p.suffix.lower() in (".ini", ".cfg", ".hosts"):
        return parse_ini(text, p)
    first = next((ln.strip() for ln in text.splitlines()
                  if ln.strip() and not ln.strip().startswith(("#", ";"))), "")
    looks_yaml = first == "---" or re.match(r"^[A-Za-z0-9_-]+:\s*$", first) is not None
    return parse_yaml(text, p) if looks_yaml else parse_ini(text, p)


# -- into the device list ---------------------------------------------------------------
@dataclass(frozen=True)
class ImportPlan:
    """What an import would write: the devices, the groups, and hosts that are ``local``."""

    devices: list[SavedDevice]
    groups: dict[str, list[str]]
    local_hosts: list[str]


def _var(v: Mapping[str, Any], *names: str) -> Any:
    for n in names:
        if v.get(n) not in (None, ""):
            return v[n]
    return None


def _plain(value: Any, host: str, key: str, path: Path) -> str:
    s = str(value).strip()
    if "{{" in s or "{%" in s:
        raise InventoryError(f"{path}: host {host}: {key} is a Jinja template ({s}); the "
                             "console does not template: give the value itself")
    return s


def to_devices(inv: Inventory) -> ImportPlan:
    """Each host as a :class:`SavedDevice` (validated), each group as its member names."""
    devices: list[SavedDevice] = []
    local: list[str] = []
    for host in inv.members("all"):
        v = inv.variables(host)
        conn = str(v.get("ansible_connection") or "ssh")
        if conn in ("local", "ansible.builtin.local"):
            local.append(host)
            continue
        if conn not in _SSH_CONNECTIONS:
            raise InventoryError(f"{inv.path}: host {host}: ansible_connection={conn} cannot "
                                 "be used; the console reaches devices over SSH")
        addr = _plain(_var(v, "ansible_host", "ansible_ssh_host") or host, host,
                      "ansible_host", inv.path)
        user = _var(v, "ansible_user", "ansible_ssh_user")
        port = _var(v, "ansible_port", "ansible_ssh_port")
        if port is not None:
            ps = _plain(port, host, "ansible_port", inv.path)
            if not ps.isdigit() or not 0 < int(ps) < 65536:
                raise InventoryError(f"{inv.path}: host {host}: ansible_port {ps!r} is not a "
                                     "port number")
            port = int(ps)
        netloc = f"[{addr}]" if ":" in addr else addr
        if user is not None:
            quoted = urllib.parse.quote(_plain(user, host, "ansible_user", inv.path), safe="")
            netloc = f"{quoted}@{netloc}"
        address = f"ssh://{netloc}" + (f":{port}" if port is not None else "")
        py = _var(v, "ansible_python_interpreter")
        python = _plain(py, host, "ansible_python_interpreter", inv.path) if py else ""
        if not python or python in _AUTO_PYTHON:
            python = DEFAULT_PYTHON
        key = _var(v, "ansible_ssh_private_key_file", "ansible_private_key_file")
        member_of = inv.host_groups(host)
        dev = SavedDevice(name=host, address=address, python=python,
                          key_file=_plain(key, host, "ansible_ssh_private_key_file", inv.path)
                          if key else "",
                          notes=f"from {inv.path.name}"
                                + (f" ({', '.join(member_of)})" if member_of else ""))
        try:
            validate(dev)
            parse_ssh_url(dev.address)
        except DeviceError as exc:
            raise InventoryError(f"{inv.path}: host {host}: {exc}") from None
        devices.append(dev)
    groups: dict[str, list[str]] = {}
    for g in inv.groups:
        if g in IMPLICIT_GROUPS:
            continue
        groups[g] = [LOCAL_ADDRESS if h in local else h for h in inv.members(g)]
    return ImportPlan(devices, groups, local)


def import_inventory(path: str | Path, *, replace: bool = False, dry_run: bool = False
                     ) -> tuple[ImportPlan, list[str]]:
    """Save every host and group of the inventory in one settings update; returns what
    was (or, with ``dry_run``, would be) written and, per device, "added", "unchanged"
    or "replaced". A name already saved with other values is refused unless ``replace``."""
    plan = to_devices(read_inventory(path))
    outcome: list[str] = []

    def change(s: Settings) -> None:
        outcome.clear()
        by_name = {d.get("name"): d for d in s.devices if isinstance(d, dict)}
        for dev in plan.devices:
            old = by_name.get(dev.name)
            if old is None:
                outcome.append("added")
            elif SavedDevice.from_dict(old) == dev:
                outcome.append("unchanged")
            elif replace:
                outcome.append("replaced")
            else:
                raise InventoryError(f"a device named {dev.name!r} is already saved with "
                                     f"another address or settings ({old.get('address')}); "
                                     "pass --replace to overwrite it from the inventory")
            if dry_run:
                continue
            s.devices = [d for d in s.devices
                         if not (isinstance(d, dict) and d.get("name") == dev.name)]
            s.devices.append(dev.to_dict())
        s.devices.sort(key=lambda d: str(d.get("name", "")))
        if not dry_run:
            groups = dict(s.preferences.get(GROUPS_KEY) or {})
            groups.update(plan.groups)
            s.preferences[GROUPS_KEY] = groups

    try:
        if dry_run:
            change(load_settings())
        else:
            update_settings(change)
    except SettingsError as exc:
        raise InventoryError(str(exc)) from None
    return plan, outcome


def device_groups() -> dict[str, list[str]]:
    """The saved groups: ``{name: [device names]}``."""
    try:
        raw = load_settings().preferences.get(GROUPS_KEY) or {}
    except SettingsError as exc:
        raise DeviceError(str(exc)) from None
    return {str(k): [str(x) for x in v] for k, v in raw.items() if isinstance(v, list)}


# -- which names are devices --------------------------------------------------------------
def _ssh_config_hosts() -> set[str]:
    """The literal (non-wildcard) ``Host`` names of ``~/.ssh/config``."""
    import paramiko

    from console.devices.ssh import ssh_config_path

    p = ssh_config_path()
    if not p.is_file():
        return set()
    try:
        cfg = paramiko.SSHConfig.from_path(str(p))
    except Exception as exc:  # paramiko raises several kinds for a bad file
        raise DeviceError(f"cannot read {p}: {exc}; fix the file") from None
    return {h for h in cfg.get_hostnames() if not any(c in h for c in "*?!")}


def device_problem(spec: str, aliases: Callable[[], set[str]] = _ssh_config_hosts
                   ) -> str | None:
    """Why ``spec`` names no device (None when it does): ``local``, an ``ssh://`` URL, a
    saved name or a ``Host`` of ``~/.ssh/config`` (``user@alias`` too)."""
    from console.devices.registry import LOCAL_NAMES

    s = spec.strip()
    if s in LOCAL_NAMES:
        return None
    if s.startswith("ssh://"):
        try:
            parse_ssh_url(s)
        except DeviceError as exc:
            return str(exc)
        return None
    if "://" in s:
        return f"{s!r}: only ssh:// addresses are supported"
    if s in RESERVED_NAMES or get_device(s) is not None:
        return None
    if s.rpartition("@")[2] in aliases():
        return None
    return (f"unknown device {s!r}: not a saved device (devicelab devices list) nor a Host "
            "in ~/.ssh/config; save it with devicelab devices add, or write ssh://user@host")


def expand_devices(specs: Sequence[str]) -> tuple[list[str], list[tuple[int, str]]]:
    """Groups (``@name``) replaced by their devices (once each, in order), and the
    problems as ``(index in specs, text)``: an unknown group or device."""
    groups: dict[str, list[str]] | None = None
    out: list[str] = []
    problems: list[tuple[int, str]] = []
    alias_cache: list[set[str]] = []

    def aliases() -> set[str]:
        if not alias_cache:
            alias_cache.append(_ssh_config_hosts())
        return alias_cache[0]

    def add(i: int, names: Iterable[str]) -> None:
        for n in names:
            why = device_problem(n, aliases)
            if why:
                problems.append((i, why))
            elif n not in out:
                out.append(n)

    for i, spec in enumerate(specs):
        if spec.startswith("@"):
            if groups is None:
                groups = device_groups()
            members = groups.get(spec[1:])
            if members is None:
                known = ", ".join(f"@{g}" for g in sorted(groups)) or "none saved"
                problems.append((i, f"unknown device group {spec!r} (known: {known}); import "
                                    "one with devicelab devices import INVENTORY"))
            elif not members:
                problems.append((i, f"device group {spec!r} has no devices"))
            else:
                add(i, members)
        else:
            add(i, [spec])
    return out, problems
