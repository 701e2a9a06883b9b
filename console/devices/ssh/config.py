"""Reading ``~/.ssh/config`` as OpenSSH does, ``Include`` lines included.

paramiko's ``SSHConfig`` keeps ``Include`` as an unknown key, so a ``Host``
defined in ``~/.ssh/config.d/lab.conf`` did not exist for the console.
:func:`load_ssh_config` expands every ``Include`` the way ssh_config(5)
documents it:

* several paths per line, each a glob(7) pattern expanded in lexical order;
  ``~`` is the home folder, and a relative path is relative to ``~/.ssh``;
  a pattern that matches nothing is no error (as in OpenSSH);
* included files may include others (at most :data:`MAX_DEPTH` deep); a file
  that includes itself, directly or not, is refused in one line, as ``ssh``
  refuses it;
* an ``Include`` inside a ``Host`` or ``Match`` block applies only where
  that block applies: each block of the included file is guarded by the
  outer one (both must match), and the lines after the ``Include`` belong to
  the outer block again.

The result is a plain paramiko ``SSHConfig`` (its ``lookup`` does the
matching, first value wins), plus the host names the files spell out
(:attr:`ConsoleSSHConfig.names`). Nothing here resolves a target or touches
the network.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
from pathlib import Path
from typing import Any

import paramiko

from console.devices.base import DeviceError

#: OpenSSH's READCONF_MAX_DEPTH
MAX_DEPTH = 16
_INCLUDE_RE = re.compile(r"^\s*include(?:\s*=\s*|\s+)(.+?)\s*$", re.IGNORECASE)

Block = dict[str, Any]


class ConsoleSSHConfig(paramiko.SSHConfig):
    """paramiko's config with the Includes already expanded (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        #: host names ``Host`` lines spell out (no wildcard, not negated), in any file
        self.names: set[str] = set()
        #: every file read, the main one first
        self.files: list[Path] = []


def ssh_config_path() -> Path:
    return Path(os.path.expanduser("~/.ssh/config"))


def load_ssh_config(path: Path | None = None) -> ConsoleSSHConfig:
    """The user's ``~/.ssh/config`` (or ``path``) with its Includes; empty if absent."""
    p = path or ssh_config_path()
    cfg = ConsoleSSHConfig()
    if p.is_file():
        cfg._config = _blocks(p, [], (), cfg)
    return cfg


def _read(p: Path, top: Path) -> str:
    try:
        return p.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise DeviceError(f"cannot read {p} (included from {top}): {exc.strerror}; fix its "
                          "permissions or the Include line") from None


def _selector(block: Block) -> list[dict[str, Any]]:
    """A block's Host/Match line as Match criteria (``Host a b`` is ``originalhost a,b``)."""
    if "matches" in block:
        return list(block["matches"])
    hosts = list(block.get("host", ["*"]))
    if hosts == ["*"]:
        return []  # matches every host: no condition at all
    return [{"type": "originalhost", "param": hosts, "negate": False}]


def _guarded(block: Block, guard: list[dict[str, Any]]) -> Block:
    if not guard:
        return block
    return {"matches": guard + _selector(block), "config": block["config"]}


def _parse(text: str, where: Path) -> list[Block]:
    try:
        blocks: list[Block] = paramiko.SSHConfig.from_text(text)._config
    except Exception as exc:  # paramiko raises several kinds for a bad file
        raise DeviceError(f"cannot read {where}: {exc}; fix the file") from None
    return blocks


def _blocks(path: Path, guard: list[dict[str, Any]], stack: tuple[Path, ...],
            cfg: ConsoleSSHConfig) -> list[Block]:
    """The blocks of ``path`` in order, Includes expanded, each guarded by ``guard``."""
    real = path.resolve()
    top = stack[0] if stack else path
    if real in stack:
        chain = " -> ".join(str(p) for p in (*stack, real))
        raise DeviceError(f"{top}: Include loop ({chain}); remove one of those Include lines")
    if len(stack) >= MAX_DEPTH:
        raise DeviceError(f"{top}: Include nested deeper than {MAX_DEPTH} files (at {path}); "
                          "flatten the Include lines")
    stack = (*stack, real)
    cfg.files.append(path)
    out: list[Block] = []
    #: the Host/Match block in force (the implicit global one at first)
    current: Block = {"host": ["*"], "config": {}}
    segment: list[str] = []

    def flush(first: bool) -> None:
        nonlocal current
        blocks = _parse("".join(segment), path)
        segment.clear()
        if not first:  # lines after an Include continue the block they were in
            head = {k: v for k, v in current.items() if k != "config"}
            blocks[0] = head | {"config": blocks[0]["config"]}
        for b in blocks:
            cfg.names.update(h for h in b.get("host", []) if not set(h) & set("*?!"))
        current = blocks[-1]
        out.extend(_guarded(b, guard) for b in blocks)

    first = True
    for line in _read(path, top).splitlines(keepends=True):
        m = _INCLUDE_RE.match(line)
        if m is None or line.lstrip().startswith("#"):
            segment.append(line)
            continue
        flush(first)
        first = False
        inner = [*guard, *_selector(current)]  # both the outer and this block must match
        for inc in _include_paths(m.group(1), path):
            out.extend(_blocks(inc, inner, stack, cfg))
    flush(first)
    return out


def _include_paths(value: str, where: Path) -> list[Path]:
    """The files one ``Include`` line names, in the order OpenSSH reads them."""
    try:
        words = shlex.split(value)
    except ValueError:
        raise DeviceError(f"{where}: bad Include line ({value!r}): unbalanced quotes") from None
    out: list[Path] = []
    ssh_dir = os.path.expanduser("~/.ssh")
    for w in words:
        w = os.path.expanduser(w)
        if not os.path.isabs(w):
            w = os.path.join(ssh_dir, w)
        out.extend(Path(p) for p in sorted(glob.glob(w)) if os.path.isfile(p))
    return out
