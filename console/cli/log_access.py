"""What every ``devicelab sessions`` sub-command shares: opening the log it names (saying
so in one line when that migrated it), finding a session by id or uuid prefix, reading
``--since``, the ``--device``/``--package`` filters, and a sub-parser with its example.
Split out so the command modules (``sessions``, ``sessions_compare``, ``sessions_files``)
depend on it, not on each other.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from console.cli import CliError, db_path
from console.core.store import LogStore
from console.core.store.target import parse_target


def subcommand(ps: Any, name: str, help: str, example: str, description: str | None = None
         ) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = ps.add_parser(
        name, help=help, description=description or help, epilog=example)
    return p


def add_session_filters(p: argparse.ArgumentParser) -> None:
    """``--device`` and ``--package``: the filters of ``LogStore.list_sessions``, which
    ``sessions list`` and ``sessions matrix`` (through ``build_matrix``) both pass on."""
    p.add_argument("--device", help="device name or address contains")
    p.add_argument("--package", help="package name contains, or NAME@VERSION")


def open_store(args: argparse.Namespace, *, write: bool = False) -> LogStore:
    from console.session.sessionlog import migration_line, open_log

    target = parse_target(db_path(args))
    if not write and not target.is_server and not target.path.exists():
        raise CliError(f"no session log at {target.display} yet (run something first, or pass "
                       "--db)")
    store = open_log(target)
    line = migration_line(store)
    if line:
        print(line, file=sys.stderr)
    return store


def parse_since(text: str | None) -> float | None:
    if not text:
        return None
    import re
    from datetime import datetime

    m = re.match(r"^(\d+)([mhd])$", text)
    if m:
        mult = {"m": 60, "h": 3600, "d": 86400}[m.group(2)]
        return time.time() - int(m.group(1)) * mult
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise CliError(f"bad --since {text!r}: use 30m, 12h, 7d or YYYY-MM-DD") from None


def get_session(store: LogStore, ref: str) -> dict[str, Any]:
    s = store.find_session(ref)
    if s is None:
        raise CliError(f"no session {ref!r} in {store.where}")
    return s
